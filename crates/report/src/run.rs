//! Run directories as this crate sees them: a name, the metrics records, the status.
use crate::{Error, Result};
use hyperzoo_core::run::{RunDir, Status};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An opened run directory.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The directory as given (what `hyperzoo eval` accepts).
    pub dir: PathBuf,
    /// Display name, unique among the runs opened together.
    pub name: String,
    run: RunDir,
}

impl Run {
    /// The directory as given, for messages.
    pub fn shown(&self) -> String {
        self.dir.display().to_string()
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.run.path(file)
    }

    pub fn status(&self) -> Result<Option<Status>> {
        Ok(self.run.status()?)
    }

    /// Every record of metrics.jsonl, keys in file order; lines that do not parse (a torn last
    /// line) are skipped as `RunDir::metrics` does. Missing file: no record.
    pub fn metrics(&self) -> Result<Vec<Record>> {
        let path = self.path("metrics.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// [`Run::metrics`], refusing a run without any record.
    pub fn require_metrics(&self) -> Result<Vec<Record>> {
        let records = self.metrics()?;
        if records.is_empty() {
            return Err(Error::NoMetrics {
                run: self.shown(),
                path: self.path("metrics.jsonl"),
            });
        }
        Ok(records)
    }

    /// `(x, value)` of the records of `kind` with a finite number under `key`, `x` being the
    /// record's `x_key` (step or epoch).
    pub fn series(records: &[Record], kind: &str, x_key: &str, key: &str) -> Vec<(f64, f64)> {
        records
            .iter()
            .filter(|r| r.kind() == Some(kind))
            .filter_map(|r| Some((r.number(x_key)?, r.number(key)?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect()
    }
}

/// Opens one run directory (it must hold a config.toml).
pub(crate) fn open_run(dir: &Path) -> Result<Run> {
    Ok(open_runs(&[dir.to_path_buf()], &[])?.remove(0))
}

/// Opens run directories and names them after their directory; a name already taken (two
/// `runs/a` of different workspaces) or in `reserved` gets `-2`, `-3`, ... appended.
pub(crate) fn open_runs(dirs: &[PathBuf], reserved: &[&str]) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let run = RunDir::open(dir)?;
        let base = dir_name(dir);
        let taken = |n: &str| reserved.contains(&n) || runs.iter().any(|r| r.name == n);
        let mut name = base.clone();
        let mut k = 2;
        while taken(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        runs.push(Run {
            dir: dir.clone(),
            name,
            run,
        });
    }
    Ok(runs)
}

fn dir_name(dir: &Path) -> String {
    let named = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    named(dir)
        .or_else(|| dir.canonicalize().ok().as_deref().and_then(named))
        .unwrap_or_else(|| dir.display().to_string())
}

/// One metrics.jsonl record with its keys in file order (serde_json's map would sort them).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record(pub Vec<(String, Value)>);

impl Record {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn kind(&self) -> Option<&str> {
        self.get("kind")?.as_str()
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Record(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}
