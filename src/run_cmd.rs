//! `hyperzoo run <experiment.toml>`: trains the experiment's runs (one per grid combination)
//! headless, each into `<workspace>/runs/<run name>/`, generating the zoo first when the
//! experiment names a zoo definition that has not been generated. A run already in its
//! directory resumes from its last checkpoint; a finished one is skipped. A failing run is
//! recorded as failed and the next runs go on.
use crate::cli::{GenerateArgs, Global, RunArgs};
use anyhow::{Context, Result, bail};
use hyperzoo_core::experiment::{self as exp, Experiment};
use hyperzoo_core::paths;
use hyperzoo_core::run::{RunDir, RunState, Status};
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::Zoo;
use hyperzoo_engine::burn::prelude::*;
use hyperzoo_engine::device;
use hyperzoo_engine::hyper::data::Selection;
use hyperzoo_engine::hyper::loss::{BehaviourKind, TermScaling};
use hyperzoo_engine::hyper::model::{
    Encoding, FcConfig, HeadConfig, ModelConfig, SaneConfig, TransformerConfig,
};
use hyperzoo_engine::hyper::optim::OptimizerChoice;
use hyperzoo_engine::hyper::train::{
    self as hyper_train, AugmentSpec, Contrast, Event, LossSpec, Outcome, QuerySet, Recon,
    ScheduleSpec, Target, TrainSpec,
};
use hyperzoo_engine::zoo::dataset::load_zoo_data;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

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
                hyperzoo_core::tokens::SaneTokenizer::whole_rows(&layout)?
            } else {
                hyperzoo_core::tokens::SaneTokenizer::new(&layout, s.token_size)?
            };
            let needed = tok.max_positions();
            for (k, (&have, &need)) in s.max_positions.iter().zip(&needed).enumerate() {
                if have < need {
                    bail!(
                        "{}: model.max_positions[{k}] = {have} is too small for zoo '{}' (its tokens need {need}: {needed:?})",
                        e.path().display(),
                        zoo.manifest.name
                    );
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
                bail!(
                    "{}: zoo.epochs includes {bad}, but zoo '{}' has checkpoints {:?}",
                    e.path().display(),
                    zoo.manifest.name,
                    zoo.manifest.checkpoints
                );
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

/// The zoo of an experiment, generated first if it comes from a definition not yet generated.
fn zoo_of(g: &Global, e: &Experiment) -> Result<PathBuf> {
    let ws = paths::workspace_dir(g.workspace.clone()).path;
    let loc = e.zoo_location(&ws);
    if !e.zoo.is_definition() {
        if !loc.join("zoo.toml").exists() {
            bail!(
                "{}: zoo.path '{}' is not a zoo (no zoo.toml); generate it with `hyperzoo zoo generate` or give zoo.definition",
                e.path().display(),
                loc.display()
            );
        }
        return Ok(loc);
    }
    let def =
        ZooDef::load(&loc).with_context(|| format!("{}: zoo.definition", e.path().display()))?;
    let dir = ws.join("zoos").join(&def.name);
    let complete = Zoo::open(&dir).is_ok();
    if !complete {
        crate::say!(
            "zoo {} not generated yet: generating it from {}",
            def.name,
            loc.display()
        );
        let code = crate::zoo_cmd::generate(
            g,
            &GenerateArgs {
                file: loc.clone(),
                out: Some(dir.clone()),
                shard: None,
            },
        )?;
        if code != ExitCode::SUCCESS || Zoo::open(&dir).is_err() {
            bail!("generating zoo {} did not complete", def.name);
        }
    }
    Ok(dir)
}

/// Training images of a generated zoo's dataset (behavioural queries from data).
fn query_images(g: &Global, zoo: &Zoo, dev: &Device) -> Result<Option<Tensor<4>>> {
    if zoo.manifest.definition.is_empty() {
        return Ok(None);
    }
    let def = ZooDef::parse(&zoo.dir.join("zoo.toml"), &zoo.manifest.definition)?;
    let data_dir = paths::data_dir(g.data_dir.clone()).path;
    let data = load_zoo_data(&def, &data_dir, dev)?;
    Ok(Some(data.train.x))
}

/// `hyperzoo run`.
pub fn run(g: &Global, a: &RunArgs) -> Result<ExitCode> {
    let e = Experiment::load(&a.file)?;
    let runs = e.expand()?;
    let ws = paths::workspace_dir(g.workspace.clone()).path;
    let runs_dir = a.out.clone().unwrap_or_else(|| ws.join("runs"));
    let cancel = crate::cancel_flag();
    let mut failed = Vec::new();
    crate::say!(
        "experiment {}: {} run(s) -> {}",
        e.name,
        runs.len(),
        runs_dir.display()
    );
    for (name, run_exp) in &runs {
        let dir = runs_dir.join(name);
        match one_run(g, a, run_exp, &dir) {
            Ok(RunEnd::Cancelled) => {
                crate::say!(
                    "{name}: interrupted; its checkpoint is kept, run the same command to resume"
                );
                return Ok(ExitCode::from(130));
            }
            Ok(_) => {}
            Err(err) => {
                let msg = format!("{err:#}");
                crate::say!("{name}: failed: {msg}");
                // Record the failure in the run's directory only if it holds this run (a
                // directory refused for holding another configuration is left as it is).
                let ours = std::fs::read_to_string(dir.join("config.toml"))
                    .is_ok_and(|c| c == with_absolute_zoo(g, run_exp).to_toml());
                if ours && let Ok(rd) = RunDir::create(&dir) {
                    let prev = rd.status().ok().flatten();
                    let _ = rd.set_status(&Status {
                        state: RunState::Failed,
                        step: prev.as_ref().map_or(0, |s| s.step),
                        epoch: prev.as_ref().map_or(0, |s| s.epoch),
                        epochs: run_exp.train.epochs as u64,
                        message: msg.clone(),
                        device: prev.map(|s| s.device).unwrap_or_default(),
                    });
                    let _ = rd.log(&format!("failed: {msg}"));
                }
                failed.push(name.clone());
            }
        }
        if cancel.load(Ordering::SeqCst) {
            return Ok(ExitCode::from(130));
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        crate::say!("{} run(s) failed: {}", failed.len(), failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

enum RunEnd {
    Finished,
    Skipped,
    Cancelled,
}

/// The experiment with its zoo location made absolute, so the run directory's config.toml
/// means the same wherever it is read from.
fn with_absolute_zoo(g: &Global, e: &Experiment) -> Experiment {
    e.with_absolute_zoo(&paths::workspace_dir(g.workspace.clone()).path)
}

fn one_run(g: &Global, a: &RunArgs, e: &Experiment, dir: &Path) -> Result<RunEnd> {
    let config = with_absolute_zoo(g, e).to_toml();
    let run = RunDir::create(dir)?;
    let cfg_path = run.path("config.toml");
    if cfg_path.exists() {
        let old = std::fs::read_to_string(&cfg_path)?;
        if old != config {
            bail!(
                "{} holds a run with a different configuration; delete it or choose another --out",
                dir.display()
            );
        }
        if let Some(s) = run.status()?
            && s.state == RunState::Finished
        {
            crate::say!("{}: already finished; skipping", e.name);
            return Ok(RunEnd::Skipped);
        }
    } else {
        run.write("config.toml", config.as_bytes())?;
    }
    let zoo_dir = match zoo_of(g, e) {
        Ok(dir) => dir,
        // Stopped while its zoo was being generated: the zoo's finished epochs are kept and
        // the run is resumable, not failed.
        Err(_) if crate::cancel_flag().load(Ordering::SeqCst) => {
            let _ = run.log("stopped while its zoo was being generated");
            let _ = run.set_status(&Status {
                state: RunState::Cancelled,
                step: 0,
                epoch: 0,
                epochs: e.train.epochs as u64,
                message: "stopped while its zoo was being generated; resumable".into(),
                device: String::new(),
            });
            return Ok(RunEnd::Cancelled);
        }
        Err(err) => return Err(err),
    };
    let zoo = Zoo::open(&zoo_dir)?;
    let spec = train_spec(e, &zoo)?;
    let dev_spec = if g.device == hyperzoo_core::device::DeviceSpec::default() {
        e.device
    } else {
        g.device
    };
    let dev = device::resolve(dev_spec)?;
    let prepared = hyper_train::prepare(&spec, &zoo)?;
    if let Some(s) = &prepared.standardizer {
        run.write(
            "normalization.json",
            &serde_json::to_vec_pretty(s).expect("serializable"),
        )?;
    }
    let needs_images = spec.loss.beta < 1.0 && spec.loss.query_set != QuerySet::Random;
    let images = if needs_images {
        query_images(g, &zoo, &dev.device)?
    } else {
        None
    };
    let device_name = dev.to_string();
    let status = |state, step, epoch, message: String| Status {
        state,
        step,
        epoch,
        epochs: spec.epochs,
        message,
        device: device_name.clone(),
    };
    run.set_status(&status(RunState::Running, 0, 0, String::new()))?;
    run.log(&format!(
        "run {} on zoo {} ({}), device {}",
        e.name,
        zoo.manifest.name,
        zoo.dir.display(),
        dev
    ))?;
    let start = Instant::now();
    let terminal = std::io::stderr().is_terminal()
        && !crate::QUIET.load(std::sync::atomic::Ordering::Relaxed)
        && !a.quiet;
    let bar = if terminal {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut last = (0u64, 0u64);
    let mut spe = 1u64;
    let name = e.name.clone();
    let cancel = crate::cancel_flag();
    // Training runs on this thread (a run launched from the TUI is on its own thread already):
    // LibTorch computes measurably slower from a freshly spawned thread here (2x on the
    // quickstart), see docs/BENCHMARKS.md.
    let mut on = |ev: &Event| match ev {
        Event::Started {
            steps_per_epoch,
            total_steps,
            resumed_at,
            rows,
            params,
        } => {
            spe = *steps_per_epoch;
            bar.set_length(*total_steps);
            let line = format!(
                "{name}: {} train / {} val / {} test checkpoints, model {params} parameters, {total_steps} steps{}",
                rows[0],
                rows[1],
                rows[2],
                resumed_at.map_or(String::new(), |s| format!(", resuming at step {s}"))
            );
            bar.println(&line);
            if bar.is_hidden() {
                crate::say!("{line}");
            }
        }
        Event::Step(s) => {
            last = (s.step, s.epoch);
            bar.set_position(s.step);
            bar.set_message(format!(
                "epoch {} loss {:.4} lr {:.2e} {:.0} samples/s",
                s.epoch + 1,
                s.loss,
                s.lr,
                s.samples_per_s
            ));
            if bar.is_hidden() && (s.step % spe.max(1) == 0 || s.step == 1) {
                crate::say!(
                    "{name}: step {} epoch {} loss {:.5} lr {:.3e} {:.0} samples/s",
                    s.step,
                    s.epoch + 1,
                    s.loss,
                    s.lr,
                    s.samples_per_s
                );
            }
        }
        Event::Epoch(r) => {
            let line = format!(
                "{name}: epoch {} train loss {:.5} val loss {:.5} val R² {:.4}",
                r.epoch, r.train_loss, r.val_loss, r.val_r2
            );
            if bar.is_hidden() {
                crate::say!("{line}");
            } else {
                bar.println(line);
            }
        }
        Event::Probe(r) => {
            let scores: Vec<String> = r
                .probes
                .iter()
                .map(|p| format!("{} {:.3}", p.property, p.test))
                .collect();
            let line = format!(
                "{name}: epoch {} probes (test R²/accuracy): {}",
                r.epoch,
                scores.join(", ")
            );
            if bar.is_hidden() {
                crate::say!("{line}");
            } else {
                bar.println(line);
            }
        }
        Event::Checkpoint { step } => {
            // The store's view of progress (the TUI lists step and epoch from status.toml).
            let _ = run.set_status(&status(
                RunState::Running,
                *step,
                step / spe.max(1),
                String::new(),
            ));
        }
    };
    let outcome = hyper_train::train(
        &spec,
        &zoo,
        &prepared,
        &run,
        &dev.device,
        images.as_ref(),
        &cancel,
        &mut on,
    );
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    match outcome? {
        Outcome::Cancelled { step } => {
            run.set_status(&status(
                RunState::Cancelled,
                step,
                last.1,
                "cancelled; resumable".into(),
            ))?;
            Ok(RunEnd::Cancelled)
        }
        Outcome::Finished { val_loss, val_r2 } => {
            let msg = format!(
                "finished in {secs:.1} s: val loss {}, val R² {}",
                val_loss.map_or("-".into(), |v| format!("{v:.5}")),
                val_r2.map_or("-".into(), |v| format!("{v:.4}"))
            );
            run.set_status(&status(
                RunState::Finished,
                last.0,
                spec.epochs,
                msg.clone(),
            ))?;
            run.log(&msg)?;
            crate::tell!("{}: {msg} ({})", e.name, dir.display());
            Ok(RunEnd::Finished)
        }
    }
}
