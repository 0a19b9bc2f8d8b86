//! hyperzoo-core: everything that needs neither burn nor a terminal.
//!
//! - [`arch`]: architecture specs (ArchSpec), shapes and the flat parameter layout.
//! - [`paths`]: where datasets and runs live (flag, then environment, then the platform's data dir).
//! - [`device`]: the `--device auto|cpu|cuda[:N]` choice, parsed and validated; the engine resolves it.
//! - [`data`]: the dataset catalog (files and sha256), the idx reader, and fetching/verification.
//! - [`fsutil`]: atomic writes (temporary file, then rename) used for everything that matters.
//! - [`theme`]: TUI colour themes from `themes/*.toml`.
//! - [`grid`]: the grid syntax shared by zoo files and experiment ablations.
//! - [`memorisation`]: the memorisation audit of generated networks (distance to the nearest
//!   training checkpoint after weight matching, beside noise and interpolation baselines).
//! - [`metrics`]: the records of a run's metrics.jsonl (steps, evaluations, probes).
//! - [`results`]: results.toml (probes, reconstruction, generation) as one structure.
//! - [`zoo`]: zoo definitions (TOML) and the zoo store on disk.
//! - [`workspace`]: the workspace's layout, resolving runs and zoos, claiming a run directory
//!   (one trainer per run: [`workspace::RunLock`]) and the one staleness rule.
//! - [`error`]: the crate's error type; every variant names the file, key or value at fault.

pub mod arch;
pub mod augment;
pub mod budget;
pub mod data;
pub mod device;
pub mod error;
pub mod experiment;
pub mod fsutil;
pub mod grid;
pub mod memorisation;
pub mod metrics;
pub mod paths;
pub mod probe;
pub mod results;
pub mod run;
pub mod theme;
pub mod tokens;
pub mod workspace;
pub mod zoo;

pub use error::{Error, Result};
