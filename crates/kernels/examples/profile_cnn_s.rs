//! Trains CNN-s networks on random 28x28 images with the native kernels, for a profiler:
//! `cargo run --release -p hyperzoo-kernels --example profile_cnn_s -- [networks] [images] [batch]`.
use hyperzoo_core::arch::{Activation, ArchSpec};
use hyperzoo_core::zoo::{Hparams, InitScheme, OptimizerKind};
use hyperzoo_kernels::{HostSet, NativeNet, NetState, train_epoch};
use std::sync::atomic::{AtomicBool, AtomicUsize};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (n, t, bs) = (
        args.first().copied().unwrap_or(50),
        args.get(1).copied().unwrap_or(2000),
        args.get(2).copied().unwrap_or(10),
    );
    let spec = ArchSpec::builtin("cnn_s").unwrap();
    let mut net = NativeNet::new(&spec, Activation::Tanh).unwrap();
    if std::env::var_os("IM2COL").is_some() {
        net = net.without_direct_convolutions();
    }
    let p = net.param_count();
    let mut state = 1u64;
    let mut rnd = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let data = HostSet {
        x: (0..t * 784).map(|_| rnd()).collect(),
        y: (0..t as i64).map(|i| i % 10).collect(),
    };
    let mut w: Vec<f32> = (0..n * p).map(|_| rnd() * 0.2).collect();
    let (mut m, mut v, mut buf) = (vec![0.0; n * p], vec![0.0; n * p], vec![0.0; n * p]);
    let hp = Hparams {
        seed: 1,
        activation: Activation::Tanh,
        init: InitScheme::KaimingUniform,
        optimizer: OptimizerKind::Adam,
        lr: 1e-3,
        weight_decay: 0.0,
        dropout: 0.0,
        batch_size: bs,
    };
    let hps = vec![&hp; n];
    let states: Vec<NetState> = w
        .chunks_mut(p)
        .zip(m.chunks_mut(p))
        .zip(v.chunks_mut(p))
        .zip(buf.chunks_mut(p))
        .map(|(((w, m), v), buf)| NetState { w, m, v, buf })
        .collect();
    let start = std::time::Instant::now();
    train_epoch(
        &net,
        states,
        &hps,
        &data,
        1,
        0,
        2,
        &AtomicUsize::new(0),
        &AtomicBool::new(false),
    )
    .unwrap();
    let s = start.elapsed().as_secs_f64();
    println!(
        "{n} networks x {t} images, batch {bs}: {s:.2} s, {:.0} network-images/s",
        (n * t) as f64 / s
    );
}
