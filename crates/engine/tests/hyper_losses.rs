//! The hyper-representation losses against PyTorch: values and gradients
//! (tests/reference/hyper_losses.json, written by scripts/reference/hyper_losses.py, which
//! writes the losses the way the reference repositories do).
//!
//! Every input is rebuilt here from the formula stored beside it,
//! `x[i] = Σ scale·sin(a·i + b)` over the flat row-major index (plus an optional offset).
//! Values are compared relatively (|got − want| / |want|); gradients relatively to the largest
//! reference entry (max |got − want| / max |want|). PyTorch ran in f64, we run in f32.
use std::collections::HashMap;

use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::arch::{ArchSpec, Layout};
use hyperzoo_engine::burn;
use hyperzoo_engine::hyper::loss::{
    BehaviourKind, LayerReduction, behaviour_loss, behaviour_per_model, layerwise_mse, masked_mse,
    mean_finite, mse, nt_xent, positive_alignment, positive_contrast,
};
use hyperzoo_engine::zoo::PopulationNet;
use serde::Deserialize;

/// Relative tolerance of the comparison (f32 against f64).
const TOL: f64 = 1e-5;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    loss: String,
    params: serde_json::Value,
    inputs: HashMap<String, Wave>,
    value: f64,
    grads: HashMap<String, Vec<f64>>,
    grad_summary: Option<Summary>,
}

#[derive(Deserialize)]
struct Wave {
    shape: Vec<usize>,
    wave: Vec<[f64; 3]>,
    #[serde(default)]
    offset: f64,
}

#[derive(Deserialize)]
struct Summary {
    norm: f64,
    probe_dot: f64,
    stride: usize,
    entries: Vec<f64>,
}

fn device() -> Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

fn wave_values(len: usize, terms: &[[f64; 3]], offset: f64) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let x: f64 = terms
                .iter()
                .map(|[s, a, b]| s * (a * i as f64 + b).sin())
                .sum();
            (x + offset) as f32
        })
        .collect()
}

impl Wave {
    fn values(&self) -> Vec<f32> {
        wave_values(self.shape.iter().product(), &self.wave, self.offset)
    }

    fn tensor<const D: usize>(&self, dev: &Device) -> Tensor<D> {
        let shape: [usize; D] = self.shape.clone().try_into().expect("rank");
        Tensor::from_data(TensorData::new(self.values(), shape), dev)
    }

    /// A leaf of the autodiff graph.
    fn leaf<const D: usize>(&self, dev: &Device) -> Tensor<D> {
        self.tensor::<D>(dev).autodiff().require_grad()
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn rel_value(got: f32, want: f64) -> f64 {
    (got as f64 - want).abs() / want.abs().max(1e-30)
}

/// max |got − want| / max |want|.
fn rel_vec(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "gradient length");
    let scale = want.iter().fold(0f64, |m, w| m.max(w.abs())).max(1e-30);
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

/// What one case produced: its value and the gradient of every input that has one.
struct Got {
    value: f32,
    grads: HashMap<String, Vec<f32>>,
}

fn kind_of(params: &serde_json::Value) -> BehaviourKind {
    match params["kind"].as_str().unwrap() {
        "softmax_mse" => BehaviourKind::SoftmaxMse,
        "distillation" => BehaviourKind::Distillation {
            t: params["t"].as_f64().unwrap(),
        },
        k => panic!("unknown behaviour kind {k}"),
    }
}

/// The mask of the masked-MSE case: `mask[b, w, t] = 1 if t < T − ((b + w) % 3)`.
fn token_mask(shape: &[usize]) -> Vec<f32> {
    let (bb, ww, tt) = (shape[0], shape[1], shape[2]);
    let mut m = Vec::with_capacity(bb * ww * tt);
    for b in 0..bb {
        for w in 0..ww {
            for t in 0..tt {
                m.push(if t < tt - ((b + w) % 3) { 1.0 } else { 0.0 });
            }
        }
    }
    m
}

fn run(case: &Case, dev: &Device) -> Got {
    let input = |name: &str| &case.inputs[name];
    let scalar = |t: Tensor<1>| t.clone().into_data().try_to_vec::<f32>().unwrap()[0];
    let mut grads = HashMap::new();
    let value;
    match case.loss.as_str() {
        "nt_xent" | "positive_contrast" | "positive_alignment" => {
            let tau = case.params["temperature"].as_f64().unwrap();
            let (zi, zj) = (input("z_i").leaf::<2>(dev), input("z_j").leaf::<2>(dev));
            let f = match case.loss.as_str() {
                "nt_xent" => nt_xent,
                "positive_contrast" => positive_contrast,
                _ => positive_alignment,
            };
            let loss = f(zi.clone(), zj.clone(), tau);
            value = scalar(loss.clone());
            let g = loss.backward();
            grads.insert("z_i".into(), to_vec(zi.grad(&g).unwrap()));
            grads.insert("z_j".into(), to_vec(zj.grad(&g).unwrap()));
        }
        "mse" => {
            let (o, t) = (
                input("output").leaf::<2>(dev),
                input("target").leaf::<2>(dev),
            );
            let loss = mse(o.clone(), t.clone());
            value = scalar(loss.clone());
            let g = loss.backward();
            grads.insert("output".into(), to_vec(o.grad(&g).unwrap()));
            grads.insert("target".into(), to_vec(t.grad(&g).unwrap()));
        }
        "masked_mse" => {
            let shape: [usize; 3] = input("output").shape.clone().try_into().unwrap();
            let mask_v = token_mask(&shape);
            let mask = Tensor::<3>::from_data(TensorData::new(mask_v.clone(), shape), dev);
            let target_v: Vec<f32> = input("target")
                .values()
                .iter()
                .zip(&mask_v)
                .map(|(t, m)| t * m)
                .collect();
            let t = Tensor::<3>::from_data(TensorData::new(target_v, shape), dev)
                .autodiff()
                .require_grad();
            let o = input("output").leaf::<3>(dev);
            let loss = masked_mse(o.clone(), t.clone(), mask.autodiff());
            value = scalar(loss.clone());
            let g = loss.backward();
            grads.insert("output".into(), to_vec(o.grad(&g).unwrap()));
            grads.insert("target".into(), to_vec(t.grad(&g).unwrap()));
        }
        "layerwise_mse" => {
            let layers: Vec<(usize, usize)> =
                serde_json::from_value(case.params["layers"].clone()).unwrap();
            let sigmas: Vec<f64> = serde_json::from_value(case.params["sigmas"].clone()).unwrap();
            let p = input("output").shape[1];
            let mut std = vec![1f32; p];
            for (&(o, l), &s) in layers.iter().zip(&sigmas) {
                std[o..o + l].fill(s as f32);
            }
            let std = Tensor::<1>::from_data(TensorData::new(std, [p]), dev).autodiff();
            let reduction = match case.params["reduction"].as_str().unwrap() {
                "global_mean" => LayerReduction::GlobalMean,
                _ => LayerReduction::LayerMean(layers),
            };
            let (o, t) = (
                input("output").leaf::<2>(dev),
                input("target").leaf::<2>(dev),
            );
            let loss = layerwise_mse(o.clone(), t.clone(), std, &reduction);
            value = scalar(loss.clone());
            let g = loss.backward();
            grads.insert("output".into(), to_vec(o.grad(&g).unwrap()));
            grads.insert("target".into(), to_vec(t.grad(&g).unwrap()));
        }
        "behaviour_logits" => {
            let y_rec = input("y_rec").leaf::<3>(dev);
            let y_orig = input("y_orig").tensor::<3>(dev).autodiff();
            let loss = mean_finite(behaviour_per_model(
                y_rec.clone(),
                y_orig,
                kind_of(&case.params),
            ));
            value = scalar(loss.clone());
            let g = loss.backward();
            grads.insert("y_rec".into(), to_vec(y_rec.grad(&g).unwrap()));
        }
        "behaviour_net" => {
            let spec = ArchSpec::builtin(case.params["arch"].as_str().unwrap()).unwrap();
            let act = case.params["activation"].as_str().unwrap().parse().unwrap();
            let net = PopulationNet::new(spec, act).unwrap();
            let rec = input("reconstructed").leaf::<2>(dev);
            // The original as a tracked leaf too: the loss must not give it a gradient.
            let orig = input("original").leaf::<2>(dev);
            let queries = input("queries").tensor::<4>(dev);
            let loss = behaviour_loss(
                &net,
                rec.clone(),
                orig.clone(),
                queries,
                kind_of(&case.params),
            )
            .unwrap();
            value = scalar(loss.clone());
            let g = loss.backward();
            assert!(
                orig.grad(&g).is_none(),
                "the original branch must carry no gradient"
            );
            grads.insert("reconstructed".into(), to_vec(rec.grad(&g).unwrap()));
        }
        other => panic!("no Rust side for reference case {other}"),
    }
    Got { value, grads }
}

#[test]
fn losses_and_gradients_match_pytorch() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/hyper_losses.json"
    ))
    .unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let dev = device();
    let mut worst = (0f64, 0f64);
    let mut failures = Vec::new();
    for case in &reference.cases {
        let label = format!("{} {}", case.loss, case.params);
        let got = run(case, &dev);
        let dv = rel_value(got.value, case.value);
        worst.0 = worst.0.max(dv);
        let mut line = format!("{label}: value rel diff {dv:.2e}");
        if dv > TOL {
            failures.push(format!("{label}: value {} vs {}", got.value, case.value));
        }
        for (name, want) in &case.grads {
            let dg = rel_vec(&got.grads[name], want);
            worst.1 = worst.1.max(dg);
            line += &format!(", grad {name} {dg:.2e}");
            if dg > TOL {
                failures.push(format!("{label}: gradient of {name} rel diff {dg:.2e}"));
            }
        }
        if let Some(s) = &case.grad_summary {
            let g = &got.grads["reconstructed"];
            let norm = g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            let probe = wave_values(g.len(), &[[1.0, 0.13, 0.0]], 0.0);
            let dot: f64 = g
                .iter()
                .zip(&probe)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let entries: Vec<f32> = g.iter().step_by(s.stride).copied().collect();
            let (dn, dd) = (
                rel_value(norm as f32, s.norm),
                (dot - s.probe_dot).abs() / s.norm,
            );
            let de = rel_vec(&entries, &s.entries);
            line += &format!(", grad norm {dn:.2e}, probe {dd:.2e}, entries {de:.2e}");
            worst.1 = worst.1.max(dn).max(dd).max(de);
            for (what, d) in [("norm", dn), ("probe dot", dd), ("entries", de)] {
                if d > TOL {
                    failures.push(format!("{label}: gradient {what} rel diff {d:.2e}"));
                }
            }
        }
        eprintln!("{line}");
    }
    eprintln!(
        "worst relative difference: values {:.2e}, gradients {:.2e}",
        worst.0, worst.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every loss of the module has a reference case.
    for loss in [
        "nt_xent",
        "positive_contrast",
        "positive_alignment",
        "mse",
        "masked_mse",
        "layerwise_mse",
        "behaviour_logits",
        "behaviour_net",
    ] {
        assert!(
            reference.cases.iter().any(|c| c.loss == loss),
            "no reference case for {loss}"
        );
    }
}

/// A network whose decoded weights are NaN neither poisons the loss (the softmax outputs are
/// tidied as [R25] does) nor the gradients of the other networks.
#[test]
fn behaviour_loss_survives_a_nan_network() {
    let dev = device();
    let net = PopulationNet::new(
        ArchSpec::builtin("tetris_mlp").unwrap(),
        "tanh".parse().unwrap(),
    )
    .unwrap();
    let layout: &Layout = net.layout();
    let p = layout.total;
    let mut w = wave_values(3 * p, &[[0.4, 0.37, 0.5]], 0.0);
    w[p..2 * p].fill(f32::NAN);
    let rec = Tensor::<2>::from_data(TensorData::new(w, [3, p]), &dev)
        .autodiff()
        .require_grad();
    let orig = Tensor::<2>::from_data(
        TensorData::new(wave_values(3 * p, &[[0.4, 0.37, 0.9]], 0.0), [3, p]),
        &dev,
    );
    let queries = Tensor::<4>::from_data(
        TensorData::new(wave_values(6 * 16, &[[0.5, 0.11, 0.7]], 0.5), [6, 1, 4, 4]),
        &dev,
    );
    for kind in [
        BehaviourKind::SoftmaxMse,
        BehaviourKind::Distillation { t: 2.0 },
    ] {
        let loss = behaviour_loss(&net, rec.clone(), orig.clone(), queries.clone(), kind).unwrap();
        let v: f32 = loss.clone().into_data().try_to_vec().unwrap()[0];
        assert!(v.is_finite() && v > 0.0, "{kind:?}: {v}");
        let g = to_vec(rec.grad(&loss.backward()).unwrap());
        assert!(g[..p].iter().chain(&g[2 * p..]).all(|x| x.is_finite()));
        assert!(g[..p].iter().any(|x| *x != 0.0));
    }
}
