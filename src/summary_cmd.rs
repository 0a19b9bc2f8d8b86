//! `hyperzoo summary <run> [--json]`: the run's "does it work" table. The table is built by
//! [`hyperzoo_report::summary`] from the run's config.toml, metrics.jsonl, results.toml and zoo;
//! this only finds the run and prints.
use crate::cli::Global;
use anyhow::{Result, bail};
use std::process::ExitCode;

/// `hyperzoo summary`.
pub fn summary(g: &Global, run: &str, json: bool) -> Result<ExitCode> {
    let ws = g.env().workspace;
    let dir = ws.run_dir(run);
    if !dir.join("config.toml").is_file() {
        bail!(
            "no run '{run}': neither a run directory nor a run in {} (`hyperzoo ls` lists them)",
            ws.runs().display()
        );
    }
    let summary = hyperzoo_report::summarize_run(run, &dir, ws.root())?;
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
