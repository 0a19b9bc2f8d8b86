//! Unterthiner et al.'s "Small CNN Zoo" (Predicting Neural Network Accuracy from Weights, 2020;
//! google-research/dnn_predict_accuracy): per dataset one `weights.npy` (float32
//! `[checkpoints, 4970]`), a `metrics.csv[.gz]` with one row per weights row, and `layout.csv`.
//!
//! Rows are Keras variables flattened per layer as **[bias, kernel]**, Conv2D kernels in Keras
//! layout `(kh, kw, c_in, c_out)` and the Dense kernel `(c_in, c_out)`. They are mapped to the
//! `unterthiner_cnn` built-in's PyTorch layout (weight `[out, in, kh, kw]` then bias), so the
//! imported networks run through hyperzoo's forward unchanged (tested against a forward pass
//! computed directly in the Keras layout).
//!
//! Runs are grouped by the `modeldir` column (or the parent of the checkpoint path in the
//! first, index column). A checkpoint's epoch is its `step` (or the number ending the
//! checkpoint path) divided by the run's steps per epoch, taken as the smallest positive step
//! among runs with the same train fraction (the epoch-1 checkpoint; batch 512 with
//! drop_remainder gives `floor(n_train * fraction / 512)`). Where the numbers already are epochs
//! this divides by 1. The published checkpoint epochs are 0, 1, 2, 3, 20, 40, 60, 80, 86.
//!
//! `layout.csv` is checked when its columns are recognisable (`varname`, `start_idx`,
//! `end_idx`: every bias/kernel range must be the expected one); its exact published columns
//! could not be verified here, so other shapes of it are ignored.
use super::{
    ImportOptions, Imported, dataset_from_hint, manifest, model_rows, record, select_epochs,
};
use crate::arch::{ArchSpec, ParamKind};
use crate::zoo::store::NetStatus;
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// How metrics.csv `config.*` columns map to hyperzoo's hyperparameter names.
const KEY_MAP: &[(&str, &str)] = &[
    ("random_seed", "seed"),
    ("w_init", "init"),
    ("learning_rate", "lr"),
];

fn find(src: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| src.join(n)).find(|p| p.is_file())
}

/// Imports the Small CNN Zoo files of one dataset from directory `src`.
pub fn import(src: &Path, opts: &ImportOptions) -> Result<Imported> {
    let weights_path = find(src, &["weights.npy", "all_weights.npy"]).ok_or_else(|| {
        Error::format(
            src,
            "no weights.npy (or all_weights.npy): not a Small CNN Zoo directory",
        )
    })?;
    let metrics_path = find(
        src,
        &[
            "metrics.csv",
            "metrics.csv.gz",
            "all_metrics.csv",
            "all_metrics.csv.gz",
        ],
    )
    .ok_or_else(|| Error::format(src, "no metrics.csv[.gz] beside weights.npy"))?;
    let table = read_metrics(&metrics_path)?;
    let (rows_n, cols_n, data) = read_npy(&weights_path)?;
    if rows_n != table.rows.len() {
        return Err(Error::format(
            &weights_path,
            format!(
                "{rows_n} rows but {} has {} rows; they must correspond one to one",
                metrics_path.display(),
                table.rows.len()
            ),
        ));
    }
    let dataset = opts
        .dataset
        .as_deref()
        .map(super::canonical_dataset)
        .unwrap_or_else(|| {
            table
                .col("config.dataset")
                .map(|j| dataset_from_hint(&table.rows[0][j]))
                .unwrap_or_else(|| dataset_from_hint(&src.display().to_string()))
        });
    let arch = match &opts.arch {
        Some(a) => a.clone(),
        None => {
            let side = if matches!(dataset.as_str(), "mnist" | "fashion-mnist") {
                28
            } else {
                32
            };
            ArchSpec::builtin("unterthiner_cnn")
                .expect("built-in")
                .with_input([1, side, side])
        }
    };
    let layout = arch.layout()?;
    let p = layout.total;
    if cols_n != p {
        return Err(Error::format(
            &weights_path,
            format!(
                "rows of {cols_n} values; architecture '{}' has {p}",
                arch.name
            ),
        ));
    }
    if let Some(layout_csv) = find(src, &["layout.csv"]) {
        check_layout_csv(&layout_csv, &arch)?;
    }

    // Group rows into runs, in order of first appearance.
    let run_col = table.col("modeldir");
    let step_col = table.col("step");
    let mut run_ids: Vec<String> = Vec::new();
    let mut run_of_row = Vec::with_capacity(table.rows.len());
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut steps = Vec::with_capacity(table.rows.len());
    for (i, row) in table.rows.iter().enumerate() {
        let line = i + 2;
        let ckpt = &row[0];
        let run = match run_col {
            Some(j) => row[j].clone(),
            None => ckpt
                .rsplit_once('/')
                .map(|(parent, _)| parent.to_string())
                .unwrap_or_default(),
        };
        let step_text = match step_col {
            Some(j) => row[j].clone(),
            None => ckpt.rsplit('-').next().unwrap_or("").to_string(),
        };
        let step: f64 = step_text.parse().map_err(|_| {
            Error::format(
                &metrics_path,
                format!("row {line}: step '{step_text}' is not a number"),
            )
        })?;
        let k = *index_of.entry(run.clone()).or_insert_with(|| {
            run_ids.push(run);
            run_ids.len() - 1
        });
        run_of_row.push(k);
        steps.push(step as u64);
    }
    let n_runs = opts
        .max_models
        .map_or(run_ids.len(), |m| m.min(run_ids.len()));

    // Steps per epoch per train fraction.
    let frac_col = table.col("config.train_fraction");
    let frac = |i: usize| {
        frac_col
            .map(|j| table.rows[i][j].clone())
            .unwrap_or_default()
    };
    let mut spe: HashMap<String, u64> = HashMap::new();
    for (i, &s) in steps.iter().enumerate() {
        if s > 0 {
            let e = spe.entry(frac(i)).or_insert(s);
            *e = (*e).min(s);
        }
    }
    let mut epoch_of_row = Vec::with_capacity(steps.len());
    for (i, &s) in steps.iter().enumerate() {
        let per = spe.get(&frac(i)).copied().unwrap_or(1);
        if s % per != 0 {
            return Err(Error::format(
                &metrics_path,
                format!(
                    "row {}: step {s} is not a whole number of epochs of {per} steps (train_fraction {})",
                    i + 2,
                    frac(i)
                ),
            ));
        }
        epoch_of_row.push((s / per) as usize);
    }
    let available: BTreeSet<usize> = (0..steps.len())
        .filter(|&i| run_of_row[i] < n_runs)
        .map(|i| epoch_of_row[i])
        .collect();
    let epochs = select_epochs(available, opts, src)?;
    let epoch_index: HashMap<usize, usize> =
        epochs.iter().enumerate().map(|(k, &e)| (e, k)).collect();

    let mut weights: Vec<(usize, Vec<f32>)> = epochs
        .iter()
        .map(|&e| (e, vec![f32::NAN; n_runs * p]))
        .collect();
    let mut seen = vec![vec![None::<[f64; 6]>; epochs.len()]; n_runs];
    let metric = |i: usize, name: &str| {
        table
            .col(name)
            .and_then(|j| table.rows[i][j].parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    for i in 0..steps.len() {
        let run = run_of_row[i];
        let Some(&k) = epoch_index.get(&epoch_of_row[i]) else {
            continue;
        };
        if run >= n_runs {
            continue;
        }
        if seen[run][k].is_some() {
            return Err(Error::format(
                &metrics_path,
                format!(
                    "row {}: run '{}' has epoch {} twice",
                    i + 2,
                    run_ids[run],
                    epoch_of_row[i]
                ),
            ));
        }
        keras_to_torch(
            &data[i * p..(i + 1) * p],
            &arch,
            &mut weights[k].1[run * p..(run + 1) * p],
        )?;
        seen[run][k] = Some([
            metric(i, "train_loss"),
            metric(i, "train_accuracy"),
            f64::NAN,
            f64::NAN,
            metric(i, "test_loss"),
            metric(i, "test_accuracy"),
        ]);
    }
    let mut records = Vec::new();
    for (run, per_epoch) in seen.iter().enumerate() {
        for (k, &epoch) in epochs.iter().enumerate() {
            let (status, m) = match per_epoch[k] {
                None => (NetStatus::Missing, [f64::NAN; 6]),
                Some(m) => {
                    let w = &weights[k].1[run * p..(run + 1) * p];
                    let ok = w.iter().all(|v| v.is_finite());
                    (
                        if ok {
                            NetStatus::Ok
                        } else {
                            NetStatus::Diverged
                        },
                        m,
                    )
                }
            };
            records.push(record(run, epoch, status, m));
        }
    }

    // Hyperparameters: config.* columns of each run's first row.
    let mut first_row = vec![usize::MAX; n_runs];
    for (i, &r) in run_of_row.iter().enumerate() {
        if r < n_runs && first_row[r] == usize::MAX {
            first_row[r] = i;
        }
    }
    let per_model: Vec<HashMap<String, String>> = first_row
        .iter()
        .map(|&i| {
            table
                .header
                .iter()
                .enumerate()
                .filter_map(|(j, h)| {
                    let key = h.strip_prefix("config.")?;
                    let name = KEY_MAP
                        .iter()
                        .find(|(s, _)| *s == key)
                        .map_or(key, |(_, o)| *o);
                    Some((name.to_string(), table.rows[i][j].clone()))
                })
                .collect()
        })
        .collect();
    let mut rows = model_rows(&per_model, opts);
    for (row, id) in rows.iter_mut().zip(&run_ids) {
        row.hparams.push(("source".into(), id.clone()));
    }
    let max_epoch = epochs.iter().copied().max().unwrap_or(0);
    Ok(Imported {
        manifest: manifest(
            super::Kind::SmallCnnZoo,
            opts,
            arch,
            dataset,
            max_epoch,
            format!("unterthiner {}", src.display()),
        )?,
        rows,
        weights,
        records,
    })
}

/// Maps one Keras-layout row (per layer: bias, then the kernel in Keras order) into the
/// PyTorch layout of `arch` (per layer: weight `[out, in, kh, kw]` / `[out, in]`, then bias).
pub fn keras_to_torch(src: &[f32], arch: &ArchSpec, dst: &mut [f32]) -> Result<()> {
    let layout = arch.layout()?;
    arch.sequential_only("the Small CNN Zoo's Keras layout")?;
    let mut pos = 0;
    for l in &layout.params {
        let (out, inp) = (l.out, l.inp);
        let bias = &src[pos..pos + out];
        pos += out;
        let kernel = &src[pos..pos + l.weight_len()];
        pos += l.weight_len();
        let w = &mut dst[l.weight_offset..l.weight_offset + l.weight_len()];
        match l.kind {
            ParamKind::Conv { kernel: k, .. } => {
                for o in 0..out {
                    for c in 0..inp {
                        for i in 0..k {
                            for j in 0..k {
                                w[((o * inp + c) * k + i) * k + j] =
                                    kernel[((i * k + j) * inp + c) * out + o];
                            }
                        }
                    }
                }
            }
            ParamKind::Linear => {
                for o in 0..out {
                    for c in 0..inp {
                        w[o * inp + c] = kernel[c * out + o];
                    }
                }
            }
            ParamKind::BatchNorm => unreachable!("refused by sequential_only"),
        }
        match l.bias_offset {
            Some(b) => dst[b..b + out].copy_from_slice(bias),
            None => {
                return Err(Error::InvalidValue {
                    what: "architecture for a Keras-layout import".into(),
                    value: arch.name.clone(),
                    expected: "layers with biases (Keras rows hold [bias, kernel] per layer)"
                        .into(),
                });
            }
        }
    }
    Ok(())
}

/// The header and rows of metrics.csv (plain or gzipped).
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

fn read_metrics(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut r = csv::Reader::from_reader(reader);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| Error::format(path, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(path, format!("row {}: {e}", i + 2)))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(Error::format(path, "no rows"));
    }
    Ok(Table { header, rows })
}

fn read_npy(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .map_err(|e| Error::format(path, format!("not a valid .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 {
        return Err(Error::format(
            path,
            format!("shape {shape:?}; expected [rows, parameters]"),
        ));
    }
    if npy.order() != npyz::Order::C {
        return Err(Error::format(path, "Fortran order is not supported"));
    }
    let data: Vec<f32> = npy.into_vec::<f32>().map_err(|e| {
        Error::format(
            path,
            format!("expected float32 data of shape {shape:?} (wrong dtype, or truncated?): {e}"),
        )
    })?;
    Ok((shape[0] as usize, shape[1] as usize, data))
}

/// Checks a layout.csv with `varname,start_idx,end_idx` columns against the expected
/// [bias, kernel] ranges of `arch`; other column sets are not checked.
fn check_layout_csv(path: &Path, arch: &ArchSpec) -> Result<()> {
    let table = read_metrics(path)?;
    let (Some(v), Some(s), Some(e)) = (
        table.col("varname"),
        table.col("start_idx"),
        table.col("end_idx"),
    ) else {
        return Ok(());
    };
    let layout = arch.layout()?;
    let mut expected = Vec::new();
    let mut pos = 0;
    for l in &layout.params {
        expected.push(("bias", pos, pos + l.out));
        pos += l.out;
        expected.push(("kernel", pos, pos + l.weight_len()));
        pos += l.weight_len();
    }
    if table.rows.len() != expected.len() {
        return Err(Error::format(
            path,
            format!(
                "{} variables; architecture '{}' has {}",
                table.rows.len(),
                arch.name,
                expected.len()
            ),
        ));
    }
    for (row, (kind, a, b)) in table.rows.iter().zip(&expected) {
        let range = (row[s].parse::<usize>().ok(), row[e].parse::<usize>().ok());
        if !row[v].contains(kind) || range != (Some(*a), Some(*b)) {
            return Err(Error::format(
                path,
                format!(
                    "variable '{}' spans {}..{}; expected a {kind} at {a}..{b}",
                    row[v], row[s], row[e]
                ),
            ));
        }
    }
    Ok(())
}
