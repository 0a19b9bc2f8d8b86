//! Optimisation of hyper-representation runs: AdamW with decoupled weight decay on matrix
//! parameters only (biases, norms and embeddings' vectors are not decayed, as SANE's
//! `configure_optimizers`), plain Adam (the 2021 setting, L2 on every parameter as
//! torch.optim.Adam's weight_decay), global-norm gradient clipping, and the learning-rate
//! schedules of the references (OneCycle per step, ReduceLROnPlateau per epoch), whose state
//! is saved with every checkpoint.
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{
    AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, GradientsParams, ModuleOptimizer,
    Optimizer,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// AdamW that decays only parameters of rank ≥ 2.
#[derive(Clone)]
pub struct MatrixDecayAdamW {
    decayed: AdamW,
    plain: AdamW,
}

impl Optimizer for MatrixDecayAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if D >= 2 {
            self.decayed.step(lr, tensor, grad, state)
        } else {
            self.plain.step(lr, tensor, grad, state)
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

/// Which optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerChoice {
    /// AdamW, decoupled decay on matrices only.
    AdamW {
        /// Decay rate.
        weight_decay: f64,
    },
    /// Adam with L2 weight decay on every parameter (torch.optim.Adam).
    Adam {
        /// L2 coefficient.
        weight_decay: f64,
    },
}

/// Builds the module optimizer (betas 0.9/0.999, eps 1e-8 as torch).
pub fn build(choice: OptimizerChoice) -> ModuleOptimizer {
    match choice {
        OptimizerChoice::AdamW { weight_decay } => {
            let cfg = |wd: f64| {
                AdamWConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(wd as f32)
                    .build()
            };
            ModuleOptimizer::from(MatrixDecayAdamW {
                decayed: cfg(weight_decay),
                plain: cfg(0.0),
            })
        }
        OptimizerChoice::Adam { weight_decay } => {
            let mut c = AdamConfig::new().with_epsilon(1e-8);
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
                    weight_decay as f32,
                )));
            }
            c.init()
        }
    }
}

// Keep the Adam state type in use so a change of burn's Adam is noticed here.
#[allow(dead_code)]
type AdamStateCheck = AdamState<1>;

/// The float parameters of a module with their ranks.
struct Ranks(Vec<(ParamId, usize)>);

impl ModuleVisitor for Ranks {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D));
    }
}

fn sq_norm<const D: usize>(grads: &GradientsParams, id: ParamId) -> f64 {
    grads.get::<D>(id).map_or(0.0, |g| {
        f64::from(g.powi_scalar(2).sum().into_scalar::<f32>())
    })
}

fn scale<const D: usize>(grads: &mut GradientsParams, id: ParamId, factor: f64) {
    if let Some(g) = grads.remove::<D>(id) {
        grads.register(id, g.mul_scalar(factor));
    }
}

/// Clips the gradients of `module` to a global L2 norm of `max_norm` (as
/// torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut ranks = Ranks(Vec::new());
    module.visit(&mut ranks);
    let mut sq = 0.0f64;
    for &(id, d) in &ranks.0 {
        sq += match d {
            1 => sq_norm::<1>(grads, id),
            2 => sq_norm::<2>(grads, id),
            3 => sq_norm::<3>(grads, id),
            4 => sq_norm::<4>(grads, id),
            _ => 0.0,
        };
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        for &(id, d) in &ranks.0 {
            match d {
                1 => scale::<1>(grads, id, factor),
                2 => scale::<2>(grads, id, factor),
                3 => scale::<3>(grads, id, factor),
                4 => scale::<4>(grads, id, factor),
                _ => {}
            }
        }
    }
    norm
}

/// A learning-rate schedule with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Constant.
    Constant {
        /// The rate.
        lr: f64,
    },
    /// torch.optim.lr_scheduler.OneCycleLR (cosine annealing, stepped per batch): from
    /// max/div up to max over `pct_start` of the steps, then down to max/(div·final_div).
    /// Momentum is not cycled (AdamW's β1 stays 0.9).
    OneCycle {
        /// Peak rate.
        max_lr: f64,
        /// Total steps.
        total: u64,
        /// Fraction of steps rising.
        pct_start: f64,
        /// Initial rate = max_lr / div.
        div: f64,
        /// Final rate = initial / final_div.
        final_div: f64,
    },
    /// torch.optim.lr_scheduler.ReduceLROnPlateau (mode min, relative threshold, cooldown 0),
    /// stepped per epoch with the epoch's training loss.
    Plateau {
        /// Current rate.
        lr: f64,
        /// Multiplier on a plateau.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: u64,
        /// Relative improvement needed.
        threshold: f64,
        /// Best loss so far.
        best: f64,
        /// Epochs since the best.
        bad_epochs: u64,
    },
}

impl Schedule {
    /// The rate for optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::Plateau { lr, .. } => lr,
            Schedule::OneCycle {
                max_lr,
                total,
                pct_start,
                div,
                final_div,
            } => {
                let initial = max_lr / div;
                let min = initial / final_div;
                let up_end = (pct_start * total as f64) - 1.0;
                let down_end = total as f64 - 1.0;
                let s = step as f64;
                let cos = |start: f64, end: f64, pct: f64| {
                    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
                };
                if s <= up_end {
                    cos(initial, max_lr, if up_end > 0.0 { s / up_end } else { 1.0 })
                } else {
                    let span = (down_end - up_end).max(1.0);
                    cos(max_lr, min, ((s - up_end) / span).min(1.0))
                }
            }
        }
    }

    /// Feeds an epoch's loss to a plateau schedule (no-op for the others).
    pub fn epoch_end(&mut self, loss: f64) {
        if let Schedule::Plateau {
            lr,
            factor,
            patience,
            threshold,
            best,
            bad_epochs,
        } = self
        {
            if loss < *best * (1.0 - *threshold) {
                *best = loss;
                *bad_epochs = 0;
            } else {
                *bad_epochs += 1;
                if *bad_epochs > *patience {
                    *lr *= *factor;
                    *bad_epochs = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_matches_torch_shape() {
        // torch: OneCycleLR(max_lr=1, total_steps=100, pct_start=0.3, div 25, final 1e4)
        let s = Schedule::OneCycle {
            max_lr: 1.0,
            total: 100,
            pct_start: 0.3,
            div: 25.0,
            final_div: 1e4,
        };
        assert!((s.lr(0) - 0.04).abs() < 1e-12);
        assert!((s.lr(29) - 1.0).abs() < 1e-12);
        assert!((s.lr(99) - 0.04 / 1e4).abs() < 1e-12);
        assert!(s.lr(15) > s.lr(5) && s.lr(60) < s.lr(40));
    }

    #[test]
    fn plateau_reduces_after_patience() {
        let mut s = Schedule::Plateau {
            lr: 1.0,
            factor: 0.3,
            patience: 2,
            threshold: 1e-4,
            best: f64::INFINITY,
            bad_epochs: 0,
        };
        s.epoch_end(1.0);
        for _ in 0..3 {
            s.epoch_end(1.0);
        }
        assert!((s.lr(0) - 0.3).abs() < 1e-12);
        s.epoch_end(0.5);
        assert!((s.lr(0) - 0.3).abs() < 1e-12);
    }
}
