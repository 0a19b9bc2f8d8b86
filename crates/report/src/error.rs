//! The crate's error type: every message names the run or file at fault and, where there is
//! one, the command that fixes it.
use std::path::PathBuf;

/// Result alias for the report crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of hyperzoo-report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run has not been evaluated yet.
    #[error("run {run} has no results.toml: run `hyperzoo eval {run}` first")]
    NoResults {
        /// The run directory as given.
        run: String,
    },
    /// The run's metrics.jsonl is missing or holds no record.
    #[error("run {run} has no metrics: {path} is missing or holds no record (has it started?)")]
    NoMetrics {
        /// The run directory as given.
        run: String,
        /// Its metrics.jsonl.
        path: PathBuf,
    },
    /// The output file's extension names no supported image format.
    #[error("{path}: cannot tell the image format from {found}: name the file .png or .svg")]
    UnknownFormat {
        /// The output file.
        path: PathBuf,
        /// `the extension '.jpg'`, or `a name without extension`.
        found: String,
    },
    /// There is nothing to draw or compare (no run given, no value of the plotted kind).
    #[error("nothing to {action}: {what}")]
    Empty {
        /// `plot` or `compare`.
        action: &'static str,
        /// What is missing, naming the run or file.
        what: String,
    },
    /// A file's content is not what its format requires.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An I/O operation on a named path failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// plotters failed while drawing or encoding.
    #[error("drawing {path}: {reason}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// plotters' message.
        reason: String,
    },
    /// Opening a run or a zoo failed (the message names the file).
    #[error(transparent)]
    Core(#[from] hyperzoo_core::Error),
}

impl Error {
    pub(crate) fn empty(action: &'static str, what: impl Into<String>) -> Self {
        Error::Empty {
            action,
            what: what.into(),
        }
    }
}
