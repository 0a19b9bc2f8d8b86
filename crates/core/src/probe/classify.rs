//! The classification probe for categorical properties (activation, initialisation, optimizer):
//! a linear softmax classifier trained by mini-batch Adam, as the reference's `classify_single`
//! ([R21] `def_downstream_module.py`, model and loop from `def_net.py`; reference.md §7.2).
//!
//! Reproduced from the reference:
//!
//! - **Classes** are the sorted distinct labels of the training split (`np.unique`); a
//!   validation or test label outside them is an error (the reference asserts).
//! - **Model**: one linear layer `logits = W·x + b` (an MLP with no hidden layer), `W`
//!   Kaiming-normal (`std = sqrt(2 / F)`, PyTorch's `kaiming_normal_` defaults: fan-in,
//!   gain √2), `b = 0.01`. No feature standardization.
//! - **Training**: cross-entropy averaged over each batch; Adam (β = 0.9, 0.999, ε = 1e-8)
//!   with lr 1e-4 and *coupled* weight decay 1e-6 (`torch.optim.Adam(weight_decay=…)` adds
//!   `wd·θ` to the gradient, biases included); 50 epochs; batches of 10 drawn from a fresh
//!   shuffle every epoch, the last partial batch kept (`FastTensorDataLoader`).
//! - **Score**: accuracy (`argmax` of the logits, first maximum on ties) of the model after the
//!   last epoch (the reference also saves a best-validation checkpoint but evaluates the final
//!   model).
//!
//! Differences: all arithmetic is `f64` by hand (the reference casts embeddings to float32), and
//! the random draws (initialisation, then the shuffles) come from a `ChaCha8Rng` seeded by
//! [`ClassifierConfig::seed`] (the reference seeds torch with 42), so the numbers are
//! reproducible here but not PyTorch's.
//!
//! Data enter as a row-major `[N, F]` slice of features and `N` string labels.
use super::metrics::accuracy;
use crate::augment::noise::standard_normal;
use crate::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Hyperparameters of the classification probe; the defaults are the reference's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierConfig {
    /// Adam learning rate (reference: 1e-4).
    pub lr: f64,
    /// Coupled L2 weight decay added to the gradient (reference: 1e-6).
    pub weight_decay: f64,
    /// Passes over the training rows (reference: 50).
    pub epochs: usize,
    /// Rows per step (reference: 10).
    pub batch_size: usize,
    /// Seed of the initialisation and the shuffles (reference: torch seed 42).
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            lr: 1e-4,
            weight_decay: 1e-6,
            epochs: 50,
            batch_size: 10,
            seed: 42,
        }
    }
}

impl ClassifierConfig {
    /// Rejects a non-positive or non-finite learning rate, a negative weight decay, or an
    /// empty batch.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, value: String, expected: &str| Error::InvalidValue {
            what: format!("classifier {what}"),
            value,
            expected: expected.into(),
        };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad("lr", self.lr.to_string(), "a finite learning rate > 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "a finite weight decay >= 0",
            ));
        }
        if self.batch_size == 0 {
            return Err(bad("batch_size", "0".into(), "at least 1"));
        }
        Ok(())
    }
}

/// A fitted linear softmax classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearClassifier {
    /// Class names; a class's index is its position (sorted, as `np.unique`).
    pub classes: Vec<String>,
    /// Number of input features `F`.
    pub features: usize,
    /// Row-major `[C, F]` weights.
    pub weights: Vec<f64>,
    /// `[C]` biases.
    pub bias: Vec<f64>,
}

/// Accuracies of the classification probe on each split (reference.md §7.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// The trained classifier.
    pub classifier: LinearClassifier,
    /// Accuracy on train.
    pub acc_train: f64,
    /// Accuracy on validation (when given).
    pub acc_val: Option<f64>,
    /// Accuracy on test.
    pub acc_test: f64,
}

/// Features per row of a row-major `x` with one row per label.
fn features_of(x: &[f64], n: usize, what: &str) -> Result<usize> {
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(Error::InvalidValue {
            what: format!("classifier {what}"),
            value: format!("{} values for {n} labels", x.len()),
            expected: "a non-empty row-major [N, F] matrix with one row per label".into(),
        });
    }
    Ok(x.len() / n)
}

/// Adam state of one parameter vector (PyTorch's update, coupled weight decay).
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step at (1-based) step `t`; `grad` is the loss gradient.
    fn step(&mut self, param: &mut [f64], grad: &[f64], t: i32, cfg: &ClassifierConfig) {
        let bc1 = 1.0 - Self::BETA1.powi(t);
        let bc2 = 1.0 - Self::BETA2.powi(t);
        let step_size = cfg.lr / bc1;
        for k in 0..param.len() {
            let g = grad[k] + cfg.weight_decay * param[k];
            self.m[k] = Self::BETA1 * self.m[k] + (1.0 - Self::BETA1) * g;
            self.v[k] = Self::BETA2 * self.v[k] + (1.0 - Self::BETA2) * g * g;
            let denom = self.v[k].sqrt() / bc2.sqrt() + Self::EPS;
            param[k] -= step_size * self.m[k] / denom;
        }
    }
}

impl LinearClassifier {
    /// Trains on the row-major `x` (`[N, F]`, `N = labels.len()`) with the reference's
    /// procedure (module docs).
    pub fn fit<S: AsRef<str>>(
        x: &[f64],
        labels: &[S],
        config: &ClassifierConfig,
    ) -> Result<LinearClassifier> {
        config.validate()?;
        let n = labels.len();
        let f = features_of(x, n, "training set")?;
        let mut classes: Vec<String> = labels.iter().map(|s| s.as_ref().to_owned()).collect();
        classes.sort();
        classes.dedup();
        let c = classes.len();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let std = (2.0 / f.max(1) as f64).sqrt();
        let mut model = LinearClassifier {
            classes,
            features: f,
            weights: (0..c * f)
                .map(|_| std * standard_normal(&mut rng))
                .collect(),
            bias: vec![0.01; c],
        };
        let targets = model.encode(labels)?;
        let (mut adam_w, mut adam_b) = (Adam::new(c * f), Adam::new(c));
        let (mut grad_w, mut grad_b) = (vec![0.0; c * f], vec![0.0; c]);
        let mut probs = vec![0.0; c];
        let mut order: Vec<usize> = (0..n).collect();
        let mut t = 0i32;
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            for batch in order.chunks(config.batch_size) {
                grad_w.fill(0.0);
                grad_b.fill(0.0);
                let scale = 1.0 / batch.len() as f64;
                for &i in batch {
                    let row = &x[i * f..(i + 1) * f];
                    model.logits_into(row, &mut probs);
                    softmax_in_place(&mut probs);
                    probs[targets[i]] -= 1.0;
                    // d(mean CE)/d(logits) = (softmax − onehot) / B.
                    for (k, &d) in probs.iter().enumerate() {
                        let d = d * scale;
                        grad_b[k] += d;
                        for (g, &xj) in grad_w[k * f..(k + 1) * f].iter_mut().zip(row) {
                            *g += d * xj;
                        }
                    }
                }
                t = t.saturating_add(1);
                adam_w.step(&mut model.weights, &grad_w, t, config);
                adam_b.step(&mut model.bias, &grad_b, t, config);
            }
        }
        Ok(model)
    }

    /// Index of a class name, if it was seen in training.
    pub fn class_index(&self, label: &str) -> Option<usize> {
        self.classes
            .binary_search_by(|c| c.as_str().cmp(label))
            .ok()
    }

    /// Class indices of `labels`; a label unseen in training is an error naming it.
    pub fn encode<S: AsRef<str>>(&self, labels: &[S]) -> Result<Vec<usize>> {
        labels
            .iter()
            .map(|l| {
                self.class_index(l.as_ref())
                    .ok_or_else(|| Error::InvalidValue {
                        what: "class label".into(),
                        value: l.as_ref().into(),
                        expected: format!(
                            "a class present in the training split: {}",
                            self.classes.join(", ")
                        ),
                    })
            })
            .collect()
    }

    fn logits_into(&self, row: &[f64], out: &mut [f64]) {
        let f = self.features;
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.bias[k]
                + self.weights[k * f..(k + 1) * f]
                    .iter()
                    .zip(row)
                    .map(|(w, x)| w * x)
                    .sum::<f64>();
        }
    }

    fn check_input(&self, x: &[f64]) -> Result<usize> {
        let f = self.features;
        if !x.len().is_multiple_of(f) {
            return Err(Error::InvalidValue {
                what: "classifier input".into(),
                value: format!("{} values", x.len()),
                expected: format!("a row-major [N, {f}] matrix"),
            });
        }
        Ok(x.len().checked_div(f).unwrap_or(0))
    }

    /// Row-major `[N, C]` logits for the row-major `x`.
    pub fn logits(&self, x: &[f64]) -> Result<Vec<f64>> {
        let n = self.check_input(x)?;
        let (f, c) = (self.features, self.classes.len());
        let mut out = vec![0.0; n * c];
        for i in 0..n {
            self.logits_into(&x[i * f..(i + 1) * f], &mut out[i * c..(i + 1) * c]);
        }
        Ok(out)
    }

    /// Predicted class indices (argmax of the logits, first maximum on ties).
    pub fn predict(&self, x: &[f64]) -> Result<Vec<usize>> {
        let c = self.classes.len();
        Ok(self
            .logits(x)?
            .chunks_exact(c)
            .map(|row| {
                let mut best = 0;
                for k in 1..c {
                    if row[k] > row[best] {
                        best = k;
                    }
                }
                best
            })
            .collect())
    }

    /// Predicted class names.
    pub fn predict_labels(&self, x: &[f64]) -> Result<Vec<&str>> {
        Ok(self
            .predict(x)?
            .into_iter()
            .map(|k| self.classes[k].as_str())
            .collect())
    }

    /// Accuracy on `x` (`labels.len()` rows) against `labels`.
    pub fn accuracy<S: AsRef<str>>(&self, x: &[f64], labels: &[S]) -> Result<f64> {
        let f = features_of(x, labels.len(), "scored set")?;
        if f != self.features {
            return Err(Error::InvalidValue {
                what: "classifier scored set".into(),
                value: format!("{f} features"),
                expected: format!("{} features, as in training", self.features),
            });
        }
        let target = self.encode(labels)?;
        Ok(accuracy(&self.predict(x)?, &target))
    }
}

/// Numerically stable softmax of one row, in place.
fn softmax_in_place(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

/// The reference's classification evaluation of one property (reference.md §7.2): trains on
/// train, reports the final model's accuracy on train, validation (when given) and test. Each
/// split is a row-major `[N, F]` matrix and its `N` labels.
pub fn evaluate_classification<S: AsRef<str>>(
    train: (&[f64], &[S]),
    val: Option<(&[f64], &[S])>,
    test: (&[f64], &[S]),
    config: &ClassifierConfig,
) -> Result<ClassificationReport> {
    let classifier = LinearClassifier::fit(train.0, train.1, config)?;
    let acc_train = classifier.accuracy(train.0, train.1)?;
    let acc_val = val.map(|(x, y)| classifier.accuracy(x, y)).transpose()?;
    let acc_test = classifier.accuracy(test.0, test.1)?;
    Ok(ClassificationReport {
        classifier,
        acc_train,
        acc_val,
        acc_test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["tanh", "relu", "gelu"];

    /// Three well-separated clusters in 30-D: class k has mean 1 on features 10k..10k+10 and 0
    /// elsewhere, spread by ±0.5 sin terms.
    fn clusters(n_per: usize, offset: usize) -> (Vec<f64>, Vec<&'static str>) {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in offset..offset + n_per {
            for (k, name) in NAMES.iter().enumerate() {
                for j in 0..30 {
                    let centre = if j / 10 == k { 1.0 } else { 0.0 };
                    let s = i * 3 + k;
                    x.push(centre + 0.5 * (1.7 * s as f64 + 0.9 * j as f64).sin());
                }
                y.push(*name);
            }
        }
        (x, y)
    }

    #[test]
    fn classes_are_sorted_names() {
        let (x, y) = clusters(5, 0);
        let cfg = ClassifierConfig {
            epochs: 1,
            ..Default::default()
        };
        let m = LinearClassifier::fit(&x, &y, &cfg).unwrap();
        assert_eq!(m.classes, vec!["gelu", "relu", "tanh"]);
        assert_eq!(m.encode(&["tanh", "gelu"]).unwrap(), vec![2, 0]);
        let err = m.encode(&["sigmoid"]).unwrap_err().to_string();
        assert!(
            err.contains("sigmoid") && err.contains("gelu, relu, tanh"),
            "{err}"
        );
    }

    #[test]
    fn separable_data_reach_high_accuracy_with_reference_settings() {
        // lr 1e-4 moves a weight by at most ~1e-4 a step: the reference's settings need
        // enough steps (here 1000 rows → 100 steps an epoch, 5000 in all).
        let (xt, yt) = clusters(334, 0);
        let (xs, ys) = clusters(100, 334);
        let rep =
            evaluate_classification((&xt, &yt[..]), None, (&xs, &ys[..]), &Default::default())
                .unwrap();
        assert!(rep.acc_train >= 0.95, "train accuracy {}", rep.acc_train);
        assert!(rep.acc_test >= 0.95, "test accuracy {}", rep.acc_test);
        assert_eq!(rep.acc_val, None);
    }

    #[test]
    fn training_is_seeded() {
        let (x, y) = clusters(10, 0);
        let cfg = ClassifierConfig {
            epochs: 3,
            ..Default::default()
        };
        let a = LinearClassifier::fit(&x, &y, &cfg).unwrap();
        let b = LinearClassifier::fit(&x, &y, &cfg).unwrap();
        assert_eq!(a, b);
        let c = LinearClassifier::fit(&x, &y, &ClassifierConfig { seed: 1, ..cfg }).unwrap();
        assert_ne!(a.weights, c.weights);
    }

    #[test]
    fn one_adam_step_matches_pytorch_formula() {
        // First step of Adam moves every parameter by lr·sign(g) (m̂ = g, v̂ = g²), up to ε.
        let cfg = ClassifierConfig {
            lr: 0.1,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut adam = Adam::new(2);
        let mut p = vec![1.0, -1.0];
        adam.step(&mut p, &[0.5, -2.0], 1, &cfg);
        assert!(
            (p[0] - 0.9).abs() < 1e-7 && (p[1] + 0.9).abs() < 1e-7,
            "{p:?}"
        );
    }

    #[test]
    fn unseen_test_labels_and_bad_shapes_are_errors() {
        let (x, y) = clusters(3, 0);
        let cfg = ClassifierConfig {
            epochs: 1,
            ..Default::default()
        };
        let m = LinearClassifier::fit(&x, &y, &cfg).unwrap();
        assert!(m.accuracy(&x[..30], &["silu"]).is_err());
        assert!(m.accuracy(&x[..29], &["relu"]).is_err());
        assert!(LinearClassifier::fit(&x[..5], &y[..2], &cfg).is_err());
        let bad = ClassifierConfig {
            batch_size: 0,
            ..Default::default()
        };
        assert!(LinearClassifier::fit(&x, &y, &bad).is_err());
    }
}
