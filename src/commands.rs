//! Subcommand implementations: thin glue between the CLI and the crates.
use crate::cli::{BenchCommand, Cli, Command, DataCommand, FetchArgs, Global, ZooCommand};
use anyhow::{Context, Result, bail};
use hyperzoo_core::data::{self, CATALOG, DatasetInfo, DatasetStatus, FetchOptions};
use hyperzoo_core::paths;
use hyperzoo_engine::device;
use std::process::ExitCode;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = &cli.command else {
        return crate::tui_cmd::tui(&cli.global, &Default::default());
    };
    match command {
        Command::Tui(args) => crate::tui_cmd::tui(&cli.global, args),
        Command::Doctor { json } => doctor(&cli.global, *json),
        Command::Data(DataCommand::Fetch(args)) => data_fetch(&cli.global, args),
        Command::Data(DataCommand::List { json }) => data_list(&cli.global, *json),
        Command::Bench(BenchCommand::Zoo(args)) => crate::bench::zoo(&cli.global, args),
        Command::Bench(BenchCommand::Hyper(args)) => crate::bench::hyper(&cli.global, args),
        Command::Bench(BenchCommand::Tui(args)) => crate::tui_cmd::bench(&cli.global, args),
        Command::Zoo(ZooCommand::Generate(args)) => crate::zoo_cmd::generate(&cli.global, args),
        Command::Zoo(ZooCommand::Info { zoo, verify, json }) => {
            crate::zoo_cmd::info(&cli.global, zoo, *verify, *json)
        }
        Command::Zoo(ZooCommand::Merge { zoo, shards }) => crate::zoo_cmd::merge(zoo, shards),
        Command::Run(args) => crate::run_cmd::run(&cli.global, args),
        Command::Eval(args) => crate::eval_cmd::eval(&cli.global, args),
        Command::Embed(args) => crate::eval_cmd::embed(&cli.global, args),
        Command::Generate(args) => crate::eval_cmd::generate(&cli.global, args),
        Command::Check { file, json } => crate::store_cmd::check(&cli.global, file, *json),
        Command::Ls { json } => crate::store_cmd::ls(&cli.global, *json),
        Command::Export(args) => crate::store_cmd::export(&cli.global, args),
        Command::Show { run, json } => crate::store_cmd::show(&cli.global, run, *json),
        Command::Summary { run, json } => crate::summary_cmd::summary(&cli.global, run, *json),
        Command::Tag { run, tags, remove } => {
            crate::store_cmd::tag(&cli.global, run, tags, *remove)
        }
        Command::Note { run, text } => crate::store_cmd::note(&cli.global, run, text),
        Command::Zoo(ZooCommand::Import(args)) => crate::zoo_cmd::import(&cli.global, args),
        Command::Zoo(ZooCommand::Export(args)) => crate::zoo_cmd::export(&cli.global, args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::cli::Cli::command();
            clap_complete::generate(*shell, &mut cmd, "hyperzoo", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(crate::cli::Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn datasets_named(names: &[String]) -> Result<Vec<&'static DatasetInfo>> {
    if names.is_empty() {
        return Ok(CATALOG.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            data::find_dataset(n).with_context(|| {
                let known: Vec<&str> = CATALOG.iter().map(|d| d.name).collect();
                format!("unknown dataset '{n}'; known: {}", known.join(", "))
            })
        })
        .collect()
}

fn data_fetch(g: &Global, args: &FetchArgs) -> Result<ExitCode> {
    let dir = paths::data_dir(g.data_dir.clone());
    let opts = FetchOptions {
        source: args.source,
        from: args.from.clone(),
        force: args.force,
    };
    let mut failed = Vec::new();
    for ds in datasets_named(&args.datasets)? {
        match data::fetch(&dir.path, ds, &opts, &mut |line| eprintln!("{line}")) {
            Ok(data::FetchOutcome::AlreadyPresent) => {
                println!(
                    "{:<14} already present and verified in {}",
                    ds.name,
                    dir.path.display()
                )
            }
            Ok(data::FetchOutcome::Fetched(from)) => {
                println!(
                    "{:<14} fetched from {from}, verified, in {}",
                    ds.name,
                    dir.path.display()
                )
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed.push(ds.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("could not fetch: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn status_line(ds: &DatasetInfo, st: &DatasetStatus) -> String {
    match st {
        DatasetStatus::Verified => "verified".into(),
        DatasetStatus::Missing(files) if files.len() == ds.files.len() => {
            format!("missing; run `hyperzoo data fetch {}`", ds.name)
        }
        DatasetStatus::Missing(files) => {
            format!(
                "incomplete (no {}); run `hyperzoo data fetch {}`",
                files.join(", "),
                ds.name
            )
        }
        DatasetStatus::Corrupt { reason, .. } => {
            format!(
                "CORRUPT: {reason}; run `hyperzoo data fetch --force {}`",
                ds.name
            )
        }
    }
}

/// A dataset's state in one word (`verified`, `missing`, `incomplete`, `corrupt`), for JSON.
fn state_word(st: &DatasetStatus, ds: &DatasetInfo) -> &'static str {
    match st {
        DatasetStatus::Verified => "verified",
        DatasetStatus::Missing(files) if files.len() == ds.files.len() => "missing",
        DatasetStatus::Missing(_) => "incomplete",
        DatasetStatus::Corrupt { .. } => "corrupt",
    }
}

/// The data directory's datasets as JSON values.
fn datasets_json(dir: &std::path::Path) -> Vec<serde_json::Value> {
    CATALOG
        .iter()
        .map(|ds| {
            let st = data::verify(dir, ds);
            serde_json::json!({
                "name": ds.name,
                "title": ds.title,
                "state": state_word(&st, ds),
                "detail": status_line(ds, &st),
            })
        })
        .collect()
}

fn data_list(g: &Global, json: bool) -> Result<ExitCode> {
    let dir = paths::data_dir(g.data_dir.clone());
    if json {
        let v = serde_json::json!({
            "data_dir": dir.path,
            "origin": dir.origin.to_string(),
            "datasets": datasets_json(&dir.path),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("data dir: {} ({})", dir.path.display(), dir.origin);
    for ds in CATALOG {
        let st = data::verify(&dir.path, ds);
        println!(
            "  {:<14} {:<58} {}",
            ds.name,
            ds.title,
            status_line(ds, &st)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn doctor(g: &Global, json: bool) -> Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!("hyperzoo {}", env!("CARGO_PKG_VERSION")));
    lines.push(format!("  burn        {}", device::BURN_VERSION));
    lines.push(format!("  backend     {}", device::backend_name()));
    let linked = match (cfg!(feature = "tch"), device::LIBTORCH_CUDA_LINKED) {
        (false, _) => "",
        (true, true) => " (CUDA-linked)",
        (true, false) => " (CPU-only view; LIBTORCH_MODE=cuda scripts/setup-libtorch.sh for GPUs)",
    };
    lines.push(format!(
        "  libtorch    {}{linked}",
        device::LIBTORCH_VERSION
    ));
    let gpus = device::cuda_device_count();
    lines.push(format!(
        "  CUDA        {}",
        if gpus > 0 {
            format!("available ({gpus} device(s))")
        } else {
            "not available".into()
        }
    ));
    let (resolved, device_error) = match device::resolve(g.device) {
        Ok(d) => match smoke_test(&d) {
            Ok(()) => {
                lines.push(format!(
                    "  device      {} -> {d} (tensor check ok)",
                    g.device
                ));
                (Some(d.to_string()), None)
            }
            Err(e) => {
                lines.push(format!("  device      {} -> {d}: FAILED {e}", g.device));
                problems.push(format!("tensor check on {d} failed: {e}"));
                (Some(d.to_string()), Some(e.to_string()))
            }
        },
        Err(e) => {
            lines.push(format!("  device      {}: {e}", g.device));
            problems.push(e.to_string());
            (None, Some(e.to_string()))
        }
    };

    let dir = paths::data_dir(g.data_dir.clone());
    lines.push(format!(
        "data dir      {} ({})",
        dir.path.display(),
        dir.origin
    ));
    for ds in CATALOG {
        let st = data::verify(&dir.path, ds);
        lines.push(format!("  {:<14}{}", ds.name, status_line(ds, &st)));
        if st != DatasetStatus::Verified {
            problems.push(format!("dataset {}: {}", ds.name, status_line(ds, &st)));
        }
    }

    let ws = paths::workspace_dir(g.workspace.clone());
    let (ws_word, ws_state) = if ws.path.is_dir() {
        match tempfile::tempfile_in(&ws.path) {
            Ok(_) => ("writable", "exists, writable".to_string()),
            Err(e) => {
                problems.push(format!(
                    "workspace {} is not writable: {e}",
                    ws.path.display()
                ));
                ("not_writable", format!("NOT WRITABLE: {e}"))
            }
        }
    } else if ws.path.exists() {
        problems.push(format!(
            "workspace {} exists but is not a directory",
            ws.path.display()
        ));
        ("not_a_directory", "NOT A DIRECTORY".into())
    } else {
        ("absent", "will be created by the first run".into())
    };
    lines.push(format!(
        "workspace     {} ({}; {ws_state})",
        ws.path.display(),
        ws.origin
    ));
    if json {
        let v = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "burn": device::BURN_VERSION,
            "backend": device::backend_name(),
            "libtorch": device::LIBTORCH_VERSION,
            "libtorch_cuda_linked": device::LIBTORCH_CUDA_LINKED,
            "cuda_devices": gpus,
            "device": { "asked": g.device.to_string(), "resolved": resolved, "error": device_error },
            "data_dir": dir.path,
            "data_dir_origin": dir.origin.to_string(),
            "datasets": datasets_json(&dir.path),
            "workspace": ws.path,
            "workspace_origin": ws.origin.to_string(),
            "workspace_state": ws_word,
            "problems": problems,
            "ok": problems.is_empty(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for l in &lines {
            println!("{l}");
        }
        if problems.is_empty() {
            println!("status        ok");
        } else {
            println!("status        {} problem(s):", problems.len());
            for p in &problems {
                println!("  - {p}");
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A small matmul on the device, read back and checked, so the doctor proves libtorch loads
/// and computes rather than only that it was linked.
fn smoke_test(d: &device::ResolvedDevice) -> Result<()> {
    use hyperzoo_engine::burn::prelude::*;
    let n = 64;
    let ones = Tensor::<2>::ones([n, n], &d.device);
    let sum: f32 = ones.clone().matmul(ones).sum().into_scalar::<f32>();
    let expect = (n * n * n) as f32;
    if sum != expect {
        bail!("64x64 ones matmul summed to {sum}, expected {expect}");
    }
    Ok(())
}
