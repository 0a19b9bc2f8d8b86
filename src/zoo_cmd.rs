//! `hyperzoo zoo ...`: generation with progress and Ctrl-C handling, info, import, export.
use crate::cli::{ExportArgs, GenerateArgs, Global, ImportArgs, ImportFormat};
use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_core::zoo::export::ExportFormat;
use hyperzoo_core::zoo::import::{self, ImportOptions};
use hyperzoo_core::zoo::store::{NetStatus, Zoo, ZooWriter};
use std::path::PathBuf;
use std::process::ExitCode;

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || anyhow::anyhow!("invalid --shard '{s}': expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `hyperzoo zoo generate`.
pub fn generate(g: &Global, args: &GenerateArgs) -> Result<ExitCode> {
    use hyperzoo_engine::workflow::zoo::{ZooEnd, generate_zoo};
    let shard = args
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()?
        .unwrap_or((0, 1));
    let cancel = crate::cancel_flag();
    let mut progress = Progress::new(false);
    let mut env = g.env();
    if args.kernel == "libtorch" {
        env.zoo_kernel = hyperzoo_engine::zoo::train::Kernel::LibTorch;
    }
    let end = generate_zoo(
        &env,
        &args.file,
        args.out.clone(),
        shard,
        &cancel,
        &mut |n| progress.note(n),
    );
    progress.finish();
    let trained = |(models, epochs, secs): (usize, usize, f64)| {
        crate::say!(
            "trained {models} networks x {epochs} epochs in {secs:.1} s ({:.1} network-epochs/s)",
            (models * epochs) as f64 / secs
        );
    };
    match end? {
        ZooEnd::AlreadyComplete(zoo) => crate::tell!("{}", summary(&zoo)),
        ZooEnd::Complete { zoo, trained: t } => {
            trained(t);
            crate::tell!("{}", summary(&zoo));
        }
        ZooEnd::ShardDone {
            dir,
            shard,
            trained: t,
        } => {
            trained(t);
            crate::tell!(
                "shard {}/{} done; when every shard is, run `hyperzoo zoo merge {}`",
                shard.0,
                shard.1,
                dir.display()
            );
        }
        ZooEnd::Cancelled { dir } => {
            let (code, signal) = crate::stopped_exit();
            crate::say!(
                "stopped by {signal}: {} keeps every finished epoch; run the same command to resume",
                dir.display()
            );
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn locate(g: &Global, zoo: &str) -> PathBuf {
    g.env().workspace.zoo_dir(zoo)
}

/// `hyperzoo zoo info`.
pub fn info(g: &Global, zoo: &str, verify: bool, json: bool) -> Result<ExitCode> {
    let dir = locate(g, zoo);
    if !dir.join("zoo.toml").exists() {
        bail!("no zoo at '{zoo}' (looked for {}/zoo.toml)", dir.display());
    }
    let z = Zoo::open(&dir)?;
    let damaged = z.verify_weights(verify);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info_json(&z, &damaged))?
        );
        return Ok(if damaged.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!("{}", summary(&z));
    if damaged.is_empty() {
        println!(
            "  weights: {} file(s) sound ({})",
            z.manifest.checkpoints.len(),
            if verify {
                "headers, lengths and every value read"
            } else {
                "headers and lengths; --verify reads every value"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for d in &damaged {
        crate::say!("damaged: {d}");
    }
    crate::say!(
        "{} of {} weight file(s) damaged: regenerate the zoo (`hyperzoo zoo generate`) or copy them again",
        damaged.len(),
        z.manifest.checkpoints.len()
    );
    Ok(ExitCode::FAILURE)
}

use hyperzoo_core::results::quantile;

/// `zoo info --json`: the manifest's facts, the splits, and per checkpoint epoch the networks
/// ok and diverged and the test accuracy quantiles; damaged weight files.
fn info_json(z: &Zoo, damaged: &[String]) -> serde_json::Value {
    use hyperzoo_core::zoo::store::NetStatus;
    let m = &z.manifest;
    let count = |split: &str| z.models.iter().filter(|r| r.split.name() == split).count();
    let epochs: Vec<serde_json::Value> = m
        .checkpoints
        .iter()
        .map(|&e| {
            let recs: Vec<_> = z.records.iter().filter(|r| r.epoch == e).collect();
            let mut acc: Vec<f64> = recs
                .iter()
                .filter(|r| r.status == NetStatus::Ok && r.test_acc.is_finite())
                .map(|r| r.test_acc)
                .collect();
            acc.sort_by(f64::total_cmp);
            serde_json::json!({
                "epoch": e,
                "ok": recs.iter().filter(|r| r.status == NetStatus::Ok).count(),
                "diverged": recs.iter().filter(|r| r.status != NetStatus::Ok).count(),
                "test_acc": hyperzoo_core::results::Quantiles::of(&acc),
            })
        })
        .collect();
    serde_json::json!({
        "name": m.name,
        "dir": z.dir,
        "status": m.status.name(),
        "arch": m.arch.name,
        "params": m.params,
        "dataset": m.dataset,
        "models": m.models,
        "splits": { "train": count("train"), "val": count("val"), "test": count("test") },
        "checkpoints": m.checkpoints,
        "epochs": epochs,
        "damaged_weights": damaged,
    })
}

/// What an imported zoo's networks run on: its dataset as recorded at import, or why there is
/// none.
fn imported_images(m: &hyperzoo_core::zoo::store::Manifest) -> String {
    match &m.data {
        Some(d) => {
            let list = |v: &Option<Vec<f32>>| {
                v.as_ref().map_or("default".into(), |v| {
                    v.iter().map(f32::to_string).collect::<Vec<_>>().join(", ")
                })
            };
            format!(
                "images: {}{}, normalised (x/255 - [{}]) / [{}]{}, {} training images held out for validation (seed {})",
                m.dataset,
                d.path
                    .as_ref()
                    .map_or(String::new(), |p| format!(" from {}", p.display())),
                list(&d.mean),
                list(&d.std),
                if d.grayscale { ", grey" } else { "" },
                d.val_size,
                d.split_seed
            )
        }
        None => format!(
            "images: none hyperzoo can load (dataset {}): no behavioural loss from data, no accuracies in eval, no fine-tuning; import with --dataset to give one",
            m.dataset
        ),
    }
}

/// A zoo's summary: header, splits, varied hyperparameters, test accuracy per checkpoint epoch.
pub fn summary(z: &Zoo) -> String {
    use std::fmt::Write;
    let m = &z.manifest;
    let mut s = String::new();
    let _ = writeln!(s, "zoo {} ({})", m.name, z.dir.display());
    if !m.description.is_empty() {
        let _ = writeln!(s, "  {}", m.description.trim());
    }
    let _ = writeln!(
        s,
        "  arch {} ({} params, input {:?}), dataset {}",
        m.arch.name, m.params, m.arch.input, m.dataset
    );
    if m.definition.is_empty() && !m.source.is_empty() {
        let _ = writeln!(s, "  {}", imported_images(m));
    }
    let count = |name: &str| z.models.iter().filter(|r| r.split.name() == name).count();
    let _ = writeln!(
        s,
        "  {} networks: {} train / {} val / {} test; {} epochs; checkpoints {:?}",
        m.models,
        count("train"),
        count("val"),
        count("test"),
        m.epochs,
        m.checkpoints
    );
    let varied = varied_hparams(z);
    if !varied.is_empty() {
        let _ = writeln!(s, "  varied: {}", varied.join(", "));
    }
    let _ = writeln!(
        s,
        "  epoch  n_ok  diverged  missing  test_acc: min    q25    median q75    max    mean"
    );
    for &e in &m.checkpoints {
        let recs: Vec<_> = z.records.iter().filter(|r| r.epoch == e).collect();
        let mut acc: Vec<f64> = recs
            .iter()
            .filter(|r| r.status == NetStatus::Ok)
            .map(|r| r.test_acc)
            .collect();
        acc.sort_by(|a, b| a.total_cmp(b));
        let div = recs
            .iter()
            .filter(|r| r.status == NetStatus::Diverged)
            .count();
        let missing = recs
            .iter()
            .filter(|r| r.status == NetStatus::Missing)
            .count();
        let mean = acc.iter().sum::<f64>() / acc.len().max(1) as f64;
        let _ = writeln!(
            s,
            "  {e:5}  {:4}  {div:8}  {missing:7}            {:.4} {:.4} {:.4} {:.4} {:.4} {:.4}",
            acc.len(),
            quantile(&acc, 0.0),
            quantile(&acc, 0.25),
            quantile(&acc, 0.5),
            quantile(&acc, 0.75),
            quantile(&acc, 1.0),
            mean
        );
    }
    s
}

/// Hyperparameter columns whose value differs between networks, with their distinct counts.
fn varied_hparams(z: &Zoo) -> Vec<String> {
    let Some(first) = z.models.first() else {
        return Vec::new();
    };
    first
        .hparams
        .iter()
        .filter(|(k, _)| k != "source")
        .filter_map(|(k, _)| {
            let values: std::collections::BTreeSet<&str> =
                z.models.iter().filter_map(|m| m.get(k)).collect();
            (values.len() > 1).then(|| format!("{k} ({})", values.len()))
        })
        .collect()
}

/// `hyperzoo zoo merge`.
pub fn merge(zoo: &std::path::Path, shards: &[PathBuf]) -> Result<ExitCode> {
    let (writer, def) = ZooWriter::open_for_merge(zoo)?;
    if writer.is_complete() {
        bail!("{} is already complete", zoo.display());
    }
    for s in shards {
        let taken = writer.take_parts(s)?;
        crate::say!("{}: took populations {taken:?}", s.display());
    }
    let z = writer.finish(&def)?;
    println!("{}", summary(&z));
    Ok(ExitCode::SUCCESS)
}

/// A built-in architecture name or a TOML file.
pub fn resolve_arch(s: &str) -> Result<ArchSpec> {
    if let Some(a) = ArchSpec::builtin(s) {
        return Ok(a);
    }
    let path = std::path::Path::new(s);
    if path.is_file() {
        let text = std::fs::read_to_string(path)?;
        return Ok(ArchSpec::from_toml(path, &text)?);
    }
    bail!(
        "--arch '{s}' is neither a built-in ({}) nor a TOML file",
        hyperzoo_core::arch::BUILTINS.join(", ")
    )
}

/// `hyperzoo zoo import`.
pub fn import(g: &Global, a: &ImportArgs) -> Result<ExitCode> {
    if a.split.len() != 3 || (a.split.iter().sum::<f64>() - 1.0).abs() > 1e-9 {
        bail!(
            "--split {:?}: expected three fractions train,val,test summing to 1",
            a.split
        );
    }
    let src_name = a
        .src
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let name = a.name.clone().unwrap_or_else(|| {
        a.out
            .as_ref()
            .and_then(|o| o.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(src_name)
    });
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| g.env().workspace.zoos().join(&name));
    let opts = ImportOptions {
        name,
        arch: a.arch.as_deref().map(resolve_arch).transpose()?,
        dataset: a.dataset.clone(),
        split: [a.split[0], a.split[1], a.split[2]],
        split_seed: a.split_seed,
        max_models: a.max_models,
        epochs: a.epochs.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        data_path: a.data_path.clone(),
    };
    let imported = match a.format {
        ImportFormat::Modelzoos => import::modelzoos::import(&a.src, &opts)?,
        ImportFormat::Unterthiner => import::unterthiner::import(&a.src, &opts)?,
    };
    let z = imported.write(&out)?;
    println!("{}", summary(&z));
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo zoo export`.
pub fn export(g: &Global, a: &ExportArgs) -> Result<ExitCode> {
    let dir = locate(g, &a.zoo);
    let z = Zoo::open(&dir)?;
    let format = match &a.format {
        Some(f) => f.parse::<ExportFormat>()?,
        None => ExportFormat::from_path(&a.out).with_context(|| {
            format!(
                "--out {}: give a .safetensors or .npz name, or --format",
                a.out.display()
            )
        })?,
    };
    hyperzoo_core::zoo::export::export(&z, a.epochs.as_deref(), format, &a.out)?;
    println!(
        "wrote {} ({} networks x {} checkpoints x {} params)",
        a.out.display(),
        z.manifest.models,
        a.epochs
            .as_ref()
            .map_or(z.manifest.checkpoints.len(), Vec::len),
        z.manifest.params
    );
    Ok(ExitCode::SUCCESS)
}
