//! zoo.toml (the manifest), models.csv and properties.csv.
use super::*;

/// Where a zoo's generation stands (zoo.toml's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZooStatus {
    /// Populations are being trained (or a stopped generation waits to resume).
    Generating,
    /// Every population is trained and the final files are written.
    Complete,
}

impl ZooStatus {
    /// The name zoo.toml uses.
    pub fn name(self) -> &'static str {
        match self {
            ZooStatus::Generating => "generating",
            ZooStatus::Complete => "complete",
        }
    }
}

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
    /// Whether the generation has finished.
    pub status: ZooStatus,
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
    /// How an imported zoo's dataset is read (split, normalisation), recorded at import when
    /// hyperzoo can load the dataset: the behavioural loss, evaluation accuracies, generation
    /// and fine-tuning use it as a generated zoo's `[data]`. `None` for generated zoos (their
    /// definition holds it) and for imported zoos of other datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<crate::zoo::DataSection>,
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
    pub fn new(id: usize, split: ModelSplit, population: usize, h: &crate::zoo::Hparams) -> Self {
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

pub(super) fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
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

pub(super) fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::format(path, e.to_string()))?;
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| Error::format(path, format!("row {}: {e}", i + 2))))
        .collect()
}
