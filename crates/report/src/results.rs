//! results.toml read back, and the comparison of several runs.
//!
//! [`results_toml`] of one run is that run's results.toml as `hyperzoo eval` wrote it. Of several
//! runs it is one comparison table, runs as columns:
//!
//! ```toml
//! # hyperzoo comparison of 2 runs: probe test scores, reconstruction, final validation.
//! runs = ["small", "large"]            # the columns, in the order given
//!
//! [run.small]                          # where each column comes from
//! path = "runs/small"
//! zoo = "tetris"
//! checkpoint = "runs/small/checkpoints/best"
//! embedding_dim = 32
//! test_rows = 40
//! state = "finished"                   # state, step, epoch: from status.toml, when written
//! step = 600
//! epoch = 30
//!
//! [[row]]                              # a linear probe's score on the test split
//! section = "probe"
//! property = "test_acc"
//! method = "hyper"                     # hyper, W or s(W)
//! metric = "r2"                        # r2 (regression) or accuracy (classification)
//! small = 0.91
//! large = 0.94
//!
//! [[row]]                              # out-of-distribution probes (eval --zoo), if any
//! section = "ood"
//! zoo = "other"
//! property = "test_acc"
//! method = "hyper"
//! metric = "kendall_tau"               # r2 or kendall_tau
//! small = 0.7
//!
//! [[row]]                              # reconstruction of the test split
//! section = "reconstruction"
//! metric = "acc_reconstructed.median"  # weight_r2, weight_mse, l2_mean, images, and
//! small = 0.55                         # {acc_original,acc_reconstructed,agreement}.
//! large = 0.61                         # {min,q25,median,q75,max,mean}
//!
//! [[row]]                              # from metrics.jsonl: the last value per epoch record
//! section = "validation"
//! metric = "val_loss"                  # val_loss, val_r2
//! small = 0.42
//! large = 0.40
//! ```
//!
//! Rows come in the order above (probes, ood, reconstruction, validation), each section in the
//! order its rows first appear among the runs. A run without a value has no key in that row. A
//! run is named by its directory; when two directories have the same name, or a name is one of
//! the row keys (section, property, method, metric, zoo), `-2`, `-3`, ... is appended.
use crate::run::{Run, open_run, open_runs};
use crate::{Error, Result};
pub use hyperzoo_core::results::{
    Finetune, Generation, Ood, Probe, Quantiles, Reconstruction, Results,
};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use toml::Value;

/// The keys that identify a row; no run column may be named like one of them.
const ROW_KEYS: [&str; 5] = ["section", "property", "method", "metric", "zoo"];

/// Reads the results.toml of the run in `run_dir`.
pub fn read_results(run_dir: &Path) -> Result<Results> {
    read_text(&open_run(run_dir)?).and_then(|(path, text)| parse(&path, &text))
}

/// One run: its results.toml as is. Several: the comparison table described in the module
/// documentation.
pub fn results_toml(runs: &[PathBuf]) -> Result<String> {
    if runs.is_empty() {
        return Err(Error::empty("compare", "no run given"));
    }
    let runs = open_runs(runs, &ROW_KEYS)?;
    if let [run] = runs.as_slice() {
        return Ok(read_text(run)?.1);
    }
    let mut results = Vec::new();
    for run in &runs {
        let (path, text) = read_text(run)?;
        results.push(parse(&path, &text)?);
    }
    comparison(&runs, &results)
}

fn read_text(run: &Run) -> Result<(PathBuf, String)> {
    let path = run.path("results.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((path, text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::NoResults { run: run.shown() })
        }
        Err(source) => Err(Error::Io {
            action: "reading",
            path,
            source,
        }),
    }
}

fn parse(path: &Path, text: &str) -> Result<Results> {
    toml::from_str(text).map_err(|e| Error::Format {
        path: path.into(),
        reason: e.to_string(),
    })
}

pub(crate) fn read_run_results(run: &Run) -> Result<Results> {
    let (path, text) = read_text(run)?;
    parse(&path, &text)
}

/// What identifies a row: `(key, value)` pairs such as `("section", "probe")`.
type RowKeys = Vec<(&'static str, String)>;

/// Rows in order of first appearance, one optional value per run.
struct Table {
    rows: Vec<(RowKeys, Vec<Option<Value>>)>,
    index: HashMap<RowKeys, usize>,
    runs: usize,
}

impl Table {
    fn set(&mut self, keys: RowKeys, run: usize, value: Value) {
        let i = *self.index.entry(keys.clone()).or_insert_with(|| {
            self.rows.push((keys, vec![None; self.runs]));
            self.rows.len() - 1
        });
        self.rows[i].1[run] = Some(value);
    }
}

fn comparison(runs: &[Run], results: &[Results]) -> Result<String> {
    let mut sections: [Table; 4] = std::array::from_fn(|_| Table {
        rows: Vec::new(),
        index: HashMap::new(),
        runs: runs.len(),
    });
    let [probes, ood, recon, validation] = &mut sections;
    let s = |v: &str| v.to_string();
    for (k, (run, r)) in runs.iter().zip(results).enumerate() {
        for p in &r.probes {
            let keys = vec![
                ("section", s("probe")),
                ("property", s(&p.property)),
                ("method", s(&p.method)),
                ("metric", s(&p.metric)),
            ];
            probes.set(keys, k, Value::Float(p.test));
        }
        for o in &r.ood {
            for (metric, v) in [("r2", o.r2), ("kendall_tau", o.kendall_tau)] {
                let keys = vec![
                    ("section", s("ood")),
                    ("zoo", s(&o.zoo)),
                    ("property", s(&o.property)),
                    ("method", s(&o.method)),
                    ("metric", s(metric)),
                ];
                ood.set(keys, k, Value::Float(v));
            }
        }
        if let Some(rc) = &r.reconstruction {
            let key = |m: &str| vec![("section", s("reconstruction")), ("metric", s(m))];
            recon.set(key("weight_r2"), k, Value::Float(rc.weight_r2));
            recon.set(key("weight_mse"), k, Value::Float(rc.weight_mse));
            recon.set(key("l2_mean"), k, Value::Float(rc.l2_mean));
            recon.set(key("images"), k, Value::Integer(rc.images as i64));
            let tables = [
                ("acc_original", &rc.acc_original),
                ("acc_reconstructed", &rc.acc_reconstructed),
                ("agreement", &rc.agreement),
            ];
            for (name, q) in tables {
                for (field, v) in q.iter().flat_map(|q| q.fields()) {
                    recon.set(key(&format!("{name}.{field}")), k, Value::Float(v));
                }
            }
        }
        let records = run.metrics()?;
        for metric in ["val_loss", "val_r2"] {
            let last = Run::series(&records, "epoch", "epoch", metric)
                .last()
                .map(|&(_, v)| v);
            if let Some(v) = last {
                let keys = vec![("section", s("validation")), ("metric", s(metric))];
                validation.set(keys, k, Value::Float(v));
            }
        }
    }

    let mut out = String::new();
    let names: Vec<Value> = runs.iter().map(|r| Value::String(r.name.clone())).collect();
    let _ = writeln!(
        out,
        "# hyperzoo comparison of {} runs: probe test scores, reconstruction, final validation.",
        runs.len()
    );
    let _ = writeln!(out, "runs = {}", Value::Array(names));
    for (run, r) in runs.iter().zip(results) {
        let _ = writeln!(out, "\n[run.{}]", key(&run.name));
        let mut meta = vec![
            ("path", Value::String(run.shown())),
            ("zoo", Value::String(r.zoo.clone())),
            ("checkpoint", Value::String(r.checkpoint.clone())),
            ("embedding_dim", Value::Integer(r.embedding_dim as i64)),
            ("test_rows", Value::Integer(r.rows[2] as i64)),
        ];
        if let Some(st) = run.status()? {
            let state = Value::try_from(st.state).map_err(|e| Error::Format {
                path: run.path("status.toml"),
                reason: e.to_string(),
            })?;
            meta.push(("state", state));
            meta.push(("step", Value::Integer(st.step as i64)));
            meta.push(("epoch", Value::Integer(st.epoch as i64)));
        }
        for (k, v) in meta {
            let _ = writeln!(out, "{k} = {v}");
        }
    }
    for table in &sections {
        for (keys, values) in &table.rows {
            out.push_str("\n[[row]]\n");
            for (k, v) in keys {
                let _ = writeln!(out, "{k} = {}", Value::String(v.clone()));
            }
            for (run, v) in runs.iter().zip(values) {
                if let Some(v) = v {
                    let _ = writeln!(out, "{} = {v}", key(&run.name));
                }
            }
        }
    }
    Ok(out)
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        Value::String(name.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{RunSpec, write_run};

    #[test]
    fn one_run_is_its_results_toml_as_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_run(tmp.path(), &RunSpec::new("a"));
        let text = results_toml(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(dir.join("results.toml")).unwrap()
        );
        let r = read_results(&dir).unwrap();
        assert_eq!(r.probes.len(), 6);
        let rc = r.reconstruction.unwrap();
        assert_eq!(rc.acc_reconstructed.unwrap().median, 0.55);
    }

    #[test]
    fn several_runs_make_one_table_with_runs_as_columns() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_run(tmp.path(), &RunSpec::new("small"));
        let mut spec = RunSpec::new("large run");
        spec.score_shift = 0.05;
        spec.ood = true;
        spec.state = None;
        let b = write_run(tmp.path(), &spec);
        let text = results_toml(&[a.clone(), b.clone()]).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

        let runs: Vec<&str> = t["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(runs, ["small", "large run"]);
        assert_eq!(t["run"]["small"]["state"].as_str(), Some("finished"));
        assert_eq!(t["run"]["small"]["step"].as_integer(), Some(6));
        assert_eq!(
            t["run"]["small"]["path"].as_str(),
            Some(&*a.display().to_string())
        );
        assert!(t["run"]["large run"].get("state").is_none());
        assert!(text.contains("\n[run.\"large run\"]\n"), "{text}");

        let rows = t["row"].as_array().unwrap();
        let find = |want: &[(&str, &str)]| {
            rows.iter()
                .find(|r| {
                    want.iter()
                        .all(|(k, v)| r.get(*k).and_then(|x| x.as_str()) == Some(v))
                })
                .unwrap_or_else(|| panic!("no row {want:?} in\n{text}"))
        };
        let probe = find(&[
            ("section", "probe"),
            ("property", "test_acc"),
            ("method", "s(W)"),
        ]);
        assert_eq!(probe["metric"].as_str(), Some("r2"));
        assert_eq!(probe["small"].as_float(), Some(0.6));
        assert_eq!(probe["large run"].as_float(), Some(0.65));
        let acc = find(&[
            ("section", "probe"),
            ("property", "activation"),
            ("method", "W"),
        ]);
        assert_eq!(acc["metric"].as_str(), Some("accuracy"));

        let median = find(&[("metric", "acc_reconstructed.median")]);
        assert_eq!(median["section"].as_str(), Some("reconstruction"));
        assert_eq!(median["small"].as_float(), Some(0.55));
        let r2 = find(&[("metric", "weight_r2")]);
        assert_eq!(r2["large run"].as_float(), Some(0.85));
        assert_eq!(
            find(&[("metric", "images")])["small"].as_integer(),
            Some(500)
        );

        // Final validation: the last epoch record's values.
        let val = find(&[("section", "validation"), ("metric", "val_r2")]);
        assert_eq!(val["small"].as_float(), Some(0.5));
        let loss = find(&[("section", "validation"), ("metric", "val_loss")]);
        assert_eq!(loss["small"].as_float(), Some(0.9));

        // Only the second run has out-of-distribution probes: the first has no key there.
        let ood = find(&[("section", "ood"), ("metric", "kendall_tau")]);
        assert_eq!(ood["zoo"].as_str(), Some("other"));
        assert!(ood.get("small").is_none());
        assert_eq!(ood["large run"].as_float(), Some(0.7));

        // Sections in order: probes, ood, reconstruction, validation.
        let sections: Vec<&str> = rows
            .iter()
            .map(|r| r["section"].as_str().unwrap())
            .collect();
        let mut order = sections.clone();
        order.dedup();
        assert_eq!(order, ["probe", "ood", "reconstruction", "validation"]);
        assert_eq!(sections.len(), 6 + 2 + 4 + 18 + 2);
    }

    #[test]
    fn duplicate_and_reserved_run_names_are_made_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_run(&tmp.path().join("ws1"), &RunSpec::new("metric"));
        let b = write_run(&tmp.path().join("ws2"), &RunSpec::new("metric"));
        let text = results_toml(&[a, b]).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            t["runs"],
            Value::Array(vec!["metric-2".into(), "metric-3".into()])
        );
    }

    #[test]
    fn a_run_without_results_is_a_named_error() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_run(tmp.path(), &RunSpec::new("a"));
        let mut spec = RunSpec::new("b");
        spec.results = false;
        let b = write_run(tmp.path(), &spec);
        let e = results_toml(&[a, b.clone()]).unwrap_err().to_string();
        let shown = b.display();
        assert_eq!(
            e,
            format!("run {shown} has no results.toml: run `hyperzoo eval {shown}` first")
        );
        assert_eq!(
            results_toml(&[]).unwrap_err().to_string(),
            "nothing to compare: no run given"
        );
        std::fs::write(b.join("results.toml"), "probes = 3").unwrap();
        let e = read_results(&b).unwrap_err().to_string();
        assert!(
            e.starts_with(&b.join("results.toml").display().to_string()),
            "{e}"
        );
    }
}
