//! `hyperzoo bench hyper`: training samples per second of a hyper-representation model, to set
//! beside `benches/hyper_baseline.py` (the same model in plain PyTorch) on the same machine,
//! same batch, same thread count. The run is a real `hyperzoo` training run (views, augmentation
//! on the producer thread, losses, optimizer) on a synthetic zoo of random networks, so what is
//! timed is what an experiment pays per step.
use crate::cli::{BenchHyperArgs, Global, HyperBenchModel};
use anyhow::Result;
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_core::experiment::{BehaviourKind, Optimizer, Schedule};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::ModelSplit;
use hyperzoo_core::zoo::store::{Manifest, ModelRow, NetStatus, Record, write_zoo};
use hyperzoo_engine::device;
use hyperzoo_engine::hyper::data::Selection;
use hyperzoo_engine::hyper::model::{
    Encoding, HeadConfig, ModelConfig, SaneConfig, TransformerConfig,
};
use hyperzoo_engine::hyper::train::{
    AugmentSection, ContrastKind, Event, LossSection, QuerySet, ReconTarget, ReconstructionKind,
    TrainSection, TrainSpec, prepare, train,
};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// A zoo of `n` random networks of `arch` (one checkpoint, epoch 0), nearly all in train.
fn synthetic_zoo(dir: &std::path::Path, arch: &ArchSpec, n: usize) -> Result<()> {
    let p = arch.param_count()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let dist = Normal::new(0.0, 0.1).expect("valid");
    let weights: Vec<f32> = (0..n * p).map(|_| dist.sample(&mut rng) as f32).collect();
    let rows: Vec<ModelRow> = (0..n)
        .map(|id| ModelRow {
            id,
            split: if id + 2 >= n {
                ModelSplit::Val
            } else {
                ModelSplit::Train
            },
            population: 0,
            hparams: vec![("activation".into(), "relu".into())],
        })
        .collect();
    let records: Vec<Record> = (0..n)
        .map(|id| Record {
            id,
            epoch: 0,
            status: NetStatus::Ok,
            train_loss: f64::NAN,
            train_acc: f64::NAN,
            val_loss: f64::NAN,
            val_acc: f64::NAN,
            test_loss: f64::NAN,
            test_acc: f64::NAN,
            ggap: f64::NAN,
        })
        .collect();
    let manifest = Manifest {
        format: hyperzoo_core::zoo::store::FORMAT_VERSION,
        name: "bench".into(),
        description: String::new(),
        status: hyperzoo_core::zoo::store::ZooStatus::Complete,
        dataset: "random".into(),
        models: n,
        params: p,
        epochs: 0,
        checkpoints: vec![0],
        arch: arch.clone(),
        versions: Default::default(),
        command: String::new(),
        definition: String::new(),
        source: "synthetic".into(),
    };
    write_zoo(dir, manifest, &rows, &[(0, weights)], &records)?;
    Ok(())
}

fn spec(a: &BenchHyperArgs, batch: usize) -> TrainSpec {
    let (model, head, sane_tokens, gamma, recon, optimizer) = match a.model {
        HyperBenchModel::R21Mnist => (
            ModelConfig::Transformer(TransformerConfig {
                encoding: Encoding::Neuron,
                compression_token: true,
                d_model: 800,
                heads: 4,
                layers: 2,
                d_ff: 900,
                latent: 700,
                dropout: 0.1,
            }),
            HeadConfig::Mlp {
                layers: 4,
                hidden: 400,
                out: 50,
            },
            None,
            0.1,
            ReconstructionKind::Mse,
            (Optimizer::Adam, 0.0),
        ),
        HyperBenchModel::Sane2025 => (
            ModelConfig::Sane(SaneConfig {
                token_size: 289,
                d_model: 256,
                heads: 8,
                layers: 8,
                latent: 64,
                max_positions: [500, 50, 100],
                dropout: 0.0,
            }),
            HeadConfig::Sane,
            Some((289, 0)),
            0.05,
            ReconstructionKind::Masked,
            (Optimizer::AdamW, 3e-9),
        ),
    };
    TrainSpec {
        seed: 1,
        model,
        head: Some(head),
        sane_tokens,
        normalize: true,
        selection: Selection {
            epochs: vec![0],
            max_abs_weight: f64::INFINITY,
            max_models: None,
            canonicalize: false,
        },
        augment: AugmentSection {
            permutation: true,
            ..AugmentSection::default()
        },
        loss: LossSection {
            gamma,
            beta: if a.behaviour { 0.1 } else { 1.0 },
            contrast: ContrastKind::Ntxent,
            temperature: 0.1,
            reconstruction: recon,
            behaviour: BehaviourKind::SoftmaxMse,
            queries: 256,
            query_set: QuerySet::Random,
            normalize_terms: true,
            target: ReconTarget::Clean,
            ..LossSection::default()
        },
        train: TrainSection {
            epochs: 1,
            batch_size: batch,
            optimizer: optimizer.0,
            weight_decay: optimizer.1,
            lr: 1e-4,
            schedule: Schedule::None,
            grad_clip: 0.0,
            eval_every: 1_000_000,
            probe_every: 0,
            checkpoint_every: 1_000_000,
            keep_last: 1,
            ..TrainSection::default()
        },
    }
}

/// `hyperzoo bench hyper`.
pub fn hyper(g: &Global, a: &BenchHyperArgs) -> Result<ExitCode> {
    let dev = device::resolve(g.device)?;
    let (arch, default_batch) = match a.model {
        HyperBenchModel::R21Mnist => (ArchSpec::builtin("cnn_s").expect("built-in"), 500),
        HyperBenchModel::Sane2025 => (ArchSpec::builtin("cnn3").expect("built-in"), 64),
    };
    let batch = a.batch.unwrap_or(default_batch);
    let steps = a.warmup + a.steps;
    let tmp = tempfile::tempdir()?;
    let zoo_dir = tmp.path().join("zoo");
    synthetic_zoo(&zoo_dir, &arch, batch * steps + 2)?;
    let zoo = hyperzoo_core::zoo::store::Zoo::open(&zoo_dir)?;
    let spec = spec(a, batch);
    let prepared = prepare(&spec, &zoo)?;
    let run = RunDir::create(&tmp.path().join("run"))?;
    let cancel = AtomicBool::new(false);
    let mut times = Vec::new();
    let mut data_ms = Vec::new();
    let mut params = 0;
    let mut on = |e: &Event| match e {
        Event::Started { params: p, .. } => params = *p,
        Event::Step(s) if s.step as usize > a.warmup => {
            times.push((s.step_ms + s.wait_ms) / 1e3);
            data_ms.push(s.data_ms);
        }
        _ => {}
    };
    train(
        &spec,
        &zoo,
        &prepared,
        &run,
        &dev.device,
        None,
        &cancel,
        &mut on,
    )?;
    times.sort_by(f64::total_cmp);
    data_ms.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let name = match a.model {
        HyperBenchModel::R21Mnist => "r21-mnist",
        HyperBenchModel::Sane2025 => "sane-2025",
    };
    println!(
        "hyperzoo {name}{}: {params} parameters, batch {batch}, device {dev}, libtorch threads = cores = {}: {:.3} s/step (median of {}), {:.1} samples/s; views built in {:.1} ms per batch on the producer thread",
        if a.behaviour { " +behaviour" } else { "" },
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        median,
        times.len(),
        batch as f64 / median,
        data_ms[data_ms.len() / 2]
    );
    println!(
        "{{\"impl\": \"hyperzoo\", \"model\": \"{name}\", \"behaviour\": {}, \"batch\": {batch}, \"params\": {params}, \"s_per_step\": {median:.5}, \"samples_per_s\": {:.2}}}",
        a.behaviour,
        batch as f64 / median
    );
    Ok(ExitCode::SUCCESS)
}
