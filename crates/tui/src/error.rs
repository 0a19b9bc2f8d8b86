//! The TUI crate's error type. Messages name the file, the key and the bad value, because they
//! are shown to users (a keymap they wrote, a theme they asked for).
use std::path::PathBuf;

/// Result alias for the TUI crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of hyperzoo-tui.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The terminal could not be set up, drawn to or read from.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// A keymap file is invalid.
    #[error("keymap {path}: {reason}")]
    Keymap {
        /// The file (`<default keymap>` for the embedded one).
        path: PathBuf,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A theme could not be found or read.
    #[error("theme '{name}': {reason}")]
    Theme {
        /// The name or path asked for.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// A measurement (`hyperzoo bench tui`) could not be taken.
    #[error("{0}")]
    Other(String),
}
