//! One error enum for the core crate. Messages name the file and the offending value and say
//! what would be accepted or what to run, because they end up in front of users.
use std::path::PathBuf;

/// Result alias for the core crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of hyperzoo-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("reading", "creating directory", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's content is not what its format requires.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the expected and found values.
        reason: String,
    },
    /// A value given by the user (flag, environment variable, config key) is invalid.
    #[error("invalid {what} '{value}': {expected}")]
    InvalidValue {
        /// Which flag/key/variable.
        what: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A checksum did not match.
    #[error("{path}: sha256 {found} does not match the expected {expected}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Expected sha256 (hex).
        expected: String,
        /// Computed sha256 (hex).
        found: String,
    },
    /// Fetching a dataset failed with every source that was tried.
    #[error("could not fetch {dataset}:\n{attempts}\n{hint}")]
    Fetch {
        /// The dataset name.
        dataset: String,
        /// One line per source tried, with its error.
        attempts: String,
        /// What the user can do.
        hint: String,
    },
    /// A key of a TOML file (an experiment, say) is unknown or has a bad value: names the file,
    /// the line, the dotted key, the value as written and what is accepted. With an empty key
    /// (a syntax error) only the file, the line and the reason are shown.
    #[error("{}:{line}: {}{expected}", .file.display(), key_value_prefix(.key, .value))]
    InvalidKey {
        /// The file.
        file: PathBuf,
        /// The line (1-based) of the key, or of the nearest enclosing table when the key is not
        /// written in the file.
        line: usize,
        /// The dotted key (`loss.gamma`), empty when the error concerns no key.
        key: String,
        /// The value as written (or the default in force), empty when there is none.
        value: String,
        /// What is wrong and what is accepted.
        expected: String,
    },
    /// A run directory is held by another process (or another job of this one) that trains or
    /// evaluates it.
    #[error(
        "{} is in use by {holder}: one process trains or evaluates a run at a time (wait for it to end, or stop it)", .dir.display()
    )]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// Who holds it: "pid N on host H".
        holder: String,
    },
    /// A required dataset is not in the data directory.
    #[error(
        "dataset {dataset} is missing or unverified in {dir}; run `hyperzoo data fetch {dataset}`"
    )]
    MissingDataset {
        /// The dataset name.
        dataset: String,
        /// The data directory searched.
        dir: PathBuf,
    },
}

/// `key = value: ` (or `key: ` without a value, nothing without a key) for [`Error::InvalidKey`].
fn key_value_prefix(key: &str, value: &str) -> String {
    match (key.is_empty(), value.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!("{key}: "),
        (false, false) => format!("{key} = {value}: "),
    }
}

impl Error {
    /// Wraps an I/O error with the path and action.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A format error for `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
