//! An experiment (core's [`Experiment`]) as the engine's training spec for one zoo: the
//! choices that need the zoo (its checkpoints, its layout for SANE's tokens) are made here.
use super::fail;
use crate::Result;
use crate::hyper::data::Selection;
use crate::hyper::loss::{BehaviourKind, TermScaling};
use crate::hyper::model::{
    Encoding, FcConfig, HeadConfig, ModelConfig, SaneConfig, TransformerConfig,
};
use crate::hyper::optim::OptimizerChoice;
use crate::hyper::train::{
    AugmentSpec, Contrast, LossSpec, QuerySet, Recon, ScheduleSpec, Target, TrainSpec,
};
use hyperzoo_core::experiment::{self as exp, Experiment};
use hyperzoo_core::tokens::SaneTokenizer;
use hyperzoo_core::zoo::store::Zoo;

/// The engine's training spec for an experiment and the zoo it trains on.
pub fn train_spec(e: &Experiment, zoo: &Zoo) -> Result<TrainSpec> {
    let model = match &e.model {
        exp::ModelSpec::Transformer(t) => ModelConfig::Transformer(TransformerConfig {
            encoding: match t.encoding {
                exp::TokenEncoding::Neuron => Encoding::Neuron,
                exp::TokenEncoding::Weight => Encoding::Weight,
            },
            compression_token: t.compression_token,
            d_model: t.d_model,
            heads: t.heads,
            layers: t.layers,
            d_ff: t.d_ff,
            latent: t.latent,
            dropout: t.dropout,
        }),
        exp::ModelSpec::Fc(f) => ModelConfig::Fc(FcConfig {
            hidden_layers: f.hidden_layers,
            latent: f.latent,
            dropout: f.dropout,
        }),
        exp::ModelSpec::Sane(s) => {
            let layout = zoo.manifest.arch.layout()?;
            let tok = if s.token_size == 0 {
                SaneTokenizer::whole_rows(&layout)?
            } else {
                SaneTokenizer::new(&layout, s.token_size)?
            };
            let needed = tok.max_positions();
            for (k, (&have, &need)) in s.max_positions.iter().zip(&needed).enumerate() {
                if have < need {
                    return Err(fail(format!(
                        "{}: model.max_positions[{k}] = {have} is too small for zoo '{}' (its tokens need {need}: {needed:?})",
                        e.path().display(),
                        zoo.manifest.name
                    )));
                }
            }
            ModelConfig::Sane(SaneConfig {
                token_size: tok.token_size(),
                d_model: s.d_model,
                heads: s.heads,
                layers: s.layers,
                latent: s.latent,
                max_positions: s.max_positions,
                dropout: s.dropout,
            })
        }
    };
    let sane_tokens = match &e.model {
        exp::ModelSpec::Sane(s) => Some((s.token_size, s.window)),
        _ => None,
    };
    let head = match &e.head {
        exp::HeadSpec::Mlp(h) => HeadConfig::Mlp {
            layers: h.layers,
            hidden: h.hidden,
            out: h.out,
        },
        exp::HeadSpec::Sane(_) => HeadConfig::Sane,
    };
    let epochs = match &e.zoo.epochs {
        exp::EpochSelection::Last => vec![*zoo.manifest.checkpoints.last().unwrap_or(&0)],
        exp::EpochSelection::All => zoo.manifest.checkpoints.clone(),
        exp::EpochSelection::List(v) => {
            if let Some(bad) = v.iter().find(|x| !zoo.manifest.checkpoints.contains(x)) {
                return Err(fail(format!(
                    "{}: zoo.epochs includes {bad}, but zoo '{}' has checkpoints {:?}",
                    e.path().display(),
                    zoo.manifest.name,
                    zoo.manifest.checkpoints
                )));
            }
            v.clone()
        }
    };
    let l = &e.loss;
    let t = &e.train;
    Ok(TrainSpec {
        seed: e.seed,
        model,
        head: Some(head),
        sane_tokens,
        normalize: e.normalize.weights == exp::WeightNorm::Layer,
        selection: Selection {
            epochs,
            max_abs_weight: e.zoo.max_abs_weight,
            max_models: e.zoo.max_models,
            canonicalize: e.augment.canonicalize,
        },
        augment: AugmentSpec {
            permutation: e.augment.permutation,
            canonical: e.augment.canonical_views,
            permutation_pool: e.augment.permutation_pool,
            pool_scope: e.augment.permutation_pool_scope,
            noise: e.augment.noise(),
            erase: e.augment.erase,
            erase_scale: (e.augment.erase_scale[0], e.augment.erase_scale[1]),
        },
        loss: LossSpec {
            gamma: l.gamma,
            beta: l.beta,
            contrast: match l.contrast {
                exp::ContrastKind::Ntxent => Contrast::NtXent,
                exp::ContrastKind::Positive => Contrast::Positive,
                exp::ContrastKind::PositiveAlignment => Contrast::PositiveAlignment,
            },
            temperature: l.temperature,
            recon: match l.reconstruction {
                exp::ReconstructionKind::Mse => Recon::Mse,
                exp::ReconstructionKind::Masked => Recon::Masked,
                exp::ReconstructionKind::Layerwise => Recon::Layerwise,
            },
            behaviour: match l.behaviour {
                exp::BehaviourKind::SoftmaxMse => BehaviourKind::SoftmaxMse,
                exp::BehaviourKind::Kl => BehaviourKind::Distillation {
                    t: l.temperature_kd,
                },
            },
            queries: l.queries,
            query_set: match l.query_set {
                exp::QuerySet::Data => QuerySet::Data,
                exp::QuerySet::Random => QuerySet::Random,
                exp::QuerySet::Union => QuerySet::Union,
            },
            scaling: TermScaling::from(l.normalize_terms),
            target: match l.target {
                exp::ReconTarget::Clean => Target::Clean,
                exp::ReconTarget::Augmented => Target::Augmented,
            },
        },
        epochs: t.epochs as u64,
        batch_size: t.batch_size,
        optimizer: match t.optimizer {
            exp::Optimizer::AdamW => OptimizerChoice::AdamW {
                weight_decay: t.weight_decay,
            },
            exp::Optimizer::Adam => OptimizerChoice::Adam {
                weight_decay: t.weight_decay,
            },
        },
        lr: t.lr,
        schedule: match t.schedule {
            exp::Schedule::None => ScheduleSpec::Constant,
            exp::Schedule::OneCycle => ScheduleSpec::OneCycle {
                pct_start: t.onecycle.pct_start,
                div: t.onecycle.div_factor,
                final_div: t.onecycle.final_div_factor,
            },
            exp::Schedule::Plateau => ScheduleSpec::Plateau {
                factor: t.plateau.factor,
                patience: t.plateau.patience as u64,
                threshold: t.plateau.threshold,
            },
        },
        grad_clip: t.grad_clip,
        eval_every: t.eval_every as u64,
        probe_every: t.probe_every as u64,
        checkpoint_every: t.checkpoint_every as u64,
        keep_last: t.keep_last,
    })
}
