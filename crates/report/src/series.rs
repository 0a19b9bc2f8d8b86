//! A run's metrics.jsonl as CSV, for spreadsheets and pandas.
//!
//! One row per record, in file order. The columns are `kind`, `step`, `epoch`, then every other
//! key in the order it first appears (the step keys `loss, contrast, ...`, then the epoch keys
//! `train_loss, val_loss, val_r2`); a record without a key has an empty cell. Numbers are written
//! as in the JSON, strings as they are, `null` as an empty cell.
use crate::run::{Record, open_run};
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// The metrics of the run in `run_dir` as CSV text; a run without any record is an error.
pub fn series_csv(run_dir: &Path) -> Result<String> {
    let run = open_run(run_dir)?;
    let records = run.require_metrics()?;
    let path = run.path("metrics.jsonl");
    to_csv(&records).map_err(|e| Error::Format {
        path,
        reason: format!("writing CSV: {e}"),
    })
}

/// Writes [`series_csv`] to `out` (atomically, creating its directory).
pub fn write_series_csv(run_dir: &Path, out: &Path) -> Result<()> {
    let text = series_csv(run_dir)?;
    Ok(hyperzoo_core::fsutil::write_atomic(out, text.as_bytes())?)
}

fn to_csv(records: &[Record]) -> Result<String, Box<dyn std::error::Error>> {
    let mut columns: Vec<&str> = vec!["kind", "step", "epoch"];
    for r in records {
        for (k, _) in &r.0 {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&columns)?;
    for r in records {
        w.write_record(
            columns
                .iter()
                .map(|c| r.get(c).map(cell).unwrap_or_default()),
        )?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{RunSpec, write_run};

    #[test]
    fn csv_has_every_key_as_a_column_and_one_row_per_record() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_run(tmp.path(), &RunSpec::new("a"));
        let text = series_csv(&dir).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "kind,step,epoch,loss,contrast,structure,lr,train_loss,val_loss,val_r2"
        );
        let rows: Vec<&str> = lines.collect();
        // 6 steps and 2 evaluations; the torn last line is skipped.
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0], "step,1,0,2.0,1.5,0.5,0.001,,,");
        assert_eq!(rows[3], "epoch,3,1,,,,0.001,1.2,1.1,0.25");
        assert!(rows.iter().filter(|r| r.starts_with("epoch,")).count() == 2);

        let out = tmp.path().join("export/a.csv");
        write_series_csv(&dir, &out).unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), text);
    }

    #[test]
    fn a_run_without_metrics_or_config_is_a_named_error() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spec = RunSpec::new("fresh");
        spec.steps = 0;
        spec.epochs = 0;
        let dir = write_run(tmp.path(), &spec);
        // metrics.jsonl holds only a torn line.
        let e = series_csv(&dir).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "run {} has no metrics: {} is missing or holds no record (has it started?)",
                dir.display(),
                dir.join("metrics.jsonl").display()
            )
        );
        let e = series_csv(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("not a run directory"), "{e}");
    }
}
