//! The NeurIPS 2021 *neuron encoding* and the *one token per weight* ablation encoding
//! (reference.md §2.1, [R21] `def_attn_components.py`).
//!
//! Neuron encoding: every parametric layer contributes one token per output neuron / kernel,
//! holding that row's incoming weights in PyTorch order (`in·kh·kw` values: input channel
//! major, then kernel row, then kernel column) followed by the row's bias when the layer has
//! one. Token lengths differ between layers (each layer gets its own embedder in the model), so
//! [`NeuronTokenizer::tokenize`] returns the tokens grouped per layer, each group one contiguous
//! `[N, tokens, token_len]` buffer ([`LayerTokens`]). The sequence order the 2021 model uses is
//! layer by layer, rows in order: MNIST CNN-s gives 8+6+4+20+10 = 48 tokens, Tetris 5+4 = 9,
//! Unterthiner 16·3+10 = 58 (§2.1).
//!
//! Unlike [R21], which writes only the slices its embedders know and leaves other outputs at
//! zero, the inverse here covers every parameter (the Unterthiner index bug, quirk 13.1, cannot
//! arise: offsets come from the [`Layout`]).

use crate::arch::Layout;
use crate::{Error, Result};

use super::batch_count;

/// One parametric layer as the neuron encoding sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeuronLayer {
    /// Index of the layer in [`Layout::params`].
    pub param_index: usize,
    /// Offset of the weight in the flat vector.
    pub weight_offset: usize,
    /// Offset of the bias in the flat vector, if the layer has one.
    pub bias_offset: Option<usize>,
    /// Number of tokens: the layer's output neurons / kernels.
    pub tokens: usize,
    /// Incoming weights per token (`in·kh·kw` or `in`).
    pub row_len: usize,
}

impl NeuronLayer {
    /// Values per token: `row_len`, plus one when the layer has a bias.
    pub fn token_len(&self) -> usize {
        self.row_len + usize::from(self.bias_offset.is_some())
    }

    /// Values of one network's tokens of this layer (`tokens · token_len`).
    pub fn len(&self) -> usize {
        self.tokens * self.token_len()
    }

    /// True when the layer holds no value (never, for a valid layout).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The tokens of one layer for N networks: a row-major `[n, tokens, token_len]` buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTokens {
    /// Tokens per network in this layer.
    pub tokens: usize,
    /// Values per token.
    pub token_len: usize,
    /// `[n, tokens, token_len]`, row-major.
    pub data: Vec<f32>,
}

/// Neuron tokens of N networks, grouped per parametric layer.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronTokens {
    /// Number of networks.
    pub n: usize,
    /// One group per parametric layer, in layout order.
    pub layers: Vec<LayerTokens>,
}

impl NeuronTokens {
    /// Token `k` of layer `layer` of network `net`.
    ///
    /// # Panics
    /// When an index is out of range.
    pub fn token(&self, net: usize, layer: usize, k: usize) -> &[f32] {
        let g = &self.layers[layer];
        assert!(net < self.n && k < g.tokens, "token index out of range");
        let start = (net * g.tokens + k) * g.token_len;
        &g.data[start..start + g.token_len]
    }
}

/// Neuron encoding of one architecture: see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeuronTokenizer {
    layers: Vec<NeuronLayer>,
    param_count: usize,
}

impl NeuronTokenizer {
    /// The tokenizer for networks of `layout`.
    pub fn new(layout: &Layout) -> Self {
        let mut layers = Vec::with_capacity(layout.params.len());
        for (i, p) in layout.params.iter().enumerate() {
            let layer = |weight_offset, bias_offset| NeuronLayer {
                param_index: i,
                weight_offset,
                bias_offset,
                tokens: p.out,
                row_len: p.row_len(),
            };
            layers.push(layer(p.weight_offset, p.bias_offset));
            // A batch norm's running means and variances: token groups of their own, one
            // value per channel (as SANE takes them).
            if let Some(b) = p.buffers_offset {
                layers.extend([layer(b, None), layer(b + p.out, None)]);
            }
        }
        NeuronTokenizer {
            layers,
            param_count: layout.total,
        }
    }

    /// Per-layer token counts and lengths, in layout order.
    pub fn layers(&self) -> &[NeuronLayer] {
        &self.layers
    }

    /// Parameters per network (P).
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Tokens per network over all layers (the 2021 model's sequence length).
    pub fn token_count(&self) -> usize {
        self.layers.iter().map(|l| l.tokens).sum()
    }

    /// Tokens of `flat` (`[N, P]`, row-major), grouped per layer.
    ///
    /// Errors when `flat.len()` is not a multiple of P.
    pub fn tokenize(&self, flat: &[f32]) -> Result<NeuronTokens> {
        let n = batch_count(flat.len(), self.param_count, "neuron tokenizer input")?;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let mut data = Vec::with_capacity(n * l.len());
                for net in flat.chunks_exact(self.param_count) {
                    let weights = &net[l.weight_offset..l.weight_offset + l.tokens * l.row_len];
                    for (k, row) in weights.chunks_exact(l.row_len).enumerate() {
                        data.extend_from_slice(row);
                        if let Some(b) = l.bias_offset {
                            data.push(net[b + k]);
                        }
                    }
                }
                LayerTokens {
                    tokens: l.tokens,
                    token_len: l.token_len(),
                    data,
                }
            })
            .collect();
        Ok(NeuronTokens { n, layers })
    }

    /// The flat `[N, P]` vectors the tokens came from: the exact inverse of
    /// [`tokenize`](Self::tokenize).
    ///
    /// Errors when the groups do not have this tokenizer's layer count and shapes.
    pub fn detokenize(&self, tokens: &NeuronTokens) -> Result<Vec<f32>> {
        let mismatch = |what: String, got: String, expected: String| Error::InvalidValue {
            what,
            value: got,
            expected,
        };
        if tokens.layers.len() != self.layers.len() {
            return Err(mismatch(
                "neuron tokens".into(),
                format!("{} layer groups", tokens.layers.len()),
                format!("{} groups, one per parametric layer", self.layers.len()),
            ));
        }
        for (i, (l, g)) in self.layers.iter().zip(&tokens.layers).enumerate() {
            if g.tokens != l.tokens
                || g.token_len != l.token_len()
                || g.data.len() != tokens.n * l.len()
            {
                return Err(mismatch(
                    format!("neuron tokens of layer {i}"),
                    format!(
                        "{} values as [{}, {}, {}]",
                        g.data.len(),
                        tokens.n,
                        g.tokens,
                        g.token_len
                    ),
                    format!("[{}, {}, {}]", tokens.n, l.tokens, l.token_len()),
                ));
            }
        }
        let p = self.param_count;
        let mut flat = vec![0.0f32; tokens.n * p];
        for (l, g) in self.layers.iter().zip(&tokens.layers) {
            let tl = l.token_len();
            for (net, block) in flat.chunks_exact_mut(p).zip(g.data.chunks_exact(l.len())) {
                for (k, tok) in block.chunks_exact(tl).enumerate() {
                    let w = l.weight_offset + k * l.row_len;
                    net[w..w + l.row_len].copy_from_slice(&tok[..l.row_len]);
                    if let Some(b) = l.bias_offset {
                        net[b + k] = tok[l.row_len];
                    }
                }
            }
        }
        Ok(flat)
    }
}

/// The 2021 ablation's *one token per weight* encoding ([R21] `encoding = "weight"`): every
/// scalar is its own 1-value token, in flat-vector order, so the sequence length is P.
///
/// Tokens are a row-major `[N, P, 1]` buffer, which holds the same values as the `[N, P]`
/// input; the type exists so that the encoding choice is explicit and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightTokenizer {
    param_count: usize,
}

impl WeightTokenizer {
    /// The tokenizer for networks of `layout`.
    pub fn new(layout: &Layout) -> Self {
        WeightTokenizer {
            param_count: layout.total,
        }
    }

    /// Tokens per network (= P).
    pub fn token_count(&self) -> usize {
        self.param_count
    }

    /// Values per token (always 1).
    pub fn token_len(&self) -> usize {
        1
    }

    /// `[N, P]` to `[N, P, 1]`. Errors when the input is not a whole number of networks.
    pub fn tokenize(&self, flat: &[f32]) -> Result<Vec<f32>> {
        batch_count(flat.len(), self.param_count, "weight tokenizer input")?;
        Ok(flat.to_vec())
    }

    /// `[N, P, 1]` back to `[N, P]`: the exact inverse of [`tokenize`](Self::tokenize).
    pub fn detokenize(&self, tokens: &[f32]) -> Result<Vec<f32>> {
        batch_count(tokens.len(), self.param_count, "weight tokens")?;
        Ok(tokens.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{ArchSpec, BUILTINS};
    use crate::tokens::{random_bits, same_bits};

    fn layout(name: &str) -> Layout {
        ArchSpec::builtin(name).unwrap().layout().unwrap()
    }

    #[test]
    fn neuron_round_trip_is_bitwise_on_every_builtin() {
        // resnet8: batch norms' running statistics are tokens too.
        for (i, name) in BUILTINS.iter().chain(&["resnet8"]).enumerate() {
            let lay = layout(name);
            let tk = NeuronTokenizer::new(&lay);
            let n = 3;
            let flat = random_bits(n * lay.total, 100 + i as u64);
            let toks = tk.tokenize(&flat).unwrap();
            assert_eq!(toks.n, n);
            let values: usize = toks.layers.iter().map(|g| g.data.len()).sum();
            assert_eq!(values, n * lay.total, "{name}: every parameter once");
            let back = tk.detokenize(&toks).unwrap();
            assert!(same_bits(&flat, &back), "{name}: round trip not bitwise");
        }
    }

    #[test]
    fn neuron_token_counts_match_the_reference() {
        // reference.md §2.1: Tetris 9 (5+4, no bias), MNIST CNN-s 48, Unterthiner 58.
        let count = |name: &str| NeuronTokenizer::new(&layout(name)).token_count();
        assert_eq!(count("tetris_mlp"), 9);
        assert_eq!(count("cnn_s"), 48);
        assert_eq!(count("unterthiner_cnn"), 58);
        assert_eq!(count("cnn3"), 93);
        // §2.5: CNN-s rows of 25+1, 200+1, 24+1, 36+1, 20+1.
        let tk = NeuronTokenizer::new(&layout("cnn_s"));
        let shapes: Vec<(usize, usize)> = tk
            .layers()
            .iter()
            .map(|l| (l.tokens, l.token_len()))
            .collect();
        assert_eq!(shapes, vec![(8, 26), (6, 201), (4, 25), (20, 37), (10, 21)]);
        // Tetris has no biases: 5 tokens of 16, 4 of 5.
        let tk = NeuronTokenizer::new(&layout("tetris_mlp"));
        let shapes: Vec<(usize, usize)> = tk
            .layers()
            .iter()
            .map(|l| (l.tokens, l.token_len()))
            .collect();
        assert_eq!(shapes, vec![(5, 16), (4, 5)]);
    }

    #[test]
    fn neuron_token_holds_incoming_weights_then_bias() {
        // Flat vector = its own indices, so each token lists the indices it took.
        let lay = layout("cnn_s");
        let tk = NeuronTokenizer::new(&lay);
        let flat: Vec<f32> = (0..lay.total).map(|i| i as f32).collect();
        let toks = tk.tokenize(&flat).unwrap();
        // Layer 1 (conv 8->6, k5): row 2 = weights 208+2*200 .. +200, bias at 208+1200+2.
        let t = toks.token(0, 1, 2);
        let expect: Vec<f32> = (608..808).map(|i| i as f32).chain([1410.0]).collect();
        assert_eq!(t, expect.as_slice());
        // Last layer (fc 20->10): row 9.
        let l = &lay.params[4];
        let t = toks.token(0, 4, 9);
        assert_eq!(t[0], (l.weight_offset + 9 * 20) as f32);
        assert_eq!(t[20], (l.bias_offset.unwrap() + 9) as f32);
    }

    #[test]
    fn neuron_rejects_bad_shapes() {
        let lay = layout("cnn_s");
        let tk = NeuronTokenizer::new(&lay);
        assert!(tk.tokenize(&vec![0.0; lay.total + 1]).is_err());
        let mut toks = tk.tokenize(&vec![0.0; lay.total]).unwrap();
        toks.layers[2].data.pop();
        assert!(tk.detokenize(&toks).is_err());
        toks.layers.pop();
        assert!(tk.detokenize(&toks).is_err());
    }

    #[test]
    fn weight_tokens_round_trip_on_every_builtin() {
        for (i, name) in BUILTINS.iter().enumerate() {
            let lay = layout(name);
            let tk = WeightTokenizer::new(&lay);
            assert_eq!(tk.token_count(), lay.total);
            let flat = random_bits(2 * lay.total, 200 + i as u64);
            let toks = tk.tokenize(&flat).unwrap();
            assert_eq!(toks.len(), 2 * tk.token_count() * tk.token_len());
            assert!(same_bits(&flat, &tk.detokenize(&toks).unwrap()), "{name}");
            assert!(tk.tokenize(&flat[1..]).is_err());
        }
    }
}
