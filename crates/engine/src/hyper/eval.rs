//! Evaluation of a trained hyper-representation (reference.md §7): embeddings of every
//! checkpoint of each model split, linear probes from embeddings and from the baselines (W,
//! s(W)) to the models' properties, and the reconstruction of the test split (weight R², and the
//! decoded networks run on the zoo's test images against the originals).
use super::data::{Representation, SplitData, clean};
use super::model::HyperRep;
use super::nn::Ctx;
use super::train::{Prepared, r2, reconstruct};
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
use serde::{Deserialize, Serialize};
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
    let starts = super::data::window_starts(repr);
    let ids: Vec<usize> = (0..data.len()).collect();
    let mut out: Vec<f64> = Vec::new();
    let mut dz = 0;
    for chunk in ids.chunks(batch.max(1)) {
        let mut acc: Option<Vec<f64>> = None;
        for &start in &starts {
            let b = clean(data, chunk, repr, start)?;
            let x = Tensor::<3>::from_data(TensorData::new(b.x.clone(), b.shape), device);
            let pos = b.pos.as_ref().map(|p| {
                Tensor::<3, Int>::from_data(
                    TensorData::new(p.clone(), [b.shape[0], b.shape[1], 3]),
                    device,
                )
            });
            let z = HyperRep::embed(model.encode(x, pos, &mut Ctx::eval()));
            dz = z.dims()[1];
            let v: Vec<f32> = z.into_data().try_to_vec().map_err(|e| Error::Shape {
                what: "embeddings".into(),
                found: format!("{e:?}"),
                expected: "f32".into(),
            })?;
            let a = acc.get_or_insert_with(|| vec![0.0; v.len()]);
            for (s, x) in a.iter_mut().zip(v) {
                *s += f64::from(x) / starts.len() as f64;
            }
        }
        out.extend(acc.unwrap_or_default());
    }
    Ok((out, dz))
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

/// One probe result: property × method, scores per split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The property.
    pub property: String,
    /// `hyper` (the embedding), `W` or `s(W)`.
    pub method: String,
    /// `r2` (ridge regression) or `accuracy` (linear classifier).
    pub metric: String,
    /// Score on the training split.
    pub train: f64,
    /// Score on the validation split.
    pub val: Option<f64>,
    /// Score on the test split.
    pub test: f64,
    /// Kendall's τ between test targets and predictions (regression).
    pub kendall_tau: Option<f64>,
    /// Selected ridge α (regression).
    pub alpha: Option<f64>,
}

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

/// Distribution summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Smallest.
    pub min: f64,
    /// 25th percentile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub q75: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Quantiles {
    /// Of the finite values of `v`.
    pub fn of(v: &[f64]) -> Quantiles {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let q = |p: f64| hyperzoo_core::probe::features::percentile(&s, p);
        Quantiles {
            min: q(0.0),
            q25: q(25.0),
            median: q(50.0),
            q75: q(75.0),
            max: q(100.0),
            mean: s.iter().sum::<f64>() / s.len().max(1) as f64,
        }
    }
}

/// Reconstruction of the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// Checkpoints reconstructed.
    pub checkpoints: usize,
    /// Weight R² (normalised weights, against predicting the split's mean).
    pub weight_r2: f64,
    /// Weight MSE (normalised weights).
    pub weight_mse: f64,
    /// Mean L2 distance between original and reconstructed weights (raw).
    pub l2_mean: f64,
    /// Test images the networks were run on (0 when the zoo's dataset is not available).
    pub images: usize,
    /// Test accuracy of the original networks.
    pub acc_original: Option<Quantiles>,
    /// Test accuracy of the reconstructed networks.
    pub acc_reconstructed: Option<Quantiles>,
    /// Fraction of test images on which a reconstruction predicts what its original does.
    pub agreement: Option<Quantiles>,
}

/// Accuracy of each network (rows of `weights`, raw flat) on `images`, and its predictions.
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
    let mut groups: BTreeMap<Activation, Vec<usize>> = BTreeMap::new();
    for (i, &a) in activations.iter().enumerate() {
        groups.entry(a).or_default().push(i);
    }
    for (act, rows) in groups {
        let net = PopulationNet::new(zoo.manifest.arch.clone(), act)?;
        for chunk in rows.chunks(64) {
            let w: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| weights[i * p..(i + 1) * p].iter().copied())
                .collect();
            let w = Tensor::<2>::from_data(TensorData::new(w, [chunk.len(), p]), device);
            let logits = net.forward(w, crate::zoo::Input::Shared(images.x.clone()), None)?;
            let pred: Vec<i64> = logits
                .argmax(2)
                .into_data()
                .convert::<i64>()
                .try_to_vec()
                .map_err(|e| Error::Shape {
                    what: "predictions".into(),
                    found: format!("{e:?}"),
                    expected: "i64".into(),
                })?;
            let b = labels.len();
            for (k, &i) in chunk.iter().enumerate() {
                let pr = pred[k * b..(k + 1) * b].to_vec();
                acc[i] = pr.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / b as f64;
                preds[i] = pr;
            }
        }
    }
    Ok((acc, preds))
}

/// Reconstructs the test split and, with `images`, compares the decoded networks' accuracy
/// and predictions with the originals'.
pub fn reconstruction(
    model: &HyperRep,
    prepared: &Prepared,
    zoo: &Zoo,
    images: Option<&TensorSet>,
    batch: usize,
    device: &Device,
) -> Result<Reconstruction> {
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
        out.acc_original = Some(Quantiles::of(&a_orig));
        out.acc_reconstructed = Some(Quantiles::of(&a_rec));
        out.agreement = Some(Quantiles::of(&agree));
    }
    Ok(out)
}

/// Raw (de-normalised) weights of a split.
pub fn raw_weights(prepared: &Prepared, split: usize) -> Result<Vec<f32>> {
    let mut w = prepared.splits[split].weights.clone();
    if let Some(s) = &prepared.standardizer {
        s.invert(&mut w)?;
    }
    Ok(w)
}

/// The baseline features of the three splits: (name, [train, val, test]).
pub fn baselines(prepared: &Prepared, zoo: &Zoo) -> Result<Vec<(String, [Vec<f64>; 3])>> {
    let layout = zoo.manifest.arch.layout()?;
    let raw: Vec<Vec<f32>> = (0..3)
        .map(|k| raw_weights(prepared, k))
        .collect::<Result<_>>()?;
    let w = |k: usize| -> Result<Vec<f64>> { Ok(features::flat(&raw[k], &layout)?.data) };
    let s = |k: usize| -> Result<Vec<f64>> { Ok(features::stats(&raw[k], &layout, true)?.data) };
    Ok(vec![
        ("W".to_string(), [w(0)?, w(1)?, w(2)?]),
        ("s(W)".to_string(), [s(0)?, s(1)?, s(2)?]),
    ])
}
