//! A job on a trained run, as the TUI queues it: an evaluation with the run's `[eval]`
//! settings, or a generation of networks into the first free
//! `<workspace>/zoos/<run>-generated[-N]`, with `hyperzoo generate`'s defaults, or for SANE
//! the quickstart's settings (joint KDE, bandwidth 0.05, anchors the top 30 %, best 20 of 40). Its state, stage and end are written to the
//! run's job.toml as it goes, which the run list shows.
use super::evaluate::{EvalOptions, evaluate};
use super::generate::{GenerateOptions, generate};
use super::open::{Access, CheckpointChoice, open_run};
use super::{Env, Note};
use crate::{Error, Result};
use hyperzoo_core::run::{JobStatus, RunDir, RunState, Task};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Does `task` on the run `run` (a name in the workspace, or a run directory), recording it in
/// the run's job.toml; returns the line it ended with (also recorded).
pub fn run_task(env: &Env, run: &str, task: Task, cancel: &AtomicBool) -> Result<String> {
    let dir = RunDir::open(&env.workspace.run_dir(run))?;
    let set = |state: RunState, message: String| {
        // Progress only: a job.toml that cannot be written must not stop the work.
        let _ = dir.set_job(&JobStatus {
            task,
            state,
            message,
        });
    };
    set(RunState::Running, "loading the run".into());
    let mut on = |n: Note<'_>| {
        if let Note::Info(s) = n {
            set(RunState::Running, s);
        }
    };
    let done = open_run(env, run, CheckpointChoice::Best, Access::Write).and_then(|l| match task {
        Task::Evaluate => {
            let e = &l.experiment.eval;
            let opts = EvalOptions {
                images: e.images,
                standardize: e.standardize,
                other_zoo: None,
            };
            evaluate(env, &l, &opts, cancel, &mut on).map(|_| "wrote results.toml".to_string())
        }
        Task::Generate => {
            let out = free_zoo_dir(env, &format!("{}-generated", l.experiment.name));
            // SANE: the quickstart's sampler, which docs/RESULTS.md found to give networks
            // above chance (the per-dimension KDE default gave chance-level ones there).
            let sane = matches!(
                l.experiment.model,
                hyperzoo_core::experiment::ModelSpec::Sane(_)
            );
            let opts = if sane {
                GenerateOptions {
                    out,
                    n: 20,
                    candidates: Some(40),
                    top: Some(30.0),
                    sampler: "joint".into(),
                    bandwidth: Some("0.05".into()),
                    ..Default::default()
                }
            } else {
                GenerateOptions {
                    out,
                    ..Default::default()
                }
            };
            generate(env, &l, &opts, cancel, &mut on)
                .map(|g| format!("{} networks -> {}", g.generation.networks, g.generation.zoo))
        }
    });
    match &done {
        Ok(msg) => set(RunState::Finished, msg.clone()),
        Err(Error::Cancelled) => set(RunState::Cancelled, "stopped".into()),
        Err(e) => set(RunState::Failed, e.to_string()),
    }
    done
}

/// `<workspace>/zoos/<name>`, or `<name>-2`, `<name>-3`, ... the first that does not exist.
fn free_zoo_dir(env: &Env, name: &str) -> PathBuf {
    let zoos = env.workspace.zoos();
    std::iter::once(zoos.join(name))
        .chain((2..).map(|k| zoos.join(format!("{name}-{k}"))))
        .find(|d| !d.exists())
        .expect("an unused name")
}
