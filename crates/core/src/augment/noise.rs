//! Gaussian noise on weights, drawn independently for every entry.
//!
//! Two forms, following reference.md §5:
//!
//! - **additive** ([R21] `dataset_simclr.py`, config `trainset::add_noise_input`):
//!   `x ← x + σ·ε`, `ε ~ N(0, 1)`, i.e. `x + N(0, σ²)`;
//! - **multiplicative** ([RS] `NoiseAugmentation`, `noise_multiplicative = True`, σ = 0.1 in the
//!   released configs): `x ← x·(1 + σ·ε)`, i.e. `x·(1 + N(0, σ²))`.
//!
//! In both references σ multiplies a standard normal (it is a standard deviation, even where the
//! [R21] config comment calls it a variance). Noise is drawn afresh for each view and each call.
//! The functions work on any `&mut [f32]`: one flat network, a row-major `[N, P]` batch, or a
//! token window. On tokens, note that [RS] noises the whole window including zero padding: the
//! multiplicative form keeps padding at zero, the additive form does not (mask it yourself if
//! that matters).
use crate::{Error, Result};
use rand::Rng;

/// A Gaussian noise augmentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// `x + σ·N(0, 1)` ([R21]).
    Additive {
        /// Standard deviation σ.
        sigma: f32,
    },
    /// `x·(1 + σ·N(0, 1))` ([RS]).
    Multiplicative {
        /// Standard deviation σ of the relative perturbation.
        sigma: f32,
    },
}

impl Noise {
    /// The standard deviation σ.
    pub fn sigma(&self) -> f32 {
        match *self {
            Noise::Additive { sigma } | Noise::Multiplicative { sigma } => sigma,
        }
    }

    /// Rejects a negative or non-finite σ, naming the value.
    pub fn validate(&self) -> Result<()> {
        let s = self.sigma();
        if s.is_finite() && s >= 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidValue {
                what: "noise sigma".into(),
                value: s.to_string(),
                expected: "a finite standard deviation >= 0".into(),
            })
        }
    }

    /// Adds noise to every entry of `x` in place. σ = 0 leaves `x` unchanged (and draws nothing).
    pub fn apply(&self, x: &mut [f32], rng: &mut impl Rng) {
        match *self {
            Noise::Additive { sigma } => add_gaussian(x, sigma, rng),
            Noise::Multiplicative { sigma } => mul_gaussian(x, sigma, rng),
        }
    }
}

/// `x ← x + σ·ε` with `ε ~ N(0, 1)` per entry.
pub fn add_gaussian(x: &mut [f32], sigma: f32, rng: &mut impl Rng) {
    if sigma == 0.0 {
        return;
    }
    for v in x {
        *v += (sigma as f64 * standard_normal(rng)) as f32;
    }
}

/// `x ← x·(1 + σ·ε)` with `ε ~ N(0, 1)` per entry.
pub fn mul_gaussian(x: &mut [f32], sigma: f32, rng: &mut impl Rng) {
    if sigma == 0.0 {
        return;
    }
    for v in x {
        *v *= (1.0 + sigma as f64 * standard_normal(rng)) as f32;
    }
}

/// One draw of N(0, 1) (Box–Muller; core carries no `rand_distr`).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 - U maps [0, 1) to (0, 1], keeping ln finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean_std(x: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = x.collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt())
    }

    #[test]
    fn standard_normal_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let v: Vec<f64> = (0..200_000).map(|_| standard_normal(&mut rng)).collect();
        let (m, s) = mean_std(v.iter().copied());
        assert!(m.abs() < 0.01 && (s - 1.0).abs() < 0.01, "mean {m} std {s}");
        let tail = v.iter().filter(|x| x.abs() > 1.96).count() as f64 / v.len() as f64;
        assert!((tail - 0.05).abs() < 0.003, "two-sided 5% tail {tail}");
    }

    #[test]
    fn additive_noise_has_sigma_independent_of_the_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x: Vec<f32> = (0..100_000).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut y = x.clone();
        Noise::Additive { sigma: 0.05 }.apply(&mut y, &mut rng);
        let (m, s) = mean_std(x.iter().zip(&y).map(|(a, b)| (b - a) as f64));
        assert!(
            m.abs() < 1e-3 && (s - 0.05).abs() < 1e-3,
            "mean {m} std {s}"
        );
    }

    #[test]
    fn multiplicative_noise_is_relative_and_keeps_zeros() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f32> = (0..100_000)
            .map(|i| if i % 4 == 0 { 0.0 } else { 2.0 })
            .collect();
        let mut y = x.clone();
        Noise::Multiplicative { sigma: 0.1 }.apply(&mut y, &mut rng);
        assert!(x.iter().zip(&y).all(|(a, b)| *a != 0.0 || *b == 0.0));
        let ratios = x
            .iter()
            .zip(&y)
            .filter(|(a, _)| **a != 0.0)
            .map(|(a, b)| (b / a) as f64);
        let (m, s) = mean_std(ratios);
        assert!(
            (m - 1.0).abs() < 2e-3 && (s - 0.1).abs() < 2e-3,
            "mean {m} std {s}"
        );
    }

    #[test]
    fn zero_sigma_is_identity_and_bad_sigma_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = vec![1.5f32; 10];
        let mut y = x.clone();
        Noise::Additive { sigma: 0.0 }.apply(&mut y, &mut rng);
        assert_eq!(x, y);
        assert!(Noise::Additive { sigma: 0.1 }.validate().is_ok());
        let e = Noise::Multiplicative { sigma: -0.1 }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("-0.1") && e.contains(">= 0"), "{e}");
    }

    #[test]
    fn same_seed_same_noise() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut x = vec![1.0f32; 16];
            Noise::Multiplicative { sigma: 0.1 }.apply(&mut x, &mut rng);
            x
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
