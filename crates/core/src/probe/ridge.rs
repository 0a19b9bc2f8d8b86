//! The regression probe: closed-form ridge regression in `f64` with a bias column, the α picked
//! from a fixed grid by validation R², as the reference's downstream module
//! (`def_downstream_module.py` `compute_closed_form_solution` / `solve_linear_system` of
//! [R21], [R22] and [RS]; reference.md §7.1).
//!
//! What the reference does, and this module with it:
//!
//! - **No feature standardization.** The embeddings (or baseline features) enter as they are.
//! - **A column of ones is appended** and **regularized like every other column**: the system
//!   solved is `(XᵀX + αI)·b = Xᵀy` with `X = [features, 1]` and `I` of size `F + 1`, so the bias
//!   shrinks too (not scikit-learn's `Ridge`, which centres and leaves the intercept free).
//! - **α grid of 17 values**, [`ALPHA_GRID`]: 1e3, 3e2, 1e2, … , 3e-5, 1e-5 (descending).
//! - **Selection**: the α with the highest validation R² ([`super::metrics::r2`]); without a
//!   validation split, the highest train R². Ties go to the first in grid order (Python's
//!   `list.index(max(...))`), i.e. the larger α. NaN scores never win.
//! - **NaN targets are dropped** per property before fitting and scoring
//!   ([`drop_nan_targets`], used by [`evaluate_regression`]).
//!
//! Where the numbers can differ from the reference: it solves with `torch.linalg.solve` (LU with
//! partial pivoting) on the `(F+1)²` normal matrix; so does [`RidgeProbe::fit`] when
//! `F + 1 ≤ N`. With more features than rows (the raw-weights baseline on a small zoo) it solves
//! the dual system `b = Xᵀ(XXᵀ + αI)⁻¹y` of size `N²` instead: the same `b` (the push-through
//! identity `(XᵀX + αI)⁻¹Xᵀ = Xᵀ(XXᵀ + αI)⁻¹`), far cheaper. The reference casts targets through
//! float32 (`torch.Tensor(prop)`) and most embeddings are float32; here everything is `f64` as
//! given. `tests/probe_reference.rs` checks α, R² and coefficients against the reference's
//! procedure run by PyTorch (`scripts/reference/probe_ridge.py`).
//!
//! Data enter as row-major `[N, F]` slices with the targets' length giving `N`.
use super::metrics::{kendall_tau, r2};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// The reference's α grid (reference.md §7.1), in its order.
pub const ALPHA_GRID: [f64; 17] = [
    1e3, 3e2, 1e2, 3e1, 1e1, 3e0, 1e0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5,
];

/// A fitted linear probe `y = x·weights + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeProbe {
    /// The regularization strength it was fitted with.
    pub alpha: f64,
    /// One coefficient per feature.
    pub weights: Vec<f64>,
    /// The coefficient of the ones column (regularized like the others).
    pub bias: f64,
}

/// Train (and validation) R² of one α of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlphaScore {
    /// The α.
    pub alpha: f64,
    /// R² on the training rows.
    pub r2_train: f64,
    /// R² on the validation rows, when a validation split was given.
    pub r2_val: Option<f64>,
}

/// The outcome of a grid search: the chosen probe and every α's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeSelection {
    /// The probe at the selected α.
    pub probe: RidgeProbe,
    /// Index of the selected α in the grid.
    pub best: usize,
    /// Scores for each α, in grid order.
    pub scores: Vec<AlphaScore>,
}

/// The reference's regression report for one property: scores at the selected α.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionReport {
    /// The selected probe.
    pub probe: RidgeProbe,
    /// R² on train.
    pub r2_train: f64,
    /// R² on validation (when given).
    pub r2_val: Option<f64>,
    /// R² on test.
    pub r2_test: f64,
    /// Kendall's τ-b between test targets and predictions (reference §7.3, OOD evaluation).
    pub kendall_tau_test: f64,
}

fn shape_error(what: &str, value: String, expected: String) -> Error {
    Error::InvalidValue {
        what: format!("ridge probe {what}"),
        value,
        expected,
    }
}

/// Number of features of a row-major `x` with `n` rows.
fn features_of(x: &[f64], n: usize, what: &str) -> Result<usize> {
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(shape_error(
            what,
            format!("{} values for {n} targets", x.len()),
            "a non-empty row-major [N, F] matrix with one row per target".into(),
        ));
    }
    Ok(x.len() / n)
}

/// Removes the rows whose target is NaN (the reference drops them per property).
pub fn drop_nan_targets(x: &[f64], y: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    let f = features_of(x, y.len(), "rows")?;
    let keep: Vec<usize> = (0..y.len()).filter(|&i| !y[i].is_nan()).collect();
    let xs = keep
        .iter()
        .flat_map(|&i| x[i * f..(i + 1) * f].iter().copied())
        .collect();
    let ys = keep.iter().map(|&i| y[i]).collect();
    Ok((xs, ys))
}

/// The normal equations of one training set, factored once for the whole α grid.
enum System {
    /// `(XᵀX + αI) b = Xᵀy`, size `F + 1`.
    Primal {
        gram: DMatrix<f64>,
        xty: DVector<f64>,
    },
    /// `b = Xᵀ (XXᵀ + αI)⁻¹ y`, size `N` (more columns than rows).
    Dual {
        x: DMatrix<f64>,
        kernel: DMatrix<f64>,
        y: DVector<f64>,
    },
}

impl System {
    fn new(x: &[f64], y: &[f64]) -> Result<System> {
        let n = y.len();
        let f = features_of(x, n, "training set")?;
        // The design matrix with the ones column appended.
        let design = DMatrix::from_fn(n, f + 1, |i, j| if j < f { x[i * f + j] } else { 1.0 });
        let y = DVector::from_column_slice(y);
        Ok(if f < n {
            System::Primal {
                gram: design.tr_mul(&design),
                xty: design.tr_mul(&y),
            }
        } else {
            System::Dual {
                kernel: &design * design.transpose(),
                x: design,
                y,
            }
        })
    }

    fn solve(&self, alpha: f64) -> Result<RidgeProbe> {
        let regularized = |m: &DMatrix<f64>| {
            let mut m = m.clone();
            for i in 0..m.nrows() {
                m[(i, i)] += alpha;
            }
            m
        };
        let singular = || {
            shape_error(
                "alpha",
                alpha.to_string(),
                "a regularization that makes the system solvable (alpha > 0)".into(),
            )
        };
        let b = match self {
            System::Primal { gram, xty } => {
                regularized(gram).lu().solve(xty).ok_or_else(singular)?
            }
            System::Dual { x, kernel, y } => {
                let a = regularized(kernel).lu().solve(y).ok_or_else(singular)?;
                x.tr_mul(&a)
            }
        };
        let f = b.len() - 1;
        Ok(RidgeProbe {
            alpha,
            weights: b.as_slice()[..f].to_vec(),
            bias: b[f],
        })
    }
}

impl RidgeProbe {
    /// Fits `(XᵀX + αI)·b = Xᵀy` on the row-major `x` (`[N, F]`, `N = y.len()`) with the ones
    /// column appended (and regularized).
    pub fn fit(x: &[f64], y: &[f64], alpha: f64) -> Result<RidgeProbe> {
        System::new(x, y)?.solve(alpha)
    }

    /// Fits every α of [`ALPHA_GRID`] on train and returns the one with the best validation R²
    /// (the reference's procedure, reference.md §7.1).
    pub fn fit_select(
        x_train: &[f64],
        y_train: &[f64],
        x_val: &[f64],
        y_val: &[f64],
    ) -> Result<RidgeProbe> {
        Ok(Self::select(x_train, y_train, Some((x_val, y_val)), &ALPHA_GRID)?.probe)
    }

    /// Fits every α of `grid` and selects by validation R² (or train R² without `val`); ties
    /// go to the earliest α in `grid`, NaN scores never win.
    pub fn select(
        x_train: &[f64],
        y_train: &[f64],
        val: Option<(&[f64], &[f64])>,
        grid: &[f64],
    ) -> Result<RidgeSelection> {
        if grid.is_empty() {
            return Err(shape_error(
                "alpha grid",
                "[]".into(),
                "at least one alpha".into(),
            ));
        }
        let system = System::new(x_train, y_train)?;
        let mut best: Option<(usize, f64, RidgeProbe)> = None;
        let mut scores = Vec::with_capacity(grid.len());
        for (k, &alpha) in grid.iter().enumerate() {
            let probe = system.solve(alpha)?;
            let r2_train = probe.r2(x_train, y_train)?;
            let r2_val = val.map(|(x, y)| probe.r2(x, y)).transpose()?;
            let key = r2_val.unwrap_or(r2_train);
            // Strictly greater: the first maximum wins; NaN never compares greater.
            let better = match &best {
                None => true,
                Some((_, b, _)) => key > *b || (b.is_nan() && !key.is_nan()),
            };
            if better {
                best = Some((k, key, probe));
            }
            scores.push(AlphaScore {
                alpha,
                r2_train,
                r2_val,
            });
        }
        let (best, _, probe) = best.expect("grid is not empty");
        Ok(RidgeSelection {
            probe,
            best,
            scores,
        })
    }

    /// Number of features the probe expects.
    pub fn features(&self) -> usize {
        self.weights.len()
    }

    /// Predictions for the row-major `x` (`[N, F]`).
    pub fn predict(&self, x: &[f64]) -> Result<Vec<f64>> {
        let f = self.weights.len();
        if !x.len().is_multiple_of(f) {
            return Err(shape_error(
                "input",
                format!("{} values", x.len()),
                format!("a row-major [N, {f}] matrix"),
            ));
        }
        if f == 0 {
            return Ok(Vec::new());
        }
        Ok(x.chunks_exact(f)
            .map(|row| {
                row.iter()
                    .zip(&self.weights)
                    .map(|(a, w)| a * w)
                    .sum::<f64>()
                    + self.bias
            })
            .collect())
    }

    /// R² of the predictions for `x` against `y` (`x` has `y.len()` rows).
    pub fn r2(&self, x: &[f64], y: &[f64]) -> Result<f64> {
        let f = features_of(x, y.len(), "scored set")?;
        if f != self.features() {
            return Err(shape_error(
                "scored set",
                format!("{f} features"),
                format!("{} features, as in training", self.features()),
            ));
        }
        Ok(r2(&self.predict(x)?, y))
    }
}

/// The reference's regression evaluation of one property (reference.md §7.1, §7.3): drops NaN
/// targets in every split, selects α on validation (or train) over [`ALPHA_GRID`], and reports
/// train/val/test R² at that α plus Kendall's τ-b of the test predictions. Each split is a
/// row-major `[N, F]` matrix and its `N` targets.
pub fn evaluate_regression(
    train: (&[f64], &[f64]),
    val: Option<(&[f64], &[f64])>,
    test: (&[f64], &[f64]),
) -> Result<RegressionReport> {
    let (xt, yt) = drop_nan_targets(train.0, train.1)?;
    let val = val.map(|(x, y)| drop_nan_targets(x, y)).transpose()?;
    let (xs, ys) = drop_nan_targets(test.0, test.1)?;
    let sel = RidgeProbe::select(
        &xt,
        &yt,
        val.as_ref().map(|(x, y)| (x.as_slice(), y.as_slice())),
        &ALPHA_GRID,
    )?;
    let score = sel.scores[sel.best];
    let pred = sel.probe.predict(&xs)?;
    if pred.len() != ys.len() {
        return Err(shape_error(
            "test set",
            format!("{} values for {} targets", xs.len(), ys.len()),
            format!("a row-major [N, {}] matrix", sel.probe.features()),
        ));
    }
    Ok(RegressionReport {
        r2_train: score.r2_train,
        r2_val: score.r2_val,
        r2_test: r2(&pred, &ys),
        kendall_tau_test: kendall_tau(&ys, &pred),
        probe: sel.probe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows `x[i, j] = sin((0.7 + 0.31 j) i + 1.3 j)` (a frequency per column, so the columns are
    /// independent), targets `x·w + b` (+ `noise`·cos term).
    fn data(n: usize, w: &[f64], b: f64, noise: f64, offset: usize) -> (Vec<f64>, Vec<f64>) {
        let f = w.len();
        let mut x = Vec::with_capacity(n * f);
        let mut y = Vec::with_capacity(n);
        for i in offset..offset + n {
            let row: Vec<f64> = (0..f)
                .map(|j| ((0.7 + 0.31 * j as f64) * i as f64 + 1.3 * j as f64).sin())
                .collect();
            y.push(
                row.iter().zip(w).map(|(a, c)| a * c).sum::<f64>()
                    + b
                    + noise * (2.9 * i as f64 + 0.4).cos(),
            );
            x.extend(row);
        }
        (x, y)
    }

    #[test]
    fn recovers_known_coefficients_without_noise() {
        let w = [1.5, -2.0, 0.25, 3.0];
        let (x, y) = data(50, &w, 0.7, 0.0, 0);
        let p = RidgeProbe::fit(&x, &y, 1e-10).unwrap();
        for (a, b) in p.weights.iter().zip(&w) {
            assert!((a - b).abs() < 1e-7, "{:?} vs {w:?}", p.weights);
        }
        assert!((p.bias - 0.7).abs() < 1e-7);
        assert!((p.r2(&x, &y).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn dual_and_primal_agree() {
        // 6 rows, 9 features: the dual path; compare with the primal normal equations.
        let w = [0.5; 9];
        let (x, y) = data(6, &w, 0.1, 0.3, 3);
        let dual = RidgeProbe::fit(&x, &y, 0.3).unwrap();
        let design = DMatrix::from_fn(6, 10, |i, j| if j < 9 { x[i * 9 + j] } else { 1.0 });
        let mut g = design.tr_mul(&design);
        for i in 0..10 {
            g[(i, i)] += 0.3;
        }
        let b = g
            .lu()
            .solve(&design.tr_mul(&DVector::from_column_slice(&y)))
            .unwrap();
        for j in 0..9 {
            assert!((dual.weights[j] - b[j]).abs() < 1e-10);
        }
        assert!((dual.bias - b[9]).abs() < 1e-10);
    }

    #[test]
    fn bias_is_regularized() {
        // Constant target 10 with a zero feature: the only fit is through the bias column,
        // b = n·10 / (n + α) — shrunk as in the reference, not 10 as with a free intercept.
        let n = 20;
        let x = vec![0.0; n];
        let y = vec![10.0; n];
        let p = RidgeProbe::fit(&x, &y, 5.0).unwrap();
        assert!((p.bias - 200.0 / 25.0).abs() < 1e-12, "{}", p.bias);
    }

    #[test]
    fn selection_picks_the_validation_best() {
        let w = [1.0, -1.0, 0.5, 2.0, 0.0, -0.5];
        // Few noisy rows: the validation optimum lies inside the grid (α = 3 here).
        let (xt, yt) = data(15, &w, 0.2, 1.5, 0);
        let (xv, yv) = data(15, &w, 0.2, 1.5, 15);
        let sel = RidgeProbe::select(&xt, &yt, Some((&xv, &yv)), &ALPHA_GRID).unwrap();
        assert_eq!(sel.scores.len(), 17);
        assert!(sel.best > 0 && sel.best < 16, "best {}", sel.best);
        let vals: Vec<f64> = sel.scores.iter().map(|s| s.r2_val.unwrap()).collect();
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(vals[sel.best], max);
        assert_eq!(vals.iter().position(|&v| v == max), Some(sel.best));
        assert_eq!(sel.probe.alpha, ALPHA_GRID[sel.best]);
        // Refitting at that α gives the same probe; fit_select agrees.
        assert_eq!(
            RidgeProbe::fit(&xt, &yt, sel.probe.alpha).unwrap(),
            sel.probe
        );
        assert_eq!(
            RidgeProbe::fit_select(&xt, &yt, &xv, &yv).unwrap(),
            sel.probe
        );
        // Without validation the train R² decides: the smallest α fits train best.
        let sel = RidgeProbe::select(&xt, &yt, None, &ALPHA_GRID).unwrap();
        assert_eq!(sel.best, 16);
    }

    #[test]
    fn selection_ties_go_to_the_first_alpha() {
        // A grid repeating one α scores identically at every entry: the first one wins.
        let (x, y) = data(10, &[1.0, 2.0], 0.0, 0.1, 0);
        let sel = RidgeProbe::select(&x, &y, Some((&x, &y)), &[0.1, 0.1, 0.1]).unwrap();
        assert_eq!(sel.best, 0);
    }

    #[test]
    fn nan_targets_are_dropped() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (xs, ys) = drop_nan_targets(&x, &[1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!(xs, vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(ys, vec![1.0, 3.0]);
    }

    #[test]
    fn evaluate_reports_selected_scores() {
        let w = [1.0, -1.0, 0.5];
        let (xt, mut yt) = data(30, &w, 0.2, 0.1, 0);
        yt[3] = f64::NAN;
        let (xv, yv) = data(10, &w, 0.2, 0.1, 30);
        let (xs, ys) = data(10, &w, 0.2, 0.1, 40);
        let rep = evaluate_regression((&xt, &yt), Some((&xv, &yv)), (&xs, &ys)).unwrap();
        assert!(rep.r2_test > 0.9 && rep.r2_val.unwrap() > 0.9 && rep.r2_train > 0.9);
        assert!(rep.kendall_tau_test > 0.7);
        assert!(ALPHA_GRID.contains(&rep.probe.alpha));
    }

    #[test]
    fn shape_errors_are_reported() {
        assert!(RidgeProbe::fit(&[1.0, 2.0, 3.0], &[1.0, 2.0], 1.0).is_err());
        let p = RidgeProbe::fit(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0], 1.0).unwrap();
        assert!(p.predict(&[1.0, 2.0, 3.0]).is_err());
        assert!(p.r2(&[1.0, 2.0, 3.0], &[1.0]).is_err());
    }
}
