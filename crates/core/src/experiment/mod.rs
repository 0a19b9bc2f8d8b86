//! Experiment files (`experiments/*.toml`): which zoo and which of its checkpoints, the
//! autoencoder and its sizes, the losses and their weights, the augmentations, the optimizer and
//! schedule, the device, and optionally an ablation grid. Every key is documented in
//! `docs/experiments.md`; a minimal file is
//!
//! ```toml
//! name = "quickstart"
//! [zoo]
//! path = "tetris-seed"
//! ```
//!
//! Text enters through [`Experiment::parse`] / [`Experiment::load`]: serde types the tables
//! (unknown keys, wrong types and unknown names are refused), then the values are checked
//! (ranges, relations such as heads dividing d_model). Every error is an
//! [`Error::InvalidKey`]: `file:line: key = value: what is accepted`, the line found from toml's
//! spans. [`Experiment::expand`] turns a grid into runs (the file as written, edited per
//! combination and parsed again, so a bad grid value is reported with its grid key), and
//! [`Experiment::to_toml`] writes the resolved configuration that goes into each run directory.
//!
//! `[model]` and `[head]` are chosen by their `kind` key and accept only that kind's keys. The
//! parser rewrites them to serde's external enum form before deserializing (see `doc.rs`),
//! because serde's internally tagged enums lose the position of errors inside them.

pub(crate) mod doc;
mod sections;
#[cfg(test)]
mod tests;

pub use sections::{
    AugmentSection, BehaviourKind, ContrastKind, EpochSelection, EvalSection, FcSpec, HEAD_KINDS,
    HeadSpec, LossSection, MODEL_KINDS, MlpHead, ModelSpec, NoiseKind, NormalizeSection, OneCycle,
    Optimizer, Plateau, QuerySet, ReconTarget, ReconstructionKind, SaneHead, SaneSpec, Schedule,
    TokenEncoding, TrainSection, TransformerSpec, WeightNorm, ZooSection,
};

use crate::device::DeviceSpec;
use crate::grid::{Grid, Point};
use crate::{Error, Result};
use doc::{Doc, Issue};
use sections::{Check, ensure};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The tables of an experiment file.
pub const SECTIONS: &[&str] = &[
    "zoo",
    "model",
    "head",
    "loss",
    "augment",
    "normalize",
    "train",
    "eval",
    "grid",
];

/// The top-level keys that are not tables.
pub const TOP_LEVEL_KEYS: &[&str] = &["name", "description", "seed", "device"];

/// The default run seed (the [R21] seed).
pub const DEFAULT_SEED: u64 = 42;

fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// What serde reads; turned into an [`Experiment`] once checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    device: DeviceSpec,
    #[serde(default)]
    zoo: ZooSection,
    #[serde(default, deserialize_with = "sections::de_model")]
    model: ModelSpec,
    #[serde(default, deserialize_with = "sections::de_head")]
    head: HeadSpec,
    #[serde(default)]
    loss: LossSection,
    #[serde(default)]
    augment: AugmentSection,
    #[serde(default)]
    normalize: NormalizeSection,
    #[serde(default)]
    train: TrainSection,
    #[serde(default)]
    eval: EvalSection,
    #[serde(default)]
    grid: toml::Table,
}

/// Where an experiment was read from. Not part of its identity: equality ignores it, so a
/// configuration written with [`Experiment::to_toml`] and read back equals the original.
#[derive(Debug, Clone, Default)]
struct Origin {
    path: PathBuf,
    text: String,
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A parsed, validated experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// The experiment's name; runs are named after it (`name`, or `name-key=value-...` for the
    /// runs of a grid). No `/`, `\`, whitespace or control characters, no leading `.`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The run seed: every random draw (initialisation, batches, views, queries) derives from it.
    pub seed: u64,
    /// The device (`auto`, `cpu`, `cuda`, `cuda:N`); the CLI's `--device` overrides it.
    pub device: DeviceSpec,
    /// `[zoo]`: the zoo and which checkpoints are samples.
    pub zoo: ZooSection,
    /// `[model]`: the autoencoder.
    pub model: ModelSpec,
    /// `[head]`: the projection head of the contrastive loss.
    pub head: HeadSpec,
    /// `[loss]`: the loss terms and their weights.
    pub loss: LossSection,
    /// `[augment]`: how the two views are made.
    pub augment: AugmentSection,
    /// `[normalize]`: weight normalization.
    pub normalize: NormalizeSection,
    /// `[train]`: optimizer, schedule, epochs, batches, evaluation and checkpoints.
    pub train: TrainSection,
    /// `[eval]`: evaluation after training; written to config.toml only when not the default.
    #[serde(skip_serializing_if = "EvalSection::is_default")]
    pub eval: EvalSection,
    /// `[grid]`: the ablation, keys are dotted paths (`loss.gamma`, `seed`); empty for a single
    /// run and for the runs [`Experiment::expand`] returns.
    #[serde(serialize_with = "serialize_grid", skip_serializing_if = "no_axes")]
    pub grid: Grid,
    #[serde(skip)]
    origin: Origin,
}

fn serialize_grid<S: Serializer>(grid: &Grid, s: S) -> std::result::Result<S::Ok, S::Error> {
    grid.axes.serialize(s)
}

fn no_axes(grid: &Grid) -> bool {
    grid.axes.is_empty()
}

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn load(path: &Path) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates experiment TOML; `path` names the file in errors and is the base of
    /// relative zoo paths ([`Experiment::dir`]). A grid is checked too: every combination must
    /// give a valid run.
    pub fn parse(path: &Path, text: &str) -> Result<Experiment> {
        let mut exp = parse_text(text).map_err(|i| i.into_error(path))?;
        exp.origin = Origin {
            path: path.to_path_buf(),
            text: text.to_string(),
        };
        if !exp.grid.axes.is_empty() {
            exp.expand()?;
        }
        Ok(exp)
    }

    /// The file the experiment was read from (empty when it was not).
    pub fn path(&self) -> &Path {
        &self.origin.path
    }

    /// The directory of the experiment file, against which relative zoo paths are resolved.
    pub fn dir(&self) -> &Path {
        self.origin.path.parent().unwrap_or(Path::new(""))
    }

    /// The TOML text it was parsed from (for a run of a grid: the file as written with that
    /// run's values).
    pub fn source(&self) -> &str {
        &self.origin.text
    }

    /// The line of a dotted key (`zoo.path`) in the file it was read from; else the line of its
    /// table, else 1 (for messages in the `file:line: key = value` style).
    pub fn line_of(&self, dotted: &str) -> usize {
        let Ok(doc) = Doc::parse(&self.origin.text) else {
            return 1;
        };
        doc.line_of_key(dotted)
            .or_else(|| dotted.split_once('.').and_then(|(t, _)| doc.line_of_key(t)))
            .unwrap_or(1)
    }

    /// The zoo directory or definition file, see [`ZooSection::resolve`].
    pub fn zoo_location(&self, workspace_dir: &Path) -> PathBuf {
        self.zoo.resolve(self.dir(), workspace_dir)
    }

    /// The zoo directory of the experiment: its `[zoo] path`, or where its `definition`
    /// generates the zoo (`<workspace>/zoos/<the definition's name>`; reads the definition).
    pub fn zoo_dir(&self, workspace_dir: &Path) -> crate::Result<PathBuf> {
        let loc = self.zoo_location(workspace_dir);
        if !self.zoo.is_definition() {
            return Ok(loc);
        }
        let def = crate::zoo::ZooDef::load(&loc)?;
        Ok(workspace_dir.join("zoos").join(def.name))
    }

    /// The experiment with its zoo named by an absolute path (resolved against the file's
    /// directory, or `workspace_dir`'s zoos): a run's config.toml must not depend on where the
    /// command was started. `hyperzoo run` and the TUI's queue both write this, and a run
    /// directory is only resumed by the same text.
    pub fn with_absolute_zoo(&self, workspace_dir: &Path) -> Experiment {
        let loc = self.zoo_location(workspace_dir);
        let abs = std::path::absolute(&loc).unwrap_or(loc);
        let mut out = self.clone();
        if self.zoo.is_definition() {
            out.zoo.definition = Some(abs.display().to_string());
        } else {
            out.zoo.path = Some(abs.display().to_string());
        }
        out
    }

    /// The resolved configuration, every key written (defaults included), as TOML: what goes
    /// into each run directory. Parsing it gives back an equal experiment.
    ///
    /// # Panics
    ///
    /// Only if an integer was set (in code) above `i64::MAX`, which TOML cannot hold; a parsed
    /// experiment never has one.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| panic!("experiment {}: {e}", self.name))
    }

    /// Whether `self` and `other` describe the same run: equal but for `[eval]`, which is
    /// not part of a run's identity.
    pub fn same_run(&self, other: &Experiment) -> bool {
        let strip = |e: &Experiment| Experiment {
            eval: EvalSection::default(),
            ..e.clone()
        };
        strip(self) == strip(other)
    }

    /// The runs: one per combination of the grid, in the grid's order (keys sorted, the last
    /// varying fastest), each named `name-key=value-...` over the keys with more than one value
    /// and resolved (grid applied, `grid` empty, `name` the run's name). Without a grid: the
    /// experiment itself, under its name.
    ///
    /// Each combination edits the file as written (so that, say, gridding `model.kind` takes
    /// the new kind's defaults) and parses it again; an invalid value is reported at the grid
    /// key's line, naming the grid key, its value and the run. An experiment changed in code
    /// after parsing is expanded from its resolved configuration instead.
    pub fn expand(&self) -> Result<Vec<(String, Experiment)>> {
        if self.grid.axes.is_empty() {
            return Ok(vec![(self.name.clone(), self.clone())]);
        }
        let file = self.origin.path.clone();
        let written = parse_text(&self.origin.text)
            .ok()
            .filter(|e| e == self)
            .and_then(|_| toml::from_str::<toml::Table>(&self.origin.text).ok());
        let base = match written {
            Some(t) => t,
            None => toml::from_str::<toml::Table>(&self.to_toml())
                .map_err(|e| Error::format(&file, format!("resolved configuration: {e}")))?,
        };
        let lines = Doc::parse(&self.origin.text)
            .map(|d| d.grid_lines())
            .unwrap_or_default();
        let first_key = self
            .grid
            .varied()
            .first()
            .copied()
            .or_else(|| self.grid.axes.keys().next().map(String::as_str))
            .unwrap_or_default()
            .to_string();
        let mut seen = BTreeSet::new();
        let mut runs = Vec::with_capacity(self.grid.len());
        for point in self.grid.expand() {
            let name = run_name(&self.name, &self.grid, &point);
            let fail = |key: &str, expected: String| Error::InvalidKey {
                file: file.clone(),
                line: lines.get(key).copied().unwrap_or(1),
                key: format!("grid.{key}"),
                value: point.get(key).map(|v| v.to_string()).unwrap_or_default(),
                expected,
            };
            if !seen.insert(name.clone()) {
                return Err(fail(
                    &first_key,
                    format!("two runs would be named {name}; give values that differ"),
                ));
            }
            let mut tree = base.clone();
            tree.remove("grid");
            tree.insert("name".into(), toml::Value::String(name.clone()));
            for (key, value) in &point {
                set_dotted(&mut tree, key, value.clone()).map_err(|e| fail(key, e))?;
            }
            let text = toml::to_string(&tree).map_err(|e| fail(&first_key, e.to_string()))?;
            let mut run = parse_text(&text).map_err(|issue| {
                let key = blame(&point, &issue.key, &first_key);
                let at = match (issue.key.is_empty(), issue.value.is_empty()) {
                    (true, _) => String::new(),
                    (false, true) => format!("{}: ", issue.key),
                    (false, false) => format!("{} = {}: ", issue.key, issue.value),
                };
                fail(&key, format!("in run {name}: {at}{}", issue.expected))
            })?;
            run.origin = Origin {
                path: file.clone(),
                text,
            };
            runs.push((name, run));
        }
        Ok(runs)
    }
}

/// Parses and checks a text; the grid is parsed but not expanded.
fn parse_text(text: &str) -> std::result::Result<Experiment, Issue> {
    let doc = Doc::parse(text)?;
    let mut raw: RawExperiment = doc.deserialize()?;
    let checked = (|| -> std::result::Result<(), Check> {
        check_name(&raw.name)?;
        raw.zoo.check()?;
        raw.zoo.normalize();
        raw.model.check()?;
        raw.head.check()?;
        raw.loss.check()?;
        raw.augment.check()?;
        raw.train.check(raw.loss.gamma)
    })();
    checked.map_err(|c| doc.issue_from_check(c))?;
    let grid = parse_grid(&doc, &raw.grid)?;
    Ok(Experiment {
        name: raw.name,
        description: raw.description,
        seed: raw.seed,
        device: raw.device,
        zoo: raw.zoo,
        model: raw.model,
        head: raw.head,
        loss: raw.loss,
        augment: raw.augment,
        normalize: raw.normalize,
        train: raw.train,
        eval: raw.eval,
        grid,
        origin: Origin::default(),
    })
}

fn check_name(name: &str) -> std::result::Result<(), Check> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_whitespace() || c.is_control());
    ensure(
        ok,
        "name",
        format!("{name:?}"),
        "a name usable as a directory: not empty, no '/', '\\', spaces or control characters, no leading '.'",
    )
}

/// The `[grid]` table with nested tables flattened into dotted keys (`loss.gamma = [..]`
/// written unquoted is the table `loss = { gamma = [..] }`); `{ from, to }` ranges are values.
fn flatten_grid(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if !t.contains_key("from") => flatten_grid(t, &key, out),
            _ => out.push((key, v.clone())),
        }
    }
}

/// Checks the grid's keys and parses its values with [`crate::grid`].
fn parse_grid(doc: &Doc<'_>, table: &toml::Table) -> std::result::Result<Grid, Issue> {
    let mut flat = Vec::new();
    flatten_grid(table, "", &mut flat);
    let lines = doc.grid_lines();
    let mut axes = BTreeMap::new();
    for (key, value) in flat {
        let issue = |value: String, expected: String| Issue {
            key: format!("grid.{key}"),
            value,
            expected,
            line: lines
                .get(&key)
                .copied()
                .or_else(|| doc.line_of_key("grid"))
                .unwrap_or(1),
        };
        let first = key.split('.').next().unwrap_or_default();
        let sections: Vec<&str> = SECTIONS.iter().copied().filter(|s| *s != "grid").collect();
        let sections = sections.join(", ");
        if key == "name" || first == "grid" {
            return Err(issue(
                value.to_string(),
                "a key of the experiment other than name and grid".into(),
            ));
        }
        if SECTIONS.contains(&first) && !key.contains('.') {
            return Err(issue(
                value.to_string(),
                format!("a dotted path to one key of [{first}], e.g. loss.gamma"),
            ));
        }
        if !SECTIONS.contains(&first) && !TOP_LEVEL_KEYS.contains(&first) {
            return Err(issue(
                value.to_string(),
                format!(
                    "a key of the experiment: seed, description, device, or section.key with \
                     section one of {sections}"
                ),
            ));
        }
        if axes.contains_key(&key) {
            return Err(issue(value.to_string(), "each key once".into()));
        }
        let single = toml::Table::from_iter([(key.clone(), value)]);
        match Grid::from_table("", &single) {
            Ok(g) => axes.extend(g.axes),
            Err(Error::InvalidValue {
                value, expected, ..
            }) => return Err(issue(value, expected)),
            Err(other) => return Err(issue(String::new(), other.to_string())),
        }
    }
    Ok(Grid { axes })
}

/// `base-key=value-...` over the grid's varied keys.
fn run_name(base: &str, grid: &Grid, point: &Point) -> String {
    let mut name = base.to_string();
    for key in grid.varied() {
        let value = match &point[key] {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let value: String = value
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "+-._:,".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push_str(&format!("-{key}={value}"));
    }
    name
}

/// Sets `a.b.c` in a TOML tree, creating tables on the way.
fn set_dotted(
    tree: &mut toml::Table,
    dotted: &str,
    value: toml::Value,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = dotted.split('.').collect();
    let (last, parents) = parts.split_last().ok_or("an empty key")?;
    let mut table = tree;
    let mut walked = Vec::new();
    for p in parents {
        walked.push(*p);
        let entry = table
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("{} is not a table", walked.join("."))),
        };
    }
    table.insert(last.to_string(), value);
    Ok(())
}

/// The grid key to blame for an error at `issue_key`: the key itself when the grid sets it,
/// else a grid key of the same table, else `fallback`.
fn blame(point: &Point, issue_key: &str, fallback: &str) -> String {
    if point.contains_key(issue_key) {
        return issue_key.to_string();
    }
    let section = issue_key.split('.').next().unwrap_or_default();
    point
        .keys()
        .find(|k| k.split('.').next() == Some(section))
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}
