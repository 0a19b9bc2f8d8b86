//! Evaluation of a trained hyper-representation (reference.md §7): embeddings of every
//! checkpoint of each model split, linear probes from embeddings and from the baselines (W,
//! s(W)) to the models' properties, and the reconstruction of the test split (weight R², and the
//! decoded networks run on the zoo's test images against the originals).
use super::data::{Representation, SplitData, clean};
use super::model::HyperRep;
use super::nn::Ctx;
use super::tensors::{positions, tensor3};
use super::train::Prepared;
use crate::zoo::PopulationNet;
use crate::zoo::dataset::TensorSet;
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::arch::Activation;
use hyperzoo_core::probe::{
    ClassifierConfig, evaluate_classification, evaluate_regression, features,
};
use hyperzoo_core::zoo::store::Zoo;
use std::collections::{BTreeMap, HashMap};

/// Embeddings `[rows, dz]` (f64) of every row of `data`: the latent (2021, FC) or the mean over
/// tokens (SANE; over all windows when the sequence is longer than the window).
pub fn embed(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<(Vec<f64>, usize)> {
    let (e, dz, _) = embed_impl(model, data, repr, batch, device, false)?;
    Ok((e, dz))
}

/// SANE's per-layer embeddings `[rows, layers·dz]`: for every parametric layer, the mean of the
/// token latents of that layer's tokens (each token counted once over the windows), layers
/// concatenated in layout order. `None` for the 2021 and FC models, which have no token per
/// layer.
pub fn embed_layers(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<Option<(Vec<f64>, usize)>> {
    if !matches!(repr, Representation::Sane { .. }) {
        return Ok(None);
    }
    Ok(embed_impl(model, data, repr, batch, device, true)?.2)
}

/// A named group of networks' test accuracies (a column group of accuracies.csv).
pub type AccuracyGroup = (String, Vec<f64>);

type Embedded = (Vec<f64>, usize, Option<(Vec<f64>, usize)>);

fn to_f32<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data().try_to_vec().map_err(|e| Error::Shape {
        what: what.into(),
        found: format!("{e:?}"),
        expected: "f32".into(),
    })
}

fn embed_impl(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
    per_layer: bool,
) -> Result<Embedded> {
    let starts = super::data::window_starts(repr);
    let layers = match repr {
        Representation::Sane { tokenizer, .. } => tokenizer.layers().len(),
        Representation::Flat => 0,
    };
    let ids: Vec<usize> = (0..data.len()).collect();
    let mut out: Vec<f64> = Vec::new();
    let mut out_layers: Vec<f64> = Vec::new();
    let mut dz = 0;
    for chunk in ids.chunks(batch.max(1)) {
        let mut acc: Option<Vec<f64>> = None;
        // Per row and layer: sums of token latents and token counts.
        let mut lsum: Vec<f64> = Vec::new();
        let mut lcount: Vec<usize> = Vec::new();
        let mut covered = 0; // tokens of the sequence already counted per layer
        for &start in &starts {
            let b = clean(data, chunk, repr, start)?;
            let x = Tensor::<3>::from_data(TensorData::new(b.x.clone(), b.shape), device);
            let pos = b.pos.as_ref().map(|p| {
                Tensor::<3, Int>::from_data(
                    TensorData::new(p.clone(), [b.shape[0], b.shape[1], 3]),
                    device,
                )
            });
            let tokens = model.encode(x, pos, &mut Ctx::eval());
            if per_layer && let Some(p) = &b.pos {
                let [rows, t, d] = tokens.dims();
                let v = to_f32(tokens.clone(), "token latents")?;
                if lsum.is_empty() {
                    lsum = vec![0.0; rows * layers * d];
                    lcount = vec![0; rows * layers];
                }
                for r in 0..rows {
                    for j in 0..t {
                        if start + j < covered {
                            continue; // seen in the previous window
                        }
                        let l = p[(r * t + j) * 3 + 1] as usize;
                        lcount[r * layers + l] += 1;
                        let src = &v[(r * t + j) * d..(r * t + j + 1) * d];
                        let dst = &mut lsum[(r * layers + l) * d..(r * layers + l + 1) * d];
                        for (s, x) in dst.iter_mut().zip(src) {
                            *s += f64::from(*x);
                        }
                    }
                }
                covered = start + t;
            }
            let z = HyperRep::embed(tokens);
            dz = z.dims()[1];
            let v = to_f32(z, "embeddings")?;
            let a = acc.get_or_insert_with(|| vec![0.0; v.len()]);
            for (s, x) in a.iter_mut().zip(v) {
                *s += f64::from(x) / starts.len() as f64;
            }
        }
        out.extend(acc.unwrap_or_default());
        if per_layer {
            for (k, c) in lcount.iter().enumerate() {
                for s in &mut lsum[k * dz..(k + 1) * dz] {
                    *s /= (*c).max(1) as f64;
                }
            }
            out_layers.extend(lsum);
        }
    }
    let layered = per_layer.then_some((out_layers, layers * dz));
    Ok((out, dz, layered))
}

/// A property of the models to predict.
#[derive(Debug, Clone)]
pub enum TargetValues {
    /// Regressed.
    Numeric(Vec<f64>),
    /// Classified.
    Categorical(Vec<String>),
}

/// The properties of every row of `data`: test accuracy, generalization gap, epoch, and every
/// hyperparameter column of models.csv that varies (numeric ones regressed, others classified;
/// the seed and the source name are identities, not properties, and are left out).
pub fn targets(zoo: &Zoo, data: &SplitData) -> Vec<(String, TargetValues)> {
    let rec: HashMap<(usize, usize), &hyperzoo_core::zoo::store::Record> =
        zoo.records.iter().map(|r| ((r.id, r.epoch), r)).collect();
    let get = |f: fn(&hyperzoo_core::zoo::store::Record) -> f64| {
        (0..data.len())
            .map(|i| {
                rec.get(&(data.model[i], data.epoch[i]))
                    .map_or(f64::NAN, |r| f(r))
            })
            .collect::<Vec<f64>>()
    };
    let mut out = vec![
        (
            "test_acc".to_string(),
            TargetValues::Numeric(get(|r| r.test_acc)),
        ),
        ("ggap".to_string(), TargetValues::Numeric(get(|r| r.ggap))),
        (
            "epoch".to_string(),
            TargetValues::Numeric(data.epoch.iter().map(|&e| e as f64).collect()),
        ),
    ];
    let Some(first) = zoo.models.first() else {
        return out;
    };
    for (key, _) in &first.hparams {
        // The seed identifies a network; it is not a property a probe could learn.
        if key == "source" || key == "seed" {
            continue;
        }
        let all: Vec<&str> = zoo.models.iter().filter_map(|m| m.get(key)).collect();
        let distinct: std::collections::BTreeSet<&str> = all.iter().copied().collect();
        if distinct.len() < 2 {
            continue;
        }
        let values: Vec<&str> = (0..data.len())
            .map(|i| zoo.models[data.model[i]].get(key).unwrap_or(""))
            .collect();
        let numeric = distinct.iter().all(|v| v.parse::<f64>().is_ok());
        out.push((
            key.clone(),
            if numeric {
                TargetValues::Numeric(
                    values
                        .iter()
                        .map(|v| v.parse().unwrap_or(f64::NAN))
                        .collect(),
                )
            } else {
                TargetValues::Categorical(values.iter().map(|v| v.to_string()).collect())
            },
        ));
    }
    out
}

pub use hyperzoo_core::results::{Probe as ProbeResult, Quantiles, Reconstruction};

fn split_targets(all: &[Vec<(String, TargetValues)>; 3], k: usize) -> [&TargetValues; 3] {
    [&all[0][k].1, &all[1][k].1, &all[2][k].1]
}

/// Probes from `features` (per split, row-major `[rows, F]`) to every property.
pub fn probe_all(
    method: &str,
    features: [&[f64]; 3],
    targets: &[Vec<(String, TargetValues)>; 3],
) -> Vec<ProbeResult> {
    let mut out = Vec::new();
    let has_val = !targets[1].is_empty()
        && match &targets[1][0].1 {
            TargetValues::Numeric(v) => !v.is_empty(),
            TargetValues::Categorical(v) => !v.is_empty(),
        };
    for (k, (name, _)) in targets[0].iter().enumerate() {
        let [tr, va, te] = split_targets(targets, k);
        let result = match (tr, va, te) {
            (TargetValues::Numeric(a), TargetValues::Numeric(b), TargetValues::Numeric(c)) => {
                evaluate_regression(
                    (features[0], a),
                    has_val.then_some((features[1], b.as_slice())),
                    (features[2], c),
                )
                .map(|r| ProbeResult {
                    property: name.clone(),
                    method: method.into(),
                    metric: "r2".into(),
                    train: r.r2_train,
                    val: r.r2_val,
                    test: r.r2_test,
                    kendall_tau: Some(r.kendall_tau_test),
                    alpha: Some(r.probe.alpha),
                })
            }
            (
                TargetValues::Categorical(a),
                TargetValues::Categorical(b),
                TargetValues::Categorical(c),
            ) => evaluate_classification(
                (features[0], a),
                has_val.then_some((features[1], b.as_slice())),
                (features[2], c),
                &ClassifierConfig::default(),
            )
            .map(|r| ProbeResult {
                property: name.clone(),
                method: method.into(),
                metric: "accuracy".into(),
                train: r.acc_train,
                val: r.acc_val,
                test: r.acc_test,
                kendall_tau: None,
                alpha: None,
            }),
            _ => continue,
        };
        if let Ok(r) = result {
            out.push(r);
        }
    }
    out
}

/// [RS]'s batch-norm conditioning of decoded or generated networks (reference.md §8.2, step 6):
/// `passes` forward passes in training mode, without gradients, on consecutive batches of
/// `batch` of `images` (wrapping around), each moving every batch norm's running mean and
/// variance towards the batch's by its momentum, as PyTorch's `model.train()` forward does.
/// Decoded running statistics rarely fit decoded weights; these do. Returns false, changing
/// nothing, for an architecture without batch norms.
pub fn condition_batch_norms(
    arch: &hyperzoo_core::arch::ArchSpec,
    weights: &mut [f32],
    activations: &[Activation],
    images: &TensorSet,
    passes: usize,
    batch: usize,
    device: &Device,
) -> Result<bool> {
    let layout = arch.layout()?;
    if !layout.has_batch_norm() || passes == 0 || images.is_empty() {
        return Ok(false);
    }
    let p = layout.total;
    let batch = batch.clamp(1, images.len());
    let mut conditioned = Vec::new();
    populations(arch, weights, activations, device, |net, chunk, mut w| {
        let n = chunk.len();
        let mut from = 0;
        for pass in 0..passes {
            if from + batch > images.len() {
                from = 0;
            }
            let x = images.x.clone().narrow(0, from, batch);
            from += batch;
            let mode = crate::zoo::Dropout {
                p: vec![0.0; n],
                seeds: vec![0; n],
                step: pass as u64,
            };
            let (_, stats) =
                net.forward_training(w.clone(), crate::zoo::Input::Shared(x), &mode)?;
            w = net.update_running_stats(w, &stats);
        }
        let w: Vec<f32> = w.into_data().try_to_vec().map_err(|e| Error::Shape {
            what: "conditioned weights".into(),
            found: format!("{e:?}"),
            expected: "f32".into(),
        })?;
        conditioned.push((chunk.to_vec(), w));
        Ok(())
    })?;
    for (chunk, w) in conditioned {
        for (k, &i) in chunk.iter().enumerate() {
            weights[i * p..(i + 1) * p].copy_from_slice(&w[k * p..(k + 1) * p]);
        }
    }
    Ok(true)
}

/// Images run through the networks at once when scoring them (bounds the activations' memory).
const EVAL_IMAGES: usize = 500;

/// Accuracy of each network (rows of `weights`, raw flat) on `images`, and its predictions.
/// Networks go 64 at a time and images [`EVAL_IMAGES`] at a time, so memory stays bounded
/// whatever the zoo and the image count.
pub fn accuracies(
    zoo: &Zoo,
    weights: &[f32],
    activations: &[Activation],
    images: &TensorSet,
    device: &Device,
) -> Result<(Vec<f64>, Vec<Vec<i64>>)> {
    let p = zoo.manifest.params;
    let n = weights.len() / p;
    let labels: Vec<i64> = images
        .y
        .clone()
        .into_data()
        .try_to_vec()
        .map_err(|e| Error::Shape {
            what: "labels".into(),
            found: format!("{e:?}"),
            expected: "i64".into(),
        })?;
    let mut acc = vec![f64::NAN; n];
    let mut preds = vec![Vec::new(); n];
    populations(
        &zoo.manifest.arch,
        weights,
        activations,
        device,
        |net, chunk, w| {
            // Images in chunks too: the activations of 64 networks on every image at once
            // outgrew memory (10,000 MNIST images: ~14 GB for CNN-s); a chunk of
            // EVAL_IMAGES keeps them under a gigabyte.
            let b = labels.len();
            let mut pred = vec![Vec::with_capacity(b); chunk.len()];
            let mut from = 0;
            while from < b {
                let m = EVAL_IMAGES.min(b - from);
                let x = images.x.clone().narrow(0, from, m);
                let logits = net.forward(w.clone(), crate::zoo::Input::Shared(x), None)?;
                let part: Vec<i64> = logits
                    .argmax(2)
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec()
                    .map_err(|e| Error::Shape {
                        what: "predictions".into(),
                        found: format!("{e:?}"),
                        expected: "i64".into(),
                    })?;
                for (k, pr) in pred.iter_mut().enumerate() {
                    pr.extend_from_slice(&part[k * m..(k + 1) * m]);
                }
                from += m;
            }
            for (k, &i) in chunk.iter().enumerate() {
                let pr = std::mem::take(&mut pred[k]);
                acc[i] = pr.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / b as f64;
                preds[i] = pr;
            }
            Ok(())
        },
    )?;
    Ok((acc, preds))
}

/// Runs `f(net, rows, w)` over the networks of `weights` (raw flat rows of `arch`) in
/// populations of at most 64 that share an activation, `w` holding those rows as `[rows, P]`.
fn populations(
    arch: &hyperzoo_core::arch::ArchSpec,
    weights: &[f32],
    activations: &[Activation],
    device: &Device,
    mut f: impl FnMut(&PopulationNet, &[usize], Tensor<2>) -> Result<()>,
) -> Result<()> {
    let p = arch.param_count()?;
    let mut groups: BTreeMap<Activation, Vec<usize>> = BTreeMap::new();
    for (i, &a) in activations.iter().enumerate() {
        groups.entry(a).or_default().push(i);
    }
    for (act, rows) in groups {
        let net = PopulationNet::new(arch.clone(), act)?;
        for chunk in rows.chunks(64) {
            let w: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| weights[i * p..(i + 1) * p].iter().copied())
                .collect();
            f(
                &net,
                chunk,
                Tensor::<2>::from_data(TensorData::new(w, [chunk.len(), p]), device),
            )?;
        }
    }
    Ok(())
}

/// Reconstructs the test split and, with `images`, compares the decoded networks' accuracy
/// and predictions with the originals'. Also returns the accuracy of every network as groups
/// `original` and `reconstructed` (empty without images), for accuracies.csv.
pub fn reconstruction(
    model: &HyperRep,
    prepared: &Prepared,
    zoo: &Zoo,
    images: Option<&TensorSet>,
    batch: usize,
    device: &Device,
) -> Result<(Reconstruction, Vec<AccuracyGroup>)> {
    let test = &prepared.splits[2];
    let recon = reconstruct(model, test, &prepared.repr, batch, device)?;
    let (mse, wr2) = r2(test, &recon);
    let mut orig_raw = test.weights.clone();
    let mut rec_raw = recon;
    if let Some(s) = &prepared.standardizer {
        s.invert(&mut orig_raw)?;
        s.invert(&mut rec_raw)?;
    }
    let p = test.params;
    let l2: Vec<f64> = (0..test.len())
        .map(|i| {
            (0..p)
                .map(|j| f64::from(orig_raw[i * p + j] - rec_raw[i * p + j]).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mut out = Reconstruction {
        checkpoints: test.len(),
        weight_r2: wr2,
        weight_mse: mse,
        l2_mean: l2.iter().sum::<f64>() / l2.len().max(1) as f64,
        images: 0,
        acc_original: None,
        acc_reconstructed: None,
        agreement: None,
    };
    if let Some(images) = images {
        let acts: Vec<Activation> = test
            .model
            .iter()
            .map(|&m| prepared.activations[m])
            .collect();
        let (a_orig, p_orig) = accuracies(zoo, &orig_raw, &acts, images, device)?;
        let (a_rec, p_rec) = accuracies(zoo, &rec_raw, &acts, images, device)?;
        let agree: Vec<f64> = p_orig
            .iter()
            .zip(&p_rec)
            .map(|(a, b)| {
                a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
            })
            .collect();
        out.images = images.len();
        out.acc_original = Quantiles::of(&a_orig);
        out.acc_reconstructed = Quantiles::of(&a_rec);
        out.agreement = Quantiles::of(&agree);
        return Ok((
            out,
            vec![("original".into(), a_orig), ("reconstructed".into(), a_rec)],
        ));
    }
    Ok((out, Vec::new()))
}

/// Raw (de-normalised) weights of a split.
pub fn raw_weights(prepared: &Prepared, split: usize) -> Result<Vec<f32>> {
    let mut w = prepared.splits[split].weights.clone();
    if let Some(s) = &prepared.standardizer {
        s.invert(&mut w)?;
    }
    Ok(w)
}

/// The baseline features of the three splits: (name, [train, val, test]): `W` (the flat
/// weights), `s(W)` (per-layer mean, variance and percentiles of weights and biases), `s(W)-56`
/// (Unterthiner et al.'s per-layer statistics) and `spectral` (WeightWatcher's per-layer
/// spectral metrics, as SANE compares against). Non-finite feature values (a spectral fit of a
/// degenerate matrix) are set to 0 so that one network cannot void a probe.
pub fn baselines(prepared: &Prepared, zoo: &Zoo) -> Result<Vec<(String, [Vec<f64>; 3])>> {
    let layout = zoo.manifest.arch.layout()?;
    let raw: Vec<Vec<f32>> = (0..3)
        .map(|k| raw_weights(prepared, k))
        .collect::<Result<_>>()?;
    type Extract =
        fn(&[f32], &hyperzoo_core::arch::Layout) -> hyperzoo_core::Result<features::FeatureMatrix>;
    let methods: [(&str, Extract); 4] = [
        ("W", |w, l| features::flat(w, l)),
        ("s(W)", |w, l| features::stats(w, l, true)),
        ("s(W)-56", |w, l| features::unterthiner(w, l)),
        ("spectral", |w, l| features::spectral(w, l)),
    ];
    let mut out = Vec::new();
    for (name, f) in methods {
        let mut splits: [Vec<f64>; 3] = Default::default();
        for (k, split) in splits.iter_mut().enumerate() {
            let mut v = f(&raw[k], &layout)?.data;
            v.iter_mut()
                .filter(|x| !x.is_finite())
                .for_each(|x| *x = 0.0);
            *split = v;
        }
        out.push((name.to_string(), splits));
    }
    Ok(out)
}

/// Reconstructions of every row of `data` in flat, normalised layout (`[rows, P]`, on the
/// CPU), from an evaluation-mode model. SANE sequences longer than the window are covered by
/// consecutive windows (the last one ending at the sequence's end).
pub fn reconstruct(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let p = data.params;
    let mut out = vec![0f32; data.len() * p];
    let starts = super::data::window_starts(repr);
    let ids: Vec<usize> = (0..data.len()).collect();
    for chunk in ids.chunks(batch.max(1)) {
        for &start in &starts {
            let b = clean(data, chunk, repr, start)?;
            let x = tensor3(b.x.clone(), b.shape, device);
            let pos = positions(&b, device);
            let mut ctx = Ctx::eval();
            let z = model.encode(x, pos.clone(), &mut ctx);
            let y: Vec<f32> = model
                .decode(z, pos, &mut ctx)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Shape {
                    what: "reconstruction".into(),
                    found: format!("{e:?}"),
                    expected: "f32 data".into(),
                })?;
            match repr {
                Representation::Flat => {
                    for (k, &i) in chunk.iter().enumerate() {
                        out[i * p..(i + 1) * p].copy_from_slice(&y[k * p..(k + 1) * p]);
                    }
                }
                Representation::Sane {
                    tokenizer,
                    window,
                    param_of_slot,
                    ..
                } => {
                    let ts = tokenizer.token_size();
                    let (lo, hi) = (start * ts, (start + window) * ts);
                    let per = window * ts;
                    for (k, &i) in chunk.iter().enumerate() {
                        for (s, &j) in param_of_slot[lo..hi].iter().enumerate() {
                            if j != u32::MAX {
                                out[i * p + j as usize] = y[k * per + s];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Reconstruction MSE and R² (1 − SSE / SS around the data's own mean) of `recon` against
/// `data` (both normalised, flat).
pub fn r2(data: &SplitData, recon: &[f32]) -> (f64, f64) {
    let p = data.params;
    let n = data.len();
    let mut mean = vec![0f64; p];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(data.row(i)) {
            *m += f64::from(v) / n as f64;
        }
    }
    let (mut sse, mut sst) = (0f64, 0f64);
    for i in 0..n {
        for (j, &v) in data.row(i).iter().enumerate() {
            sse += (f64::from(recon[i * p + j]) - f64::from(v)).powi(2);
            sst += (f64::from(v) - mean[j]).powi(2);
        }
    }
    let mse = sse / (n * p).max(1) as f64;
    (mse, if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN })
}
