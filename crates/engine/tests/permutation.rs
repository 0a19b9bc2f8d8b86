//! Permutation groups (hyperzoo_core::augment::permute) are function-preserving: for every
//! built-in architecture, networks permuted with random permutations give the same logits through
//! the population forward as the originals; and permutations that break the rule (rows moved
//! without the next layer's inputs, or a flatten read channel-last) change the logits, so the
//! check can fail.
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::arch::{Activation, ArchSpec, BUILTINS, Layout, ParamKind, RESIDUAL_BUILTINS};
use hyperzoo_core::augment::PermutationGroups;
use hyperzoo_core::augment::noise::standard_normal;
use hyperzoo_engine::burn;
use hyperzoo_engine::zoo::{Dropout, Input, PopulationNet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 3;
const B: usize = 4;

fn device() -> Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

/// Kaiming-like random weights per layer (logits of order 1) and small random biases; batch
/// norms with weights near 1 and running variances in [0.5, 1.5].
fn random_weights(layout: &Layout, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut w = vec![0f32; layout.total];
    for p in &layout.params {
        if p.kind == ParamKind::BatchNorm {
            let (c, o) = (p.out, p.weight_offset);
            for i in 0..c {
                w[o + i] = (1.0 + 0.2 * standard_normal(rng)) as f32;
                w[o + c + i] = (0.1 * standard_normal(rng)) as f32;
                w[o + 2 * c + i] = (0.1 * standard_normal(rng)) as f32;
                w[o + 3 * c + i] = rng.random_range(0.5f32..1.5);
            }
            continue;
        }
        let std = (2.0 / p.fans().0 as f64).sqrt();
        for v in &mut w[p.weight_offset..p.weight_offset + p.weight_len()] {
            *v = (std * standard_normal(rng)) as f32;
        }
        if let Some(b) = p.bias_offset {
            for v in &mut w[b..b + p.out] {
                *v = (0.1 * standard_normal(rng)) as f32;
            }
        }
    }
    w
}

fn logits(net: &PopulationNet, weights: &[f32], x: &Tensor<4>, dev: &Device) -> Vec<f32> {
    forward(net, weights, x, dev, false)
}

/// Logits in evaluation mode, or in training mode (batch norms on the batch's statistics, no
/// dropout).
fn forward(
    net: &PopulationNet,
    weights: &[f32],
    x: &Tensor<4>,
    dev: &Device,
    training: bool,
) -> Vec<f32> {
    let p = net.param_count();
    let w = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [N, p]), dev);
    let mode = Dropout {
        p: vec![0.0; N],
        seeds: vec![0; N],
        step: 0,
    };
    net.forward(w, Input::Shared(x.clone()), training.then_some(&mode))
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A cyclic shift 1, 2, ..., n-1, 0: never the identity for n > 1.
fn shift(n: usize) -> Vec<usize> {
    (0..n).map(|i| (i + 1) % n).collect()
}

/// Moves group 0's producer rows and bias entries, but not the consumer's input columns.
fn rows_only(groups: &PermutationGroups, w: &[f32]) -> Vec<f32> {
    let g = &groups.groups()[0];
    let l = &groups.layout().params[g.producer];
    let perm = shift(g.size);
    let mut out = w.to_vec();
    let row = l.row_len();
    for (new, &old) in perm.iter().enumerate() {
        let (dst, src) = (l.weight_offset + new * row, l.weight_offset + old * row);
        out[dst..dst + row].copy_from_slice(&w[src..src + row]);
        if let Some(b) = l.bias_offset {
            out[b + new] = w[b + old];
        }
    }
    out
}

/// Permutes a group whose consumer reads a flatten (block > 1) as if the flatten were
/// channel-last (column `r*C + c`, Keras order) instead of PyTorch's channel-major `c*H*W + r`.
fn channel_last_flatten(groups: &PermutationGroups, gi: usize, w: &[f32]) -> Vec<f32> {
    let g = &groups.groups()[gi];
    let (l, m) = (
        &groups.layout().params[g.producer],
        &groups.layout().params[g.consumer],
    );
    let perm = shift(g.size);
    let mut out = w.to_vec();
    let row = l.row_len();
    for (new, &old) in perm.iter().enumerate() {
        let (dst, src) = (l.weight_offset + new * row, l.weight_offset + old * row);
        out[dst..dst + row].copy_from_slice(&w[src..src + row]);
        if let Some(b) = l.bias_offset {
            out[b + new] = w[b + old];
        }
    }
    let (c, cols) = (g.size, m.row_len());
    for o in 0..m.out {
        let base = m.weight_offset + o * cols;
        for r in 0..g.block {
            for (new, &old) in perm.iter().enumerate() {
                out[base + r * c + new] = w[base + r * c + old];
            }
        }
    }
    out
}

/// Random images, N networks of random weights, and each network randomly permuted.
struct Case {
    groups: PermutationGroups,
    x: Tensor<4>,
    weights: Vec<f32>,
    permuted: Vec<f32>,
}

fn case(spec: &ArchSpec, rng: &mut ChaCha8Rng, dev: &Device) -> Case {
    let groups = PermutationGroups::new(spec).unwrap();
    let [c, h, wd] = spec.input;
    let x: Vec<f32> = (0..B * c * h * wd)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [B, c, h, wd]), dev);
    let weights: Vec<f32> = (0..N)
        .flat_map(|_| random_weights(groups.layout(), rng))
        .collect();
    // A different random permutation for every network.
    let permuted: Vec<f32> = weights
        .chunks_exact(groups.param_count())
        .flat_map(|w| groups.apply(w, &groups.random(rng)))
        .collect();
    assert_ne!(weights, permuted, "{}", spec.name);
    Case {
        groups,
        x,
        weights,
        permuted,
    }
}

#[test]
fn permuted_networks_compute_the_same_function_for_every_builtin() {
    let dev = device();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for (i, name) in BUILTINS.iter().enumerate() {
        let spec = ArchSpec::builtin(name).unwrap();
        let Case {
            groups,
            x,
            weights,
            permuted,
        } = case(&spec, &mut rng, &dev);
        let p = groups.param_count();
        for act in [Activation::ALL[i % 6], Activation::ALL[(i + 3) % 6]] {
            let net = PopulationNet::new(spec.clone(), act).unwrap();
            let original = logits(&net, &weights, &x, &dev);
            let scale = original.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                scale > 0.1,
                "{name} {act:?}: degenerate logits (max {scale})"
            );
            let same = max_abs_diff(&original, &logits(&net, &permuted, &x, &dev));
            assert!(
                same <= 1e-5,
                "{name} {act:?}: permuted network differs by {same}"
            );
            // Rows moved but the next layer's inputs left alone: a different network.
            let broken: Vec<f32> = weights
                .chunks_exact(p)
                .flat_map(|w| rows_only(&groups, w))
                .collect();
            let diff = max_abs_diff(&original, &logits(&net, &broken, &x, &dev));
            assert!(
                diff > 1e-3,
                "{name} {act:?}: a broken permutation went unnoticed ({diff})"
            );
            // Where a flatten sits between the layers, channel-last blocks are wrong too.
            for gi in (0..groups.len()).filter(|&gi| groups.groups()[gi].block > 1) {
                let wrong: Vec<f32> = weights
                    .chunks_exact(p)
                    .flat_map(|w| channel_last_flatten(&groups, gi, w))
                    .collect();
                let diff = max_abs_diff(&original, &logits(&net, &wrong, &x, &dev));
                assert!(
                    diff > 1e-3,
                    "{name} {act:?} group {gi}: channel-last flatten went unnoticed ({diff})"
                );
            }
        }
    }
}

#[test]
fn permuted_residual_networks_compute_the_same_function_in_both_modes() {
    // The residual stream of each stage is one group: the stem's convolution and batch norm,
    // every block's second convolution and batch norm, the projections; each batch norm's
    // weight, bias and running statistics follow their channel.
    let groups = PermutationGroups::new(&ArchSpec::builtin("resnet8").unwrap()).unwrap();
    // stream 8, block 1 inside, block 2 inside, stream 16, block 3 inside, stream 32.
    assert_eq!(groups.sizes(), vec![8, 8, 16, 16, 32, 32]);
    let stream = &groups.groups()[0];
    // stem conv + bn, block 1's conv2 + bn2 (identity shortcut); read by block 1's conv1, block
    // 2's conv1 and its projection.
    assert_eq!(stream.producers.len(), 4);
    assert_eq!(stream.consumers.len(), 3);
    let dev = device();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for name in RESIDUAL_BUILTINS {
        let spec = ArchSpec::builtin(name).unwrap();
        let Case {
            groups,
            x,
            weights,
            permuted,
        } = case(&spec, &mut rng, &dev);
        let p = groups.param_count();
        let net = PopulationNet::new(spec.clone(), Activation::Relu).unwrap();
        for training in [false, true] {
            let original = forward(&net, &weights, &x, &dev, training);
            let scale = original.iter().fold(1f32, |m, v| m.max(v.abs()));
            let same = max_abs_diff(&original, &forward(&net, &permuted, &x, &dev, training));
            assert!(
                same <= 1e-4 * scale,
                "{name} (training {training}): permuted network differs by {same} (logits up to {scale})"
            );
            // Moving the stem's rows alone breaks it.
            let broken: Vec<f32> = weights
                .chunks_exact(p)
                .flat_map(|w| rows_only(&groups, w))
                .collect();
            let diff = max_abs_diff(&original, &forward(&net, &broken, &x, &dev, training));
            assert!(
                diff > 1e-3,
                "{name}: a broken permutation went unnoticed ({diff})"
            );
        }
    }
}
