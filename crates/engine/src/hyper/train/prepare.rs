//! The data of a run prepared for training: the checkpoints selected and split, normalised,
//! in the model's representation, with the augmentations of `[augment]`.
use super::*;

/// The prepared data of a run: splits (normalised), representation, augmentations.
pub struct Prepared {
    /// train, val, test.
    pub splits: [SplitData; 3],
    /// Fitted on the training split (identity when normalisation is off).
    pub standardizer: Option<Standardizer>,
    /// How rows become inputs.
    pub repr: Representation,
    /// Augmentations.
    pub augment: Augment,
    /// Activation of every model (for the behavioural loss).
    pub activations: Vec<Activation>,
    /// Per-parameter std of the layer-wise loss.
    pub loss_std: Vec<f32>,
}

/// Loads and prepares the data of `spec` from `zoo`.
pub fn prepare(spec: &TrainSpec, zoo: &Zoo) -> Result<Prepared> {
    let mut splits = crate::hyper::data::load_splits(zoo, &spec.selection, spec.seed)?;
    let layout = zoo.manifest.arch.layout()?;
    let standardizer = if spec.normalize {
        let s = Standardizer::fit(&layout, &splits[0].weights)?;
        for split in splits.iter_mut() {
            split.normalize(&s)?;
        }
        Some(s)
    } else {
        None
    };
    let loss_std = LayerLossScales::fit(&layout, &splits[0].weights)?.per_param_std();
    let repr = match spec.sane_tokens {
        None => Representation::Flat,
        Some((token_size, window)) => {
            let tok = if token_size == 0 {
                SaneTokenizer::whole_rows(&layout)?
            } else {
                SaneTokenizer::new(&layout, token_size)?
            };
            let repr = Representation::sane(tok, window)?;
            if let Representation::Sane {
                tokenizer, window, ..
            } = &repr
                && *window < tokenizer.token_count()
            {
                whole_networks_needed(spec, *window, tokenizer.token_count())?;
            }
            repr
        }
    };
    let a = &spec.augment;
    let sane = matches!(repr, Representation::Sane { .. });
    let augment = Augment {
        permutation: if a.permutation {
            Some(PermutationGroups::new(&zoo.manifest.arch)?)
        } else {
            None
        },
        canonical: a.canonical_views,
        pool: (a.permutation && a.permutation_pool > 0).then_some(PermutationPool {
            size: a.permutation_pool,
            scope: a.permutation_pool_scope,
            seed: spec.seed,
        }),
        noise: a.noise(),
        erase_vector: (a.erase > 0.0 && !sane).then(|| VectorErasing {
            p: a.erase,
            scale: (a.erase_scale[0], a.erase_scale[1]),
            ..VectorErasing::default()
        }),
        erase_window: (a.erase > 0.0 && sane).then(|| RandomErasing {
            p: a.erase,
            scale: (a.erase_scale[0], a.erase_scale[1]),
            ..RandomErasing::default()
        }),
    };
    let activations = zoo
        .models
        .iter()
        .map(|m| m.activation())
        .collect::<hyperzoo_core::Result<Vec<_>>>()?;
    Ok(Prepared {
        splits,
        standardizer,
        repr,
        augment,
        activations,
        loss_std,
    })
}

/// The behavioural loss runs decoded networks and the layer-wise loss weighs whole layers: both
/// need every token of a network in one sample, which a window shorter than the sequence does
/// not give.
fn whole_networks_needed(spec: &TrainSpec, window: usize, tokens: usize) -> Result<()> {
    let l = &spec.loss;
    let why = if l.beta < 1.0 {
        Some(("loss.beta", format!("{}", l.beta), "1 (structure only)"))
    } else if l.reconstruction == ReconstructionKind::Layerwise {
        Some((
            "loss.reconstruction",
            "\"layerwise\"".into(),
            "\"masked\" or \"mse\"",
        ))
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some((key, value, instead)) => Err(Error::Core(hyperzoo_core::Error::InvalidValue {
            what: format!("{key} with model.window = {window} of {tokens} tokens"),
            value,
            expected: format!(
                "{instead}, or model.window = 0 (every token): the behavioural and layer-wise \
                 losses need whole networks, a window holds {window} of their {tokens} tokens"
            ),
        })),
    }
}
