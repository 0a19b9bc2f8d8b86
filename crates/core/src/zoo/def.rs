//! Zoo definitions (`experiments/zoos/*.toml`).
//!
//! ```toml
//! name = "mnist-seed"
//! description = "..."
//! arch = "cnn_s"                 # a built-in, or a table { name, input, layers } (see arch.rs)
//! dataset = "mnist"
//! epochs = 50
//! checkpoints = "all"            # or a list of epochs; epoch 0 is the initialisation
//!
//! [data]                         # optional
//! val_size = 10000               # training images held out for validation
//! train_fraction = 1.0           # fraction of the remaining training images used
//! test_fraction = 1.0            # fraction of the test images evaluated
//! train_eval_size = 5000         # training images used to measure train loss/acc (default all)
//! split_seed = 42                # seeds the validation hold-out and the model split
//!
//! [models]                       # optional
//! split = [0.7, 0.15, 0.15]      # models into train / val / test for hyper-representations
//! max_population = 256           # networks trained together at most
//!
//! [hparams]                      # every model's values unless the grid varies them
//! activation = "tanh"
//! init = "uniform"
//! optimizer = "adam"
//! lr = 3e-4
//! weight_decay = 0.0
//! dropout = 0.0
//! batch_size = 10
//!
//! [grid]                         # see grid.rs; the cartesian product gives the models
//! seed = { from = 1, to = 1000 }
//! ```
use crate::arch::{Activation, ArchSpec};
use crate::grid::Grid;
use crate::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Weight initialisation schemes (biases are always set to 0.01, as in the reference zoos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// U(0, 1), what the Model Zoos generators call "uniform" (torch.nn.init.uniform_ defaults).
    Uniform,
    /// N(0, 1) (torch.nn.init.normal_ defaults).
    Normal,
    /// Glorot uniform, gain 1.
    XavierUniform,
    /// Glorot normal, gain 1.
    XavierNormal,
    /// He uniform (fan_in, gain sqrt(2)), torch's kaiming_uniform_ defaults.
    KaimingUniform,
    /// He normal (fan_in, gain sqrt(2)).
    KaimingNormal,
}

impl InitScheme {
    /// All schemes.
    pub const ALL: [InitScheme; 6] = [
        InitScheme::Uniform,
        InitScheme::Normal,
        InitScheme::XavierUniform,
        InitScheme::XavierNormal,
        InitScheme::KaimingUniform,
        InitScheme::KaimingNormal,
    ];
    /// Name as written in TOML/CSV.
    pub fn name(self) -> &'static str {
        match self {
            InitScheme::Uniform => "uniform",
            InitScheme::Normal => "normal",
            InitScheme::XavierUniform => "xavier_uniform",
            InitScheme::XavierNormal => "xavier_normal",
            InitScheme::KaimingUniform => "kaiming_uniform",
            InitScheme::KaimingNormal => "kaiming_normal",
        }
    }
}

/// Optimizers of zoo training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (beta 0.9/0.999, eps 1e-8), weight decay as L2 on the gradient (torch.optim.Adam).
    Adam,
    /// SGD with momentum 0.9, weight decay as L2 on the gradient (torch.optim.SGD).
    Sgd,
}

impl OptimizerKind {
    /// Name as written in TOML/CSV.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// The hyperparameters of one network of a zoo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hparams {
    /// Seeds initialisation, data order and dropout masks.
    pub seed: u64,
    /// Nonlinearity of the activation layers.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: InitScheme,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Dropout probability of the dropout layers.
    pub dropout: f64,
    /// Minibatch size.
    pub batch_size: usize,
}

/// Datasets a zoo can be trained on: the fetched catalog, and the generated Tetris images.
/// `cifar10` and `imagefolder` read files the user has, named by `[data] path`.
pub const DATASETS: &[&str] = &["mnist", "fashion-mnist", "tetris", "cifar10", "imagefolder"];

/// Datasets read from `[data] path`.
pub const PATH_DATASETS: &[&str] = &["cifar10", "imagefolder"];

/// Keys accepted in `[hparams]` and `[grid]` of zoo files.
pub const HPARAM_KEYS: &[&str] = &[
    "seed",
    "activation",
    "init",
    "optimizer",
    "lr",
    "weight_decay",
    "dropout",
    "batch_size",
];

/// What networks must share to be trained in one population: everything else is a per-model
/// number (seed, init, optimizer, lr, weight decay, dropout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PopulationKey {
    /// Activation (the forward pass applies one function per population).
    pub activation: Activation,
    /// Batch size (the batch tensor has one shape per population).
    pub batch_size: usize,
}

impl Hparams {
    /// The population this network can train in.
    pub fn population_key(&self) -> PopulationKey {
        PopulationKey {
            activation: self.activation,
            batch_size: self.batch_size,
        }
    }
}

/// Which split of the zoo a model belongs to (for hyper-representation training).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSplit {
    /// Training split.
    Train,
    /// Validation split.
    Val,
    /// Test split.
    Test,
}

impl ModelSplit {
    /// Name as written in CSV.
    pub fn name(self) -> &'static str {
        match self {
            ModelSplit::Train => "train",
            ModelSplit::Val => "val",
            ModelSplit::Test => "test",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoo {
    name: String,
    #[serde(default)]
    description: String,
    arch: toml::Value,
    dataset: String,
    epochs: usize,
    #[serde(default)]
    checkpoints: Option<toml::Value>,
    #[serde(default)]
    data: DataSection,
    #[serde(default)]
    models: ModelsSection,
    #[serde(default)]
    hparams: toml::Table,
    #[serde(default)]
    grid: toml::Table,
}

/// `[data]`: how the dataset is split and subsampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Training images held out for validation.
    pub val_size: usize,
    /// Fraction of the remaining training images used for training.
    pub train_fraction: f64,
    /// Fraction of the test images used for evaluation.
    pub test_fraction: f64,
    /// Training images on which train loss/accuracy are measured (a fixed subset; all when unset).
    pub train_eval_size: Option<usize>,
    /// Seeds the validation hold-out, the subsampling and the model split.
    pub split_seed: u64,
    /// Files of `cifar10` (the `cifar-10-batches-bin` directory: data_batch_1..5.bin,
    /// test_batch.bin) or `imagefolder` (a directory with `train/<class>/` and `test/<class>/`).
    /// A relative path is under the data directory.
    pub path: Option<std::path::PathBuf>,
    /// Convert images to one channel (the mean over RGB, as the Small CNN Zoo does).
    pub grayscale: bool,
    /// Resize images to `[height, width]` (antialiased bilinear, as torchvision's Resize)
    /// before they are centre-padded to the architecture's input.
    pub resize: Option<[usize; 2]>,
    /// Per-channel mean of pixel/255 for normalisation (default: the dataset's own).
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation for normalisation (default: the dataset's own).
    pub std: Option<Vec<f32>>,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            val_size: 10_000,
            train_fraction: 1.0,
            test_fraction: 1.0,
            train_eval_size: None,
            split_seed: 42,
            path: None,
            grayscale: false,
            resize: None,
            mean: None,
            std: None,
        }
    }
}

/// `[models]`: the model split and population size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsSection {
    /// Fractions of models in train / val / test.
    pub split: [f64; 3],
    /// Most networks trained together in one population.
    pub max_population: usize,
}

impl Default for ModelsSection {
    fn default() -> Self {
        Self {
            split: [0.7, 0.15, 0.15],
            max_population: 256,
        }
    }
}

/// A parsed, validated zoo definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ZooDef {
    /// Zoo name.
    pub name: String,
    /// Free text (what was reduced, where the grid comes from).
    pub description: String,
    /// Architecture of every network.
    pub arch: ArchSpec,
    /// Dataset name (see `hyperzoo data list`).
    pub dataset: String,
    /// Training epochs.
    pub epochs: usize,
    /// Epochs at which checkpoints and properties are recorded (0 = initialisation), sorted.
    pub checkpoints: Vec<usize>,
    /// Data options.
    pub data: DataSection,
    /// Model split options.
    pub models: ModelsSection,
    /// The grid as written.
    pub grid: Grid,
    /// One entry per network, in grid order; the index is the model id.
    pub networks: Vec<Hparams>,
    /// Split of each network.
    pub splits: Vec<ModelSplit>,
    /// The file's text, stored in the zoo manifest.
    pub source: String,
}

impl Hparams {
    /// The hyperparameters of an imported network from its models.csv row, for training like
    /// it (fine-tuning, and the random-initialisation baseline beside it): the activation is
    /// required; `seed` defaults to the row id; Keras initialisers map to their PyTorch names
    /// (`he_*` to `kaiming_*`, `glorot_*` to `xavier_*`), others (`orthogonal`, ...) to
    /// `kaiming_uniform`; optimizers other than `adam` and `sgd` (`rmsprop`) to `adam`; a
    /// Keras `l2reg` λ (loss + λ‖w‖²) to `weight_decay` 2λ; `lr`, `dropout` and `batch_size`
    /// default to those of `defaults`.
    pub fn from_row(row: &super::store::ModelRow, defaults: &Hparams) -> Result<Hparams> {
        let get = |k: &str| row.get(k).map(str::trim).filter(|v| !v.is_empty());
        let number = |k: &str| -> Result<Option<f64>> {
            get(k)
                .map(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| Error::InvalidValue {
                            what: format!("models.csv row {} column {k}", row.id),
                            value: v.into(),
                            expected: "a number ≥ 0".into(),
                        })
                })
                .transpose()
        };
        let init = match get("init").map(str::to_lowercase).as_deref() {
            Some("he_normal") => InitScheme::KaimingNormal,
            Some("he_uniform") => InitScheme::KaimingUniform,
            Some("glorot_normal") => InitScheme::XavierNormal,
            Some("glorot_uniform") => InitScheme::XavierUniform,
            Some(name) => InitScheme::ALL
                .into_iter()
                .find(|i| i.name() == name)
                .unwrap_or(InitScheme::KaimingUniform),
            None => defaults.init,
        };
        let optimizer = match get("optimizer").map(str::to_lowercase).as_deref() {
            Some("sgd") => OptimizerKind::Sgd,
            Some(_) => OptimizerKind::Adam,
            None => defaults.optimizer,
        };
        let weight_decay = match number("weight_decay")? {
            Some(wd) => wd,
            None => number("l2reg")?.map_or(defaults.weight_decay, |l2| 2.0 * l2),
        };
        Ok(Hparams {
            seed: number("seed")?.map_or(row.id as u64, |s| s as u64),
            activation: row.activation()?,
            init,
            optimizer,
            lr: number("lr")?.unwrap_or(defaults.lr),
            weight_decay,
            dropout: number("dropout")?.unwrap_or(defaults.dropout),
            batch_size: number("batch_size")?.map_or(defaults.batch_size, |b| (b as usize).max(1)),
        })
    }
}

impl ZooDef {
    /// The definition of a stored zoo: a generated zoo's own; for an imported zoo whose
    /// zoo.toml records how to read its dataset (`[data]`, written at import), one made from
    /// the manifest and models.csv (each network's hyperparameters by [`Hparams::from_row`],
    /// batch size 512 for the Small CNN Zoo, 10 otherwise, as they were trained), so that its
    /// dataset loads and its networks train as a generated zoo's; `None` for other imported
    /// zoos.
    pub fn of_zoo(zoo: &super::store::Zoo) -> Result<Option<ZooDef>> {
        let m = &zoo.manifest;
        let file = zoo.dir.join("zoo.toml");
        if !m.definition.is_empty() {
            return Self::parse(&file, &m.definition).map(Some);
        }
        let Some(data) = &m.data else {
            return Ok(None);
        };
        if !DATASETS.contains(&m.dataset.as_str()) {
            return Err(Error::format(
                &file,
                format!(
                    "dataset = {:?} with a [data] table: hyperzoo reads {}",
                    m.dataset,
                    DATASETS.join(", ")
                ),
            ));
        }
        if PATH_DATASETS.contains(&m.dataset.as_str()) && data.path.is_none() {
            return Err(Error::format(
                &file,
                format!(
                    "data.path is not set: the directory holding the {} files (re-import with --data-path)",
                    m.dataset
                ),
            ));
        }
        let defaults = Hparams {
            seed: 0,
            activation: Activation::Relu,
            init: InitScheme::KaimingUniform,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            dropout: 0.0,
            batch_size: if m.source.starts_with("unterthiner") {
                512
            } else {
                10
            },
        };
        let networks = zoo
            .models
            .iter()
            .map(|r| Hparams::from_row(r, &defaults))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::format(zoo.dir.join("models.csv"), e.to_string()))?;
        Ok(Some(ZooDef {
            name: m.name.clone(),
            description: m.description.clone(),
            arch: m.arch.clone(),
            dataset: m.dataset.clone(),
            epochs: m.epochs,
            checkpoints: m.checkpoints.clone(),
            data: data.clone(),
            models: ModelsSection::default(),
            grid: Grid::default(),
            networks,
            splits: zoo.models.iter().map(|r| r.split).collect(),
            source: String::new(),
        }))
    }

    /// Reads and validates a zoo file.
    pub fn load(path: &Path) -> Result<ZooDef> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates zoo TOML; errors name the file, the key and the value.
    pub fn parse(path: &Path, text: &str) -> Result<ZooDef> {
        let file = path.display().to_string();
        // Syntax errors and serde's (a missing or unknown key, a wrong type) in the
        // experiment files' style: `file:line: key = value: what is accepted`.
        let doc = crate::experiment::doc::Doc::parse(text).map_err(|i| i.into_error(path))?;
        let raw: RawZoo = doc.deserialize().map_err(|i| i.into_error(path))?;
        // Checks after parsing, in the same style, at the key's line (else its table's).
        let invalid = |key: &str, value: String, expected: &str| Error::InvalidKey {
            file: path.to_path_buf(),
            line: doc
                .line_of_key(key)
                .or_else(|| key.split_once('.').and_then(|(t, _)| doc.line_of_key(t)))
                .unwrap_or(1),
            key: key.into(),
            value,
            expected: expected.into(),
        };
        let arch = match &raw.arch {
            toml::Value::String(name) => ArchSpec::builtin(name).ok_or_else(|| {
                invalid(
                    "arch",
                    name.clone(),
                    &format!(
                        "a built-in ({}) or an [arch] table",
                        crate::arch::BUILTINS.join(", ")
                    ),
                )
            })?,
            toml::Value::Table(t) => {
                let spec: ArchSpec = t
                    .clone()
                    .try_into()
                    .map_err(|e| Error::format(path, format!("arch: {e}")))?;
                spec.layout()
                    .map_err(|e| Error::format(path, e.to_string()))?;
                spec
            }
            other => {
                return Err(invalid(
                    "arch",
                    other.to_string(),
                    "a built-in name or a table",
                ));
            }
        };
        let dataset = crate::data::find_dataset(&raw.dataset)
            .map(|d| d.name.to_string())
            .or_else(|| {
                DATASETS
                    .contains(&raw.dataset.as_str())
                    .then(|| raw.dataset.clone())
            });
        let Some(dataset) = dataset else {
            return Err(invalid(
                "dataset",
                raw.dataset.clone(),
                &format!("one of {}", DATASETS.join(", ")),
            ));
        };
        if PATH_DATASETS.contains(&dataset.as_str()) && raw.data.path.is_none() {
            return Err(invalid(
                "data.path",
                "(not set)".into(),
                &format!("the directory holding the {dataset} files"),
            ));
        }
        if let (Some(m), Some(sd)) = (&raw.data.mean, &raw.data.std)
            && m.len() != sd.len()
        {
            return Err(invalid(
                "data.std",
                format!("{sd:?}"),
                &format!("as many values as data.mean ({})", m.len()),
            ));
        }
        if let Some(sd) = &raw.data.std
            && sd.iter().any(|v| !(*v > 0.0 && v.is_finite()))
        {
            return Err(invalid("data.std", format!("{sd:?}"), "positive values"));
        }
        if raw.data.mean.is_some() != raw.data.std.is_some() {
            return Err(invalid(
                "data.mean/data.std",
                "only one given".into(),
                "both or neither",
            ));
        }
        if let Some(r) = raw.data.resize
            && r.contains(&0)
        {
            return Err(invalid(
                "data.resize",
                format!("{r:?}"),
                "[height, width] > 0",
            ));
        }
        if raw.epochs == 0 {
            return Err(invalid("epochs", "0".into(), "at least 1"));
        }
        let checkpoints = match &raw.checkpoints {
            None => (0..=raw.epochs).collect(),
            Some(toml::Value::String(s)) if s == "all" => (0..=raw.epochs).collect(),
            Some(toml::Value::Array(a)) => {
                let mut v = Vec::new();
                for x in a {
                    match x.as_integer() {
                        Some(e) if e >= 0 && e as usize <= raw.epochs => v.push(e as usize),
                        _ => {
                            return Err(invalid(
                                "checkpoints",
                                x.to_string(),
                                &format!("epochs in 0..={}", raw.epochs),
                            ));
                        }
                    }
                }
                v.sort_unstable();
                v.dedup();
                v
            }
            Some(other) => {
                return Err(invalid(
                    "checkpoints",
                    other.to_string(),
                    "\"all\" or a list of epochs",
                ));
            }
        };
        let d = &raw.data;
        if !(d.train_fraction > 0.0 && d.train_fraction <= 1.0) {
            return Err(invalid(
                "data.train_fraction",
                d.train_fraction.to_string(),
                "in (0, 1]",
            ));
        }
        if !(d.test_fraction > 0.0 && d.test_fraction <= 1.0) {
            return Err(invalid(
                "data.test_fraction",
                d.test_fraction.to_string(),
                "in (0, 1]",
            ));
        }
        let s = raw.models.split;
        if s.iter().any(|f| *f < 0.0) || (s.iter().sum::<f64>() - 1.0).abs() > 1e-9 {
            return Err(invalid(
                "models.split",
                format!("{s:?}"),
                "three non-negative fractions summing to 1",
            ));
        }
        if raw.models.max_population == 0 {
            return Err(invalid("models.max_population", "0".into(), "at least 1"));
        }
        for key in raw.hparams.keys().chain(raw.grid.keys()) {
            if !HPARAM_KEYS.contains(&key.as_str()) {
                let section = if raw.hparams.contains_key(key) {
                    "hparams"
                } else {
                    "grid"
                };
                return Err(invalid(
                    &format!("{section}.{key}"),
                    "(unknown key)".into(),
                    &format!("one of {}", HPARAM_KEYS.join(", ")),
                ));
            }
        }
        let grid = Grid::from_table(&file, &raw.grid).map_err(|e| match e {
            // In the style of the other keys, at the key's line.
            Error::InvalidValue {
                what,
                value,
                expected,
            } => {
                let key = what.rsplit_once(": ").map_or(what.as_str(), |(_, k)| k);
                invalid(key, value, &expected)
            }
            other => other,
        })?;
        let mut networks = Vec::with_capacity(grid.len());
        for point in grid.expand() {
            let mut table = raw.hparams.clone();
            table.extend(point);
            let missing: Vec<&str> = HPARAM_KEYS
                .iter()
                .copied()
                .filter(|k| !table.contains_key(*k))
                .collect();
            if !missing.is_empty() {
                return Err(invalid(
                    "hparams",
                    format!("missing {}", missing.join(", ")),
                    "every key in [hparams] or [grid]",
                ));
            }
            let h: Hparams = toml::Value::Table(table.clone()).try_into().map_err(|e| {
                Error::format(
                    path,
                    format!("hyperparameters {}: {e}", toml::Value::Table(table)),
                )
            })?;
            if !(h.lr > 0.0 && h.lr.is_finite()) {
                return Err(invalid("lr", h.lr.to_string(), "a positive number"));
            }
            if !(0.0..1.0).contains(&h.dropout) {
                return Err(invalid("dropout", h.dropout.to_string(), "in [0, 1)"));
            }
            if h.weight_decay < 0.0 || h.batch_size == 0 {
                return Err(invalid(
                    "weight_decay/batch_size",
                    format!("{} / {}", h.weight_decay, h.batch_size),
                    "weight_decay >= 0, batch_size >= 1",
                ));
            }
            networks.push(h);
        }
        let splits = split_models(networks.len(), raw.models.split, raw.data.split_seed);
        Ok(ZooDef {
            name: raw.name,
            description: raw.description,
            arch,
            dataset,
            epochs: raw.epochs,
            checkpoints,
            data: raw.data,
            models: raw.models,
            grid,
            networks,
            splits,
            source: text.to_string(),
        })
    }

    /// Model ids grouped into populations: same [`PopulationKey`], at most `max_population`
    /// each, ids ascending. Deterministic for a given definition.
    pub fn populations(&self) -> Vec<(PopulationKey, Vec<usize>)> {
        let mut by_key: std::collections::BTreeMap<PopulationKey, Vec<usize>> = Default::default();
        for (i, h) in self.networks.iter().enumerate() {
            by_key.entry(h.population_key()).or_default().push(i);
        }
        let mut out = Vec::new();
        for (key, ids) in by_key {
            for chunk in ids.chunks(self.models.max_population) {
                out.push((key, chunk.to_vec()));
            }
        }
        out
    }
}

/// Shuffles model ids with `seed` and cuts them into train / val / test by `fractions`
/// (floor for train and val, the rest to test, as the reference loaders do).
pub(crate) fn split_models(n: usize, fractions: [f64; 3], seed: u64) -> Vec<ModelSplit> {
    let mut ids: Vec<usize> = (0..n).collect();
    ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let n_train = (fractions[0] * n as f64).floor() as usize;
    let n_val = (fractions[1] * n as f64).floor() as usize;
    let mut splits = vec![ModelSplit::Test; n];
    for (rank, &id) in ids.iter().enumerate() {
        splits[id] = if rank < n_train {
            ModelSplit::Train
        } else if rank < n_train + n_val {
            ModelSplit::Val
        } else {
            ModelSplit::Test
        };
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_rows_map_to_hyperparameters() {
        let row = |pairs: &[(&str, &str)]| crate::zoo::store::ModelRow {
            id: 7,
            split: ModelSplit::Train,
            population: 0,
            hparams: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let defaults = Hparams {
            seed: 0,
            activation: Activation::Relu,
            init: InitScheme::Uniform,
            optimizer: OptimizerKind::Sgd,
            lr: 0.5,
            weight_decay: 0.25,
            dropout: 0.125,
            batch_size: 512,
        };
        // The Small CNN Zoo's Keras names.
        let h = Hparams::from_row(
            &row(&[
                ("activation", "tanh"),
                ("init", "glorot_normal"),
                ("optimizer", "rmsprop"),
                ("lr", "0.01"),
                ("l2reg", "1e-3"),
            ]),
            &defaults,
        )
        .unwrap();
        assert_eq!(
            (
                h.seed,
                h.activation,
                h.init,
                h.optimizer,
                h.lr,
                h.weight_decay,
                h.dropout,
                h.batch_size
            ),
            (
                7,
                Activation::Tanh,
                InitScheme::XavierNormal,
                OptimizerKind::Adam,
                0.01,
                2e-3,
                0.125,
                512
            )
        );
        let h = Hparams::from_row(
            &row(&[
                ("activation", "relu"),
                ("init", "orthogonal"),
                ("seed", "3"),
                ("batch_size", "10"),
            ]),
            &defaults,
        )
        .unwrap();
        assert_eq!(
            (h.seed, h.init, h.batch_size),
            (3, InitScheme::KaimingUniform, 10)
        );
        let h = Hparams::from_row(
            &row(&[("activation", "gelu"), ("init", "he_normal")]),
            &defaults,
        )
        .unwrap();
        assert_eq!(
            (h.init, h.optimizer),
            (InitScheme::KaimingNormal, OptimizerKind::Sgd)
        );
        // No activation, or a value that is no number: errors naming the row and column.
        assert!(Hparams::from_row(&row(&[("lr", "0.1")]), &defaults).is_err());
        let e = Hparams::from_row(&row(&[("activation", "relu"), ("lr", "fast")]), &defaults)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 7 column lr") && e.contains("fast"), "{e}");
    }

    const ZOO: &str = r#"
        name = "t"
        arch = "cnn_s"
        dataset = "mnist"
        epochs = 3
        [hparams]
        activation = "tanh"
        init = "uniform"
        optimizer = "adam"
        lr = 3e-4
        weight_decay = 0.0
        dropout = 0.0
        batch_size = 10
        [grid]
        seed = { from = 1, to = 20 }
        activation = ["tanh", "relu"]
    "#;

    fn parse(text: &str) -> Result<ZooDef> {
        ZooDef::parse(Path::new("zoos/t.toml"), text)
    }

    #[test]
    fn grid_expands_to_networks_and_populations() {
        let z = parse(ZOO).unwrap();
        assert_eq!(z.networks.len(), 40);
        assert_eq!(z.checkpoints, vec![0, 1, 2, 3]);
        let pops = z.populations();
        assert_eq!(pops.len(), 2, "one population per activation");
        assert!(pops.iter().all(|(_, ids)| ids.len() == 20));
        let counts = [ModelSplit::Train, ModelSplit::Val, ModelSplit::Test]
            .map(|s| z.splits.iter().filter(|x| **x == s).count());
        assert_eq!(counts, [28, 6, 6]);
        let z2 =
            parse(&ZOO.replace("epochs = 3", "epochs = 3\n[models]\nmax_population = 8")).unwrap();
        assert_eq!(z2.populations().len(), 6);
    }

    #[test]
    fn shipped_presets_parse_with_their_sizes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/zoos");
        let expect = [
            ("mnist-seed", 1000),
            ("mnist-seed-small", 50),
            ("mnist-hyp", 2560),
            ("fmnist-hyp", 2560),
            ("tetris-seed", 1000),
            ("tetris-hyp", 896),
        ];
        for (name, n) in expect {
            let z =
                ZooDef::load(&dir.join(format!("{name}.toml"))).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((z.name.as_str(), z.networks.len()), (name, n));
        }
        // The hyperparameter grids split only by activation (and max_population).
        let hyp = ZooDef::load(&dir.join("mnist-hyp.toml")).unwrap();
        assert_eq!(hyp.populations().len(), 4 * 2);
    }

    #[test]
    fn errors_name_file_key_and_value() {
        let e = parse(&ZOO.replace("lr = 3e-4", "lr = -1.0"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("zoos/t.toml") && e.contains("lr") && e.contains("-1"),
            "{e}"
        );
        let e = parse(&ZOO.replace("[grid]", "[grid]\nmomentum = [0.9]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("grid.momentum") && e.contains("batch_size"),
            "{e}"
        );
        let e = parse(&ZOO.replace("init = \"uniform\"", "init = \"orthogonal\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("orthogonal") && e.contains("kaiming_uniform"),
            "{e}"
        );
        let e = parse(&ZOO.replace("arch = \"cnn_s\"", "arch = \"resnet\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("resnet") && e.contains("cnn3"), "{e}");
        let e = parse(&ZOO.replace("\"mnist\"", "\"svhn\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dataset") && e.contains("svhn") && e.contains("tetris"),
            "{e}"
        );
        // Datasets read from the user's files need [data] path.
        let e = parse(&ZOO.replace("\"mnist\"", "\"cifar10\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.path") && e.contains("cifar10"), "{e}");
        let with_data = |extra: &str| {
            ZOO.replace("\"mnist\"", "\"imagefolder\"").replace(
                "epochs = 3",
                &format!("epochs = 3\n[data]\npath = 'x'\n{extra}"),
            )
        };
        assert!(parse(&with_data("grayscale = true\nresize = [28, 28]")).is_ok());
        let e = parse(&with_data("mean = [0.5, 0.5]\nstd = [0.5]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.std"), "{e}");
        let e = parse(&with_data("mean = [0.5]\nstd = [0.0]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
        let e = parse(&ZOO.replace("epochs = 3", "epochs = 3\nepoch = 4"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("epoch"), "{e}");
        let e = parse(&ZOO.replace("dropout = 0.0", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing dropout"), "{e}");
    }

    #[test]
    fn syntax_missing_and_unknown_keys_read_as_in_experiment_files() {
        let err = |text: &str| {
            ZooDef::parse(Path::new("z.toml"), text)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err(""), "z.toml:1: name: missing; this key is required");
        assert!(err("name = \"x\"\narch = \n").starts_with("z.toml:2: invalid TOML"));
        let e = err("name = \"x\"\narch = \"cnn_s\"\ndataset = \"mnist\"\nepochs = \"five\"\n");
        assert!(
            e.starts_with("z.toml:4: epochs = \"five\": invalid type"),
            "{e}"
        );
        let e = err("name = \"x\"\narch = \"cnn_s\"\ndataset = \"mnist\"\nepochs = 2\nfoo = 1\n");
        assert!(
            e.starts_with("z.toml:5: foo = 1: unknown field `foo`"),
            "{e}"
        );
    }
}
