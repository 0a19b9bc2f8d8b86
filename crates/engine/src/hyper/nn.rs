//! Building blocks of the autoencoders, written out rather than taken from `burn::nn` where the
//! references differ from burn's defaults (the 2021 layer norm divides by the unbiased std plus
//! eps; SANE's blocks have no biases) and so that every random draw comes from the run's own
//! generator: parameters are initialised from [`Init`] (seeded from the run seed) and dropout
//! masks from [`Ctx`] (seeded from the run seed and the step), never from a process-wide stream,
//! so runs on parallel threads are reproducible and a resumed run draws what an uninterrupted
//! one would.
use super::fused;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// `l` applied to `x` `[..., d_in]` as one `[rows, d_in] @ [d_in, d_out]` matmul over the
/// leading dims folded into rows, as torch's `F.linear` runs. burn's own `Linear::forward` keeps
/// a batched matmul with the weight broadcast when the fold would not make the output squarer
/// (e.g. SANE's `[2B, 93, 1024] → 256` projections), which on LibTorch runs `2B` small GEMMs
/// forward and backward; folding made SANE's training step ~10 % faster on CPU.
pub fn linear<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    if D <= 2 {
        return l.forward(x);
    }
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let y = l.forward(x.reshape([rows, d_in]));
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

/// Parameter initialisation from a seeded generator.
pub struct Init {
    rng: ChaCha8Rng,
    device: Device,
}

/// How a linear layer's weight is drawn.
#[derive(Debug, Clone, Copy)]
pub enum LinearInit {
    /// PyTorch's nn.Linear default: weight and bias U(±1/√fan_in).
    Torch,
    /// Kaiming normal (fan_in, gain √2) weights, biases 0.01: the 2021 projection head.
    KaimingNormal,
    /// N(0, std²) weights, zero biases: SANE/GPT-2.
    Normal(f64),
}

impl Init {
    /// A generator for parameters on `device`.
    pub fn new(seed: u64, device: &Device) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x1A17_0000_0000_0001),
            device: device.clone(),
        }
    }

    fn param<const D: usize>(&self, data: Vec<f32>, shape: [usize; D]) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(data, shape),
            &self.device,
        ))
    }

    /// N(0, std²) values.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], std: f64) -> Param<Tensor<D>> {
        let n: usize = shape.iter().product();
        let dist = Normal::new(0.0, std.max(1e-30)).expect("finite std");
        let data = (0..n).map(|_| dist.sample(&mut self.rng) as f32).collect();
        self.param(data, shape)
    }

    /// U(−bound, bound) values.
    pub fn uniform<const D: usize>(&mut self, shape: [usize; D], bound: f64) -> Param<Tensor<D>> {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| ((self.rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
            .collect();
        self.param(data, shape)
    }

    /// A constant.
    pub fn constant<const D: usize>(&mut self, shape: [usize; D], value: f32) -> Param<Tensor<D>> {
        let n: usize = shape.iter().product();
        self.param(vec![value; n], shape)
    }

    /// A linear layer `d_in → d_out` (burn stores the weight as `[d_in, d_out]`).
    pub fn linear(&mut self, d_in: usize, d_out: usize, bias: bool, how: LinearInit) -> Linear {
        let (weight, b) = match how {
            LinearInit::Torch => {
                let k = 1.0 / (d_in as f64).sqrt();
                let w = self.uniform([d_in, d_out], k);
                (w, bias.then(|| self.uniform([d_out], k)))
            }
            LinearInit::KaimingNormal => {
                let w = self.normal([d_in, d_out], (2.0 / d_in as f64).sqrt());
                (w, bias.then(|| self.constant([d_out], 0.01)))
            }
            LinearInit::Normal(std) => {
                let w = self.normal([d_in, d_out], std);
                (w, bias.then(|| self.constant([d_out], 0.0)))
            }
        };
        Linear { weight, bias: b }
    }
}

/// Per-step context: the dropout generator (None in evaluation: no dropout).
pub struct Ctx {
    rng: Option<ChaCha8Rng>,
}

impl Ctx {
    /// Training context for `step` of a run seeded `seed`.
    pub fn train(seed: u64, step: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xD809_0000_0000_0002);
        rng.set_stream(step);
        Self { rng: Some(rng) }
    }

    /// Evaluation context: dropout off.
    pub fn eval() -> Self {
        Self { rng: None }
    }

    /// Whether dropout is active.
    pub fn training(&self) -> bool {
        self.rng.is_some()
    }

    /// The context's generator (training only), for draws other than dropout.
    pub fn rng(&mut self) -> Option<&mut ChaCha8Rng> {
        self.rng.as_mut()
    }

    /// Inverted dropout with probability `p`, masks from the context's generator.
    pub fn dropout<const D: usize>(&mut self, x: Tensor<D>, p: f64) -> Tensor<D> {
        let Some(rng) = self.rng.as_mut() else {
            return x;
        };
        if p <= 0.0 {
            return x;
        }
        let shape = x.dims();
        let n: usize = shape.iter().product();
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
        x * mask
    }
}

/// Layer norm over the last dimension.
#[derive(Module, Debug)]
pub struct Norm {
    /// Scale.
    pub gamma: Param<Tensor<1>>,
    /// Shift (None: no bias, as SANE).
    pub beta: Option<Param<Tensor<1>>>,
    /// The 2021 variant: divide by the unbiased std plus eps instead of sqrt(biased var + eps).
    pub unbiased_std: bool,
    /// eps.
    pub eps: f64,
}

impl Norm {
    /// The 2021 reference's layer norm: α·(x − mean)/(std_unbiased + 1e-6) + β.
    pub fn r2021(init: &mut Init, d: usize) -> Self {
        Self {
            gamma: init.constant([d], 1.0),
            beta: Some(init.constant([d], 0.0)),
            unbiased_std: true,
            eps: 1e-6,
        }
    }

    /// Standard layer norm without bias, eps 1e-5 (SANE/nanoGPT).
    pub fn no_bias(init: &mut Init, d: usize) -> Self {
        Self {
            gamma: init.constant([d], 1.0),
            beta: None,
            unbiased_std: false,
            eps: 1e-5,
        }
    }

    /// Normalises `x` over its last dimension. The standard variant runs as one fused op
    /// ([`fused::layer_norm`]) unless the fused ops are off ([`fused::enabled`]).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let last = D - 1;
        let y = if !self.unbiased_std && fused::enabled() {
            fused::layer_norm(x, self.gamma.val(), self.eps)
        } else if self.unbiased_std {
            let (var, mean) = x.clone().var_mean(last);
            (x - mean) / (var.sqrt() + self.eps) * self.gamma.val().unsqueeze()
        } else {
            let (var, mean) = x.clone().var_mean_bias(last);
            (x - mean) / (var + self.eps).sqrt() * self.gamma.val().unsqueeze()
        };
        match &self.beta {
            Some(b) => y + b.val().unsqueeze(),
            None => y,
        }
    }
}

/// Batch norm in training mode (batch statistics, biased variance, eps 1e-5) over `[B, F]`.
/// Used only inside the 2021 projection head, whose output feeds the contrastive loss; no
/// running statistics are kept because the head is never evaluated outside a batch.
#[derive(Module, Debug)]
pub struct BatchNormTrain {
    /// Scale.
    pub gamma: Param<Tensor<1>>,
    /// Shift.
    pub beta: Param<Tensor<1>>,
}

impl BatchNormTrain {
    /// Unit scale, zero shift.
    pub fn new(init: &mut Init, d: usize) -> Self {
        Self {
            gamma: init.constant([d], 1.0),
            beta: init.constant([d], 0.0),
        }
    }

    /// Normalises each feature over the batch.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let (var, mean) = x.clone().var_mean_bias(0);
        (x - mean) / (var + 1e-5).sqrt() * self.gamma.val().unsqueeze()
            + self.beta.val().unsqueeze()
    }
}

/// Whether attention with dropout `p` on its weights can run fused: the fused ops are on and no
/// dropout is drawn (`p` is 0 or the context is evaluation).
fn fused_attention(p: f64, ctx: &Ctx) -> bool {
    fused::enabled() && (p <= 0.0 || !ctx.training())
}

/// Multi-head scaled dot-product attention of `q, k, v: [B, T, d]` (no mask: the autoencoders
/// attend over whole sequences). Attention weights get dropout `p`. Runs fused
/// ([`fused::attention_qkv`]) when no dropout is drawn.
pub fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    p: f64,
    ctx: &mut Ctx,
) -> Tensor<3> {
    if fused_attention(p, ctx) {
        return fused::attention_qkv(Tensor::cat(vec![q, k, v], 2), heads);
    }
    composed_attention(q, k, v, heads, p, ctx)
}

/// [`attention`] over a packed `qkv: [B, T, 3d]` (q, k, v side by side on the last dimension,
/// as a fused projection writes them).
pub fn attention_packed(qkv: Tensor<3>, heads: usize, p: f64, ctx: &mut Ctx) -> Tensor<3> {
    if fused_attention(p, ctx) {
        return fused::attention_qkv(qkv, heads);
    }
    let [_, _, d3] = qkv.dims();
    let d = d3 / 3;
    let q = qkv.clone().narrow(2, 0, d);
    let k = qkv.clone().narrow(2, d, d);
    let v = qkv.narrow(2, 2 * d, d);
    composed_attention(q, k, v, heads, p, ctx)
}

/// [`attention`] written with tensor ops.
fn composed_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    p: f64,
    ctx: &mut Ctx,
) -> Tensor<3> {
    let [b, t, d] = q.dims();
    let dk = d / heads;
    let split = |x: Tensor<3>| x.reshape([b, t, heads, dk]).swap_dims(1, 2);
    let (q, k, v) = (split(q), split(k), split(v));
    let scores = q.matmul(k.swap_dims(2, 3)) / (dk as f64).sqrt();
    let weights = ctx.dropout(activation::softmax(scores, 3), p);
    weights.matmul(v).swap_dims(1, 2).reshape([b, t, d])
}

/// A 2021 encoder block (pre-norm): x += Drop(MHA(Norm(x))); x += Drop(FF(Norm(x))), FF =
/// Linear → ReLU → Dropout → Linear; separate q/k/v projections with biases; attention dropout
/// fixed at 0.1 as the reference (reference.md §3.1, §13.3).
#[derive(Module, Debug)]
pub struct Block2021 {
    norm1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: Norm,
    ff1: Linear,
    ff2: Linear,
    heads: usize,
    dropout: f64,
}

impl Block2021 {
    /// A block of width `d`, `heads` heads, feed-forward width `d_ff`.
    pub fn new(init: &mut Init, d: usize, heads: usize, d_ff: usize, dropout: f64) -> Self {
        let mut lin = |a, b| init.linear(a, b, true, LinearInit::Torch);
        let (q, k, v, out) = (lin(d, d), lin(d, d), lin(d, d), lin(d, d));
        let (ff1, ff2) = (lin(d, d_ff), lin(d_ff, d));
        Self {
            norm1: Norm::r2021(init, d),
            q,
            k,
            v,
            out,
            norm2: Norm::r2021(init, d),
            ff1,
            ff2,
            heads,
            dropout,
        }
    }

    /// `[B, T, d]` → `[B, T, d]`.
    pub fn forward(&self, x: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let h = self.norm1.forward(x.clone());
        let a = attention(
            linear(&self.q, h.clone()),
            linear(&self.k, h.clone()),
            linear(&self.v, h),
            self.heads,
            0.1,
            ctx,
        );
        let x = x + ctx.dropout(linear(&self.out, a), self.dropout);
        let h = self.norm2.forward(x.clone());
        let f = ctx.dropout(activation::relu(linear(&self.ff1, h)), self.dropout);
        x.clone() + ctx.dropout(linear(&self.ff2, f), self.dropout)
    }
}

/// A SANE block (GPT-2/nanoGPT style, non-causal): x += Attn(LN(x)); x += MLP(LN(x)); layer
/// norms and linears without biases, fused QKV, MLP d → 4d → GELU → d; N(0, 0.02) init with the
/// residual projections at 0.02/√(2·layers) (reference.md §3.2).
#[derive(Module, Debug)]
pub struct SaneBlock {
    ln1: Norm,
    qkv: Linear,
    proj: Linear,
    ln2: Norm,
    fc: Linear,
    fc_proj: Linear,
    heads: usize,
    dropout: f64,
}

impl SaneBlock {
    /// A block of width `d` in a stack of `layers`.
    pub fn new(init: &mut Init, d: usize, heads: usize, layers: usize, dropout: f64) -> Self {
        let resid = LinearInit::Normal(0.02 / (2.0 * layers as f64).sqrt());
        let qkv = init.linear(d, 3 * d, false, LinearInit::Normal(0.02));
        let proj = init.linear(d, d, false, resid);
        let fc = init.linear(d, 4 * d, false, LinearInit::Normal(0.02));
        let fc_proj = init.linear(4 * d, d, false, resid);
        Self {
            ln1: Norm::no_bias(init, d),
            qkv,
            proj,
            ln2: Norm::no_bias(init, d),
            fc,
            fc_proj,
            heads,
            dropout,
        }
    }

    /// `[B, T, d]` → `[B, T, d]`.
    pub fn forward(&self, x: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let qkv = linear(&self.qkv, self.ln1.forward(x.clone()));
        let a = attention_packed(qkv, self.heads, self.dropout, ctx);
        let x = x + ctx.dropout(linear(&self.proj, a), self.dropout);
        let h = activation::gelu(linear(&self.fc, self.ln2.forward(x.clone())));
        x.clone() + ctx.dropout(linear(&self.fc_proj, h), self.dropout)
    }
}
