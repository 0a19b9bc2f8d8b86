//! New networks from a hyper-representation (reference.md §8): latents of anchor models,
//! samples drawn around them (kernel density estimates) or uniformly in the tanh box, decoded
//! and mapped back through the weight normalization.
//!
//! The references fit their KDEs with one shared `random_state`, so every dimension (or token)
//! draws the same anchor and the same noise, and a sample is a near-copy of one anchor
//! (§8.1, §13.6). Here `Individual` draws each dimension independently (what a per-dimension
//! KDE means), `Joint` is one anchor for the whole latent plus independent Gaussian noise per
//! entry, `Token` one anchor per token position (SANE), and `Uniform` U[−1, 1] per entry.
use super::data::{Representation, SplitData, clean};
use super::model::HyperRep;
use super::nn::Ctx;
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::tokens::sane::HaloPlan;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// How latents are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// Per-dimension Gaussian KDE, dimensions drawn independently.
    Individual,
    /// One anchor per sample, Gaussian noise on every entry.
    Joint,
    /// One anchor per token position (SANE latents), Gaussian noise on every entry.
    Token,
    /// U[−1, 1] per entry (the tanh-bounded latents of the 2021 model).
    Uniform,
}

/// KDE bandwidth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bandwidth {
    /// A fixed value for every dimension.
    Fixed(f64),
    /// Scott's rule per dimension: σ·n^(−1/(d+4)) with d = 1 (σ·n^(−1/5)).
    Scott,
    /// Silverman's rule per dimension: 0.9·min(σ, IQR/1.34)·n^(−1/5).
    Silverman,
}

/// The halo plan of a SANE representation whose window is shorter than its sequence, as
/// [RS] samples its ResNets (reference.md §8.2: content windows of 128 tokens with 64 of
/// context on each side for a training window of 256): content of half the window, a quarter
/// of it as context on each side, so every chunk is a training window. None when the window is
/// the whole sequence.
pub fn halo_plan(repr: &Representation) -> Result<Option<HaloPlan>> {
    match repr {
        Representation::Sane {
            tokenizer, window, ..
        } if *window < tokenizer.token_count() => {
            let halo = window / 4;
            Ok(Some(tokenizer.halo(window - 2 * halo, halo)?))
        }
        _ => Ok(None),
    }
}

/// Latents `[rows, Tz·dz]` of every row of `data` (the decoder's input, not the mean
/// embedding), with `(Tz, dz)`. A SANE sequence longer than the model's window is encoded
/// chunk by chunk with halos ([`halo_plan`]); each token keeps the latent of the chunk whose
/// content holds it, so `Tz` is the whole sequence's length.
pub fn latents(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<(Vec<f32>, [usize; 2])> {
    let plan = halo_plan(repr)?;
    let ids: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::new();
    let mut shape = [0, 0];
    let encode = |rows: &[usize], start: usize| -> Result<(Vec<f32>, [usize; 2])> {
        let b = clean(data, rows, repr, start)?;
        let x = Tensor::<3>::from_data(TensorData::new(b.x.clone(), b.shape), device);
        let pos = positions(&b.pos, b.shape, device);
        let z = model.encode(x, pos, &mut Ctx::eval());
        let [_, t, d] = z.dims();
        Ok((to_vec(z)?, [t, d]))
    };
    for rows in ids.chunks(batch.max(1)) {
        match &plan {
            None => {
                let (z, s) = encode(rows, 0)?;
                shape = s;
                out.extend(z);
            }
            Some(plan) => {
                // Each chunk's content tokens go straight to their place in the sequence.
                let t = plan.seq_len();
                let mut z = Vec::new();
                for c in plan.chunks() {
                    let (zc, [l, d]) = encode(rows, c.start)?;
                    if z.is_empty() {
                        z = vec![0.0f32; rows.len() * t * d];
                        shape = [t, d];
                    }
                    let (a, len) = (c.content_offset(), c.content_len);
                    for k in 0..rows.len() {
                        z[(k * t + c.content_start) * d..(k * t + c.content_start + len) * d]
                            .copy_from_slice(&zc[(k * l + a) * d..(k * l + a + len) * d]);
                    }
                }
                out.extend(z);
            }
        }
    }
    Ok((out, shape))
}

fn positions(pos: &Option<Vec<i64>>, shape: [usize; 3], device: &Device) -> Option<Tensor<3, Int>> {
    pos.as_ref()
        .map(|p| Tensor::from_data(TensorData::new(p.clone(), [shape[0], shape[1], 3]), device))
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_to_vec().map_err(|e| Error::Shape {
        what: "tensor data".into(),
        found: format!("{e:?}"),
        expected: "f32".into(),
    })
}

fn bandwidths(anchors: &[f32], dim: usize, bw: Bandwidth) -> Vec<f64> {
    let n = anchors.len() / dim;
    (0..dim)
        .map(|j| {
            let mut col: Vec<f64> = (0..n).map(|i| f64::from(anchors[i * dim + j])).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64)
                .sqrt();
            col.sort_by(f64::total_cmp);
            let q = |p: f64| hyperzoo_core::probe::features::percentile(&col, p);
            let iqr = q(75.0) - q(25.0);
            let factor = (n as f64).powf(-0.2);
            match bw {
                Bandwidth::Fixed(b) => b,
                Bandwidth::Scott => sd * factor,
                Bandwidth::Silverman => {
                    let s = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
                    0.9 * s * factor
                }
            }
        })
        .collect()
}

/// `n` latents `[n, Tz·dz]` sampled around `anchors` (`[a, Tz·dz]`) with `shape = [Tz, dz]`,
/// and for each sample the anchor it was drawn from (the first dimension's anchor for
/// `Individual`/`Token`; `None` for `Uniform`).
pub fn sample(
    anchors: &[f32],
    shape: [usize; 2],
    n: usize,
    sampler: Sampler,
    bw: Bandwidth,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, Vec<Option<usize>>) {
    let dim = shape[0] * shape[1];
    let a = anchors.len() / dim.max(1);
    let bws = bandwidths(anchors, dim, bw);
    let normal = Normal::new(0.0, 1.0).expect("valid");
    let mut out = Vec::with_capacity(n * dim);
    let mut which = Vec::with_capacity(n);
    for _ in 0..n {
        match sampler {
            Sampler::Uniform => {
                out.extend((0..dim).map(|_| rng.random_range(-1.0f32..=1.0)));
                which.push(None);
            }
            Sampler::Joint => {
                let k = rng.random_range(0..a);
                out.extend((0..dim).map(|j| {
                    (f64::from(anchors[k * dim + j]) + bws[j] * normal.sample(rng)) as f32
                }));
                which.push(Some(k));
            }
            Sampler::Individual | Sampler::Token => {
                let per = if sampler == Sampler::Token {
                    shape[1]
                } else {
                    1
                };
                let mut first = None;
                let mut k = 0;
                for j in 0..dim {
                    if j % per == 0 {
                        k = rng.random_range(0..a);
                        first.get_or_insert(k);
                    }
                    out.push(
                        (f64::from(anchors[k * dim + j]) + bws[j] * normal.sample(rng)) as f32,
                    );
                }
                which.push(first);
            }
        }
    }
    (out, which)
}

/// Decodes latents `[n, Tz·dz]` into flat normalised weights `[n, P]` (on the CPU). SANE
/// latents of a sequence longer than the model's window are decoded chunk by chunk with halos
/// ([`halo_plan`]), each token taken from the chunk whose content holds it.
pub fn decode(
    model: &HyperRep,
    z: &[f32],
    shape: [usize; 2],
    repr: &Representation,
    params: usize,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let plan = halo_plan(repr)?;
    let dim = shape[0] * shape[1];
    let n = z.len() / dim;
    // Decoder outputs `[m, len, D]` of latents `[m, len, dz]` at the positions of tokens
    // `from..from + len` (SANE).
    let run = |z: Vec<f32>, m: usize, from: usize, len: usize| -> Result<Vec<f32>> {
        let zt = Tensor::<3>::from_data(TensorData::new(z, [m, len, shape[1]]), device);
        let pos = match repr {
            Representation::Flat => None,
            Representation::Sane { tokenizer, .. } => {
                let p = super::data::window_positions(tokenizer, from, len, m);
                positions(&Some(p), [m, len, 0], device)
            }
        };
        to_vec(model.decode(zt, pos, &mut Ctx::eval()))
    };
    let mut out = Vec::with_capacity(n * params);
    for start in (0..n).step_by(batch.max(1)) {
        let m = batch.min(n - start);
        let zs = &z[start * dim..(start + m) * dim];
        let y = match (&plan, repr) {
            (Some(plan), Representation::Sane { tokenizer, .. }) => {
                // Each chunk's latents read from the sequence, its content tokens written back.
                let (t, l, dz, ts) = (
                    plan.seq_len(),
                    plan.chunk_len(),
                    shape[1],
                    tokenizer.token_size(),
                );
                let mut tokens = vec![0.0f32; m * t * ts];
                for c in plan.chunks() {
                    let zc: Vec<f32> = (0..m)
                        .flat_map(|k| {
                            zs[(k * t + c.start) * dz..(k * t + c.start + l) * dz]
                                .iter()
                                .copied()
                        })
                        .collect();
                    let yc = run(zc, m, c.start, l)?;
                    let (a, len) = (c.content_offset(), c.content_len);
                    for k in 0..m {
                        tokens
                            [(k * t + c.content_start) * ts..(k * t + c.content_start + len) * ts]
                            .copy_from_slice(&yc[(k * l + a) * ts..(k * l + a + len) * ts]);
                    }
                }
                tokens
            }
            _ => run(zs.to_vec(), m, 0, shape[0])?,
        };
        match repr {
            Representation::Flat => out.extend(y),
            Representation::Sane { tokenizer, .. } => out.extend(tokenizer.detokenize(&y)?),
        }
    }
    Ok(out)
}

/// Mean pairwise L2 distance between the rows of `w` (`[n, p]`), over at most `max` rows.
pub fn diversity(w: &[f32], p: usize, max: usize) -> f64 {
    let n = (w.len() / p).min(max);
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for i in 0..n {
        for j in i + 1..n {
            let d: f64 = (0..p)
                .map(|k| f64::from(w[i * p + k] - w[j * p + k]).powi(2))
                .sum();
            sum += d.sqrt();
            pairs += 1;
        }
    }
    if pairs == 0 {
        f64::NAN
    } else {
        sum / pairs as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn samplers_draw_around_anchors() {
        // Two anchors far apart in 4 dims.
        let anchors = [0.0f32, 0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (z, which) = sample(
            &anchors,
            [1, 4],
            200,
            Sampler::Joint,
            Bandwidth::Fixed(0.01),
            &mut rng,
        );
        for (i, w) in which.iter().enumerate() {
            let a = w.unwrap() as f32 * 10.0;
            assert!(z[i * 4..i * 4 + 4].iter().all(|v| (v - a).abs() < 0.1));
        }
        // Independent dimensions mix anchors within one sample.
        let (z, _) = sample(
            &anchors,
            [1, 4],
            200,
            Sampler::Individual,
            Bandwidth::Fixed(0.01),
            &mut rng,
        );
        let mixed = (0..200).any(|i| {
            let s = &z[i * 4..i * 4 + 4];
            s.iter().any(|v| *v < 5.0) && s.iter().any(|v| *v > 5.0)
        });
        assert!(mixed);
        let (z, which) = sample(
            &anchors,
            [1, 4],
            50,
            Sampler::Uniform,
            Bandwidth::Scott,
            &mut rng,
        );
        assert!(z.iter().all(|v| (-1.0..=1.0).contains(v)) && which.iter().all(Option::is_none));
        // Silverman / Scott bandwidths shrink with more anchors.
        let many: Vec<f32> = (0..400).map(|i| (i % 7) as f32).collect();
        let few: Vec<f32> = (0..40).map(|i| (i % 7) as f32).collect();
        assert!(
            bandwidths(&many, 4, Bandwidth::Scott)[0] < bandwidths(&few, 4, Bandwidth::Scott)[0]
        );
        assert!(bandwidths(&many, 4, Bandwidth::Silverman)[0] > 0.0);
    }

    /// A SANE sequence longer than the window: latents and decoded networks taken, token by
    /// token, from the halo chunk whose content holds the token, each chunk a plain window.
    #[test]
    fn long_sequences_are_encoded_and_decoded_chunk_by_chunk_with_halos() {
        use crate::hyper::model::{ModelConfig, SaneConfig};
        use hyperzoo_core::arch::ArchSpec;
        use hyperzoo_core::tokens::sane::SaneTokenizer;
        let dev = crate::device::resolve(Default::default()).unwrap().device;
        let layout = ArchSpec::builtin("cnn_s").unwrap().layout().unwrap();
        let tok = SaneTokenizer::new(&layout, 16).unwrap();
        let (t, ts, w) = (tok.token_count(), tok.token_size(), 12);
        let repr = Representation::sane(tok.clone(), w).unwrap();
        let plan = halo_plan(&repr).unwrap().unwrap();
        assert_eq!((plan.chunk_len(), plan.chunks()[1].content_start), (12, 6));
        let data = SplitData {
            params: layout.total,
            weights: (0..3 * layout.total)
                .map(|v| (v as f32 * 0.61).sin())
                .collect(),
            model: vec![0, 1, 2],
            epoch: vec![0; 3],
        };
        let config = ModelConfig::Sane(SaneConfig {
            token_size: ts,
            d_model: 16,
            heads: 2,
            layers: 1,
            latent: 4,
            max_positions: [t, 8, 32],
            dropout: 0.0,
        });
        let model = HyperRep::new(&config, None, &layout, w, 3, &dev).unwrap();
        let (z, shape) = latents(&model, &data, &repr, 3, &dev).unwrap();
        assert_eq!(shape, [t, 4]);
        let y = decode(&model, &z, shape, &repr, layout.total, 3, &dev).unwrap();
        let mut want_tokens = vec![0.0f32; 3 * t * ts];
        for c in plan.chunks() {
            let b = clean(&data, &[0, 1, 2], &repr, c.start).unwrap();
            let x = Tensor::<3>::from_data(TensorData::new(b.x.clone(), b.shape), &dev);
            let pos = positions(&b.pos, b.shape, &dev);
            let zc = to_vec(model.encode(x, pos.clone(), &mut Ctx::eval())).unwrap();
            // The decoder sees the stitched latents of the chunk's tokens (its halo tokens'
            // come from their own chunks).
            let zs: Vec<f32> = (0..3)
                .flat_map(|k| z[(k * t + c.start) * 4..(k * t + c.start + w) * 4].to_vec())
                .collect();
            let zs = Tensor::<3>::from_data(TensorData::new(zs, [3, w, 4]), &dev);
            let yc = to_vec(model.decode(zs, pos, &mut Ctx::eval())).unwrap();
            for k in 0..3 {
                for tok_i in c.content_start..c.content_start + c.content_len {
                    let j = tok_i - c.start;
                    let got = &z[(k * t + tok_i) * 4..(k * t + tok_i + 1) * 4];
                    let want = &zc[(k * w + j) * 4..(k * w + j + 1) * 4];
                    for (a, b) in got.iter().zip(want) {
                        assert!((a - b).abs() < 1e-5, "latent of token {tok_i}: {a} vs {b}");
                    }
                    want_tokens[(k * t + tok_i) * ts..(k * t + tok_i + 1) * ts]
                        .copy_from_slice(&yc[(k * w + j) * ts..(k * w + j + 1) * ts]);
                }
            }
        }
        let want = tok.detokenize(&want_tokens).unwrap();
        assert_eq!(y.len(), want.len());
        for (i, (a, b)) in y.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-4, "weight {i}: {a} vs {b}");
        }
    }

    #[test]
    fn diversity_of_identical_rows_is_zero() {
        assert_eq!(diversity(&[1.0, 2.0, 1.0, 2.0], 2, 10), 0.0);
        assert!((diversity(&[0.0, 0.0, 3.0, 4.0], 2, 10) - 5.0).abs() < 1e-12);
    }
}
