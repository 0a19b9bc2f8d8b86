//! A run directory: what one training run of a hyper-representation writes.
//!
//! ```text
//! <run>/config.toml          the resolved experiment (written once, atomically)
//! <run>/status.toml          state (queued, running, finished, failed, cancelled), step, epoch,
//!                            message
//! <run>/metrics.jsonl        one JSON object per line: per-step and per-epoch records,
//!                            appended and flushed per record; on resume, records past the
//!                            checkpoint's step are dropped
//! <run>/log.txt              human-readable log, appended
//! <run>/normalization.json   the weight standardization fitted on the training split
//! <run>/checkpoints/step_NNNNNNNN/   model, optimizer and trainer state (written to a staging
//!                            directory, then renamed into place)
//! <run>/checkpoints/best/    the checkpoint with the best validation loss
//! <run>/results.toml         downstream results (probes, reconstruction, generation)
//! <run>/notes.toml           the user's note and tags ([`Notes`]; `hyperzoo note`, `hyperzoo
//!                            tag`), written atomically; absent until the first one
//! ```
use crate::fsutil::write_atomic;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// State of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for a free slot in the process that launched it (the TUI's queue); its
    /// directory may hold nothing but config.toml and this status until it starts.
    Queued,
    /// Training.
    Running,
    /// Ended normally.
    Finished,
    /// Stopped by an error (message says which).
    Failed,
    /// Stopped by the user; resumable.
    Cancelled,
}

impl RunState {
    /// The lower-case name status.toml uses.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }
}

/// status.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// State.
    pub state: RunState,
    /// Optimizer steps done.
    pub step: u64,
    /// Epochs done.
    pub epoch: u64,
    /// Total epochs.
    pub epochs: u64,
    /// What happened last (error message when failed).
    #[serde(default)]
    pub message: String,
    /// The device the run trains on as resolved when it started (`cpu on LibTorch (burn-tch)`,
    /// `cuda:0 on LibTorch (burn-tch)`); empty before it starts and in files written by older
    /// versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
}

/// File name of a run's note and tags.
pub const NOTES_FILE: &str = "notes.toml";

/// The file of a run's evaluation or generation job: queued, running (with its stage),
/// and how it ended. The TUI shows it in the run list.
pub const JOB_FILE: &str = "job.toml";

/// What a job does to a trained run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// `hyperzoo eval` with the run's `[eval]` settings.
    Evaluate,
    /// `hyperzoo generate` into `<workspace>/zoos/<run>-generated` (or the first free `-N`
    /// after it): its defaults, or for SANE the quickstart's sampler settings.
    Generate,
}

impl Task {
    /// "evaluate" or "generate".
    pub fn name(self) -> &'static str {
        match self {
            Task::Evaluate => "evaluate",
            Task::Generate => "generate",
        }
    }
}

/// job.toml: the last evaluation or generation job of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// What it does.
    pub task: Task,
    /// Queued, running, or how it ended (as a run's states).
    pub state: RunState,
    /// The stage it is at, or how it ended.
    #[serde(default)]
    pub message: String,
}

/// notes.toml: a free-text note and tags the user attaches to a run. The trainer never writes
/// it, so it can be edited while the run trains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notes {
    /// Free text (may span lines); empty when none.
    pub note: String,
    /// Tags, in the order they were added, without duplicates.
    pub tags: Vec<String>,
}

impl Notes {
    /// Reads a notes.toml; a missing file is empty notes. Errors name the file.
    pub fn read(path: &Path) -> Result<Notes> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Notes::default()),
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        Notes::parse(path, &text)
    }

    /// Parses notes.toml text; `path` names the file in errors (bad TOML, an unknown key, a
    /// tag that is not a word).
    pub fn parse(path: &Path, text: &str) -> Result<Notes> {
        let notes: Notes = toml::from_str(text).map_err(|e| {
            Error::format(
                path,
                format!(
                    "{} (expected note = \"text\" and tags = [\"tag\", ...])",
                    e.to_string().trim()
                ),
            )
        })?;
        for t in &notes.tags {
            check_tag(t).map_err(|why| Error::format(path, format!("tags: {why}")))?;
        }
        Ok(notes)
    }

    /// Writes `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::format(path, e.to_string()))?;
        write_atomic(path, text.as_bytes())
    }

    /// Adds tags not there yet (in order); returns how many were added. A tag that is not a
    /// word (empty, with whitespace or a comma) is refused, naming it.
    pub fn add_tags<S: AsRef<str>>(&mut self, tags: &[S]) -> Result<usize> {
        let mut added = 0;
        for t in tags {
            let t = t.as_ref().trim();
            check_tag(t).map_err(|expected| Error::InvalidValue {
                what: "tag".into(),
                value: t.into(),
                expected,
            })?;
            if !self.tags.iter().any(|x| x == t) {
                self.tags.push(t.into());
                added += 1;
            }
        }
        Ok(added)
    }

    /// Removes the tags given; returns how many were there.
    pub fn remove_tags<S: AsRef<str>>(&mut self, tags: &[S]) -> usize {
        let before = self.tags.len();
        self.tags
            .retain(|x| !tags.iter().any(|t| t.as_ref().trim() == x));
        before - self.tags.len()
    }

    /// Whether there is neither a note nor a tag.
    pub fn is_empty(&self) -> bool {
        self.note.trim().is_empty() && self.tags.is_empty()
    }
}

/// A tag is a non-empty word: no whitespace, no comma (tags are listed comma-separated).
fn check_tag(t: &str) -> std::result::Result<(), String> {
    if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == ',') {
        Err(format!(
            "'{t}' is not a tag: expected a non-empty word without spaces or commas"
        ))
    } else {
        Ok(())
    }
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    dir: PathBuf,
}

impl RunDir {
    /// Opens (creating it if needed) the run directory `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("checkpoints"))
            .map_err(|e| Error::io("creating directory", dir, e))?;
        Ok(Self { dir: dir.into() })
    }

    /// Opens an existing run directory.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.join("config.toml").is_file() {
            return Err(Error::format(dir, "not a run directory (no config.toml)"));
        }
        Ok(Self { dir: dir.into() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a file in the run.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a file of the run atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir.join(name), bytes)
    }

    /// Reads status.toml, if written.
    pub fn status(&self) -> Result<Option<Status>> {
        let path = self.dir.join("status.toml");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| Error::format(&path, e.to_string()))
    }

    /// Writes status.toml atomically.
    pub fn set_status(&self, status: &Status) -> Result<()> {
        let path = self.dir.join("status.toml");
        let text = toml::to_string(status).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Reads job.toml, if written.
    pub fn job(&self) -> Result<Option<JobStatus>> {
        let path = self.dir.join(JOB_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| Error::format(&path, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", &path, e)),
        }
    }

    /// Writes job.toml atomically.
    pub fn set_job(&self, job: &JobStatus) -> Result<()> {
        let path = self.dir.join(JOB_FILE);
        let text = toml::to_string(job).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Reads notes.toml (empty notes when there is none).
    pub fn notes(&self) -> Result<Notes> {
        Notes::read(&self.dir.join(NOTES_FILE))
    }

    /// Writes notes.toml atomically.
    pub fn set_notes(&self, notes: &Notes) -> Result<()> {
        notes.write(&self.dir.join(NOTES_FILE))
    }

    /// Appends one record to metrics.jsonl and flushes it.
    pub fn append_metric<T: Serialize>(&self, record: &T) -> Result<()> {
        let path = self.dir.join("metrics.jsonl");
        let mut line =
            serde_json::to_string(record).map_err(|e| Error::format(&path, e.to_string()))?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| Error::io("appending to", &path, e))
    }

    /// Drops the metric records whose `step` is above `step` (resume from a checkpoint taken
    /// at `step`), and a torn last line. The file is rewritten atomically.
    pub fn truncate_metrics(&self, step: u64) -> Result<()> {
        let path = self.dir.join("metrics.jsonl");
        if !path.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let mut kept = String::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue; // a line torn by a kill
            };
            if v.get("step")
                .and_then(|s| s.as_u64())
                .is_some_and(|s| s > step)
            {
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        write_atomic(&path, kept.as_bytes())
    }

    /// Reads every record of metrics.jsonl (skipping a torn last line).
    pub fn metrics(&self) -> Result<Vec<serde_json::Value>> {
        let path = self.dir.join("metrics.jsonl");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Appends a line to log.txt.
    pub fn log(&self, line: &str) -> Result<()> {
        let path = self.dir.join("log.txt");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        writeln!(f, "{line}").map_err(|e| Error::io("appending to", &path, e))
    }

    /// The checkpoint directory of `step`.
    pub fn checkpoint_dir(&self, step: u64) -> PathBuf {
        self.dir.join("checkpoints").join(format!("step_{step:08}"))
    }

    /// Steps of the complete checkpoints, ascending.
    pub fn checkpoints(&self) -> Result<Vec<u64>> {
        let dir = self.dir.join("checkpoints");
        let mut steps: Vec<u64> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("step_")?.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        steps.sort_unstable();
        Ok(steps)
    }

    /// Writes a checkpoint: `fill` writes the files into a staging directory, which is then
    /// renamed to `to` (replacing a previous one). A kill leaves either the old or the new one.
    pub fn write_checkpoint(
        &self,
        to: &Path,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let staging = to.with_file_name(format!(".{name}.partial"));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .map_err(|e| Error::io("creating directory", &staging, e))?;
        if let Err(e) = fill(&staging) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let old = to.with_file_name(format!(".{name}.old"));
        let _ = std::fs::remove_dir_all(&old);
        if to.exists() {
            std::fs::rename(to, &old).map_err(|e| Error::io("renaming", to, e))?;
        }
        std::fs::rename(&staging, to).map_err(|e| Error::io("renaming into place", to, e))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Removes step checkpoints except the last `keep` ones.
    pub fn prune_checkpoints(&self, keep: usize) -> Result<()> {
        let steps = self.checkpoints()?;
        let n = steps.len();
        for &s in steps.iter().take(n.saturating_sub(keep.max(1))) {
            let d = self.checkpoint_dir(s);
            std::fs::remove_dir_all(&d).map_err(|e| Error::io("removing", &d, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_append_truncate_and_torn_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::create(tmp.path()).unwrap();
        for s in 1..=5u64 {
            run.append_metric(&serde_json::json!({"kind": "step", "step": s}))
                .unwrap();
        }
        // A kill mid-write leaves a torn line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(run.path("metrics.jsonl"))
            .unwrap();
        f.write_all(b"{\"kind\": \"st").unwrap();
        run.truncate_metrics(3).unwrap();
        let m = run.metrics().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[2]["step"], 3);
    }

    #[test]
    fn notes_round_trip_and_tags_stay_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::create(tmp.path()).unwrap();
        assert_eq!(run.notes().unwrap(), Notes::default());
        let mut notes = Notes {
            note: "baseline for the paper\nsecond line with \"quotes\"".into(),
            ..Notes::default()
        };
        assert_eq!(notes.add_tags(&["paper", "baseline", "paper"]).unwrap(), 2);
        run.set_notes(&notes).unwrap();
        assert_eq!(run.notes().unwrap(), notes);
        assert_eq!(notes.remove_tags(&["paper", "absent"]), 1);
        assert_eq!(notes.tags, ["baseline"]);
        // A tag that is not a word is refused and named.
        let e = notes.add_tags(&["two words"]).unwrap_err().to_string();
        assert!(
            e.contains("'two words'") && e.contains("without spaces"),
            "{e}"
        );
        assert_eq!(notes.tags, ["baseline"]);
        assert!(!notes.is_empty() && Notes::default().is_empty());
    }

    #[test]
    fn bad_notes_files_are_named_in_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::create(tmp.path()).unwrap();
        let path = run.path(NOTES_FILE);
        for (text, says) in [
            ("note = ", "expected note"),
            ("tags = \"a\"\n", "expected note"),
            ("notes = \"typo\"\n", "unknown field"),
            ("tags = [\"a b\"]\n", "'a b' is not a tag"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = run.notes().unwrap_err().to_string();
            assert!(e.contains("notes.toml") && e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn checkpoints_replace_and_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::create(tmp.path()).unwrap();
        for s in [10u64, 20, 30] {
            run.write_checkpoint(&run.checkpoint_dir(s), |d| {
                std::fs::write(d.join("x"), s.to_string()).unwrap();
                Ok(())
            })
            .unwrap();
        }
        // A failing fill leaves nothing behind.
        let e = run.write_checkpoint(&run.checkpoint_dir(40), |_| {
            Err(Error::format(Path::new("x"), "boom"))
        });
        assert!(e.is_err());
        assert_eq!(run.checkpoints().unwrap(), vec![10, 20, 30]);
        run.prune_checkpoints(2).unwrap();
        assert_eq!(run.checkpoints().unwrap(), vec![20, 30]);
        let status = Status {
            state: RunState::Cancelled,
            step: 30,
            epoch: 2,
            epochs: 5,
            message: "stopped".into(),
            device: "cuda:0 on LibTorch (burn-tch)".into(),
        };
        run.set_status(&status).unwrap();
        assert_eq!(run.status().unwrap(), Some(status));
    }
}
