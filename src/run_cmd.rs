//! `hyperzoo run <experiment.toml>`: trains the experiment's runs headless
//! ([`hyperzoo_engine::workflow::run`]), printing their progress.
use crate::cli::{Global, RunArgs};
use crate::progress::Progress;
use anyhow::Result;
use hyperzoo_core::experiment::Experiment;
use hyperzoo_engine::workflow::run::run_experiment;
use std::process::ExitCode;

/// `hyperzoo run`.
pub fn run(g: &Global, a: &RunArgs) -> Result<ExitCode> {
    let env = g.env();
    let e = Experiment::load(&a.file)?;
    let runs_dir = a.out.clone().unwrap_or_else(|| env.workspace.runs());
    let cancel = crate::cancel_flag();
    let mut progress = Progress::new(a.plain);
    let end = run_experiment(&env, &e, &runs_dir, &cancel, &mut |n| progress.note(n));
    progress.finish();
    let end = end?;
    for (name, dir, message) in &end.finished {
        crate::tell!("{name}: {message} ({})", dir.display());
    }
    for (_, results) in &end.evaluated {
        crate::eval_cmd::print_summary(results);
    }
    if let Some(name) = &end.cancelled {
        let (code, signal) = crate::stopped_exit();
        // status.toml names what stopped the run (a scheduler's SIGTERM, say).
        if let Ok(run) = hyperzoo_core::run::RunDir::open(&runs_dir.join(name))
            && let Ok(Some(mut s)) = run.status()
            && s.state == hyperzoo_core::run::RunState::Cancelled
        {
            s.message = format!("stopped by {signal}; resumable");
            let _ = run.set_status(&s);
            let _ = run.log(&s.message);
        }
        crate::say!(
            "{name}: stopped by {signal}; its checkpoint is kept, run the same command to resume"
        );
        return Ok(code);
    }
    if end.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let names: Vec<&str> = end.failed.iter().map(|(n, _)| n.as_str()).collect();
        crate::say!("{} run(s) failed: {}", names.len(), names.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
