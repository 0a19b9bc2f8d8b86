//! The downstream results of a trained run, written to its results.toml: linear probes from
//! the hyper-representation and from the baselines (W, s(W)) to every property, the
//! reconstruction of the test split (weights, and accuracy on test images), and, given another
//! zoo of the architecture, the probes scored there (out of distribution: R² and Kendall's τ).
//! Also the embeddings of every checkpoint, for notebooks.
use super::open::OpenedRun;
use super::{Env, Note, fail};
use crate::Result;
use crate::hyper::data::SplitData;
use crate::hyper::eval::{self, TargetValues};
use crate::hyper::model::HyperRep;
use crate::hyper::train::{Prepared, prepare};
use crate::zoo::dataset::TensorSet;
use burn::prelude::*;
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::probe::features::ColumnScaler;
use hyperzoo_core::probe::{evaluate_regression, kendall_tau, r2 as r2_score};
use hyperzoo_core::results::{Ood, Results};
use hyperzoo_core::zoo::store::Zoo;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What an evaluation computes.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// Test images (at most) to score original and reconstructed networks on.
    pub images: usize,
    /// Standardise probe features with the training split's statistics.
    pub standardize: bool,
    /// Another zoo of the architecture to score the probes on (a directory, or a zoo name in
    /// the workspace).
    pub other_zoo: Option<String>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            images: 10_000,
            standardize: false,
            other_zoo: None,
        }
    }
}

/// Evaluates the opened run and writes its results.toml (a `[generation]` table written by a
/// generation is kept) and accuracies.csv; returns the results. Checks `cancel` between its
/// stages.
pub fn evaluate(
    env: &Env,
    l: &OpenedRun,
    opts: &EvalOptions,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<Results> {
    let stop = || {
        if cancel.load(Ordering::SeqCst) {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    };
    let (zoo, prepared, model, dev) = (&l.zoo, &l.prepared, &l.model, &l.device.device);
    let batch = l.batch();
    on(Note::Info(format!(
        "evaluating {} ({}) on zoo {}",
        l.experiment.name,
        l.checkpoint.display(),
        zoo.manifest.name
    )));
    let mut emb = Vec::new();
    let mut dz = 0;
    for split in &prepared.splits {
        let (v, d) = eval::embed(model, split, &prepared.repr, batch, dev)?;
        emb.push(v);
        dz = d;
    }
    stop()?;
    let targets = [0, 1, 2].map(|k| eval::targets(zoo, &prepared.splits[k]));
    let rows_train = prepared.splits[0].len();
    let (emb, scaler) = probe_features([&emb[0], &emb[1], &emb[2]], rows_train, opts.standardize)?;
    on(Note::Info("probes: the embedding".into()));
    let mut probes = eval::probe_all("hyper", [&emb[0], &emb[1], &emb[2]], &targets);
    // SANE's per-layer embeddings.
    let mut layered = Vec::new();
    for split in &prepared.splits {
        if let Some((v, _)) = eval::embed_layers(model, split, &prepared.repr, batch, dev)? {
            layered.push(v);
        }
    }
    if let [l0, l1, l2] = layered.as_slice() {
        let (f, _) = probe_features([l0, l1, l2], rows_train, opts.standardize)?;
        probes.extend(eval::probe_all(
            "hyper-layers",
            [&f[0], &f[1], &f[2]],
            &targets,
        ));
    }
    stop()?;
    on(Note::Info("probes: the baselines".into()));
    let baselines = eval::baselines(prepared, zoo)?;
    for (name, f) in &baselines {
        let (f, _) = probe_features([&f[0], &f[1], &f[2]], rows_train, opts.standardize)?;
        probes.extend(eval::probe_all(name, [&f[0], &f[1], &f[2]], &targets));
    }
    stop()?;
    on(Note::Info("reconstruction of the test split".into()));
    let images = test_images(env, zoo, opts.images, dev)?;
    if images.is_none() {
        on(Note::Warning(format!(
            "no test accuracies of original and reconstructed networks: {}",
            super::no_data_reason(zoo)
        )));
    }
    let (reconstruction, accuracies) =
        eval::reconstruction(model, prepared, zoo, images.as_ref(), batch, dev)?;
    if !accuracies.is_empty() {
        hyperzoo_core::results::write_accuracies(l.run.dir(), &accuracies)?;
    }
    let mut ood = Vec::new();
    if let Some(other) = &opts.other_zoo {
        stop()?;
        on(Note::Info(format!("out of distribution: zoo {other}")));
        ood = out_of_distribution(
            env,
            other,
            &l.experiment,
            prepared,
            model,
            (&emb, scaler.as_ref()),
            &targets,
            dev,
        )?;
    }
    let generation = read_results_keeping_aside(l, on).and_then(|r| r.generation);
    let results = Results {
        run: l.experiment.name.clone(),
        zoo: zoo.manifest.name.clone(),
        checkpoint: l.checkpoint.display().to_string(),
        embedding_dim: dz,
        rows: [0, 1, 2].map(|k| prepared.splits[k].len()),
        standardized: opts.standardize,
        probes,
        reconstruction: Some(reconstruction),
        ood,
        generation,
    };
    l.run.write("results.toml", results.to_toml().as_bytes())?;
    Ok(results)
}

/// The run's results.toml as it is, if readable. An unreadable one is kept aside (not
/// overwritten unread) under a name no earlier unreadable file holds, and named in a warning.
fn read_results_keeping_aside(l: &OpenedRun, on: &mut dyn FnMut(Note<'_>)) -> Option<Results> {
    let results_path = l.run.path("results.toml");
    match Results::read(&results_path) {
        Ok(r) => r,
        Err(err) => {
            let aside = (0..)
                .map(|k| match k {
                    0 => l.run.path("results.toml.unreadable"),
                    k => l.run.path(&format!("results.toml.unreadable.{k}")),
                })
                .find(|p| !p.exists())
                .expect("an unused name");
            on(Note::Warning(
                match std::fs::rename(&results_path, &aside) {
                    Ok(()) => format!(
                        "{err}; kept as {} (its [generation] table, if any, is not carried over)",
                        aside.display()
                    ),
                    Err(e) => {
                        format!("{err}; it could not be kept aside ({e}) and will be replaced")
                    }
                },
            ));
            None
        }
    }
}

/// The first `images` test images of the zoo's dataset (none when hyperzoo cannot load it).
fn test_images(env: &Env, zoo: &Zoo, images: usize, dev: &Device) -> Result<Option<TensorSet>> {
    let Some((_, data)) = super::zoo_data(env, zoo, dev)? else {
        return Ok(None);
    };
    let n = data.test.len().min(images);
    Ok(Some(TensorSet {
        x: data.test.x.narrow(0, 0, n),
        y: data.test.y.narrow(0, 0, n),
    }))
}

/// Every checkpoint of another zoo (`other`: a directory, or a zoo name in the workspace) of
/// the run's architecture, selected by the run's experiment (epochs, weight filter) and
/// normalised with the run's own statistics, as one set of rows.
fn other_zoo_rows(
    env: &Env,
    other: &str,
    e: &Experiment,
    own: &Prepared,
) -> Result<(Zoo, SplitData)> {
    let ozoo = Zoo::open(&env.workspace.zoo_dir(other))?;
    if ozoo.manifest.params != own.splits[0].params {
        return Err(fail(format!(
            "zoo {} ({}, {} parameters) does not have the architecture of the run's zoo ({} parameters)",
            ozoo.manifest.name, ozoo.manifest.arch.name, ozoo.manifest.params, own.splits[0].params
        )));
    }
    let mut spec = super::spec::train_spec(e, &ozoo)?;
    spec.selection.max_models = None;
    let op = prepare(&spec, &ozoo)?;
    let mut all = op.splits[0].clone();
    for split in &op.splits[1..] {
        all.weights.extend_from_slice(&split.weights);
        all.model.extend_from_slice(&split.model);
        all.epoch.extend_from_slice(&split.epoch);
    }
    if let (Some(theirs), Some(ours)) = (&op.standardizer, &own.standardizer) {
        theirs.invert(&mut all.weights)?;
        ours.apply(&mut all.weights)?;
    }
    Ok((ozoo, all))
}

/// The three splits' features as the probes see them.
type SplitFeatures<'a> = [Cow<'a, [f64]>; 3];

/// The features of the three splits as the probes see them: as they are, or with
/// `standardize` standardized by the training split's statistics (the scaler is returned for
/// other rows, e.g. another zoo's embeddings). `rows_train` gives the column count. Raw
/// features are borrowed, not copied (the W baseline of a large zoo is big).
fn probe_features<'a>(
    f: [&'a [f64]; 3],
    rows_train: usize,
    standardize: bool,
) -> Result<(SplitFeatures<'a>, Option<ColumnScaler>)> {
    if !standardize || rows_train == 0 || f[0].is_empty() {
        return Ok((f.map(Cow::Borrowed), None));
    }
    let scaler = ColumnScaler::fit(f[0], f[0].len() / rows_train)?;
    let out = [
        Cow::Owned(scaler.apply(f[0])?),
        Cow::Owned(scaler.apply(f[1])?),
        Cow::Owned(scaler.apply(f[2])?),
    ];
    Ok((out, Some(scaler)))
}

#[allow(clippy::too_many_arguments)] // the run's model, data and probes, each distinct
fn out_of_distribution(
    env: &Env,
    other: &str,
    e: &Experiment,
    own: &Prepared,
    model: &HyperRep,
    (emb, scaler): (&SplitFeatures<'_>, Option<&ColumnScaler>),
    targets: &[Vec<(String, TargetValues)>; 3],
    device: &Device,
) -> Result<Vec<Ood>> {
    let (ozoo, all) = other_zoo_rows(env, other, e, own)?;
    let batch = e.train.batch_size.max(64);
    let (oemb, _) = eval::embed(model, &all, &own.repr, batch, device)?;
    // Standardized with the statistics of this zoo's training split, as the probe's inputs.
    let oemb = match scaler {
        Some(s) => s.apply(&oemb)?,
        None => oemb,
    };
    let otargets = eval::targets(&ozoo, &all);
    let mut out = Vec::new();
    for (k, (name, t)) in targets[0].iter().enumerate() {
        let (TargetValues::Numeric(train_y), Some((_, TargetValues::Numeric(oy)))) =
            (t, otargets.iter().find(|(n, _)| n == name))
        else {
            continue;
        };
        let val = match &targets[1][k].1 {
            TargetValues::Numeric(v) if !v.is_empty() => Some((&*emb[1], v.as_slice())),
            _ => None,
        };
        let Ok(report) = evaluate_regression((&emb[0], train_y), val, (&emb[0], train_y)) else {
            continue;
        };
        let Ok(pred) = report.probe.predict(&oemb) else {
            continue;
        };
        let keep: Vec<usize> = (0..oy.len()).filter(|&i| oy[i].is_finite()).collect();
        let p: Vec<f64> = keep.iter().map(|&i| pred[i]).collect();
        let y: Vec<f64> = keep.iter().map(|&i| oy[i]).collect();
        out.push(Ood {
            zoo: ozoo.manifest.name.clone(),
            property: name.clone(),
            method: "hyper".into(),
            r2: r2_score(&p, &y),
            kendall_tau: kendall_tau(&p, &y),
        });
    }
    Ok(out)
}

/// What [`embed`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// `<out>.safetensors`: `embeddings`, f32 `[rows, dim]`.
    pub safetensors: PathBuf,
    /// `<out>.csv`: one row per checkpoint.
    pub csv: PathBuf,
    /// Checkpoints embedded.
    pub rows: usize,
    /// Embedding dimensions.
    pub dim: usize,
    /// The zoo embedded.
    pub zoo: String,
}

/// The embedding of every checkpoint of the run's zoo (all splits), or with `other_zoo` of
/// every checkpoint of another zoo of the architecture (normalised with the run's statistics),
/// to `<out>.safetensors` (`embeddings` f32 `[rows, dim]`) and `<out>.csv` (row, model id,
/// split, epoch, properties and hyperparameters).
pub fn embed(env: &Env, l: &OpenedRun, out: &Path, other_zoo: Option<&str>) -> Result<Embedded> {
    let batch = l.batch();
    let st = out.with_extension("safetensors");
    let csv_path = out.with_extension("csv");
    let other = match other_zoo {
        Some(z) => Some(other_zoo_rows(env, z, &l.experiment, &l.prepared)?),
        None => None,
    };
    let (zoo, sets): (&Zoo, Vec<&SplitData>) = match &other {
        Some((z, rows)) => (z, vec![rows]),
        None => (&l.zoo, l.prepared.splits.iter().collect()),
    };
    let hp: Vec<String> = zoo
        .models
        .first()
        .map(|m| m.hparams.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "row",
        "id",
        "split",
        "epoch",
        "test_acc",
        "train_acc",
        "ggap",
    ]
    .map(String::from)
    .to_vec();
    header.extend(hp.iter().cloned());
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| fail(format!("writing {}: {e}", csv_path.display()));
    w.write_record(&header).map_err(csv_err)?;
    let rec: std::collections::HashMap<(usize, usize), &hyperzoo_core::zoo::store::Record> =
        zoo.records.iter().map(|r| ((r.id, r.epoch), r)).collect();
    let (mut all, mut row, mut dz) = (Vec::new(), 0, 0);
    for data in sets {
        let (v, d) = eval::embed(&l.model, data, &l.prepared.repr, batch, &l.device.device)?;
        dz = d;
        all.extend(v.iter().map(|&x| x as f32));
        for i in 0..data.len() {
            let (id, epoch) = (data.model[i], data.epoch[i]);
            let r = rec.get(&(id, epoch));
            let f = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            let mut fields = vec![
                row.to_string(),
                id.to_string(),
                zoo.models[id].split.name().to_string(),
                epoch.to_string(),
                f(r.map(|r| r.test_acc)),
                f(r.map(|r| r.train_acc)),
                f(r.map(|r| r.ggap)),
            ];
            fields.extend(
                hp.iter()
                    .map(|k| zoo.models[id].get(k).unwrap_or("").to_string()),
            );
            w.write_record(&fields).map_err(csv_err)?;
            row += 1;
        }
    }
    hyperzoo_core::zoo::store::write_tensors(&st, &[("embeddings", &all, vec![row, dz])])?;
    let bytes = w
        .into_inner()
        .map_err(|e| fail(format!("writing {}: {e}", csv_path.display())))?;
    hyperzoo_core::fsutil::write_atomic(&csv_path, &bytes)?;
    Ok(Embedded {
        safetensors: st,
        csv: csv_path,
        rows: row,
        dim: dz,
        zoo: zoo.manifest.name.clone(),
    })
}
