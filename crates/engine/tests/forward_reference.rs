//! The population forward against PyTorch (tests/reference/population_forward.json, written by
//! scripts/reference/population_forward.py), and against itself run one network at a time.
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::arch::{ArchSpec, Layout};
use hyperzoo_engine::burn;
use hyperzoo_engine::zoo::native::{self, NativeNet};
use hyperzoo_engine::zoo::train::per_model_cross_entropy;
use hyperzoo_engine::zoo::{Dropout, Input, PopulationNet};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    models: usize,
    batch: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    arch: String,
    activation: String,
    params: usize,
    scales: Vec<f64>,
    #[serde(default)]
    offsets: Vec<f64>,
    /// Batch norm on the batch's statistics (PyTorch's train mode).
    #[serde(default)]
    training: bool,
    /// In training: every batch norm's running mean and variance after the forward pass, per
    /// model, layer by layer.
    #[serde(default)]
    running: Vec<f64>,
    /// The weights' sequence: "sin" (default) or "hash" (see [`reference_weights`]).
    #[serde(default)]
    weights: Option<String>,
    logits: Vec<f64>,
    classes: usize,
}

fn device() -> Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

/// The script's weights: tensor t of model n at flat index i is offset[t] + scale[t] * s(i, n)
/// (offsets 0 where the case has none), with s = sin(0.37 i + 1.1 n + 0.5), or for "hash"
/// s = 2 (h - floor(h)) - 1, h = 43758.5453 sin(12.9898 (i + 7919 n) + 78.233).
/// The script's "hash" sequence in [-1, 1): entry i of model m.
fn hashed(i: usize, m: usize) -> f64 {
    let h = (12.9898 * (i + 7919 * m) as f64 + 78.233).sin() * 43758.5453;
    2.0 * (h - h.floor()) - 1.0
}

fn reference_weights(
    layout: &Layout,
    scales: &[f64],
    offsets: &[f64],
    n: usize,
    kind: Option<&str>,
) -> Vec<f32> {
    let seq = |i: usize, m: usize| -> f64 {
        match kind {
            Some("hash") => hashed(i, m),
            None | Some("sin") => (0.37 * i as f64 + 1.1 * m as f64 + 0.5).sin(),
            Some(other) => panic!("unknown weight sequence {other}"),
        }
    };
    let mut segments = Vec::new(); // (offset, len) per state-dict tensor, in order
    for p in &layout.params {
        segments.push((p.weight_offset, p.weight_len()));
        if let Some(b) = p.bias_offset {
            segments.push((b, p.out));
        }
        if let Some(b) = p.buffers_offset {
            segments.push((b, p.out));
            segments.push((b + p.out, p.out));
        }
    }
    assert_eq!(segments.len(), scales.len(), "state-dict tensors");
    let mut w = vec![0f32; n * layout.total];
    for m in 0..n {
        for (t, (&(off, len), &s)) in segments.iter().zip(scales).enumerate() {
            let o = offsets.get(t).copied().unwrap_or(0.0);
            for i in off..off + len {
                w[m * layout.total + i] = (o + s * seq(i, m)) as f32;
            }
        }
    }
    w
}

/// Training mode without dropout: what makes batch norm use the batch's statistics.
fn training(n: usize) -> Dropout {
    Dropout {
        p: vec![0.0; n],
        seeds: vec![0; n],
        step: 0,
    }
}

fn reference_input(shape: [usize; 3], b: usize) -> Vec<f32> {
    let per: usize = shape.iter().product();
    (0..b)
        .flat_map(|bi| (0..per).map(move |j| (0.11 * j as f64 + 0.7 * bi as f64).sin() as f32))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn population_forward_matches_pytorch_for_every_builtin() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/population_forward.json"
    ))
    .unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let (n, b) = (reference.models, reference.batch);
    let dev = device();
    let mut covered: Vec<&str> = Vec::new();
    for case in &reference.cases {
        let spec = ArchSpec::builtin(&case.arch).unwrap();
        let net = PopulationNet::new(spec.clone(), case.activation.parse().unwrap()).unwrap();
        assert_eq!(net.param_count(), case.params, "{}", case.arch);
        let w = reference_weights(
            net.layout(),
            &case.scales,
            &case.offsets,
            n,
            case.weights.as_deref(),
        );
        let weights = Tensor::<2>::from_data(TensorData::new(w.clone(), [n, case.params]), &dev);
        let [c, h, wd] = spec.input;
        let x = reference_input(spec.input, b);
        let shared = Tensor::<4>::from_data(TensorData::new(x.clone(), [b, c, h, wd]), &dev);
        let mode = case.training.then(|| training(n));
        let out = net
            .forward(
                weights.clone(),
                Input::Shared(shared.clone()),
                mode.as_ref(),
            )
            .unwrap();
        assert_eq!(out.dims(), [n, b, case.classes]);
        let got: Vec<f32> = out.into_data().try_to_vec().unwrap();
        // Relative to the largest logit (a ResNet-18's reach 18).
        let tol = 1e-4 * case.logits.iter().fold(1f64, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&got, &case.logits);
        let what = format!(
            "{} {}{}",
            case.arch,
            case.activation,
            if case.training { " (training)" } else { "" }
        );
        assert!(diff <= tol, "{what}: max |diff| {diff} > {tol}");
        // The same images given per model take the grouped path; same answer.
        let per_model = shared.clone().unsqueeze_dim::<5>(0).repeat_dim(0, n);
        let got: Vec<f32> = net
            .forward(weights.clone(), Input::PerModel(per_model), mode.as_ref())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        let diff = max_abs_diff(&got, &case.logits);
        assert!(diff <= tol, "{what} per-model input: max |diff| {diff}");
        if case.training {
            // The running statistics move as PyTorch's train-mode forward moves them.
            let (_, stats) = net
                .forward_training(weights.clone(), Input::Shared(shared.clone()), &training(n))
                .unwrap();
            let moved: Vec<f32> = net
                .update_running_stats(weights.clone(), &stats)
                .into_data()
                .try_to_vec()
                .unwrap();
            let mut got = Vec::new();
            for m in 0..n {
                for p in net.layout().params.iter() {
                    if let Some(at) = p.buffers_offset {
                        let row = &moved[m * case.params..(m + 1) * case.params];
                        got.extend_from_slice(&row[at..at + 2 * p.out]);
                    }
                }
            }
            assert!(!case.running.is_empty(), "{what}: no running statistics");
            let diff = max_abs_diff(&got, &case.running);
            assert!(diff <= 1e-4, "{what} running statistics: max |diff| {diff}");
        }
        covered.push(&case.arch);
        if spec.is_residual_or_norm() {
            // Not for the native kernels yet: they say so.
            let err = NativeNet::new(&spec, case.activation.parse().unwrap()).unwrap_err();
            assert!(err.to_string().contains("native CPU kernels"), "{err}");
            continue;
        }
        // The native CPU path of zoo training, one network at a time.
        let native = NativeNet::new(&spec, case.activation.parse().unwrap()).unwrap();
        for m in 0..n {
            let got = native::logits(&native, &w[m * case.params..(m + 1) * case.params], &x, b);
            let want = &case.logits[m * b * case.classes..(m + 1) * b * case.classes];
            let diff = max_abs_diff(&got, want);
            assert!(
                diff <= 1e-4,
                "{} {} native, model {m}: max |diff| {diff}",
                case.arch,
                case.activation
            );
        }
    }
    let all = hyperzoo_core::arch::BUILTINS.iter();
    for builtin in all.chain(hyperzoo_core::arch::RESIDUAL_BUILTINS) {
        assert!(
            covered.contains(builtin),
            "no PyTorch reference for {builtin}"
        );
    }
}

#[test]
fn population_equals_each_network_alone_with_dropout() {
    let dev = device();
    let spec = ArchSpec::builtin("cnn_s").unwrap();
    let net = PopulationNet::new(spec, "relu".parse().unwrap()).unwrap();
    let (n, b, p) = (3, 5, net.param_count());
    let w: Vec<f32> = (0..n * p)
        .map(|i| ((i as f32) * 0.731).sin() * 0.2)
        .collect();
    let x: Vec<f32> = (0..n * b * 784)
        .map(|i| ((i as f32) * 0.013).cos())
        .collect();
    let weights = Tensor::<2>::from_data(TensorData::new(w.clone(), [n, p]), &dev);
    let input = Tensor::<5>::from_data(TensorData::new(x.clone(), [n, b, 1, 28, 28]), &dev);
    let drop = Dropout {
        p: vec![0.0, 0.5, 0.3],
        seeds: vec![11, 22, 33],
        step: 7,
    };
    let all: Vec<f32> = net
        .forward(weights, Input::PerModel(input), Some(&drop))
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    for m in 0..n {
        let wm = Tensor::<2>::from_data(
            TensorData::new(w[m * p..(m + 1) * p].to_vec(), [1, p]),
            &dev,
        );
        let xm = Tensor::<5>::from_data(
            TensorData::new(
                x[m * b * 784..(m + 1) * b * 784].to_vec(),
                [1, b, 1, 28, 28],
            ),
            &dev,
        );
        let dm = Dropout {
            p: vec![drop.p[m]],
            seeds: vec![drop.seeds[m]],
            step: drop.step,
        };
        let one: Vec<f32> = net
            .forward(wm, Input::PerModel(xm), Some(&dm))
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        let slice = &all[m * b * 10..(m + 1) * b * 10];
        let diff = one
            .iter()
            .zip(slice)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff <= 1e-5, "model {m}: max |diff| {diff}");
    }
    // Dropout really is on: with p = 0.5 the logits differ from evaluation mode.
    let w1 = Tensor::<2>::from_data(TensorData::new(w[p..2 * p].to_vec(), [1, p]), &dev);
    let x1 = Tensor::<5>::from_data(
        TensorData::new(x[b * 784..2 * b * 784].to_vec(), [1, b, 1, 28, 28]),
        &dev,
    );
    let eval: Vec<f32> = net
        .forward(w1, Input::PerModel(x1), None)
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    assert!(
        eval.iter()
            .zip(&all[b * 10..2 * b * 10])
            .any(|(a, b)| (a - b).abs() > 1e-3)
    );
}

#[test]
fn wrong_shapes_are_errors_naming_what_was_expected() {
    let dev = device();
    let net = PopulationNet::new(
        ArchSpec::builtin("tetris_mlp").unwrap(),
        "relu".parse().unwrap(),
    )
    .unwrap();
    let w = Tensor::<2>::zeros([2, 99], &dev);
    let x = Tensor::<4>::zeros([3, 1, 4, 4], &dev);
    let e = net
        .forward(w, Input::Shared(x.clone()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[2, 99]") && e.contains("[N, 100]"), "{e}");
    let e = net
        .forward(
            Tensor::zeros([2, 100], &dev),
            Input::Shared(Tensor::zeros([3, 1, 5, 5], &dev)),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("[B, 1, 4, 4]"), "{e}");
}

#[test]
fn gradients_flow_to_the_weight_matrix() {
    let dev = device().autodiff();
    let net =
        PopulationNet::new(ArchSpec::builtin("cnn_s").unwrap(), "tanh".parse().unwrap()).unwrap();
    let p = net.param_count();
    let w: Vec<f32> = (0..2 * p)
        .map(|i| ((i as f32) * 0.37).sin() * 0.1)
        .collect();
    let weights = Tensor::<2>::from_data(TensorData::new(w, [2, p]), &dev).require_grad();
    let x = Tensor::<4>::ones([3, 1, 28, 28], &dev);
    let out = net
        .forward(weights.clone(), Input::Shared(x), None)
        .unwrap();
    // Loss only on model 1: model 0's gradient must be exactly zero, model 1's not.
    let loss = out.narrow(0, 1, 1).powi_scalar(2).sum();
    let grads = loss.backward();
    let g: Vec<f32> = weights
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    assert!(g[..p].iter().all(|v| *v == 0.0));
    assert!(g[p..].iter().filter(|v| **v != 0.0).count() > p / 2);
}

/// The native path's gradient of the mean cross-entropy equals burn's autodiff through the
/// population forward, for every built-in (every activation on CNN-s, two on the others: the
/// activation code is shared), with and without dropout.
#[test]
fn native_gradients_equal_autodiff() {
    use hyperzoo_core::arch::Activation;
    let dev = device().autodiff();
    for arch in hyperzoo_core::arch::BUILTINS {
        let spec = ArchSpec::builtin(arch).unwrap();
        let activations: &[Activation] = if *arch == "cnn_s" {
            &Activation::ALL
        } else {
            &[Activation::Tanh, Activation::Gelu]
        };
        for &activation in activations {
            for dropout in [0.0, 0.3] {
                let net = PopulationNet::new(spec.clone(), activation).unwrap();
                let p = net.param_count();
                let w: Vec<f32> = (0..p)
                    .map(|i| ((i as f32) * 0.37 + 0.2).sin() * 0.3)
                    .collect();
                let b = 3;
                let x = reference_input(spec.input, b);
                let labels: Vec<i64> = (0..b as i64).map(|i| (i * 3) % 4).collect();
                let seed = 7;
                let step = 11;

                let weights =
                    Tensor::<2>::from_data(TensorData::new(w.clone(), [1, p]), &dev).require_grad();
                let [c, h, wd] = spec.input;
                let images =
                    Tensor::<5>::from_data(TensorData::new(x.clone(), [1, b, c, h, wd]), &dev);
                let d = Dropout {
                    p: vec![dropout],
                    seeds: vec![seed],
                    step,
                };
                let logits = net
                    .forward(
                        weights.clone(),
                        Input::PerModel(images),
                        (dropout > 0.0 || net.has_fixed_dropout()).then_some(&d),
                    )
                    .unwrap();
                let y = Tensor::<2, Int>::from_data(TensorData::new(labels.clone(), [1, b]), &dev);
                let loss = per_model_cross_entropy(logits, y).sum();
                let want_loss: f32 = loss.clone().into_scalar();
                let grads = loss.backward();
                let want: Vec<f32> = weights
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec()
                    .unwrap();

                let native = NativeNet::new(&spec, activation).unwrap();
                let has_dropout = dropout > 0.0 || net.has_fixed_dropout();
                let (loss, got) = native::gradient(
                    &native,
                    &w,
                    &x,
                    &labels,
                    has_dropout.then_some((dropout, seed, step)),
                );
                assert!(
                    (loss - want_loss).abs() <= 1e-4 * want_loss.abs().max(1.0),
                    "{arch} {activation:?} dropout {dropout}: loss {loss} vs {want_loss}"
                );
                let scale = want.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-6);
                let diff = got
                    .iter()
                    .zip(&want)
                    .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
                assert!(
                    diff <= 1e-4 * scale,
                    "{arch} {activation:?} dropout {dropout}: max |diff| {diff} (largest gradient {scale})"
                );
            }
        }
    }
}

#[test]
fn negative_running_variances_evaluate_to_finite_logits() {
    // A decoded or generated network's running variance can come out below zero: evaluation
    // clamps it at 0 instead of producing NaN (which the behavioural loss would spread to every
    // gradient of the hyper-representation).
    let spec = ArchSpec::builtin("resnet8").unwrap();
    let net = PopulationNet::new(spec.clone(), "relu".parse().unwrap()).unwrap();
    let layout = net.layout().clone();
    let mut w: Vec<f32> = (0..layout.total)
        .map(|i| (0.37 * i as f32).sin() * 0.2)
        .collect();
    for p in &layout.params {
        if let Some(b) = p.buffers_offset {
            w[b + p.out..b + 2 * p.out].fill(-1.0);
        }
    }
    let dev = device();
    let weights = Tensor::<2>::from_data(TensorData::new(w, [1, layout.total]), &dev);
    let [c, h, wd] = spec.input;
    let x = Tensor::<4>::from_data(
        TensorData::new(reference_input(spec.input, 2), [2, c, h, wd]),
        &dev,
    );
    let out: Vec<f32> = net
        .forward(weights, Input::Shared(x), None)
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
}

#[test]
fn batch_norm_conditioning_fits_running_statistics_to_the_images() {
    // resnet8 with running statistics far from anything its weights produce: after enough
    // training-mode passes on one batch the running statistics are that batch's (momentum 0.1:
    // 0.9^150 ≈ 1.4e-7 of the old values left), so evaluation mode computes what training mode
    // does on the batch; everything but the running statistics is left as it was.
    use hyperzoo_engine::hyper::eval::condition_batch_norms;
    use hyperzoo_engine::zoo::dataset::TensorSet;
    let dev = device();
    let spec = ArchSpec::builtin("resnet8").unwrap();
    let net = PopulationNet::new(spec.clone(), "relu".parse().unwrap()).unwrap();
    let layout = net.layout().clone();
    let (n, b, p) = (2, 16, layout.total);
    let mut w = Vec::new();
    for m in 0..n {
        // Hashed weights; running means 5, running variances 100.
        let mut one: Vec<f32> = (0..p).map(|i| (0.3 * hashed(i, m)) as f32).collect();
        for l in &layout.params {
            if let Some(at) = l.buffers_offset {
                one[at..at + l.out].fill(5.0);
                one[at + l.out..at + 2 * l.out].fill(100.0);
            }
        }
        w.extend(one);
    }
    let x = reference_input(spec.input, b);
    let [c, h, wd] = spec.input;
    let images = TensorSet {
        x: Tensor::<4>::from_data(TensorData::new(x, [b, c, h, wd]), &dev),
        y: Tensor::<1, Int>::zeros([b], &dev),
    };
    let run = |w: &[f32], train: bool| -> Vec<f32> {
        let wt = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [n, p]), &dev);
        let mode = train.then(|| training(n));
        net.forward(wt, Input::Shared(images.x.clone()), mode.as_ref())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap()
    };
    let before = w.clone();
    let acts = vec!["relu".parse().unwrap(); n];
    assert!(condition_batch_norms(&spec, &mut w, &acts, &images, 150, b, &dev).unwrap());
    let train_mode = run(&w, true);
    let eval_mode = run(&w, false);
    let scale = train_mode.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = train_mode
        .iter()
        .zip(&eval_mode)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    // Evaluation normalises by the unbiased variance, training by the biased one.
    assert!(
        diff <= 2e-3 * scale,
        "eval vs train after conditioning: {diff} of {scale}"
    );
    let unconditioned = run(&before, false);
    let far = train_mode
        .iter()
        .zip(&unconditioned)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(far > 100.0 * diff, "the running statistics mattered: {far}");
    let stats: std::collections::HashSet<usize> = layout
        .params
        .iter()
        .filter_map(|l| l.buffers_offset.map(|at| (at, l.out)))
        .flat_map(|(at, c)| at..at + 2 * c)
        .collect();
    for m in 0..n {
        for i in (0..p).filter(|i| !stats.contains(i)) {
            assert_eq!(w[m * p + i], before[m * p + i], "weight {i} of network {m}");
        }
    }
    // Networks without batch norms are left alone.
    let cnn = ArchSpec::builtin("cnn_s").unwrap();
    let mut v = vec![0.1f32; cnn.param_count().unwrap()];
    let acts = vec!["relu".parse().unwrap()];
    assert!(!condition_batch_norms(&cnn, &mut v, &acts, &images, 5, b, &dev).unwrap());
}
