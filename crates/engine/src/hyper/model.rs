//! The autoencoders (reference.md §3): the 2021 transformer over neuron tokens with a
//! compression token and a tanh bottleneck (and its encoding ablation), the FC baseline, and
//! SANE (fixed-size tokens with 3-D positions, a latent per token); projection heads for the
//! contrastive loss.
//!
//! Inputs: the transformer and the FC baseline take a network's flat (normalised) weights as
//! `[B, 1, P]` and return the same shape; SANE takes tokens `[B, W, token_size]` with positions
//! `[B, W, 3]` and returns tokens. Latents are `[B, Tz, dz]`: `Tz = 1` for the first two, a
//! latent per token for SANE. The model embedding used by probes is the mean over `Tz`.
use super::nn::{BatchNormTrain, Block2021, Ctx, Init, LinearInit, Norm, SaneBlock, linear};
use crate::{Error, Result};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation;
use hyperzoo_core::arch::Layout;

/// Token encoding of the 2021 transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One token per output neuron/kernel: its incoming weights and bias (2021).
    Neuron,
    /// One token per weight (the 2021 ablation).
    Weight,
}

/// Sizes of the 2021 transformer autoencoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerConfig {
    /// Token encoding.
    pub encoding: Encoding,
    /// Prepend a learned compression token and bottleneck from its output (else flatten all).
    pub compression_token: bool,
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Blocks in the encoder and in the decoder.
    pub layers: usize,
    /// Feed-forward width.
    pub d_ff: usize,
    /// Latent size.
    pub latent: usize,
    /// Dropout.
    pub dropout: f64,
}

/// Sizes of the FC baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct FcConfig {
    /// Hidden layers between input and latent (dims: linspace(P, latent, hidden + 2)).
    pub hidden_layers: usize,
    /// Latent size.
    pub latent: usize,
    /// Dropout.
    pub dropout: f64,
}

/// Sizes of SANE.
#[derive(Debug, Clone, PartialEq)]
pub struct SaneConfig {
    /// Values per token.
    pub token_size: usize,
    /// Model width (even: half for (n, l) positions, half for c).
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Blocks in the encoder and in the decoder.
    pub layers: usize,
    /// Latent size per token.
    pub latent: usize,
    /// Sizes of the position tables (n, l, c).
    pub max_positions: [usize; 3],
    /// Dropout.
    pub dropout: f64,
}

/// Projection head for the contrastive loss.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadConfig {
    /// 2021: Linear+BatchNorm+ReLU blocks, a last Linear+BatchNorm.
    Mlp {
        /// Linear layers before the output layer.
        layers: usize,
        /// Hidden width.
        hidden: usize,
        /// Output width.
        out: usize,
    },
    /// SANE: flatten, Linear(→30)+LayerNorm+ReLU, Linear(30→30)+LayerNorm+ReLU.
    Sane,
}

/// What to build.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// 2021 transformer.
    Transformer(TransformerConfig),
    /// FC baseline.
    Fc(FcConfig),
    /// SANE.
    Sane(SaneConfig),
}

/// The 2021 transformer autoencoder.
#[derive(Module, Debug)]
pub struct TransformerAe {
    embedders: Vec<Linear>,
    comp: Option<Param<Tensor<3>>>,
    enc_pos: Param<Tensor<2>>,
    enc: Vec<Block2021>,
    bottleneck: Linear,
    dec_in: Linear,
    dec_pos: Param<Tensor<2>>,
    dec: Vec<Block2021>,
    debedders: Vec<Linear>,
    /// Flat index of every value in token order.
    gather: Tensor<1, Int>,
    /// Token-order index of every flat value (the inverse of `gather`).
    scatter: Tensor<1, Int>,
    /// Tokens per group (a layer for neuron tokens; one group for weight tokens).
    group_tokens: Vec<usize>,
    /// Values per token in each group.
    group_len: Vec<usize>,
    d_model: usize,
    dropout: f64,
}

/// Token groups of the 2021 encodings: (tokens, values per token) and the flat index of every
/// value in token order.
fn token_order(layout: &Layout, encoding: Encoding) -> (Vec<(usize, usize)>, Vec<usize>) {
    match encoding {
        Encoding::Weight => (vec![(layout.total, 1)], (0..layout.total).collect()),
        Encoding::Neuron => {
            let mut groups = Vec::new();
            let mut order = Vec::with_capacity(layout.total);
            for l in &layout.params {
                if let Some(b) = l.buffers_offset {
                    // A batch norm: its channels' (weight, bias) pairs, then their running
                    // means, then their running variances, each a group of its own (as SANE
                    // tokens take them).
                    for o in 0..l.out {
                        order.extend([l.weight_offset + o, l.weight_offset + l.out + o]);
                    }
                    order.extend(b..b + 2 * l.out);
                    groups.extend([(l.out, 2), (l.out, 1), (l.out, 1)]);
                    continue;
                }
                let row = l.row_len();
                let len = row + usize::from(l.bias_offset.is_some());
                for o in 0..l.out {
                    order.extend(l.weight_offset + o * row..l.weight_offset + (o + 1) * row);
                    if let Some(b) = l.bias_offset {
                        order.push(b + o);
                    }
                }
                groups.push((l.out, len));
            }
            (groups, order)
        }
    }
}

fn int_tensor(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = values.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}

impl TransformerAe {
    fn new(c: &TransformerConfig, layout: &Layout, init: &mut Init, device: &Device) -> Self {
        let (groups, order) = token_order(layout, c.encoding);
        let mut inverse = vec![0; order.len()];
        for (k, &i) in order.iter().enumerate() {
            inverse[i] = k;
        }
        let t: usize = groups.iter().map(|g| g.0).sum();
        let d = c.d_model;
        let embedders = groups
            .iter()
            .map(|&(_, len)| init.linear(len, d, true, LinearInit::Torch))
            .collect();
        let comp = c.compression_token.then(|| init.normal([1, 1, d], 1.0));
        let enc_pos = init.normal([t + usize::from(c.compression_token), d], 1.0);
        let enc = (0..c.layers)
            .map(|_| Block2021::new(init, d, c.heads, c.d_ff, c.dropout))
            .collect();
        let pooled = if c.compression_token { d } else { t * d };
        let bottleneck = init.linear(pooled, c.latent, true, LinearInit::Torch);
        let dec_in = init.linear(c.latent, t * d, true, LinearInit::Torch);
        let dec_pos = init.normal([t, d], 1.0);
        let dec = (0..c.layers)
            .map(|_| Block2021::new(init, d, c.heads, c.d_ff, c.dropout))
            .collect();
        let debedders = groups
            .iter()
            .map(|&(_, len)| init.linear(d, len, true, LinearInit::Torch))
            .collect();
        Self {
            embedders,
            comp,
            enc_pos,
            enc,
            bottleneck,
            dec_in,
            dec_pos,
            dec,
            debedders,
            gather: int_tensor(&order, device),
            scatter: int_tensor(&inverse, device),
            group_tokens: groups.iter().map(|g| g.0).collect(),
            group_len: groups.iter().map(|g| g.1).collect(),
            d_model: d,
            dropout: c.dropout,
        }
    }

    fn encode(&self, x: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let [b, _, p] = x.dims();
        let tokens = x.reshape([b, p]).select(1, self.gather.clone());
        let mut parts = Vec::with_capacity(self.embedders.len());
        let mut off = 0;
        for ((emb, &n), &len) in self
            .embedders
            .iter()
            .zip(&self.group_tokens)
            .zip(&self.group_len)
        {
            let g = tokens.clone().narrow(1, off, n * len).reshape([b, n, len]);
            // burn's own forward here: folding these narrowed token groups made a resumed run
            // differ from an uninterrupted one in the last bit (tests/hyper_train.rs).
            parts.push(emb.forward(g));
            off += n * len;
        }
        let mut h = Tensor::cat(parts, 1);
        if let Some(c) = &self.comp {
            h = Tensor::cat(vec![c.val().repeat_dim(0, b), h], 1);
        }
        let h = ctx.dropout(h + self.enc_pos.val().unsqueeze(), self.dropout);
        let h = self.enc.iter().fold(h, |h, blk| blk.forward(h, ctx));
        let pooled = match &self.comp {
            Some(_) => h.narrow(1, 0, 1).reshape([b, self.d_model]),
            None => {
                let [_, t, d] = h.dims();
                h.reshape([b, t * d])
            }
        };
        let z = activation::tanh(self.bottleneck.forward(pooled));
        let [_, dz] = z.dims();
        z.reshape([b, 1, dz])
    }

    fn decode(&self, z: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let [b, _, dz] = z.dims();
        let t: usize = self.group_tokens.iter().sum();
        let h = self
            .dec_in
            .forward(z.reshape([b, dz]))
            .reshape([b, t, self.d_model]);
        let h = ctx.dropout(h + self.dec_pos.val().unsqueeze(), self.dropout);
        let h = self.dec.iter().fold(h, |h, blk| blk.forward(h, ctx));
        let mut parts = Vec::with_capacity(self.debedders.len());
        let mut off = 0;
        for ((deb, &n), &len) in self
            .debedders
            .iter()
            .zip(&self.group_tokens)
            .zip(&self.group_len)
        {
            let g = deb.forward(h.clone().narrow(1, off, n));
            parts.push(g.reshape([b, n * len]));
            off += n;
        }
        let flat = Tensor::cat(parts, 1).select(1, self.scatter.clone());
        let [_, p] = flat.dims();
        flat.reshape([b, 1, p])
    }
}

/// The FC autoencoder baseline: linear layers of widths linspace(P, latent, hidden + 2), each
/// but the last followed by LeakyReLU and dropout, tanh on the latent; the decoder mirrored.
#[derive(Module, Debug)]
pub struct FcAe {
    enc: Vec<Linear>,
    dec: Vec<Linear>,
    dropout: f64,
}

/// Widths `linspace(from, to, n)` cast to integers, as the reference.
pub fn linspace_dims(from: usize, to: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let t = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            (from as f64 + (to as f64 - from as f64) * t) as usize
        })
        .collect()
}

impl FcAe {
    fn new(c: &FcConfig, params: usize, init: &mut Init) -> Self {
        let dims = linspace_dims(params, c.latent, c.hidden_layers + 2);
        let enc = dims
            .windows(2)
            .map(|w| init.linear(w[0], w[1], true, LinearInit::Torch))
            .collect();
        let dec = dims
            .windows(2)
            .rev()
            .map(|w| init.linear(w[1], w[0], true, LinearInit::Torch))
            .collect();
        Self {
            enc,
            dec,
            dropout: c.dropout,
        }
    }

    fn mlp(layers: &[Linear], x: Tensor<2>, dropout: f64, ctx: &mut Ctx) -> Tensor<2> {
        let last = layers.len() - 1;
        layers.iter().enumerate().fold(x, |h, (i, l)| {
            let h = l.forward(h);
            if i < last {
                ctx.dropout(activation::leaky_relu(h, 0.01), dropout)
            } else {
                h
            }
        })
    }

    fn encode(&self, x: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let [b, _, p] = x.dims();
        let z = activation::tanh(Self::mlp(&self.enc, x.reshape([b, p]), self.dropout, ctx));
        let [_, dz] = z.dims();
        z.reshape([b, 1, dz])
    }

    fn decode(&self, z: Tensor<3>, ctx: &mut Ctx) -> Tensor<3> {
        let [b, _, dz] = z.dims();
        let y = Self::mlp(&self.dec, z.reshape([b, dz]), self.dropout, ctx);
        let [_, p] = y.dims();
        y.reshape([b, 1, p])
    }
}

/// SANE's position embedding: E1(n) + E2(l) concatenated with E3(c), each of width d/2.
#[derive(Module, Debug)]
pub struct PositionEmbedding {
    n: Param<Tensor<2>>,
    l: Param<Tensor<2>>,
    c: Param<Tensor<2>>,
}

impl PositionEmbedding {
    fn new(init: &mut Init, d: usize, max: [usize; 3]) -> Self {
        let h = d / 2;
        Self {
            n: init.normal([max[0], h], 0.02),
            l: init.normal([max[1], h], 0.02),
            c: init.normal([max[2], d - h], 0.02),
        }
    }

    /// `[B, W, 3]` positions → `[B, W, d]`.
    fn forward(&self, pos: Tensor<3, Int>) -> Tensor<3> {
        let [b, w, _] = pos.dims();
        let look = |table: &Param<Tensor<2>>, k: usize| {
            let idx = pos.clone().narrow(2, k, 1).reshape([b * w]);
            let e = table.val().select(0, idx);
            let [_, h] = e.dims();
            e.reshape([b, w, h])
        };
        Tensor::cat(
            vec![look(&self.n, 0) + look(&self.l, 1), look(&self.c, 2)],
            2,
        )
    }
}

/// SANE: tokens → Linear + positions → blocks → a latent per token; decoder mirrored.
#[derive(Module, Debug)]
pub struct SaneAe {
    tokenizer: Linear,
    pos: PositionEmbedding,
    enc: Vec<SaneBlock>,
    comp: Linear,
    dec_in: Linear,
    dec: Vec<SaneBlock>,
    out: Linear,
    dropout: f64,
}

impl SaneAe {
    fn new(c: &SaneConfig, init: &mut Init) -> Self {
        let d = c.d_model;
        let n = LinearInit::Normal(0.02);
        Self {
            tokenizer: init.linear(c.token_size, d, true, n),
            pos: PositionEmbedding::new(init, d, c.max_positions),
            enc: (0..c.layers)
                .map(|_| SaneBlock::new(init, d, c.heads, c.layers, c.dropout))
                .collect(),
            comp: init.linear(d, c.latent, true, n),
            dec_in: init.linear(c.latent, d, true, n),
            dec: (0..c.layers)
                .map(|_| SaneBlock::new(init, d, c.heads, c.layers, c.dropout))
                .collect(),
            out: init.linear(d, c.token_size, true, n),
            dropout: c.dropout,
        }
    }

    fn encode(&self, x: Tensor<3>, pos: Tensor<3, Int>, ctx: &mut Ctx) -> Tensor<3> {
        let h = linear(&self.tokenizer, x) + self.pos.forward(pos);
        let h = ctx.dropout(h, self.dropout);
        let h = self.enc.iter().fold(h, |h, blk| blk.forward(h, ctx));
        linear(&self.comp, h)
    }

    fn decode(&self, z: Tensor<3>, pos: Tensor<3, Int>, ctx: &mut Ctx) -> Tensor<3> {
        let h = linear(&self.dec_in, z) + self.pos.forward(pos);
        let h = ctx.dropout(h, self.dropout);
        let h = self.dec.iter().fold(h, |h, blk| blk.forward(h, ctx));
        linear(&self.out, h)
    }
}

/// The 2021 projection head.
#[derive(Module, Debug)]
pub struct MlpHead {
    layers: Vec<Linear>,
    norms: Vec<BatchNormTrain>,
}

/// SANE's projection head.
#[derive(Module, Debug)]
pub struct SaneHead {
    l1: Linear,
    n1: Norm,
    l2: Linear,
    n2: Norm,
}

/// A projection head.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per model; boxing would not pay
pub enum Head {
    /// 2021.
    Mlp(MlpHead),
    /// SANE.
    Sane(SaneHead),
}

impl Head {
    fn new(c: &HeadConfig, input: usize, init: &mut Init) -> Self {
        match c {
            HeadConfig::Mlp {
                layers,
                hidden,
                out,
            } => {
                let mut dims = vec![input];
                dims.extend(std::iter::repeat_n(*hidden, *layers));
                dims.push(*out);
                let layers: Vec<Linear> = dims
                    .windows(2)
                    .map(|w| init.linear(w[0], w[1], true, LinearInit::KaimingNormal))
                    .collect();
                let norms = dims[1..]
                    .iter()
                    .map(|&d| BatchNormTrain::new(init, d))
                    .collect();
                Head::Mlp(MlpHead { layers, norms })
            }
            HeadConfig::Sane => Head::Sane(SaneHead {
                l1: init.linear(input, 30, false, LinearInit::Normal(0.02)),
                n1: Norm::no_bias(init, 30),
                l2: init.linear(30, 30, false, LinearInit::Normal(0.02)),
                n2: Norm::no_bias(init, 30),
            }),
        }
    }

    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Head::Mlp(h) => {
                let last = h.layers.len() - 1;
                h.layers
                    .iter()
                    .zip(&h.norms)
                    .enumerate()
                    .fold(z, |x, (i, (l, n))| {
                        let y = n.forward(l.forward(x));
                        if i < last { activation::relu(y) } else { y }
                    })
            }
            Head::Sane(h) => {
                let x = activation::relu(h.n1.forward(h.l1.forward(z)));
                activation::relu(h.n2.forward(h.l2.forward(x)))
            }
        }
    }
}

/// One of the autoencoders.
#[derive(Module, Debug)]
pub enum Autoencoder {
    /// 2021 transformer.
    Transformer(TransformerAe),
    /// FC baseline.
    Fc(FcAe),
    /// SANE.
    Sane(SaneAe),
}

/// An autoencoder with its projection head.
#[derive(Module, Debug)]
pub struct HyperRep {
    /// The autoencoder.
    pub ae: Autoencoder,
    /// The projection head (None when no contrastive loss is used).
    pub head: Option<Head>,
}

impl HyperRep {
    /// Builds the model for a zoo of `layout`, SANE windows of `window` tokens, parameters
    /// drawn from `seed`.
    pub fn new(
        config: &ModelConfig,
        head: Option<&HeadConfig>,
        layout: &Layout,
        window: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut init = Init::new(seed, device);
        let bad = |what: &str, found: String, expected: &str| Error::Shape {
            what: what.into(),
            found,
            expected: expected.into(),
        };
        let (ae, head_input) = match config {
            ModelConfig::Transformer(c) => {
                if c.heads == 0 || c.d_model % c.heads != 0 {
                    return Err(bad(
                        "model.heads",
                        format!("{} heads for d_model {}", c.heads, c.d_model),
                        "a divisor of d_model",
                    ));
                }
                (
                    Autoencoder::Transformer(TransformerAe::new(c, layout, &mut init, device)),
                    c.latent,
                )
            }
            ModelConfig::Fc(c) => (
                Autoencoder::Fc(FcAe::new(c, layout.total, &mut init)),
                c.latent,
            ),
            ModelConfig::Sane(c) => {
                if c.heads == 0 || c.d_model % c.heads != 0 || c.d_model % 2 != 0 {
                    return Err(bad(
                        "model.heads / model.d_model",
                        format!("{} heads for d_model {}", c.heads, c.d_model),
                        "an even d_model divisible by heads",
                    ));
                }
                (
                    Autoencoder::Sane(SaneAe::new(c, &mut init)),
                    window * c.latent,
                )
            }
        };
        let head = head.map(|h| Head::new(h, head_input, &mut init));
        Ok(Self { ae, head })
    }

    /// Latents `[B, Tz, dz]` of inputs `x` (positions for SANE).
    pub fn encode(&self, x: Tensor<3>, pos: Option<Tensor<3, Int>>, ctx: &mut Ctx) -> Tensor<3> {
        match &self.ae {
            Autoencoder::Transformer(m) => m.encode(x, ctx),
            Autoencoder::Fc(m) => m.encode(x, ctx),
            Autoencoder::Sane(m) => m.encode(x, pos.expect("SANE needs positions"), ctx),
        }
    }

    /// Reconstructions of latents `z`, shaped as the inputs.
    pub fn decode(&self, z: Tensor<3>, pos: Option<Tensor<3, Int>>, ctx: &mut Ctx) -> Tensor<3> {
        match &self.ae {
            Autoencoder::Transformer(m) => m.decode(z, ctx),
            Autoencoder::Fc(m) => m.decode(z, ctx),
            Autoencoder::Sane(m) => m.decode(z, pos.expect("SANE needs positions"), ctx),
        }
    }

    /// Model embeddings `[B, dz]`: the latent, or SANE's mean over tokens.
    pub fn embed(z: Tensor<3>) -> Tensor<2> {
        let [b, _, dz] = z.dims();
        z.mean_dim(1).reshape([b, dz])
    }

    /// Projection-head outputs `[B, out]` of latents (flattened), if the model has a head.
    pub fn project(&self, z: Tensor<3>) -> Option<Tensor<2>> {
        let [b, t, dz] = z.dims();
        self.head
            .as_ref()
            .map(|h| h.forward(z.reshape([b, t * dz])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::arch::ArchSpec;

    fn device() -> Device {
        crate::device::resolve(Default::default()).unwrap().device
    }

    #[test]
    fn token_order_is_a_permutation() {
        let builtins = hyperzoo_core::arch::BUILTINS.iter();
        for name in builtins.chain(hyperzoo_core::arch::RESIDUAL_BUILTINS) {
            let layout = ArchSpec::builtin(name).unwrap().layout().unwrap();
            for enc in [Encoding::Neuron, Encoding::Weight] {
                let (groups, order) = token_order(&layout, enc);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..layout.total).collect::<Vec<_>>(), "{name}");
                let n: usize = groups.iter().map(|(t, l)| t * l).sum();
                assert_eq!(n, layout.total);
            }
        }
        let cnn = ArchSpec::builtin("cnn_s").unwrap().layout().unwrap();
        let (groups, _) = token_order(&cnn, Encoding::Neuron);
        assert_eq!(groups, vec![(8, 26), (6, 201), (4, 25), (20, 37), (10, 21)]);
        // resnet8: the stem's 8 rows of 9, its batch norm as (weight, bias) pairs, means and
        // variances.
        let res = ArchSpec::builtin("resnet8").unwrap().layout().unwrap();
        let (groups, _) = token_order(&res, Encoding::Neuron);
        assert_eq!(groups[..4], [(8, 9), (8, 2), (8, 1), (8, 1)]);
    }

    fn shapes(
        config: ModelConfig,
        head: HeadConfig,
        x: [usize; 3],
        pos: bool,
        expect_z: [usize; 3],
    ) {
        let dev = device();
        let layout = ArchSpec::builtin("tetris_mlp").unwrap().layout().unwrap();
        let model = HyperRep::new(&config, Some(&head), &layout, x[1], 7, &dev).unwrap();
        let input = Tensor::<3>::ones(x, &dev);
        let pos = pos.then(|| Tensor::<3, Int>::zeros([x[0], x[1], 3], &dev));
        let mut ctx = Ctx::train(1, 0);
        let z = model.encode(input, pos.clone(), &mut ctx);
        assert_eq!(z.dims(), expect_z);
        let y = model.decode(z.clone(), pos, &mut ctx);
        assert_eq!(y.dims(), x);
        assert_eq!(HyperRep::embed(z.clone()).dims(), [x[0], expect_z[2]]);
        assert_eq!(model.project(z).unwrap().dims()[0], x[0]);
    }

    #[test]
    fn every_model_has_the_documented_shapes() {
        for (encoding, comp) in [
            (Encoding::Neuron, true),
            (Encoding::Neuron, false),
            (Encoding::Weight, true),
        ] {
            shapes(
                ModelConfig::Transformer(TransformerConfig {
                    encoding,
                    compression_token: comp,
                    d_model: 16,
                    heads: 4,
                    layers: 2,
                    d_ff: 32,
                    latent: 6,
                    dropout: 0.1,
                }),
                HeadConfig::Mlp {
                    layers: 2,
                    hidden: 8,
                    out: 4,
                },
                [4, 1, 100],
                false,
                [4, 1, 6],
            );
        }
        shapes(
            ModelConfig::Fc(FcConfig {
                hidden_layers: 3,
                latent: 5,
                dropout: 0.1,
            }),
            HeadConfig::Mlp {
                layers: 1,
                hidden: 8,
                out: 4,
            },
            [3, 1, 100],
            false,
            [3, 1, 5],
        );
        shapes(
            ModelConfig::Sane(SaneConfig {
                token_size: 16,
                d_model: 16,
                heads: 2,
                layers: 2,
                latent: 4,
                max_positions: [20, 4, 8],
                dropout: 0.0,
            }),
            HeadConfig::Sane,
            [2, 9, 16],
            true,
            [2, 9, 4],
        );
        assert_eq!(linspace_dims(100, 5, 5), vec![100, 76, 52, 28, 5]);
    }

    #[test]
    fn same_seed_same_parameters_and_dropout() {
        let dev = device();
        let layout = ArchSpec::builtin("tetris_mlp").unwrap().layout().unwrap();
        let cfg = ModelConfig::Fc(FcConfig {
            hidden_layers: 2,
            latent: 5,
            dropout: 0.5,
        });
        let run = |seed: u64| -> Vec<f32> {
            let m = HyperRep::new(&cfg, None, &layout, 1, seed, &dev).unwrap();
            let x = Tensor::<3>::ones([2, 1, 100], &dev);
            let mut ctx = Ctx::train(seed, 3);
            let z = m.encode(x, None, &mut ctx);
            m.decode(z, None, &mut ctx)
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
