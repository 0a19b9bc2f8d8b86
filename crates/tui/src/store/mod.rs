//! A read-only snapshot of the workspace for the views: runs, experiment files, zoos.
//!
//! Nothing is locked and nothing is written: a run's files are read while its trainer appends
//! to them. metrics.jsonl is read incrementally (from the end of the last complete line read
//! before; a torn last line waits for the next reload), and re-read from the start when the
//! file was rewritten (a resume drops the records past its checkpoint). Files that are missing
//! or unreadable leave their part of the snapshot empty and a note in [`Snapshot::problems`].
//! The formats are core's: metrics.jsonl records are [`hyperzoo_core::metrics`] (with the
//! progress helpers of [`MetricsExt`]), results.toml is [`hyperzoo_core::results::Results`],
//! accuracies.csv is read by [`hyperzoo_core::results::read_accuracies`], notes.toml is
//! [`hyperzoo_core::run::Notes`].
//!
//! [`resident_memory`] reads this process's resident memory (runs launched from the TUI are
//! threads of it) for the Run view.
//!
//! Here the snapshot and its loader; in `run` a run as the views see it ([`RunInfo`],
//! [`Phase`], metrics.jsonl read incrementally), in `zoo` a zoo ([`ZooInfo`]).
use hyperzoo_core::metrics::Metrics;
use hyperzoo_core::results::{ACCURACIES_FILE, Results, read_accuracies};
use hyperzoo_core::run::{JOB_FILE, JobStatus, NOTES_FILE, Notes, RunState, Status, Task};
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::{Manifest, NetStatus, Zoo, ZooStatus};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// A `running` or `queued` run whose status.toml and metrics.jsonl are older than this is shown
/// as stale: the workspace's one rule ([`hyperzoo_core::workspace::is_stale`]). Live processes
/// touch their runs' status.toml more often than this ([`crate::queue::HEARTBEAT`]).
pub use hyperzoo_core::workspace::STALE_AFTER;

/// Lines of log.txt kept for the log pane.
const LOG_LINES: usize = 200;

mod run;
mod zoo;

use run::read_metrics;
pub use run::*;
pub use zoo::*;
use zoo::{read_definition, read_zoo};

/// An experiment file and its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentFile {
    /// The file.
    pub path: PathBuf,
    /// Path relative to the experiments directory.
    pub rel: String,
    /// `name` (runs are `name` or `name-key=value-...`); the file stem when absent.
    pub name: String,
    /// `description`.
    pub description: String,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
    /// Indices into [`Snapshot::runs`].
    pub runs: Vec<usize>,
}

/// Everything the views show, read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Experiment files, sorted by path.
    pub experiments: Vec<ExperimentFile>,
    /// Runs, sorted by name.
    pub runs: Vec<RunInfo>,
    /// Runs that match no experiment file (indices into `runs`).
    pub unmatched: Vec<usize>,
    /// Zoos, sorted by name.
    pub zoos: Vec<ZooInfo>,
    /// Files that could not be read, as messages.
    pub problems: Vec<String>,
}

impl Snapshot {
    /// Reads the workspace at once (no cache).
    pub fn read(workspace: &Path, experiments: &Path, now: SystemTime) -> Snapshot {
        Loader::new(workspace, experiments).load(now)
    }

    /// Indices (into `runs`) of the runs trained on `zoo`: those whose config's `[zoo]` names
    /// its directory (`path`) or its definition file (`definition`), the same file once
    /// symlinks and `..` are resolved. Matched when the workspace is read.
    pub fn runs_on_zoo<'a>(&self, zoo: &'a ZooInfo) -> &'a [usize] {
        &zoo.runs
    }

    /// Fills each zoo's [`ZooInfo::runs`].
    fn match_zoo_runs(&mut self) {
        // The file itself when it exists (symlinks, `..`), else the absolute path.
        let key = |p: &Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let run_zoos: Vec<Vec<PathBuf>> = self
            .runs
            .iter()
            .map(|r| {
                let table = r
                    .config
                    .as_ref()
                    .and_then(|c| c.get("zoo"))
                    .and_then(|z| z.as_table());
                ["path", "definition"]
                    .iter()
                    .filter_map(|k| table?.get(*k)?.as_str())
                    .map(|v| key(Path::new(v)))
                    .collect()
            })
            .collect();
        for zoo in &mut self.zoos {
            let mine: Vec<PathBuf> = zoo
                .dir
                .iter()
                .chain(zoo.definition.iter())
                .map(|p| key(p))
                .collect();
            zoo.runs = (0..run_zoos.len())
                .filter(|&i| run_zoos[i].iter().any(|p| mine.contains(p)))
                .collect();
        }
    }

    /// Of [`Snapshot::runs_on_zoo`], the run whose accuracy distributions the Zoos view links
    /// to: the first with an accuracies.csv.
    pub fn accuracy_run_of_zoo(&self, zoo: &ZooInfo) -> Option<usize> {
        self.runs_on_zoo(zoo)
            .iter()
            .copied()
            .find(|&i| !self.runs[i].accuracies.is_empty())
    }

    /// The run named `name`.
    pub fn run(&self, name: &str) -> Option<&RunInfo> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// The experiment file a run belongs to.
    pub fn experiment_of(&self, run: &str) -> Option<&ExperimentFile> {
        let i = self.runs.iter().position(|r| r.name == run)?;
        self.experiments.iter().find(|e| e.runs.contains(&i))
    }
}

#[derive(Default)]
struct MetricsCache {
    offset: u64,
    /// The complete line that ends at `offset`, to notice a rewritten file.
    last_line: Vec<u8>,
    metrics: Arc<Metrics>,
}

type Stamp = Option<SystemTime>;

/// Parsed small files by path, with the modification time they were read at.
type FileCache<T> = HashMap<PathBuf, (Stamp, Result<T, String>)>;

/// accuracies.csv grouped: `(group, test accuracies)`.
type Groups = Vec<(String, Vec<f64>)>;

/// Reads snapshots, keeping what has not changed since the last one (metric records already
/// parsed, configs, zoos) so that a reload every half second stays cheap on long runs.
pub struct Loader {
    workspace: PathBuf,
    experiments: PathBuf,
    metrics: HashMap<PathBuf, MetricsCache>,
    tables: HashMap<PathBuf, (Stamp, Result<toml::Table, String>)>,
    results: HashMap<PathBuf, (Stamp, Result<Results, String>)>,
    accuracies: FileCache<Groups>,
    notes: FileCache<Notes>,
    zoos: HashMap<PathBuf, ((Stamp, Stamp), ZooInfo)>,
    logs: HashMap<PathBuf, ((Stamp, u64), Vec<String>)>,
    defs: HashMap<PathBuf, (Stamp, ZooInfo)>,
}

impl Loader {
    /// A loader of `<workspace>/runs`, `<workspace>/zoos` and the experiment files under
    /// `experiments`.
    pub fn new(workspace: &Path, experiments: &Path) -> Self {
        Self {
            workspace: workspace.into(),
            experiments: experiments.into(),
            metrics: HashMap::new(),
            tables: HashMap::new(),
            results: HashMap::new(),
            accuracies: HashMap::new(),
            notes: HashMap::new(),
            zoos: HashMap::new(),
            logs: HashMap::new(),
            defs: HashMap::new(),
        }
    }

    /// Reads a snapshot; `now` decides which running runs are stale.
    pub fn load(&mut self, now: SystemTime) -> Snapshot {
        let mut snap = Snapshot::default();
        for dir in subdirs(&self.workspace.join("runs")) {
            let run = self.read_run(&dir, now, &mut snap.problems);
            snap.runs.push(run);
        }
        snap.runs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut defs = Vec::new();
        for path in toml_files(&self.experiments) {
            let rel = self.rel(&path);
            match self.table(&path) {
                Ok(t) if is_zoo_definition(&t) => defs.push(path),
                Ok(t) => snap.experiments.push(ExperimentFile {
                    name: str_key(&t, "name").unwrap_or_else(|| stem(&path)),
                    description: str_key(&t, "description").unwrap_or_default(),
                    path,
                    rel,
                    error: None,
                    runs: Vec::new(),
                }),
                Err(e) => snap.experiments.push(ExperimentFile {
                    name: stem(&path),
                    description: String::new(),
                    path,
                    rel,
                    error: Some(e),
                    runs: Vec::new(),
                }),
            }
        }
        match_runs(&mut snap);
        self.read_zoos(&defs, &mut snap);
        snap.match_zoo_runs();
        self.forget_missing(&snap);
        snap
    }

    fn read_run(&mut self, dir: &Path, now: SystemTime, problems: &mut Vec<String>) -> RunInfo {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut run = RunInfo::new(&name, dir);
        let status_path = dir.join("status.toml");
        match std::fs::read_to_string(&status_path) {
            Ok(text) => match toml::from_str::<Status>(&text) {
                Ok(s) => run.status = Some(s),
                Err(e) => problems.push(format!("{}: {e}", status_path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{}: {e}", status_path.display())),
        }
        let job = dir.join(JOB_FILE);
        match std::fs::read_to_string(&job) {
            Ok(text) => match toml::from_str::<JobStatus>(&text) {
                Ok(j) => run.job = Some(j),
                Err(e) => problems.push(format!("{}: {e}", job.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{}: {e}", job.display())),
        }
        let config = dir.join("config.toml");
        if config.exists() {
            match self.table(&config) {
                Ok(t) => run.config = Some(t),
                Err(e) => problems.push(e),
            }
        }
        let results = dir.join("results.toml");
        if results.exists() {
            match self.results(&results) {
                Ok(r) => run.results = Some(r),
                Err(e) => problems.push(e),
            }
        }
        let accuracies = dir.join(ACCURACIES_FILE);
        match cached(&mut self.accuracies, &accuracies, |p| {
            read_accuracies(p)
                .map(group_accuracies)
                .map_err(|e| e.to_string())
        }) {
            Ok(a) => run.accuracies = a,
            Err(e) => problems.push(e),
        }
        let notes = dir.join(NOTES_FILE);
        match cached(&mut self.notes, &notes, |p| {
            Notes::read(p).map_err(|e| e.to_string())
        }) {
            Ok(n) => run.notes = n,
            Err(e) => problems.push(e),
        }
        let metrics = dir.join("metrics.jsonl");
        let cache = self.metrics.entry(metrics.clone()).or_default();
        if let Err(e) = read_metrics(&metrics, cache) {
            problems.push(format!("{}: {e}", metrics.display()));
        }
        run.metrics = cache.metrics.clone();
        let log = dir.join("log.txt");
        let stamp = (
            modified(&log),
            std::fs::metadata(&log).map_or(0, |m| m.len()),
        );
        run.log_tail = match self.logs.get(&log) {
            Some((s, lines)) if *s == stamp => lines.clone(),
            _ => {
                let lines = tail_lines(&log, LOG_LINES);
                self.logs.insert(log, (stamp, lines.clone()));
                lines
            }
        };
        run.phase = match run.status.as_ref().map(|s| s.state) {
            None => Phase::Pending,
            Some(RunState::Finished) => Phase::Finished,
            Some(RunState::Failed) => Phase::Failed,
            Some(RunState::Cancelled) => Phase::Cancelled,
            Some(state @ (RunState::Running | RunState::Queued)) => {
                let last = [modified(&status_path), modified(&metrics)]
                    .into_iter()
                    .flatten()
                    .max();
                if hyperzoo_core::workspace::is_stale(state, last, now) {
                    Phase::Stale
                } else if state == RunState::Queued {
                    Phase::Queued
                } else {
                    Phase::Running
                }
            }
        };
        run
    }

    /// `path` relative to the experiments directory, with `/` separators.
    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.experiments)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// A TOML file as a table, re-read only when its modification time changes.
    fn table(&mut self, path: &Path) -> Result<toml::Table, String> {
        let stamp = modified(path);
        if let Some((s, t)) = self.tables.get(path)
            && *s == stamp
            && stamp.is_some()
        {
            return t.clone();
        }
        let t = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str::<toml::Table>(&text).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {}", path.display(), e.trim()));
        self.tables.insert(path.into(), (stamp, t.clone()));
        t
    }

    /// results.toml, re-read only when its modification time changes.
    fn results(&mut self, path: &Path) -> Result<Results, String> {
        let stamp = modified(path);
        if let Some((s, r)) = self.results.get(path)
            && *s == stamp
            && stamp.is_some()
        {
            return r.clone();
        }
        let r = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|text| Results::parse(path, &text).map_err(|e| e.to_string().trim().into()));
        self.results.insert(path.into(), (stamp, r.clone()));
        r
    }

    fn read_zoos(&mut self, defs: &[PathBuf], snap: &mut Snapshot) {
        for dir in subdirs(&self.workspace.join("zoos")) {
            if !dir.join("zoo.toml").exists() {
                continue;
            }
            let stamps = (
                modified(&dir.join("zoo.toml")),
                modified(&dir.join("properties.csv")),
            );
            let zoo = match self.zoos.get(&dir) {
                Some((s, z)) if *s == stamps => z.clone(),
                _ => {
                    let z = read_zoo(&dir);
                    self.zoos.insert(dir.clone(), (stamps, z.clone()));
                    z
                }
            };
            snap.zoos.push(zoo);
        }
        for path in defs {
            let stamp = modified(path);
            let def = match self.defs.get(path) {
                Some((s, z)) if *s == stamp => z.clone(),
                _ => {
                    let z = read_definition(path, self.rel(path));
                    self.defs.insert(path.clone(), (stamp, z.clone()));
                    z
                }
            };
            match snap.zoos.iter_mut().find(|z| z.name == def.name) {
                Some(z) => {
                    z.definition = def.definition;
                    z.definition_rel = def.definition_rel;
                }
                None => snap.zoos.push(def),
            }
        }
        snap.zoos.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Drops cache entries of files that are gone (deleted runs).
    fn forget_missing(&mut self, snap: &Snapshot) {
        let dirs: HashSet<&Path> = snap.runs.iter().map(|r| r.dir.as_path()).collect();
        let in_run = |p: &PathBuf| p.parent().is_some_and(|d| dirs.contains(d));
        self.metrics.retain(|p, _| in_run(p));
        self.logs.retain(|p, _| in_run(p));
        self.tables.retain(|p, _| p.exists());
        self.results.retain(|p, _| p.exists());
        self.accuracies.retain(|p, _| in_run(p));
        self.notes.retain(|p, _| in_run(p));
        self.zoos.retain(|p, _| p.exists());
        self.defs.retain(|p, _| p.exists());
    }
}

/// A small file parsed by `read`, re-read only when its modification time changes (a missing
/// file is read every time: `read` makes it empty cheaply).
fn cached<T: Clone>(
    cache: &mut FileCache<T>,
    path: &Path,
    read: impl FnOnce(&Path) -> Result<T, String>,
) -> Result<T, String> {
    let stamp = modified(path);
    if let Some((s, v)) = cache.get(path)
        && *s == stamp
        && stamp.is_some()
    {
        return v.clone();
    }
    let v = read(path);
    cache.insert(path.into(), (stamp, v.clone()));
    v
}

/// Resident memory of this process in bytes (`/proc/self/statm`; `None` where there is no
/// such file). Runs launched from the TUI are threads of this process, so this is their memory
/// too (host memory; a GPU's own memory is not counted).
pub fn resident_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions; it returns -1 when the name is unknown.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        (page > 0).then(|| pages * page as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Assigns each run to the experiment whose name is the longest prefix of the run's name
/// (`name` or `name-...`).
fn match_runs(snap: &mut Snapshot) {
    for (i, run) in snap.runs.iter().enumerate() {
        let owner = snap
            .experiments
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                run.name == e.name
                    || run
                        .name
                        .strip_prefix(e.name.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(_, e)| e.name.len())
            .map(|(j, _)| j);
        match owner {
            Some(j) => snap.experiments[j].runs.push(i),
            None => snap.unmatched.push(i),
        }
    }
}

pub(crate) use hyperzoo_core::results::quantile;

/// Zoo files have a top-level `arch` and no `[model]`.
pub(crate) fn is_zoo_definition(t: &toml::Table) -> bool {
    t.contains_key("arch") && !t.contains_key("model")
}

fn str_key(t: &toml::Table, key: &str) -> Option<String> {
    t.get(key)?.as_str().map(|s| s.trim().to_string())
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Visible subdirectories, sorted (hidden ones are staging directories).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// `*.toml` in `dir` and in its direct subdirectories, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let is_toml = |p: &PathBuf| p.is_file() && p.extension().is_some_and(|e| e == "toml");
    let list = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(is_toml)
            .collect()
    };
    let mut out = list(dir);
    for sub in subdirs(dir) {
        out.extend(list(&sub));
    }
    out.sort();
    out
}

/// The last `n` lines of a text file, reading only its end.
fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    const TAIL_BYTES: u64 = 32 * 1024;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(TAIL_BYTES);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut in the middle
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn torn_last_line_waits_for_the_next_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("runs/a");
        fixture::run_dir(&run, "running", 3, 10);
        let metrics = run.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics)
            .unwrap();
        f.write_all(b"{\"kind\": \"step\", \"step\": 4, \"lo")
            .unwrap();
        let mut loader = Loader::new(tmp.path(), &tmp.path().join("experiments"));
        let now = SystemTime::now();
        assert_eq!(loader.load(now).runs[0].metrics.steps.len(), 3);
        f.write_all(b"ss\": 0.5, \"lr\": 0.001}\n").unwrap();
        let snap = loader.load(now);
        let steps = &snap.runs[0].metrics.steps;
        assert_eq!(steps.len(), 4);
        assert_eq!((steps[3].step, steps[3].loss), (4, 0.5));
        // Unchanged files are not parsed or copied again.
        let again = loader.load(now);
        assert!(Arc::ptr_eq(&snap.runs[0].metrics, &again.runs[0].metrics));
        assert_eq!(
            snap,
            Snapshot::read(tmp.path(), &tmp.path().join("experiments"), now)
        );
    }

    #[test]
    fn rewritten_metrics_are_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("runs/a");
        fixture::run_dir(&run, "running", 6, 10);
        let mut loader = Loader::new(tmp.path(), tmp.path());
        let now = SystemTime::now();
        assert_eq!(loader.load(now).runs[0].metrics.steps.len(), 6);
        // A resume from step 2 rewrites the file, then appends records that differ.
        let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let kept: Vec<&str> = text.lines().take(2).collect();
        let mut new = kept.join("\n") + "\n";
        for s in 3..=8 {
            new.push_str(&format!(
                "{{\"kind\":\"step\",\"step\":{s},\"epoch\":0,\"loss\":9.0}}\n"
            ));
        }
        std::fs::write(run.join("metrics.jsonl"), new).unwrap();
        let steps = loader.load(now).runs[0].metrics.steps.clone();
        assert_eq!(steps.len(), 8);
        assert_eq!(steps.iter().filter(|s| s.loss == 9.0).count(), 6);
    }

    #[test]
    fn quiet_running_runs_are_stale_and_missing_files_are_tolerated() {
        let tmp = tempfile::tempdir().unwrap();
        fixture::run_dir(&tmp.path().join("runs/live"), "running", 2, 10);
        fixture::run_dir(&tmp.path().join("runs/done"), "finished", 2, 10);
        std::fs::create_dir_all(tmp.path().join("runs/empty")).unwrap();
        std::fs::create_dir_all(tmp.path().join("runs/.staging")).unwrap();
        let phases = |now| {
            Snapshot::read(tmp.path(), tmp.path(), now)
                .runs
                .iter()
                .map(|r| (r.name.clone(), r.phase))
                .collect::<Vec<_>>()
        };
        let now = SystemTime::now();
        let later = now + STALE_AFTER + Duration::from_secs(5);
        let expect = |p| {
            vec![
                ("done".to_string(), Phase::Finished),
                ("empty".into(), Phase::Pending),
                ("live".into(), p),
            ]
        };
        assert_eq!(phases(now), expect(Phase::Running));
        assert_eq!(phases(later), expect(Phase::Stale));
    }

    #[test]
    fn runs_belong_to_the_longest_matching_experiment() {
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path().join("experiments");
        std::fs::create_dir_all(exp.join("reference")).unwrap();
        std::fs::write(exp.join("a.toml"), "name = \"r21\"\n[model]\n").unwrap();
        std::fs::write(
            exp.join("reference/b.toml"),
            "name = \"r21-mnist\"\n[model]\n",
        )
        .unwrap();
        std::fs::write(exp.join("broken.toml"), "name = ").unwrap();
        for run in ["r21", "r21-seed=1", "r21-mnist-seed=2", "r21x", "other"] {
            std::fs::create_dir_all(tmp.path().join("runs").join(run)).unwrap();
        }
        let snap = Snapshot::read(tmp.path(), &exp, SystemTime::now());
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| snap.runs[i].name.as_str())
                .collect::<Vec<_>>()
        };
        let by_rel: HashMap<&str, &ExperimentFile> = snap
            .experiments
            .iter()
            .map(|e| (e.rel.as_str(), e))
            .collect();
        assert_eq!(names(&by_rel["a.toml"].runs), ["r21", "r21-seed=1"]);
        assert_eq!(
            names(&by_rel["reference/b.toml"].runs),
            ["r21-mnist-seed=2"]
        );
        assert_eq!(names(&snap.unmatched), ["other", "r21x"]);
        assert!(
            by_rel["broken.toml"]
                .error
                .as_deref()
                .unwrap()
                .contains("broken.toml")
        );
    }

    #[test]
    fn zoos_show_accuracy_quantiles_and_definitions() {
        let tmp = tempfile::tempdir().unwrap();
        fixture::zoo(&tmp.path().join("zoos/tiny"));
        let exp = tmp.path().join("experiments");
        fixture::zoo_definition(&exp.join("zoos/planned.toml"), "planned");
        let snap = Snapshot::read(tmp.path(), &exp, SystemTime::now());
        assert!(snap.experiments.is_empty(), "zoo files are not experiments");
        let names: Vec<&str> = snap.zoos.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["planned", "tiny"]);
        assert_eq!(snap.zoos[0].status, ZooState::Defined);
        assert_eq!(snap.zoos[0].models, 3);
        let tiny = &snap.zoos[1];
        assert_eq!(tiny.status, ZooState::Complete);
        assert_eq!(tiny.accuracy.len(), 2);
        let last = &tiny.accuracy[1];
        assert_eq!((last.epoch, last.ok, last.failed), (2, 3, 1));
        assert_eq!(last.quantiles, [0.5, 0.6, 0.7, 0.8, 0.9]);
    }

    #[test]
    fn results_and_probe_records_use_the_core_formats() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("runs/good");
        let mut spec = fixture::RunSpec::new("finished", 40, 10);
        spec.probe_every = 2;
        fixture::run(&good, &spec);
        std::fs::write(good.join("results.toml"), fixture::results().to_toml()).unwrap();
        let bad = tmp.path().join("runs/bad");
        fixture::run_dir(&bad, "finished", 10, 10);
        std::fs::write(bad.join("results.toml"), "probes = 3\n").unwrap();
        let mut loader = Loader::new(tmp.path(), tmp.path());
        let snap = loader.load(SystemTime::now());
        let good = snap.run("good").unwrap();
        assert_eq!(good.results, Some(fixture::results()));
        assert_eq!(good.metrics.probes.len(), 2);
        assert_eq!(good.metrics.probe_properties(), ["test_acc", "epoch"]);
        assert_eq!(snap.run("bad").unwrap().results, None);
        assert_eq!(snap.problems.len(), 1, "{:?}", snap.problems);
        assert!(
            snap.problems[0].contains("bad") && snap.problems[0].contains("results.toml"),
            "{:?}",
            snap.problems
        );
        // The parse is cached, and so is its error.
        assert_eq!(loader.load(SystemTime::now()).problems, snap.problems);
    }

    #[test]
    fn notes_accuracies_and_device_are_read_and_bad_files_named() {
        let tmp = tempfile::tempdir().unwrap();
        let (ws, exp) = fixture::workspace(tmp.path());
        let bad = ws.join("runs/orphan");
        std::fs::write(bad.join("notes.toml"), "tags = [\"two words\"]\n").unwrap();
        std::fs::write(bad.join("accuracies.csv"), "group,network,test_acc\nx,1\n").unwrap();
        let mut loader = Loader::new(&ws, &exp);
        let snap = loader.load(SystemTime::now());
        let quick = snap.run("quickstart").unwrap();
        let groups: Vec<&str> = quick.accuracies.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(
            groups,
            [
                "original",
                "reconstructed",
                "anchors",
                "generated",
                "generated+1",
                "random+1"
            ]
        );
        assert_eq!(quick.accuracies[0].1.len(), 40);
        let g = snap.run("gamma-loss.gamma=0.5").unwrap();
        assert_eq!(g.notes.tags, ["baseline", "paper"]);
        let orphan = snap.run("orphan").unwrap();
        assert!(orphan.notes.tags.is_empty() && orphan.accuracies.is_empty());
        for file in ["notes.toml", "accuracies.csv"] {
            assert!(
                snap.problems
                    .iter()
                    .any(|p| p.contains("orphan") && p.contains(file)),
                "{file}: {:?}",
                snap.problems
            );
        }
        // The device: config's `device` (auto when absent), the one the log says it resolved,
        // or status.toml's.
        let mut run = quick.clone();
        assert_eq!(run.device(), "auto");
        run.config
            .as_mut()
            .unwrap()
            .insert("device".into(), "cuda:1".into());
        assert_eq!(run.device(), "cuda:1");
        run.log_tail
            .push("run quickstart on zoo tiny (/z), device cuda:0 on libtorch".into());
        assert_eq!(run.device(), "cuda:0 on libtorch");
        // status.toml's device, written when the run started, wins over the log.
        run.status
            .as_mut()
            .expect("the fixture writes status.toml")
            .device = "cpu on LibTorch (burn-tch)".into();
        assert_eq!(run.device(), "cpu on LibTorch (burn-tch)");
        assert_eq!(RunInfo::new("x", Path::new("x")).device(), "-");
    }

    #[test]
    fn runs_are_matched_to_their_zoo_through_dotdot_and_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let (ws, exp) = fixture::workspace(tmp.path());
        let mut spec = fixture::RunSpec::new("finished", 10, 10);
        spec.zoo = Some(ws.join("runs/../zoos/tiny"));
        fixture::run(&ws.join("runs/dotdot"), &spec);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(ws.join("zoos/tiny"), tmp.path().join("link")).unwrap();
            spec.zoo = Some(tmp.path().join("link"));
            fixture::run(&ws.join("runs/linked"), &spec);
        }
        let snap = Snapshot::read(&ws, &exp, SystemTime::now());
        let tiny = snap.zoos.iter().find(|z| z.name == "tiny").unwrap();
        let names: Vec<&str> = snap
            .runs_on_zoo(tiny)
            .iter()
            .map(|&i| snap.runs[i].name.as_str())
            .collect();
        assert!(names.contains(&"dotdot"), "{names:?}");
        #[cfg(unix)]
        assert!(names.contains(&"linked"), "{names:?}");
        let quick = snap.zoos.iter().find(|z| z.name == "tetris-quick").unwrap();
        assert!(snap.runs_on_zoo(quick).is_empty());
    }

    #[test]
    fn eta_from_step_times() {
        let tmp = tempfile::tempdir().unwrap();
        fixture::run_dir(&tmp.path().join("runs/a"), "running", 25, 10);
        let snap = Snapshot::read(tmp.path(), tmp.path(), SystemTime::now());
        let run = &snap.runs[0];
        assert_eq!(run.metrics.steps_per_epoch(), Some(10.0));
        assert_eq!(run.total_steps(), Some(100));
        // 75 steps left at 20 ms compute + 5 ms waiting.
        assert!((run.eta_seconds().unwrap() - 75.0 * 0.025).abs() < 1e-9);
    }
}
