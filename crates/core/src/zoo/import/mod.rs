//! Importers for published zoos, so they work like generated ones: the Model Zoos layout
//! (Schürholt et al. 2022: one directory per model, torch state dicts) and Unterthiner et al.'s
//! Small CNN Zoo (one weights.npy with Keras-layout rows, metrics.csv).
//!
//! Both write an ordinary zoo directory (docs/zoo-format.md): weights are mapped to the flat
//! PyTorch state-dict layout of the matching [`ArchSpec`], metrics to properties.csv (NaN where
//! the source did not record a value), hyperparameters to models.csv columns (renamed to
//! hyperzoo's names where the meaning is the same, otherwise kept under the source's name).
//! A checkpoint the source lacks (a crashed run) is recorded with status `missing` and NaN
//! weights, not dropped, so every network keeps its row.
pub mod modelzoos;
pub mod unterthiner;

use super::def::split_models;
use super::store::{Manifest, ModelRow, NetStatus, Record};
use crate::arch::ArchSpec;
use std::collections::HashMap;

/// Options shared by the importers.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Zoo name (defaults to the output directory's name).
    pub name: String,
    /// Architecture; `None` infers it from the source.
    pub arch: Option<ArchSpec>,
    /// Dataset name; `None` infers it from the source.
    pub dataset: Option<String>,
    /// Model split fractions train / val / test.
    pub split: [f64; 3],
    /// Seed of the model split.
    pub split_seed: u64,
    /// Import only the first N models (in the source's sorted order).
    pub max_models: Option<usize>,
    /// Import only these checkpoint epochs.
    pub epochs: Option<Vec<usize>>,
    /// The command line, recorded in the manifest.
    pub command: String,
    /// Where the dataset's files are, for datasets read from a path (`cifar10`): recorded in
    /// zoo.toml's `[data] path`.
    pub data_path: Option<std::path::PathBuf>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            name: "imported".into(),
            arch: None,
            dataset: None,
            split: [0.7, 0.15, 0.15],
            split_seed: 42,
            max_models: None,
            epochs: None,
            command: String::new(),
            data_path: None,
        }
    }
}

/// Which published layout a zoo was imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Schürholt et al.'s Model Zoos.
    ModelZoos,
    /// Unterthiner et al.'s Small CNN Zoo.
    SmallCnnZoo,
}

/// A dataset name as given (`--dataset MNIST`, `fmnist`) in hyperzoo's spelling where it has
/// one, else as given.
pub(crate) fn canonical_dataset(name: &str) -> String {
    match dataset_from_hint(name) {
        known if known != "unknown" => known,
        _ => name.to_string(),
    }
}

/// How an imported zoo's images are read, when hyperzoo can load its dataset (`None`
/// otherwise, and for a path dataset without `data_path`): the Model Zoos normalise with the
/// dataset's mean and std (MNIST (0.1307, 0.3081)) and hold out 10,000 training images for
/// validation (8,000 of CIFAR-10), split with seed 42; the Small CNN Zoo converts to grey (the
/// mean over RGB) and maps pixels to [-1, 1] (mean 0.5, std 0.5). hyperzoo's hold-out draws
/// with its own generator, so the validation images are not the source's own.
pub(crate) fn data_section(
    kind: Kind,
    dataset: &str,
    arch: &ArchSpec,
    data_path: Option<&std::path::Path>,
) -> Option<super::DataSection> {
    if !super::DATASETS.contains(&dataset) || dataset == "tetris" {
        return None;
    }
    if super::PATH_DATASETS.contains(&dataset) && data_path.is_none() {
        return None;
    }
    let channels = arch.input[0];
    let (mean, std, grayscale) = match kind {
        Kind::ModelZoos => {
            let (m, s) = crate::data::default_norm(dataset, channels);
            (m, s, false)
        }
        Kind::SmallCnnZoo => (vec![0.5], vec![0.5], true),
    };
    Some(super::DataSection {
        val_size: if dataset == "cifar10" { 8_000 } else { 10_000 },
        split_seed: 42,
        path: data_path.map(|p| p.to_path_buf()),
        grayscale,
        mean: Some(mean),
        std: Some(std),
        ..super::DataSection::default()
    })
}

/// What an importer collected, before it is written as a zoo.
#[derive(Debug)]
pub struct Imported {
    /// Manifest (models/checkpoints/status are filled in when written).
    pub manifest: Manifest,
    /// One row per network.
    pub rows: Vec<ModelRow>,
    /// Per checkpoint epoch, the `[models, params]` weights.
    pub weights: Vec<(usize, Vec<f32>)>,
    /// Properties per (network, epoch).
    pub records: Vec<Record>,
}

impl Imported {
    /// Writes the zoo to `dir` (which must not exist yet).
    pub fn write(self, dir: &std::path::Path) -> crate::Result<super::store::Zoo> {
        super::store::write_zoo(dir, self.manifest, &self.rows, &self.weights, &self.records)
    }
}

/// The dataset a source name or path refers to, in hyperzoo's names where it has one.
pub(crate) fn dataset_from_hint(hint: &str) -> String {
    let h = hint.to_lowercase().replace(['-', '_'], "");
    let table = [
        ("fashionmnist", "fashion-mnist"),
        ("fmnist", "fashion-mnist"),
        ("mnist", "mnist"),
        ("cifar100", "cifar100"),
        ("cifar10", "cifar10"),
        ("svhn", "svhn"),
        ("stl10", "stl10"),
        ("usps", "usps"),
        ("tinyimagenet", "tiny-imagenet"),
        ("eurosat", "eurosat"),
    ];
    table
        .iter()
        .find(|(k, _)| h.contains(k))
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The checkpoint epochs to import: `--epochs` if given (each must exist), else all available.
pub(crate) fn select_epochs(
    available: std::collections::BTreeSet<usize>,
    opts: &ImportOptions,
    src: &std::path::Path,
) -> crate::Result<std::collections::BTreeSet<usize>> {
    let Some(wanted) = &opts.epochs else {
        return Ok(available);
    };
    if let Some(e) = wanted.iter().find(|e| !available.contains(e)) {
        return Err(crate::Error::InvalidValue {
            what: "--epochs".into(),
            value: e.to_string(),
            expected: format!(
                "checkpoint epochs present in {}: {available:?}",
                src.display()
            ),
        });
    }
    Ok(wanted.iter().copied().collect())
}

/// A record from metrics that may be missing (NaN).
pub(crate) fn record(id: usize, epoch: usize, status: NetStatus, metrics: [f64; 6]) -> Record {
    let [
        train_loss,
        train_acc,
        val_loss,
        val_acc,
        test_loss,
        test_acc,
    ] = metrics;
    Record {
        id,
        epoch,
        status,
        train_loss,
        train_acc,
        val_loss,
        val_acc,
        test_loss,
        test_acc,
        ggap: train_acc - test_acc,
    }
}

/// Hyperparameter columns for models from per-model (name, value) maps: hyperzoo's names first
/// in their usual order, then the source's other columns whose value varies across models
/// (constant ones say nothing about a model), sorted. Absent values are empty strings.
pub(crate) fn hparam_columns(per_model: &[HashMap<String, String>]) -> Vec<String> {
    const FIRST: &[&str] = super::HPARAM_KEYS;
    let mut cols: Vec<String> = FIRST
        .iter()
        .filter(|k| per_model.iter().any(|m| m.contains_key(**k)))
        .map(|k| k.to_string())
        .collect();
    let mut others: Vec<String> = per_model
        .iter()
        .flat_map(|m| m.keys())
        .filter(|k| !FIRST.contains(&k.as_str()))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| {
            let first = per_model[0].get(k);
            per_model.iter().any(|m| m.get(k) != first)
        })
        .collect();
    cols.append(&mut others);
    cols
}

/// models.csv rows with the given columns and a seeded model split.
pub(crate) fn model_rows(
    per_model: &[HashMap<String, String>],
    opts: &ImportOptions,
) -> Vec<ModelRow> {
    let cols = hparam_columns(per_model);
    let splits = split_models(per_model.len(), opts.split, opts.split_seed);
    per_model
        .iter()
        .enumerate()
        .map(|(id, m)| ModelRow {
            id,
            split: splits[id],
            population: 0,
            hparams: cols
                .iter()
                .map(|c| (c.clone(), m.get(c).cloned().unwrap_or_default()))
                .collect(),
        })
        .collect()
}

/// The manifest of an imported zoo.
pub(crate) fn manifest(
    kind: Kind,
    opts: &ImportOptions,
    arch: ArchSpec,
    dataset: String,
    epochs: usize,
    source: String,
) -> crate::Result<Manifest> {
    let data = data_section(kind, &dataset, &arch, opts.data_path.as_deref());
    Ok(Manifest {
        format: super::store::FORMAT_VERSION,
        name: opts.name.clone(),
        description: String::new(),
        status: crate::zoo::store::ZooStatus::Complete,
        dataset,
        models: 0,
        params: arch.param_count()?,
        epochs,
        checkpoints: Vec::new(),
        arch,
        versions: HashMap::from([(
            "hyperzoo".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
        command: opts.command.clone(),
        definition: String::new(),
        source,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_hints() {
        assert_eq!(dataset_from_hint("/zoos/MNIST/x/dataset.pt"), "mnist");
        assert_eq!(dataset_from_hint("fashion_mnist"), "fashion-mnist");
        assert_eq!(dataset_from_hint("zoos/F_MNIST/y"), "fashion-mnist");
        assert_eq!(dataset_from_hint("svhn_cropped"), "svhn");
        assert_eq!(dataset_from_hint("CIFAR10"), "cifar10");
        assert_eq!(dataset_from_hint("what"), "unknown");
    }

    #[test]
    fn varying_columns_only() {
        let m = |s: &str, x: &str| {
            HashMap::from([
                ("seed".to_string(), s.to_string()),
                ("momentum".to_string(), "0.9".to_string()),
                ("b_init".to_string(), x.to_string()),
            ])
        };
        let cols = hparam_columns(&[m("1", "zeros"), m("2", "ones")]);
        assert_eq!(cols, vec!["seed", "b_init"]);
    }
}
