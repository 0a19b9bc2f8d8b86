//! An experiment (core's [`Experiment`]) as the engine's training spec for one zoo: the
//! choices that need the zoo (its checkpoints, its layout for SANE's tokens) are made here.
use super::fail;
use crate::Result;
use crate::hyper::data::Selection;
use crate::hyper::model::{
    Encoding, FcConfig, HeadConfig, ModelConfig, SaneConfig, TransformerConfig,
};
use crate::hyper::train::TrainSpec;
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
        augment: e.augment.clone(),
        loss: e.loss.clone(),
        train: e.train.clone(),
        max_steps: None,
    })
}
