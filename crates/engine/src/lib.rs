//! hyperzoo-engine: the part of hyperzoo that computes, on burn.
//!
//! The backend is chosen at build time by cargo feature (`tch`: LibTorch, the default; `flex`:
//! burn's pure-Rust CPU backend for machines without Python) and the device at run time from a
//! [`hyperzoo_core::device::DeviceSpec`] (see [`device`]). Code here takes a `&Device` and never
//! names a backend type, so it is the same on both.
//!
//! - [`device`]: resolving `auto|cpu|cuda[:N]` to a burn device, CUDA availability, versions.
//! - [`data`]: datasets as tensors.
//! - [`zoo`]: the population forward (N networks from an `[N, P]` weight matrix).
//! - [`hyper`]: hyper-representations: models, losses, training, evaluation, generation.
//! - [`workflow`]: what the CLI and the TUI do (train a run, generate a zoo, evaluate,
//!   generate networks), each with a stop flag and an event callback, never printing.

#[cfg(not(any(feature = "tch", feature = "flex")))]
compile_error!("hyperzoo-engine needs a backend: enable the `tch` (default) or `flex` feature");

pub mod bench;
pub mod data;
pub mod device;
pub mod hyper;
pub mod workflow;
pub mod zoo;

pub use burn;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Errors from the core crate (files, formats, values).
    #[error(transparent)]
    Core(#[from] hyperzoo_core::Error),
    /// A tensor or list has the wrong shape.
    #[error("{what}: got {found}, expected {expected}")]
    Shape {
        /// Which operation or input.
        what: String,
        /// The shape found.
        found: String,
        /// The shape expected.
        expected: String,
    },
    /// The run was cancelled; finished work is kept.
    #[error("cancelled")]
    Cancelled,
    /// The requested device cannot be used.
    #[error("device {requested}: {reason}")]
    Device {
        /// What was asked for.
        requested: String,
        /// Why it cannot be used, and what to do.
        reason: String,
    },
    /// A workflow step could not be done: what was being done and why (the message names the
    /// file, run, zoo or flag at fault).
    #[error("{0}")]
    Workflow(String),
    /// A loss, or one of its terms, is NaN or infinite (training diverged, or an input holds
    /// NaN/inf).
    #[error("loss term '{term}' is not finite ({value})")]
    NonFinite {
        /// Which term ("contrast", "structure", "behaviour", a scaled term, or "total").
        term: String,
        /// Its value.
        value: f64,
    },
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
