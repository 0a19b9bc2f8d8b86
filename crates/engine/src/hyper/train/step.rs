//! One optimisation step: the views encoded and decoded, the contrastive, structural and
//! behavioural terms (query images drawn for the step), their combination and the update.
use super::*;
use crate::hyper::tensors::{positions, tensor3, to_flat};

/// Query images for step `step`.
fn queries(
    spec: &LossSection,
    images: Option<&Tensor<4>>,
    input: [usize; 3],
    rng: &mut rand_chacha::ChaCha8Rng,
    device: &Device,
) -> Result<Tensor<4>> {
    let data = |q: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Result<Tensor<4>> {
        let img = images.ok_or_else(|| Error::Shape {
            what: "loss.query_set = data".into(),
            found: "no dataset images for this zoo".into(),
            expected: "a zoo whose dataset hyperzoo can load (generated, or imported with --dataset), or query_set = random".into(),
        })?;
        let n = img.dims()[0];
        let idx: Vec<i64> = (0..q)
            .map(|_| rand::Rng::random_range(rng, 0..n) as i64)
            .collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [q]), &img.device());
        Ok(img.clone().select(0, idx).to_device(device))
    };
    Ok(match spec.query_set {
        QuerySet::Random => loss::random_queries(spec.queries, input, rng, device),
        QuerySet::Data => data(spec.queries, rng)?,
        QuerySet::Union => {
            let half = data(spec.queries / 2, rng)?;
            let random = loss::random_queries(spec.queries - spec.queries / 2, input, rng, device);
            Tensor::cat(vec![random, half], 0)
        }
    })
}

pub(super) type StepTensors<'a> = (
    &'a Tensor<1>,
    &'a Tensor<1>,
    &'a Tensor<1>,
    Option<&'a Tensor<1, Int>>,
);

/// Values of one step: total, contrast, structure, behaviour, gradient norm.
pub(super) type StepValues = (f64, Option<f64>, Option<f64>, Option<f64>, f64);

/// One optimizer step; returns the updated model and (total, contrast, structure, behaviour,
/// gradient norm).
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
    spec: &TrainSpec,
    prepared: &Prepared,
    arch: &hyperzoo_core::arch::ArchSpec,
    model: HyperRep,
    optim: &mut burn::optim::ModuleOptimizer,
    state: &mut TrainerState,
    batch: &BatchData,
    ids: &[usize],
    lr: f64,
    ad: &Device,
    (mean, std, loss_std, slots): StepTensors<'_>,
    nets: &mut HashMap<Activation, PopulationNet>,
    images: Option<&Tensor<4>>,
    input: [usize; 3],
) -> Result<(HyperRep, StepValues)> {
    let l = &spec.loss;
    let n2 = batch.shape[0];
    let half = n2 / 2;
    let x = tensor3(batch.x.clone(), batch.shape, ad);
    let target = match (&batch.target, l.target) {
        (Some(t), ReconTarget::Clean) => tensor3(t.clone(), batch.shape, ad),
        _ => x.clone(),
    };
    let pos = positions(batch, ad);
    let mut ctx = Ctx::train(spec.seed, state.step);
    let z = model.encode(x, pos.clone(), &mut ctx);
    let y = model.decode(z.clone(), pos, &mut ctx);
    let [_, t, d] = batch.shape;
    let contrast = || -> Result<Tensor<1>> {
        let zi = z.clone().narrow(0, 0, half);
        let zj = z.clone().narrow(0, half, half);
        let (pi, pj) = match (model.project(zi), model.project(zj)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                return Err(Error::Shape {
                    what: "loss.gamma > 0".into(),
                    found: "no projection head".into(),
                    expected: "a [head] section".into(),
                });
            }
        };
        Ok(match l.contrast {
            ContrastKind::Ntxent => loss::nt_xent(pi, pj, l.temperature),
            ContrastKind::Positive => loss::positive_contrast(pi, pj, l.temperature),
            ContrastKind::PositiveAlignment => loss::positive_alignment(pi, pj, l.temperature),
        })
    };
    let structure = || -> Result<Tensor<1>> {
        Ok(match l.reconstruction {
            ReconstructionKind::Mse => loss::mse(y.clone(), target.clone()),
            ReconstructionKind::Masked => {
                let mask = Tensor::<2>::from_data(TensorData::new(batch.mask.clone(), [t, d]), ad)
                    .unsqueeze::<3>()
                    .repeat_dim(0, n2);
                loss::masked_mse(y.clone(), target.clone(), mask)
            }
            ReconstructionKind::Layerwise => loss::layerwise_mse(
                to_flat(y.clone(), &prepared.repr, slots),
                to_flat(target.clone(), &prepared.repr, slots),
                loss_std.clone(),
                &LayerReduction::GlobalMean,
            ),
        })
    };
    let behaviour = || -> Result<Tensor<1>> {
        let denorm = |v: Tensor<3>| {
            to_flat(v, &prepared.repr, slots) * std.clone().unsqueeze() + mean.clone().unsqueeze()
        };
        let (rec, orig) = (denorm(y.clone()), denorm(target.clone()));
        let mut qrng = batch_rng(spec.seed ^ 0x0E1E5, u64::MAX - 1, state.step);
        let q = queries(l, images, input, &mut qrng, ad)?;
        // Group the batch's networks by activation: one population forward per activation.
        let mut groups: HashMap<Activation, Vec<i64>> = HashMap::new();
        for (r, &i) in ids.iter().chain(ids.iter()).enumerate() {
            let act = prepared.activations[prepared.splits[0].model[i]];
            groups.entry(act).or_default().push(r as i64);
        }
        let mut total: Option<Tensor<1>> = None;
        for (act, rows) in groups {
            let net = match nets.get(&act) {
                Some(n) => n,
                None => {
                    let n = PopulationNet::new(arch.clone(), act)?;
                    nets.entry(act).or_insert(n)
                }
            };
            let k = rows.len();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(rows, [k]), ad);
            let part = loss::behaviour_loss(
                net,
                rec.clone().select(0, idx.clone()),
                orig.clone().select(0, idx),
                q.clone(),
                behaviour_kind(l),
            )?
            .mul_scalar(k as f64 / n2 as f64);
            total = Some(match total {
                Some(s) => s + part,
                None => part,
            });
        }
        Ok(total.expect("a batch has networks"))
    };
    let combined = loss::combine(
        contrast,
        structure,
        behaviour,
        l.gamma,
        l.beta,
        TermScaling::from(l.normalize_terms),
        &mut state.scales,
    )
    .map_err(|e| match e {
        Error::NonFinite { term, value } => Error::NonFinite {
            term: format!("step {}: {term}", state.step + 1),
            value,
        },
        other => other,
    })?;
    let grads = combined.loss.backward();
    let mut grads = GradientsParams::from_grads(grads, &model);
    let norm = optim::clip_global_norm(&model, &mut grads, spec.train.grad_clip);
    let model = optim.step(lr, model, grads);
    Ok((
        model,
        (
            combined.total,
            combined.contrast,
            combined.structure,
            combined.behaviour,
            norm,
        ),
    ))
}
