//! Per-layer weight normalization, fitted on a training split of flat `[N, P]` vectors.
//!
//! - [`Standardizer`]: SANE's per-layer standardization (reference.md §2.3 and §12.4, [RS]
//!   `dataset_tokens.py standardize_data_checkpoints`). For every parametric layer `l` and every
//!   training checkpoint `i`, take the layer's weights **and** bias together (SANE concatenates
//!   the bias as an extra column of the `[out, in·k·k]` matrix before taking statistics), and
//!   compute their mean `m_il` and unbiased variance `v_il` (divisor `len − 1`, as torch's
//!   `std`). Then `μ_l = mean_i m_il` and `σ_l = sqrt(mean_i v_il)`; weights and bias of the
//!   layer both become `(w − μ_l) / σ_l`. One (μ, σ) per layer, shared by weights and bias —
//!   SANE keeps no separate bias statistics. Store it beside a trained model (it derives serde;
//!   JSON or TOML) and [`invert`](Standardizer::invert) decoded weights with it.
//! - [`LayerLossScales`]: the per-layer scales of the 2022 layer-wise loss normalization
//!   (reference.md §4.2, [R22] `def_loss.py LayerWiseReconLoss.set_normalization`): the unbiased
//!   standard deviation of all values of the layer's slice (weights and bias) pooled over the
//!   whole training set, floored at 1e-4. The loss itself divides output and target by them
//!   and lives with the other losses.
//!
//! Statistics are accumulated in f64 (two passes per slice); values stay f32.

use serde::{Deserialize, Serialize};

use crate::arch::Layout;
use crate::{Error, Result};

use super::batch_count;

/// The `(offset, len)` slice of every parametric layer, weight and bias together (they are
/// contiguous in the flat vector: weight, then bias). A batch norm gives three, as SANE takes
/// its state-dict keys: weight and bias, running mean, running variance.
fn layer_slices(layout: &Layout) -> Result<Vec<(usize, usize)>> {
    let mut out = Vec::with_capacity(layout.params.len());
    for (i, p) in layout.params.iter().enumerate() {
        if let Some(b) = p.buffers_offset {
            out.extend([(p.weight_offset, 2 * p.out), (b, p.out), (b + p.out, p.out)]);
            continue;
        }
        out.push(one_slice(i, p)?);
    }
    Ok(out)
}

/// A convolution's or linear layer's weight and bias, checked to be contiguous.
fn one_slice(i: usize, p: &crate::arch::ParamLayer) -> Result<(usize, usize)> {
    let wlen = p.weight_len();
    if p.bias_offset.is_some_and(|b| b != p.weight_offset + wlen) {
        return Err(Error::InvalidValue {
            what: format!("layout of parametric layer {i}"),
            value: format!(
                "weight at {} ({wlen} values), bias at {:?}",
                p.weight_offset, p.bias_offset
            ),
            expected: "the bias right after the weight (PyTorch state-dict order)".into(),
        });
    }
    Ok((p.weight_offset, p.len()))
}

/// Mean and unbiased variance (divisor `len − 1`; 0 for a single value) in f64.
fn mean_var(xs: &[f32]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = xs.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum();
    (mean, ss / (n - 1.0))
}

/// Checks a training matrix: a whole, non-zero number of networks of `param_count` values.
fn train_rows(train: &[f32], param_count: usize, what: &str) -> Result<usize> {
    let n = batch_count(train.len(), param_count, what)?;
    if n == 0 {
        return Err(Error::InvalidValue {
            what: what.to_string(),
            value: "no networks".into(),
            expected: "at least one training network".into(),
        });
    }
    Ok(n)
}

/// Statistics of one layer: its slice of the flat vector and its (μ, σ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerStandardization {
    /// Offset of the layer's weight in the flat vector.
    pub offset: usize,
    /// Weights plus bias of the layer.
    pub len: usize,
    /// μ_l: mean over training checkpoints of the per-checkpoint means.
    pub mean: f64,
    /// σ_l: square root of the mean over checkpoints of the per-checkpoint unbiased variances
    /// (1 when that is 0, so that a constant layer is only shifted).
    pub std: f64,
}

/// SANE's per-layer standardization: see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Parameters per network (P) of the architecture it was fitted on.
    pub param_count: usize,
    /// One entry per parametric layer, in layout order.
    pub layers: Vec<LayerStandardization>,
}

impl Standardizer {
    /// Fits the per-layer statistics on `train` (`[N, P]`, row-major, N ≥ 1).
    ///
    /// A layer whose pooled variance is 0 (constant in every checkpoint) gets σ = 1 where SANE
    /// would divide by zero; a layer of one value uses variance 0 where torch gives NaN. Errors
    /// when `train` is empty or not a whole number of networks, or holds a non-finite value.
    pub fn fit(layout: &Layout, train: &[f32]) -> Result<Self> {
        let p = layout.total;
        let n = train_rows(train, p, "standardization training set")?;
        let mut layers = Vec::with_capacity(layout.params.len());
        for (l, (offset, len)) in layer_slices(layout)?.into_iter().enumerate() {
            let (mut sum_mean, mut sum_var) = (0.0f64, 0.0f64);
            for net in train.chunks_exact(p) {
                let (m, v) = mean_var(&net[offset..offset + len]);
                sum_mean += m;
                sum_var += v;
            }
            let mean = sum_mean / n as f64;
            let std = (sum_var / n as f64).sqrt();
            if !mean.is_finite() || !std.is_finite() {
                return Err(Error::InvalidValue {
                    what: format!("standardization training set, parametric layer {l}"),
                    value: format!("mean {mean}, std {std}"),
                    expected: "finite weights (drop checkpoints with NaN or infinite values)"
                        .into(),
                });
            }
            layers.push(LayerStandardization {
                offset,
                len,
                mean,
                std: if std > 0.0 { std } else { 1.0 },
            });
        }
        Ok(Standardizer {
            param_count: p,
            layers,
        })
    }

    /// Standardizes `flat` (`[N, P]`) in place: `(w − μ_l) / σ_l` on every layer. Errors when
    /// `flat` is not a whole number of networks of this standardizer's P.
    pub fn apply(&self, flat: &mut [f32]) -> Result<()> {
        batch_count(flat.len(), self.param_count, "weights to standardize")?;
        for net in flat.chunks_exact_mut(self.param_count) {
            for l in &self.layers {
                for x in &mut net[l.offset..l.offset + l.len] {
                    *x = ((f64::from(*x) - l.mean) / l.std) as f32;
                }
            }
        }
        Ok(())
    }

    /// Undoes [`apply`](Self::apply) in place: `z · σ_l + μ_l` (exact up to f32 rounding).
    pub fn invert(&self, flat: &mut [f32]) -> Result<()> {
        batch_count(flat.len(), self.param_count, "weights to de-standardize")?;
        for net in flat.chunks_exact_mut(self.param_count) {
            for l in &self.layers {
                for x in &mut net[l.offset..l.offset + l.len] {
                    *x = (f64::from(*x) * l.std + l.mean) as f32;
                }
            }
        }
        Ok(())
    }
}

/// One layer's scale for the layer-wise loss normalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerLossScale {
    /// Offset of the layer's weight in the flat vector.
    pub offset: usize,
    /// Weights plus bias of the layer.
    pub len: usize,
    /// Unbiased variance of all the layer's values over the training set, pooled.
    pub variance: f64,
    /// `sqrt(variance)`, floored at [`LayerLossScales::STD_FLOOR`]: what output and target are
    /// divided by.
    pub std: f64,
}

/// Per-layer scales of the 2022 layer-wise loss normalization: see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerLossScales {
    /// Parameters per network (P) of the architecture it was fitted on.
    pub param_count: usize,
    /// One entry per parametric layer, in layout order.
    pub layers: Vec<LayerLossScale>,
}

impl LayerLossScales {
    /// [R22]'s floor on σ_l ("prevent division by zero").
    pub const STD_FLOOR: f64 = 1e-4;

    /// Fits the scales on `train` (`[N, P]`, row-major, N ≥ 1). Errors when `train` is empty
    /// or not a whole number of networks, or when a layer's variance is not finite.
    pub fn fit(layout: &Layout, train: &[f32]) -> Result<Self> {
        let p = layout.total;
        let n = train_rows(train, p, "loss-normalization training set")?;
        let mut layers = Vec::with_capacity(layout.params.len());
        for (l, (offset, len)) in layer_slices(layout)?.into_iter().enumerate() {
            let count = (n * len) as f64;
            let slices = || {
                train
                    .chunks_exact(p)
                    .map(move |net| &net[offset..offset + len])
            };
            let mean = slices().flatten().map(|&x| f64::from(x)).sum::<f64>() / count;
            let ss: f64 = slices()
                .flatten()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum();
            let variance = if n * len > 1 { ss / (count - 1.0) } else { 0.0 };
            if !variance.is_finite() {
                return Err(Error::InvalidValue {
                    what: format!("loss-normalization training set, parametric layer {l}"),
                    value: format!("variance {variance}"),
                    expected: "finite weights (drop checkpoints with NaN or infinite values)"
                        .into(),
                });
            }
            let s = variance.sqrt();
            layers.push(LayerLossScale {
                offset,
                len,
                variance,
                std: if s < Self::STD_FLOOR {
                    Self::STD_FLOOR
                } else {
                    s
                },
            });
        }
        Ok(LayerLossScales {
            param_count: p,
            layers,
        })
    }

    /// σ_l repeated over the layer's slice: a length-P vector to divide outputs and targets by
    /// ([R22]'s `normalization_koeff`).
    pub fn per_param_std(&self) -> Vec<f32> {
        let mut out = vec![1.0f32; self.param_count];
        for l in &self.layers {
            out[l.offset..l.offset + l.len].fill(l.std as f32);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{ArchSpec, BUILTINS, Layer};
    use rand::{Rng, SeedableRng};

    /// Flatten, linear 2->2 with bias (6 values), linear 2->1 without bias (2 values).
    fn tiny() -> Layout {
        ArchSpec {
            name: "tiny".into(),
            input: [1, 1, 2],
            layers: vec![
                Layer::Flatten,
                Layer::Linear { out: 2, bias: true },
                Layer::Linear {
                    out: 1,
                    bias: false,
                },
            ],
        }
        .layout()
        .unwrap()
    }

    fn tiny_train() -> Vec<f32> {
        vec![
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 3.0, //
            2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 0.0, 0.0,
        ]
    }

    #[test]
    fn standardizer_statistics_match_a_hand_computation() {
        let lay = tiny();
        assert_eq!(lay.total, 8);
        let s = Standardizer::fit(&lay, &tiny_train()).unwrap();
        assert_eq!(s.param_count, 8);
        assert_eq!((s.layers[0].offset, s.layers[0].len), (0, 6));
        assert_eq!((s.layers[1].offset, s.layers[1].len), (6, 2));
        // Layer 0, weights and bias together. Net 0: 1..6, mean 3.5, unbiased variance
        // 17.5 / 5 = 3.5 (the biased one would be 17.5 / 6). Net 1 = 2 × net 0: mean 7,
        // variance 14. μ = (3.5 + 7) / 2 = 5.25, σ = sqrt((3.5 + 14) / 2) = sqrt(8.75).
        assert!((s.layers[0].mean - 5.25).abs() < 1e-12);
        assert!((s.layers[0].std - 8.75f64.sqrt()).abs() < 1e-12);
        // Layer 1: net 0 [1, 3] mean 2, variance (1 + 1) / 1 = 2; net 1 [0, 0] mean 0,
        // variance 0. μ = 1, σ = sqrt(1) = 1.
        assert!((s.layers[1].mean - 1.0).abs() < 1e-12);
        assert!((s.layers[1].std - 1.0).abs() < 1e-12);
        let mut x = tiny_train();
        s.apply(&mut x).unwrap();
        let z0 = ((1.0 - 5.25) / 8.75f64.sqrt()) as f32;
        assert_eq!(x[0], z0);
        assert_eq!(&x[6..8], &[0.0, 2.0]);
        assert_eq!(&x[14..16], &[-1.0, -1.0]);
    }

    #[test]
    fn standardizer_round_trip_on_every_builtin() {
        for (k, name) in BUILTINS.iter().enumerate() {
            let lay = ArchSpec::builtin(name).unwrap().layout().unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
            let n = 4;
            // Layers on different scales and offsets, as in a real zoo.
            let mut train = vec![0.0f32; n * lay.total];
            for net in train.chunks_exact_mut(lay.total) {
                for (l, p) in lay.params.iter().enumerate() {
                    let (scale, shift) = (0.1 * (l + 1) as f32, l as f32 - 1.0);
                    for x in &mut net[p.weight_offset..p.weight_offset + p.len()] {
                        *x = shift + scale * (rng.random::<f32>() * 2.0 - 1.0);
                    }
                }
            }
            let s = Standardizer::fit(&lay, &train).unwrap();
            let mut x = train.clone();
            s.apply(&mut x).unwrap();
            // Standardized layers: pooled mean ≈ 0 and variance ≈ 1.
            for l in &s.layers {
                let vals: Vec<f32> = x
                    .chunks_exact(lay.total)
                    .flat_map(|net| net[l.offset..l.offset + l.len].to_vec())
                    .collect();
                let mean = vals.iter().map(|&v| f64::from(v)).sum::<f64>() / vals.len() as f64;
                assert!(mean.abs() < 1e-4, "{name}: mean {mean}");
            }
            s.invert(&mut x).unwrap();
            for (a, b) in train.iter().zip(&x) {
                let scale = a.abs().max(1e-3);
                assert!((a - b).abs() <= 1e-6 * scale, "{name}: {a} -> {b}");
            }
            assert!(s.apply(&mut x[1..]).is_err());
        }
    }

    #[test]
    fn standardizer_serializes_and_rejects_bad_input() {
        let lay = tiny();
        let s = Standardizer::fit(&lay, &tiny_train()).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Standardizer>(&json).unwrap(), s);
        let text = toml::to_string(&s).unwrap();
        assert_eq!(toml::from_str::<Standardizer>(&text).unwrap(), s);
        assert!(Standardizer::fit(&lay, &[]).is_err());
        assert!(Standardizer::fit(&lay, &tiny_train()[1..]).is_err());
        let mut bad = tiny_train();
        bad[3] = f32::NAN;
        assert!(Standardizer::fit(&lay, &bad).is_err());
        // A constant layer keeps σ = 1 and stays invertible.
        let constant = vec![2.0f32; 16];
        let s = Standardizer::fit(&lay, &constant).unwrap();
        assert_eq!(s.layers[0].std, 1.0);
        let mut x = constant.clone();
        s.apply(&mut x).unwrap();
        assert!(x.iter().all(|&v| v == 0.0));
        s.invert(&mut x).unwrap();
        assert_eq!(x, constant);
    }

    #[test]
    fn loss_scales_match_a_hand_computation() {
        let lay = tiny();
        let s = LayerLossScales::fit(&lay, &tiny_train()).unwrap();
        // Layer 0 pooled: 1..6 and 2,4,..,12. Sum 63, mean 5.25, Σx² = 91 + 364 = 455,
        // Σ(x − mean)² = 455 − 12 · 5.25² = 124.25, unbiased variance 124.25 / 11.
        assert!((s.layers[0].variance - 124.25 / 11.0).abs() < 1e-12);
        assert!((s.layers[0].std - (124.25f64 / 11.0).sqrt()).abs() < 1e-12);
        // Layer 1 pooled: 1, 3, 0, 0. Mean 1, Σ(x − 1)² = 0 + 4 + 1 + 1 = 6, variance 2.
        assert!((s.layers[1].variance - 2.0).abs() < 1e-12);
        assert!((s.layers[1].std - 2f64.sqrt()).abs() < 1e-12);
        let per = s.per_param_std();
        assert_eq!(per.len(), 8);
        assert_eq!(per[5], (124.25f64 / 11.0).sqrt() as f32);
        assert_eq!(per[6], 2f64.sqrt() as f32);
        // Floor at 1e-4 for a constant layer.
        let s = LayerLossScales::fit(&lay, &[0.5f32; 8]).unwrap();
        assert_eq!(s.layers[1].variance, 0.0);
        assert_eq!(s.layers[1].std, LayerLossScales::STD_FLOOR);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<LayerLossScales>(&json).unwrap(), s);
        assert!(LayerLossScales::fit(&lay, &[]).is_err());
    }
}
