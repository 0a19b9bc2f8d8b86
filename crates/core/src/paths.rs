//! Where hyperzoo keeps things. Each location is resolved the same way by the binary, the TUI
//! and the scripts (which call the binary): an explicit flag, else an environment variable,
//! else a directory under the platform's data dir from the `directories` crate
//! (`~/.local/share/hyperzoo` on Linux).
use std::path::PathBuf;

/// Environment variable naming the data directory (datasets).
pub const DATA_ENV: &str = "HYPERZOO_DATA";
/// Environment variable naming the workspace directory (runs, generated zoos).
pub const WORKSPACE_ENV: &str = "HYPERZOO_WORKSPACE";

/// Where a resolved location came from, for `hyperzoo doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given on the command line.
    Flag,
    /// Taken from the environment variable.
    Env,
    /// The platform default.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Flag => "from the command line",
            Origin::Env => "from the environment",
            Origin::Default => "default",
        })
    }
}

/// A resolved directory and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The directory (not necessarily existing yet).
    pub path: PathBuf,
    /// How it was chosen.
    pub origin: Origin,
}

/// The platform data directory for hyperzoo, if the platform has one.
pub fn platform_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "hyperzoo", "hyperzoo")
        .map(|d| d.data_dir().to_path_buf())
}

fn resolve(flag: Option<PathBuf>, env: Option<std::ffi::OsString>, sub: &str) -> Located {
    if let Some(path) = flag {
        return Located {
            path,
            origin: Origin::Flag,
        };
    }
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        return Located {
            path: PathBuf::from(v),
            origin: Origin::Env,
        };
    }
    let base = platform_data_dir().unwrap_or_else(|| PathBuf::from(".hyperzoo"));
    Located {
        path: base.join(sub),
        origin: Origin::Default,
    }
}

/// The data directory: `--data-dir`, else `$HYPERZOO_DATA`, else `<platform data dir>/data`.
pub fn data_dir(flag: Option<PathBuf>) -> Located {
    resolve(flag, std::env::var_os(DATA_ENV), "data")
}

/// The workspace directory: `--workspace`, else `$HYPERZOO_WORKSPACE`, else `<platform data dir>/workspace`.
pub fn workspace_dir(flag: Option<PathBuf>) -> Located {
    resolve(flag, std::env::var_os(WORKSPACE_ENV), "workspace")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_everything() {
        let l = data_dir(Some("/x/y".into()));
        assert_eq!(
            l,
            Located {
                path: "/x/y".into(),
                origin: Origin::Flag
            }
        );
        let w = workspace_dir(Some("w".into()));
        assert_eq!(w.origin, Origin::Flag);
    }

    #[test]
    fn env_then_default_under_the_platform_dir() {
        let e = resolve(None, Some("/from/env".into()), "workspace");
        assert_eq!(
            (e.path, e.origin),
            (PathBuf::from("/from/env"), Origin::Env)
        );
        let d = resolve(None, Some("".into()), "workspace");
        assert_eq!(
            d.origin,
            Origin::Default,
            "an empty variable counts as unset"
        );
        assert!(d.path.ends_with("workspace"), "{}", d.path.display());
        let d = resolve(None, None, "data");
        assert!(d.path.ends_with("data") && d.origin == Origin::Default);
    }
}
