//! A zoo as the views see it: generated (its manifest and accuracy per epoch) or defined.
use super::*;

/// Test-accuracy distribution over a zoo's networks at one checkpoint epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyRow {
    /// Checkpoint epoch.
    pub epoch: usize,
    /// Networks with finite weights.
    pub ok: usize,
    /// Diverged or missing networks.
    pub failed: usize,
    /// Minimum, quartiles, maximum of the ok networks' test accuracy.
    pub quantiles: [f64; 5],
    /// Mean test accuracy.
    pub mean: f64,
}

/// What the views show of a zoo's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ZooState {
    /// A zoo file not generated yet.
    #[default]
    Defined,
    /// Being generated (or stopped, resumable).
    Generating,
    /// Generated.
    Complete,
    /// Its zoo.toml or definition could not be read.
    Invalid,
}

impl ZooState {
    /// Lower-case name.
    pub fn label(self) -> &'static str {
        match self {
            ZooState::Defined => "defined",
            ZooState::Generating => "generating",
            ZooState::Complete => "complete",
            ZooState::Invalid => "invalid",
        }
    }
}

impl From<ZooStatus> for ZooState {
    fn from(s: ZooStatus) -> Self {
        match s {
            ZooStatus::Generating => ZooState::Generating,
            ZooStatus::Complete => ZooState::Complete,
        }
    }
}

/// A zoo: generated (`<workspace>/zoos/<name>`) or only defined (a zoo file).
#[derive(Debug, Clone, PartialEq)]
pub struct ZooInfo {
    /// Name.
    pub name: String,
    /// The generated zoo's directory, if generated or being generated.
    pub dir: Option<PathBuf>,
    /// The definition file found among the experiment files, if any.
    pub definition: Option<PathBuf>,
    /// The definition's path relative to the experiments directory (empty when none).
    pub definition_rel: String,
    /// Where it stands.
    pub status: ZooState,
    /// Description.
    pub description: String,
    /// Dataset.
    pub dataset: String,
    /// Architecture name.
    pub arch: String,
    /// Networks.
    pub models: usize,
    /// Parameters per network (0 when unknown).
    pub params: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Checkpoint epochs.
    pub checkpoints: Vec<usize>,
    /// Test accuracy per checkpoint epoch (complete zoos).
    pub accuracy: Vec<AccuracyRow>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Runs trained on it (indices into [`Snapshot::runs`]; see [`Snapshot::runs_on_zoo`]).
    pub runs: Vec<usize>,
}

pub(super) fn read_zoo(dir: &Path) -> ZooInfo {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut z = ZooInfo {
        name,
        dir: Some(dir.into()),
        definition: None,
        definition_rel: String::new(),
        status: ZooState::Invalid,
        description: String::new(),
        dataset: String::new(),
        arch: String::new(),
        models: 0,
        params: 0,
        epochs: 0,
        checkpoints: Vec::new(),
        accuracy: Vec::new(),
        error: None,
        runs: Vec::new(),
    };
    let path = dir.join("zoo.toml");
    let manifest = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str::<Manifest>(&t).map_err(|e| e.to_string()));
    let m = match manifest {
        Ok(m) => m,
        Err(e) => {
            z.error = Some(format!("{}: {}", path.display(), e.trim()));
            return z;
        }
    };
    z.name = m.name.clone();
    z.status = m.status.into();
    z.description = m.description.trim().to_string();
    z.dataset = m.dataset.clone();
    z.arch = m.arch.name.clone();
    z.models = m.models;
    z.params = m.params;
    z.epochs = m.epochs;
    z.checkpoints = m.checkpoints.clone();
    if m.status == ZooStatus::Complete {
        match Zoo::open(dir) {
            Ok(zoo) => z.accuracy = accuracy(&zoo),
            Err(e) => z.error = Some(e.to_string()),
        }
    }
    z
}

/// A zoo file not generated yet (its grid expanded to count the networks).
pub(super) fn read_definition(path: &Path, rel: String) -> ZooInfo {
    let def = ZooDef::load(path);
    let name = match &def {
        Ok(d) => d.name.clone(),
        Err(_) => std::fs::read_to_string(path)
            .ok()
            .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
            .and_then(|t| str_key(&t, "name"))
            .unwrap_or_else(|| stem(path)),
    };
    let mut z = ZooInfo {
        name,
        dir: None,
        definition: Some(path.into()),
        definition_rel: rel,
        status: ZooState::Defined,
        description: String::new(),
        dataset: String::new(),
        arch: String::new(),
        models: 0,
        params: 0,
        epochs: 0,
        checkpoints: Vec::new(),
        accuracy: Vec::new(),
        error: None,
        runs: Vec::new(),
    };
    match def {
        Ok(d) => {
            z.description = d.description.trim().to_string();
            z.dataset = d.dataset;
            z.params = d.arch.param_count().unwrap_or(0);
            z.arch = d.arch.name;
            z.models = d.networks.len();
            z.epochs = d.epochs;
            z.checkpoints = d.checkpoints;
        }
        Err(e) => {
            z.status = ZooState::Invalid;
            z.error = Some(e.to_string());
        }
    }
    z
}

fn accuracy(zoo: &Zoo) -> Vec<AccuracyRow> {
    zoo.manifest
        .checkpoints
        .iter()
        .map(|&epoch| {
            let recs = zoo.records.iter().filter(|r| r.epoch == epoch);
            let mut acc: Vec<f64> = recs
                .clone()
                .filter(|r| r.status == NetStatus::Ok)
                .map(|r| r.test_acc)
                .collect();
            acc.sort_by(f64::total_cmp);
            let failed = recs.filter(|r| r.status != NetStatus::Ok).count();
            let mean = if acc.is_empty() {
                f64::NAN
            } else {
                acc.iter().sum::<f64>() / acc.len() as f64
            };
            AccuracyRow {
                epoch,
                ok: acc.len(),
                failed,
                quantiles: [0.0, 0.25, 0.5, 0.75, 1.0].map(|q| quantile(&acc, q)),
                mean,
            }
        })
        .collect()
}
