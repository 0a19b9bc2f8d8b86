//! `hyperzoo bench zoo`: population-training throughput, to set beside
//! `benches/zoo_baseline.py` (the same networks trained one at a time in PyTorch) on the same
//! machine with the same thread count. Reports network-epochs/s, the FLOP rate, and the
//! machine's measured matmul peak.
use crate::cli::{BenchArgs, Global};
use anyhow::Result;
use hyperzoo_core::arch::{ArchSpec, ParamKind};
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::ZooWriter;
use hyperzoo_engine::burn::prelude::*;
use hyperzoo_engine::burn::tensor::{Distribution, TensorData};
use hyperzoo_engine::device;
use hyperzoo_engine::zoo::dataset::{TensorSet, ZooData};
use hyperzoo_engine::zoo::train::{GenerateOptions, generate};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Training FLOPs per image of one network: forward multiply-adds x 2, backward ~2x forward.
pub fn train_flops_per_image(spec: &ArchSpec) -> Result<f64> {
    let layout = spec.layout()?;
    let macs: usize = layout
        .params
        .iter()
        .map(|p| match p.kind {
            ParamKind::Conv { .. } => p.weight_len() * p.out_shape[1] * p.out_shape[2],
            ParamKind::Linear => p.weight_len(),
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
    let reps: usize = 10;
    let start = Instant::now();
    for _ in 0..reps {
        let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    }
    2.0 * (n * n * n * reps) as f64 / start.elapsed().as_secs_f64()
}

/// `hyperzoo bench zoo`.
pub fn zoo(g: &Global, a: &BenchArgs) -> Result<ExitCode> {
    let dev = device::resolve(g.device)?;
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
        train: random_set(a.images, input, &dev.device),
        train_eval: random_set(10, input, &dev.device),
        val: random_set(10, input, &dev.device),
        test: random_set(10, input, &dev.device),
        classes: 10,
    };
    let tmp = tempfile::tempdir()?;
    let writer =
        ZooWriter::create_or_resume(&tmp.path().join("zoo"), &def, Default::default(), "bench")?;
    let start = Instant::now();
    generate(
        &def,
        &data,
        &writer,
        &dev.device,
        &GenerateOptions::default(),
        &AtomicBool::new(false),
        &mut |_| {},
    )?;
    let secs = start.elapsed().as_secs_f64();
    let rate = (a.models * a.epochs) as f64 / secs;
    let flops = train_flops_per_image(&def.arch)? * (a.models * a.epochs * a.images) as f64 / secs;
    let peak = matmul_peak(&dev.device);
    println!(
        "hyperzoo population: {} networks x {} epochs x {} images, batch {}, on {dev}: {secs:.2} s, \
         {rate:.3} network-epochs/s, {:.0} network-images/s",
        a.models,
        a.epochs,
        a.images,
        a.batch,
        rate * a.images as f64
    );
    println!(
        "training FLOP rate {:.2} GFLOP/s ({:.1}% of the measured 1024x1024 matmul peak {:.1} GFLOP/s)",
        flops / 1e9,
        100.0 * flops / peak,
        peak / 1e9
    );
    Ok(ExitCode::SUCCESS)
}
