//! The workspace: where runs, zoos and exports live, and the lifecycle of a run directory.
//!
//! One place answers the questions every command and the TUI ask: which directory a run or a
//! zoo named on the command line is ([`Workspace::run_dir`], [`Workspace::zoo_dir`]), where an
//! experiment's zoo is and whether it must be generated first ([`Workspace::zoo_of`]), whether a
//! run directory may be trained into ([`Workspace::claim_run`]: new, resume, finished, or holding
//! another configuration), and whether a run that says `running` is still alive
//! ([`is_stale`]).
//!
//! **One trainer per run.** A process that trains or evaluates a run holds the run's
//! [`RunLock`] (an advisory `flock` on `<run>/lock`, which also records the holder's pid and
//! host): a second `hyperzoo run` of the same experiment, a TUI launch of a run that the CLI is
//! training, or a job resubmitted while the first still runs is refused with a message naming
//! the holder. The operating system releases the lock when its process dies, however it dies,
//! so the lock of a killed process is simply taken over by the next one.
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::run::{RunDir, RunState, Status};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A run whose status.toml says `running` or `queued` but whose files have not been written for
/// this long is stale: its process died without writing a final state. Live processes renew
/// their runs' status.toml more often than this (the TUI's queue every 15 s; a training also
/// appends to metrics.jsonl at every step).
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// The name of a run directory's lock file.
pub const LOCK_FILE: &str = "lock";

/// The workspace directory and its layout: `runs/`, `zoos/`, `exports/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

/// Where an experiment's zoo is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZooSource {
    /// A complete zoo (it has its zoo.toml): `[zoo] path`, or a definition already generated.
    Ready(PathBuf),
    /// `[zoo] definition` names a definition whose zoo (`dir`) is not complete yet: it will be
    /// generated (or its generation resumed) before the run trains.
    Generate {
        /// The zoo definition file.
        definition: PathBuf,
        /// `<workspace>/zoos/<the definition's name>`.
        dir: PathBuf,
    },
}

/// What [`Workspace::claim_run`] found in a run directory.
#[derive(Debug)]
pub enum Claim {
    /// The directory was empty (or absent): config.toml has been written.
    New(RunDir, RunLock),
    /// The directory holds this run, not finished: train it from its last checkpoint.
    Resume(RunDir, RunLock),
    /// The directory holds this run, finished: nothing to train.
    Finished(RunDir),
}

impl Workspace {
    /// The workspace at `root` (created on first write, not here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The workspace directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<workspace>/runs`.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `<workspace>/zoos`.
    pub fn zoos(&self) -> PathBuf {
        self.root.join("zoos")
    }

    /// `<workspace>/exports`.
    pub fn exports(&self) -> PathBuf {
        self.root.join("exports")
    }

    /// The directory of the run `run` names: a run directory given as a path (it has a
    /// config.toml), else `<workspace>/runs/<run>` (which need not exist).
    pub fn run_dir(&self, run: &str) -> PathBuf {
        let p = PathBuf::from(run);
        if p.join("config.toml").is_file() {
            return p;
        }
        self.runs().join(run)
    }

    /// The directory of the zoo `zoo` names: a zoo directory given as a path (it has a
    /// zoo.toml), else `<workspace>/zoos/<zoo>` (which need not exist).
    pub fn zoo_dir(&self, zoo: &str) -> PathBuf {
        let p = PathBuf::from(zoo);
        if p.join("zoo.toml").is_file() {
            return p;
        }
        self.zoos().join(zoo)
    }

    /// Where the experiment's zoo is, and whether it has to be generated first. A `[zoo] path`
    /// that holds no zoo is an error naming the file and the key.
    pub fn zoo_of(&self, e: &Experiment) -> Result<ZooSource> {
        let loc = e.zoo_location(&self.root);
        if !e.zoo.is_definition() {
            if !loc.join("zoo.toml").is_file() {
                return Err(Error::InvalidKey {
                    file: e.path().to_path_buf(),
                    line: e.line_of("zoo.path"),
                    key: "zoo.path".into(),
                    value: loc.display().to_string(),
                    expected: "is not a zoo (no zoo.toml); generate it with `hyperzoo zoo generate` or give zoo.definition".into(),
                });
            }
            return Ok(ZooSource::Ready(loc));
        }
        let dir = e.zoo_dir(&self.root)?;
        if crate::zoo::store::Zoo::is_complete(&dir) {
            Ok(ZooSource::Ready(dir))
        } else {
            Ok(ZooSource::Generate {
                definition: loc,
                dir,
            })
        }
    }

    /// Claims `dir` for training the run `e` (one run of an experiment, as expanded), whose
    /// configuration is written as [`Experiment::with_absolute_zoo`] gives it: takes the run's
    /// lock (refused while another process, or another job of this one, holds it), then
    /// writes config.toml to a new directory, or finds this run there (to resume, or finished).
    /// A directory that holds a run of another configuration is refused and left as it is.
    pub fn claim_run(&self, dir: &Path, e: &Experiment) -> Result<Claim> {
        let run = RunDir::create(dir)?;
        let lock = RunLock::acquire(dir)?;
        let config = e.with_absolute_zoo(&self.root).to_toml();
        match self.holding(dir, e)? {
            Holding::Nothing => {
                run.write("config.toml", config.as_bytes())?;
                return Ok(Claim::New(run, lock));
            }
            Holding::Other => {
                return Err(Error::format(
                    dir,
                    "holds a run with a different configuration; delete it or choose another --out",
                ));
            }
            Holding::This { same_text: false } => run.write("config.toml", config.as_bytes())?,
            Holding::This { same_text: true } => {}
        }
        match run.status()? {
            Some(s) if s.state == RunState::Finished => Ok(Claim::Finished(run)),
            _ => Ok(Claim::Resume(run, lock)),
        }
    }

    /// What the run directory `dir` holds, compared with the run `e`: nothing yet, this run
    /// (its `[eval]` table may differ: it is not part of a run's identity), or another one.
    pub fn holding(&self, dir: &Path, e: &Experiment) -> Result<Holding> {
        let cfg_path = dir.join("config.toml");
        let old = match std::fs::read_to_string(&cfg_path) {
            Ok(old) => old,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Holding::Nothing),
            Err(err) => return Err(Error::io("reading", &cfg_path, err)),
        };
        let ours = e.with_absolute_zoo(&self.root);
        if old == ours.to_toml() {
            return Ok(Holding::This { same_text: true });
        }
        Ok(match Experiment::parse(&cfg_path, &old) {
            Ok(theirs) if theirs.same_run(&ours) => Holding::This { same_text: false },
            _ => Holding::Other,
        })
    }
}

/// What a run directory holds, for [`Workspace::holding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// No config.toml yet.
    Nothing,
    /// This run; `same_text`: its config.toml is exactly what would be written now.
    This {
        /// Whether config.toml is the same text (else it differs only in `[eval]`).
        same_text: bool,
    },
    /// A run of another configuration.
    Other,
}

/// Whether a run whose status is `status` and whose newest file was written at `last_write`
/// has been abandoned by its process: `running` or `queued`, and nothing written for
/// [`STALE_AFTER`] before `now`. The one rule the TUI, `hyperzoo ls` and `summary` use.
pub fn is_stale(state: RunState, last_write: Option<SystemTime>, now: SystemTime) -> bool {
    matches!(state, RunState::Running | RunState::Queued)
        && last_write.is_some_and(|t| now.duration_since(t).unwrap_or_default() > STALE_AFTER)
}

/// The newest modification time of a run directory's status.toml and metrics.jsonl (what a
/// live run renews).
pub fn last_write(dir: &Path) -> Option<SystemTime> {
    ["status.toml", "metrics.jsonl"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok()?.modified().ok())
        .max()
}

/// A run's status with `state` and `message`, keeping the step, epoch and device it had.
pub fn status_after(
    prev: Option<&Status>,
    state: RunState,
    epochs: u64,
    message: String,
) -> Status {
    Status {
        state,
        step: prev.map_or(0, |s| s.step),
        epoch: prev.map_or(0, |s| s.epoch),
        epochs,
        message,
        device: prev.map(|s| s.device.clone()).unwrap_or_default(),
    }
}

/// The lock of a run directory, held while a process trains or evaluates the run (see the
/// module's documentation); released when dropped, or when its process dies.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of the run directory `dir` (creating `<dir>/lock`), or fails with
    /// [`Error::Locked`] naming the holder.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                    holder: describe_holder(&holder),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("locking", &path, e)),
        }
        // Ours now (a lock file left by a killed process is taken over): say who holds it.
        let me = format!("pid = {}\nhost = \"{}\"\n", std::process::id(), host_name());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(|e| Error::io("writing", &path, e))?;
        Ok(Self { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// "pid 123 on host h" from a lock file's content (which a holder writes right after locking).
fn describe_holder(text: &str) -> String {
    let field = |k: &str| {
        text.lines().find_map(|l| {
            let (key, v) = l.split_once('=')?;
            (key.trim() == k).then(|| v.trim().trim_matches('"').to_string())
        })
    };
    match (field("pid"), field("host")) {
        (Some(p), Some(h)) => format!("pid {p} on host {h}"),
        (Some(p), None) => format!("pid {p}"),
        _ => "another process (it has not said which yet)".into(),
    }
}

/// This machine's name, for lock files (empty parts are "unknown").
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_holder_and_names_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(tmp.path()).unwrap();
        let err = RunLock::acquire(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains(&host_name()), "{err}");
        drop(first);
        RunLock::acquire(tmp.path()).expect("free again once dropped");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join(LOCK_FILE),
            "pid = 999999\nhost = \"gone\"\n",
        )
        .unwrap();
        let lock = RunLock::acquire(tmp.path()).expect("nobody holds it");
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(
            text,
            format!("pid = {}\nhost = \"{}\"\n", std::process::id(), host_name())
        );
    }

    #[test]
    fn staleness_needs_a_live_state_and_a_quiet_minute() {
        let now = SystemTime::now();
        let old = now - STALE_AFTER - Duration::from_secs(1);
        assert!(is_stale(RunState::Running, Some(old), now));
        assert!(is_stale(RunState::Queued, Some(old), now));
        assert!(!is_stale(RunState::Running, Some(now), now));
        assert!(!is_stale(RunState::Finished, Some(old), now));
        assert!(!is_stale(RunState::Running, None, now));
    }

    #[test]
    fn run_and_zoo_names_resolve_in_the_workspace_unless_a_path_is_one() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = Workspace::new(tmp.path().join("ws"));
        assert_eq!(ws.run_dir("a"), tmp.path().join("ws/runs/a"));
        let elsewhere = tmp.path().join("r");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("config.toml"), "").unwrap();
        assert_eq!(ws.run_dir(elsewhere.to_str().unwrap()), elsewhere);
        assert_eq!(ws.zoo_dir("z"), tmp.path().join("ws/zoos/z"));
    }
}
