//! Weight tokenizations and weight normalization: how a flat parameter vector becomes the
//! sequence an autoencoder reads, and how that sequence becomes weights again.
//!
//! Data enters as a row-major `[N, P]` slice of `f32`: N networks of one
//! [`ArchSpec`](crate::arch::ArchSpec), each a flat vector in PyTorch state-dict order (per
//! parametric layer the weight `[out, in, kh, kw]` / `[out, in]`, then the bias `[out]`; see
//! [`Layout`](crate::arch::Layout)). It leaves as plain `Vec<f32>` buffers whose shapes are
//! documented on each function, ready to be turned into tensors by the engine. Every
//! tokenization has an exact (bitwise) inverse.
//!
//! - [`neuron`]: the NeurIPS 2021 *neuron encoding* (reference.md §2.1): one token per output
//!   neuron / kernel, its incoming weights then its bias; token length differs per layer, so the
//!   tokens come grouped per layer ([`NeuronTokens`]). Also the 2021 ablation's *one token per
//!   weight* encoding ([`WeightTokenizer`]).
//! - [`sane`]: SANE tokens (reference.md §2.2): every output row (weights then bias) cut into
//!   chunks of a fixed `token_size`, zero padded, with a mask and 3-D positions
//!   ([`Position`]: global index `n`, layer `l`, row-within-layer `c`); windows of consecutive
//!   tokens for training and the halo scheme ([`HaloPlan`]) for sequences longer than a window.
//! - [`norm`]: SANE's per-layer standardization ([`Standardizer`], reference.md §2.3) and the
//!   per-layer scales of the 2022 layer-wise loss normalization ([`LayerLossScales`], §4.2).
//!
//! Normalization works on the flat vectors, before tokenizing (as SANE does): fit a
//! [`Standardizer`] on the training split, `apply` it to every split, tokenize; after decoding,
//! detokenize and `invert`.

pub mod neuron;
pub mod norm;
pub mod sane;

pub use neuron::{LayerTokens, NeuronLayer, NeuronTokenizer, NeuronTokens, WeightTokenizer};
pub use norm::{LayerLossScale, LayerLossScales, LayerStandardization, Standardizer};
pub use sane::{HaloChunk, HaloPlan, Position, SaneLayer, SaneTokenizer, Window};

use crate::{Error, Result};

/// Number of rows of `per` values in a buffer of `len` values, or an error naming `what` and
/// the shape expected.
pub(crate) fn batch_count(len: usize, per: usize, what: &str) -> Result<usize> {
    if per == 0 || !len.is_multiple_of(per) {
        return Err(Error::InvalidValue {
            what: what.to_string(),
            value: format!("a buffer of {len} values"),
            expected: format!("a whole number of rows of {per} values (row-major [N, {per}])"),
        });
    }
    Ok(len / per)
}

/// Random flat weight vectors for tests: arbitrary bit patterns (NaNs, infinities, negative
/// zeros included), so round trips are checked bit for bit and not only up to float equality.
#[cfg(test)]
pub(crate) fn random_bits(n: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| f32::from_bits(rng.random::<u32>()))
        .collect()
}

/// Bitwise equality of two f32 slices (NaN payloads included).
#[cfg(test)]
pub(crate) fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
