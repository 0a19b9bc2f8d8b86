//! The launch queue: runs and zoo generations started from the TUI, at most `max` of them at
//! once on threads of this process, the others waiting first in, first out.
//!
//! An experiment file is split into its runs (one per `[grid]` combination), each a [`Job`] of
//! its own, so that the limit counts trainings and a single waiting run can be taken out of the
//! queue. A job whose zoo is still to be generated does not start while another job of this
//! queue generates (or trains on) the same zoo, so two threads never write one zoo; a later job
//! may pass it meanwhile.
//!
//! This is the one part of the crate that writes to the workspace. A run put in the queue gets
//! its run directory (`<workspace>/runs/<run>/`, [`hyperzoo_core::run::RunDir`]) with its
//! resolved configuration in config.toml, written exactly as `hyperzoo run` writes it (so the
//! run that starts later, or a `hyperzoo run` of the same file, finds its own configuration)
//! and status.toml `state = "queued"`: this TUI, a TUI opened later and `hyperzoo ls` all see it
//! waiting. When its job starts, the run is `running` (preparing its zoo and data) until the
//! training writes its own status. While this process holds a run, waiting or running, its
//! status.toml's modification time is renewed every [`HEARTBEAT`], so a run whose process died
//! shows as stale ([`crate::store::STALE_AFTER`]) and one of a live process never does, even
//! while its zoo is generated. A run taken out of the queue is `cancelled`; a job that ends
//! without writing a final state (it failed before its first step, or panicked) leaves `failed`
//! or `cancelled`, never `queued` or `running`.
//!
//! The work itself is the [`Worker`]'s: the binary's, over the engine, which this crate never
//! links. The queue owns the threads; [`RunQueue`] is the TUI's [`Launcher`].
use crate::Launcher;
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::run::{JobStatus, RunDir, RunState, Status, Task};
use hyperzoo_core::workspace::{Holding, RunLock, Workspace, ZooSource};
use hyperzoo_core::zoo::ZooDef;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How often the status.toml of a waiting run is written again (well under
/// [`STALE_AFTER`](crate::store::STALE_AFTER), so that a live queue never looks stale).
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// How the status message of a run whose job has started, but not trained yet, begins.
const STARTING: &str = "starting in process";

/// How often the queue's housekeeping thread wakes (heartbeats, starting a job whose zoo has
/// become ready).
const TICK: Duration = Duration::from_millis(500);

/// One unit of work of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Trains (or resumes) one run. `config` is the run directory's config.toml: an experiment
    /// of exactly one run, named `run`, its zoo location absolute.
    Train {
        /// The run's name (its directory under `<workspace>/runs/`).
        run: String,
        /// `<workspace>/runs/<run>/config.toml`.
        config: PathBuf,
    },
    /// Evaluates a trained run, or generates networks from it (its job.toml tells how far).
    Task {
        /// The run's name (its directory under `<workspace>/runs/`).
        run: String,
        /// What to do.
        task: Task,
    },
    /// Generates (or resumes) a zoo into `<workspace>/zoos/<name>`.
    Zoo {
        /// The zoo's name (from its definition).
        name: String,
        /// The zoo definition file.
        file: PathBuf,
    },
}

impl Job {
    /// The run's or the zoo's name.
    pub fn name(&self) -> &str {
        match self {
            Job::Train { run, .. } | Job::Task { run, .. } => run,
            Job::Zoo { name, .. } => name,
        }
    }
}

/// Does the queue's jobs. The binary implements it over the engine.
pub trait Worker: Send + Sync + 'static {
    /// Does `job` on the calling thread (one the queue started for it) and returns when it has
    /// ended. Once `stop` is set the job stops at its next step, keeping a checkpoint. Failures
    /// are the job's to record, in the run's status.toml and log.txt.
    fn work(&self, job: &Job, stop: Arc<AtomicBool>);
}

/// The queue: a [`Launcher`] that runs at most `max` jobs at once.
pub struct RunQueue {
    inner: Arc<Inner>,
}

struct Inner {
    workspace: PathBuf,
    max: usize,
    worker: Box<dyn Worker>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: Vec<Slot>,
    waiting: VecDeque<Entry>,
    /// Whether the housekeeping thread is alive.
    ticking: bool,
}

/// A job started: its entry and its stop flag (which also identifies it).
struct Slot {
    entry: Entry,
    stop: Arc<AtomicBool>,
}

/// A job and what the queue keeps about it.
struct Entry {
    job: Job,
    /// The zoo directory the job may have to generate (none when its zoo is complete).
    zoo: Option<PathBuf>,
    /// The status the run had before it was queued (its step and epoch are kept).
    before: Option<Status>,
    /// Epochs of the run.
    epochs: u64,
}

impl Entry {
    fn name(&self) -> &str {
        self.job.name()
    }

    /// The run's status with `state`, keeping the step and epoch it had before.
    fn status(&self, state: RunState, message: String) -> Status {
        hyperzoo_core::workspace::status_after(self.before.as_ref(), state, self.epochs, message)
    }
}

impl RunQueue {
    /// A queue writing into `workspace` (the same directory the worker's runs use), running at
    /// most `max` jobs at once (at least one).
    pub fn new(workspace: &Path, max: usize, worker: Box<dyn Worker>) -> Self {
        Self {
            inner: Arc::new(Inner {
                workspace: workspace.into(),
                max: max.max(1),
                worker,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// At most this many jobs run at once.
    pub fn max(&self) -> usize {
        self.inner.max
    }

    /// Names of the jobs running, in the order they started.
    pub fn running(&self) -> Vec<String> {
        let st = self.inner.lock();
        st.running
            .iter()
            .map(|s| s.entry.name().to_string())
            .collect()
    }

    /// Names of the jobs waiting, first to start first.
    pub fn waiting(&self) -> Vec<String> {
        let st = self.inner.lock();
        st.waiting.iter().map(|e| e.name().to_string()).collect()
    }

    /// Queues the runs of an experiment file, or the generation of the zoo of a zoo file, and
    /// starts what the limit allows. Returns a one-line summary (what started, what waits, what
    /// was left out and why); an error, saying why, when nothing could be queued.
    pub fn enqueue(&self, file: &Path) -> Result<String, String> {
        let shown = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let (entries, mut left_out) = if is_zoo_file(file) {
            (vec![self.zoo_entry(file)?], Vec::new())
        } else {
            self.run_entries(file)?
        };
        let mut added = Vec::new();
        let mut st = self.inner.lock();
        for entry in entries {
            let name = entry.name().to_string();
            if st.running.iter().any(|s| s.entry.name() == name) {
                left_out.push(format!("{name} (running)"));
                continue;
            }
            if st.waiting.iter().any(|e| e.name() == name) {
                left_out.push(format!("{name} (queued)"));
                continue;
            }
            if let Job::Train { run, .. } = &entry.job {
                let status = entry.status(
                    RunState::Queued,
                    format!("queued in process {}", std::process::id()),
                );
                if let Err(e) = self.inner.set_status(run, &status) {
                    left_out.push(format!("{name} ({e})"));
                    continue;
                }
            }
            added.push(name);
            st.waiting.push_back(entry);
        }
        Inner::pump(&self.inner, &mut st);
        Inner::ensure_ticking(&self.inner, &mut st);
        let count = |names: &[String], live: &dyn Fn(&str) -> bool| {
            names.iter().filter(|n| live(n.as_str())).count()
        };
        let started = count(&added, &|n| st.running.iter().any(|s| s.entry.name() == n));
        let queued = count(&added, &|n| st.waiting.iter().any(|e| e.name() == n));
        drop(st);
        if started + queued == 0 {
            return Err(format!(
                "{shown}: nothing to start: {}",
                left_out.join(", ")
            ));
        }
        let mut msg = format!("{shown}: {started} started");
        if queued > 0 {
            msg.push_str(&format!(
                ", {queued} queued (at most {} at once)",
                self.inner.max
            ));
        }
        if !left_out.is_empty() {
            msg.push_str(&format!("; left out: {}", left_out.join(", ")));
        }
        Ok(msg)
    }

    /// Queues `task` (an evaluation or a generation) for each of the runs named, and starts
    /// what the limit allows; one job per run at a time (a run training, evaluating or queued
    /// here, or held by another process, is left out). Each run's job.toml says `queued`.
    pub fn enqueue_task(&self, task: Task, runs: &[String]) -> Result<String, String> {
        let mut left_out = Vec::new();
        let mut added = 0;
        let mut st = self.inner.lock();
        for name in runs {
            let dir = self.inner.run_dir(name);
            let busy = st.running.iter().any(|s| s.entry.name() == name)
                || st.waiting.iter().any(|e| e.name() == name);
            if busy {
                left_out.push(format!("{name} (busy in this process)"));
                continue;
            }
            if let Err(e) = RunLock::acquire(&dir) {
                left_out.push(format!("{name} ({e})"));
                continue;
            }
            let queued = JobStatus {
                task,
                state: RunState::Queued,
                message: format!("queued in process {}", std::process::id()),
            };
            if let Err(e) = RunDir::open(&dir).and_then(|d| d.set_job(&queued)) {
                left_out.push(format!("{name} ({e})"));
                continue;
            }
            st.waiting.push_back(Entry {
                job: Job::Task {
                    run: name.clone(),
                    task,
                },
                zoo: None,
                before: None,
                epochs: 0,
            });
            added += 1;
        }
        Inner::pump(&self.inner, &mut st);
        Inner::ensure_ticking(&self.inner, &mut st);
        drop(st);
        let what = match task {
            Task::Evaluate => "evaluation",
            Task::Generate => "generation",
        };
        if added == 0 {
            return Err(format!("no {what} queued: {}", left_out.join(", ")));
        }
        let mut msg = format!("{what} of {added} run(s) queued");
        if !left_out.is_empty() {
            msg.push_str(&format!("; left out: {}", left_out.join(", ")));
        }
        Ok(msg)
    }

    /// Takes `name` out of the queue (its status becomes cancelled), or asks it to stop at its
    /// next step if it runs. Returns what was done; an error if it is neither running nor
    /// queued here.
    pub fn stop(&self, name: &str) -> Result<String, String> {
        let mut st = self.inner.lock();
        if let Some(i) = st.waiting.iter().position(|e| e.name() == name) {
            let entry = st.waiting.remove(i).expect("position found");
            return Ok(match self.inner.cancel_waiting(&entry) {
                Ok(()) => format!("{name}: taken out of the queue"),
                Err(e) => format!("{name}: taken out of the queue, but {e}"),
            });
        }
        if let Some(slot) = st.running.iter().find(|s| s.entry.name() == name) {
            slot.stop.store(true, Ordering::SeqCst);
            return Ok(format!(
                "stopping {name} at its next step (it keeps a checkpoint)"
            ));
        }
        Err(format!(
            "{name} is neither running nor queued in this hyperzoo process"
        ))
    }

    /// Empties the queue (every waiting run becomes cancelled) and asks every running job to
    /// stop at its next step. Returns how many were running and how many waited.
    pub fn stop_all(&self) -> (usize, usize) {
        let mut st = self.inner.lock();
        let waiting: Vec<Entry> = st.waiting.drain(..).collect();
        for entry in &waiting {
            // Best effort: a run whose status cannot be written is still not started.
            let _ = self.inner.cancel_waiting(entry);
        }
        for slot in &st.running {
            slot.stop.store(true, Ordering::SeqCst);
        }
        (st.running.len(), waiting.len())
    }

    /// The entries of an experiment file's runs, and the runs left out with the reason: those
    /// finished, live in another process, or whose directory holds another configuration.
    fn run_entries(&self, file: &Path) -> Result<(Vec<Entry>, Vec<String>), String> {
        let runs = Experiment::load(file)
            .and_then(|e| e.expand())
            .map_err(|e| e.to_string())?;
        let ws = &self.inner.workspace;
        let mut entries = Vec::new();
        let mut left_out = Vec::new();
        for (name, exp) in &runs {
            let dir = ws.join("runs").join(name);
            let config = resolved_config(exp, ws);
            let cfg_path = dir.join("config.toml");
            let write_config = match Workspace::new(ws).holding(&dir, exp) {
                Ok(Holding::Other) => {
                    left_out.push(format!(
                        "{name} ({} holds a run with another configuration: delete it with D or rename the experiment)",
                        dir.display()
                    ));
                    continue;
                }
                Ok(Holding::This { same_text }) => !same_text,
                Ok(Holding::Nothing) => true,
                Err(e) => {
                    left_out.push(format!("{name} ({e})"));
                    continue;
                }
            };
            // Trained or evaluated by another process (or another job of this one) now.
            if dir.is_dir()
                && !self.inner.holds(name)
                && let Err(e @ hyperzoo_core::Error::Locked { .. }) = RunLock::acquire(&dir)
            {
                left_out.push(format!("{name} ({e})"));
                continue;
            }
            let before = match read_status(&dir) {
                Ok(s) => s,
                Err(e) => {
                    left_out.push(format!("{name} ({e})"));
                    continue;
                }
            };
            match before.as_ref().map(|s| s.state) {
                Some(RunState::Finished) => {
                    left_out.push(format!("{name} (finished)"));
                    continue;
                }
                Some(RunState::Running | RunState::Queued)
                    if fresh(&dir) && !self.inner.holds(name) =>
                {
                    left_out.push(format!("{name} (live in another hyperzoo process)"));
                    continue;
                }
                _ => {}
            }
            if write_config {
                RunDir::create(&dir)
                    .and_then(|run| run.write("config.toml", config.as_bytes()))
                    .map_err(|e| e.to_string())?;
            }
            entries.push(Entry {
                job: Job::Train {
                    run: name.clone(),
                    config: cfg_path,
                },
                zoo: zoo_to_generate(exp, ws),
                before,
                epochs: exp.train.epochs as u64,
            });
        }
        if entries.is_empty() {
            let shown = file.file_name().unwrap_or_default().to_string_lossy();
            return Err(format!(
                "{shown}: nothing to start: {}",
                left_out.join(", ")
            ));
        }
        Ok((entries, left_out))
    }

    fn zoo_entry(&self, file: &Path) -> Result<Entry, String> {
        let def = ZooDef::load(file).map_err(|e| e.to_string())?;
        let dir = self.inner.workspace.join("zoos").join(&def.name);
        if zoo_complete(&dir) {
            return Err(format!("zoo {} is complete ({})", def.name, dir.display()));
        }
        Ok(Entry {
            job: Job::Zoo {
                name: def.name,
                file: file.into(),
            },
            zoo: Some(dir),
            before: None,
            epochs: 0,
        })
    }
}

impl Launcher for RunQueue {
    fn launch(&mut self, file: &Path) -> Result<String, String> {
        self.enqueue(file)
    }

    fn stop(&mut self, run: &str) -> Result<String, String> {
        RunQueue::stop(self, run)
    }

    fn stop_all(&mut self) {
        RunQueue::stop_all(self);
    }

    fn task(&mut self, task: Task, runs: &[String]) -> Result<String, String> {
        self.enqueue_task(task, runs)
    }

    fn live_runs(&self) -> usize {
        let st = self.inner.lock();
        st.running.len() + st.waiting.len()
    }

    fn queued_runs(&self) -> usize {
        self.inner.lock().waiting.len()
    }
}

impl Inner {
    /// The state; a job thread that panicked while holding it leaves it usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `name` runs or waits here.
    fn holds(&self, name: &str) -> bool {
        let st = self.lock();
        st.running.iter().any(|s| s.entry.name() == name)
            || st.waiting.iter().any(|e| e.name() == name)
    }

    fn run_dir(&self, run: &str) -> PathBuf {
        self.workspace.join("runs").join(run)
    }

    fn set_status(&self, run: &str, status: &Status) -> Result<(), String> {
        RunDir::create(&self.run_dir(run))
            .and_then(|d| d.set_status(status))
            .map_err(|e| e.to_string())
    }

    /// Marks a run taken out of the queue as cancelled.
    fn cancel_waiting(&self, entry: &Entry) -> Result<(), String> {
        if let Job::Task { run, task } = &entry.job {
            let job = JobStatus {
                task: *task,
                state: RunState::Cancelled,
                message: "taken out of the queue before it started".into(),
            };
            return RunDir::open(&self.run_dir(run))
                .and_then(|d| d.set_job(&job))
                .map_err(|e| e.to_string());
        }
        let Job::Train { run, .. } = &entry.job else {
            return Ok(());
        };
        let status = entry.status(
            RunState::Cancelled,
            "taken out of the queue before it started".into(),
        );
        self.set_status(run, &status)?;
        let dir = RunDir::create(&self.run_dir(run)).map_err(|e| e.to_string())?;
        dir.log("taken out of the queue before it started")
            .map_err(|e| e.to_string())
    }

    /// Starts waiting jobs while there are free slots, first in first out, passing over those
    /// whose zoo another running job still has to generate.
    fn pump(inner: &Arc<Inner>, st: &mut State) {
        while st.running.len() < inner.max {
            let Some(i) = st.waiting.iter().position(|e| !blocked(e, &st.running)) else {
                break;
            };
            let entry = st.waiting.remove(i).expect("position found");
            Inner::start(inner, st, entry);
        }
    }

    fn start(inner: &Arc<Inner>, st: &mut State, entry: Entry) {
        // Written before the thread exists, so that it cannot overwrite what the job writes.
        if let Job::Train { run, .. } = &entry.job {
            let msg = format!(
                "{STARTING} {}: preparing its zoo and data",
                std::process::id()
            );
            if let Err(e) = inner.set_status(run, &entry.status(RunState::Running, msg)) {
                // Not fatal: the job writes its own status as it starts.
                let _ = RunDir::create(&inner.run_dir(run)).and_then(|d| d.log(&e));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let job = entry.job.clone();
        let ended = Ended {
            inner: inner.clone(),
            stop: stop.clone(),
        };
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("job {}", job.name()))
            .spawn(move || {
                // Dropped when the job returns or panics: frees the slot, starts the next.
                let ended = ended;
                ended.inner.worker.work(&job, flag);
            });
        match spawned {
            // The thread cannot end before the slot is in place: it needs the lock held here.
            Ok(_) => st.running.push(Slot { entry, stop }),
            Err(e) => {
                if let Job::Train { run, .. } = &entry.job {
                    let why = format!("could not start a thread for it: {e}");
                    let _ = inner.set_status(run, &entry.status(RunState::Failed, why));
                }
            }
        }
    }

    /// After a job's thread ended (`panicked`: by a panic): a run whose job wrote no final
    /// state of its own must not stay `queued` or `running`.
    fn settle(&self, slot: &Slot, panicked: bool) {
        if let Job::Task { run, task } = &slot.entry.job {
            return self.settle_task(run, *task, slot, panicked);
        }
        let Job::Train { run, .. } = &slot.entry.job else {
            return;
        };
        let Ok(Some(s)) = read_status(&self.run_dir(run)) else {
            return;
        };
        let ended = matches!(
            s.state,
            RunState::Finished | RunState::Failed | RunState::Cancelled
        );
        let unstarted = s.state == RunState::Queued
            || (s.state == RunState::Running && s.message.starts_with(STARTING));
        let (state, message) = if panicked && !ended {
            (
                RunState::Failed,
                "its thread panicked (a bug: please report it with log.txt); resumable".into(),
            )
        } else if !unstarted {
            return;
        } else if slot.stop.load(Ordering::SeqCst) {
            (RunState::Cancelled, "stopped before it started".into())
        } else {
            (
                RunState::Failed,
                "ended before its first step (see log.txt)".into(),
            )
        };
        let status = Status {
            state,
            message,
            ..s
        };
        let _ = self.set_status(run, &status);
    }

    /// After an evaluation or generation job's thread ended: a job.toml still `queued` or
    /// `running` (the job panicked, or was stopped before it started) gets its end.
    fn settle_task(&self, run: &str, task: Task, slot: &Slot, panicked: bool) {
        let Ok(dir) = RunDir::open(&self.run_dir(run)) else {
            return;
        };
        let Ok(Some(job)) = dir.job() else {
            return;
        };
        if !matches!(job.state, RunState::Queued | RunState::Running) {
            return;
        }
        let (state, message) = if panicked {
            (
                RunState::Failed,
                "its thread panicked (a bug: please report it)".to_string(),
            )
        } else if slot.stop.load(Ordering::SeqCst) {
            (RunState::Cancelled, "stopped".to_string())
        } else {
            (RunState::Failed, "ended without a result".to_string())
        };
        let _ = dir.set_job(&JobStatus {
            task,
            state,
            message,
        });
    }

    /// Starts the housekeeping thread unless it is alive: every [`TICK`] it starts what can
    /// start (a zoo may have become ready) and every [`HEARTBEAT`] it touches the status.toml
    /// of this queue's runs; it ends when nothing runs or waits.
    fn ensure_ticking(inner: &Arc<Inner>, st: &mut State) {
        if st.ticking || (st.running.is_empty() && st.waiting.is_empty()) {
            return;
        }
        let me = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("run queue".into())
            .spawn(move || {
                let mut beat = Instant::now();
                loop {
                    std::thread::sleep(TICK);
                    let mut st = me.lock();
                    if st.running.is_empty() && st.waiting.is_empty() {
                        st.ticking = false;
                        return;
                    }
                    Inner::pump(&me, &mut st);
                    if beat.elapsed() >= HEARTBEAT {
                        me.beat(&st);
                        beat = Instant::now();
                    }
                }
            });
        st.ticking = spawned.is_ok();
    }

    /// Marks every run of this queue, waiting or running, as alive: its status.toml's
    /// modification time is set to now. Only the time: a worker that rewrites the status at the
    /// same moment keeps what it wrote.
    fn beat(&self, st: &State) {
        let runs = st
            .waiting
            .iter()
            .chain(st.running.iter().map(|s| &s.entry))
            .filter_map(|e| match &e.job {
                Job::Train { run, .. } => Some(run),
                Job::Task { .. } | Job::Zoo { .. } => None,
            });
        for run in runs {
            touch(&self.run_dir(run).join("status.toml"));
        }
    }
}

/// Frees a job's slot when its thread ends (returning or panicking) and starts the next job.
struct Ended {
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(i) = st
            .running
            .iter()
            .position(|s| Arc::ptr_eq(&s.stop, &self.stop))
        {
            let slot = st.running.remove(i);
            self.inner.settle(&slot, std::thread::panicking());
        }
        Inner::pump(&self.inner, &mut st);
    }
}

/// Whether `entry` must wait because a running job may still be generating its zoo.
fn blocked(entry: &Entry, running: &[Slot]) -> bool {
    let Some(zoo) = &entry.zoo else {
        return false;
    };
    running.iter().any(|s| s.entry.zoo.as_ref() == Some(zoo)) && !zoo_complete(zoo)
}

/// The experiment as `hyperzoo run` writes it into the run directory: its zoo location made
/// absolute (against `workspace` and the experiment file's directory), every key written.
pub fn resolved_config(exp: &Experiment, workspace: &Path) -> String {
    exp.with_absolute_zoo(workspace).to_toml()
}

/// The zoo directory an experiment's run will generate first, if its zoo comes from a
/// definition and is not complete yet.
fn zoo_to_generate(exp: &Experiment, workspace: &Path) -> Option<PathBuf> {
    match Workspace::new(workspace).zoo_of(exp) {
        Ok(ZooSource::Generate { dir, .. }) => Some(dir),
        _ => None,
    }
}

/// Whether the zoo in `dir` is complete (its zoo.toml says so).
fn zoo_complete(dir: &Path) -> bool {
    hyperzoo_core::zoo::store::Zoo::is_complete(dir)
}

/// Whether `file` is a zoo definition (top-level `arch`, no `[model]`) rather than an
/// experiment.
fn is_zoo_file(file: &Path) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| crate::store::is_zoo_definition(&t))
}

/// A run directory's status.toml, if there is one.
fn read_status(dir: &Path) -> Result<Option<Status>, String> {
    let path = dir.join("status.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {}", path.display(), e.message())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Whether a run directory was written to within [`STALE_AFTER`](crate::store::STALE_AFTER)
/// (its process is alive).
fn fresh(dir: &Path) -> bool {
    let last = hyperzoo_core::workspace::last_write(dir);
    last.is_some()
        && !hyperzoo_core::workspace::is_stale(RunState::Running, last, SystemTime::now())
}

/// Sets a file's modification time to now, if it exists.
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests;
