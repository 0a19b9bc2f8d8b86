//! The population forward: N networks of one architecture evaluated at once from an `[N, P]`
//! weight matrix (flat vectors in PyTorch state-dict order, see [`hyperzoo_core::arch`]).
//!
//! Convolutions run as one grouped convolution (group n = model n) on activations laid out as
//! `[B, N*C, H, W]`; linear layers run as one batched matmul on `[N, B, F]`. Everything is
//! differentiable with respect to the weight matrix, so the same code serves zoo training, the
//! behavioural loss (decoded weights on query images) and the evaluation of reconstructed and
//! generated networks.
//!
//! Dropout masks are drawn per model from that model's own seed, the step and the layer, so a
//! network sees the same masks whether it is trained alone or inside any population.
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use hyperzoo_core::arch::{Activation, ArchSpec, Layer, Layout, ParamKind};

/// Input images of a population forward.
#[derive(Debug, Clone)]
pub enum Input {
    /// The same batch for every model: `[B, C, H, W]`.
    Shared(Tensor<4>),
    /// One batch per model: `[N, B, C, H, W]`.
    PerModel(Tensor<5>),
}

/// Dropout in training mode: per-model probabilities and seeds.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// Drop probability of each model (used by dropout layers without a fixed `p`).
    pub p: Vec<f64>,
    /// Seed of each model.
    pub seeds: Vec<u64>,
    /// Training step (mixed into the masks so every step differs).
    pub step: u64,
}

/// A compiled architecture ready for population forwards.
#[derive(Debug, Clone)]
pub struct PopulationNet {
    spec: ArchSpec,
    layout: Layout,
    activation: Activation,
}

/// Activations between layers: spatial `[B, N*C, H, W]` or flat `[N, B, F]`.
#[derive(Clone)]
enum Act {
    Spatial(Tensor<4>),
    Flat(Tensor<3>),
}

/// One forward pass's state: the weights, the parameters still to use, whether the activation
/// is still the shared input (not yet one copy per model), the next layer's index.
struct Pass<'a> {
    weights: &'a Tensor<2>,
    n: usize,
    dropout: Option<&'a Dropout>,
    params: std::slice::Iter<'a, hyperzoo_core::arch::ParamLayer>,
    broadcast: bool,
    index: usize,
    /// Batch norms' statistics of a training pass, in layer order.
    stats: Vec<BatchStats>,
}

impl Pass<'_> {
    /// The activation with one copy per model (a shared input repeated).
    fn materialise(&mut self, t: Act) -> Act {
        match t {
            Act::Spatial(x) if self.broadcast => {
                self.broadcast = false;
                Act::Spatial(x.repeat_dim(1, self.n))
            }
            t => t,
        }
    }
}

/// A batch norm's statistics over one training batch, per model: what its running statistics
/// move towards ([`PopulationNet::update_running_stats`]).
#[derive(Debug, Clone)]
pub struct BatchStats {
    /// Offset of the layer's running mean in the flat vector (its variance follows).
    pub offset: usize,
    /// Weight of the batch's statistics (the layer's momentum).
    pub momentum: f64,
    /// Mean per model and channel, `[N, C]`.
    pub mean: Tensor<2>,
    /// Unbiased variance per model and channel, `[N, C]` (what PyTorch's running variance
    /// follows).
    pub var: Tensor<2>,
}

/// Batch normalisation of every model's channels (`[B, N*C, H, W]`) or features
/// (`[N, B, F]`): with the batch's statistics (biased variance, as PyTorch normalises in
/// training) when `training`, which it also returns as `(mean, unbiased variance)`, each
/// `[N, C]`; else with the running ones held in the weights.
fn batch_norm(
    pl: &hyperzoo_core::arch::ParamLayer,
    eps: f64,
    w: &Tensor<2>,
    t: Act,
    n: usize,
    training: bool,
) -> (Act, Option<(Tensor<2>, Tensor<2>)>) {
    let c = pl.out;
    let col = |o: usize| w.clone().narrow(1, o, c);
    let gamma = col(pl.weight_offset);
    let beta = col(pl.bias_offset.expect("a batch norm's bias"));
    let buffers = pl
        .buffers_offset
        .expect("a batch norm's running statistics");
    let running = || {
        // A decoded or generated network's running variance can come out negative: clamped
        // at 0 (its gradient 0 there), where PyTorch would give NaN, which would reach every
        // gradient of a hyper-representation through the behavioural loss.
        let var = col(buffers + c).clamp_min(0.0);
        let scale = gamma.clone() / (var + eps).sqrt();
        let shift = beta.clone() - col(buffers) * scale.clone();
        (scale, shift)
    };
    // Unbiased from biased over `count` values.
    let unbiased = |var: Tensor<2>, count: usize| var * (count as f64 / (count.max(2) - 1) as f64);
    match t {
        Act::Spatial(x) => {
            let per = |v: Tensor<2>| v.reshape([1, n * c, 1, 1]);
            if !training {
                let (scale, shift) = running();
                return (Act::Spatial(x * per(scale) + per(shift)), None);
            }
            let [b, _, h, wd] = x.dims();
            let mean = x.clone().mean_dim(0).mean_dim(2).mean_dim(3);
            let centred = x - mean.clone();
            let var = centred
                .clone()
                .powi_scalar(2)
                .mean_dim(0)
                .mean_dim(2)
                .mean_dim(3);
            let y = centred / (var.clone() + eps).sqrt() * per(gamma) + per(beta);
            let stats = (
                mean.reshape([n, c]),
                unbiased(var.reshape([n, c]), b * h * wd),
            );
            (Act::Spatial(y), Some(stats))
        }
        Act::Flat(x) => {
            let per = |v: Tensor<2>| v.reshape([n, 1, c]);
            if !training {
                let (scale, shift) = running();
                return (Act::Flat(x * per(scale) + per(shift)), None);
            }
            let [_, b, _] = x.dims();
            let mean = x.clone().mean_dim(1);
            let centred = x - mean.clone();
            let var = centred.clone().powi_scalar(2).mean_dim(1);
            let y = centred / (var.clone() + eps).sqrt() * per(gamma) + per(beta);
            let stats = (mean.reshape([n, c]), unbiased(var.reshape([n, c]), b));
            (Act::Flat(y), Some(stats))
        }
    }
}

impl PopulationNet {
    /// Compiles `spec` with `activation` for its activation layers without a fixed function.
    pub fn new(spec: ArchSpec, activation: Activation) -> Result<Self> {
        let layout = spec.layout()?;
        Ok(Self {
            spec,
            layout,
            activation,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &ArchSpec {
        &self.spec
    }

    /// The activation of its activation layers without a fixed function.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether a dropout layer has a fixed probability above 0 (it drops in training whatever
    /// the networks' `dropout`).
    pub fn has_fixed_dropout(&self) -> bool {
        self.spec
            .layers
            .iter()
            .any(|l| matches!(l, Layer::Dropout { p: Some(p) } if *p > 0.0))
    }

    /// The flat parameter layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Parameters per network.
    pub fn param_count(&self) -> usize {
        self.layout.total
    }

    /// Logits `[N, B, classes]` of the N networks whose weights are the rows of `weights`.
    /// `dropout` is `None` for evaluation (batch norms then use their running statistics);
    /// with it, batch norms normalise with the batch's statistics.
    pub fn forward(
        &self,
        weights: Tensor<2>,
        input: Input,
        dropout: Option<&Dropout>,
    ) -> Result<Tensor<3>> {
        Ok(self.forward_with_stats(weights, input, dropout)?.0)
    }

    /// [`PopulationNet::forward`] in training mode (batch norms on the batch's statistics,
    /// dropout as `dropout` says), with each batch norm's statistics over the batch (detached
    /// from autodiff) for [`PopulationNet::update_running_stats`].
    pub fn forward_training(
        &self,
        weights: Tensor<2>,
        input: Input,
        dropout: &Dropout,
    ) -> Result<(Tensor<3>, Vec<BatchStats>)> {
        self.forward_with_stats(weights, input, Some(dropout))
    }

    fn forward_with_stats(
        &self,
        weights: Tensor<2>,
        input: Input,
        dropout: Option<&Dropout>,
    ) -> Result<(Tensor<3>, Vec<BatchStats>)> {
        let [n, p] = weights.dims();
        if p != self.layout.total {
            return Err(self.shape_error(
                format!("weights [{n}, {p}]"),
                format!("[N, {}]", self.layout.total),
            ));
        }
        if let Some(d) = dropout
            && (d.p.len() != n || d.seeds.len() != n)
        {
            return Err(self.shape_error(
                format!("dropout for {} / {} models", d.p.len(), d.seeds.len()),
                format!("{n} probabilities and seeds"),
            ));
        }
        let [c, h, w] = self.spec.input;
        let (x, shared) = match input {
            Input::Shared(x) => {
                let [_, xc, xh, xw] = x.dims();
                if [xc, xh, xw] != [c, h, w] {
                    return Err(self.shape_error(
                        format!("input {:?}", x.dims()),
                        format!("[B, {c}, {h}, {w}]"),
                    ));
                }
                (Act::Spatial(x), true)
            }
            Input::PerModel(x) => {
                let [xn, b, xc, xh, xw] = x.dims();
                if [xn, xc, xh, xw] != [n, c, h, w] {
                    return Err(self.shape_error(
                        format!("input {:?}", x.dims()),
                        format!("[{n}, B, {c}, {h}, {w}]"),
                    ));
                }
                (
                    Act::Spatial(x.swap_dims(0, 1).reshape([b, n * c, h, w])),
                    false,
                )
            }
        };
        let mut pass = Pass {
            weights: &weights,
            n,
            dropout,
            params: self.layout.params.iter(),
            broadcast: shared,
            index: 0,
            stats: Vec::new(),
        };
        match self.run(&mut pass, &self.spec.layers, x) {
            Act::Flat(t) => Ok((t, pass.stats)),
            Act::Spatial(_) => unreachable!("layout() ensures a flat output"),
        }
    }

    /// Whether some layer is a batch norm (whose running statistics training must update).
    pub fn has_batch_norm(&self) -> bool {
        self.layout.has_batch_norm()
    }

    /// `[1, P]`: 1 for the values an optimizer trains, 0 for batch norms' running statistics.
    pub fn trainable_mask(&self, device: &Device) -> Tensor<2> {
        let mut mask = vec![1f32; self.layout.total];
        for p in &self.layout.params {
            if let Some(b) = p.buffers_offset {
                mask[b..b + 2 * p.out].fill(0.0);
            }
        }
        Tensor::from_data(TensorData::new(mask, [1, self.layout.total]), device)
    }

    /// The weights with every batch norm's running statistics moved towards a training
    /// batch's, as PyTorch's train-mode forward moves them:
    /// `running = (1 - momentum) * running + momentum * batch` (the variance unbiased).
    pub fn update_running_stats(&self, w: Tensor<2>, stats: &[BatchStats]) -> Tensor<2> {
        let mut w = w;
        let [n, _] = w.dims();
        for s in stats {
            let [_, c] = s.mean.dims();
            for (at, batch) in [(s.offset, &s.mean), (s.offset + c, &s.var)] {
                let old = w.clone().narrow(1, at, c);
                let new = old * (1.0 - s.momentum) + batch.clone() * s.momentum;
                w = w.slice_assign([0..n, at..at + c], new);
            }
        }
        w
    }

    /// Runs `layers` on `x`: each layer takes its index in the pass (in order, a residual
    /// block before its body and shortcut: the stream of its dropout masks) and its
    /// parameters from the pass.
    fn run(&self, pass: &mut Pass<'_>, layers: &[Layer], mut x: Act) -> Act {
        let n = pass.n;
        for layer in layers {
            let i = pass.index;
            pass.index += 1;
            x = match (layer, x) {
                (Layer::Conv2d { .. }, Act::Spatial(t)) => {
                    let pl = pass.params.next().expect("layout matches layers");
                    let ParamKind::Conv {
                        stride, padding, ..
                    } = pl.kind
                    else {
                        unreachable!()
                    };
                    let wt = pass
                        .weights
                        .clone()
                        .narrow(1, pl.weight_offset, pl.weight_len());
                    let [k] = [pl.weight_shape[2]];
                    let wt = wt.reshape([n * pl.out, pl.inp, k, k]);
                    let bias = pl.bias_offset.map(|o| {
                        pass.weights
                            .clone()
                            .narrow(1, o, pl.out)
                            .reshape([n * pl.out])
                    });
                    // Shared input: every model reads the same channels, so one ungrouped
                    // convolution with N*out filters does it without copying the input N times.
                    let groups = if pass.broadcast { 1 } else { n };
                    pass.broadcast = false;
                    Act::Spatial(conv2d(
                        t,
                        wt,
                        bias,
                        ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups),
                    ))
                }
                (Layer::MaxPool { kernel, stride }, Act::Spatial(t)) => {
                    let s = stride.unwrap_or(*kernel);
                    Act::Spatial(max_pool2d(
                        t,
                        MaxPoolOptions::new([*kernel; 2]).with_stride([s; 2]),
                    ))
                }
                (Layer::Activation { func }, t) => {
                    let f = func.unwrap_or(self.activation);
                    match t {
                        Act::Spatial(t) => Act::Spatial(apply_activation(t, f)),
                        Act::Flat(t) => Act::Flat(apply_activation(t, f)),
                    }
                }
                (Layer::Dropout { p }, t) => match pass.dropout {
                    None => t,
                    Some(d) => {
                        let probs: Vec<f64> = (0..n).map(|m| p.unwrap_or(d.p[m])).collect();
                        if probs.iter().all(|&q| q == 0.0) {
                            t
                        } else {
                            apply_dropout(t, &probs, d, i, n, pass.broadcast)
                        }
                    }
                },
                (Layer::Flatten, Act::Spatial(t)) => {
                    let [b, nc, hh, ww] = t.dims();
                    let t = if pass.broadcast {
                        t.repeat_dim(1, n)
                    } else {
                        t
                    };
                    let f = nc / if pass.broadcast { 1 } else { n } * hh * ww;
                    pass.broadcast = false;
                    Act::Flat(t.reshape([b, n, f]).swap_dims(0, 1))
                }
                // Already flat (e.g. after global average pooling): nothing to do.
                (Layer::Flatten, Act::Flat(t)) => Act::Flat(t),
                (Layer::GlobalAvgPool, Act::Spatial(t)) => {
                    let [b, nc, hh, ww] = t.dims();
                    let t = if pass.broadcast {
                        t.repeat_dim(1, n)
                    } else {
                        t
                    };
                    let cc = nc / if pass.broadcast { 1 } else { n };
                    pass.broadcast = false;
                    Act::Flat(
                        t.reshape([b, n * cc, hh * ww])
                            .mean_dim(2)
                            .reshape([b, n, cc])
                            .swap_dims(0, 1),
                    )
                }
                (Layer::Linear { .. }, Act::Flat(t)) => {
                    let pl = pass.params.next().expect("layout matches layers");
                    let wt = pass
                        .weights
                        .clone()
                        .narrow(1, pl.weight_offset, pl.weight_len())
                        .reshape([n, pl.out, pl.inp]);
                    let y = t.matmul(wt.swap_dims(1, 2));
                    Act::Flat(match pl.bias_offset {
                        Some(o) => {
                            y + pass
                                .weights
                                .clone()
                                .narrow(1, o, pl.out)
                                .reshape([n, 1, pl.out])
                        }
                        None => y,
                    })
                }
                (Layer::BatchNorm { eps, momentum }, t) => {
                    let pl = pass.params.next().expect("layout matches layers");
                    let t = pass.materialise(t);
                    let (y, stats) =
                        batch_norm(pl, *eps, pass.weights, t, n, pass.dropout.is_some());
                    if let Some((mean, var)) = stats {
                        pass.stats.push(BatchStats {
                            offset: pl
                                .buffers_offset
                                .expect("a batch norm's running statistics"),
                            momentum: *momentum,
                            mean: mean.without_autodiff(),
                            var: var.without_autodiff(),
                        });
                    }
                    y
                }
                (Layer::Residual { body, shortcut }, t) => {
                    let t = pass.materialise(t);
                    let out = self.run(pass, body, t.clone());
                    match (out, self.run(pass, shortcut, t)) {
                        (Act::Spatial(a), Act::Spatial(b)) => Act::Spatial(a + b),
                        (Act::Flat(a), Act::Flat(b)) => Act::Flat(a + b),
                        _ => unreachable!("layout() checked the two branches' shapes"),
                    }
                }
                (l, _) => unreachable!("layout() validated layer {i} ({l:?})"),
            };
        }
        x
    }

    fn shape_error(&self, found: String, expected: String) -> Error {
        Error::Shape {
            what: format!("population forward of '{}'", self.spec.name),
            found,
            expected,
        }
    }
}

/// Applies a nonlinearity element-wise.
pub fn apply_activation<const D: usize>(t: Tensor<D>, f: Activation) -> Tensor<D> {
    match f {
        Activation::Relu => activation::relu(t),
        Activation::Leakyrelu => activation::leaky_relu(t, 0.01),
        Activation::Tanh => activation::tanh(t),
        Activation::Sigmoid => activation::sigmoid(t),
        Activation::Silu => activation::silu(t),
        Activation::Gelu => activation::gelu(t),
    }
}

/// Inverted dropout with per-model masks drawn from (model seed, step, layer index).
fn apply_dropout(
    t: Act,
    probs: &[f64],
    d: &Dropout,
    layer: usize,
    n: usize,
    broadcast: bool,
) -> Act {
    let device = match &t {
        Act::Spatial(x) => x.device(),
        Act::Flat(x) => x.device(),
    };
    // Per-model element count and batch size in the model-major view [N, B, rest].
    let (b, rest, t) = match t {
        Act::Spatial(x) => {
            let x = if broadcast { x.repeat_dim(1, n) } else { x };
            let [b, nc, hh, ww] = x.dims();
            (b, nc / n * hh * ww, Act::Spatial(x))
        }
        Act::Flat(x) => {
            let [_, b, f] = x.dims();
            (b, f, Act::Flat(x))
        }
    };
    let mut mask = Vec::with_capacity(n * b * rest);
    for (&p, &seed) in probs.iter().zip(&d.seeds) {
        mask.extend(hyperzoo_kernels::dropout_mask(
            seed,
            d.step,
            layer as u64,
            p,
            b * rest,
        ));
    }
    let mask = Tensor::<3>::from_data(TensorData::new(mask, [n, b, rest]), &device);
    match t {
        Act::Flat(x) => Act::Flat(x * mask),
        Act::Spatial(x) => {
            let [b, nc, hh, ww] = x.dims();
            let mask = mask.swap_dims(0, 1).reshape([b, nc, hh, ww]);
            Act::Spatial(x * mask)
        }
    }
}

pub use hyperzoo_kernels::model_rng;
