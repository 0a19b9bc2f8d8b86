//! SANE tokens (reference.md §2.2, [RS] `datasets/dataset_auxiliaries.py tokenize_checkpoint`
//! and `tokens_to_checkpoint`), training windows ([RS] `augmentations.py WindowCutter`) and the
//! halo scheme for inference on long sequences ([RS] `sampling/halo.py`, reference.md §8.2).
//!
//! # Tokens
//! Parametric layers are visited in layout (state-dict) order. Each layer is viewed as a matrix
//! of `out` rows; a row is the output channel's incoming weights (`in·kh·kw` values in PyTorch
//! order) followed by its bias when the layer has one. Each row is zero padded to a multiple of
//! `token_size` and cut into `ceil(row_len / token_size)` tokens. The token buffer of N networks
//! is a row-major `[N, T, token_size]` slice. The mask (`[T, token_size]`, the same for every
//! network) is 1.0 on real values and 0.0 on padding.
//!
//! # Positions (the exact convention)
//! Following reference.md §2.2 and [RS] `tokenize_checkpoint` literally, token `i` has
//! [`Position`] `(n, l, c)` with
//! - `n` = `i`, the global index of the token in the model's sequence (0-based);
//! - `l` = the index of its parametric layer (0-based counter over processed layers);
//! - `c` = the index of its **row** (output channel / neuron) within that layer (0-based).
//!
//! The chunks of one row therefore share `(l, c)` and differ only in `n`: `c` is *not* a running
//! token counter within the layer (the two agree only when every row fits in one token).
//! [RS] builds `pos` as `[idx, jdx] for jdx in range(rows) for _ in range(token_factor)` and
//! then prepends the enumeration index. CNN3 at token size 289 gives `n ∈ [0, 92]`,
//! `l ∈ [0, 4]`, `c ∈ [0, 31]` (§2.5).
//!
//! A batch norm is three "layers" here, as [RS] processes its state-dict keys: its weight with
//! its bias (rows of 2 values), its running mean and its running variance (rows of 1 value
//! each); `l` counts these, so a ResNet has more token layers than parametric layers.
//!
//! # Windows and halos
//! Training reads a window of `W` consecutive tokens, its start drawn uniformly from
//! `0..=T-W` ([RS] `WindowCutter`: `random.randint(0, max_len - windowsize)`). For inference on
//! sequences longer than the model's context, [`HaloPlan`] cuts the sequence into content
//! windows of `content` tokens, each widened by `halo` context tokens on both sides, and keeps
//! only each window's content when stitching outputs back (see [`HaloPlan`]).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::arch::Layout;
use crate::{Error, Result};

use super::batch_count;

/// The 3-D position of one SANE token: see the [module docs](self) for the convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Global index of the token in the model's token sequence.
    pub n: u32,
    /// Index of the token's parametric layer.
    pub layer: u32,
    /// Index of the token's row (output channel / neuron) within its layer; the chunks of one
    /// row share it.
    pub row: u32,
}

impl Position {
    /// `[n, l, c]`, the order of [RS]'s position tensor and of the embedding tables.
    pub fn to_array(self) -> [u32; 3] {
        [self.n, self.layer, self.row]
    }
}

/// One parametric layer (or one of a batch norm's three parts) as SANE tokens see it; its
/// index in [`SaneTokenizer::layers`] is its position component `l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaneLayer {
    /// Index of the layer in [`Layout::params`].
    pub param_index: usize,
    /// Offset of the weight in the flat vector.
    pub weight_offset: usize,
    /// Offset of the bias in the flat vector, if any.
    pub bias_offset: Option<usize>,
    /// Rows (output channels / neurons).
    pub rows: usize,
    /// Values per row: incoming weights, plus one for the bias.
    pub row_len: usize,
    /// Tokens per row: `ceil(row_len / token_size)`.
    pub tokens_per_row: usize,
    /// Index in the sequence of the layer's first token.
    pub first_token: usize,
}

impl SaneLayer {
    /// Tokens of this layer (`rows · tokens_per_row`).
    pub fn token_count(&self) -> usize {
        self.rows * self.tokens_per_row
    }
}

/// SANE tokenization of one architecture at one token size: see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct SaneTokenizer {
    token_size: usize,
    param_count: usize,
    layers: Vec<SaneLayer>,
    positions: Vec<Position>,
    mask: Vec<f32>,
    /// For every parameter, its slot in one network's `[T, token_size]` token block.
    slot: Vec<u32>,
}

impl SaneTokenizer {
    /// The longest row (weights plus bias) of `layout`: the token size at which every row is
    /// exactly one token.
    ///
    /// Unlike [RS]'s `tokensize = 0` discovery, this counts layers without a bias too
    /// (reference.md §13 quirk 8).
    pub fn max_row_len(layout: &Layout) -> usize {
        layout
            .params
            .iter()
            .map(|p| p.row_len() + usize::from(p.bias_offset.is_some()))
            .max()
            .unwrap_or(0)
    }

    /// Tokenizer for networks of `layout` with `token_size` values per token.
    ///
    /// Errors when `token_size` is 0 (use [`whole_rows`](Self::whole_rows) for [RS]'s
    /// "discover" behaviour) or when one network's token block would not be addressable with
    /// 32-bit indices.
    pub fn new(layout: &Layout, token_size: usize) -> Result<Self> {
        if token_size == 0 {
            return Err(Error::InvalidValue {
                what: "SANE token size".into(),
                value: "0".into(),
                expected: format!(
                    "a positive number of values per token (the widest row of this \
                     architecture is {})",
                    Self::max_row_len(layout)
                ),
            });
        }
        let mut layers = Vec::with_capacity(layout.params.len());
        let mut positions = Vec::new();
        let mut first = 0usize;
        for (pi, p) in layout.params.iter().enumerate() {
            // (weights at, bias at, values per row): a batch norm's weight and bias, then its
            // running mean and running variance as layers of their own.
            let parts = match p.buffers_offset {
                Some(b) => vec![
                    (p.weight_offset, p.bias_offset, 2),
                    (b, None, 1),
                    (b + p.out, None, 1),
                ],
                None => vec![(
                    p.weight_offset,
                    p.bias_offset,
                    p.row_len() + usize::from(p.bias_offset.is_some()),
                )],
            };
            for (weight_offset, bias_offset, row_len) in parts {
                let l = layers.len();
                let per_row = row_len.div_ceil(token_size);
                layers.push(SaneLayer {
                    param_index: pi,
                    weight_offset,
                    bias_offset,
                    rows: p.out,
                    row_len,
                    tokens_per_row: per_row,
                    first_token: first,
                });
                for c in 0..p.out {
                    for _ in 0..per_row {
                        positions.push((l, c));
                    }
                }
                first += p.out * per_row;
            }
        }
        let slots = first
            .checked_mul(token_size)
            .filter(|&s| u32::try_from(s).is_ok() && u32::try_from(first).is_ok());
        let Some(slots) = slots else {
            return Err(Error::InvalidValue {
                what: "SANE token size".into(),
                value: token_size.to_string(),
                expected: format!(
                    "a tokenization of at most {} values per network ({first} tokens given)",
                    u32::MAX
                ),
            });
        };
        let positions = positions
            .into_iter()
            .enumerate()
            .map(|(n, (l, c))| Position {
                n: n as u32,
                layer: l as u32,
                row: c as u32,
            })
            .collect();
        let mut slot = vec![0u32; layout.total];
        let mut mask = vec![0.0f32; slots];
        for s in &layers {
            let wlen = s.row_len - usize::from(s.bias_offset.is_some());
            for r in 0..s.rows {
                // The row's values occupy its tokens back to back from the first slot on.
                let base = (s.first_token + r * s.tokens_per_row) * token_size;
                for j in 0..wlen {
                    slot[s.weight_offset + r * wlen + j] = (base + j) as u32;
                }
                if let Some(b) = s.bias_offset {
                    slot[b + r] = (base + wlen) as u32;
                }
                mask[base..base + s.row_len].fill(1.0);
            }
        }
        Ok(SaneTokenizer {
            token_size,
            param_count: layout.total,
            layers,
            positions,
            mask,
            slot,
        })
    }

    /// Tokenizer whose token size is the widest row, so every row is one token (CNN3: 289).
    pub fn whole_rows(layout: &Layout) -> Result<Self> {
        Self::new(layout, Self::max_row_len(layout))
    }

    /// Values per token.
    pub fn token_size(&self) -> usize {
        self.token_size
    }

    /// Tokens per network (T).
    pub fn token_count(&self) -> usize {
        self.positions.len()
    }

    /// Parameters per network (P).
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    /// Per-layer rows, row lengths and token ranges, in layout order.
    pub fn layers(&self) -> &[SaneLayer] {
        &self.layers
    }

    /// Positions of the T tokens (the same for every network).
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Exclusive upper bounds of the position components, `[T, layers, widest layer's rows]`:
    /// the smallest embedding-table sizes that fit (CNN3: `[93, 5, 32]`).
    pub fn max_positions(&self) -> [usize; 3] {
        let rows = self.layers.iter().map(|l| l.rows).max().unwrap_or(0);
        [self.token_count(), self.layers.len(), rows]
    }

    /// Mask of one network's tokens, `[T, token_size]`: 1.0 on real values, 0.0 on padding.
    /// Its sum is P.
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }

    /// For every parameter of the flat vector, its slot in one network's `[T, token_size]`
    /// token block (`token * token_size + offset`).
    pub fn slots(&self) -> &[u32] {
        &self.slot
    }

    /// Tokens of `flat` (`[N, P]`, row-major) as a row-major `[N, T, token_size]` buffer,
    /// padding zero. Errors when `flat` is not a whole number of networks.
    pub fn tokenize(&self, flat: &[f32]) -> Result<Vec<f32>> {
        let n = batch_count(flat.len(), self.param_count, "SANE tokenizer input")?;
        let block = self.mask.len();
        let mut out = vec![0.0f32; n * block];
        for (net, toks) in flat
            .chunks_exact(self.param_count)
            .zip(out.chunks_exact_mut(block))
        {
            for (&v, &s) in net.iter().zip(&self.slot) {
                toks[s as usize] = v;
            }
        }
        Ok(out)
    }

    /// Flat `[N, P]` vectors from `[N, T, token_size]` tokens: the exact inverse of
    /// [`tokenize`](Self::tokenize). Padding slots are ignored, whatever they hold (a decoder's
    /// output there is dropped). Errors when `tokens` is not a whole number of networks.
    pub fn detokenize(&self, tokens: &[f32]) -> Result<Vec<f32>> {
        let block = self.mask.len();
        let n = batch_count(tokens.len(), block, "SANE tokens")?;
        let mut flat = Vec::with_capacity(n * self.param_count);
        for toks in tokens.chunks_exact(block) {
            flat.extend(self.slot.iter().map(|&s| toks[s as usize]));
        }
        Ok(flat)
    }

    /// The `size` consecutive tokens from `start` of every network in `tokens`
    /// (`[N, T, token_size]`), with their mask and positions; one start for the whole batch (as
    /// for the two views of one sample). Errors when the window does not fit in `T`.
    pub fn window(&self, tokens: &[f32], start: usize, size: usize) -> Result<Window> {
        let t = self.token_count();
        if size == 0 || start.checked_add(size).is_none_or(|end| end > t) {
            return Err(Error::InvalidValue {
                what: "SANE window".into(),
                value: format!("start {start}, size {size}"),
                expected: format!("a non-empty window inside the {t} tokens"),
            });
        }
        let ts = self.token_size;
        let block = t * ts;
        batch_count(tokens.len(), block, "SANE tokens")?;
        let (a, b) = (start * ts, (start + size) * ts);
        let mut out = Vec::with_capacity(tokens.len() / block * (b - a));
        for toks in tokens.chunks_exact(block) {
            out.extend_from_slice(&toks[a..b]);
        }
        Ok(Window {
            start,
            size,
            tokens: out,
            mask: self.mask[a..b].to_vec(),
            positions: self.positions[start..start + size].to_vec(),
        })
    }

    /// A window start drawn uniformly from `0..=T-size`, as [RS]'s `WindowCutter` does. Draw
    /// it once to share it between views. Errors when `size` is 0 or exceeds `T`.
    pub fn window_start(&self, size: usize, rng: &mut impl Rng) -> Result<usize> {
        let t = self.token_count();
        if size == 0 || size > t {
            return Err(Error::InvalidValue {
                what: "SANE window size".into(),
                value: size.to_string(),
                expected: format!("1 to {t} (the tokens per network)"),
            });
        }
        Ok(rng.random_range(0..=t - size))
    }

    /// [`window`](Self::window) at a start drawn by [`window_start`](Self::window_start).
    pub fn random_window(&self, tokens: &[f32], size: usize, rng: &mut impl Rng) -> Result<Window> {
        let start = self.window_start(size, rng)?;
        self.window(tokens, start, size)
    }

    /// The halo plan for this tokenizer's sequence length: see [`HaloPlan::new`].
    pub fn halo(&self, content: usize, halo: usize) -> Result<HaloPlan> {
        HaloPlan::new(self.token_count(), content, halo)
    }
}

/// A window of consecutive SANE tokens of N networks.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Index of the first token in the full sequence.
    pub start: usize,
    /// Tokens in the window (W).
    pub size: usize,
    /// `[N, W, token_size]`, row-major.
    pub tokens: Vec<f32>,
    /// `[W, token_size]`, shared by the N networks.
    pub mask: Vec<f32>,
    /// `W` positions, shared by the N networks (their `n` runs from `start`).
    pub positions: Vec<Position>,
}

/// One chunk of a [`HaloPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaloChunk {
    /// Index in the sequence of the chunk's first token.
    pub start: usize,
    /// Index in the sequence of the chunk's first content token.
    pub content_start: usize,
    /// Content tokens (the window size, or fewer for the last window).
    pub content_len: usize,
}

impl HaloChunk {
    /// Offset of the content inside the chunk.
    pub fn content_offset(&self) -> usize {
        self.content_start - self.start
    }
}

/// Inference on sequences longer than a model's window ([RS] `sampling/halo.py`
/// `haloify`/`dehaloify`, reference.md §8.2).
///
/// The sequence of `T` tokens is cut into `ceil(T / content)` content windows
/// `[i·content, min((i+1)·content, T))`. Each becomes a chunk of `L = min(content + 2·halo, T)`
/// tokens: the content with `halo` tokens of context on each side, shifted inwards at the ends
/// so it stays inside the sequence: chunk start `= clamp(i·content − halo, 0, T − L)`. The
/// first window therefore takes its context after the content (up to `2·halo` tokens), the
/// last one before it. Every chunk has the same length, so all of them batch together; with
/// `L` equal to the model's training window, the model sees windows of the length it was
/// trained on. Outputs are stitched back by keeping only each chunk's content.
///
/// Where [RS]'s asserts pass (`halo < content`, `T ≥ content + 2·halo`, and the last full
/// middle window not running past `T`) the chunks are exactly [RS]'s; elsewhere [RS] fails an
/// assert and this plan still covers the sequence (chunks shorter than `content + 2·halo` when
/// `T` is short, middle chunks shifted inwards near the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaloPlan {
    seq_len: usize,
    chunk_len: usize,
    chunks: Vec<HaloChunk>,
}

impl HaloPlan {
    /// The plan for `seq_len` tokens, content windows of `content` tokens and `halo` context
    /// tokens on each side. Errors when `seq_len` or `content` is 0.
    pub fn new(seq_len: usize, content: usize, halo: usize) -> Result<Self> {
        if seq_len == 0 || content == 0 {
            return Err(Error::InvalidValue {
                what: "halo plan".into(),
                value: format!("{seq_len} tokens, content windows of {content}"),
                expected: "a non-empty sequence and a positive content window".into(),
            });
        }
        let chunk_len = content.saturating_add(halo.saturating_mul(2)).min(seq_len);
        let chunks = (0..seq_len.div_ceil(content))
            .map(|i| {
                let content_start = i * content;
                let content_len = content.min(seq_len - content_start);
                let start = content_start.saturating_sub(halo).min(seq_len - chunk_len);
                HaloChunk {
                    start,
                    content_start,
                    content_len,
                }
            })
            .collect();
        Ok(HaloPlan {
            seq_len,
            chunk_len,
            chunks,
        })
    }

    /// Tokens of the full sequence (T).
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Tokens per chunk (L).
    pub fn chunk_len(&self) -> usize {
        self.chunk_len
    }

    /// The chunks, in sequence order.
    pub fn chunks(&self) -> &[HaloChunk] {
        &self.chunks
    }

    /// Cuts sequences `[N, T, d]` (row-major; any element type: token values, masks,
    /// [`Position`]s with `d = 1`) into chunks `[N, chunks, L, d]`. Errors when the input is not
    /// a whole number of `[T, d]` sequences.
    pub fn split<V: Copy>(&self, seqs: &[V], d: usize) -> Result<Vec<V>> {
        let per = self.seq_len * d;
        let n = batch_count(seqs.len(), per, "halo input sequences")?;
        let mut out = Vec::with_capacity(n * self.chunks.len() * self.chunk_len * d);
        for seq in seqs.chunks_exact(per) {
            for c in &self.chunks {
                out.extend_from_slice(&seq[c.start * d..(c.start + self.chunk_len) * d]);
            }
        }
        Ok(out)
    }

    /// Stitches per-token outputs of the chunks, `[N, chunks, L, d]`, back into sequences
    /// `[N, T, d]`, keeping only each chunk's content (halo outputs are dropped). `d` may differ
    /// from the input's (e.g. latents). Errors when the input is not a whole number of chunk
    /// sets.
    pub fn stitch<V: Copy>(&self, chunked: &[V], d: usize) -> Result<Vec<V>> {
        let per = self.chunks.len() * self.chunk_len * d;
        let n = batch_count(chunked.len(), per, "halo chunk outputs")?;
        let mut out = Vec::with_capacity(n * self.seq_len * d);
        for set in chunked.chunks_exact(per) {
            for (c, chunk) in self.chunks.iter().zip(set.chunks_exact(self.chunk_len * d)) {
                let a = c.content_offset() * d;
                out.extend_from_slice(&chunk[a..a + c.content_len * d]);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{ArchSpec, BUILTINS};
    use crate::tokens::{random_bits, same_bits};
    use rand::SeedableRng;

    fn layout(name: &str) -> Layout {
        ArchSpec::builtin(name).unwrap().layout().unwrap()
    }

    #[test]
    fn resnet18_tokens_round_trip_within_the_reference_bounds() {
        // [RS] pretrain_sane_cifar100_resnet18.py: token size 288, position embeddings bounded
        // by [55000, 100, 550].
        let lay = layout("resnet18");
        let tk = SaneTokenizer::new(&lay, 288).unwrap();
        let [t, l, c] = tk.max_positions();
        assert!(t <= 55_000 && l <= 100 && c <= 550, "{:?}", [t, l, c]);
        assert_eq!([t, c], [53_524, 512]);
        // 20 convolutions (17 and 3 projections), the classifier, 20 batch norms as three
        // token layers each.
        assert_eq!(l, 20 + 1 + 3 * 20);
        // A batch norm's parts: rows of 2 (weight, bias), then 1 and 1.
        let bn: Vec<usize> = tk.layers()[1..4].iter().map(|s| s.row_len).collect();
        assert_eq!(bn, vec![2, 1, 1]);
        let flat = random_bits(lay.total, 18);
        let back = tk.detokenize(&tk.tokenize(&flat).unwrap()).unwrap();
        assert!(same_bits(&flat, &back));
        assert_eq!(tk.mask().iter().sum::<f32>() as usize, lay.total);
        // resnet8 (experiments/resnet8-sane.toml): 682 tokens, 504 of them a batch norm's.
        let tk = SaneTokenizer::new(&layout("resnet8"), 288).unwrap();
        let norm: usize = tk
            .layers()
            .iter()
            .filter(|s| s.row_len <= 2)
            .map(|s| s.token_count())
            .sum();
        assert_eq!((tk.token_count(), norm), (682, 504));
    }

    #[test]
    fn sane_round_trip_is_bitwise_on_every_builtin_and_token_size() {
        for (i, name) in BUILTINS.iter().chain(&["resnet8"]).enumerate() {
            let lay = layout(name);
            let widest = SaneTokenizer::max_row_len(&lay);
            // 7 splits every row of every built-in; 289 is CNN3's released size.
            for ts in [1, 7, 64, 289, widest, widest + 5] {
                let tk = SaneTokenizer::new(&lay, ts).unwrap();
                let n = 3;
                let flat = random_bits(n * lay.total, 1000 * i as u64 + ts as u64);
                let toks = tk.tokenize(&flat).unwrap();
                assert_eq!(toks.len(), n * tk.token_count() * ts);
                let mask_sum: f32 = tk.mask().iter().sum();
                assert_eq!(mask_sum as usize, lay.total, "{name} @ {ts}: mask sum");
                // Padding is zero in the tokens.
                for block in toks.chunks_exact(tk.mask().len()) {
                    for (v, m) in block.iter().zip(tk.mask()) {
                        if *m == 0.0 {
                            assert_eq!(v.to_bits(), 0);
                        }
                    }
                }
                let back = tk.detokenize(&toks).unwrap();
                assert!(same_bits(&flat, &back), "{name} @ {ts}: not bitwise");
            }
        }
    }

    #[test]
    fn detokenize_ignores_padding() {
        let lay = layout("cnn3");
        let tk = SaneTokenizer::new(&lay, 100).unwrap();
        let flat = random_bits(2 * lay.total, 7);
        let mut toks = tk.tokenize(&flat).unwrap();
        let block = tk.mask().len();
        for (i, v) in toks.iter_mut().enumerate() {
            if tk.mask()[i % block] == 0.0 {
                *v = 123.0;
            }
        }
        assert!(same_bits(&flat, &tk.detokenize(&toks).unwrap()));
    }

    #[test]
    fn token_counts_match_the_reference() {
        // reference.md §1.1/§2.5: CNN3 at 289 -> 93 tokens, 10,853 real values of 26,877 slots.
        let cnn3 = layout("cnn3");
        let tk = SaneTokenizer::new(&cnn3, 289).unwrap();
        assert_eq!(SaneTokenizer::max_row_len(&cnn3), 289);
        assert_eq!(tk.token_count(), 93);
        assert_eq!(tk.mask().len(), 26_877);
        let rows: Vec<(usize, usize)> = tk.layers().iter().map(|l| (l.rows, l.row_len)).collect();
        assert_eq!(
            rows,
            vec![(16, 28), (32, 145), (15, 289), (20, 61), (10, 21)]
        );
        assert_eq!(tk.max_positions(), [93, 5, 32]);
        // reference.md gives no SANE token size for CNN-s; at its widest row (201 = 8·25+1)
        // every row is one token, the 48 of the neuron encoding (§2.1).
        let cnn_s = layout("cnn_s");
        assert_eq!(SaneTokenizer::max_row_len(&cnn_s), 201);
        assert_eq!(SaneTokenizer::whole_rows(&cnn_s).unwrap().token_count(), 48);
        // Unterthiner at its widest row (16·9+1 = 145): 58 as in §2.1.
        let unt = SaneTokenizer::whole_rows(&layout("unterthiner_cnn")).unwrap();
        assert_eq!(unt.token_count(), 58);
        // LeNet5 at [R25]'s 256 (§1.1): 6 + 16 + 120·2 (rows of 401) + 84 + 10 = 356 tokens,
        // inside [R25]'s max_positions [1024, 64, 128].
        let lenet = SaneTokenizer::new(&layout("lenet5"), 256).unwrap();
        assert_eq!(lenet.token_count(), 356);
        assert_eq!(lenet.max_positions(), [356, 5, 120]);
        // Tetris has no bias: rows of 16 and 5, widest 16.
        assert_eq!(SaneTokenizer::max_row_len(&layout("tetris_mlp")), 16);
        assert!(SaneTokenizer::new(&cnn3, 0).is_err());
    }

    #[test]
    fn positions_are_global_index_layer_and_row() {
        // CNN3 at 100: rows of 28 (1 token), 145 (2), 289 (3), 61 (1), 21 (1).
        let tk = SaneTokenizer::new(&layout("cnn3"), 100).unwrap();
        assert_eq!(tk.token_count(), 16 + 64 + 45 + 20 + 10);
        assert_eq!(tk.token_count(), 155);
        let pos = tk.positions();
        for (i, p) in pos.iter().enumerate() {
            assert_eq!(p.n as usize, i);
        }
        assert_eq!(pos[15].to_array(), [15, 0, 15]);
        // Layer 1: chunks of one row share (l, c).
        assert_eq!(pos[16].to_array(), [16, 1, 0]);
        assert_eq!(pos[17].to_array(), [17, 1, 0]);
        assert_eq!(pos[18].to_array(), [18, 1, 1]);
        assert_eq!(pos[79].to_array(), [79, 1, 31]);
        // Layer 2: three chunks per row.
        assert_eq!(pos[80].to_array(), [80, 2, 0]);
        assert_eq!(pos[82].to_array(), [82, 2, 0]);
        assert_eq!(pos[83].to_array(), [83, 2, 1]);
        assert_eq!(pos[124].to_array(), [124, 2, 14]);
        assert_eq!(pos[125].to_array(), [125, 3, 0]);
        assert_eq!(pos[144].to_array(), [144, 3, 19]);
        assert_eq!(pos[145].to_array(), [145, 4, 0]);
        assert_eq!(tk.max_positions(), [155, 5, 32]);
        for l in tk.layers() {
            assert_eq!(pos[l.first_token].layer as usize, l.param_index);
        }
        // The last chunk of a 289-value row holds 89 real values.
        let m = &tk.mask()[82 * 100..83 * 100];
        assert_eq!(m.iter().sum::<f32>(), 89.0);
        assert_eq!(m[88], 1.0);
        assert_eq!(m[89], 0.0);
    }

    #[test]
    fn token_holds_row_weights_then_bias() {
        let lay = layout("cnn3");
        let tk = SaneTokenizer::new(&lay, 100).unwrap();
        let flat: Vec<f32> = (0..lay.total).map(|i| i as f32).collect();
        let toks = tk.tokenize(&flat).unwrap();
        // Layer 1 (16->32, k3: 144 weights + bias per row), row 1 = tokens 18 and 19.
        let p = &lay.params[1];
        let w0 = p.weight_offset + 144;
        let t18 = &toks[18 * 100..19 * 100];
        let t19 = &toks[19 * 100..20 * 100];
        assert_eq!(t18[0], w0 as f32);
        assert_eq!(t18[99], (w0 + 99) as f32);
        assert_eq!(t19[43], (w0 + 143) as f32);
        assert_eq!(t19[44], (p.bias_offset.unwrap() + 1) as f32);
        assert!(t19[45..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn windows_slice_tokens_mask_and_positions() {
        let lay = layout("cnn3");
        let tk = SaneTokenizer::new(&lay, 289).unwrap();
        let n = 2;
        let flat = random_bits(n * lay.total, 11);
        let toks = tk.tokenize(&flat).unwrap();
        let w = tk.window(&toks, 10, 64).unwrap();
        assert_eq!(w.tokens.len(), n * 64 * 289);
        assert_eq!(w.mask, tk.mask()[10 * 289..74 * 289]);
        assert_eq!(w.positions, tk.positions()[10..74]);
        for net in 0..n {
            let full = &toks[net * 93 * 289..(net + 1) * 93 * 289];
            let win = &w.tokens[net * 64 * 289..(net + 1) * 64 * 289];
            assert!(same_bits(&full[10 * 289..74 * 289], win));
        }
        assert!(tk.window(&toks, 30, 64).is_err());
        assert!(tk.window(&toks, 0, 0).is_err());
        assert!(tk.window(&toks[1..], 0, 64).is_err());
        // Whole-sequence window (as [R25], W = 93) always starts at 0.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        assert_eq!(tk.window_start(93, &mut rng).unwrap(), 0);
        assert!(tk.window_start(94, &mut rng).is_err());
        // Random starts cover 0..=29 and nothing else.
        let mut seen = [false; 30];
        for _ in 0..2000 {
            let w = tk.random_window(&toks, 64, &mut rng).unwrap();
            assert_eq!(w.positions[0].n as usize, w.start);
            seen[w.start] = true;
        }
        assert!(seen.iter().all(|&s| s), "every start in 0..=T-W is drawn");
    }

    #[test]
    fn halo_chunks_follow_sane() {
        // ResNet setting of §8.2: content 128, halo 64 -> chunks of 256.
        let plan = HaloPlan::new(1000, 128, 64).unwrap();
        assert_eq!(plan.chunk_len(), 256);
        let c = plan.chunks();
        assert_eq!(c.len(), 8);
        // First: content first, 2·halo context after.
        assert_eq!(
            (c[0].start, c[0].content_offset(), c[0].content_len),
            (0, 0, 128)
        );
        // Middle: halo + content + halo.
        assert_eq!((c[1].start, c[1].content_offset()), (64, 64));
        assert_eq!((c[5].start, c[5].content_start), (576, 640));
        // Last: 1000 - 7·128 = 104 content tokens at the end, context in front.
        assert_eq!(
            (c[7].start, c[7].content_start, c[7].content_len),
            (744, 896, 104)
        );
        assert_eq!(c[7].content_offset(), 152);
        // Middle window near the end shifted inwards instead of running past T ([RS] asserts).
        let plan = HaloPlan::new(210, 100, 30).unwrap();
        let c = plan.chunks();
        assert_eq!(plan.chunk_len(), 160);
        assert_eq!((c[1].start, c[1].content_start), (50, 100));
        assert_eq!(
            (c[2].start, c[2].content_start, c[2].content_len),
            (50, 200, 10)
        );
        assert_eq!(c[2].content_offset(), 150);
        // Short sequence: one chunk of the whole sequence.
        let plan = HaloPlan::new(93, 128, 64).unwrap();
        assert_eq!(plan.chunk_len(), 93);
        assert_eq!(
            plan.chunks(),
            &[HaloChunk {
                start: 0,
                content_start: 0,
                content_len: 93
            }]
        );
        assert!(HaloPlan::new(0, 4, 1).is_err());
        assert!(HaloPlan::new(10, 0, 1).is_err());
    }

    #[test]
    fn halo_stitching_the_identity_returns_the_input() {
        for (t, content, halo) in [
            (93, 16, 8),
            (93, 31, 0),
            (93, 93, 10),
            (1000, 128, 64),
            (300, 100, 30),
            (210, 100, 30),
            (145, 7, 20),
            (5, 2, 9),
        ] {
            let plan = HaloPlan::new(t, content, halo).unwrap();
            let d = 3;
            let seqs: Vec<f32> = (0..2 * t * d).map(|i| i as f32).collect();
            let chunks = plan.split(&seqs, d).unwrap();
            assert_eq!(chunks.len(), 2 * plan.chunks().len() * plan.chunk_len() * d);
            // Every content token lies inside its chunk and chunks tile the sequence.
            let mut next = 0;
            for c in plan.chunks() {
                assert_eq!(c.content_start, next);
                assert!(c.start <= c.content_start);
                assert!(c.content_start + c.content_len <= c.start + plan.chunk_len());
                assert!(c.start + plan.chunk_len() <= t);
                next += c.content_len;
            }
            assert_eq!(next, t);
            let back = plan.stitch(&chunks, d).unwrap();
            assert_eq!(back, seqs, "T {t}, content {content}, halo {halo}");
            assert!(plan.stitch(&chunks[1..], d).is_err());
        }
        // Positions through the same plan, and tokens of real networks.
        let lay = layout("cnn3");
        let tk = SaneTokenizer::new(&lay, 64).unwrap();
        let plan = tk.halo(40, 12).unwrap();
        let pos = plan.split(tk.positions(), 1).unwrap();
        assert_eq!(plan.stitch(&pos, 1).unwrap(), tk.positions());
        let toks = tk.tokenize(&random_bits(2 * lay.total, 5)).unwrap();
        let chunks = plan.split(&toks, 64).unwrap();
        assert!(same_bits(&plan.stitch(&chunks, 64).unwrap(), &toks));
    }
}
