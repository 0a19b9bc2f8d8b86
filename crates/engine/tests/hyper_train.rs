//! Training hyper-representations end to end on a small Tetris zoo: the loss goes down, a run
//! cancelled mid-epoch and resumed ends exactly where an uninterrupted run ends, a diverging
//! run fails naming the step and the term, SANE with the behavioural loss trains.
use hyperzoo_core::experiment::{NoiseKind, OneCycle, Optimizer, Schedule};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::{Zoo, ZooWriter};
use hyperzoo_engine::hyper::data::{Representation, Selection};
use hyperzoo_engine::hyper::eval;
use hyperzoo_engine::hyper::model::{
    Encoding, HeadConfig, HyperRep, ModelConfig, SaneConfig, TransformerConfig,
};
use hyperzoo_engine::hyper::train::{
    AugmentSection, ContrastKind, Event, LossSection, Outcome, QuerySet, ReconTarget,
    ReconstructionKind, TrainSection, TrainSpec, load_model, prepare, train,
};
use hyperzoo_engine::zoo::dataset::load_zoo_data;
use hyperzoo_engine::zoo::train::{GenerateOptions, generate};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

const ZOO: &str = r#"
    name = "tetris-tiny"
    arch = "tetris_mlp"
    dataset = "tetris"
    epochs = 3
    [data]
    val_size = 200
    [models]
    split = [0.6, 0.2, 0.2]
    [hparams]
    activation = "tanh"
    init = "kaiming_uniform"
    optimizer = "adam"
    lr = 1e-2
    weight_decay = 0.0
    dropout = 0.0
    batch_size = 10
    [grid]
    seed = { from = 1, to = 20 }
"#;

fn device() -> hyperzoo_engine::burn::prelude::Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

fn tiny_zoo(dir: &Path) -> Zoo {
    let def = ZooDef::parse(Path::new("tetris-tiny.toml"), ZOO).unwrap();
    let dev = device();
    let data = load_zoo_data(&def, Path::new("/nonexistent"), &dev).unwrap();
    let writer = ZooWriter::create_or_resume(dir, &def, Default::default(), "test").unwrap();
    let cancel = AtomicBool::new(false);
    generate(
        &def,
        &data,
        &writer,
        &dev,
        &GenerateOptions::default(),
        &cancel,
        &mut |_| {},
    )
    .unwrap();
    writer.finish(&def).unwrap()
}

fn spec() -> TrainSpec {
    TrainSpec {
        seed: 5,
        model: ModelConfig::Transformer(TransformerConfig {
            encoding: Encoding::Neuron,
            compression_token: true,
            d_model: 16,
            heads: 2,
            layers: 1,
            d_ff: 32,
            latent: 8,
            dropout: 0.1,
        }),
        head: Some(HeadConfig::Mlp {
            layers: 2,
            hidden: 16,
            out: 8,
        }),
        sane_tokens: None,
        normalize: true,
        selection: Selection {
            epochs: vec![1, 2, 3],
            max_abs_weight: f64::INFINITY,
            max_models: None,
            canonicalize: false,
        },
        augment: AugmentSection {
            permutation: true,
            noise: 0.05,
            noise_kind: NoiseKind::Additive,
            erase: 0.2,
            erase_scale: [0.02, 0.33],
            ..AugmentSection::default()
        },
        loss: LossSection {
            gamma: 0.3,
            beta: 1.0,
            contrast: ContrastKind::Ntxent,
            temperature: 0.1,
            reconstruction: ReconstructionKind::Mse,
            queries: 16,
            query_set: QuerySet::Random,
            normalize_terms: true,
            target: ReconTarget::Clean,
            ..LossSection::default()
        },
        train: TrainSection {
            epochs: 4,
            batch_size: 8,
            optimizer: Optimizer::AdamW,
            weight_decay: 1e-4,
            lr: 3e-3,
            schedule: Schedule::OneCycle,
            onecycle: OneCycle {
                pct_start: 0.3,
                div_factor: 25.0,
                final_div_factor: 1e4,
            },
            grad_clip: 1.0,
            eval_every: 1,
            probe_every: 0,
            checkpoint_every: 1,
            keep_last: 2,
            ..TrainSection::default()
        },
        max_steps: None,
    }
}

/// Trains `spec` into `run_dir`; cancels once `cancel_at` steps are done. Returns the outcome
/// and the step losses seen.
fn run(
    spec: &TrainSpec,
    zoo: &Zoo,
    run_dir: &Path,
    cancel_at: Option<u64>,
) -> (Result<Outcome, hyperzoo_engine::Error>, Vec<(u64, f64)>) {
    let dev = device();
    let prepared = prepare(spec, zoo).unwrap();
    let run = RunDir::create(run_dir).unwrap();
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    let mut on = |e: &Event| {
        if let Event::Step(s) = e {
            losses.push((s.step, s.loss));
            if Some(s.step) == cancel_at {
                cancel.store(true, Ordering::SeqCst);
            }
        }
    };
    let out = train(spec, zoo, &prepared, &run, &dev, None, &cancel, &mut on);
    (out, losses)
}

#[test]
fn resumed_run_ends_where_an_uninterrupted_run_ends() {
    resume_matches(&spec());
}

#[test]
fn resumed_sane_run_ends_where_an_uninterrupted_run_ends() {
    resume_matches(&sane_spec(0.1));
}

#[test]
fn a_step_budget_stops_without_evaluating_or_writing_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = tiny_zoo(&tmp.path().join("zoo"));
    // One step, and a whole epoch's steps (where the epoch would end with an evaluation and a
    // checkpoint: spec() evaluates and checkpoints every epoch).
    let per_epoch = {
        let s = sane_spec(0.0);
        (prepare(&s, &zoo).unwrap().splits[0].len() / s.batch_size()) as u64
    };
    assert!(per_epoch >= 2, "{per_epoch} steps per epoch");
    for budget in [1, per_epoch] {
        let spec = TrainSpec {
            max_steps: Some(budget),
            ..sane_spec(0.0)
        };
        let dir = tmp.path().join(format!("run{budget}"));
        let (out, losses) = run(&spec, &zoo, &dir, None);
        assert!(matches!(out.unwrap(), Outcome::Cancelled { step } if step == budget));
        assert_eq!(losses.len() as u64, budget);
        let written = std::fs::read_dir(dir.join("checkpoints")).map_or(0, |d| d.count());
        assert_eq!(
            written, 0,
            "no checkpoint written with a budget of {budget}"
        );
        let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
        assert!(
            !metrics.contains("val_r2"),
            "no evaluation with a budget of {budget}"
        );
    }
}

/// [`spec`] with a small SANE (tokens of 8, masked reconstruction) and `dropout`.
fn sane_spec(dropout: f64) -> TrainSpec {
    let mut spec = spec();
    spec.model = ModelConfig::Sane(SaneConfig {
        token_size: 8,
        d_model: 16,
        heads: 2,
        layers: 1,
        latent: 4,
        max_positions: [32, 4, 8],
        dropout,
    });
    spec.head = Some(HeadConfig::Sane);
    spec.sane_tokens = Some((8, 0));
    spec.loss.reconstruction = ReconstructionKind::Masked;
    spec
}

/// Trains `spec` whole, and again cancelled in the middle of an epoch and resumed: the
/// resumed run's step losses, final validation and metrics equal the whole run's, bit for bit.
fn resume_matches(spec: &TrainSpec) {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = tiny_zoo(&tmp.path().join("zoo"));
    let spec = spec.clone();
    let (whole, losses) = run(&spec, &zoo, &tmp.path().join("a"), None);
    let Outcome::Finished { val_r2, .. } = whole.unwrap() else {
        panic!("finished")
    };
    assert!(val_r2.unwrap().is_finite());
    let steps = losses.len() as u64;
    assert!(steps >= 8, "{steps} steps");
    // The loss goes down over training.
    let head: f64 = losses[..3].iter().map(|l| l.1).sum::<f64>() / 3.0;
    let tail: f64 = losses[losses.len() - 3..].iter().map(|l| l.1).sum::<f64>() / 3.0;
    assert!(tail < head, "loss {head} -> {tail}");

    // Cancel in the middle of an epoch, then resume.
    let b = tmp.path().join("b");
    let (first, _) = run(&spec, &zoo, &b, Some(steps / 2 + 1));
    assert!(matches!(first.unwrap(), Outcome::Cancelled { .. }));
    let (second, rest) = run(&spec, &zoo, &b, None);
    assert!(matches!(second.unwrap(), Outcome::Finished { .. }));
    assert_eq!(rest.first().unwrap().0, steps / 2 + 2);
    for (s, l) in &rest {
        let (_, expected) = losses[*s as usize - 1];
        assert_eq!(*l, expected, "step {s}");
    }
    // Same final model: the validation reconstruction after the last epoch is identical
    // (the model files themselves differ only in burn's random parameter ids).
    let final_val = |d: &Path| {
        let m = RunDir::create(d).unwrap().metrics().unwrap();
        let last = m
            .iter()
            .rev()
            .find(|v| v["kind"] == "epoch")
            .unwrap()
            .clone();
        (
            last["val_loss"].as_f64().unwrap(),
            last["val_r2"].as_f64().unwrap(),
        )
    };
    assert_eq!(final_val(&tmp.path().join("a")), final_val(&b));
    // metrics.jsonl has every step once.
    let m = RunDir::create(&b).unwrap().metrics().unwrap();
    let step_lines = m.iter().filter(|v| v["kind"] == "step").count() as u64;
    assert_eq!(step_lines, steps);
}

#[test]
fn diverging_run_fails_naming_the_step_and_term() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = tiny_zoo(&tmp.path().join("zoo"));
    let mut spec = spec();
    spec.train.lr = 1e12;
    spec.train.grad_clip = 0.0;
    spec.train.schedule = Schedule::None;
    spec.train.optimizer = Optimizer::Adam;
    spec.train.weight_decay = 0.0;
    let (out, _) = run(&spec, &zoo, &tmp.path().join("r"), None);
    let e = out.unwrap_err().to_string();
    assert!(e.contains("step"), "{e}");
}

#[test]
fn sane_with_behavioural_loss_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = tiny_zoo(&tmp.path().join("zoo"));
    let mut spec = sane_spec(0.0);
    spec.loss.beta = 0.5;
    spec.augment.noise = 0.1;
    spec.augment.noise_kind = NoiseKind::Multiplicative;
    spec.train.epochs = 2;
    spec.train.probe_every = 1;
    let dir = tmp.path().join("s");
    let (out, losses) = run(&spec, &zoo, &dir, None);
    assert!(matches!(out.unwrap(), Outcome::Finished { .. }));
    assert!(losses.iter().all(|l| l.1.is_finite()));

    // probe_every = 1: a probe record per epoch, scoring the embedding on every property.
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let m = hyperzoo_core::metrics::Metrics::parse(&text);
    assert_eq!(m.probes.iter().map(|p| p.epoch).collect::<Vec<_>>(), [1, 2]);
    for property in ["test_acc", "epoch"] {
        let series = m.probe_series(property);
        assert_eq!(series.len(), 2, "{property}: {:?}", m.probes);
        assert!(series.iter().all(|(_, r2)| *r2 <= 1.0), "{series:?}");
    }

    // SANE's per-layer embeddings: one block of `latent` values per parametric layer, whose
    // token-weighted mean is the model embedding when one window covers the sequence.
    let prepared = prepare(&spec, &zoo).unwrap();
    let dev = device();
    let model = last_model(&spec, &zoo, &prepared, &RunDir::create(&dir).unwrap());
    let test = &prepared.splits[2];
    let (whole, dz) = eval::embed(&model, test, &prepared.repr, 16, &dev).unwrap();
    let (layers, width) = eval::embed_layers(&model, test, &prepared.repr, 16, &dev)
        .unwrap()
        .expect("SANE has per-layer embeddings");
    let Representation::Sane { tokenizer, .. } = &prepared.repr else {
        panic!("SANE representation")
    };
    let counts: Vec<usize> = tokenizer.layers().iter().map(|l| l.token_count()).collect();
    assert_eq!(width, counts.len() * dz);
    assert_eq!(layers.len(), test.len() * width);
    let total: usize = counts.iter().sum();
    if tokenizer.token_count() <= prepared.repr.item_shape(zoo.manifest.params)[0] {
        for r in 0..test.len() {
            for d in 0..dz {
                let mixed: f64 = counts
                    .iter()
                    .enumerate()
                    .map(|(l, &c)| layers[r * width + l * dz + d] * c as f64)
                    .sum::<f64>()
                    / total as f64;
                let want = whole[r * dz + d];
                assert!(
                    (mixed - want).abs() < 1e-5,
                    "row {r} dim {d}: {mixed} vs {want}"
                );
            }
        }
    }
}

/// Claim (a)'s mechanism in seconds: from the same start (same seed, same batches), a few
/// epochs with the behavioural term decode networks that agree with the originals on the test
/// images more often than structure alone does.
#[test]
fn the_behavioural_term_raises_agreement_over_structure_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = tiny_zoo(&tmp.path().join("zoo"));
    let def = ZooDef::parse(Path::new("tetris-tiny.toml"), ZOO).unwrap();
    let dev = device();
    let data = load_zoo_data(&def, Path::new("/nonexistent"), &dev).unwrap();
    let test_images = hyperzoo_engine::zoo::dataset::TensorSet {
        x: data.test.x.clone(),
        y: data.test.y.clone(),
    };
    let agreement = |beta: f64| {
        let mut spec = sane_spec(0.0);
        spec.loss.gamma = 0.0;
        spec.loss.beta = beta;
        spec.loss.queries = 32;
        spec.loss.query_set = QuerySet::Data;
        spec.augment.noise = 0.0;
        spec.augment.erase = 0.0;
        spec.train.epochs = 3;
        let dir = tmp.path().join(format!("beta-{beta}"));
        let prepared = prepare(&spec, &zoo).unwrap();
        let run_dir = RunDir::create(&dir).unwrap();
        let cancel = AtomicBool::new(false);
        let out = train(
            &spec,
            &zoo,
            &prepared,
            &run_dir,
            &dev,
            Some(&data.train.x),
            &cancel,
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(out, Outcome::Finished { .. }));
        let model = last_model(&spec, &zoo, &prepared, &run_dir);
        let (rec, _) =
            eval::reconstruction(&model, &prepared, &zoo, Some(&test_images), 16, &dev).unwrap();
        rec.agreement.expect("agreement on test images").mean
    };
    let structure = agreement(1.0);
    let behaviour = agreement(0.5);
    eprintln!("agreement: structure {structure:.4}, structure + behaviour {behaviour:.4}");
    assert!(
        behaviour > structure + 0.02,
        "agreement with the behavioural term {behaviour:.4} vs structure alone {structure:.4}"
    );
}

/// The model of `run`'s last checkpoint.
fn last_model(
    spec: &TrainSpec,
    zoo: &Zoo,
    prepared: &hyperzoo_engine::hyper::train::Prepared,
    run: &RunDir,
) -> HyperRep {
    let layout = zoo.manifest.arch.layout().unwrap();
    let window = prepared.repr.item_shape(layout.total)[0];
    let model = HyperRep::new(
        &spec.model,
        spec.head.as_ref(),
        &layout,
        window,
        spec.seed,
        &device(),
    )
    .unwrap();
    let last = *run.checkpoints().unwrap().last().unwrap();
    load_model(model, &run.checkpoint_dir(last)).unwrap()
}
