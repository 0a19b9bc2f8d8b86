//! The zoo store: a directory readable from Python without hyperzoo (see docs/zoo-format.md).
//!
//! ```text
//! <zoo>/zoo.toml                      manifest: name, arch, dataset, epochs, checkpoints, counts,
//!                                     versions, creation command, the definition's text, status
//! <zoo>/models.csv                    one row per network: id, split, population, hyperparameters
//! <zoo>/properties.csv                one row per (network, checkpoint epoch): status, losses,
//!                                     accuracies, generalisation gap
//! <zoo>/weights/epoch_NNNN.safetensors  tensor "weights" [models, params] f32, PyTorch order
//! <zoo>/parts/pop_NNNN/               work in progress of one population (removed on finish):
//!     epoch_NNNN.safetensors, properties.csv, state.safetensors (resume), done
//! ```
//! Every file is written atomically. A generation that is killed leaves finished populations
//! marked `done` and the others with their last epoch's state, so running it again resumes.
use super::def::{ModelSplit, ZooDef};
use crate::arch::ArchSpec;
use crate::fsutil::write_atomic;
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Format version of the store.
pub const FORMAT_VERSION: u32 = 1;

/// Status of a network at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetStatus {
    /// Finite weights and metrics.
    Ok,
    /// NaN or infinite weights or loss: training stopped for this network.
    Diverged,
    /// The source of an imported zoo has no checkpoint here (a crashed run): NaN weights and
    /// metrics.
    Missing,
}

/// Properties of one network at one checkpoint epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Model id (row in models.csv and in the weight matrices).
    pub id: usize,
    /// Epoch (0 = initialisation).
    pub epoch: usize,
    /// ok or diverged.
    pub status: NetStatus,
    /// Mean cross-entropy on the training images.
    pub train_loss: f64,
    /// Accuracy on the training images.
    pub train_acc: f64,
    /// On the held-out validation images.
    pub val_loss: f64,
    /// Accuracy on the validation images.
    pub val_acc: f64,
    /// On the test images.
    pub test_loss: f64,
    /// Accuracy on the test images.
    pub test_acc: f64,
    /// Generalisation gap, train_acc - test_acc.
    pub ggap: f64,
}

/// zoo.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Store format version.
    pub format: u32,
    /// Zoo name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `generating` or `complete`.
    pub status: String,
    /// Dataset name.
    pub dataset: String,
    /// Number of networks.
    pub models: usize,
    /// Parameters per network.
    pub params: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Checkpoint epochs (weights/epoch_NNNN.safetensors exist for these).
    pub checkpoints: Vec<usize>,
    /// The architecture.
    pub arch: ArchSpec,
    /// Versions that produced the zoo (hyperzoo, burn, libtorch...).
    #[serde(default)]
    pub versions: HashMap<String, String>,
    /// The command line that created it.
    #[serde(default)]
    pub command: String,
    /// The zoo definition's TOML text (empty for imported zoos).
    #[serde(default)]
    pub definition: String,
    /// Where an imported zoo came from (format and path); empty for generated zoos.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// One row of models.csv: the network's id, split and population, then its hyperparameters as
/// named columns. Generated zoos have the columns of [`HPARAM_KEYS`](super::HPARAM_KEYS) (seed,
/// activation, init, optimizer, lr, weight_decay, dropout, batch_size); imported zoos keep what
/// their source recorded (mapped to these names where the meaning is the same), so probes can
/// predict "every varied hyperparameter" whatever the zoo's origin.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// Model id (row of the weight matrices).
    pub id: usize,
    /// train / val / test.
    pub split: ModelSplit,
    /// Population index it was trained in (0 for imported zoos).
    pub population: usize,
    /// Hyperparameter columns in file order: (name, value as written).
    pub hparams: Vec<(String, String)>,
}

impl ModelRow {
    /// The row of generated network `id`.
    pub fn new(id: usize, split: ModelSplit, population: usize, h: &super::Hparams) -> Self {
        let hparams = vec![
            ("seed", h.seed.to_string()),
            ("activation", h.activation.name().to_string()),
            ("init", h.init.name().to_string()),
            ("optimizer", h.optimizer.name().to_string()),
            ("lr", h.lr.to_string()),
            ("weight_decay", h.weight_decay.to_string()),
            ("dropout", h.dropout.to_string()),
            ("batch_size", h.batch_size.to_string()),
        ];
        Self {
            id,
            split,
            population,
            hparams: hparams
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    /// The value of hyperparameter column `name`, if the zoo has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.hparams
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The network's activation function (needed to run it).
    pub fn activation(&self) -> Result<crate::arch::Activation> {
        self.get("activation")
            .ok_or_else(|| Error::InvalidValue {
                what: format!("models.csv row {}", self.id),
                value: "(no activation column)".into(),
                expected: "an activation column".into(),
            })?
            .parse()
    }
}

/// Writes models.csv atomically; every row must have the same hyperparameter columns.
pub fn write_models(path: &Path, rows: &[ModelRow]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::format(path, e.to_string());
    let keys: Vec<&str> = rows
        .first()
        .map(|r| r.hparams.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut header = vec!["id", "split", "population"];
    header.extend(&keys);
    w.write_record(&header).map_err(err)?;
    for r in rows {
        if r.hparams.len() != keys.len() || r.hparams.iter().zip(&keys).any(|((k, _), h)| k != h) {
            return Err(Error::format(
                path,
                format!("model {} has different hyperparameter columns", r.id),
            ));
        }
        let mut rec = vec![
            r.id.to_string(),
            r.split.name().to_string(),
            r.population.to_string(),
        ];
        rec.extend(r.hparams.iter().map(|(_, v)| v.clone()));
        w.write_record(&rec).map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads models.csv: `id,split,population` then hyperparameter columns.
pub fn read_models(path: &Path) -> Result<Vec<ModelRow>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::format(path, e.to_string()))?;
    let header = r
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .clone();
    if header.len() < 3 || &header[0] != "id" || &header[1] != "split" || &header[2] != "population"
    {
        return Err(Error::format(
            path,
            "the header must start with id,split,population",
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| Error::format(path, format!("row {line}: {e}")))?;
        let field = |j: usize| -> Result<usize> {
            rec[j].parse().map_err(|_| {
                Error::format(
                    path,
                    format!(
                        "row {line}: {} = '{}' is not an integer",
                        &header[j], &rec[j]
                    ),
                )
            })
        };
        let split = match &rec[1] {
            "train" => ModelSplit::Train,
            "val" => ModelSplit::Val,
            "test" => ModelSplit::Test,
            other => {
                return Err(Error::format(
                    path,
                    format!("row {line}: split = '{other}', expected train, val or test"),
                ));
            }
        };
        rows.push(ModelRow {
            id: field(0)?,
            split,
            population: field(2)?,
            hparams: header
                .iter()
                .zip(rec.iter())
                .skip(3)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }
    Ok(rows)
}

fn weights_name(epoch: usize) -> String {
    format!("epoch_{epoch:04}.safetensors")
}

/// Named f32 tensors read from a safetensors file: name to (data, shape).
pub type TensorMap = HashMap<String, (Vec<f32>, Vec<usize>)>;

/// Writes named f32 tensors to a safetensors file atomically.
pub fn write_tensors(path: &Path, tensors: &[(&str, &[f32], Vec<usize>)]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, _)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, _, shape), b)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), b)
                .map_err(|e| Error::format(path, e.to_string()))?;
            Ok((name.to_string(), view))
        })
        .collect::<Result<_>>()?;
    let out =
        safetensors::serialize(views, None).map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &out)
}

/// Reads every f32 tensor of a safetensors file: name to (data, shape).
pub fn read_tensors(path: &Path) -> Result<TensorMap> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::format(
            path,
            format!("not a valid safetensors file (corrupt or truncated?): {e}"),
        )
    })?;
    let mut out = HashMap::new();
    for name in st.names() {
        let t = st
            .tensor(name)
            .map_err(|e| Error::format(path, e.to_string()))?;
        if t.dtype() != Dtype::F32 {
            return Err(Error::format(
                path,
                format!("tensor '{name}' is {:?}, expected F32", t.dtype()),
            ));
        }
        let data = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        out.insert(name.to_string(), (data, t.shape().to_vec()));
    }
    Ok(out)
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .map_err(|e| Error::format(path, e.to_string()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::format(path, e.to_string()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| Error::format(path, format!("row {}: {e}", i + 2))))
        .collect()
}

/// Writes a zoo being generated: manifest, models, per-population parts, then the final files.
#[derive(Debug)]
pub struct ZooWriter {
    dir: PathBuf,
    manifest: Manifest,
}

impl ZooWriter {
    /// Creates the zoo directory for `def`, or reopens it to resume. A directory holding a
    /// different definition is refused rather than mixed.
    pub fn create_or_resume(
        dir: &Path,
        def: &ZooDef,
        versions: HashMap<String, String>,
        command: &str,
    ) -> Result<Self> {
        let params = def.arch.param_count()?;
        let manifest_path = dir.join("zoo.toml");
        if manifest_path.exists() {
            let existing = read_manifest(dir)?;
            if existing.definition != def.source || existing.arch != def.arch {
                return Err(Error::format(
                    &manifest_path,
                    "holds a zoo made from a different definition; choose another --out or delete it",
                ));
            }
            return Ok(Self {
                dir: dir.into(),
                manifest: existing,
            });
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            name: def.name.clone(),
            description: def.description.clone(),
            status: "generating".into(),
            dataset: def.dataset.clone(),
            models: def.networks.len(),
            params,
            epochs: def.epochs,
            checkpoints: def.checkpoints.clone(),
            arch: def.arch.clone(),
            versions,
            command: command.into(),
            definition: def.source.clone(),
            source: String::new(),
        };
        let pops = def.populations();
        let mut pop_of = vec![0; def.networks.len()];
        for (k, (_, ids)) in pops.iter().enumerate() {
            for &i in ids {
                pop_of[i] = k;
            }
        }
        let rows: Vec<ModelRow> = def
            .networks
            .iter()
            .enumerate()
            .map(|(id, h)| ModelRow::new(id, def.splits[id], pop_of[id], h))
            .collect();
        write_models(&dir.join("models.csv"), &rows)?;
        let w = Self {
            dir: dir.into(),
            manifest,
        };
        w.write_manifest()?;
        Ok(w)
    }

    fn write_manifest(&self) -> Result<()> {
        let path = self.dir.join("zoo.toml");
        let text =
            toml::to_string(&self.manifest).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Whether the zoo was already finished (nothing left to train).
    pub fn is_complete(&self) -> bool {
        self.manifest.status == "complete"
    }

    /// The zoo directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn part(&self, pop: usize) -> PathBuf {
        self.dir.join("parts").join(format!("pop_{pop:04}"))
    }

    /// Whether population `pop` has finished.
    pub fn is_done(&self, pop: usize) -> bool {
        self.part(pop).join("done").exists()
    }

    /// Records a checkpoint of population `pop`: its weights `[rows, params]` and records.
    pub fn write_checkpoint(
        &self,
        pop: usize,
        epoch: usize,
        weights: &[f32],
        rows: usize,
        records: &[Record],
    ) -> Result<()> {
        let part = self.part(pop);
        write_tensors(
            &part.join(weights_name(epoch)),
            &[("weights", weights, vec![rows, self.manifest.params])],
        )?;
        let path = part.join("properties.csv");
        let mut all: Vec<Record> = if path.exists() {
            read_csv(&path)?
        } else {
            Vec::new()
        };
        all.retain(|r| r.epoch != epoch);
        all.extend_from_slice(records);
        write_csv(&path, &all)
    }

    /// Saves the resume state of population `pop` (tensors named by the trainer).
    pub fn write_state(&self, pop: usize, tensors: &[(&str, &[f32], Vec<usize>)]) -> Result<()> {
        write_tensors(&self.part(pop).join("state.safetensors"), tensors)
    }

    /// The resume state of population `pop`, if any.
    pub fn read_state(&self, pop: usize) -> Result<Option<TensorMap>> {
        let path = self.part(pop).join("state.safetensors");
        if path.exists() {
            read_tensors(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Marks population `pop` finished.
    pub fn mark_done(&self, pop: usize) -> Result<()> {
        write_atomic(&self.part(pop).join("done"), b"")
    }

    /// Reopens a zoo directory from its own manifest (for `zoo merge`): the definition it was
    /// made from is stored in zoo.toml.
    pub fn open_for_merge(dir: &Path) -> Result<(Self, ZooDef)> {
        let manifest = read_manifest(dir)?;
        let def = ZooDef::parse(&dir.join("zoo.toml"), &manifest.definition)?;
        Ok((
            Self {
                dir: dir.into(),
                manifest,
            },
            def,
        ))
    }

    /// Moves the finished populations of another copy of this zoo (a shard written elsewhere)
    /// into this one. Refuses a copy of a different zoo, and a population present in both.
    /// Returns the populations taken.
    pub fn take_parts(&self, from: &Path) -> Result<Vec<usize>> {
        let other = read_manifest(from)?;
        if other.definition != self.manifest.definition {
            return Err(Error::format(
                from.join("zoo.toml"),
                format!(
                    "is not a shard of {}: its definition differs",
                    self.dir.display()
                ),
            ));
        }
        let parts = from.join("parts");
        let mut taken = Vec::new();
        let entries = match std::fs::read_dir(&parts) {
            Ok(e) => e,
            Err(_) => return Ok(taken),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let Some(k) = name
                .strip_prefix("pop_")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if !parts.join(&name).join("done").exists() {
                continue;
            }
            if self.is_done(k) {
                return Err(Error::format(
                    parts.join(&name),
                    format!(
                        "population {k} is also finished in {}: duplicated shard?",
                        self.dir.display()
                    ),
                ));
            }
            let dest = self.part(k);
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(dest.parent().expect("parts dir"))
                .map_err(|e| Error::io("creating directory", &dest, e))?;
            if std::fs::rename(parts.join(&name), &dest).is_err() {
                copy_dir(&parts.join(&name), &dest)?;
            }
            taken.push(k);
        }
        Ok(taken)
    }

    /// Assembles the finished populations into weights/ and properties.csv, marks the zoo
    /// complete and removes parts/. Fails, naming them, if some populations are not done.
    pub fn finish(mut self, def: &ZooDef) -> Result<Zoo> {
        let pops = def.populations();
        let missing: Vec<usize> = (0..pops.len()).filter(|&k| !self.is_done(k)).collect();
        if !missing.is_empty() {
            return Err(Error::format(
                &self.dir,
                format!("populations {missing:?} are not finished; run the generation again"),
            ));
        }
        let (n, p) = (self.manifest.models, self.manifest.params);
        let mut records = Vec::new();
        for &epoch in &self.manifest.checkpoints {
            let mut all = vec![0f32; n * p];
            for (k, (_, ids)) in pops.iter().enumerate() {
                let path = self.part(k).join(weights_name(epoch));
                let t = read_tensors(&path)?;
                let (data, shape) = t
                    .get("weights")
                    .ok_or_else(|| Error::format(&path, "no tensor 'weights'"))?;
                if shape != &vec![ids.len(), p] {
                    return Err(Error::format(
                        &path,
                        format!("weights {shape:?}, expected [{}, {p}]", ids.len()),
                    ));
                }
                for (row, &id) in ids.iter().enumerate() {
                    all[id * p..(id + 1) * p].copy_from_slice(&data[row * p..(row + 1) * p]);
                }
            }
            write_tensors(
                &self.dir.join("weights").join(weights_name(epoch)),
                &[("weights", &all, vec![n, p])],
            )?;
        }
        for k in 0..pops.len() {
            records.extend(read_csv::<Record>(&self.part(k).join("properties.csv"))?);
        }
        records.sort_by_key(|r| (r.id, r.epoch));
        write_csv(&self.dir.join("properties.csv"), &records)?;
        self.manifest.status = "complete".into();
        self.write_manifest()?;
        let _ = std::fs::remove_dir_all(self.dir.join("parts"));
        Zoo::open(&self.dir)
    }
}

/// Writes a complete zoo in one go (importers, generated-network zoos): the files are written
/// into a staging directory beside `dir` that is renamed into place at the end, so a failure or
/// a kill leaves no half-written zoo. `weights` holds, per checkpoint epoch, the
/// `[models, params]` matrix. Refuses an existing `dir`.
pub fn write_zoo(
    dir: &Path,
    mut manifest: Manifest,
    rows: &[ModelRow],
    weights: &[(usize, Vec<f32>)],
    records: &[Record],
) -> Result<Zoo> {
    if dir.exists() {
        return Err(Error::format(
            dir,
            "already exists; choose another --out or delete it",
        ));
    }
    let (n, p) = (rows.len(), manifest.params);
    manifest.models = n;
    manifest.checkpoints = weights.iter().map(|(e, _)| *e).collect();
    manifest.status = "complete".into();
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "zoo".into());
    let staging = dir.with_file_name(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        write_models(&staging.join("models.csv"), rows)?;
        for (epoch, w) in weights {
            let path = staging.join("weights").join(weights_name(*epoch));
            if w.len() != n * p {
                return Err(Error::format(
                    &path,
                    format!("{} values, expected {n} x {p}", w.len()),
                ));
            }
            write_tensors(&path, &[("weights", w, vec![n, p])])?;
        }
        let mut records = records.to_vec();
        records.sort_by_key(|r| (r.id, r.epoch));
        write_csv(&staging.join("properties.csv"), &records)?;
        let path = staging.join("zoo.toml");
        let text = toml::to_string(&manifest).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())?;
        crate::fsutil::rename_into_place(&staging, dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    Zoo::open(dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("creating directory", to, e))?;
    for e in std::fs::read_dir(from)
        .map_err(|e| Error::io("listing", from, e))?
        .flatten()
    {
        let dest = to.join(e.file_name());
        std::fs::copy(e.path(), &dest).map_err(|err| Error::io("copying to", &dest, err))?;
    }
    Ok(())
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("zoo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let m: Manifest = toml::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
    let count = m
        .arch
        .param_count()
        .map_err(|e| Error::format(&path, e.to_string()))?;
    if count != m.params {
        return Err(Error::format(
            &path,
            format!(
                "params = {} but arch '{}' has {count}",
                m.params, m.arch.name
            ),
        ));
    }
    Ok(m)
}

/// A complete zoo on disk.
#[derive(Debug, Clone)]
pub struct Zoo {
    /// Directory.
    pub dir: PathBuf,
    /// zoo.toml.
    pub manifest: Manifest,
    /// models.csv.
    pub models: Vec<ModelRow>,
    /// properties.csv.
    pub records: Vec<Record>,
}

impl Zoo {
    /// Opens and validates a complete zoo (manifest, models, properties; weights on demand).
    pub fn open(dir: &Path) -> Result<Zoo> {
        let manifest = read_manifest(dir)?;
        if manifest.status != "complete" {
            return Err(Error::format(
                dir.join("zoo.toml"),
                format!(
                    "status '{}': the generation has not finished; run `hyperzoo zoo generate` again",
                    manifest.status
                ),
            ));
        }
        let models = read_models(&dir.join("models.csv"))?;
        if models.len() != manifest.models || models.iter().enumerate().any(|(i, m)| m.id != i) {
            return Err(Error::format(
                dir.join("models.csv"),
                format!("expected ids 0..{} in order", manifest.models),
            ));
        }
        let records: Vec<Record> = read_csv(&dir.join("properties.csv"))?;
        Ok(Zoo {
            dir: dir.into(),
            manifest,
            models,
            records,
        })
    }

    /// The `[models, params]` weights at a checkpoint epoch, validated: shape, and no
    /// non-finite value in a network not recorded as diverged.
    pub fn weights(&self, epoch: usize) -> Result<Vec<f32>> {
        let path = self.dir.join("weights").join(weights_name(epoch));
        if !self.manifest.checkpoints.contains(&epoch) {
            return Err(Error::InvalidValue {
                what: format!("epoch of zoo {}", self.dir.display()),
                value: epoch.to_string(),
                expected: format!("a checkpoint epoch: {:?}", self.manifest.checkpoints),
            });
        }
        let t = read_tensors(&path)?;
        let (data, shape) = t
            .get("weights")
            .ok_or_else(|| Error::format(&path, "no tensor 'weights'"))?;
        let (n, p) = (self.manifest.models, self.manifest.params);
        if shape != &vec![n, p] {
            return Err(Error::format(
                &path,
                format!(
                    "weights {shape:?}, expected [{n}, {p}] (models, params of {})",
                    self.manifest.arch.name
                ),
            ));
        }
        let diverged: std::collections::HashSet<usize> = self
            .records
            .iter()
            .filter(|r| r.epoch == epoch && r.status != NetStatus::Ok)
            .map(|r| r.id)
            .collect();
        for (id, row) in data.chunks_exact(p).enumerate() {
            if !diverged.contains(&id)
                && let Some(j) = row.iter().position(|v| !v.is_finite())
            {
                return Err(Error::format(
                    &path,
                    format!(
                        "model {id} has a non-finite weight ({}) at index {j} but is recorded as ok",
                        row[j]
                    ),
                ));
            }
        }
        Ok(data.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: &str = r#"
        name = "tiny"
        arch = "tetris_mlp"
        dataset = "tetris"
        epochs = 1
        [models]
        max_population = 2
        [hparams]
        activation = "relu"
        init = "normal"
        optimizer = "sgd"
        lr = 0.1
        weight_decay = 0.0
        dropout = 0.0
        batch_size = 4
        [grid]
        seed = [1, 2, 3]
    "#;

    fn rec(id: usize, epoch: usize) -> Record {
        Record {
            id,
            epoch,
            status: NetStatus::Ok,
            train_loss: 1.0,
            train_acc: 0.5,
            val_loss: 1.0,
            val_acc: 0.5,
            test_loss: 1.0,
            test_acc: 0.4,
            ggap: 0.1,
        }
    }

    #[test]
    fn write_resume_finish_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let zdir = dir.path().join("z");
        let def = ZooDef::parse(Path::new("tiny.toml"), DEF).unwrap();
        let pops = def.populations();
        assert_eq!(pops.len(), 2);
        let w = ZooWriter::create_or_resume(&zdir, &def, HashMap::new(), "test").unwrap();
        for (k, (_, ids)) in pops.iter().enumerate() {
            for epoch in [0, 1] {
                let weights: Vec<f32> = ids
                    .iter()
                    .flat_map(|&i| (0..100).map(move |j| (i * 1000 + j + epoch) as f32))
                    .collect();
                let recs: Vec<Record> = ids.iter().map(|&i| rec(i, epoch)).collect();
                w.write_checkpoint(k, epoch, &weights, ids.len(), &recs)
                    .unwrap();
            }
            if k == 0 {
                w.mark_done(0).unwrap();
            }
        }
        // Unfinished population 1: finishing fails and says so; reopening resumes.
        let e = w.finish(&def).unwrap_err().to_string();
        assert!(e.contains("[1]"), "{e}");
        let w = ZooWriter::create_or_resume(&zdir, &def, HashMap::new(), "test").unwrap();
        assert!(w.is_done(0) && !w.is_done(1));
        w.mark_done(1).unwrap();
        let zoo = w.finish(&def).unwrap();
        assert_eq!(zoo.records.len(), 6);
        let e1 = zoo.weights(1).unwrap();
        assert_eq!(e1[2 * 100 + 5], (2 * 1000 + 5 + 1) as f32);
        assert!(!zdir.join("parts").exists());
        // A different definition in the same directory is refused.
        let other =
            ZooDef::parse(Path::new("tiny.toml"), &DEF.replace("lr = 0.1", "lr = 0.2")).unwrap();
        assert!(
            ZooWriter::create_or_resume(&zdir, &other, HashMap::new(), "x")
                .unwrap_err()
                .to_string()
                .contains("different")
        );
        // A NaN in a network not recorded as diverged, and a truncated file, are named errors.
        let path = zdir.join("weights/epoch_0001.safetensors");
        let mut bad = e1.clone();
        bad[150] = f32::NAN;
        write_tensors(&path, &[("weights", &bad, vec![3, 100])]).unwrap();
        let e = zoo.weights(1).unwrap_err().to_string();
        assert!(
            e.contains("epoch_0001.safetensors") && e.contains("model 1") && e.contains("index 50"),
            "{e}"
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = zoo.weights(1).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        assert!(
            zoo.weights(7)
                .unwrap_err()
                .to_string()
                .contains("checkpoint epoch")
        );
    }
}
