//! A run as the views see it: its state, its metrics (read incrementally), its files.
use super::*;

/// What the views show of a run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// No status.toml yet.
    Pending,
    /// `queued` in status.toml: waiting for a free slot in the process that launched it.
    Queued,
    /// Training, and writing.
    Running,
    /// `running` or `queued` in status.toml, but nothing written for [`STALE_AFTER`] (its
    /// process died without writing a final state).
    Stale,
    /// Ended normally.
    Finished,
    /// Stopped by an error.
    Failed,
    /// Stopped by the user; resumable.
    Cancelled,
}

impl Phase {
    /// Lower-case name.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Queued => "queued",
            Phase::Running => "running",
            Phase::Stale => "stale",
            Phase::Finished => "finished",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
        }
    }
}

/// What the views need of a run's metrics beyond the records themselves. The records and their
/// parsing are [`hyperzoo_core::metrics`]'s (the trainer writes them); these helpers estimate
/// progress and list what can be plotted.
pub trait MetricsExt {
    /// Steps per epoch, once an epoch has ended (or the first step of epoch 1 was seen).
    fn steps_per_epoch(&self) -> Option<f64>;
    /// Mean seconds per step over the last `n` steps (compute and waiting for data).
    fn seconds_per_step(&self, n: usize) -> Option<f64>;
    /// The properties of the probe records, in the order they first appear.
    fn probe_properties(&self) -> Vec<&str>;
}

impl MetricsExt for Metrics {
    fn steps_per_epoch(&self) -> Option<f64> {
        if let Some(e) = self.epochs.iter().rev().find(|e| e.epoch > 0) {
            return Some(e.step as f64 / e.epoch as f64);
        }
        // The first step of epoch 1 is step spe + 1.
        let first = self.steps.iter().find(|s| s.epoch == 1)?;
        (first.step > 1).then(|| (first.step - 1) as f64)
    }

    fn seconds_per_step(&self, n: usize) -> Option<f64> {
        let tail = &self.steps[self.steps.len().saturating_sub(n)..];
        if tail.is_empty() {
            return None;
        }
        let ms: f64 = tail.iter().map(|s| s.step_ms + s.wait_ms).sum();
        Some(ms / tail.len() as f64 / 1000.0)
    }

    fn probe_properties(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.probes.iter().flat_map(|r| &r.probes) {
            if !out.contains(&p.property.as_str()) {
                out.push(&p.property);
            }
        }
        out
    }
}

/// One run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// Directory name (the run's name).
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// Shown state.
    pub phase: Phase,
    /// status.toml.
    pub status: Option<Status>,
    /// config.toml.
    pub config: Option<toml::Table>,
    /// metrics.jsonl (shared with the loader's cache until new records arrive).
    pub metrics: Arc<Metrics>,
    /// The last lines of log.txt.
    pub log_tail: Vec<String>,
    /// results.toml, when evaluation wrote one.
    pub results: Option<Results>,
    /// accuracies.csv: the test accuracy of each network, by group (`original`,
    /// `reconstructed`, `anchors`, `generated`, `generated+K`, `random+K`), groups in
    /// [`group_order`]; empty when there is no file.
    pub accuracies: Vec<(String, Vec<f64>)>,
    /// notes.toml: the user's note and tags (empty when there is none).
    pub notes: Notes,
    /// job.toml: the run's last evaluation or generation job, if any.
    pub job: Option<JobStatus>,
}

impl RunInfo {
    /// A run with nothing read yet.
    pub fn new(name: &str, dir: &Path) -> Self {
        Self {
            name: name.into(),
            dir: dir.into(),
            phase: Phase::Pending,
            status: None,
            config: None,
            metrics: Arc::default(),
            log_tail: Vec::new(),
            results: None,
            accuracies: Vec::new(),
            notes: Notes::default(),
            job: None,
        }
    }

    /// The run list's status word: the phase, or while an evaluation or generation job is
    /// queued or running, that job (`eval wait`, `eval`, `gen wait`, `gen`), or its failure.
    pub fn status_label(&self) -> &'static str {
        match &self.job {
            Some(j) => match (j.task, j.state) {
                (Task::Evaluate, RunState::Queued) => "eval wait",
                (Task::Evaluate, RunState::Running) => "eval",
                (Task::Evaluate, RunState::Failed) => "eval fail",
                (Task::Generate, RunState::Queued) => "gen wait",
                (Task::Generate, RunState::Running) => "gen",
                (Task::Generate, RunState::Failed) => "gen fail",
                _ => self.phase.label(),
            },
            None => self.phase.label(),
        }
    }

    /// The device the run trains on: as resolved when it started (status.toml's `device`),
    /// else the one its log says (`run ... device X`, while that line is in the log tail; runs
    /// of older versions), else its config's `device` (`auto` when absent), else `-`.
    pub fn device(&self) -> String {
        if let Some(d) = self.status.as_ref().map(|s| s.device.trim())
            && !d.is_empty()
        {
            return d.to_string();
        }
        let logged = self.log_tail.iter().find_map(|l| {
            l.starts_with("run ")
                .then(|| l.rsplit_once(", device ").map(|(_, d)| d.trim()))
                .flatten()
        });
        if let Some(d) = logged.filter(|d| !d.is_empty()) {
            return d.to_string();
        }
        match &self.config {
            Some(c) => c
                .get("device")
                .and_then(|d| d.as_str())
                .unwrap_or("auto")
                .to_string(),
            None => "-".into(),
        }
    }

    /// Steps done (status.toml, else the last record).
    pub fn step(&self) -> u64 {
        let last = self.metrics.steps.last().map_or(0, |s| s.step);
        self.status.as_ref().map_or(last, |s| s.step.max(last))
    }

    /// Steps of the whole run, when known.
    pub fn total_steps(&self) -> Option<u64> {
        let epochs = self.status.as_ref()?.epochs;
        Some((self.metrics.steps_per_epoch()? * epochs as f64).round() as u64)
    }

    /// Estimated seconds left, for a running run whose length is known.
    pub fn eta_seconds(&self) -> Option<f64> {
        if self.phase != Phase::Running {
            return None;
        }
        let left = self.total_steps()?.saturating_sub(self.step());
        Some(left as f64 * self.metrics.seconds_per_step(50)?)
    }

    /// The last total loss.
    pub fn last_loss(&self) -> Option<f64> {
        self.metrics.steps.last().map(|s| s.loss)
    }

    /// The last validation R².
    pub fn last_val_r2(&self) -> Option<f64> {
        self.metrics.epochs.last().map(|e| e.val_r2)
    }
}

/// The rank of an accuracies.csv group in the Results view: `original`, `reconstructed`,
/// `anchors`, `generated`, then the fine-tuned groups by epoch (`generated+K` before
/// `random+K`), then any other group.
pub fn group_order(group: &str) -> (u8, u64, u8) {
    match group {
        "original" => (0, 0, 0),
        "reconstructed" => (1, 0, 0),
        "anchors" => (2, 0, 0),
        "generated" => (3, 0, 0),
        g => match g.split_once('+').map(|(h, k)| (h, k.parse::<u64>())) {
            Some(("generated", Ok(k))) => (4, k, 0),
            Some(("random", Ok(k))) => (4, k, 1),
            _ => (5, 0, 0),
        },
    }
}

/// accuracies.csv rows grouped by group (networks in file order), groups in [`group_order`]
/// (others in file order).
pub(super) fn group_accuracies(rows: Vec<(String, usize, f64)>) -> Groups {
    let mut groups: Groups = Vec::new();
    for (g, _, v) in rows {
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((g, vec![v])),
        }
    }
    // A stable sort keeps unknown groups in file order.
    groups.sort_by_key(|(g, _)| group_order(g));
    groups
}

pub(super) fn read_metrics(path: &Path, cache: &mut MetricsCache) -> std::io::Result<()> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            *cache = MetricsCache::default();
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if cache.offset > 0 {
        let n = cache.last_line.len() as u64;
        let mut seen = vec![0; n as usize];
        let same = len >= cache.offset
            && f.seek(SeekFrom::Start(cache.offset - n)).is_ok()
            && f.read_exact(&mut seen).is_ok()
            && seen == cache.last_line;
        if !same {
            *cache = MetricsCache::default();
        }
    }
    f.seek(SeekFrom::Start(cache.offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    // Only complete lines: a line still being written is read at the next reload.
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    let complete = &buf[..=end];
    Arc::make_mut(&mut cache.metrics).extend(&String::from_utf8_lossy(complete));
    let start = complete[..end]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    cache.last_line = complete[start..].to_vec();
    cache.offset += complete.len() as u64;
    Ok(())
}
