//! Benchmarks of the engine, to set beside the PyTorch baselines in `benches/` on the same
//! machine (`hyperzoo bench zoo`, `hyperzoo bench hyper` print these reports).
//!
//! - [`zoo`]: population training of CNN-s networks on random images (the speed does not depend
//!   on them): network-epochs and network-images per second, the training FLOP rate and the
//!   machine's measured 1024² matmul peak.
//! - [`hyper`]: a real training run (views built on the producer thread, augmentation, losses,
//!   optimizer) of a hyper-representation model at a reference's size on a synthetic zoo of
//!   random networks: seconds per step and samples per second.
use crate::hyper::data::Selection;
use crate::hyper::model::{Encoding, HeadConfig, ModelConfig, SaneConfig, TransformerConfig};
use crate::hyper::train::{
    AugmentSection, ContrastKind, Event, LossSection, QuerySet, ReconTarget, ReconstructionKind,
    TrainSection, TrainSpec, prepare, train,
};
use crate::zoo::dataset::{TensorSet, ZooData};
use crate::zoo::train::{GenerateOptions, Kernel, generate};
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use hyperzoo_core::arch::{ArchSpec, ParamKind};
use hyperzoo_core::experiment::{BehaviourKind, Optimizer, Schedule};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::store::{Manifest, ModelRow, NetStatus, Record, ZooWriter, write_zoo};
use hyperzoo_core::zoo::{ModelSplit, ZooDef};
use rand::SeedableRng;
use rand_distr::Normal;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What `hyperzoo bench zoo` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZooBench {
    /// Networks trained together.
    pub models: usize,
    /// Training images per epoch.
    pub images: usize,
    /// Batch size per network.
    pub batch: usize,
    /// Epochs.
    pub epochs: usize,
    /// How the training steps are computed.
    pub kernel: Kernel,
}

/// What [`zoo`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooBenchReport {
    /// Seconds of training.
    pub secs: f64,
    /// Networks times epochs per second.
    pub network_epochs_per_s: f64,
    /// Networks times images per second.
    pub network_images_per_s: f64,
    /// Training FLOPs per second.
    pub flops_per_s: f64,
    /// The measured 1024x1024 matmul FLOPs per second on the device.
    pub matmul_peak: f64,
}

/// Population training throughput (see the module's documentation).
pub fn zoo(device: &Device, a: &ZooBench) -> Result<ZooBenchReport> {
    let text = format!(
        "name = \"bench\"\narch = \"cnn_s\"\ndataset = \"mnist\"\nepochs = {e}\ncheckpoints = [{e}]\n\
         [models]\nmax_population = {n}\n[hparams]\nactivation = \"tanh\"\ninit = \"kaiming_uniform\"\n\
         optimizer = \"adam\"\nlr = 3e-4\nweight_decay = 0.0\ndropout = 0.0\nbatch_size = {b}\n\
         [grid]\nseed = {{ from = 1, to = {n} }}\n",
        e = a.epochs,
        n = a.models,
        b = a.batch
    );
    let def = ZooDef::parse(std::path::Path::new("<bench>"), &text)?;
    // Random images and labels stand in for MNIST: the speed does not depend on them.
    let input = def.arch.input;
    let data = ZooData {
        train: random_set(a.images, input, device),
        train_eval: random_set(10, input, device),
        val: random_set(10, input, device),
        test: random_set(10, input, device),
        classes: 10,
    };
    let tmp = tempdir()?;
    let writer =
        ZooWriter::create_or_resume(&tmp.path().join("zoo"), &def, Default::default(), "bench")?;
    let start = Instant::now();
    generate(
        &def,
        &data,
        &writer,
        device,
        &GenerateOptions {
            kernel: a.kernel,
            ..GenerateOptions::default()
        },
        &AtomicBool::new(false),
        &mut |_| {},
    )?;
    let secs = start.elapsed().as_secs_f64();
    let rate = (a.models * a.epochs) as f64 / secs;
    Ok(ZooBenchReport {
        secs,
        network_epochs_per_s: rate,
        network_images_per_s: rate * a.images as f64,
        flops_per_s: train_flops_per_image(&def.arch)? * (a.models * a.epochs * a.images) as f64
            / secs,
        matmul_peak: matmul_peak(device),
    })
}

/// A temporary directory for a benchmark's zoo and run.
fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| {
        Error::Core(hyperzoo_core::Error::io(
            "creating a temporary directory in",
            std::env::temp_dir(),
            e,
        ))
    })
}

/// Training FLOPs per image of one network: forward multiply-adds x 2, backward ~2x forward.
pub fn train_flops_per_image(spec: &ArchSpec) -> Result<f64> {
    let layout = spec.layout()?;
    let macs: usize = layout
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Conv { .. } => p.weight_len() * p.out_shape[1] * p.out_shape[2],
            ParamKind::Linear => p.weight_len(),
            // Normalising: a multiply-add per element.
            ParamKind::BatchNorm => p.out_shape.iter().product(),
        })
        .sum();
    Ok(2.0 * macs as f64 * 3.0)
}

fn random_set(n: usize, input: [usize; 3], device: &Device) -> TensorSet {
    let [c, h, w] = input;
    let labels: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 10).collect();
    TensorSet {
        x: Tensor::random([n, c, h, w], Distribution::Normal(0.0, 1.0), device),
        y: Tensor::from_data(TensorData::new(labels, [n]), device),
    }
}

fn matmul_peak(device: &Device) -> f64 {
    let n: usize = 1024;
    let a = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    // The fastest of 10 products: the rate the machine reaches (a mean lets a moment of
    // contention on a shared machine lower the peak and so raise the ratios measured to it).
    let best = (0..10)
        .map(|_| {
            let start = Instant::now();
            let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (n * n * n) as f64 / best
}

/// A hyper-representation model at a reference's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HyperModel {
    /// The 2021 transformer at its MNIST-Seed size (d_model 800, latent 700) on CNN-s weights.
    R21Mnist,
    /// SANE at the 2025 setting (d_model 256, 8 heads, 8 layers, latent 64) on CNN3 tokens.
    Sane2025,
    /// SANE at [RS]'s ResNet-18 setting (d_model 2048, 16 heads, 8 layers, latent 128, windows
    /// of 256 of the 53,524 tokens of 288 values) on ResNet-18 weights.
    SaneResnet18,
}

impl HyperModel {
    /// `r21-mnist` or `sane-2025`.
    pub fn name(self) -> &'static str {
        match self {
            HyperModel::R21Mnist => "r21-mnist",
            HyperModel::Sane2025 => "sane-2025",
            HyperModel::SaneResnet18 => "sane-resnet18",
        }
    }

    /// The reference's batch size (500 for the 2021 model, 64 for SANE on CNN3, 32 for SANE
    /// on ResNet-18).
    pub fn default_batch(self) -> usize {
        match self {
            HyperModel::R21Mnist => 500,
            HyperModel::Sane2025 => 64,
            HyperModel::SaneResnet18 => 32,
        }
    }
}

/// What `hyperzoo bench hyper` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HyperBench {
    /// The model.
    pub model: HyperModel,
    /// Batch size.
    pub batch: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed warm-up steps.
    pub warmup: usize,
    /// With the 2025 behavioural loss (β 0.1, 256 random query images).
    pub behaviour: bool,
}

/// What [`hyper`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HyperBenchReport {
    /// Trainable parameters of the model.
    pub params: usize,
    /// Median seconds per step (compute and waiting for data).
    pub s_per_step: f64,
    /// Steps timed.
    pub steps: usize,
    /// Median milliseconds the producer thread took to build a batch's views.
    pub data_ms: f64,
    /// The process's peak resident memory (bytes) at the last timed step, where the system
    /// reports it (Linux): model, optimizer state, activations and the synthetic zoo.
    pub peak_rss: Option<u64>,
}

/// Training speed of a hyper-representation model (see the module's documentation). The
/// synthetic zoo holds one batch of training networks (and two for validation), trained for one
/// step per epoch until the warm-up and timed steps are done; nothing is evaluated or written.
pub fn hyper(device: &Device, a: &HyperBench) -> Result<HyperBenchReport> {
    let arch = match a.model {
        HyperModel::R21Mnist => ArchSpec::builtin("cnn_s"),
        HyperModel::Sane2025 => ArchSpec::builtin("cnn3"),
        HyperModel::SaneResnet18 => ArchSpec::builtin("resnet18"),
    }
    .expect("built-in");
    let batch = a.batch;
    let steps = (a.warmup + a.steps) as u64;
    let tmp = tempdir()?;
    let zoo_dir = tmp.path().join("zoo");
    synthetic_zoo(&zoo_dir, &arch, batch + 2)?;
    let zoo = hyperzoo_core::zoo::store::Zoo::open(&zoo_dir)?;
    let mut spec = spec(a, batch);
    spec.train.epochs = steps as usize + 1;
    spec.max_steps = Some(steps);
    let prepared = prepare(&spec, &zoo)?;
    let run = RunDir::create(&tmp.path().join("run"))?;
    let cancel = AtomicBool::new(false);
    let mut times = Vec::new();
    let mut data_ms = Vec::new();
    let mut params = 0;
    let mut peak_rss = None;
    let mut on = |e: &Event| match e {
        Event::Started { params: p, .. } => params = *p,
        Event::Step(s) if s.step as usize > a.warmup => {
            times.push((s.step_ms + s.wait_ms) / 1e3);
            data_ms.push(s.data_ms);
            if s.step == steps {
                peak_rss = peak_resident_bytes();
            }
        }
        _ => {}
    };
    train(&spec, &zoo, &prepared, &run, device, None, &cancel, &mut on)?;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        hyperzoo_core::results::quantile(v, 0.5)
    };
    Ok(HyperBenchReport {
        params,
        s_per_step: median(&mut times),
        steps: times.len(),
        data_ms: median(&mut data_ms),
        peak_rss,
    })
}

/// The process's peak resident set size (`VmHWM` of `/proc/self/status`), where there is one.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A zoo of `n` random networks of `arch` (one checkpoint, epoch 0), nearly all in train.
fn synthetic_zoo(dir: &std::path::Path, arch: &ArchSpec, n: usize) -> Result<()> {
    let p = arch.param_count()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let dist = Normal::new(0.0, 0.1).expect("valid");
    let weights: Vec<f32> = (0..n * p)
        .map(|_| rand_distr::Distribution::sample(&dist, &mut rng) as f32)
        .collect();
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
        data: None,
    };
    write_zoo(dir, manifest, &rows, &[(0, weights)], &records)?;
    Ok(())
}

fn spec(a: &HyperBench, batch: usize) -> TrainSpec {
    let (model, head, sane_tokens, gamma, recon, optimizer) = match a.model {
        HyperModel::R21Mnist => (
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
        HyperModel::Sane2025 | HyperModel::SaneResnet18 => {
            // (token size, window: 0 = whole sequence, d_model, heads, latent, positions)
            let (ts, window, d_model, heads, latent, max_positions) = match a.model {
                HyperModel::Sane2025 => (289, 0, 256, 8, 64, [500, 50, 100]),
                _ => (288, 256, 2048, 16, 128, [55000, 100, 550]),
            };
            (
                ModelConfig::Sane(SaneConfig {
                    token_size: ts,
                    d_model,
                    heads,
                    layers: 8,
                    latent,
                    max_positions,
                    dropout: 0.0,
                }),
                HeadConfig::Sane,
                Some((ts, window)),
                0.05,
                ReconstructionKind::Masked,
                (Optimizer::AdamW, 3e-9),
            )
        }
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
        max_steps: None,
    }
}
