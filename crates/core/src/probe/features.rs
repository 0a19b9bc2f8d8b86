//! Baseline features computed from flat weights, the yardsticks hyper-representations are
//! compared against (reference.md §7.4). Weights enter as a row-major `[N, P]` slice (one network
//! per row, PyTorch state-dict order, `P = layout.total`, see [`crate::arch`]) in `f32` or `f64`;
//! every function returns a [`FeatureMatrix`] `[N, F]` in `f64` with one name per column.
//! Layers are named `l{k}` by their position among the parametric layers.
//!
//! - [`flat`]: **W**, the weights themselves ([R21] `IdentityModel`).
//! - [`stats`]: **s(W)** ([R21]/[R22]/[RMZ] `LayerQuintiles`): per layer, of the weight entries,
//!   `mean, var, p1, p25, p50, p75, p99` (population variance, numpy's linear-interpolation
//!   percentiles), then with `with_bias` the same 7 of the biases: 7 or 14 per layer (35 or 70
//!   for CNN-s). The class default is `use_bias=True` (the [RMZ] benchmark); the 2021 experiment
//!   scripts pass `False`. Differences, on purpose: the slices come from the [`Layout`], so the
//!   [R21] Unterthiner `index_dict` slip (reference.md §13.1: layer 2 starting at 2320, not 2480)
//!   is not reproduced; and the statistics are over the flat weights, not over SANE's padded
//!   tokens, whose zero padding enters SANE's s(W) (§7.4, quirk §13.9). A layer without a bias
//!   contributes only its weight statistics.
//! - [`unterthiner`]: the 56 features of Unterthiner et al. ([GR] colab
//!   `extract_per_layer_features` / `extract_summary_features`): per layer, for the bias then the
//!   kernel (their TF layout order), `p0, p25, p50, p75, p100, std, mean` (population std):
//!   4 layers × 2 × 7 = 56 on `unterthiner_cnn`. The statistics do not depend on the order of
//!   entries, so PyTorch's kernel layout gives the same numbers as TF's.
//! - [`spectral`]: per-layer spectral metrics as WeightWatcher reports them, the features SANE
//!   compares against ([RS] `WeightWatcherModel`, §7.4), in its key order: `log_norm, alpha,
//!   alpha_weighted, log_alpha_norm, log_spectral_norm, stable_rank` ([`SpectralStats`]). The
//!   layer's weight is the matrix `[out, in·k·k]` (a conv kernel reshaped row-major; WeightWatcher
//!   itself splits conv kernels into `k·k` matrices `[out, in]`, so its conv numbers differ);
//!   biases are ignored; its eigenvalues are those of `WᵀW` (squared singular values, nalgebra SVD,
//!   no normalization). α is WeightWatcher's power-law fit ([`powerlaw_alpha`]).
//!
//! All statistics are computed in `f64` from the given values; the reference computes them with
//! numpy on the float32 weights (float32 accumulators), so they agree to float32 precision.
use crate::arch::{Layout, ParamLayer};
use crate::{Error, Result};
use nalgebra::DMatrix;

/// A feature matrix: `rows` × `names.len()` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// Number of rows (networks).
    pub rows: usize,
    /// One name per column.
    pub names: Vec<String>,
    /// Row-major `[rows, names.len()]` values.
    pub data: Vec<f64>,
}

impl FeatureMatrix {
    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.names.len()
    }

    /// The features of one row.
    pub fn row(&self, i: usize) -> &[f64] {
        let f = self.cols();
        &self.data[i * f..(i + 1) * f]
    }
}

/// Column standardization fitted on the training rows: `(x − mean) / std` per column
/// (population std; a constant column is only centred). The references fit their probes on raw
/// features; `hyperzoo eval --standardize` fits them on standardized ones, which keeps the
/// classifier's gradient descent from stalling on features of very different scales.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnScaler {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl ColumnScaler {
    /// Fits on a row-major `[N, cols]` matrix; non-finite values are left out of the
    /// statistics. Errors when the length is not a multiple of `cols` or there is no row.
    pub fn fit(x: &[f64], cols: usize) -> Result<ColumnScaler> {
        if cols == 0 || x.is_empty() || !x.len().is_multiple_of(cols) {
            return Err(Error::InvalidValue {
                what: "features to standardize".into(),
                value: format!("{} values", x.len()),
                expected: format!("a non-empty row-major [N, {cols}] matrix"),
            });
        }
        let mut sum = vec![0.0; cols];
        let mut n = vec![0usize; cols];
        for row in x.chunks_exact(cols) {
            for (j, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    sum[j] += v;
                    n[j] += 1;
                }
            }
        }
        let mean: Vec<f64> = (0..cols)
            .map(|j| if n[j] > 0 { sum[j] / n[j] as f64 } else { 0.0 })
            .collect();
        let mut sq = vec![0.0; cols];
        for row in x.chunks_exact(cols) {
            for (j, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    sq[j] += (v - mean[j]).powi(2);
                }
            }
        }
        // A column whose spread is rounding noise of its mean is constant: only centred (its
        // std would otherwise be ~1e-17 and blow other splits' values up).
        let std = (0..cols)
            .map(|j| {
                let s = if n[j] > 0 {
                    (sq[j] / n[j] as f64).sqrt()
                } else {
                    0.0
                };
                let noise = 16.0 * f64::EPSILON * mean[j].abs().max(f64::MIN_POSITIVE);
                if s > noise && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        Ok(ColumnScaler { mean, std })
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.mean.len()
    }

    /// `x` (row-major `[M, cols]`) standardized with the fitted statistics.
    pub fn apply(&self, x: &[f64]) -> Result<Vec<f64>> {
        let cols = self.cols();
        if !x.len().is_multiple_of(cols) {
            return Err(Error::InvalidValue {
                what: "features to standardize".into(),
                value: format!("{} values", x.len()),
                expected: format!("a row-major [N, {cols}] matrix"),
            });
        }
        Ok(x.iter()
            .enumerate()
            .map(|(i, &v)| (v - self.mean[i % cols]) / self.std[i % cols])
            .collect())
    }
}

/// Percentiles of [`stats`] (s(W)).
pub const STATS_PERCENTILES: [f64; 5] = [1.0, 25.0, 50.0, 75.0, 99.0];
/// Percentiles of [`unterthiner`].
pub const UNTERTHINER_PERCENTILES: [f64; 5] = [0.0, 25.0, 50.0, 75.0, 100.0];
/// Column names of one layer's [`SpectralStats`], in WeightWatcher's (and SANE's) order.
pub const SPECTRAL_NAMES: [&str; 6] = [
    "log_norm",
    "alpha",
    "alpha_weighted",
    "log_alpha_norm",
    "log_spectral_norm",
    "stable_rank",
];

/// Number of rows of `weights` for `layout`, or an error naming the sizes.
fn rows_of<T>(weights: &[T], layout: &Layout) -> Result<usize> {
    let p = layout.total;
    if p == 0 || !weights.len().is_multiple_of(p) {
        return Err(Error::InvalidValue {
            what: "weights for baseline features".into(),
            value: format!("{} values", weights.len()),
            expected: format!("a row-major [N, {p}] matrix (the layout's parameter count)"),
        });
    }
    Ok(weights.len() / p)
}

fn to_f64<T: Copy + Into<f64>>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.into()).collect()
}

/// Builds a matrix by running `per_row` on every network's flat vector (as `f64`).
fn per_network<T: Copy + Into<f64>>(
    weights: &[T],
    layout: &Layout,
    names: Vec<String>,
    per_row: impl Fn(&[f64], &mut Vec<f64>),
) -> Result<FeatureMatrix> {
    let rows = rows_of(weights, layout)?;
    let mut data = Vec::with_capacity(rows * names.len());
    for w in weights.chunks_exact(layout.total) {
        per_row(&to_f64(w), &mut data);
    }
    debug_assert_eq!(data.len(), rows * names.len());
    Ok(FeatureMatrix { rows, names, data })
}

fn weight_slice<'a>(w: &'a [f64], p: &ParamLayer) -> &'a [f64] {
    &w[p.weight_offset..p.weight_offset + p.weight_len()]
}

fn bias_slice<'a>(w: &'a [f64], p: &ParamLayer) -> Option<&'a [f64]> {
    p.bias_offset.map(|b| &w[b..b + p.out])
}

/// Percentile `p` (0..=100) of ascending `sorted` values with numpy's default linear method
/// (`np.percentile`, including its two-sided interpolation formula). NaN for an empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * (p / 100.0);
    let below = virtual_index.floor().max(0.0);
    let lo = (below as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let gamma = virtual_index - below;
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Population variance (`np.var`): mean of squared deviations from the mean.
fn variance(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// **W**: the flat weights themselves, named `l{k}.w{i}` / `l{k}.b{i}` in state-dict order.
pub fn flat<T: Copy + Into<f64>>(weights: &[T], layout: &Layout) -> Result<FeatureMatrix> {
    let mut names = vec![String::new(); layout.total];
    for (k, p) in layout.params.iter().enumerate() {
        for i in 0..p.weight_len() {
            names[p.weight_offset + i] = format!("l{k}.w{i}");
        }
        if let Some(b) = p.bias_offset {
            for i in 0..p.out {
                names[b + i] = format!("l{k}.b{i}");
            }
        }
    }
    let rows = rows_of(weights, layout)?;
    Ok(FeatureMatrix {
        rows,
        names,
        data: to_f64(weights),
    })
}

/// The 7 s(W) statistics of one block: mean, var, p1, p25, p50, p75, p99.
fn quintile_block(x: &[f64], out: &mut Vec<f64>) {
    out.push(mean(x));
    out.push(variance(x));
    let s = sorted(x);
    out.extend(STATS_PERCENTILES.iter().map(|&q| percentile(&s, q)));
}

fn block_names(prefix: &str, stats: &[&str], out: &mut Vec<String>) {
    out.extend(stats.iter().map(|s| format!("{prefix}.{s}")));
}

/// **s(W)** (`LayerQuintiles`, reference.md §7.4): per layer `mean, var, p1, p25, p50, p75, p99`
/// of the weights, then (with `with_bias`, for layers that have one) the same of the biases.
/// Columns `l{k}.w.mean`, …, `l{k}.b.p99`.
pub fn stats<T: Copy + Into<f64>>(
    weights: &[T],
    layout: &Layout,
    with_bias: bool,
) -> Result<FeatureMatrix> {
    const NAMES: [&str; 7] = ["mean", "var", "p1", "p25", "p50", "p75", "p99"];
    let mut names = Vec::new();
    for (k, p) in layout.params.iter().enumerate() {
        block_names(&format!("l{k}.w"), &NAMES, &mut names);
        if with_bias && p.bias_offset.is_some() {
            block_names(&format!("l{k}.b"), &NAMES, &mut names);
        }
    }
    per_network(weights, layout, names, |w, out| {
        for p in &layout.params {
            quintile_block(weight_slice(w, p), out);
            if with_bias && let Some(b) = bias_slice(w, p) {
                quintile_block(b, out);
            }
        }
    })
}

/// The 7 Unterthiner statistics of one block: p0, p25, p50, p75, p100, std, mean.
fn summary_block(x: &[f64], out: &mut Vec<f64>) {
    let s = sorted(x);
    out.extend(UNTERTHINER_PERCENTILES.iter().map(|&q| percentile(&s, q)));
    out.push(variance(x).sqrt());
    out.push(mean(x));
}

/// Unterthiner et al.'s per-layer statistics (reference.md §7.4, [GR] colab): per layer, bias
/// first then kernel, `p0, p25, p50, p75, p100, std, mean`. Columns `l{k}.b.p0`, …,
/// `l{k}.w.mean`; 56 on `unterthiner_cnn`.
pub fn unterthiner<T: Copy + Into<f64>>(weights: &[T], layout: &Layout) -> Result<FeatureMatrix> {
    const NAMES: [&str; 7] = ["p0", "p25", "p50", "p75", "p100", "std", "mean"];
    let mut names = Vec::new();
    for (k, p) in layout.params.iter().enumerate() {
        if p.bias_offset.is_some() {
            block_names(&format!("l{k}.b"), &NAMES, &mut names);
        }
        block_names(&format!("l{k}.w"), &NAMES, &mut names);
    }
    per_network(weights, layout, names, |w, out| {
        for p in &layout.params {
            if let Some(b) = bias_slice(w, p) {
                summary_block(b, out);
            }
            summary_block(weight_slice(w, p), out);
        }
    })
}

/// WeightWatcher's per-layer metrics of one weight matrix (its `apply_norm_metrics`, from the
/// eigenvalues λ of `WᵀW`, i.e. the squared singular values of `W`; logs are base 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralStats {
    /// `log10(Σλ) = log10(‖W‖_F²)`.
    pub log_norm: f64,
    /// Power-law exponent of the eigenvalue spectrum ([`powerlaw_alpha`]).
    pub alpha: f64,
    /// `alpha · log10(λ_max)`.
    pub alpha_weighted: f64,
    /// `log10(Σ λ^alpha)` (over the nonzero eigenvalues).
    pub log_alpha_norm: f64,
    /// `log10(λ_max) = log10(‖W‖₂²)`.
    pub log_spectral_norm: f64,
    /// `Σλ / λ_max = ‖W‖_F² / ‖W‖₂²`.
    pub stable_rank: f64,
}

impl SpectralStats {
    /// The metrics of the row-major `[rows, cols]` matrix `w`.
    ///
    /// Eigenvalues below numpy's rank tolerance (`σ ≤ σ_max·max(rows, cols)·ε`) are left out of
    /// the α fit and `log_alpha_norm`. A zero matrix gives `-inf` logs and NaN ratios and α.
    ///
    /// # Panics
    /// When `w.len() != rows * cols`.
    pub fn of_matrix(w: &[f64], rows: usize, cols: usize) -> SpectralStats {
        assert_eq!(w.len(), rows * cols, "matrix size");
        let m = DMatrix::from_row_slice(rows, cols, w);
        let mut evals: Vec<f64> = m.singular_values().iter().map(|s| s * s).collect();
        evals.sort_by(f64::total_cmp);
        Self::of_eigenvalues(&evals, rows.max(cols))
    }

    /// The metrics from the ascending eigenvalues of `WᵀW`; `dim = max(rows, cols)` sets the
    /// rank tolerance.
    fn of_eigenvalues(evals: &[f64], dim: usize) -> SpectralStats {
        let norm: f64 = evals.iter().sum();
        let lmax = evals.last().copied().unwrap_or(0.0);
        let tol = lmax * (dim as f64 * f64::EPSILON).powi(2);
        let nonzero: Vec<f64> = evals.iter().copied().filter(|&l| l > tol).collect();
        let alpha = powerlaw_alpha(&nonzero);
        SpectralStats {
            log_norm: norm.log10(),
            alpha,
            alpha_weighted: alpha * lmax.log10(),
            log_alpha_norm: nonzero.iter().map(|l| l.powf(alpha)).sum::<f64>().log10(),
            log_spectral_norm: lmax.log10(),
            stable_rank: norm / lmax,
        }
    }

    /// The values in [`SPECTRAL_NAMES`] order.
    pub fn to_array(&self) -> [f64; 6] {
        [
            self.log_norm,
            self.alpha,
            self.alpha_weighted,
            self.log_alpha_norm,
            self.log_spectral_norm,
            self.stable_rank,
        ]
    }
}

/// Power-law exponent of an eigenvalue spectrum, fitted as WeightWatcher does (its default
/// `WWFit`, the Clauset–Shalizi–Newman method with `x_max` the largest eigenvalue): for every
/// candidate `x_min` among the sorted eigenvalues but the largest, the continuous maximum
/// likelihood (Hill) estimate over the `n` eigenvalues `λ ≥ x_min`,
/// `α = 1 + n / Σ ln(λ / x_min)`, and the Kolmogorov–Smirnov distance between the fitted CDF
/// `1 − (λ/x_min)^(1−α)` and the empirical one `k/n` (k = 0 … n−1); candidates with `α ≤ 1`
/// get distance 1. The α of the smallest distance is returned (the first on ties).
///
/// `evals` must be positive and ascending. NaN with fewer than 2 values.
pub fn powerlaw_alpha(evals: &[f64]) -> f64 {
    let n_all = evals.len();
    if n_all < 2 {
        return f64::NAN;
    }
    let logs: Vec<f64> = evals.iter().map(|l| l.ln()).collect();
    // Suffix sums of the logs: tail[i] = Σ_{j ≥ i} ln λ_j.
    let mut tail = vec![0.0; n_all + 1];
    for i in (0..n_all).rev() {
        tail[i] = tail[i + 1] + logs[i];
    }
    let (mut best_d, mut best_alpha) = (f64::INFINITY, f64::NAN);
    for i in 0..n_all - 1 {
        let xmin = evals[i];
        let n = (n_all - i) as f64;
        let alpha = 1.0 + n / (tail[i] - n * logs[i]);
        let d = if alpha > 1.0 {
            evals[i..]
                .iter()
                .enumerate()
                .map(|(k, &l)| (1.0 - (l / xmin).powf(1.0 - alpha) - k as f64 / n).abs())
                .fold(0.0, f64::max)
        } else {
            1.0
        };
        if d < best_d {
            best_d = d;
            best_alpha = alpha;
        }
    }
    best_alpha
}

/// Per-layer spectral metrics ([`SpectralStats`], WeightWatcher's definitions) of every
/// parametric layer's weight as a `[out, in·k·k]` matrix, biases ignored. Columns
/// `l{k}.log_norm`, `l{k}.alpha`, … in [`SPECTRAL_NAMES`] order; 6 per layer.
pub fn spectral<T: Copy + Into<f64>>(weights: &[T], layout: &Layout) -> Result<FeatureMatrix> {
    let mut names = Vec::new();
    for k in 0..layout.params.len() {
        block_names(&format!("l{k}"), &SPECTRAL_NAMES, &mut names);
    }
    per_network(weights, layout, names, |w, out| {
        for p in &layout.params {
            let s = SpectralStats::of_matrix(weight_slice(w, p), p.out, p.row_len());
            out.extend(s.to_array());
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_scaler_fits_train_rows_and_applies_to_others() {
        // Two columns: [1, 3] has mean 2, std 1; the constant column is only centred.
        let x = [1.0, 5.0, 3.0, 5.0];
        let sc = ColumnScaler::fit(&x, 2).unwrap();
        assert_eq!(sc.apply(&x).unwrap(), [-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(sc.apply(&[4.0, 6.0]).unwrap(), [2.0, 1.0]);
        // Non-finite values are left out of the statistics and stay non-finite.
        let sc = ColumnScaler::fit(&[1.0, f64::NAN, 3.0], 1).unwrap();
        let y = sc.apply(&[f64::NAN, 2.0]).unwrap();
        assert!(y[0].is_nan() && y[1] == 0.0);
        // 0.1 is not exact in binary: the column's spread is rounding noise, not a scale.
        let sc = ColumnScaler::fit(&[0.1, 0.1, 0.1], 1).unwrap();
        let y = sc.apply(&[0.1, 0.2]).unwrap();
        assert!(y[0].abs() < 1e-15 && (y[1] - 0.1).abs() < 1e-15, "{y:?}");
        assert!(ColumnScaler::fit(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(sc.apply(&[]).unwrap().is_empty());
        assert!(ColumnScaler::fit(&[], 2).is_err());
    }

    use super::*;
    use crate::arch::ArchSpec;

    fn layout(name: &str) -> Layout {
        ArchSpec::builtin(name).unwrap().layout().unwrap()
    }

    /// `n` networks of `layout` from a formula (the quadratic phase makes every layer's matrix
    /// full rank).
    fn nets(layout: &Layout, n: usize) -> Vec<f32> {
        (0..n * layout.total)
            .map(|i| {
                let p = i as f64;
                (0.37 * p + 0.001 * p * p + 0.5).sin() as f32 * 0.3
            })
            .collect()
    }

    #[test]
    fn percentile_matches_numpy() {
        // np.percentile([1, 2, 3, 4], [0, 1, 25, 50, 75, 99, 100])
        // = [1, 1.03, 1.75, 2.5, 3.25, 3.97, 4].
        let s = [1.0, 2.0, 3.0, 4.0];
        let want = [1.0, 1.03, 1.75, 2.5, 3.25, 3.97, 4.0];
        for (q, w) in [0.0, 1.0, 25.0, 50.0, 75.0, 99.0, 100.0].iter().zip(want) {
            assert!((percentile(&s, *q) - w).abs() < 1e-12, "p{q}");
        }
        assert_eq!(percentile(&[7.0], 50.0), 7.0);
    }

    #[test]
    fn stats_counts_on_cnn_s() {
        let l = layout("cnn_s");
        let w = nets(&l, 3);
        let with = stats(&w, &l, true).unwrap();
        assert_eq!((with.rows, with.cols()), (3, 70));
        assert_eq!(with.data.len(), 3 * 70);
        let without = stats(&w, &l, false).unwrap();
        assert_eq!(without.cols(), 35);
        assert_eq!(
            &with.names[..8],
            &[
                "l0.w.mean",
                "l0.w.var",
                "l0.w.p1",
                "l0.w.p25",
                "l0.w.p50",
                "l0.w.p75",
                "l0.w.p99",
                "l0.b.mean"
            ]
        );
        // Unterthiner's CNN, bias-free variant (the 2021 scripts): 4 layers × 7 = 28.
        assert_eq!(
            stats(
                &nets(&layout("unterthiner_cnn"), 1),
                &layout("unterthiner_cnn"),
                false
            )
            .unwrap()
            .cols(),
            28
        );
    }

    #[test]
    fn stats_by_hand() {
        // The first layer's weight statistics of network 1 recomputed directly.
        let l = layout("cnn_s");
        let w = nets(&l, 2);
        let s = stats(&w, &l, true).unwrap();
        let p = &l.params[0];
        let x: Vec<f64> = w[l.total + p.weight_offset..l.total + p.weight_offset + 200]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let m = x.iter().sum::<f64>() / 200.0;
        let v = x.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 200.0;
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        // 50th percentile of 200 values: mean of the 100th and 101st.
        let median = 0.5 * (sorted[99] + sorted[100]);
        let row = s.row(1);
        assert!((row[0] - m).abs() < 1e-15);
        assert!((row[1] - v).abs() < 1e-15);
        assert!((row[4] - median).abs() < 1e-15);
        // Bias block of layer 0: the 8 biases.
        let b: Vec<f64> = w[l.total + 200..l.total + 208]
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert!((row[7] - b.iter().sum::<f64>() / 8.0).abs() < 1e-15);
    }

    #[test]
    fn unterthiner_has_56_features() {
        let l = layout("unterthiner_cnn");
        let w = nets(&l, 2);
        let u = unterthiner(&w, &l).unwrap();
        assert_eq!((u.rows, u.cols()), (2, 56));
        assert_eq!(u.names[0], "l0.b.p0");
        assert_eq!(u.names[7], "l0.w.p0");
        assert_eq!(u.names[55], "l3.w.mean");
        // p0/p100 are min/max of the 16 first-layer biases.
        let p = &l.params[0];
        let b: Vec<f64> = w[p.bias_offset.unwrap()..p.bias_offset.unwrap() + 16]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let min = b.iter().copied().fold(f64::INFINITY, f64::min);
        let max = b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(u.row(0)[0], min);
        assert_eq!(u.row(0)[4], max);
    }

    #[test]
    fn flat_names_follow_the_layout() {
        let l = layout("cnn_s");
        let w = nets(&l, 2);
        let f = flat(&w, &l).unwrap();
        assert_eq!((f.rows, f.cols()), (2, 2464));
        assert_eq!(f.names[0], "l0.w0");
        assert_eq!(f.names[200], "l0.b0");
        assert_eq!(f.names[2463], "l4.b9");
        assert_eq!(f.row(1)[5], w[2464 + 5] as f64);
        assert!(flat(&w[..100], &l).is_err());
    }

    #[test]
    fn spectral_of_a_diagonal_matrix() {
        // W = diag(4, 3, 2, 1) padded to 4×6: σ = 4, 3, 2, 1 → λ = 16, 9, 4, 1.
        let mut w = vec![0.0; 24];
        for (i, s) in [4.0, 3.0, 2.0, 1.0].iter().enumerate() {
            w[i * 6 + i] = *s;
        }
        let s = SpectralStats::of_matrix(&w, 4, 6);
        assert!((s.log_norm - 30f64.log10()).abs() < 1e-12);
        assert!((s.log_spectral_norm - 16f64.log10()).abs() < 1e-12);
        assert!((s.stable_rank - 30.0 / 16.0).abs() < 1e-12);
        let alpha = powerlaw_alpha(&[1.0, 4.0, 9.0, 16.0]);
        assert!((s.alpha - alpha).abs() < 1e-12);
        assert!((s.alpha_weighted - alpha * 16f64.log10()).abs() < 1e-12);
        let lan = [1.0f64, 4.0, 9.0, 16.0]
            .iter()
            .map(|l| l.powf(alpha))
            .sum::<f64>()
            .log10();
        assert!((s.log_alpha_norm - lan).abs() < 1e-10);
        // Transposed: same spectrum.
        let mut wt = vec![0.0; 24];
        for i in 0..4 {
            for j in 0..6 {
                wt[j * 4 + i] = w[i * 6 + j];
            }
        }
        let t = SpectralStats::of_matrix(&wt, 6, 4);
        assert!((t.stable_rank - s.stable_rank).abs() < 1e-12);
        assert!((t.alpha - s.alpha).abs() < 1e-9);
    }

    #[test]
    fn powerlaw_alpha_by_hand() {
        // Two values: the only candidate is x_min = λ₀, α = 1 + 2 / ln(λ₁/λ₀).
        let a = powerlaw_alpha(&[1.0, std::f64::consts::E]);
        assert!((a - 3.0).abs() < 1e-12);
        assert!(powerlaw_alpha(&[2.0]).is_nan());
        // Exact Pareto quantiles x = (1 − u)^(−1/(α−1)) with α = 2.5: the estimate is near 2.5.
        let n = 2000;
        let v: Vec<f64> = (0..n)
            .map(|i| (1.0 - (i as f64 + 0.5) / n as f64).powf(-1.0 / 1.5))
            .collect();
        let a = powerlaw_alpha(&v);
        assert!((a - 2.5).abs() < 0.1, "{a}");
    }

    #[test]
    fn spectral_counts_and_rank_deficiency() {
        let l = layout("cnn_s");
        let s = spectral(&nets(&l, 2), &l).unwrap();
        assert_eq!((s.rows, s.cols()), (2, 30));
        assert_eq!(s.names[1], "l0.alpha");
        assert!(s.data.iter().all(|v| v.is_finite()), "{:?}", s.data);
        // A rank-1 matrix: stable rank 1, too few eigenvalues for α.
        let w: Vec<f64> = (0..12)
            .map(|i| ((i / 4) + 1) as f64 * ((i % 4) as f64 + 1.0))
            .collect();
        let r = SpectralStats::of_matrix(&w, 3, 4);
        assert!((r.stable_rank - 1.0).abs() < 1e-12);
        assert!(r.alpha.is_nan());
    }
}
