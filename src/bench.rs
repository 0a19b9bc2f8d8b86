//! `hyperzoo bench zoo` and `hyperzoo bench hyper`: the engine's benchmarks
//! ([`hyperzoo_engine::bench`]) printed, to set beside `benches/zoo_baseline.py` and
//! `benches/hyper_baseline.py` on the same machine with the same thread count.
use crate::cli::{BenchArgs, BenchHyperArgs, Global, HyperBenchModel};
use anyhow::Result;
use hyperzoo_engine::bench::{self, HyperBench, HyperModel, ZooBench};
use hyperzoo_engine::device;
use std::process::ExitCode;

/// `hyperzoo bench zoo`.
pub fn zoo(g: &Global, a: &BenchArgs) -> Result<ExitCode> {
    use hyperzoo_engine::zoo::train::Kernel;
    let dev = device::resolve(g.device)?;
    let kernels: &[(Kernel, &str)] = match a.kernel.as_str() {
        "native" => &[(Kernel::Auto, "native")],
        "libtorch" => &[(Kernel::LibTorch, "libtorch")],
        _ => &[(Kernel::Auto, "native"), (Kernel::LibTorch, "libtorch")],
    };
    let mut rates = Vec::new();
    for &(kernel, name) in kernels {
        let r = bench::zoo(
            &dev.device,
            &ZooBench {
                models: a.models,
                images: a.images,
                batch: a.batch,
                epochs: a.epochs,
                kernel,
            },
        )?;
        println!(
            "hyperzoo population ({name}): {} networks x {} epochs x {} images, batch {}, on {dev}: \
             {:.2} s, {:.3} network-epochs/s, {:.0} network-images/s",
            a.models,
            a.epochs,
            a.images,
            a.batch,
            r.secs,
            r.network_epochs_per_s,
            r.network_images_per_s
        );
        println!(
            "  training FLOP rate {:.2} GFLOP/s ({:.1}% of the measured 1024x1024 matmul peak {:.1} GFLOP/s)",
            r.flops_per_s / 1e9,
            100.0 * r.flops_per_s / r.matmul_peak,
            r.matmul_peak / 1e9
        );
        rates.push(r.network_images_per_s);
    }
    if let [native, libtorch] = rates[..] {
        println!("native / libtorch: {:.2}x", native / libtorch);
    }
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo bench hyper`.
pub fn hyper(g: &Global, a: &BenchHyperArgs) -> Result<ExitCode> {
    let dev = device::resolve(g.device)?;
    let model = match a.model {
        HyperBenchModel::R21Mnist => HyperModel::R21Mnist,
        HyperBenchModel::Sane2025 => HyperModel::Sane2025,
        HyperBenchModel::SaneResnet18 => HyperModel::SaneResnet18,
    };
    let batch = a.batch.unwrap_or(model.default_batch());
    let r = bench::hyper(
        &dev.device,
        &HyperBench {
            model,
            batch,
            steps: a.steps,
            warmup: a.warmup,
            behaviour: a.behaviour,
        },
    )?;
    let name = model.name();
    println!(
        "hyperzoo {name}{}: {} parameters, batch {batch}, device {dev}, libtorch threads = cores = {}: {:.3} s/step (median of {}), {:.3} samples/s; views built in {:.1} ms per batch on the producer thread",
        if a.behaviour { " +behaviour" } else { "" },
        r.params,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        r.s_per_step,
        r.steps,
        batch as f64 / r.s_per_step,
        r.data_ms
    );
    if let Some(bytes) = r.peak_rss {
        println!(
            "  peak resident memory {:.2} GB (model, optimizer state, activations, the synthetic zoo)",
            bytes as f64 / 1e9
        );
    }
    println!(
        "{{\"impl\": \"hyperzoo\", \"model\": \"{name}\", \"behaviour\": {}, \"batch\": {batch}, \"params\": {}, \"s_per_step\": {:.5}, \"samples_per_s\": {:.2}, \"peak_rss_bytes\": {}}}",
        a.behaviour,
        r.params,
        r.s_per_step,
        batch as f64 / r.s_per_step,
        r.peak_rss.map_or("null".to_string(), |b| b.to_string())
    );
    Ok(ExitCode::SUCCESS)
}
