//! Downstream probes: how well an embedding of a network's weights (a hyper-representation, or a
//! baseline computed from the weights) predicts the network's properties (reference.md §7).
//! Pure Rust in `f64`, no tensors: embeddings and features arrive as row-major `[N, F]` slices
//! with one row per network, targets as `f64` (regression) or strings (classification), and
//! scores leave as plain numbers.
//!
//! - [`ridge`]: the regression probe, closed-form ridge with a (regularized) bias column, α
//!   chosen from the reference's 17-value grid by validation R² (§7.1); [`evaluate_regression`]
//!   runs the whole per-property procedure (NaN targets dropped, R² on each split, Kendall's τ).
//! - [`classify`]: the classification probe for categorical properties (activation, init,
//!   optimizer), a linear softmax layer trained with Adam as the reference (§7.2).
//! - [`metrics`]: R², accuracy, Kendall's τ-b (as `scipy.stats.kendalltau`).
//! - [`features`]: the baselines from flat weights (§7.4): W, s(W), Unterthiner's 56 statistics,
//!   per-layer spectral metrics (WeightWatcher's definitions).
//!
//! Task choice follows the reference (§7.1): numeric properties are regressed, string properties
//! classified. `tests/probe_reference.rs` checks ridge, Kendall's τ and the weight statistics
//! against numpy/PyTorch (`scripts/reference/probe_ridge.py`).

pub mod classify;
pub mod features;
pub mod metrics;
pub mod ridge;

pub use classify::{
    ClassificationReport, ClassifierConfig, LinearClassifier, evaluate_classification,
};
pub use features::{FeatureMatrix, SpectralStats};
pub use metrics::{accuracy, kendall_tau, r2};
pub use ridge::{
    ALPHA_GRID, AlphaScore, RegressionReport, RidgeProbe, RidgeSelection, drop_nan_targets,
    evaluate_regression,
};
