//! The fused layer norm and attention (`hyper::fused`) against the composed tensor-op
//! implementations they replace: forward values and gradients on random inputs, the composed
//! fallbacks (what flex and CUDA run) against autodiff, and a SANE model's loss and parameter
//! gradients with the fused ops on and off.
use burn::backend::Dispatch;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_engine::burn;
use hyperzoo_engine::hyper::fused::{self, FusedOps, composed};
use hyperzoo_engine::hyper::model::{
    Encoding, HeadConfig, HyperRep, ModelConfig, SaneConfig, TransformerConfig,
};
use hyperzoo_engine::hyper::nn::{Ctx, attention};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

fn device() -> Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

/// N(mean, std²) values of `shape`, drawn from `seed`.
fn randn<const D: usize>(
    shape: [usize; D],
    mean: f64,
    std: f64,
    seed: u64,
    dev: &Device,
) -> Tensor<D> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dist = Normal::new(mean, std).unwrap();
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| dist.sample(&mut rng) as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), dev)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Asserts max |got − want| ≤ tol · max(1, max |want|).
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
    assert!(
        diff <= tol * scale,
        "{what}: max abs diff {diff:e} over {} values (scale {scale:e}, tol {tol:e})",
        got.len()
    );
}

/// The composed layer norm the fused op replaces (`Norm::forward`, SANE's variant).
fn composed_layer_norm<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Tensor<D> {
    let (var, mean) = x.clone().var_mean_bias(D - 1);
    (x - mean) / (var + eps).sqrt() * gamma.unsqueeze()
}

/// Forward values and gradients (x, gamma) of a layer norm under a random output weighting.
fn layer_norm_case<const D: usize>(
    shape: [usize; D],
    seed: u64,
    f: impl Fn(Tensor<D>, Tensor<1>) -> Tensor<D>,
) -> [Vec<f32>; 3] {
    let dev = device().autodiff();
    let d = shape[D - 1];
    let x = randn(shape, 0.5, 2.0, seed, &dev).require_grad();
    let gamma = randn([d], 1.0, 0.3, seed + 1, &dev).require_grad();
    let w = randn(shape, 0.0, 1.0, seed + 2, &dev);
    let y = f(x.clone(), gamma.clone());
    let grads = (y.clone() * w).sum().backward();
    [
        values(y),
        values(x.grad(&grads).unwrap()),
        values(gamma.grad(&grads).unwrap()),
    ]
}

#[test]
fn layer_norm_matches_the_composed_one() {
    fn check<const D: usize>(shape: [usize; D], seed: u64) {
        let eps = 1e-5;
        let fused = layer_norm_case(shape, seed, |x, g| fused::layer_norm(x, g, eps));
        let reference = layer_norm_case(shape, seed, |x, g| composed_layer_norm(x, g, eps));
        for (i, what) in ["y", "dx", "dgamma"].iter().enumerate() {
            let what = format!("{shape:?} {what}");
            assert_close(&what, &fused[i], &reference[i], 1e-5);
        }
    }
    check([3, 7, 32], 1);
    check([5, 30], 2);
    check([2, 4, 5, 256], 3);
}

#[test]
fn layer_norm_without_autodiff_and_untracked() {
    let dev = device();
    let x = randn([4, 6, 16], 0.0, 1.5, 7, &dev);
    let gamma = randn([16], 1.0, 0.2, 8, &dev);
    let want = values(composed_layer_norm(x.clone(), gamma.clone(), 1e-5));
    let got = values(fused::layer_norm(x.clone(), gamma.clone(), 1e-5));
    assert_close("inner backend", &got, &want, 1e-5);
    // Autodiff tensors that track nothing take the untracked branch.
    let got = values(fused::layer_norm(x.autodiff(), gamma.autodiff(), 1e-5));
    assert_close("untracked autodiff", &got, &want, 1e-5);
}

#[test]
fn layer_norm_with_a_constant_input() {
    // x without autodiff, gamma tracked: x acts as a constant, gamma still gets its gradient.
    let dev = device();
    let x = randn([3, 5, 8], 0.0, 1.0, 70, &dev);
    let w = randn([3, 5, 8], 0.0, 1.0, 71, &dev);
    let gamma = || randn([8], 1.0, 0.2, 72, &dev.clone().autodiff()).require_grad();
    let grad_of = |f: &dyn Fn(Tensor<3>, Tensor<1>) -> Tensor<3>| {
        let g = gamma();
        let grads = (f(x.clone(), g.clone()) * w.clone().autodiff())
            .sum()
            .backward();
        values(g.grad(&grads).unwrap())
    };
    let got = grad_of(&|x, g| fused::layer_norm(x, g, 1e-5));
    let want = grad_of(&|x, g| composed_layer_norm(x, g, 1e-5));
    assert_close("dgamma", &got, &want, 1e-5);
}

/// Forward values and gradients (q, k, v) of attention under a random output weighting.
fn attention_case(
    [b, t, d]: [usize; 3],
    seed: u64,
    f: impl Fn(Tensor<3>, Tensor<3>, Tensor<3>) -> Tensor<3>,
) -> [Vec<f32>; 4] {
    let dev = device().autodiff();
    let q = randn([b, t, d], 0.0, 1.0, seed, &dev).require_grad();
    let k = randn([b, t, d], 0.0, 1.0, seed + 1, &dev).require_grad();
    let v = randn([b, t, d], 0.0, 1.0, seed + 2, &dev).require_grad();
    let w = randn([b, t, d], 0.0, 1.0, seed + 3, &dev);
    let out = f(q.clone(), k.clone(), v.clone());
    let grads = (out.clone() * w).sum().backward();
    [
        values(out),
        values(q.grad(&grads).unwrap()),
        values(k.grad(&grads).unwrap()),
        values(v.grad(&grads).unwrap()),
    ]
}

#[test]
fn attention_matches_the_composed_one() {
    for (shape, heads, seed) in [
        ([2, 11, 32], 4, 10),
        ([3, 93, 64], 8, 20),
        ([1, 5, 6], 1, 30),
    ] {
        let fused = attention_case(shape, seed, |q, k, v| {
            fused::attention_qkv(Tensor::cat(vec![q, k, v], 2), heads)
        });
        let reference = attention_case(shape, seed, |q, k, v| {
            fused::with_enabled(false, || attention(q, k, v, heads, 0.0, &mut Ctx::eval()))
        });
        // nn::attention with the fused ops on takes the fused path too.
        let routed = attention_case(shape, seed, |q, k, v| {
            fused::with_enabled(true, || {
                attention(q, k, v, heads, 0.0, &mut Ctx::train(1, 1))
            })
        });
        for (i, what) in ["out", "dq", "dk", "dv"].iter().enumerate() {
            let what = format!("{shape:?}/{heads} {what}");
            assert_close(&what, &fused[i], &reference[i], 1e-5);
            assert_eq!(fused[i], routed[i], "{what}: routed through nn::attention");
        }
    }
}

#[test]
fn attention_without_autodiff_matches() {
    let dev = device();
    let [b, t, d, heads] = [2, 9, 24, 3];
    let q = randn([b, t, d], 0.0, 1.0, 40, &dev);
    let k = randn([b, t, d], 0.0, 1.0, 41, &dev);
    let v = randn([b, t, d], 0.0, 1.0, 42, &dev);
    let want = fused::with_enabled(false, || {
        attention(
            q.clone(),
            k.clone(),
            v.clone(),
            heads,
            0.0,
            &mut Ctx::eval(),
        )
    });
    let qkv = Tensor::cat(vec![q, k, v], 2);
    let got = fused::attention_qkv(qkv.clone(), heads);
    assert_close("inner backend", &values(got), &values(want.clone()), 1e-5);
    let got = fused::attention_qkv(qkv.autodiff(), heads);
    assert_close("untracked autodiff", &values(got), &values(want), 1e-5);
}

/// The composed fallbacks (flex's implementation, and LibTorch's on CUDA), run here on the
/// build's backend through `Dispatch`, against autodiff through the composed tensor ops.
#[test]
fn composed_fallbacks_match_autodiff() {
    let eps = 1e-5;
    let shape = [3, 5, 20];
    let reference = layer_norm_case(shape, 50, |x, g| composed_layer_norm(x, g, eps));
    let dev = device();
    let x = randn(shape, 0.5, 2.0, 50, &dev);
    let gamma = randn([20], 1.0, 0.3, 51, &dev);
    let w = randn(shape, 0.0, 1.0, 52, &dev);
    let y = composed::layer_norm::<Dispatch>(
        x.clone().into_dispatch(),
        gamma.clone().into_dispatch(),
        eps,
    );
    let (dx, dgamma) = composed::layer_norm_backward::<Dispatch>(
        w.into_dispatch(),
        x.into_dispatch(),
        gamma.into_dispatch(),
        eps,
    );
    assert_close(
        "ln y",
        &values(Tensor::<3>::from_dispatch(y)),
        &reference[0],
        1e-5,
    );
    assert_close(
        "ln dx",
        &values(Tensor::<3>::from_dispatch(dx)),
        &reference[1],
        1e-5,
    );
    assert_close(
        "ln dgamma",
        &values(Tensor::<1>::from_dispatch(dgamma)),
        &reference[2],
        1e-5,
    );

    let ([b, t, d], heads) = ([2, 13, 32], 4);
    let reference = attention_case([b, t, d], 60, |q, k, v| {
        fused::with_enabled(false, || attention(q, k, v, heads, 0.0, &mut Ctx::eval()))
    });
    let q = randn([b, t, d], 0.0, 1.0, 60, &dev);
    let k = randn([b, t, d], 0.0, 1.0, 61, &dev);
    let v = randn([b, t, d], 0.0, 1.0, 62, &dev);
    let w = randn([b, t, d], 0.0, 1.0, 63, &dev);
    let qkv = Tensor::cat(vec![q, k, v], 2);
    let scale = 1.0 / ((d / heads) as f64).sqrt();
    let (out, lse) = composed::attention_qkv::<Dispatch>(qkv.clone().into_dispatch(), heads, scale);
    let dqkv = composed::attention_qkv_backward::<Dispatch>(
        w.into_dispatch(),
        qkv.into_dispatch(),
        out.clone(),
        lse,
        heads,
        scale,
    );
    assert_close(
        "attn out",
        &values(Tensor::<3>::from_dispatch(out)),
        &reference[0],
        1e-5,
    );
    let dqkv = Tensor::<3>::from_dispatch(dqkv);
    for (i, what) in ["dq", "dk", "dv"].iter().enumerate() {
        let got = values(dqkv.clone().narrow(2, i * d, d));
        assert_close(what, &got, &reference[i + 1], 1e-5);
    }

    // And the backend's own backward methods, on their own forward outputs.
    let dev = device();
    let q = randn([b, t, d], 0.0, 1.0, 60, &dev);
    let k = randn([b, t, d], 0.0, 1.0, 61, &dev);
    let v = randn([b, t, d], 0.0, 1.0, 62, &dev);
    let w = randn([b, t, d], 0.0, 1.0, 63, &dev);
    let qkv = Tensor::cat(vec![q, k, v], 2).into_dispatch();
    let (out, lse) = <Dispatch as FusedOps>::fused_attention_qkv_forward(qkv.clone(), heads, scale);
    let dqkv = <Dispatch as FusedOps>::fused_attention_qkv_backward(
        w.into_dispatch(),
        qkv,
        out.clone(),
        lse,
        heads,
        scale,
    );
    assert_close(
        "backend out",
        &values(Tensor::<3>::from_dispatch(out)),
        &reference[0],
        1e-5,
    );
    let dqkv = Tensor::<3>::from_dispatch(dqkv);
    for (i, what) in ["dq", "dk", "dv"].iter().enumerate() {
        let got = values(dqkv.clone().narrow(2, i * d, d));
        assert_close(&format!("backend {what}"), &got, &reference[i + 1], 1e-5);
    }
}

/// Gradients of every float parameter, in visiting order (ids differ between two builds).
struct Grads<'a> {
    grads: &'a burn::tensor::Gradients,
    out: Vec<Vec<f32>>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(self.grads)
            .expect("every parameter gets a gradient");
        self.out.push(values(g));
    }
}

/// Loss (reconstruction + projection) and parameter gradients of a small SANE model.
fn sane_step(seed: u64) -> (f32, Vec<Vec<f32>>) {
    let dev = device().autodiff();
    let c = SaneConfig {
        token_size: 12,
        d_model: 32,
        heads: 4,
        layers: 2,
        latent: 6,
        max_positions: [16, 4, 8],
        dropout: 0.0,
    };
    let layout = ArchSpec::builtin("tetris_mlp").unwrap().layout().unwrap();
    let [b, w] = [3, 7];
    let model = HyperRep::new(
        &ModelConfig::Sane(c),
        Some(&HeadConfig::Sane),
        &layout,
        w,
        seed,
        &dev,
    )
    .unwrap();
    let x = randn([b, w, 12], 0.0, 0.5, seed + 1, &dev);
    let pos: Vec<i64> = (0..b * w)
        .flat_map(|i| [(i % 16) as i64, (i % 4) as i64, (i % 8) as i64])
        .collect();
    let pos = Tensor::<3, Int>::from_data(TensorData::new(pos, [b, w, 3]), &dev);
    let mut ctx = Ctx::train(seed, 3);
    let z = model.encode(x.clone(), Some(pos.clone()), &mut ctx);
    let recon = model.decode(z.clone(), Some(pos), &mut ctx);
    let proj = model.project(z).unwrap();
    let loss = (recon - x).powi_scalar(2).mean() + proj.powi_scalar(2).mean() * 0.1;
    let grads = loss.backward();
    let mut visitor = Grads {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut visitor);
    (values(loss)[0], visitor.out)
}

#[test]
fn sane_loss_and_gradients_are_unchanged() {
    let (loss_fused, grads_fused) = fused::with_enabled(true, || sane_step(3));
    let (loss_ref, grads_ref) = fused::with_enabled(false, || sane_step(3));
    assert_close("loss", &[loss_fused], &[loss_ref], 1e-5);
    assert_eq!(grads_fused.len(), grads_ref.len());
    assert!(grads_fused.len() > 20, "{} parameters", grads_fused.len());
    for (id, (g, want)) in grads_fused.iter().zip(&grads_ref).enumerate() {
        assert_eq!(g.len(), want.len(), "parameter {id}");
        // Relative to the parameter's largest gradient entry: these are small.
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let diff = g
            .iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-5 * scale,
            "parameter {id}: max abs diff {diff:e}, largest gradient {scale:e}"
        );
    }
}

#[test]
fn transformer_2021_evaluation_is_unchanged() {
    let dev = device();
    let layout = ArchSpec::builtin("tetris_mlp").unwrap().layout().unwrap();
    let c = TransformerConfig {
        encoding: Encoding::Neuron,
        compression_token: true,
        d_model: 16,
        heads: 2,
        layers: 1,
        d_ff: 32,
        latent: 8,
        dropout: 0.1,
    };
    let model = HyperRep::new(&ModelConfig::Transformer(c), None, &layout, 0, 9, &dev).unwrap();
    let x = randn([4, 1, layout.total], 0.0, 0.3, 10, &dev);
    let run = |on: bool| {
        fused::with_enabled(on, || {
            let mut ctx = Ctx::eval();
            let z = model.encode(x.clone(), None, &mut ctx);
            values(model.decode(z, None, &mut ctx))
        })
    };
    assert_close("decoded", &run(true), &run(false), 1e-5);
}
