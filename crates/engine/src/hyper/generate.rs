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

/// Latents `[rows, Tz·dz]` of every row of `data` (the decoder's input, not the mean
/// embedding), with `(Tz, dz)`. SANE needs the whole sequence as one window here.
pub fn latents(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<(Vec<f32>, [usize; 2])> {
    if let Representation::Sane {
        tokenizer, window, ..
    } = repr
        && *window != tokenizer.token_count()
    {
        return Err(Error::Shape {
            what: "generation with SANE".into(),
            found: format!("windows of {window} tokens"),
            expected: format!(
                "the whole sequence as the window (model.window = 0, {} tokens)",
                tokenizer.token_count()
            ),
        });
    }
    let ids: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::new();
    let mut shape = [0, 0];
    for chunk in ids.chunks(batch.max(1)) {
        let b = clean(data, chunk, repr, 0)?;
        let x = Tensor::<3>::from_data(TensorData::new(b.x.clone(), b.shape), device);
        let pos = positions(&b.pos, b.shape, device);
        let z = model.encode(x, pos, &mut Ctx::eval());
        let [_, t, d] = z.dims();
        shape = [t, d];
        out.extend(to_vec(z)?);
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

/// Decodes latents `[n, Tz·dz]` into flat normalised weights `[n, P]` (on the CPU).
pub fn decode(
    model: &HyperRep,
    z: &[f32],
    shape: [usize; 2],
    repr: &Representation,
    params: usize,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let dim = shape[0] * shape[1];
    let n = z.len() / dim;
    let mut out = Vec::with_capacity(n * params);
    for start in (0..n).step_by(batch.max(1)) {
        let m = batch.min(n - start);
        let zt = Tensor::<3>::from_data(
            TensorData::new(
                z[start * dim..(start + m) * dim].to_vec(),
                [m, shape[0], shape[1]],
            ),
            device,
        );
        let pos = match repr {
            Representation::Flat => None,
            Representation::Sane { tokenizer, .. } => {
                let p: Vec<i64> = (0..m)
                    .flat_map(|_| {
                        tokenizer
                            .positions()
                            .iter()
                            .flat_map(|p| p.to_array().map(i64::from))
                    })
                    .collect();
                positions(&Some(p), [m, tokenizer.token_count(), 0], device)
            }
        };
        let y = to_vec(model.decode(zt, pos, &mut Ctx::eval()))?;
        match repr {
            Representation::Flat => out.extend(y),
            Representation::Sane {
                tokenizer,
                slot_of_param,
                ..
            } => {
                let per = tokenizer.token_count() * tokenizer.token_size();
                for k in 0..m {
                    out.extend(slot_of_param.iter().map(|&s| y[k * per + s]));
                }
            }
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

    #[test]
    fn diversity_of_identical_rows_is_zero() {
        assert_eq!(diversity(&[1.0, 2.0, 1.0, 2.0], 2, 10), 0.0);
        assert!((diversity(&[0.0, 0.0, 3.0, 4.0], 2, 10) - 5.0).abs() < 1e-12);
    }
}
