//! The losses of hyper-representation training, and the weighting that combines them
//! (reference.md §4).
//!
//! - Reconstruction ("structure"): [`mse`] (2021: mean over everything), [`masked_mse`] (SANE:
//!   padding masked in the output, averaged over all entries), [`layerwise_mse`] (2022: output
//!   and target divided by the per-layer standard deviation of the training zoo).
//! - Contrast: [`nt_xent`] (SimCLR, as the 2021 / SANE / 2025 code), [`positive_contrast`] (the
//!   2021 `NT_Xent_pos`, quirk and all) and [`positive_alignment`] (what that variant evidently
//!   meant).
//! - Behaviour (2025): [`behaviour_loss`] runs decoded and original networks on the same query
//!   images through the population forward ([`PopulationNet`]) and compares their predictions
//!   ([`BehaviourKind`]); [`random_queries`] and [`union`] make query sets.
//! - [`combine`]: `L = γ·C + (1−γ)·[β·S/s_S + (1−β)·B/s_B]`, with the frozen first-batch scales
//!   of [`FirstBatchScales`] (serializable, so a resumed run keeps them).
//!
//! Data in: burn tensors, autodiff ones during training (`.autodiff()`, `.require_grad()` on the
//! leaves); flat weights are `[N, P]` rows in the zoo's PyTorch layout (mapping tokens back to
//! weights is the caller's business). Data out: one-element tensors to call `backward` on, and
//! from [`combine`] the f64 value of every term for logging. Every function here is checked
//! against PyTorch, values and gradients, by `crates/engine/tests/hyper_losses.rs` (reference
//! outputs `tests/reference/hyper_losses.json`, written by `scripts/reference/hyper_losses.py`).
//!
//! # Quirks of the references, and what this module does about them
//!
//! - **Positive-only contrast drives positives to be orthogonal** (reference.md §4.1, §13.4).
//!   [R21]'s `NT_Xent_pos` takes MSE between the positive-pair similarities (divided by τ) and
//!   **0**, then divides the mean by 2N once more. [`positive_contrast`] reproduces exactly
//!   that (it is what the CIFAR-HYP config trained with); [`positive_alignment`] is the evident
//!   intention, the same expression with target 1/τ (cosine similarity 1).
//! - **Masked MSE averages over padding** (§4.3, §13.9): [`masked_mse`] zeroes the output where
//!   the mask is 0 but divides by every entry, padding included, as SANE does.
//! - **The 2025 code divides the contrast term by its first-batch value too** ([R25]
//!   `def_loss.py`: `NT_Xent` and `NT_Xent_pos` keep a `scale` exactly like the structure and
//!   behaviour losses). reference.md §4.4 writes the total without it; [`TermScaling`] offers
//!   both (`FirstBatch` = the formula of §4.4, `FirstBatchAll` = the [R25] code).
//! - **Behaviour: non-finite values are tidied, non-finite networks are dropped.** [R25]
//!   applies `nan_to_num` to the softmax outputs (NaN → 0, +inf → 1, −inf → 0 for `l2`; NaN/−inf
//!   → 1e-9 or ln 1e-9 for distillation), then drops the networks whose loss is still not finite
//!   before averaging over networks. Both are reproduced ([`behaviour_per_model`],
//!   [`mean_finite`]); if every network is dropped the mean is NaN and [`combine`] reports it.
//! - **Distillation target log-probabilities**: [R25] computes `softmax(y/T).log()`, which is
//!   `0·(−inf) = NaN` as soon as a target probability underflows to 0 in f32 (a confident
//!   original, logit gaps above ~170 at T = 2), silently dropping that network. Here the target
//!   log-probabilities come from `log_softmax`, so those networks count (0·log 0 = 0, as
//!   `F.kl_div` does). Where nothing underflows the two agree (that is what the PyTorch test
//!   checks). This is the one place the module departs from its reference on purpose.
//! - The behavioural networks are evaluated without dropout (`forward(.., None)`); [R25] leaves
//!   its functional model in training mode (§13.10), which only matters for zoos with dropout.
//!   The `cross_entropy` variant of [R25] (logits passed as soft targets, §13.10) is not offered.
use crate::zoo::{Input, PopulationNet};
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{FloatDType, TensorData};
use rand::Rng;

/// `eps` of `torch.nn.CosineSimilarity`: norms are clamped at it.
pub const COSINE_EPS: f64 = 1e-8;

/// Below this distance from 0 or 1, γ and β switch a term off entirely, as in [R21]/[R25].
pub const WEIGHT_EPS: f64 = 1e-10;

fn assert_same_dims(a: &[usize], b: &[usize], what: &str) {
    assert_eq!(a, b, "{what}: output and target shapes differ");
}

// ---------------------------------------------------------------------------------------------
// Reconstruction
// ---------------------------------------------------------------------------------------------

/// Plain mean squared error over every entry (the 2021 reconstruction loss, `nn.MSELoss()`).
///
/// # Panics
/// When the shapes differ.
pub fn mse<const D: usize>(output: Tensor<D>, target: Tensor<D>) -> Tensor<1> {
    assert_same_dims(&output.dims(), &target.dims(), "mse");
    (output - target).square().mean()
}

/// SANE's masked MSE (reference.md §4.3): `mean((output·mask − target)²)` over **all**
/// entries. The mask (1 on real values, 0 on padding) removes the output's padding from the
/// numerator; the denominator still counts the padding (quirk §13.9). The target is expected
/// to be 0 on padding, as SANE's tokens are.
///
/// # Panics
/// When the three shapes differ.
pub fn masked_mse<const D: usize>(
    output: Tensor<D>,
    target: Tensor<D>,
    mask: Tensor<D>,
) -> Tensor<1> {
    assert_same_dims(&output.dims(), &target.dims(), "masked_mse");
    assert_same_dims(&output.dims(), &mask.dims(), "masked_mse (mask)");
    (output * mask - target).square().mean()
}

/// How [`layerwise_mse`] turns the per-layer sums of squared errors into one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerReduction {
    /// Every layer's sum divided by `B·P` (the whole vector): each weight counts the same.
    /// [R22]'s default `global_mean`.
    GlobalMean,
    /// Each layer's sum divided by `B·len_l`: each layer counts the same. [R22]'s
    /// `layer_mean`; the `(offset, len)` of every layer (weight and bias together, e.g. from
    /// `LayerLossScales::layers`). Columns outside every layer do not count.
    LayerMean(Vec<(usize, usize)>),
}

/// The 2022 layer-wise normalized reconstruction loss ([R22] `LayerWiseReconLoss`, reference.md
/// §4.2): output and target (`[B, P]`) are both divided by `per_param_std` (length P, σ of each
/// parameter's layer, from `hyperzoo_core::tokens::LayerLossScales::per_param_std`), squared
/// errors are summed per layer and reduced by `reduction`. Per-layer loss weights and error
/// clipping of [R22] are not offered (their defaults, 1 and off, are what this computes).
///
/// # Panics
/// When the shapes differ, `per_param_std` is not of length P, or a layer lies outside P.
pub fn layerwise_mse(
    output: Tensor<2>,
    target: Tensor<2>,
    per_param_std: Tensor<1>,
    reduction: &LayerReduction,
) -> Tensor<1> {
    assert_same_dims(&output.dims(), &target.dims(), "layerwise_mse");
    let [b, p] = output.dims();
    assert_eq!(
        per_param_std.dims(),
        [p],
        "layerwise_mse: per-parameter std must have one value per column"
    );
    let std = per_param_std.reshape([1, p]);
    // As [R22]: both sides divided first, then the squared error.
    let err = (output / std.clone() - target / std).square();
    match reduction {
        LayerReduction::GlobalMean => err.sum().div_scalar((b * p) as f64),
        LayerReduction::LayerMean(layers) => {
            let mut weight = vec![0f32; p];
            for &(offset, len) in layers {
                assert!(
                    offset + len <= p && len > 0,
                    "layerwise_mse: layer ({offset}, {len}) outside {p} parameters"
                );
                weight[offset..offset + len].fill((1.0 / (b * len) as f64) as f32);
            }
            let device = err.device();
            let weight = Tensor::<2>::from_data(TensorData::new(weight, [1, p]), &device);
            (err * weight).sum()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Contrast
// ---------------------------------------------------------------------------------------------

/// The rows of `z` divided by their L2 norm clamped at [`COSINE_EPS`], as
/// `torch.nn.CosineSimilarity` does (the clamp on the squared norm keeps the gradient of an
/// all-zero row finite, where torch's in-place clamp would give the same value).
fn unit_rows(z: Tensor<2>) -> Tensor<2> {
    let norm = z
        .clone()
        .square()
        .sum_dim(1)
        .clamp_min(COSINE_EPS * COSINE_EPS)
        .sqrt();
    z / norm
}

/// Unit rows of both views and the positive-pair cosine similarities `[N, 1]`.
fn positive_cosines(z_i: Tensor<2>, z_j: Tensor<2>, what: &str) -> (Tensor<2>, Tensor<2>) {
    assert_eq!(
        z_i.dims(),
        z_j.dims(),
        "{what}: the two views differ in shape"
    );
    let (a, b) = (unit_rows(z_i), unit_rows(z_j));
    let pos = (a.clone() * b.clone()).sum_dim(1);
    (Tensor::cat(vec![a, b], 0), pos)
}

/// NT-Xent, the SimCLR contrastive loss as [R21]/[RS]/[R25] compute it (reference.md §4.1):
/// the 2N rows of `[z_i; z_j]` (`[N, d]` each, projection-head outputs), their cosine
/// similarities divided by `temperature`; row k's logits are its positive (k ↔ k ± N) and the
/// 2N − 2 others, the diagonal (self-similarity) excluded; cross-entropy with the positive as
/// the class, summed over the 2N rows and divided by 2N.
///
/// # Panics
/// When the views differ in shape.
pub fn nt_xent(z_i: Tensor<2>, z_j: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z_i.dims();
    let (z, pos) = positive_cosines(z_i, z_j, "nt_xent");
    let device = z.device();
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let diagonal = Tensor::<2>::eye(2 * n, &device).bool();
    // log Σ_{j≠k} exp(logit_kj): the diagonal set to −inf (exp → 0, no gradient), shifted by
    // the row maximum of the rest for stability.
    let masked = logits.mask_fill(diagonal, f64::NEG_INFINITY);
    let shift = masked.clone().max_dim(1).detach();
    let lse = (masked - shift.clone()).exp().sum_dim(1).log() + shift;
    // Every positive appears twice (row k and row k + N).
    let pos = pos.div_scalar(temperature);
    (lse.sum() - pos.sum().mul_scalar(2.0)).div_scalar((2 * n) as f64)
}

/// [R21]'s `NT_Xent_pos` ("positive" contrast, used by the CIFAR-HYP config), reproduced with
/// its quirk (reference.md §4.1, §13.4): the 2N positive similarities (each pair twice)
/// divided by `temperature`, MSE against **0** (mean over the 2N), then divided by 2N again:
/// `Σ_{2N} (cos/τ)² / (2N)²`. Minimizing it makes positive pairs **orthogonal**, not aligned.
/// Kept for reproducing those runs; [`positive_alignment`] is the intended loss.
///
/// # Panics
/// When the views differ in shape.
pub fn positive_contrast(z_i: Tensor<2>, z_j: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z_i.dims();
    let (_, pos) = positive_cosines(z_i, z_j, "positive_contrast");
    let two_n = (2 * n) as f64;
    pos.div_scalar(temperature)
        .square()
        .sum()
        .mul_scalar(2.0 / (two_n * two_n))
}

/// The positive-only contrast the 2021 variant evidently meant: the same expression as
/// [`positive_contrast`] (same τ scaling and the same double division by 2N, so the magnitudes
/// and a tuned γ carry over), with target 1/τ, i.e. cosine similarity 1:
/// `Σ_{2N} (cos/τ − 1/τ)² / (2N)²`. Zero when every positive pair is aligned.
///
/// # Panics
/// When the views differ in shape.
pub fn positive_alignment(z_i: Tensor<2>, z_j: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z_i.dims();
    let (_, pos) = positive_cosines(z_i, z_j, "positive_alignment");
    let two_n = (2 * n) as f64;
    (pos.div_scalar(temperature) - 1.0 / temperature)
        .square()
        .sum()
        .mul_scalar(2.0 / (two_n * two_n))
}

// ---------------------------------------------------------------------------------------------
// Behaviour
// ---------------------------------------------------------------------------------------------

/// How the predictions of a decoded network are compared with those of its original.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BehaviourKind {
    /// `MSE(softmax(y_rec), softmax(y_orig))`, mean over queries and classes ([R25] `l2`, the
    /// setting of the main 2025 results).
    SoftmaxMse,
    /// Knowledge distillation: `t²·KL(softmax(y_orig/t) ‖ softmax(y_rec/t))`, summed over
    /// classes and averaged over queries ([R25] `distillation`, `t` = 2).
    Distillation {
        /// The temperature.
        t: f64,
    },
}

/// `torch.nan_to_num`: NaN, +inf and −inf replaced (no gradient flows through replaced
/// entries).
fn nan_to_num<const D: usize>(x: Tensor<D>, nan: f64, posinf: f64, neginf: f64) -> Tensor<D> {
    let x = x.clone().mask_fill(x.is_nan(), nan);
    let inf = x.clone().is_inf();
    let pos = inf.clone().bool_and(x.clone().greater_elem(0.0));
    let neg = inf.bool_and(x.clone().lower_elem(0.0));
    x.mask_fill(pos, posinf).mask_fill(neg, neginf)
}

/// The behavioural loss of every network, `[N]`, from the logits `[N, Q, classes]` of the
/// decoded networks (`y_rec`) and of the originals (`y_orig`, treated as a constant: detach it
/// or compute it without autodiff). Non-finite softmax values are replaced as [R25] does (see
/// the [module docs](self)); a network's loss can still be non-finite, [`mean_finite`] drops it.
///
/// # Panics
/// When the shapes differ.
pub fn behaviour_per_model(y_rec: Tensor<3>, y_orig: Tensor<3>, kind: BehaviourKind) -> Tensor<1> {
    assert_same_dims(&y_rec.dims(), &y_orig.dims(), "behaviour loss (logits)");
    let [n, q, k] = y_rec.dims();
    // These tensors are tiny ([N, Q, classes]), so the comparison runs in f64: the KL of two
    // close distributions is a small difference of O(1) log-probabilities, which f32 resolves
    // to about 1e-7 only. The result comes back in the logits' dtype.
    let dtype = y_rec.dtype();
    let (y_rec, y_orig) = (y_rec.cast(FloatDType::F64), y_orig.cast(FloatDType::F64));
    let per_model = match kind {
        BehaviourKind::SoftmaxMse => {
            let target = nan_to_num(softmax(y_orig, 2), 0.0, 1.0, 0.0);
            let output = nan_to_num(softmax(y_rec, 2), 0.0, 1.0, 0.0);
            (output - target)
                .square()
                .sum_dims(&[1, 2])
                .reshape([n])
                .div_scalar((q * k) as f64)
        }
        BehaviourKind::Distillation { t } => {
            let floor = 1e-9f64;
            let target = nan_to_num(softmax(y_orig.clone().div_scalar(t), 2), floor, 1.0, floor);
            // Departure from [R25]: log_softmax instead of log(softmax) for the target, so an
            // underflowed target probability contributes 0·finite = 0 instead of NaN.
            let target_log = nan_to_num(
                log_softmax(y_orig.div_scalar(t), 2),
                floor.ln(),
                0.0,
                floor.ln(),
            );
            let output_log = nan_to_num(
                log_softmax(y_rec.div_scalar(t), 2),
                floor.ln(),
                0.0,
                floor.ln(),
            );
            (target * (target_log - output_log))
                .sum_dims(&[1, 2])
                .reshape([n])
                .mul_scalar(t * t / q as f64)
        }
    };
    per_model.cast(dtype)
}

/// Mean over the finite entries of `per_model` (`[N]`), the others dropped as [R25] does
/// before averaging over networks. NaN when none is finite. No host synchronization.
pub fn mean_finite(per_model: Tensor<1>) -> Tensor<1> {
    let finite = per_model.clone().is_finite();
    let count = finite.clone().float().sum();
    per_model.mask_fill(finite.bool_not(), 0.0).sum() / count
}

/// The 2025 behavioural loss (reference.md §4.4): the networks whose flat weights are the rows
/// of `reconstructed` and of `original` (`[N, P]`, the zoo's layout) are run by `net` on the
/// same `queries` (`[Q, C, H, W]`, see [`random_queries`] and [`union`]; data queries are the
/// caller's choice), without dropout; the original branch carries no gradient. The
/// per-network losses ([`behaviour_per_model`]) are averaged over the finite ones
/// ([`mean_finite`]). Differentiable in `reconstructed`.
///
/// Errors when the weights or queries do not fit `net`.
pub fn behaviour_loss(
    net: &PopulationNet,
    reconstructed: Tensor<2>,
    original: Tensor<2>,
    queries: Tensor<4>,
    kind: BehaviourKind,
) -> Result<Tensor<1>> {
    if reconstructed.dims() != original.dims() {
        return Err(Error::Shape {
            what: "behaviour loss: original weights".into(),
            found: format!("{:?}", original.dims()),
            expected: format!("{:?} (as the reconstruction)", reconstructed.dims()),
        });
    }
    let tracked = reconstructed.is_autodiff();
    // The target branch runs outside the autodiff graph (torch.no_grad in [R25]).
    let y_orig = net.forward(
        original.without_autodiff(),
        Input::Shared(queries.clone().without_autodiff()),
        None,
    )?;
    let (y_orig, queries) = if tracked {
        (y_orig.autodiff(), queries.autodiff())
    } else {
        (y_orig, queries)
    };
    let y_rec = net.forward(reconstructed, Input::Shared(queries), None)?;
    Ok(mean_finite(behaviour_per_model(y_rec, y_orig, kind)))
}

/// `q` query images of shape `shape` (`[C, H, W]`), uniform in [0, 1) ([R25] `random`
/// queries, `torch.rand`), drawn from `rng` so a seeded run is reproducible.
pub fn random_queries<R: Rng + ?Sized>(
    q: usize,
    shape: [usize; 3],
    rng: &mut R,
    device: &Device,
) -> Tensor<4> {
    let [c, h, w] = shape;
    let values: Vec<f32> = (0..q * c * h * w).map(|_| rng.random::<f32>()).collect();
    Tensor::from_data(TensorData::new(values, [q, c, h, w]), device)
}

/// [R25]'s `union` query set: as many random images ([`random_queries`]) as `data` holds,
/// followed by `data` (`[Q/2, C, H, W]`, images chosen by the caller), in that order as
/// [R25] stacks them. For Q queries in all pass Q/2 data images.
pub fn union<R: Rng + ?Sized>(data: Tensor<4>, rng: &mut R) -> Tensor<4> {
    let [q, c, h, w] = data.dims();
    let random = random_queries(q, [c, h, w], rng, &data.device());
    Tensor::cat(vec![random, data], 0)
}

// ---------------------------------------------------------------------------------------------
// Weighting
// ---------------------------------------------------------------------------------------------

/// Which terms [`combine`] divides by their first-batch value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TermScaling {
    /// Raw terms: `γ·C + (1−γ)·[β·S + (1−β)·B]` (2021, SANE; `normalize_terms = false`).
    Raw,
    /// Structure and behaviour divided by their first-batch values, contrast raw: the formula of
    /// reference.md §4.4, `γ·C + (1−γ)·[β·S/s_S + (1−β)·B/s_B]` (`normalize_terms = true`).
    #[default]
    FirstBatch,
    /// As `FirstBatch`, and the contrast divided by its first-batch value as well: what the
    /// [R25] code does (its `NT_Xent` keeps a `scale` too).
    FirstBatchAll,
}

impl From<bool> for TermScaling {
    /// `normalize_terms`: true → [`TermScaling::FirstBatch`], false → [`TermScaling::Raw`].
    fn from(normalize_terms: bool) -> Self {
        if normalize_terms {
            TermScaling::FirstBatch
        } else {
            TermScaling::Raw
        }
    }
}

/// The value of each term on the first batch it was computed on, frozen from then on; the
/// divisors `s_C`, `s_S`, `s_B` of [`combine`]. Save it in the checkpoint (serde) so a resumed
/// run divides by the same constants. `None` until the term is first computed with scaling on.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, burn::serde::Serialize, burn::serde::Deserialize,
)]
#[serde(crate = "burn::serde")]
pub struct FirstBatchScales {
    /// `s_C` (only with [`TermScaling::FirstBatchAll`]).
    pub contrast: Option<f64>,
    /// `s_S`.
    pub structure: Option<f64>,
    /// `s_B`.
    pub behaviour: Option<f64>,
}

impl FirstBatchScales {
    /// No scale recorded yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The loss of one step and its parts.
#[derive(Debug, Clone)]
pub struct Combined {
    /// The total, `[1]`, to call `backward` on.
    pub loss: Tensor<1>,
    /// Its value (computed in f64 from the term values and the weights).
    pub total: f64,
    /// Raw contrast value (before any first-batch scaling); `None` when γ switched it off.
    pub contrast: Option<f64>,
    /// Raw structure (reconstruction) value; `None` when γ or β switched it off.
    pub structure: Option<f64>,
    /// Raw behaviour value; `None` when γ or β switched it off.
    pub behaviour: Option<f64>,
}

/// Which terms a weighting computes: `(contrast, structure, behaviour)`. γ < 1e-10 drops the
/// contrast, |1 − γ| < 1e-10 keeps only the contrast; β ≥ 1 − 1e-10 keeps structure only,
/// β ≤ 1e-10 behaviour only (thresholds of [R21]/[R25]).
pub fn terms_needed(gamma: f64, beta: f64) -> (bool, bool, bool) {
    let contrast = gamma >= WEIGHT_EPS;
    if (1.0 - gamma).abs() < WEIGHT_EPS {
        return (true, false, false);
    }
    let structure = beta > WEIGHT_EPS;
    let behaviour = beta < 1.0 - WEIGHT_EPS;
    (contrast, structure, behaviour)
}

fn check_weight(name: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::Core(hyperzoo_core::Error::InvalidValue {
            what: format!("loss weight {name}"),
            value: v.to_string(),
            expected: "a number in [0, 1]".into(),
        }))
    }
}

/// Combines the terms of one step: `L = γ·C + (1−γ)·[β·S/s_S + (1−β)·B/s_B]` (reference.md
/// §4.4; with [`TermScaling::Raw`] the divisors are 1, with [`TermScaling::FirstBatchAll`]
/// C is divided by `s_C` too).
///
/// Each term is a closure that is called only when the weighting needs it ([`terms_needed`]):
/// γ < 1e-10 → no contrast; |1 − γ| < 1e-10 → contrast only; β = 1 → structure only; β = 0 →
/// behaviour only. Each returns a one-element tensor. The first value a scaled term takes is
/// recorded in `scales` (and never changed after), so the first batch has every scaled term at
/// 1.
///
/// The term values are read back in one transfer. Errors with [`Error::NonFinite`] naming the
/// term when a term, or its scaled value, or the total is NaN or infinite (nothing is recorded
/// in `scales` then); with an invalid value error when γ or β lies outside [0, 1]; and with
/// whatever a closure returns.
pub fn combine<C, S, B>(
    contrast: C,
    structure: S,
    behaviour: B,
    gamma: f64,
    beta: f64,
    scaling: TermScaling,
    scales: &mut FirstBatchScales,
) -> Result<Combined>
where
    C: FnOnce() -> Result<Tensor<1>>,
    S: FnOnce() -> Result<Tensor<1>>,
    B: FnOnce() -> Result<Tensor<1>>,
{
    check_weight("gamma", gamma)?;
    check_weight("beta", beta)?;
    let (need_c, need_s, need_b) = terms_needed(gamma, beta);
    let c = if need_c {
        Some(one(contrast()?, "contrast")?)
    } else {
        None
    };
    let s = if need_s {
        Some(one(structure()?, "structure")?)
    } else {
        None
    };
    let b = if need_b {
        Some(one(behaviour()?, "behaviour")?)
    } else {
        None
    };

    // One read-back for every term.
    let present: Vec<Tensor<1>> = [&c, &s, &b]
        .into_iter()
        .flatten()
        .map(|t| t.clone().detach())
        .collect();
    let mut values = Tensor::cat(present, 0)
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Shape {
            what: "loss term values".into(),
            found: format!("{e:?}"),
            expected: "readable f32 values".into(),
        })?
        .into_iter()
        .map(f64::from);
    let (vc, vs, vb) = (
        c.as_ref().and_then(|_| values.next()),
        s.as_ref().and_then(|_| values.next()),
        b.as_ref().and_then(|_| values.next()),
    );
    for (name, v) in [("contrast", vc), ("structure", vs), ("behaviour", vb)] {
        if let Some(v) = v
            && !v.is_finite()
        {
            return Err(Error::NonFinite {
                term: name.into(),
                value: v,
            });
        }
    }

    let (scale_c, scale_s) = match scaling {
        TermScaling::Raw => (false, false),
        TermScaling::FirstBatch => (false, true),
        TermScaling::FirstBatchAll => (true, true),
    };
    // The divisor of each term (recorded on first use) and the term's scaled value.
    let divisor = |on: bool, slot: Option<f64>, v: Option<f64>| -> Option<f64> {
        match (on, v) {
            (true, Some(v)) => Some(slot.unwrap_or(v)),
            _ => None,
        }
    };
    let dc = divisor(scale_c, scales.contrast, vc);
    let ds = divisor(scale_s, scales.structure, vs);
    let db = divisor(scale_s, scales.behaviour, vb);
    let scaled = |v: Option<f64>, d: Option<f64>| v.map(|v| v / d.unwrap_or(1.0));
    let (sc, ss, sb) = (scaled(vc, dc), scaled(vs, ds), scaled(vb, db));
    for (name, v, d) in [
        ("contrast", sc, dc),
        ("structure", ss, ds),
        ("behaviour", sb, db),
    ] {
        if let (Some(v), Some(d)) = (v, d)
            && !v.is_finite()
        {
            return Err(Error::NonFinite {
                term: format!("{name} divided by its first-batch value {d}"),
                value: v,
            });
        }
    }

    // Weights of each (scaled) term in the total.
    let (wc, ws, wb) = if !need_s && !need_b {
        (1.0, 0.0, 0.0)
    } else {
        let rest = if need_c { 1.0 - gamma } else { 1.0 };
        let (ws, wb) = match (need_s, need_b) {
            (true, true) => (beta, 1.0 - beta),
            (true, false) => (1.0, 0.0),
            _ => (0.0, 1.0),
        };
        (gamma, rest * ws, rest * wb)
    };
    let total =
        sc.map_or(0.0, |v| wc * v) + ss.map_or(0.0, |v| ws * v) + sb.map_or(0.0, |v| wb * v);
    if !total.is_finite() {
        return Err(Error::NonFinite {
            term: "total".into(),
            value: total,
        });
    }

    let mut loss: Option<Tensor<1>> = None;
    for (t, w, d) in [(c, wc, dc), (s, ws, ds), (b, wb, db)] {
        if let Some(t) = t {
            let part = t.mul_scalar(w / d.unwrap_or(1.0));
            loss = Some(match loss {
                Some(l) => l + part,
                None => part,
            });
        }
    }
    // Record the scales only once the step is known to be finite.
    if scale_c && scales.contrast.is_none() {
        scales.contrast = vc;
    }
    if scale_s && scales.structure.is_none() {
        scales.structure = vs;
    }
    if scale_s && scales.behaviour.is_none() {
        scales.behaviour = vb;
    }
    Ok(Combined {
        loss: loss.expect("at least one term is always computed"),
        total,
        contrast: vc,
        structure: vs,
        behaviour: vb,
    })
}

/// Checks that a term is a one-element tensor.
fn one(t: Tensor<1>, name: &str) -> Result<Tensor<1>> {
    if t.dims() == [1] {
        Ok(t)
    } else {
        Err(Error::Shape {
            what: format!("loss term {name}"),
            found: format!("{:?}", t.dims()),
            expected: "[1]".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn dev() -> Device {
        crate::device::resolve(Default::default()).unwrap().device
    }

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, shape), &dev())
    }

    fn value(t: Tensor<1>) -> f64 {
        f64::from(t.into_data().try_to_vec::<f32>().unwrap()[0])
    }

    fn scalar(v: f64) -> Tensor<1> {
        Tensor::from_data(TensorData::new(vec![v as f32], [1]), &dev())
    }

    fn randn(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<f32> {
        use rand_distr::{Distribution, StandardNormal};
        (0..n).map(|_| StandardNormal.sample(rng)).collect()
    }

    #[test]
    fn nt_xent_is_lower_for_aligned_pairs_than_for_random_pairs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (n, d) = (16, 12);
        let z = randn(&mut rng, n * d);
        let noise = randn(&mut rng, n * d);
        let other = randn(&mut rng, n * d);
        let near: Vec<f32> = z.iter().zip(&noise).map(|(a, b)| a + 0.05 * b).collect();
        let aligned = value(nt_xent(
            t2(z.clone(), [n, d]),
            t2(near.clone(), [n, d]),
            0.1,
        ));
        let random = value(nt_xent(t2(z.clone(), [n, d]), t2(other, [n, d]), 0.1));
        assert!(aligned < random, "aligned {aligned} vs random {random}");
        // Near-identical views: only the negatives are left, all positives at cos ≈ 1.
        assert!(aligned < 1.0, "{aligned}");
        // Scaling a vector does not change cosine similarities.
        let scaled: Vec<f32> = near.iter().map(|x| 3.0 * x).collect();
        let again = value(nt_xent(t2(z.clone(), [n, d]), t2(scaled, [n, d]), 0.1));
        assert!((again - aligned).abs() < 1e-4 * aligned.abs().max(1.0));
        // The positive variants: the quirky one is smallest for orthogonal pairs, the intended
        // one for aligned pairs.
        let same = value(positive_alignment(
            t2(z.clone(), [n, d]),
            t2(z.clone(), [n, d]),
            0.1,
        ));
        assert!(same.abs() < 1e-4, "{same}");
        let quirk_same = value(positive_contrast(t2(z.clone(), [n, d]), t2(z, [n, d]), 0.1));
        // cos = 1 for every pair: Σ_{2N} (1/τ)² / (2N)² = 100 / 2N.
        assert!(
            (quirk_same - 100.0 / (2 * n) as f64).abs() < 1e-3,
            "{quirk_same}"
        );
        let ortho_i = t2(vec![1.0, 0.0, 0.0, 1.0], [2, 2]);
        let ortho_j = t2(vec![0.0, 1.0, 1.0, 0.0], [2, 2]);
        assert!(value(positive_contrast(ortho_i, ortho_j, 0.1)).abs() < 1e-6);
    }

    #[test]
    fn nt_xent_of_a_zero_row_has_finite_gradients() {
        let z_i = t2(vec![0.0, 0.0, 1.0, 2.0], [2, 2])
            .autodiff()
            .require_grad();
        let z_j = t2(vec![1.0, 0.5, -1.0, 2.0], [2, 2])
            .autodiff()
            .require_grad();
        let loss = nt_xent(z_i.clone(), z_j, 0.1);
        assert!(value(loss.clone()).is_finite());
        let g = loss.backward();
        let g: Vec<f32> = z_i.grad(&g).unwrap().into_data().try_to_vec().unwrap();
        assert!(g.iter().all(|x| x.is_finite()), "{g:?}");
    }

    #[test]
    fn masked_mse_ignores_padding_in_the_numerator_only() {
        let d = dev();
        let t3 = |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [1, 2, 3]), &d);
        let mask = t3(vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        let target = t3(vec![1.0, 2.0, 0.0, 3.0, 0.0, 0.0]);
        // Real values off by 1 each; padding outputs are garbage and must not count.
        let output = t3(vec![2.0, 3.0, 100.0, 4.0, -50.0, 7.0]);
        let got = value(masked_mse(output, target.clone(), mask.clone()));
        // 3 errors of 1 over all 6 entries (not over the 3 real ones).
        assert!((got - 0.5).abs() < 1e-6, "{got}");
        // A perfect output on real entries gives 0 whatever its padding holds.
        let perfect = t3(vec![1.0, 2.0, 9.0, 3.0, 9.0, 9.0]);
        assert_eq!(
            value(masked_mse(perfect, target.clone(), mask.clone())),
            0.0
        );
        // No gradient reaches the padding of the output.
        let out = t3(vec![2.0, 3.0, 100.0, 4.0, -50.0, 7.0])
            .autodiff()
            .require_grad();
        let loss = masked_mse(out.clone(), target.autodiff(), mask.autodiff());
        let g: Vec<f32> = out
            .grad(&loss.backward())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(&g[..2], &[2.0 / 6.0, 2.0 / 6.0]);
        assert_eq!([g[2], g[4], g[5]], [0.0; 3]);
    }

    #[test]
    fn layerwise_mse_reductions() {
        // [1, 4]: layer 0 = columns 0..3 (σ 2), layer 1 = column 3 (σ 0.5); errors all 1.
        let out = t2(vec![1.0, 1.0, 1.0, 1.0], [1, 4]);
        let tgt = t2(vec![0.0; 4], [1, 4]);
        let std = Tensor::<1>::from_data(TensorData::new(vec![2.0f32, 2.0, 2.0, 0.5], [4]), &dev());
        let global = value(layerwise_mse(
            out.clone(),
            tgt.clone(),
            std.clone(),
            &LayerReduction::GlobalMean,
        ));
        // (3·0.25 + 4) / 4
        assert!((global - 4.75 / 4.0).abs() < 1e-6, "{global}");
        let layer = value(layerwise_mse(
            out,
            tgt,
            std,
            &LayerReduction::LayerMean(vec![(0, 3), (3, 1)]),
        ));
        // 0.75 / 3 + 4 / 1
        assert!((layer - 4.25).abs() < 1e-6, "{layer}");
    }

    #[test]
    fn behaviour_per_model_and_mean_finite() {
        let d = dev();
        let y = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0], [2, 1, 3]),
            &d,
        );
        for kind in [
            BehaviourKind::SoftmaxMse,
            BehaviourKind::Distillation { t: 2.0 },
        ] {
            let same = behaviour_per_model(y.clone(), y.clone(), kind);
            let v: Vec<f32> = same.into_data().try_to_vec().unwrap();
            assert!(v.iter().all(|x| x.abs() < 1e-6), "{kind:?}: {v:?}");
        }
        // A confident original whose softmax underflows to 0 (e^-1000, even in f64) still
        // counts; [R25]'s softmax(..).log() would make it 0·(−inf) = NaN and drop it.
        let conf = Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 2000.0], [1, 1, 2]), &d);
        let flat = Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 0.0], [1, 1, 2]), &d);
        let kd = behaviour_per_model(flat, conf, BehaviourKind::Distillation { t: 2.0 });
        let kd = value(kd);
        // t² · KL((0, 1) ‖ (½, ½)) = 4 ln 2
        assert!((kd - 4.0 * 2f64.ln()).abs() < 1e-5, "{kd}");
        let per = Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32, f32::NAN, 3.0, f32::INFINITY], [4]),
            &d,
        );
        assert_eq!(value(mean_finite(per)), 2.0);
        let none = Tensor::<1>::from_data(TensorData::new(vec![f32::NAN], [1]), &d);
        assert!(value(mean_finite(none)).is_nan());
    }

    #[test]
    fn query_sets() {
        let d = dev();
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let qa: Vec<f32> = random_queries(5, [1, 4, 4], &mut a, &d)
            .into_data()
            .try_to_vec()
            .unwrap();
        let qb = random_queries(5, [1, 4, 4], &mut b, &d);
        assert_eq!(qb.dims(), [5, 1, 4, 4]);
        assert_eq!(qa, qb.into_data().try_to_vec::<f32>().unwrap());
        assert!(qa.iter().all(|x| (0.0..1.0).contains(x)));
        let data = Tensor::<4>::full([3, 1, 4, 4], 7.0, &d);
        let u = union(data, &mut a);
        assert_eq!(u.dims(), [6, 1, 4, 4]);
        let v: Vec<f32> = u.into_data().try_to_vec().unwrap();
        // Random half first, then the data, as [R25] stacks them.
        assert!(v[..48].iter().all(|x| *x < 1.0));
        assert!(v[48..].iter().all(|x| *x == 7.0));
    }

    fn fail() -> Result<Tensor<1>> {
        panic!("this term must not be computed")
    }

    fn ok(v: f64) -> impl FnOnce() -> Result<Tensor<1>> {
        move || Ok(scalar(v))
    }

    #[test]
    fn combine_special_cases() {
        let mut s = FirstBatchScales::new();
        let raw = TermScaling::Raw;
        // γ = 0: no contrast computed.
        let c = combine(fail, ok(2.0), ok(4.0), 0.0, 0.25, raw, &mut s).unwrap();
        assert_eq!(
            (c.contrast, c.structure, c.behaviour),
            (None, Some(2.0), Some(4.0))
        );
        assert!((c.total - (0.25 * 2.0 + 0.75 * 4.0)).abs() < 1e-12);
        assert!((value(c.loss) - 3.5).abs() < 1e-6);
        // γ = 1: contrast only.
        let c = combine(ok(5.0), fail, fail, 1.0, 0.5, raw, &mut s).unwrap();
        assert_eq!(
            (c.contrast, c.structure, c.behaviour),
            (Some(5.0), None, None)
        );
        assert_eq!(c.total, 5.0);
        // β = 1: structure only; β = 0: behaviour only.
        let c = combine(ok(1.0), ok(2.0), fail, 0.5, 1.0, raw, &mut s).unwrap();
        assert_eq!(c.behaviour, None);
        assert!((c.total - 1.5).abs() < 1e-12);
        let c = combine(ok(1.0), fail, ok(4.0), 0.5, 0.0, raw, &mut s).unwrap();
        assert_eq!(c.structure, None);
        assert!((c.total - 2.5).abs() < 1e-12);
        // Everything.
        let c = combine(ok(1.0), ok(2.0), ok(4.0), 0.1, 0.5, raw, &mut s).unwrap();
        assert!((c.total - (0.1 + 0.9 * (1.0 + 2.0))).abs() < 1e-12);
        assert!((value(c.loss) - c.total).abs() < 1e-6);
        // Raw scaling records nothing.
        assert_eq!(s, FirstBatchScales::default());
        assert!(combine(ok(1.0), ok(1.0), ok(1.0), 1.5, 0.5, raw, &mut s).is_err());
        assert!(combine(ok(1.0), ok(1.0), ok(1.0), 0.5, -0.1, raw, &mut s).is_err());
        assert_eq!(terms_needed(0.05, 0.1), (true, true, true));
        assert_eq!(terms_needed(1.0 - 1e-12, 0.1), (true, false, false));
    }

    #[test]
    fn combine_scales_by_the_first_batch_and_resumes() {
        let mut s = FirstBatchScales::new();
        let fb = TermScaling::FirstBatch;
        // First batch: S and B become 1, C stays raw.
        let c = combine(ok(3.0), ok(2.0), ok(8.0), 0.5, 0.25, fb, &mut s).unwrap();
        assert!((c.total - (1.5 + 0.5 * (0.25 + 0.75))).abs() < 1e-12);
        assert_eq!(
            s,
            FirstBatchScales {
                contrast: None,
                structure: Some(2.0),
                behaviour: Some(8.0)
            }
        );
        // Later batches divide by the frozen values; the logged values stay raw.
        let c = combine(ok(3.0), ok(1.0), ok(2.0), 0.5, 0.25, fb, &mut s).unwrap();
        assert_eq!((c.structure, c.behaviour), (Some(1.0), Some(2.0)));
        assert!((c.total - (1.5 + 0.5 * (0.25 * 0.5 + 0.75 * 0.25))).abs() < 1e-12);
        assert!((value(c.loss) - c.total).abs() < 1e-6);
        // A checkpoint round trip keeps the scales, so a resumed run gives the same total.
        let json = serde_json::to_string(&s).unwrap();
        let mut resumed: FirstBatchScales = serde_json::from_str(&json).unwrap();
        assert_eq!(resumed, s);
        let again = combine(ok(3.0), ok(1.0), ok(2.0), 0.5, 0.25, fb, &mut resumed).unwrap();
        assert_eq!(again.total, c.total);
        // The [R25] variant scales the contrast too; a term first computed later (β = 1 at the
        // start, say) gets its scale when it first appears.
        let mut s = FirstBatchScales::new();
        let all = TermScaling::FirstBatchAll;
        let c = combine(ok(4.0), ok(2.0), fail, 0.5, 1.0, all, &mut s).unwrap();
        assert!((c.total - 1.0).abs() < 1e-12);
        assert_eq!(
            (s.contrast, s.structure, s.behaviour),
            (Some(4.0), Some(2.0), None)
        );
        let c = combine(ok(2.0), ok(2.0), ok(5.0), 0.5, 0.5, all, &mut s).unwrap();
        assert_eq!(s.behaviour, Some(5.0));
        assert!((c.total - (0.25 + 0.5 * (0.5 + 0.5))).abs() < 1e-12);
        assert_eq!(TermScaling::from(false), TermScaling::Raw);
        assert_eq!(TermScaling::from(true), TermScaling::FirstBatch);
    }

    #[test]
    fn combine_names_the_non_finite_term() {
        let fb = TermScaling::FirstBatch;
        let mut s = FirstBatchScales::new();
        let err = combine(ok(1.0), ok(2.0), ok(f64::NAN), 0.5, 0.5, fb, &mut s).unwrap_err();
        match &err {
            Error::NonFinite { term, value } => {
                assert_eq!(term, "behaviour");
                assert!(value.is_nan());
            }
            e => panic!("{e}"),
        }
        assert!(err.to_string().contains("behaviour"), "{err}");
        // Nothing was recorded from the failed step.
        assert_eq!(s, FirstBatchScales::default());
        let err = combine(ok(f64::INFINITY), ok(2.0), ok(1.0), 0.5, 0.5, fb, &mut s).unwrap_err();
        assert!(matches!(err, Error::NonFinite { ref term, .. } if term == "contrast"));
        // A first-batch value of 0 makes the scaled term infinite later on.
        let mut s = FirstBatchScales {
            structure: Some(0.0),
            ..Default::default()
        };
        let err = combine(ok(1.0), ok(2.0), ok(1.0), 0.5, 0.5, fb, &mut s).unwrap_err();
        match err {
            Error::NonFinite { term, value } => {
                assert!(term.starts_with("structure"), "{term}");
                assert!(value.is_infinite());
            }
            e => panic!("{e}"),
        }
        // A term that is not one value is refused.
        let d = dev();
        let two = move || Ok(Tensor::<1>::zeros([2], &d));
        assert!(matches!(
            combine(
                ok(1.0),
                two,
                ok(1.0),
                0.5,
                0.5,
                fb,
                &mut FirstBatchScales::new()
            ),
            Err(Error::Shape { .. })
        ));
    }
}
