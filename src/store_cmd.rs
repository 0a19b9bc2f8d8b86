//! Commands for scripts over the run store: `hyperzoo check`, `hyperzoo ls`, `hyperzoo show`,
//! `hyperzoo tag` and `hyperzoo note` (the run's notes.toml, [`hyperzoo_core::run::Notes`]).
use crate::cli::Global;
use anyhow::{Context, Result};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::run::RunDir;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `hyperzoo check <experiment.toml>`: validates the file and prints its runs.
pub fn check(g: &Global, file: &Path, json: bool) -> Result<ExitCode> {
    use hyperzoo_core::workspace::ZooSource;
    let e = Experiment::load(file)?;
    let runs = e.expand()?;
    // Where the zoo is, or that it will be generated first; a zoo path that holds no zoo is
    // an error here rather than a failed run later.
    let ws = g.env().workspace;
    let source = ws.zoo_of(&e)?;
    if json {
        let (zoo_state, zoo_dir, definition) = match &source {
            ZooSource::Ready(dir) => ("generated", dir.clone(), None),
            ZooSource::Generate { definition, dir } => {
                ("to_generate", dir.clone(), Some(definition.clone()))
            }
        };
        let v = serde_json::json!({
            "file": file,
            "name": e.name,
            "model": e.model.kind(),
            "zoo": { "state": zoo_state, "dir": zoo_dir, "definition": definition },
            "runs": runs.iter().map(|(name, r)| serde_json::json!({
                "name": name,
                "zoo_epochs": r.zoo.epochs,
                "epochs": r.train.epochs,
                "batch_size": r.train.batch_size,
                "lr": r.train.lr,
                "seed": r.seed,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let zoo = match source {
        ZooSource::Ready(dir) => format!("zoo {} (generated)", dir.display()),
        ZooSource::Generate { definition, dir } => format!(
            "zoo {} not generated yet: `hyperzoo run` generates it from {} first",
            dir.display(),
            definition.display()
        ),
    };
    println!(
        "{}: ok; model {}, {} run(s); {zoo}",
        file.display(),
        e.model.kind(),
        runs.len()
    );
    for (name, r) in &runs {
        println!(
            "  {name}: zoo epochs {}, {} training epochs, batch {}, lr {}, seed {}",
            epochs_text(&r.zoo.epochs),
            r.train.epochs,
            r.train.batch_size,
            number(r.train.lr),
            r.seed
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `zoo.epochs` as written in an experiment: `last`, `all` or `[5, 10, 15]`.
fn epochs_text(e: &hyperzoo_core::experiment::EpochSelection) -> String {
    use hyperzoo_core::experiment::EpochSelection;
    match e {
        EpochSelection::Last => "last".into(),
        EpochSelection::All => "all".into(),
        EpochSelection::List(v) => format!("{v:?}"),
    }
}

/// A number as a person reads it: `0.001`, `3e-9`, `1.5`, `250000` (never `0.000000`).
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        // Up to 6 significant digits, trailing zeros dropped.
        let digits = (5 - a.log10().floor() as i32).clamp(0, 9) as usize;
        let t = format!("{v:.digits$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    } else {
        format!("{v:e}")
    }
}

/// `hyperzoo show --json`: the run's status, notes, checkpoints, last step and evaluation
/// records and results.toml, as one object.
fn show_json(run: &RunDir, name: &str, dir: &Path) -> Result<ExitCode> {
    let metrics = run.metrics()?;
    let last = |kind: &str| metrics.iter().rev().find(|m| m["kind"] == kind).cloned();
    let status = run.status()?;
    let notes = run.notes()?;
    let results = hyperzoo_core::results::Results::read(&run.path("results.toml"))?;
    let v = serde_json::json!({
        "run": name,
        "dir": dir,
        "state": status.as_ref().map(|s| shown_state(run, s)),
        "status": status,
        "tags": notes.tags,
        "note": notes.note,
        "checkpoints": run.checkpoints()?,
        "last_step": last("step"),
        "last_evaluation": last("epoch"),
        "results": results,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo export --table`: the ablation table of the runs, to .toml or .csv.
fn export_table(runs: &[PathBuf], a: &crate::cli::ExportRunArgs) -> Result<ExitCode> {
    use hyperzoo_report::ablation::{Ablation, read_runs};
    let ext = a
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if ext != "toml" && ext != "csv" {
        anyhow::bail!(
            "--out {}: a table is written as .toml or .csv",
            a.out.display()
        );
    }
    let missing: Vec<String> = runs
        .iter()
        .filter(|d| !d.join("config.toml").is_file())
        .map(|d| d.display().to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "not run yet (no config.toml): {} (`hyperzoo ls` lists the runs)",
            missing.join(", ")
        );
    }
    let table = Ablation::build(&read_runs(runs)?, !a.no_group_seeds);
    let text = if ext == "toml" {
        table.to_toml()
    } else {
        table.to_csv()
    };
    hyperzoo_core::fsutil::write_atomic(&a.out, text.as_bytes())?;
    println!(
        "wrote {} ({} rows, {} varying keys, {} metrics)",
        a.out.display(),
        table.rows.len(),
        table.keys.len(),
        table.metrics.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// A run given as a directory, or as a name in <workspace>/runs/, opened.
fn open_run(g: &Global, name: &str) -> Result<(RunDir, PathBuf)> {
    let dir = g.env().workspace.run_dir(name);
    let run = RunDir::open(&dir).with_context(|| format!("no run '{name}'"))?;
    Ok((run, dir))
}

/// `hyperzoo tag <run> <tag>... [--remove]`: adds (or removes) tags in the run's notes.toml.
pub fn tag(g: &Global, name: &str, tags: &[String], remove: bool) -> Result<ExitCode> {
    let (run, _) = open_run(g, name)?;
    let mut notes = run.notes()?;
    let changed = if remove {
        notes.remove_tags(tags)
    } else {
        notes.add_tags(tags)?
    };
    if changed > 0 {
        run.set_notes(&notes)?;
    }
    let list = if notes.tags.is_empty() {
        "none".to_string()
    } else {
        notes.tags.join(", ")
    };
    println!("{name}: tags {list}");
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo note <run> "text"`: sets the run's note in notes.toml (an empty text clears it).
pub fn note(g: &Global, name: &str, text: &str) -> Result<ExitCode> {
    let (run, _) = open_run(g, name)?;
    let mut notes = run.notes()?;
    notes.note = text.trim().to_string();
    run.set_notes(&notes)?;
    if notes.note.is_empty() {
        println!("{name}: note cleared");
    } else {
        println!("{name}: note set");
    }
    Ok(ExitCode::SUCCESS)
}

/// Last value of `key` among the records of `kind`.
fn last_metric(metrics: &[serde_json::Value], kind: &str, key: &str) -> Option<f64> {
    metrics
        .iter()
        .rev()
        .filter(|m| m["kind"] == kind)
        .find_map(|m| m[key].as_f64())
}

/// A run's state as `ls` and `show` say it: status.toml's, or `stale` when a `running` run's
/// process has written nothing for a minute (the workspace's one rule).
fn shown_state(run: &RunDir, s: &hyperzoo_core::run::Status) -> &'static str {
    let last = hyperzoo_core::workspace::last_write(run.dir());
    if hyperzoo_core::workspace::is_stale(s.state, last, std::time::SystemTime::now()) {
        "stale"
    } else {
        s.state.name()
    }
}

/// One line of `hyperzoo ls` (`--json`: one object of the array, these field names).
#[derive(serde::Serialize)]
struct LsRow {
    run: String,
    state: Option<&'static str>,
    step: Option<u64>,
    epoch: Option<u64>,
    epochs: Option<u64>,
    val_loss: Option<f64>,
    val_r2: Option<f64>,
    results: bool,
    tags: Option<Vec<String>>,
}

/// `hyperzoo ls`: every run of the workspace, one line each (`--json`: an array).
pub fn ls(g: &Global, json: bool) -> Result<ExitCode> {
    let dir = g.env().workspace.runs();
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(e) => e
            .flatten()
            .filter(|e| e.path().join("config.toml").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut rows = Vec::new();
    for name in names {
        let run = RunDir::open(&dir.join(&name))?;
        let status = run.status().ok().flatten();
        let metrics = run.metrics().unwrap_or_default();
        rows.push(LsRow {
            state: status.as_ref().map(|s| shown_state(&run, s)),
            step: status.as_ref().map(|s| s.step),
            epoch: status.as_ref().map(|s| s.epoch),
            epochs: status.as_ref().map(|s| s.epochs),
            val_loss: last_metric(&metrics, "epoch", "val_loss"),
            val_r2: last_metric(&metrics, "epoch", "val_r2"),
            results: run.path("results.toml").exists(),
            // A bad notes.toml does not hide the run: its tags show as `?` (null in JSON).
            tags: run.notes().ok().map(|n| n.tags),
            run: name,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:<10} {:>9} {:>11} {:>9} {:>8} {:<7} tags",
        "run", "state", "step", "epoch", "val loss", "val R²", "results"
    );
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    for r in rows {
        println!(
            "{:<40} {:<10} {:>9} {:>11} {:>9} {:>8} {:<7} {}",
            r.run,
            r.state.unwrap_or("-"),
            r.step.map_or("-".into(), |s| s.to_string()),
            match (r.epoch, r.epochs) {
                (Some(e), Some(n)) => format!("{e}/{n}"),
                _ => "-".into(),
            },
            fmt(r.val_loss),
            fmt(r.val_r2),
            if r.results { "yes" } else { "no" },
            r.tags.map_or("?".into(), |t| t.join(","))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo show <run>`: status, checkpoints, last metrics and results of one run.
pub fn show(g: &Global, name: &str, json: bool) -> Result<ExitCode> {
    let (run, dir) = open_run(g, name)?;
    if json {
        return show_json(&run, name, &dir);
    }
    println!("run {} ({})", name, dir.display());
    let notes = run.notes()?;
    if !notes.tags.is_empty() {
        println!("  tags {}", notes.tags.join(", "));
    }
    if !notes.note.is_empty() {
        for (i, line) in notes.note.lines().enumerate() {
            println!("  {}{line}", if i == 0 { "note: " } else { "      " });
        }
    }
    if let Some(s) = run.status()? {
        println!(
            "  state {}, step {}, epoch {}/{}{}",
            match shown_state(&run, &s) {
                "stale" => "stale (its process has written nothing for a minute)",
                state => state,
            },
            s.step,
            s.epoch,
            s.epochs,
            if s.message.is_empty() {
                String::new()
            } else {
                format!(": {}", s.message)
            }
        );
    }
    println!("  checkpoints at steps {:?}", run.checkpoints()?);
    let metrics = run.metrics()?;
    for key in [
        "loss",
        "contrast",
        "structure",
        "behaviour",
        "lr",
        "samples_per_s",
    ] {
        if let Some(v) = last_metric(&metrics, "step", key) {
            println!("  last step {key}: {}", number(v));
        }
    }
    for key in ["train_loss", "val_loss", "val_r2"] {
        if let Some(v) = last_metric(&metrics, "epoch", key) {
            println!("  last evaluation {key}: {}", number(v));
        }
    }
    let results = run.path("results.toml");
    if results.exists() {
        println!("  results ({}):", results.display());
        let text = std::fs::read_to_string(&results)?;
        let v: toml::Table = text.parse().context("results.toml")?;
        if let Some(probes) = v.get("probes").and_then(|p| p.as_array()) {
            for p in probes {
                println!(
                    "    {:<14} {:<5} {:<8} test {:.4}",
                    p["property"].as_str().unwrap_or(""),
                    p["method"].as_str().unwrap_or(""),
                    p["metric"].as_str().unwrap_or(""),
                    p["test"].as_float().unwrap_or(f64::NAN)
                );
            }
        }
        if let Some(r) = v.get("reconstruction") {
            println!(
                "    reconstruction weight R² {:.4}",
                r["weight_r2"].as_float().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo export <run...> --out F`: results (.toml; several runs give one comparison
/// table), the metrics series (.csv, one run) or a plot (.png/.svg: loss curves, validation R²,
/// probe bars, accuracy distributions).
pub fn export(g: &Global, a: &crate::cli::ExportRunArgs) -> Result<ExitCode> {
    let ws = g.env().workspace;
    let mut runs: Vec<PathBuf> = Vec::new();
    for r in &a.runs {
        let p = PathBuf::from(r);
        // An experiment file stands for its runs (in the workspace).
        if a.table && p.is_file() && p.extension().is_some_and(|e| e == "toml") {
            let e = hyperzoo_core::experiment::Experiment::load(&p)?;
            runs.extend(
                e.expand()?
                    .into_iter()
                    .map(|(name, _)| ws.runs().join(name)),
            );
        } else {
            runs.push(ws.run_dir(r));
        }
    }
    if a.table {
        return export_table(&runs, a);
    }
    match a.format.as_deref() {
        Some("tensorboard") => {
            for run in &runs {
                let path = hyperzoo_report::tensorboard::write_events(run, &a.out)?;
                println!("wrote {}", path.display());
            }
            println!("view with: tensorboard --logdir {}", a.out.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => anyhow::bail!(
            "--format {other}: expected tensorboard (other formats follow --out's extension)"
        ),
        None => {}
    }
    let ext = a
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let opts = hyperzoo_report::PlotOptions {
        log_y: a.log,
        ..Default::default()
    };
    match ext.as_str() {
        "toml" => {
            let text = hyperzoo_report::results_toml(&runs)?;
            hyperzoo_core::fsutil::write_atomic(&a.out, text.as_bytes())?;
        }
        "csv" => {
            let [run] = runs.as_slice() else {
                anyhow::bail!("a .csv export takes exactly one run ({} given)", runs.len());
            };
            hyperzoo_report::write_series_csv(run, &a.out)?;
        }
        "png" | "svg" => {
            let one = || match runs.as_slice() {
                [run] => Ok(run),
                _ => Err(anyhow::anyhow!(
                    "--plot {} draws one run ({} given): export each run to its own file",
                    a.plot,
                    runs.len()
                )),
            };
            match a.plot.as_str() {
                "loss" => hyperzoo_report::loss_curves(&runs, &a.out, &opts)?,
                "r2" => hyperzoo_report::val_r2_curves(&runs, &a.out, &opts)?,
                "probes" => hyperzoo_report::probe_bars(one()?, &a.out, &opts)?,
                "accuracy" => {
                    hyperzoo_report::accuracy_histograms(None, Some(one()?), &a.out, &opts)?
                }
                other => anyhow::bail!("--plot {other}: expected loss, r2, probes or accuracy"),
            }
        }
        other => anyhow::bail!(
            "--out {}: extension '{other}' is not one of toml, csv, png, svg",
            a.out.display()
        ),
    }
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_read_as_people_write_them() {
        let n = super::number;
        assert_eq!(n(4e-9), "4e-9");
        assert_eq!(n(0.001), "0.001");
        assert_eq!(n(3e-4), "3e-4");
        assert_eq!(n(0.123456789), "0.123457");
        assert_eq!(n(1.5), "1.5");
        assert_eq!(n(2520.0), "2520");
        assert_eq!(n(0.0), "0");
        assert_eq!(n(-0.25), "-0.25");
    }
}
