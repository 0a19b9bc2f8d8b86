//! Scores of the downstream probes: R² (regression), accuracy (classification) and Kendall's τ-b
//! (rank agreement, used by the reference's out-of-distribution evaluation).
//!
//! All three take plain slices and return `f64`; they follow the reference's formulas
//! (reference.md §7.1, §7.3) including their behaviour on degenerate inputs, documented per
//! function.

/// Coefficient of determination `1 − SSE/SST` with both sums taken as means (population form),
/// exactly as the reference's `compute_r2` (reference.md §7.1):
/// `1 − mean((t − y)²) / mean((t − mean(t))²)`.
///
/// A perfect predictor scores 1, predicting the targets' mean scores 0, anything worse is
/// negative. Degenerate inputs follow IEEE arithmetic as the reference does: constant targets
/// give `-inf` (or NaN for a perfect prediction of them); empty inputs give NaN.
///
/// # Panics
/// When `pred` and `target` differ in length.
pub fn r2(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(
        pred.len(),
        target.len(),
        "r2: predictions and targets differ in length"
    );
    let n = target.len() as f64;
    let mean = target.iter().sum::<f64>() / n;
    let sse = pred
        .iter()
        .zip(target)
        .map(|(y, t)| (t - y) * (t - y))
        .sum::<f64>()
        / n;
    let sst = target.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>() / n;
    1.0 - sse / sst
}

/// Fraction of positions where `pred` equals `target` (NaN when both are empty).
///
/// # Panics
/// When `pred` and `target` differ in length.
pub fn accuracy<T: PartialEq>(pred: &[T], target: &[T]) -> f64 {
    assert_eq!(
        pred.len(),
        target.len(),
        "accuracy: predictions and targets differ in length"
    );
    let correct = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    correct as f64 / target.len() as f64
}

/// Kendall's τ-b between `x` and `y`, as `scipy.stats.kendalltau` (its default `variant='b'`,
/// which the reference calls in `eval_ood_dstask`, reference.md §7.3):
///
/// `τ_b = (C − D) / sqrt((n₀ − n₁)(n₀ − n₂))`, with `n₀ = n(n−1)/2` pairs, `C`/`D` the
/// concordant/discordant pairs, `n₁`/`n₂` the pairs tied in `x`/`y` (pairs tied in both count in
/// both). Computed as scipy does, `(C − D) / sqrt(n₀ − n₁) / sqrt(n₀ − n₂)` clipped to `[−1, 1]`.
///
/// Like scipy: NaN when fewer than 2 values, when either input is constant, or when any value is
/// NaN (scipy's default `nan_policy='propagate'`). Only τ is returned (no p-value). The pair
/// count is O(n²): fine for the few thousand models of a zoo's test split.
///
/// # Panics
/// When `x` and `y` differ in length.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "kendall_tau: inputs differ in length");
    let n = x.len();
    if n < 2 || x.iter().chain(y).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    // (C − D), pairs tied in x, pairs tied in y: exact integers.
    let (mut c_minus_d, mut xtie, mut ytie) = (0i64, 0u64, 0u64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].partial_cmp(&x[j]).map_or(0, |o| o as i64);
            let dy = y[i].partial_cmp(&y[j]).map_or(0, |o| o as i64);
            if dx == 0 {
                xtie += 1;
            }
            if dy == 0 {
                ytie += 1;
            }
            c_minus_d += dx * dy;
        }
    }
    let tot = (n as u64) * (n as u64 - 1) / 2;
    if xtie == tot || ytie == tot {
        return f64::NAN;
    }
    let tau = c_minus_d as f64 / ((tot - xtie) as f64).sqrt() / ((tot - ytie) as f64).sqrt();
    tau.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_of_perfect_and_mean_predictors() {
        let t = [1.0, 2.0, 4.0, 7.0, 11.0];
        assert_eq!(r2(&t, &t), 1.0);
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        assert!(r2(&[mean; 5], &t).abs() < 1e-15);
        // Worse than the mean is negative: predicting the reversed targets.
        let rev: Vec<f64> = t.iter().rev().copied().collect();
        assert!(r2(&rev, &t) < 0.0);
    }

    #[test]
    fn r2_by_hand() {
        // t = [0, 2], y = [1, 1]: SSE/n = 1, SST/n = 1 → 0; y = [0, 1]: SSE/n = 0.5 → 0.5.
        assert!((r2(&[1.0, 1.0], &[0.0, 2.0]) - 0.0).abs() < 1e-15);
        assert!((r2(&[0.0, 1.0], &[0.0, 2.0]) - 0.5).abs() < 1e-15);
        // Constant targets: SST = 0.
        assert_eq!(r2(&[1.0, 2.0], &[1.0, 1.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]), 0.75);
        assert_eq!(accuracy(&["a", "b"], &["b", "a"]), 0.0);
    }

    #[test]
    fn kendall_tau_without_ties() {
        // scipy divides by the two square roots in turn, so a perfect ranking of 5 gives
        // 10 / √10 / √10 = 0.9999999999999999, as scipy prints.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((kendall_tau(&x, &x) - 1.0).abs() < 1e-15);
        let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert!((kendall_tau(&x, &rev) + 1.0).abs() < 1e-15);
        // One swapped adjacent pair: C = 9, D = 1 of 10 pairs → 0.8.
        assert!((kendall_tau(&x, &[1.0, 3.0, 2.0, 4.0, 5.0]) - 0.8).abs() < 1e-15);
    }

    #[test]
    fn kendall_tau_b_with_ties() {
        // scipy.stats.kendalltau([1, 2, 2, 3], [1, 2, 3, 3]): pairs (6): tied in x: (1,2);
        // tied in y: (2,3); the other 4 are concordant → 4 / sqrt(5 · 5) = 0.8.
        let t = kendall_tau(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 3.0]);
        assert!((t - 0.8).abs() < 1e-15, "{t}");
        // scipy.stats.kendalltau([1, 1, 2], [1, 2, 2]): tie in x (0,1), tie in y (1,2), (0,2)
        // concordant → 1 / sqrt(2 · 2) = 0.5.
        let t = kendall_tau(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]);
        assert!((t - 0.5).abs() < 1e-15, "{t}");
        // A pair tied in both counts in both n₁ and n₂: x = [1, 1, 2], y = [3, 3, 1]:
        // C − D = −2, n₁ = n₂ = 1 → −2 / 2 = −1.
        let t = kendall_tau(&[1.0, 1.0, 2.0], &[3.0, 3.0, 1.0]);
        assert!((t + 1.0).abs() < 1e-15, "{t}");
    }

    #[test]
    fn kendall_tau_degenerate_is_nan() {
        assert!(kendall_tau(&[1.0], &[2.0]).is_nan());
        assert!(kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(kendall_tau(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]).is_nan());
    }
}
