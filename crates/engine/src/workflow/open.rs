//! A trained run opened for evaluation: its experiment (config.toml), its zoo, the prepared
//! data (splits, normalisation, representation) and the model at a checkpoint.
use super::{Context, Env, fail};
use crate::Result;
use crate::device::{self, ResolvedDevice};
use crate::hyper::model::HyperRep;
use crate::hyper::train::{Prepared, TrainSpec, load_model, prepare};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::run::RunDir;
use hyperzoo_core::workspace::RunLock;
use hyperzoo_core::zoo::store::Zoo;
use std::path::PathBuf;

/// Which checkpoint of a run to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointChoice {
    /// The lowest validation loss (`checkpoints/best`), else the last.
    #[default]
    Best,
    /// The last periodic checkpoint.
    Last,
}

impl CheckpointChoice {
    /// `best` or `last`, as the `--checkpoint` flag writes them.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "best" => Ok(Self::Best),
            "last" => Ok(Self::Last),
            other => Err(fail(format!("--checkpoint {other}: expected best or last"))),
        }
    }
}

/// Whether the caller will write to the run (results.toml, accuracies): then it holds the
/// run's lock, and a run that another process trains or evaluates is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading only (embeddings to another place).
    Read,
    /// Writing results into the run directory.
    Write,
}

/// A trained run loaded for evaluation.
pub struct OpenedRun {
    /// The run directory.
    pub run: RunDir,
    /// The run's experiment (its config.toml).
    pub experiment: Experiment,
    /// The run's zoo.
    pub zoo: Zoo,
    /// The engine's spec of the run.
    pub spec: TrainSpec,
    /// Where the model computes.
    pub device: ResolvedDevice,
    /// The data as the run trained on it.
    pub prepared: Prepared,
    /// The checkpoint directory loaded.
    pub checkpoint: PathBuf,
    /// The model at that checkpoint.
    pub model: HyperRep,
    /// Held while the run is written to ([`Access::Write`]).
    _lock: Option<RunLock>,
}

impl OpenedRun {
    /// Rows per batch when embedding or decoding (at least 64, else the run's batch size).
    pub fn batch(&self) -> usize {
        self.spec.batch_size().max(64)
    }
}

/// Opens the run `name` (a run directory, or a run name in the workspace) at `checkpoint`.
pub fn open_run(
    env: &Env,
    name: &str,
    checkpoint: CheckpointChoice,
    access: Access,
) -> Result<OpenedRun> {
    let dir = env.workspace.run_dir(name);
    let run = RunDir::open(&dir)?;
    let lock = match access {
        Access::Write => Some(RunLock::acquire(&dir)?),
        Access::Read => None,
    };
    let experiment = Experiment::load(&run.path("config.toml"))?;
    let zoo_dir = experiment.zoo_dir(env.workspace.root())?;
    let zoo = Zoo::open(&zoo_dir).context(|| format!("the zoo of run {}", dir.display()))?;
    let spec = super::spec::train_spec(&experiment, &zoo)?;
    let dev = device::resolve(env.device_for(&experiment))?;
    let prepared = prepare(&spec, &zoo)?;
    let ckpt = match checkpoint {
        CheckpointChoice::Best if dir.join("checkpoints/best").exists() => {
            dir.join("checkpoints/best")
        }
        _ => {
            let s = *run
                .checkpoints()?
                .last()
                .context(|| format!("{} has no checkpoint yet", dir.display()))?;
            run.checkpoint_dir(s)
        }
    };
    let layout = zoo.manifest.arch.layout()?;
    let window = prepared.repr.item_shape(layout.total)[0];
    let model = HyperRep::new(
        &spec.model,
        spec.head.as_ref(),
        &layout,
        window,
        spec.seed,
        &dev.device,
    )?;
    let model = load_model(model, &ckpt)?;
    Ok(OpenedRun {
        run,
        experiment,
        zoo,
        spec,
        device: dev,
        prepared,
        checkpoint: ckpt,
        model,
        _lock: lock,
    })
}
