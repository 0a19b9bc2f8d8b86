//! Training a hyper-representation: the loop, its checkpoints and exact resume.
//!
//! A run trains on the calling thread (the CLI and the TUI call it from a background thread)
//! and reports through a callback: per step the loss and each term, the learning rate and the
//! throughput (with the time the data pipeline took and the time the step waited for it); per
//! evaluation epoch the validation loss and reconstruction R². Views are built on a producer
//! thread, ahead of the model step.
//!
//! Every random draw derives from the run seed: parameters ([`Init`]), dropout (step), data
//! order (epoch), views and windows (epoch, batch), query images (step). A checkpoint holds the
//! model, the optimizer state, the schedule, the first-batch loss scales and the position in
//! the epoch, so a cancelled or killed run resumed from its last checkpoint ends where an
//! uninterrupted run would.
use super::data::{Augment, BatchData, Representation, Selection, SplitData, batch_rng, clean};
use super::loss::{self, BehaviourKind, FirstBatchScales, LayerReduction, TermScaling};
use super::model::{HeadConfig, HyperRep, ModelConfig};
use super::nn::Ctx;
use super::optim::{self, OptimizerChoice, Schedule};
use crate::zoo::PopulationNet;
use crate::{Error, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::TensorData;
use hyperzoo_core::arch::Activation;
use hyperzoo_core::augment::erase::{RandomErasing, VectorErasing};
use hyperzoo_core::augment::permute::{PermutationGroups, PermutationPool};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::tokens::norm::{LayerLossScales, Standardizer};
use hyperzoo_core::tokens::sane::SaneTokenizer;
use hyperzoo_core::zoo::store::Zoo;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use hyperzoo_core::experiment::{
    AugmentSection, ContrastKind, LossSection, QuerySet, ReconTarget, ReconstructionKind,
    TrainSection,
};

/// Everything a run needs besides the zoo: the experiment's own sections (`[loss]`,
/// `[augment]`, `[train]`, read as they are) and what follows from the experiment and its zoo
/// together (the model's shapes, SANE's tokens, the checkpoints used), made by
/// [`crate::workflow::spec::train_spec`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    /// Run seed.
    pub seed: u64,
    /// Autoencoder.
    pub model: ModelConfig,
    /// Projection head (None without contrast).
    pub head: Option<HeadConfig>,
    /// SANE tokens: (token size, 0 = widest row; window, 0 = whole sequence).
    pub sane_tokens: Option<(usize, usize)>,
    /// Per-layer standardization of the weights.
    pub normalize: bool,
    /// Checkpoints used.
    pub selection: Selection,
    /// `[augment]`.
    pub augment: AugmentSection,
    /// `[loss]`.
    pub loss: LossSection,
    /// `[train]`: epochs, batches, optimizer, schedule, evaluation and checkpoints.
    pub train: TrainSection,
}

impl TrainSpec {
    /// Epochs.
    pub fn epochs(&self) -> u64 {
        self.train.epochs as u64
    }

    /// Models per batch (full batches only).
    pub fn batch_size(&self) -> usize {
        self.train.batch_size
    }
}

/// The behavioural comparison `[loss]` asks for.
pub fn behaviour_kind(l: &LossSection) -> BehaviourKind {
    match l.behaviour {
        hyperzoo_core::experiment::BehaviourKind::SoftmaxMse => BehaviourKind::SoftmaxMse,
        hyperzoo_core::experiment::BehaviourKind::Kl => BehaviourKind::Distillation {
            t: l.temperature_kd,
        },
    }
}

/// The optimizer `[train]` asks for.
pub fn optimizer_choice(t: &TrainSection) -> OptimizerChoice {
    match t.optimizer {
        hyperzoo_core::experiment::Optimizer::AdamW => OptimizerChoice::AdamW {
            weight_decay: t.weight_decay,
        },
        hyperzoo_core::experiment::Optimizer::Adam => OptimizerChoice::Adam {
            weight_decay: t.weight_decay,
        },
    }
}

pub use hyperzoo_core::metrics::{EpochRecord, ProbeRecord, ProbeScore, Record, StepRecord};

/// What a run reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// Training starts (or resumes from a checkpoint at `resumed_at`).
    Started {
        /// Steps per epoch.
        steps_per_epoch: u64,
        /// Steps of the whole run.
        total_steps: u64,
        /// Step of the checkpoint resumed from.
        resumed_at: Option<u64>,
        /// Training / validation / test checkpoints.
        rows: [usize; 3],
        /// Trainable parameters of the model.
        params: usize,
    },
    /// A step.
    Step(StepRecord),
    /// An evaluation.
    Epoch(EpochRecord),
    /// Linear probes from the embeddings.
    Probe(ProbeRecord),
    /// A checkpoint was written.
    Checkpoint {
        /// Its step.
        step: u64,
    },
}

/// Position and state of the trainer, saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    step: u64,
    epoch: u64,
    batch: u64,
    scales: FirstBatchScales,
    schedule: Schedule,
    best_val: Option<f64>,
    epoch_loss_sum: f64,
    epoch_loss_n: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// All epochs done.
    Finished {
        /// Final validation loss, if evaluated.
        val_loss: Option<f64>,
        /// Final validation R².
        val_r2: Option<f64>,
    },
    /// Cancelled; a checkpoint at `step` was written.
    Cancelled {
        /// Step of the checkpoint.
        step: u64,
    },
}

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
    let mut splits = super::data::load_splits(zoo, &spec.selection, spec.seed)?;
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
            Representation::sane(tok, window)?
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

fn tensor3(x: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(x, shape), device)
}

fn positions(batch: &BatchData, device: &Device) -> Option<Tensor<3, Int>> {
    batch.pos.as_ref().map(|p| {
        Tensor::from_data(
            TensorData::new(p.clone(), [batch.shape[0], batch.shape[1], 3]),
            device,
        )
    })
}

/// Flat weights `[N, P]` of model outputs/inputs `[N, T, D]` in the run's representation.
fn to_flat(x: Tensor<3>, repr: &Representation, slots: Option<&Tensor<1, Int>>) -> Tensor<2> {
    let [n, t, d] = x.dims();
    match (repr, slots) {
        (Representation::Flat, _) => x.reshape([n, d]),
        (_, Some(s)) => x.reshape([n, t * d]).select(1, s.clone()),
        _ => unreachable!("SANE flat mapping needs the slot index"),
    }
}

/// Reconstructions of every row of `data` in flat, normalised layout (`[rows, P]`, on the
/// CPU), from an evaluation-mode model. SANE sequences longer than the window are covered by
/// consecutive windows (the last one ending at the sequence's end).
pub fn reconstruct(
    model: &HyperRep,
    data: &SplitData,
    repr: &Representation,
    batch: usize,
    device: &Device,
) -> Result<Vec<f32>> {
    let p = data.params;
    let mut out = vec![0f32; data.len() * p];
    let starts = super::data::window_starts(repr);
    let ids: Vec<usize> = (0..data.len()).collect();
    for chunk in ids.chunks(batch.max(1)) {
        for &start in &starts {
            let b = clean(data, chunk, repr, start)?;
            let x = tensor3(b.x.clone(), b.shape, device);
            let pos = positions(&b, device);
            let mut ctx = Ctx::eval();
            let z = model.encode(x, pos.clone(), &mut ctx);
            let y: Vec<f32> = model
                .decode(z, pos, &mut ctx)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Shape {
                    what: "reconstruction".into(),
                    found: format!("{e:?}"),
                    expected: "f32 data".into(),
                })?;
            match repr {
                Representation::Flat => {
                    for (k, &i) in chunk.iter().enumerate() {
                        out[i * p..(i + 1) * p].copy_from_slice(&y[k * p..(k + 1) * p]);
                    }
                }
                Representation::Sane {
                    tokenizer,
                    window,
                    slot_of_param,
                } => {
                    let ts = tokenizer.token_size();
                    let (lo, hi) = (start * ts, (start + window) * ts);
                    let per = window * ts;
                    for (k, &i) in chunk.iter().enumerate() {
                        for (j, &slot) in slot_of_param.iter().enumerate() {
                            if slot >= lo && slot < hi {
                                out[i * p + j] = y[k * per + slot - lo];
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Reconstruction MSE and R² (1 − SSE / SS around the data's own mean) of `recon` against
/// `data` (both normalised, flat).
pub fn r2(data: &SplitData, recon: &[f32]) -> (f64, f64) {
    let p = data.params;
    let n = data.len();
    let mut mean = vec![0f64; p];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(data.row(i)) {
            *m += f64::from(v) / n as f64;
        }
    }
    let (mut sse, mut sst) = (0f64, 0f64);
    for i in 0..n {
        for (j, &v) in data.row(i).iter().enumerate() {
            sse += (f64::from(recon[i * p + j]) - f64::from(v)).powi(2);
            sst += (f64::from(v) - mean[j]).powi(2);
        }
    }
    let mse = sse / (n * p).max(1) as f64;
    (mse, if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN })
}

fn write_checkpoint(
    run: &RunDir,
    name: Option<&str>,
    model: &HyperRep,
    optim: &burn::optim::ModuleOptimizer,
    state: &TrainerState,
) -> Result<()> {
    let to = match name {
        Some(n) => run.dir().join("checkpoints").join(n),
        None => run.checkpoint_dir(state.step),
    };
    let store_err = |what: &str, e: String| {
        Error::Core(hyperzoo_core::Error::format(
            run.dir(),
            format!("writing {what}: {e}"),
        ))
    };
    run.write_checkpoint(&to, |dir| {
        model
            .clone()
            .into_record()
            .save(dir.join("model.bpk"))
            .map_err(|e| hyperzoo_core::Error::format(dir, format!("model: {e:?}")))?;
        optim
            .save(dir.join("optimizer.bpk"))
            .map_err(|e| hyperzoo_core::Error::format(dir, format!("optimizer: {e:?}")))?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| hyperzoo_core::Error::format(dir, e.to_string()))?;
        hyperzoo_core::fsutil::write_atomic(&dir.join("state.json"), &json)
    })
    .map_err(|e| store_err("checkpoint", e.to_string()))
}

/// Loads the model of a checkpoint directory into `model`.
pub fn load_model(model: HyperRep, dir: &Path) -> Result<HyperRep> {
    let path = dir.join("model.bpk");
    let record = ModuleRecord::load(&path).map_err(|e| {
        Error::Core(hyperzoo_core::Error::format(
            &path,
            format!("not a readable model checkpoint: {e:?}"),
        ))
    })?;
    model.try_load_record(record).map_err(|e| {
        Error::Core(hyperzoo_core::Error::format(
            &path,
            format!("does not fit the configured model: {e:?}"),
        ))
    })
}

fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join("state.json");
    let text = std::fs::read(&path)
        .map_err(|e| Error::Core(hyperzoo_core::Error::io("reading", &path, e)))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Core(hyperzoo_core::Error::format(&path, e.to_string())))
}

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
            expected: "a zoo generated by hyperzoo (its definition names the dataset), or query_set = random".into(),
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

/// Trains `spec` on `zoo` into `run`, resuming from the run's last checkpoint if it has one.
/// `images` are the zoo's training images (behavioural queries from data). Reports through
/// `on_event`; `cancel` stops at the next step with a checkpoint.
#[allow(clippy::too_many_arguments)] // the run's inputs, outputs and controls, each distinct
pub fn train(
    spec: &TrainSpec,
    zoo: &Zoo,
    prepared: &Prepared,
    run: &RunDir,
    device: &Device,
    images: Option<&Tensor<4>>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Outcome> {
    let train_rows = prepared.splits[0].len();
    let spe = (train_rows / spec.batch_size()) as u64;
    if spe == 0 {
        return Err(Error::Shape {
            what: "train.batch_size".into(),
            found: format!(
                "{} with {train_rows} training checkpoints",
                spec.batch_size()
            ),
            expected: "at most the number of training checkpoints (batches are full)".into(),
        });
    }
    let total = spe * spec.epochs();
    let ad = device.clone().autodiff();
    let layout = zoo.manifest.arch.layout()?;
    let window = prepared.repr.item_shape(layout.total)[0];
    let mut model = HyperRep::new(
        &spec.model,
        spec.head.as_ref(),
        &layout,
        window,
        spec.seed,
        &ad,
    )?;
    let params = model.num_params();
    let mut optim = optim::build(optimizer_choice(&spec.train));
    let t = &spec.train;
    let schedule = match t.schedule {
        hyperzoo_core::experiment::Schedule::None => Schedule::Constant { lr: t.lr },
        hyperzoo_core::experiment::Schedule::OneCycle => Schedule::OneCycle {
            max_lr: t.lr,
            total,
            pct_start: t.onecycle.pct_start,
            div: t.onecycle.div_factor,
            final_div: t.onecycle.final_div_factor,
        },
        hyperzoo_core::experiment::Schedule::Plateau => Schedule::Plateau {
            lr: t.lr,
            factor: t.plateau.factor,
            patience: t.plateau.patience as u64,
            threshold: t.plateau.threshold,
            best: f64::INFINITY,
            bad_epochs: 0,
        },
    };
    let mut state = TrainerState {
        step: 0,
        epoch: 0,
        batch: 0,
        scales: FirstBatchScales::new(),
        schedule,
        best_val: None,
        epoch_loss_sum: 0.0,
        epoch_loss_n: 0,
    };
    let resumed_at = run.checkpoints()?.last().copied();
    if let Some(step) = resumed_at {
        let dir = run.checkpoint_dir(step);
        model = load_model(model, &dir)?;
        let path = dir.join("optimizer.bpk");
        optim = optim
            .load(&path)
            .map_err(|e| Error::Core(hyperzoo_core::Error::format(&path, format!("{e:?}"))))?;
        state = read_state(&dir)?;
        run.truncate_metrics(state.step)?;
        run.log(&format!("resumed from the checkpoint at step {step}"))?;
    }
    on_event(&Event::Started {
        steps_per_epoch: spe,
        total_steps: total,
        resumed_at,
        rows: [0, 1, 2].map(|i| prepared.splits[i].len()),
        params,
    });

    let slots: Option<Tensor<1, Int>> = match &prepared.repr {
        Representation::Sane { slot_of_param, .. } => {
            let v: Vec<i64> = slot_of_param.iter().map(|&s| s as i64).collect();
            let n = v.len();
            Some(Tensor::from_data(TensorData::new(v, [n]), &ad))
        }
        Representation::Flat => None,
    };
    let (mean, std): (Vec<f32>, Vec<f32>) = match &prepared.standardizer {
        Some(s) => {
            let mut m = vec![0f32; layout.total];
            let mut d = vec![1f32; layout.total];
            for l in &s.layers {
                m[l.offset..l.offset + l.len].fill(l.mean as f32);
                d[l.offset..l.offset + l.len].fill(l.std as f32);
            }
            (m, d)
        }
        None => (vec![0.0; layout.total], vec![1.0; layout.total]),
    };
    let p = layout.total;
    let mean_t = Tensor::<1>::from_data(TensorData::new(mean, [p]), &ad);
    let std_t = Tensor::<1>::from_data(TensorData::new(std, [p]), &ad);
    let loss_std = Tensor::<1>::from_data(TensorData::new(prepared.loss_std.clone(), [p]), &ad);
    let mut nets: HashMap<Activation, PopulationNet> = HashMap::new();
    let train_data = &prepared.splits[0];
    let b = spec.batch_size();
    let mut last_eval: Option<(f64, f64)> = None;

    while state.epoch < spec.epochs() {
        let epoch = state.epoch;
        let mut order: Vec<usize> = (0..train_rows).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            spec.seed ^ epoch.wrapping_mul(0x51ED_2701),
        ));
        let first = state.batch;
        let taken = model;
        let result: Result<(HyperRep, Option<Outcome>)> = std::thread::scope(|scope| {
            let mut model = taken;
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(BatchData, Duration)>>(3);
            let order = &order;
            scope.spawn(move || {
                for k in first..spe {
                    let t0 = Instant::now();
                    let ids = &order[k as usize * b..(k as usize + 1) * b];
                    let mut rng = batch_rng(spec.seed, epoch, k);
                    let r = super::data::views(
                        train_data,
                        ids,
                        &prepared.augment,
                        &prepared.repr,
                        &mut rng,
                    )
                    .map(|batch| (batch, t0.elapsed()));
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            });
            for k in first..spe {
                if cancel.load(Ordering::SeqCst) {
                    write_checkpoint(run, None, &model, &optim, &state)?;
                    on_event(&Event::Checkpoint { step: state.step });
                    return Ok((model, Some(Outcome::Cancelled { step: state.step })));
                }
                let t_wait = Instant::now();
                let (batch, data_time) = rx.recv().map_err(|_| Error::Cancelled)??;
                let wait = t_wait.elapsed();
                let t_step = Instant::now();
                let ids = &order[k as usize * b..(k as usize + 1) * b];
                let lr = state.schedule.lr(state.step);
                let (next, record) = step(
                    spec,
                    prepared,
                    &zoo.manifest.arch,
                    model,
                    &mut optim,
                    &mut state,
                    &batch,
                    ids,
                    lr,
                    &ad,
                    (&mean_t, &std_t, &loss_std, slots.as_ref()),
                    &mut nets,
                    images,
                    zoo.manifest.arch.input,
                )?;
                model = next;
                let step_time = t_step.elapsed();
                state.step += 1;
                state.batch = k + 1;
                state.epoch_loss_sum += record.0;
                state.epoch_loss_n += 1;
                let rec = StepRecord {
                    step: state.step,
                    epoch,
                    loss: record.0,
                    contrast: record.1,
                    structure: record.2,
                    behaviour: record.3,
                    lr,
                    grad_norm: record.4,
                    samples_per_s: b as f64 / (wait + step_time).as_secs_f64(),
                    data_ms: data_time.as_secs_f64() * 1e3,
                    wait_ms: wait.as_secs_f64() * 1e3,
                    step_ms: step_time.as_secs_f64() * 1e3,
                };
                run.append_metric(&Record::Step(rec.clone()))?;
                on_event(&Event::Step(rec));
            }
            Ok((model, None))
        });
        let (trained, outcome) = result?;
        model = trained;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        // Epoch end.
        let train_loss = state.epoch_loss_sum / state.epoch_loss_n.max(1) as f64;
        state.schedule.epoch_end(train_loss);
        state.epoch += 1;
        state.batch = 0;
        state.epoch_loss_sum = 0.0;
        state.epoch_loss_n = 0;
        let last = state.epoch == spec.epochs();
        let mut improved = false;
        if last
            || state
                .epoch
                .is_multiple_of((spec.train.eval_every as u64).max(1))
        {
            let valid = model.valid();
            let val = &prepared.splits[1];
            let (val_loss, val_r2) = if val.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                let recon = reconstruct(&valid, val, &prepared.repr, b, device)?;
                r2(val, &recon)
            };
            last_eval = Some((val_loss, val_r2));
            if val_loss.is_finite() && state.best_val.is_none_or(|best| val_loss < best) {
                state.best_val = Some(val_loss);
                improved = true;
            }
            let rec = EpochRecord {
                step: state.step,
                epoch: state.epoch,
                train_loss,
                val_loss,
                val_r2,
                lr: state.schedule.lr(state.step),
            };
            run.append_metric(&Record::Epoch(rec.clone()))?;
            on_event(&Event::Epoch(rec));
        }
        if spec.train.probe_every > 0
            && (last || state.epoch.is_multiple_of(spec.train.probe_every as u64))
        {
            let probes = probe_scores(&model.valid(), zoo, prepared, b, device)?;
            let rec = ProbeRecord {
                step: state.step,
                epoch: state.epoch,
                probes,
            };
            run.append_metric(&Record::Probe(rec.clone()))?;
            on_event(&Event::Probe(rec));
        }
        if improved {
            write_checkpoint(run, Some("best"), &model, &optim, &state)?;
        }
        if last
            || state
                .epoch
                .is_multiple_of((spec.train.checkpoint_every as u64).max(1))
        {
            write_checkpoint(run, None, &model, &optim, &state)?;
            run.prune_checkpoints(spec.train.keep_last)?;
            on_event(&Event::Checkpoint { step: state.step });
        }
    }
    Ok(Outcome::Finished {
        val_loss: last_eval.map(|e| e.0),
        val_r2: last_eval.map(|e| e.1),
    })
}

type StepTensors<'a> = (
    &'a Tensor<1>,
    &'a Tensor<1>,
    &'a Tensor<1>,
    Option<&'a Tensor<1, Int>>,
);

/// Values of one step: total, contrast, structure, behaviour, gradient norm.
type StepValues = (f64, Option<f64>, Option<f64>, Option<f64>, f64);

/// One optimizer step; returns the updated model and (total, contrast, structure, behaviour,
/// gradient norm).
#[allow(clippy::too_many_arguments)]
fn step(
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

/// Linear probes from the embeddings of the three splits to every property (validation and
/// test scores), for the learning curves of `probe_every`.
fn probe_scores(
    model: &HyperRep,
    zoo: &Zoo,
    prepared: &Prepared,
    batch: usize,
    device: &Device,
) -> Result<Vec<ProbeScore>> {
    use super::eval;
    let mut emb = Vec::with_capacity(3);
    for split in &prepared.splits {
        emb.push(eval::embed(model, split, &prepared.repr, batch, device)?.0);
    }
    let targets = [0, 1, 2].map(|k| eval::targets(zoo, &prepared.splits[k]));
    Ok(
        eval::probe_all("hyper", [&emb[0], &emb[1], &emb[2]], &targets)
            .into_iter()
            .map(|p| ProbeScore {
                property: p.property,
                metric: p.metric,
                val: p.val,
                test: p.test,
            })
            .collect(),
    )
}
