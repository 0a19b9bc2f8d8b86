//! The ablation table (W&B's runs table, Guild's compare): one row per run of an experiment or
//! a selection, the configuration keys that vary between them as columns, then the final
//! metrics the runs have (last validation loss and R², each probe's test score per method,
//! reconstructed median accuracy and agreement, generated median accuracy, memorisation
//! distance); runs that differ only in the seed grouped into mean ± std; sortable by any
//! column; the best row per metric marked; written as TOML or CSV.
//!
//! The TUI's table view and `hyperzoo export --table` build the same [`Ablation`]: the TUI from
//! the runs it has read ([`RunRow`]), the CLI from run directories ([`read_runs`]).
use crate::{Error, Result};
use hyperzoo_core::metrics::EpochRecord;
use hyperzoo_core::results::Results;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Probe methods in the order tables show them (others after, as they come).
pub const METHOD_ORDER: [&str; 6] = ["hyper", "hyper-layers", "W", "s(W)", "s(W)-56", "spectral"];

/// A config.toml as dotted keys (`loss.gamma`) and their values as written.
pub fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                toml::Value::String(s) => {
                    out.insert(key, s.clone());
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", table, &mut out);
    out
}

/// Keys whose values are not the same in every config (a missing key counts as a value);
/// `name` is left out, it always differs.
pub fn differing_keys(configs: &[BTreeMap<String, String>]) -> Vec<String> {
    let keys: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    keys.into_iter()
        .filter(|k| *k != "name")
        .filter(|k| {
            let first = configs.first().and_then(|c| c.get(*k));
            configs.iter().any(|c| c.get(*k) != first)
        })
        .cloned()
        .collect()
}

/// Mean, sample standard deviation (`None` for a single value) and count of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator), when there are two values or more.
    pub std: Option<f64>,
    /// How many values.
    pub n: usize,
}

impl Stat {
    /// Of the finite values of `values`; `None` when there is none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let ss: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        Some(Stat { mean, std, n })
    }

    /// `0.844±0.010` (`+-` with `ascii`), `0.844` for a single value; ` (n=2)` appended when
    /// fewer than `runs` values went in.
    pub fn text(&self, ascii: bool, runs: usize) -> String {
        let num = |v: f64| {
            if v.abs() < 1e4 {
                format!("{v:.3}")
            } else {
                format!("{v:.2e}")
            }
        };
        let mut out = num(self.mean);
        if let Some(sd) = self.std {
            out.push_str(if ascii { "+-" } else { "±" });
            out.push_str(&num(sd));
        }
        if self.n < runs {
            out.push_str(&format!(" (n={})", self.n));
        }
        out
    }
}

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger is better (R², accuracy, agreement).
    Higher,
    /// Smaller is better (loss).
    Lower,
    /// Neither (a distance to the training set: larger is less memorised, not better).
    Neither,
}

/// A metric column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricColumn {
    /// A stable identifier, the CSV header and TOML key (`val_loss`, `probe.test_acc.hyper`).
    pub id: String,
    /// A short label for a table (`val loss`, `test_acc hyper`).
    pub label: String,
    /// Which way is better.
    pub better: Better,
}

/// What the table needs of a run.
#[derive(Debug, Clone, Default)]
pub struct RunRow {
    /// The run's name.
    pub name: String,
    /// Its config.toml.
    pub config: toml::Table,
    /// Its last evaluation record (metrics.jsonl).
    pub last_epoch: Option<EpochRecord>,
    /// Its results.toml.
    pub results: Option<Results>,
}

/// A row of the table: one run, or the runs that differ only by seed.
#[derive(Debug, Clone, PartialEq)]
pub struct AblationRow {
    /// The run's name, or for a group the first run's name with its seed part removed.
    pub name: String,
    /// The runs in the row.
    pub runs: Vec<String>,
    /// Values of [`Ablation::keys`], as written in the configs (`-` when absent).
    pub keys: Vec<String>,
    /// Values of [`Ablation::metrics`] (mean ± std over the row's runs).
    pub values: Vec<Option<Stat>>,
}

/// A column of the table: a configuration key or a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The row's name.
    Name,
    /// The i-th key.
    Key(usize),
    /// The i-th metric.
    Metric(usize),
}

/// The table.
#[derive(Debug, Clone, PartialEq)]
pub struct Ablation {
    /// Configuration keys that vary between the rows (without `seed` when grouped).
    pub keys: Vec<String>,
    /// Metric columns: those at least one run has.
    pub metrics: Vec<MetricColumn>,
    /// The rows.
    pub rows: Vec<AblationRow>,
    /// Whether runs that differ only by seed were grouped.
    pub grouped: bool,
}

/// The metrics of one run, by column id.
fn run_metrics(r: &RunRow) -> Vec<(MetricColumn, f64)> {
    let col = |id: String, label: String, better| MetricColumn { id, label, better };
    let mut out = Vec::new();
    if let Some(e) = &r.last_epoch {
        out.push((
            col("val_loss".into(), "val loss".into(), Better::Lower),
            e.val_loss,
        ));
        out.push((
            col("val_r2".into(), "val R²".into(), Better::Higher),
            e.val_r2,
        ));
    }
    let Some(res) = &r.results else {
        return out;
    };
    for p in &res.probes {
        out.push((
            col(
                format!("probe.{}.{}", p.property, p.method),
                format!("{} {}", p.property, p.method),
                Better::Higher,
            ),
            p.test,
        ));
    }
    if let Some(rc) = &res.reconstruction {
        if let Some(q) = &rc.acc_reconstructed {
            out.push((
                col("recon_acc".into(), "recon acc".into(), Better::Higher),
                q.median,
            ));
        }
        if let Some(q) = &rc.agreement {
            out.push((
                col("agreement".into(), "agreement".into(), Better::Higher),
                q.mean,
            ));
        }
    }
    if let Some(g) = &res.generation {
        if let Some(q) = &g.acc_generated {
            out.push((
                col("gen_acc".into(), "gen acc".into(), Better::Higher),
                q.median,
            ));
        }
        if let Some(q) = g.memorisation.as_ref().and_then(|m| m.generated.distance) {
            out.push((
                col("mem_distance".into(), "mem dist".into(), Better::Neither),
                q.median,
            ));
        }
    }
    out
}

/// Orders metric columns: losses, probes (by property as they first come, methods in
/// [`METHOD_ORDER`]), then reconstruction, generation, memorisation.
fn column_rank(c: &MetricColumn, first_seen: &[String]) -> (usize, usize, usize, usize) {
    match c.id.as_str() {
        "val_loss" => (0, 0, 0, 0),
        "val_r2" => (0, 1, 0, 0),
        "recon_acc" => (2, 0, 0, 0),
        "agreement" => (2, 1, 0, 0),
        "gen_acc" => (3, 0, 0, 0),
        "mem_distance" => (3, 1, 0, 0),
        id => {
            let rest = id.strip_prefix("probe.").unwrap_or(id);
            let (property, method) = rest.rsplit_once('.').unwrap_or((rest, ""));
            // Properties may hold dots: the method is the last part, as written above.
            let p = first_seen
                .iter()
                .position(|q| q == property)
                .unwrap_or(usize::MAX);
            let m = METHOD_ORDER
                .iter()
                .position(|x| *x == method)
                .unwrap_or(METHOD_ORDER.len());
            (1, p, m, 0)
        }
    }
}

impl Ablation {
    /// The table of `runs`, their seeds grouped into mean ± std when `group_seeds` (runs whose
    /// configurations differ only by `seed`).
    pub fn build(runs: &[RunRow], group_seeds: bool) -> Ablation {
        let configs: Vec<BTreeMap<String, String>> =
            runs.iter().map(|r| flatten(&r.config)).collect();
        let mut keys = differing_keys(&configs);
        if group_seeds {
            keys.retain(|k| k != "seed");
        }
        // Metric columns: every one some run has, in a stable order.
        let per_run: Vec<Vec<(MetricColumn, f64)>> = runs.iter().map(run_metrics).collect();
        let mut properties: Vec<String> = Vec::new();
        for r in runs.iter().filter_map(|r| r.results.as_ref()) {
            for p in &r.probes {
                if !properties.contains(&p.property) {
                    properties.push(p.property.clone());
                }
            }
        }
        let mut metrics: Vec<MetricColumn> = Vec::new();
        for (c, _) in per_run.iter().flatten() {
            if !metrics.iter().any(|m| m.id == c.id) {
                metrics.push(c.clone());
            }
        }
        metrics.sort_by_key(|c| column_rank(c, &properties));
        // Rows: one per run, or one per group of runs equal in every key but the seed.
        let key_values = |i: usize| -> Vec<String> {
            keys.iter()
                .map(|k| configs[i].get(k).cloned().unwrap_or_else(|| "-".into()))
                .collect()
        };
        let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
        for i in 0..runs.len() {
            let kv = key_values(i);
            match groups.iter_mut().find(|(k, _)| group_seeds && *k == kv) {
                Some((_, members)) => members.push(i),
                None => groups.push((kv, vec![i])),
            }
        }
        let rows = groups
            .into_iter()
            .map(|(kv, members)| {
                let values = metrics
                    .iter()
                    .map(|m| {
                        let v: Vec<f64> = members
                            .iter()
                            .filter_map(|&i| {
                                per_run[i].iter().find(|(c, _)| c.id == m.id).map(|x| x.1)
                            })
                            .collect();
                        Stat::of(&v)
                    })
                    .collect();
                let first = &runs[members[0]].name;
                let name = if members.len() > 1 {
                    strip_seed(first)
                } else {
                    first.clone()
                };
                AblationRow {
                    name,
                    runs: members.iter().map(|&i| runs[i].name.clone()).collect(),
                    keys: kv,
                    values,
                }
            })
            .collect();
        Ablation {
            keys,
            metrics,
            rows,
            grouped: group_seeds,
        }
    }

    /// The columns in table order: name, keys, metrics.
    pub fn columns(&self) -> Vec<Column> {
        std::iter::once(Column::Name)
            .chain((0..self.keys.len()).map(Column::Key))
            .chain((0..self.metrics.len()).map(Column::Metric))
            .collect()
    }

    /// A column's header.
    pub fn header(&self, c: Column) -> &str {
        match c {
            Column::Name => "run",
            Column::Key(i) => &self.keys[i],
            Column::Metric(i) => &self.metrics[i].label,
        }
    }

    /// Sorts the rows by `column`, ascending or not; rows without a value come last either
    /// way, ties keep their order. Keys compare as numbers when both are.
    pub fn sort(&mut self, column: Column, descending: bool) {
        use std::cmp::Ordering;
        let ord = |o: Ordering| if descending { o.reverse() } else { o };
        match column {
            Column::Name => self.rows.sort_by(|a, b| ord(a.name.cmp(&b.name))),
            Column::Key(i) => self.rows.sort_by(|a, b| {
                let (x, y) = (&a.keys[i], &b.keys[i]);
                ord(match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(p), Ok(q)) => p.total_cmp(&q),
                    _ => x.cmp(y),
                })
            }),
            Column::Metric(i) => self.rows.sort_by(|a, b| match (a.values[i], b.values[i]) {
                (Some(p), Some(q)) => ord(p.mean.total_cmp(&q.mean)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }),
        }
    }

    /// The row of the best value of each metric (lowest loss, highest score; none for a
    /// metric without a direction or without values).
    pub fn best(&self) -> Vec<Option<usize>> {
        (0..self.metrics.len())
            .map(|m| {
                let better = self.metrics[m].better;
                let vals = self
                    .rows
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.values[m].map(|s| (i, s.mean)))
                    .filter(|(_, v)| v.is_finite());
                match better {
                    Better::Higher => vals.max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))),
                    Better::Lower => vals.min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0))),
                    Better::Neither => None,
                }
                .map(|(i, _)| i)
            })
            .collect()
    }

    /// Keeps the rows whose name, runs or key values contain `pattern` (case-insensitive).
    pub fn filter(&mut self, pattern: &str) {
        let p = pattern.to_lowercase();
        if p.is_empty() {
            return;
        }
        self.rows.retain(|r| {
            r.name.to_lowercase().contains(&p)
                || r.runs.iter().any(|n| n.to_lowercase().contains(&p))
                || r.keys.iter().any(|k| k.to_lowercase().contains(&p))
        });
    }

    /// The table as CSV: `run`, `runs` (the runs of a row, `;`-separated), the keys, then for
    /// each metric its mean and, when grouped, `<id>_std` and `<id>_n`.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = vec!["run".into(), "runs".into()];
        header.extend(self.keys.iter().cloned());
        for m in &self.metrics {
            header.push(m.id.clone());
            if self.grouped {
                header.push(format!("{}_std", m.id));
                header.push(format!("{}_n", m.id));
            }
        }
        let _ = w.write_record(&header);
        for r in &self.rows {
            let mut rec: Vec<String> = vec![r.name.clone(), r.runs.join(";")];
            rec.extend(r.keys.iter().cloned());
            for v in &r.values {
                rec.push(v.map_or(String::new(), |s| s.mean.to_string()));
                if self.grouped {
                    rec.push(
                        v.and_then(|s| s.std)
                            .map_or(String::new(), |x| x.to_string()),
                    );
                    rec.push(v.map_or("0".into(), |s| s.n.to_string()));
                }
            }
            let _ = w.write_record(&rec);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The table as TOML: `keys`, `[[metric]]` (id, label, better) and `[[row]]` (name, runs,
    /// `[row.keys]`, `[row.metrics]` with `{ mean, std, n }` per metric id).
    pub fn to_toml(&self) -> String {
        use toml::{Table, Value};
        let mut t = Table::new();
        t.insert("grouped_seeds".into(), Value::Boolean(self.grouped));
        t.insert(
            "keys".into(),
            Value::Array(self.keys.iter().map(|k| Value::String(k.clone())).collect()),
        );
        let metrics = self
            .metrics
            .iter()
            .map(|m| {
                let mut mt = Table::new();
                mt.insert("id".into(), Value::String(m.id.clone()));
                mt.insert("label".into(), Value::String(m.label.clone()));
                let better = match m.better {
                    Better::Higher => "higher",
                    Better::Lower => "lower",
                    Better::Neither => "neither",
                };
                mt.insert("better".into(), Value::String(better.into()));
                Value::Table(mt)
            })
            .collect();
        t.insert("metric".into(), Value::Array(metrics));
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut rt = Table::new();
                rt.insert("name".into(), Value::String(r.name.clone()));
                rt.insert(
                    "runs".into(),
                    Value::Array(r.runs.iter().map(|n| Value::String(n.clone())).collect()),
                );
                let keys: Table = self
                    .keys
                    .iter()
                    .zip(&r.keys)
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                rt.insert("keys".into(), Value::Table(keys));
                let values: Table = self
                    .metrics
                    .iter()
                    .zip(&r.values)
                    .filter_map(|(m, v)| {
                        let s = (*v)?;
                        let mut st = Table::new();
                        st.insert("mean".into(), Value::Float(s.mean));
                        if let Some(sd) = s.std {
                            st.insert("std".into(), Value::Float(sd));
                        }
                        st.insert("n".into(), Value::Integer(s.n as i64));
                        Some((m.id.clone(), Value::Table(st)))
                    })
                    .collect();
                rt.insert("metrics".into(), Value::Table(values));
                Value::Table(rt)
            })
            .collect();
        t.insert("row".into(), Value::Array(rows));
        toml::to_string(&t).unwrap_or_default()
    }
}

/// A run name without its `seed=N` part (`exp-gamma=0.1-seed=2` → `exp-gamma=0.1`).
fn strip_seed(name: &str) -> String {
    let parts: Vec<&str> = name
        .split('-')
        .filter(|p| !p.starts_with("seed="))
        .collect();
    parts.join("-")
}

/// Reads run directories for the table: config.toml (required), the last evaluation record of
/// metrics.jsonl and results.toml (when present).
pub fn read_runs(dirs: &[PathBuf]) -> Result<Vec<RunRow>> {
    dirs.iter().map(|d| read_run(d)).collect()
}

fn read_run(dir: &Path) -> Result<RunRow> {
    let cfg = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg).map_err(|source| Error::Io {
        action: "reading",
        path: cfg.clone(),
        source,
    })?;
    let config: toml::Table = toml::from_str(&text).map_err(|e| Error::Format {
        path: cfg.clone(),
        reason: e.to_string(),
    })?;
    let run = hyperzoo_core::run::RunDir::open(dir)?;
    let last_epoch = run
        .metrics()?
        .into_iter()
        .rev()
        .filter_map(|v| serde_json::from_value::<hyperzoo_core::metrics::Record>(v).ok())
        .find_map(|r| match r {
            hyperzoo_core::metrics::Record::Epoch(e) => Some(e),
            _ => None,
        });
    let results = Results::read(&dir.join("results.toml"))?;
    Ok(RunRow {
        name: dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
        config,
        last_epoch,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::results::Probe;

    fn run(name: &str, gamma: f64, seed: u64, val_loss: f64, r2: Option<f64>) -> RunRow {
        let config: toml::Table = toml::from_str(&format!(
            "name = \"{name}\"\nseed = {seed}\n[loss]\ngamma = {gamma}\nbeta = 1.0\n"
        ))
        .unwrap();
        let results = r2.map(|test| Results {
            probes: vec![Probe {
                property: "test_acc".into(),
                method: "hyper".into(),
                metric: "r2".into(),
                test,
                ..Default::default()
            }],
            ..Default::default()
        });
        RunRow {
            name: name.into(),
            config,
            last_epoch: Some(EpochRecord {
                val_loss,
                val_r2: 1.0 - val_loss,
                ..Default::default()
            }),
            results,
        }
    }

    fn grid() -> Vec<RunRow> {
        vec![
            run("g-loss.gamma=0.1-seed=1", 0.1, 1, 0.30, Some(0.60)),
            run("g-loss.gamma=0.1-seed=2", 0.1, 2, 0.34, Some(0.70)),
            run("g-loss.gamma=0.5-seed=1", 0.5, 1, 0.20, Some(0.50)),
            run("g-loss.gamma=0.5-seed=2", 0.5, 2, 0.22, None),
        ]
    }

    #[test]
    fn one_row_per_run_with_the_varying_keys_and_the_metrics_they_have() {
        let t = Ablation::build(&grid(), false);
        assert_eq!(t.keys, ["loss.gamma", "seed"]);
        let ids: Vec<&str> = t.metrics.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["val_loss", "val_r2", "probe.test_acc.hyper"]);
        assert_eq!(t.rows.len(), 4);
        assert_eq!(t.rows[0].keys, ["0.1", "1"]);
        assert_eq!(t.rows[3].values[2], None, "not evaluated");
        // The best: lowest loss, highest probe R².
        assert_eq!(t.best(), vec![Some(2), Some(2), Some(1)]);
    }

    #[test]
    fn seeds_group_into_mean_and_sample_std() {
        let t = Ablation::build(&grid(), true);
        assert_eq!(t.keys, ["loss.gamma"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].name, "g-loss.gamma=0.1");
        assert_eq!(t.rows[0].runs.len(), 2);
        let loss = t.rows[0].values[0].unwrap();
        assert!((loss.mean - 0.32).abs() < 1e-12);
        // Sample std of 0.30 and 0.34: sqrt(2 * 0.02² / 1).
        assert!((loss.std.unwrap() - 0.02 * 2f64.sqrt()).abs() < 1e-12);
        // A metric only one seed of the group has: n = 1, no std.
        let probe = t.rows[1].values[2].unwrap();
        assert_eq!((probe.n, probe.std), (1, None));
        assert_eq!(probe.text(true, 2), "0.500 (n=1)");
    }

    #[test]
    fn sorting_by_any_column_puts_missing_values_last() {
        let mut t = Ablation::build(&grid(), false);
        t.sort(Column::Metric(2), true);
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "g-loss.gamma=0.1-seed=2",
                "g-loss.gamma=0.1-seed=1",
                "g-loss.gamma=0.5-seed=1",
                "g-loss.gamma=0.5-seed=2"
            ]
        );
        t.sort(Column::Key(0), true);
        assert_eq!(t.rows[0].keys[0], "0.5");
        t.sort(Column::Metric(0), false);
        assert_eq!(t.rows[0].name, "g-loss.gamma=0.5-seed=1");
        t.filter("gamma=0.1");
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn csv_and_toml_hold_the_same_table() {
        let t = Ablation::build(&grid(), true);
        let csv = t.to_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "run,runs,loss.gamma,val_loss,val_loss_std,val_loss_n,val_r2,val_r2_std,val_r2_n,probe.test_acc.hyper,probe.test_acc.hyper_std,probe.test_acc.hyper_n"
        );
        assert!(lines.next().unwrap().starts_with(
            "g-loss.gamma=0.1,g-loss.gamma=0.1-seed=1;g-loss.gamma=0.1-seed=2,0.1,0.32"
        ));
        let back: toml::Table = toml::from_str(&t.to_toml()).unwrap();
        let rows = back["row"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        let m = &rows[0]["metrics"]["val_loss"];
        assert!((m["mean"].as_float().unwrap() - 0.32).abs() < 1e-12);
        assert_eq!(m["n"].as_integer(), Some(2));
    }
}
