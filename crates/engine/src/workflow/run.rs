//! Training: every run of an experiment (one per grid combination), each into its run
//! directory, generating the zoo first when the experiment names a definition not yet
//! generated. A run already in its directory resumes from its last checkpoint; a finished one
//! is skipped; one held by another process is refused ([`hyperzoo_core::workspace::RunLock`]).
//! A failing run is recorded as failed (at the step it had reached) and the next runs go on.
use super::{Context, Env, Note, fail};
use crate::device;
use crate::hyper::train::{self as hyper_train, Event, Outcome, QuerySet};
use crate::{Error, Result};
use burn::prelude::*;
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::results::Results;
use hyperzoo_core::run::{RunDir, RunState, Status};
use hyperzoo_core::workspace::{Claim, ZooSource};
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::Zoo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How one run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// Trained to its last epoch now.
    Finished {
        /// Seconds this process trained it.
        secs: f64,
        /// The final validation loss, if evaluated.
        val_loss: Option<f64>,
        /// The final validation R².
        val_r2: Option<f64>,
        /// The line written to status.toml and log.txt.
        message: String,
    },
    /// Already finished before: nothing trained.
    Skipped,
    /// Stopped by the stop flag; its checkpoint is kept (resumable).
    Cancelled,
}

/// How the runs of an experiment ended.
#[derive(Debug, Default)]
pub struct ExperimentEnd {
    /// Runs trained to their end now: name, directory, and the line of their status.
    pub finished: Vec<(String, PathBuf, String)>,
    /// Runs finished before (nothing trained).
    pub skipped: Vec<String>,
    /// Runs evaluated after training (`[eval] after_train`): name and results (also in their
    /// results.toml).
    pub evaluated: Vec<(String, Results)>,
    /// Runs that failed: name and message (recorded in their status.toml).
    pub failed: Vec<(String, String)>,
    /// The stop flag ended the experiment (at the run named).
    pub cancelled: Option<String>,
}

/// Trains every run of `e` into `<runs_dir>/<run name>/`, one after the other, until the stop
/// flag is set.
pub fn run_experiment(
    env: &Env,
    e: &Experiment,
    runs_dir: &Path,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<ExperimentEnd> {
    let runs = e.expand()?;
    on(Note::Info(format!(
        "experiment {}: {} run(s) -> {}",
        e.name,
        runs.len(),
        runs_dir.display()
    )));
    let mut end = ExperimentEnd::default();
    for (name, run_exp) in &runs {
        let dir = runs_dir.join(name);
        match train_run(env, run_exp, &dir, cancel, on) {
            Ok(RunEnd::Cancelled) => {
                end.cancelled = Some(name.clone());
                return Ok(end);
            }
            Ok(ended @ (RunEnd::Finished { .. } | RunEnd::Skipped)) => {
                if run_exp.eval.after_train {
                    // A run finished earlier is evaluated once: when it has no results yet.
                    let fresh = matches!(ended, RunEnd::Finished { .. });
                    if fresh || !dir.join("results.toml").exists() {
                        match evaluate_after(env, run_exp, &dir, cancel, on) {
                            Ok(r) => end.evaluated.push((name.clone(), r)),
                            Err(crate::Error::Cancelled) => {
                                end.cancelled = Some(name.clone());
                                return Ok(end);
                            }
                            Err(err) => {
                                let msg = format!("evaluation: {err}");
                                if let Ok(run) = RunDir::open(&dir) {
                                    let _ = run.log(&format!("failed: {msg}"));
                                }
                                on(Note::Warning(format!("{name}: {msg}")));
                                end.failed.push((name.clone(), msg));
                            }
                        }
                    }
                }
                match ended {
                    RunEnd::Finished { message, .. } => {
                        end.finished.push((name.clone(), dir, message));
                    }
                    _ => end.skipped.push(name.clone()),
                }
            }
            Err(err) => {
                let msg = err.to_string();
                on(Note::Warning(format!("{name}: failed: {msg}")));
                end.failed.push((name.clone(), msg));
            }
        }
        if cancel.load(Ordering::SeqCst) {
            end.cancelled = Some(name.clone());
            return Ok(end);
        }
    }
    Ok(end)
}

/// Evaluates a trained run as its `[eval]` table asks (`hyperzoo eval` with those settings).
fn evaluate_after(
    env: &Env,
    e: &Experiment,
    dir: &Path,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<Results> {
    use super::open::{Access, CheckpointChoice, open_run};
    let name = dir.display().to_string();
    let opened = open_run(env, &name, CheckpointChoice::Best, Access::Write)?;
    let opts = super::evaluate::EvalOptions {
        images: e.eval.images,
        standardize: e.eval.standardize,
        other_zoo: None,
    };
    super::evaluate::evaluate(env, &opened, &opts, cancel, on)
}

/// Trains (or resumes) one run of an experiment (`e` as [`Experiment::expand`] gives it) into
/// `dir`. A failure after the directory was claimed is recorded there (status `failed` at the
/// step reached, and log.txt) before it is returned; a directory refused (held by another
/// process, or holding another configuration) is left as it is.
pub fn train_run(
    env: &Env,
    e: &Experiment,
    dir: &Path,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<RunEnd> {
    let (run, _lock) = match env.workspace.claim_run(dir, e)? {
        Claim::Finished(_) => {
            on(Note::Info(format!(
                "{}: already finished; skipping",
                e.name
            )));
            return Ok(RunEnd::Skipped);
        }
        Claim::New(run, lock) | Claim::Resume(run, lock) => (run, lock),
    };
    let mut reached = Reached::default();
    let mut outcome = train_claimed(env, e, &run, cancel, on, &mut reached);
    if let Err(err) = &outcome {
        let mut msg = err.to_string();
        if let Some(hint) = hyperzoo_core::fsutil::disk_full_hint(&msg) {
            msg = format!("{msg}; {hint}");
            outcome = Err(fail(msg.clone()));
        }
        let prev = run.status().ok().flatten();
        let mut failed = hyperzoo_core::workspace::status_after(
            prev.as_ref(),
            RunState::Failed,
            e.train.epochs as u64,
            msg.clone(),
        );
        failed.step = failed.step.max(reached.step);
        failed.epoch = failed.epoch.max(reached.epoch);
        let _ = run.set_status(&failed);
        let _ = run.log(&format!("failed: {msg}"));
    }
    outcome
}

/// How far a run got (recorded with a failure).
#[derive(Debug, Default)]
struct Reached {
    step: u64,
    epoch: u64,
}

fn train_claimed(
    env: &Env,
    e: &Experiment,
    run: &RunDir,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
    reached: &mut Reached,
) -> Result<RunEnd> {
    let zoo_dir = match zoo_of(env, e, cancel, on) {
        Ok(dir) => dir,
        // Stopped while its zoo was being generated: the zoo's finished epochs are kept and
        // the run is resumable, not failed.
        Err(_) if cancel.load(Ordering::SeqCst) => {
            let _ = run.log("stopped while its zoo was being generated");
            run.set_status(&Status {
                state: RunState::Cancelled,
                step: 0,
                epoch: 0,
                epochs: e.train.epochs as u64,
                message: "stopped while its zoo was being generated; resumable".into(),
                device: String::new(),
            })?;
            return Ok(RunEnd::Cancelled);
        }
        Err(err) => return Err(err),
    };
    let zoo = Zoo::open(&zoo_dir)?;
    // The zoo's checkpoints are held in memory as weights and as the model's inputs (tokens or
    // standardised vectors), float32, beside a copy per view of a batch.
    let rows = zoo.manifest.models * zoo.manifest.checkpoints.len();
    if let Some(w) = hyperzoo_core::budget::check_memory(
        (rows * zoo.manifest.params * 4 * 3) as u64,
        &format!(
            "{}: training on up to {rows} checkpoints of {} parameters",
            e.name, zoo.manifest.params
        ),
    ) {
        on(Note::Warning(w));
    }
    let spec = super::spec::train_spec(e, &zoo)?;
    let dev = device::resolve(env.device_for(e))?;
    let prepared = hyper_train::prepare(&spec, &zoo)?;
    if let Some(s) = &prepared.standardizer {
        run.write(
            "normalization.json",
            &serde_json::to_vec_pretty(s).expect("serializable"),
        )?;
    }
    let needs_images = spec.loss.beta < 1.0 && spec.loss.query_set != QuerySet::Random;
    let images = if needs_images {
        let images = query_images(env, &zoo, &dev.device)?;
        if images.is_none() {
            return Err(fail(format!(
                "loss.query_set = {:?} needs the zoo's images: {}; or set query_set = \"random\"",
                format!("{:?}", spec.loss.query_set).to_lowercase(),
                super::no_data_reason(&zoo)
            )));
        }
        images
    } else {
        None
    };
    let device_name = dev.to_string();
    let status = |state, step, epoch, message: String| Status {
        state,
        step,
        epoch,
        epochs: spec.epochs(),
        message,
        device: device_name.clone(),
    };
    run.set_status(&status(RunState::Running, 0, 0, String::new()))?;
    run.log(&format!(
        "run {} on zoo {} ({}), device {}",
        e.name,
        zoo.manifest.name,
        zoo.dir.display(),
        dev
    ))?;
    let start = Instant::now();
    let mut spe = 1u64;
    let name = e.name.clone();
    let mut status_error = None;
    let mut on_event = |ev: &Event| {
        match ev {
            Event::Started {
                steps_per_epoch, ..
            } => spe = *steps_per_epoch,
            Event::Step(s) => {
                reached.step = s.step;
                reached.epoch = s.epoch;
            }
            Event::Checkpoint { step } => {
                // The store's view of progress (the TUI lists step and epoch from status.toml).
                if let Err(err) = run.set_status(&status(
                    RunState::Running,
                    *step,
                    step / spe.max(1),
                    String::new(),
                )) {
                    status_error.get_or_insert(err);
                }
            }
            _ => {}
        }
        on(Note::Train {
            run: &name,
            event: ev,
        });
    };
    let outcome = hyper_train::train(
        &spec,
        &zoo,
        &prepared,
        run,
        &dev.device,
        images.as_ref(),
        cancel,
        &mut on_event,
    )?;
    if let Some(err) = status_error {
        return Err(err.into());
    }
    let secs = start.elapsed().as_secs_f64();
    match outcome {
        Outcome::Cancelled { step } => {
            run.set_status(&status(
                RunState::Cancelled,
                step,
                reached.epoch,
                "cancelled; resumable".into(),
            ))?;
            Ok(RunEnd::Cancelled)
        }
        Outcome::Finished { val_loss, val_r2 } => {
            let message = format!(
                "finished in {secs:.1} s: val loss {}, val R² {}",
                val_loss.map_or("-".into(), |v| format!("{v:.5}")),
                val_r2.map_or("-".into(), |v| format!("{v:.4}"))
            );
            run.set_status(&status(
                RunState::Finished,
                reached.step,
                spec.epochs(),
                message.clone(),
            ))?;
            run.log(&message)?;
            Ok(RunEnd::Finished {
                secs,
                val_loss,
                val_r2,
                message,
            })
        }
    }
}

/// The zoo of an experiment, generated first if it comes from a definition not yet generated.
fn zoo_of(
    env: &Env,
    e: &Experiment,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<PathBuf> {
    match env.workspace.zoo_of(e)? {
        ZooSource::Ready(dir) => Ok(dir),
        ZooSource::Generate { definition, dir } => {
            let def = ZooDef::load(&definition)
                .context(|| format!("{}: zoo.definition", e.path().display()))?;
            on(Note::Info(format!(
                "zoo {} not generated yet: generating it from {}",
                def.name,
                definition.display()
            )));
            let end =
                super::zoo::generate_zoo(env, &definition, Some(dir.clone()), (0, 1), cancel, on)?;
            if matches!(end, super::zoo::ZooEnd::Cancelled { .. }) {
                return Err(Error::Cancelled);
            }
            if Zoo::open(&dir).is_err() {
                return Err(fail(format!(
                    "generating zoo {} did not complete",
                    def.name
                )));
            }
            Ok(dir)
        }
    }
}

/// Training images of the zoo's dataset (behavioural queries from data); `None` when
/// hyperzoo cannot load it.
pub(crate) fn query_images(env: &Env, zoo: &Zoo, dev: &Device) -> Result<Option<Tensor<4>>> {
    Ok(super::zoo_data(env, zoo, dev)?.map(|(_, data)| data.train.x))
}
