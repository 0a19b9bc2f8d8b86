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
//!
//! Here: the spec ([`TrainSpec`]: the experiment's sections and what the zoo adds) and the
//! loop ([`train`]); in `prepare` the data ([`prepare`]), in `checkpoint` the checkpoints and
//! the trainer's state ([`load_model`]), in `step` one optimisation step. Scoring a
//! reconstruction belongs to evaluation ([`crate::hyper::eval::reconstruct`]).
use super::data::{Augment, BatchData, Representation, Selection, SplitData, batch_rng};
use super::eval::{r2, reconstruct};
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

mod checkpoint;
mod prepare;
mod step;

pub use checkpoint::load_model;
use checkpoint::{TrainerState, read_state, write_checkpoint};
pub use prepare::{Prepared, prepare};
use step::step;

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
    /// Stop after this many steps in all, without evaluating or writing a checkpoint (for
    /// benchmarks, which time steps of models too large to evaluate here; None for runs).
    pub max_steps: Option<u64>,
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
        Representation::Sane { tokenizer, .. } => {
            let v: Vec<i64> = tokenizer.slots().iter().map(|&s| i64::from(s)).collect();
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
                // A step budget ends here, before any evaluation or checkpoint of the epoch.
                if spec.max_steps.is_some_and(|n| state.step >= n) {
                    return Ok((model, Some(Outcome::Cancelled { step: state.step })));
                }
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
