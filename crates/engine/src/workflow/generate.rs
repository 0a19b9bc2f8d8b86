//! New networks from a trained run's embedding space: latents of the training split (all, or
//! the best `top`% by test accuracy) as anchors, sampled (per-dimension or joint KDE, per
//! token, or uniform), decoded, de-normalised, evaluated on the zoo's images without training
//! (the best `n` of `candidates` by validation accuracy kept), written as a zoo; optionally
//! fine-tuned beside networks from random initialisation; audited for memorisation. The
//! `[generation]` table goes into the run's results.toml.
use super::open::OpenedRun;
use super::{Context, Env, Note, fail};
use crate::Result;
use crate::hyper::eval;
use crate::hyper::generate::{self as gen_, Bandwidth, Sampler};
use burn::prelude::*;
use hyperzoo_core::results::Results;
use hyperzoo_core::zoo::store::{Manifest, ModelRow, NetStatus, Record, Zoo, write_zoo};
use hyperzoo_core::zoo::{ModelSplit, ZooDef};
use rand::SeedableRng;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// [RS]'s batch-norm conditioning for its ResNets (reference.md §8.2): passes, and training
/// images per pass.
pub const BN_CONDITION_PASSES: usize = 200;
const BN_CONDITION_BATCH: usize = 32;

/// What a generation makes, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Networks to keep.
    pub n: usize,
    /// The zoo directory to write them to.
    pub out: PathBuf,
    /// `individual` (per-dimension KDE), `joint`, `token` (per token, SANE) or `uniform`.
    pub sampler: String,
    /// KDE bandwidth: a number, `scott` or `silverman` (default: 0.002 for 2021/FC latents,
    /// 0.2 for SANE).
    pub bandwidth: Option<String>,
    /// Anchors: only the top P% of training checkpoints by test accuracy.
    pub top: Option<f64>,
    /// Candidates to generate (the best `n` by validation accuracy are kept).
    pub candidates: Option<usize>,
    /// Test (and validation) images to evaluate on.
    pub images: usize,
    /// Sampling seed (also seeds the fine-tuning runs).
    pub seed: u64,
    /// Epochs to fine-tune the generated networks and as many from random initialisation.
    pub finetune_epochs: usize,
    /// Training-mode passes on batches of 32 training images refreshing the generated
    /// networks' batch-norm running statistics before they are evaluated ([RS]'s conditioning;
    /// None: 200, [RS]'s ResNet setting, when the architecture has batch norms and the zoo's
    /// images are at hand; 0 turns it off).
    pub bn_condition: Option<usize>,
}

impl Default for GenerateOptions {
    /// `hyperzoo generate`'s defaults (25 networks, the per-dimension KDE, 2000 images, seed
    /// 42, no fine-tuning); `out` is empty: set it.
    fn default() -> Self {
        Self {
            n: 25,
            out: PathBuf::new(),
            sampler: "individual".into(),
            bandwidth: None,
            top: None,
            candidates: None,
            images: 2000,
            seed: 42,
            finetune_epochs: 0,
            bn_condition: None,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The `[generation]` table (also in the run's results.toml).
    pub generation: hyperzoo_core::results::Generation,
    /// The run's results.toml.
    pub results: PathBuf,
    /// The run's accuracies.csv.
    pub accuracies: PathBuf,
}

/// Generates networks from the opened run (see the module's documentation).
pub fn generate(
    env: &Env,
    l: &OpenedRun,
    a: &GenerateOptions,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<Generated> {
    let batch = l.batch();
    let dev = &l.device.device;
    let p = l.zoo.manifest.params;
    let train = &l.prepared.splits[0];
    let (lat, shape) = gen_::latents(&l.model, train, &l.prepared.repr, batch, dev)?;
    let dim = shape[0] * shape[1];
    // Anchors: all training checkpoints, or those in the top `top`% by test accuracy.
    // Test accuracy of every training checkpoint (anchor choice and the memorisation audit).
    let acc_by: std::collections::HashMap<(usize, usize), f64> = l
        .zoo
        .records
        .iter()
        .map(|r| ((r.id, r.epoch), r.test_acc))
        .collect();
    let train_acc: Vec<f64> = (0..train.len())
        .map(|i| {
            acc_by
                .get(&(train.model[i], train.epoch[i]))
                .copied()
                .unwrap_or(f64::NAN)
        })
        .collect();
    let acc_of = |i: usize| train_acc[i];
    let mut rows: Vec<usize> = (0..train.len()).collect();
    if let Some(top) = a.top {
        let mut accs: Vec<f64> = rows
            .iter()
            .map(|&i| acc_of(i))
            .filter(|v| v.is_finite())
            .collect();
        accs.sort_by(f64::total_cmp);
        let cut = hyperzoo_core::probe::features::percentile(&accs, 100.0 - top);
        rows.retain(|&i| acc_of(i) >= cut);
    }
    if rows.is_empty() {
        return Err(fail(format!(
            "no anchor checkpoints left{}",
            a.top.map_or(String::new(), |t| format!(" (--top {t})"))
        )));
    }
    let anchors: Vec<f32> = rows
        .iter()
        .flat_map(|&i| lat[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let sampler = match a.sampler.as_str() {
        "individual" => Sampler::Individual,
        "joint" => Sampler::Joint,
        "token" => Sampler::Token,
        "uniform" => Sampler::Uniform,
        other => {
            return Err(fail(format!(
                "--sampler {other}: expected individual, joint, token or uniform"
            )));
        }
    };
    let sane = matches!(
        l.prepared.repr,
        crate::hyper::data::Representation::Sane { .. }
    );
    let bw = match a.bandwidth.as_deref() {
        None => Bandwidth::Fixed(if sane { 0.2 } else { 0.002 }),
        Some("scott") => Bandwidth::Scott,
        Some("silverman") => Bandwidth::Silverman,
        Some(x) => Bandwidth::Fixed(
            x.parse()
                .map_err(|_| fail(format!("--bandwidth {x}: a number, scott or silverman")))?,
        ),
    };
    let m = a.candidates.unwrap_or(a.n).max(a.n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let (z, which) = gen_::sample(&anchors, shape, m, sampler, bw, &mut rng);
    let mut w = gen_::decode(&l.model, &z, shape, &l.prepared.repr, p, batch, dev)?;
    if let Some(s) = &l.prepared.standardizer {
        s.invert(&mut w)?;
    }
    // Activation of each generated network: its anchor's, else the zoo's most common.
    let mut counts = std::collections::BTreeMap::new();
    for a in &l.prepared.activations {
        *counts.entry(*a).or_insert(0usize) += 1;
    }
    let common = counts
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map(|(a, _)| a)
        .context(|| "zoo without models".to_string())?;
    let acts: Vec<_> = which
        .iter()
        .map(|k| k.map_or(common, |k| l.prepared.activations[train.model[rows[k]]]))
        .collect();
    let (def, data) = match super::zoo_data(env, &l.zoo, dev)? {
        Some((def, data)) => (Some(def), Some(data)),
        None => (None, None),
    };
    if a.finetune_epochs > 0 && data.is_none() {
        return Err(fail(format!(
            "--finetune-epochs needs the zoo's training images: {}",
            super::no_data_reason(&l.zoo)
        )));
    }
    let cap = |t: &crate::zoo::dataset::TensorSet| {
        let n = t.len().min(a.images);
        crate::zoo::dataset::TensorSet {
            x: t.x.clone().narrow(0, 0, n),
            y: t.y.clone().narrow(0, 0, n),
        }
    };
    // Batch norms conditioned on the training images before anything runs the networks.
    let mut bn_condition = 0;
    if let Some(d) = &data {
        let passes = a.bn_condition.unwrap_or(BN_CONDITION_PASSES);
        if eval::condition_batch_norms(
            &l.zoo.manifest.arch,
            &mut w,
            &acts,
            &d.train,
            passes,
            BN_CONDITION_BATCH,
            dev,
        )? {
            bn_condition = passes;
        }
    } else if a.bn_condition.is_some_and(|k| k > 0) {
        return Err(fail(format!(
            "--bn-condition needs the zoo's training images: {}",
            super::no_data_reason(&l.zoo)
        )));
    }
    // Keep the best n of the m candidates by validation accuracy.
    let mut keep: Vec<usize> = (0..m).collect();
    let mut val_acc = vec![f64::NAN; m];
    if let Some(d) = &data
        && m > a.n
    {
        val_acc = eval::accuracies(&l.zoo, &w, &acts, &cap(&d.val), dev)?.0;
        keep.sort_by(|&i, &j| val_acc[j].total_cmp(&val_acc[i]));
        keep.truncate(a.n);
        keep.sort_unstable();
    }
    let kept: Vec<f32> = keep
        .iter()
        .flat_map(|&i| w[i * p..(i + 1) * p].iter().copied())
        .collect();
    let kept_acts: Vec<_> = keep.iter().map(|&i| acts[i]).collect();
    let test_acc = match &data {
        Some(d) => eval::accuracies(&l.zoo, &kept, &kept_acts, &cap(&d.test), dev)?.0,
        None => vec![f64::NAN; keep.len()],
    };
    let anchor_raw = eval::raw_weights(&l.prepared, 0)?;
    let anchor_acc: Vec<f64> = rows.iter().map(|&i| acc_of(i)).collect();
    let records: Vec<Record> = keep
        .iter()
        .enumerate()
        .map(|(id, &i)| Record {
            id,
            epoch: 0,
            status: if kept[id * p..(id + 1) * p].iter().all(|v| v.is_finite()) {
                NetStatus::Ok
            } else {
                NetStatus::Diverged
            },
            train_loss: f64::NAN,
            train_acc: f64::NAN,
            val_loss: f64::NAN,
            val_acc: val_acc[i],
            test_loss: f64::NAN,
            test_acc: test_acc[id],
            ggap: f64::NAN,
        })
        .collect();
    let model_rows: Vec<ModelRow> = keep
        .iter()
        .enumerate()
        .map(|(id, &i)| ModelRow {
            id,
            split: ModelSplit::Test,
            population: 0,
            hparams: vec![
                ("activation".into(), acts[i].name().into()),
                ("sampler".into(), a.sampler.clone()),
                (
                    "anchor_model".into(),
                    which[i].map_or(String::new(), |k| train.model[rows[k]].to_string()),
                ),
            ],
        })
        .collect();
    let manifest = Manifest {
        format: hyperzoo_core::zoo::store::FORMAT_VERSION,
        name: a
            .out
            .file_name()
            .map_or("generated".into(), |n| n.to_string_lossy().into_owned()),
        description: format!(
            "{} networks generated by run {} ({} sampler, {} anchors, best {} of {m})",
            a.n,
            l.experiment.name,
            a.sampler,
            rows.len(),
            a.n
        ),
        status: hyperzoo_core::zoo::store::ZooStatus::Complete,
        dataset: l.zoo.manifest.dataset.clone(),
        models: keep.len(),
        params: p,
        epochs: 0,
        checkpoints: vec![0],
        arch: l.zoo.manifest.arch.clone(),
        versions: Default::default(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        definition: String::new(),
        source: format!("generated from run {}", l.experiment.name),
        // The networks run on their zoo's images: evaluations of this zoo use them too.
        data: def.as_ref().map(|d| d.data.clone()),
    };
    write_zoo(
        &a.out,
        manifest,
        &model_rows,
        &[(0, kept.clone())],
        &records,
    )?;
    // Fine-tuning: the generated networks and networks from random initialisation, trained
    // the same epochs with the hyperparameters of the zoo network each one was sampled around.
    let mut finetune = Vec::new();
    let mut groups: Vec<(String, Vec<f64>)> = vec![
        ("anchors".into(), anchor_acc.clone()),
        ("generated".into(), test_acc.clone()),
    ];
    if let (Some(def), Some(d), true) = (&def, &data, a.finetune_epochs > 0) {
        let anchors_of: Vec<Option<usize>> = keep
            .iter()
            .map(|&i| which[i].map(|k| train.model[rows[k]]))
            .collect();
        let [gen_curve, rand_curve] = finetune_both(
            &l.zoo,
            def,
            d,
            &kept,
            &kept_acts,
            &anchors_of,
            a,
            dev,
            cancel,
            on,
        )?;
        for (k, (gc, rc)) in gen_curve.iter().zip(&rand_curve).enumerate() {
            finetune.push(hyperzoo_core::results::Finetune {
                epoch: k,
                generated: eval::Quantiles::of(gc),
                random: eval::Quantiles::of(rc),
            });
        }
        let last = a.finetune_epochs;
        groups.push((format!("generated+{last}"), gen_curve[last].clone()));
        groups.push((format!("random+{last}"), rand_curve[last].clone()));
    }
    let diversity = (
        gen_::diversity(&anchor_raw, p, 300),
        gen_::diversity(&kept, p, 300),
    );
    // Memorisation audit: every kept network's nearest training checkpoint after weight
    // matching and its accuracy, beside noise and interpolation baselines of the same count
    // made of the anchors.
    let memorisation = {
        use hyperzoo_core::memorisation::{AuditSettings, audit};
        let groups = hyperzoo_core::augment::PermutationGroups::new(&l.zoo.manifest.arch)?;
        let anchor_w: Vec<f32> = rows
            .iter()
            .flat_map(|&i| anchor_raw[i * p..(i + 1) * p].iter().copied())
            .collect();
        let settings = AuditSettings {
            // A stream of its own, apart from the sampler's (seeded by the same --seed).
            seed: a.seed ^ 0x6D65_6D6F_7269_7365,
            ..AuditSettings::default()
        };
        on(Note::Info(format!(
            "memorisation audit: {} generated networks against {} training checkpoints",
            keep.len(),
            train.len(),
        )));
        audit(
            &groups,
            &anchor_raw,
            &train_acc,
            &kept,
            &anchor_w,
            &settings,
        )?
    };
    let generation = hyperzoo_core::results::Generation {
        zoo: a.out.display().to_string(),
        sampler: a.sampler.clone(),
        bandwidth: match bw {
            Bandwidth::Fixed(h) => h.to_string(),
            Bandwidth::Scott => "scott".into(),
            Bandwidth::Silverman => "silverman".into(),
        },
        anchors: rows.len(),
        candidates: m,
        networks: keep.len(),
        bn_condition,
        images: data.as_ref().map_or(0, |d| d.test.len().min(a.images)),
        acc_anchors: eval::Quantiles::of(&anchor_acc),
        acc_generated: eval::Quantiles::of(&test_acc),
        diversity_anchors: diversity.0,
        diversity_generated: diversity.1,
        finetune,
        memorisation: Some(memorisation),
    };
    let results_path = l.run.path("results.toml");
    let mut results = Results::read(&results_path)?.unwrap_or_else(|| Results {
        run: l.experiment.name.clone(),
        zoo: l.zoo.manifest.name.clone(),
        checkpoint: l.checkpoint.display().to_string(),
        ..Default::default()
    });
    results.generation = Some(generation.clone());
    l.run.write("results.toml", results.to_toml().as_bytes())?;
    hyperzoo_core::results::write_accuracies(l.run.dir(), &groups)?;
    Ok(Generated {
        generation,
        results: results_path,
        accuracies: l.run.path(hyperzoo_core::results::ACCURACIES_FILE),
    })
}

/// Test accuracies per epoch (`[K + 1][n]`) of the generated networks `weights` fine-tuned K
/// epochs, and of as many networks from random initialisation trained the same way: each with
/// the hyperparameters of the zoo network it was sampled around (or of the zoo's first network
/// of its activation), the seed replaced by a fresh one; populations share activation and batch
/// size.
#[allow(clippy::too_many_arguments)]
fn finetune_both(
    zoo: &Zoo,
    def: &ZooDef,
    data: &crate::zoo::dataset::ZooData,
    weights: &[f32],
    acts: &[hyperzoo_core::arch::Activation],
    anchors: &[Option<usize>],
    a: &GenerateOptions,
    dev: &Device,
    cancel: &AtomicBool,
    on: &mut dyn FnMut(Note<'_>),
) -> Result<[Curves; 2]> {
    use crate::zoo::PopulationNet;
    use crate::zoo::init::init_weights;
    use crate::zoo::train::finetune;
    let p = zoo.manifest.params;
    let n = acts.len();
    let layout = zoo.manifest.arch.layout()?;
    let hps: Vec<hyperzoo_core::zoo::Hparams> = (0..n)
        .map(|i| {
            let base = anchors[i]
                .and_then(|id| def.networks.get(id))
                .or_else(|| def.networks.iter().find(|h| h.activation == acts[i]))
                .or(def.networks.first())
                .context(|| "zoo definition without networks".to_string())?;
            let mut h = base.clone();
            h.activation = acts[i];
            h.seed = a.seed.wrapping_mul(1_000_003).wrapping_add(i as u64 + 1);
            Ok(h)
        })
        .collect::<Result<_>>()?;
    // burn tensors share their storage when cloned: this copies no image.
    let mut data = data.clone();
    let cap = data.test.len().min(a.images);
    data.test = crate::zoo::dataset::TensorSet {
        x: data.test.x.clone().narrow(0, 0, cap),
        y: data.test.y.clone().narrow(0, 0, cap),
    };
    let k = a.finetune_epochs;
    let mut gen_curve = vec![vec![f64::NAN; n]; k + 1];
    let mut rand_curve = vec![vec![f64::NAN; n]; k + 1];
    let mut groups: std::collections::BTreeMap<_, Vec<usize>> = Default::default();
    for (i, h) in hps.iter().enumerate() {
        groups
            .entry((h.activation, h.batch_size))
            .or_default()
            .push(i);
    }
    for ((act, _), ids) in groups {
        let net = PopulationNet::new(zoo.manifest.arch.clone(), act)?;
        let group_hps: Vec<_> = ids.iter().map(|&i| hps[i].clone()).collect();
        let gen_w: Vec<f32> = ids
            .iter()
            .flat_map(|&i| weights[i * p..(i + 1) * p].iter().copied())
            .collect();
        let rand_w: Vec<f32> = group_hps
            .iter()
            .flat_map(|h| init_weights(&layout, h.init, h.seed))
            .collect();
        on(Note::Info(format!(
            "fine-tuning {} generated and {} randomly initialised {} networks for {k} epoch(s)",
            ids.len(),
            ids.len(),
            act.name()
        )));
        for (w, curve) in [(gen_w, &mut gen_curve), (rand_w, &mut rand_curve)] {
            let accs = finetune(&net, &w, &group_hps, &data, k, 500, dev, cancel)?;
            for (e, row) in accs.iter().enumerate() {
                for (j, &i) in ids.iter().enumerate() {
                    curve[e][i] = row[j];
                }
            }
        }
    }
    Ok([gen_curve, rand_curve])
}

/// Test accuracies per epoch: `[epochs + 1][networks]`.
type Curves = Vec<Vec<f64>>;
