//! The workflows of hyperzoo, owned by the library: train a run (generating its zoo first when
//! needed), generate a zoo, open a trained run, evaluate it, generate and fine-tune networks
//! from it, embed a zoo with it.
//!
//! Each takes a stop flag and an event callback ([`Note`]) and never prints: the CLI turns the
//! notes into progress bars and lines, the TUI's worker ignores them (its views read the run
//! store). Both call the same functions. What a workflow produces is returned as a value (and
//! written to the run or zoo directory as it goes); the caller decides what to show of it.
//!
//! - [`spec`]: an experiment (core's types) as the engine's training spec for one zoo.
//! - [`run`]: `hyperzoo run`: every run of an experiment, each claimed, trained and recorded.
//! - [`zoo`]: `hyperzoo zoo generate`: a zoo definition trained into the zoo store.
//! - [`open`]: a trained run loaded for evaluation (its experiment, zoo, data and model).
//! - [`evaluate`]: probes, baselines, reconstruction and out-of-distribution scores
//!   (results.toml), and embeddings for notebooks.
//! - [`generate`]: new networks sampled from the embedding space, fine-tuned beside random
//!   initialisation, audited for memorisation.
//! - [`task`]: an evaluation or generation job on a trained run, recorded in its job.toml.
use crate::Error;
use hyperzoo_core::device::DeviceSpec;
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::workspace::Workspace;
use std::path::PathBuf;

pub mod evaluate;
pub mod generate;
pub mod open;
pub mod run;
pub mod spec;
pub mod task;
pub mod zoo;

/// Where a workflow finds things and where it computes.
#[derive(Debug, Clone)]
pub struct Env {
    /// The workspace (runs, zoos).
    pub workspace: Workspace,
    /// The datasets' directory.
    pub data_dir: PathBuf,
    /// The device asked for on the command line; the default (`auto`) defers to an
    /// experiment's own `device` key where there is one.
    pub device: DeviceSpec,
    /// How zoo generation computes its training steps (native kernels on the CPU by default).
    pub zoo_kernel: crate::zoo::train::Kernel,
}

impl Env {
    /// The device a run of `e` uses: the command line's when one was given, else the
    /// experiment's.
    pub fn device_for(&self, e: &Experiment) -> DeviceSpec {
        if self.device == DeviceSpec::default() {
            e.device
        } else {
            self.device
        }
    }
}

/// What a workflow reports while it works.
#[derive(Debug)]
pub enum Note<'a> {
    /// A line worth showing (what is being done, what was found).
    Info(String),
    /// Something went wrong that the workflow worked around (a file kept aside, say).
    Warning(String),
    /// An event of the training of run `run`.
    Train {
        /// The run's name.
        run: &'a str,
        /// The event.
        event: &'a crate::hyper::train::Event,
    },
    /// A zoo generation starts: `units` network-epochs to train.
    ZooStarted {
        /// The zoo's name.
        zoo: &'a str,
        /// Networks times epochs still to train.
        units: u64,
    },
    /// An event of a zoo generation.
    Zoo(&'a crate::zoo::train::Event),
}

/// The definition and dataset of a zoo, on `dev`: a generated zoo's, or an imported zoo's whose
/// zoo.toml records how to read its dataset ([`ZooDef::of_zoo`](hyperzoo_core::zoo::ZooDef::of_zoo));
/// `None` for other imported zoos. Query images, test images and fine-tuning all come from
/// here.
pub(crate) fn zoo_data(
    env: &Env,
    zoo: &hyperzoo_core::zoo::store::Zoo,
    dev: &burn::prelude::Device,
) -> crate::Result<Option<(hyperzoo_core::zoo::ZooDef, crate::zoo::dataset::ZooData)>> {
    let Some(def) = hyperzoo_core::zoo::ZooDef::of_zoo(zoo)? else {
        return Ok(None);
    };
    let data = crate::zoo::dataset::load_zoo_data(&def, &env.data_dir, dev)
        .context(|| format!("the dataset of zoo {}", zoo.manifest.name))?;
    Ok(Some((def, data)))
}

/// Why a zoo has no images to run its networks on (for messages): imported with a dataset
/// hyperzoo cannot load, or without one recorded.
pub(crate) fn no_data_reason(zoo: &hyperzoo_core::zoo::store::Zoo) -> String {
    format!(
        "zoo {} (dataset {:?}, imported) records no dataset hyperzoo can load: import it with \
         --dataset {} (and --data-path for cifar10)",
        zoo.manifest.name,
        zoo.manifest.dataset,
        hyperzoo_core::zoo::DATASETS
            .iter()
            .filter(|d| **d != "tetris" && **d != "imagefolder")
            .copied()
            .collect::<Vec<_>>()
            .join("|")
    )
}

/// A callback that drops every note (the TUI's worker: its views read the run store).
pub fn ignore(_: Note<'_>) {}

/// An error of a workflow step, with what was being done.
pub(crate) fn fail(msg: impl Into<String>) -> Error {
    Error::Workflow(msg.into())
}

/// `result` with `what` (what was being done) put before its error.
pub(crate) trait Context<T> {
    /// Prefixes the error with `what()`.
    fn context(self, what: impl FnOnce() -> String) -> crate::Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> crate::Result<T> {
        self.map_err(|e| fail(format!("{}: {}", what(), e.into())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl FnOnce() -> String) -> crate::Result<T> {
        self.ok_or_else(|| fail(what()))
    }
}
