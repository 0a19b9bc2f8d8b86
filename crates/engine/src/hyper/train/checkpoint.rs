//! Checkpoints of a run: the model, the optimizer and the trainer's position, written
//! together so that a resumed run ends where an uninterrupted one would.
use super::*;

/// Position and state of the trainer, saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TrainerState {
    pub(super) step: u64,
    pub(super) epoch: u64,
    pub(super) batch: u64,
    pub(super) scales: FirstBatchScales,
    pub(super) schedule: Schedule,
    pub(super) best_val: Option<f64>,
    pub(super) epoch_loss_sum: f64,
    pub(super) epoch_loss_n: u64,
}

pub(super) fn write_checkpoint(
    run: &RunDir,
    name: Option<&str>,
    model: &HyperRep,
    optim: &burn::optim::ModuleOptimizer,
    state: &TrainerState,
) -> Result<()> {
    let to = match name {
        Some(n) => run.dir().join("checkpoints").join(n),
        None => run.checkpoint_dir(state.step),
    };
    let store_err = |what: &str, e: String| {
        Error::Core(hyperzoo_core::Error::format(
            run.dir(),
            format!("writing {what}: {e}"),
        ))
    };
    run.write_checkpoint(&to, |dir| {
        model
            .clone()
            .into_record()
            .save(dir.join("model.bpk"))
            .map_err(|e| {
                hyperzoo_core::Error::format(dir, format!("model: {}", record_error(&e)))
            })?;
        optim.save(dir.join("optimizer.bpk")).map_err(|e| {
            hyperzoo_core::Error::format(dir, format!("optimizer: {}", record_error(&e)))
        })?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| hyperzoo_core::Error::format(dir, e.to_string()))?;
        hyperzoo_core::fsutil::write_atomic(&dir.join("state.json"), &json)
    })
    .map_err(|e| store_err("checkpoint", e.to_string()))
}

/// burn's record error as its message alone (its Display prefixes "Record I/O error").
fn record_error(e: &burn::store::RecordError) -> &str {
    match e {
        burn::store::RecordError::Io(m) | burn::store::RecordError::Validation(m) => m,
    }
}

/// Loads the model of a checkpoint directory into `model`.
pub fn load_model(model: HyperRep, dir: &Path) -> Result<HyperRep> {
    let path = dir.join("model.bpk");
    let record = ModuleRecord::load(&path).map_err(|e| {
        Error::Core(hyperzoo_core::Error::format(
            &path,
            format!("not a readable model checkpoint: {}", record_error(&e)),
        ))
    })?;
    model.try_load_record(record).map_err(|e| {
        Error::Core(hyperzoo_core::Error::format(
            &path,
            format!("does not fit the configured model: {}", record_error(&e)),
        ))
    })
}

pub(super) fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join("state.json");
    let text = std::fs::read(&path)
        .map_err(|e| Error::Core(hyperzoo_core::Error::io("reading", &path, e)))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Core(hyperzoo_core::Error::format(&path, e.to_string())))
}
