//! Weight initialisation of zoo networks, per model from its own seed (host-side, so a network
//! starts from the same weights alone or in any population). Biases are 0.01, as in the
//! reference zoo generators; schemes follow torch.nn.init with its default arguments. Batch
//! norms start as PyTorch's do (weight 1, bias 0, running mean 0 and variance 1).
use super::forward::model_rng;
use hyperzoo_core::arch::{Layout, ParamKind};
use hyperzoo_core::zoo::InitScheme;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// RNG stream of initialisation draws.
const INIT_STREAM: u64 = 0x1417;

/// Initial flat weights of one network.
pub fn init_weights(layout: &Layout, scheme: InitScheme, seed: u64) -> Vec<f32> {
    let mut rng = model_rng(seed, 0, INIT_STREAM);
    let mut w = vec![0f32; layout.total];
    for p in &layout.params {
        if p.kind == ParamKind::BatchNorm {
            // PyTorch's reset_parameters: weight 1, bias 0; running mean 0, variance 1.
            w[p.weight_offset..p.weight_offset + p.out].fill(1.0);
            if let Some(buffers) = p.buffers_offset {
                w[buffers + p.out..buffers + 2 * p.out].fill(1.0);
            }
            continue;
        }
        let (fan_in, fan_out) = p.fans();
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        let seg = &mut w[p.weight_offset..p.weight_offset + p.weight_len()];
        // (uniform bound) or (normal std)
        enum D {
            U(f64, f64),
            N(f64),
        }
        let gain_relu = 2f64.sqrt();
        let d = match scheme {
            InitScheme::Uniform => D::U(0.0, 1.0),
            InitScheme::Normal => D::N(1.0),
            InitScheme::XavierUniform => {
                let b = (6.0 / (fi + fo)).sqrt();
                D::U(-b, b)
            }
            InitScheme::XavierNormal => D::N((2.0 / (fi + fo)).sqrt()),
            InitScheme::KaimingUniform => {
                let b = gain_relu * (3.0 / fi).sqrt();
                D::U(-b, b)
            }
            InitScheme::KaimingNormal => D::N(gain_relu / fi.sqrt()),
        };
        match d {
            D::U(lo, hi) => seg
                .iter_mut()
                .for_each(|v| *v = rng.random_range(lo..hi) as f32),
            D::N(std) => {
                let normal = Normal::new(0.0, std).expect("positive std");
                seg.iter_mut()
                    .for_each(|v| *v = normal.sample(&mut rng) as f32);
            }
        }
        if let Some(b) = p.bias_offset {
            w[b..b + p.out].iter_mut().for_each(|v| *v = 0.01);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::arch::ArchSpec;

    fn stats(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|x| *x as f64).sum::<f64>() / n;
        (
            m,
            (v.iter().map(|x| (*x as f64 - m).powi(2)).sum::<f64>() / n).sqrt(),
        )
    }

    #[test]
    fn schemes_have_the_torch_moments_and_bias_is_001() {
        let layout = ArchSpec::builtin("cnn3").unwrap().layout().unwrap();
        let conv2 = &layout.params[1]; // 16 -> 32, k3: fan_in 144, fan_out 288
        let seg =
            |w: &[f32]| w[conv2.weight_offset..conv2.weight_offset + conv2.weight_len()].to_vec();
        let cases = [
            (InitScheme::Uniform, 0.5, (1.0f64 / 12.0).sqrt()),
            (InitScheme::Normal, 0.0, 1.0),
            (
                InitScheme::XavierUniform,
                0.0,
                (2.0 / (144.0 + 288.0f64)).sqrt(),
            ),
            (
                InitScheme::XavierNormal,
                0.0,
                (2.0 / (144.0 + 288.0f64)).sqrt(),
            ),
            (InitScheme::KaimingUniform, 0.0, (2.0 / 144.0f64).sqrt()),
            (InitScheme::KaimingNormal, 0.0, (2.0 / 144.0f64).sqrt()),
        ];
        for (scheme, mean, std) in cases {
            let w = init_weights(&layout, scheme, 3);
            let (m, s) = stats(&seg(&w));
            assert!(
                (m - mean).abs() < 0.05 * std.max(0.2),
                "{scheme:?} mean {m}"
            );
            assert!((s / std - 1.0).abs() < 0.05, "{scheme:?} std {s} vs {std}");
            let b = conv2.bias_offset.unwrap();
            assert!(w[b..b + 32].iter().all(|v| *v == 0.01));
        }
        assert_eq!(
            init_weights(&layout, InitScheme::Normal, 3),
            init_weights(&layout, InitScheme::Normal, 3)
        );
        assert_ne!(
            init_weights(&layout, InitScheme::Normal, 3),
            init_weights(&layout, InitScheme::Normal, 4)
        );
    }
}
