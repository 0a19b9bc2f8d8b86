//! Population training on real MNIST (from the data directory): a population gives the same
//! weights as its networks trained one by one, and a killed generation resumes to the same end.
use hyperzoo_core::paths;
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::{NetStatus, Zoo, ZooWriter};
use hyperzoo_engine::zoo::dataset::load_zoo_data;
use hyperzoo_engine::zoo::train::{Event, GenerateOptions, Kernel, generate, is_cancelled};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

const DEF: &str = r#"
    name = "pop-test"
    arch = "cnn_s"
    dataset = "mnist"
    epochs = 2
    [data]
    val_size = 100
    train_fraction = 0.01
    test_fraction = 0.02
    [models]
    max_population = 4
    [hparams]
    activation = "tanh"
    init = "kaiming_uniform"
    lr = 3e-3
    weight_decay = 1e-4
    dropout = 0.25
    batch_size = 10
    [grid]
    seed = [1, 2]
    optimizer = ["adam", "sgd"]
"#;

fn run(
    def: &ZooDef,
    dir: &Path,
    cancel_at: Option<(usize, usize)>,
) -> Result<Zoo, hyperzoo_engine::Error> {
    run_with(def, dir, cancel_at, Kernel::Auto)
}

fn run_with(
    def: &ZooDef,
    dir: &Path,
    cancel_at: Option<(usize, usize)>,
    kernel: Kernel,
) -> Result<Zoo, hyperzoo_engine::Error> {
    let device = hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device;
    let data = load_zoo_data(def, &paths::data_dir(None).path, &device)
        .expect("MNIST in the data dir (hyperzoo data fetch)");
    let writer = ZooWriter::create_or_resume(dir, def, Default::default(), "test").unwrap();
    let cancel = AtomicBool::new(false);
    let mut on = |e: Event| {
        if let (Event::Step { epoch, step, .. }, Some(at)) = (e, cancel_at)
            && (epoch, step) == at
        {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    generate(
        def,
        &data,
        &writer,
        &device,
        &GenerateOptions {
            kernel,
            ..GenerateOptions::default()
        },
        &cancel,
        &mut on,
    )?;
    Ok(writer.finish(def).unwrap())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn population_equals_networks_trained_one_by_one() {
    let tmp = tempfile::tempdir().unwrap();
    let together = ZooDef::parse(Path::new("pop.toml"), DEF).unwrap();
    let alone = ZooDef::parse(
        Path::new("pop.toml"),
        &DEF.replace("max_population = 4", "max_population = 1"),
    )
    .unwrap();
    assert_eq!(together.populations().len(), 1);
    assert_eq!(alone.populations().len(), 4);
    let a = run(&together, &tmp.path().join("a"), None).unwrap();
    let b = run(&alone, &tmp.path().join("b"), None).unwrap();
    for epoch in [0, 1, 2] {
        let (wa, wb) = (a.weights(epoch).unwrap(), b.weights(epoch).unwrap());
        let d = max_diff(&wa, &wb);
        assert!(d <= 1e-4, "epoch {epoch}: max |diff| {d}");
    }
    // Training moved the weights and every checkpoint has its properties.
    assert!(max_diff(&a.weights(0).unwrap(), &a.weights(2).unwrap()) > 1e-3);
    assert_eq!(a.records.len(), 4 * 3);
    for r in &a.records {
        assert_eq!(r.status, NetStatus::Ok);
        assert!((0.0..=1.0).contains(&r.test_acc) && r.train_loss.is_finite());
        assert!((r.ggap - (r.train_acc - r.test_acc)).abs() < 1e-12);
    }
    let acc = |z: &Zoo, e: usize| {
        z.records
            .iter()
            .filter(|r| r.epoch == e)
            .map(|r| r.test_acc)
            .sum::<f64>()
            / 4.0
    };
    assert!(
        acc(&a, 2) > acc(&a, 0) + 0.1,
        "training improves test accuracy: {} -> {}",
        acc(&a, 0),
        acc(&a, 2)
    );
}

#[test]
fn killed_generation_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let def = ZooDef::parse(Path::new("pop.toml"), DEF).unwrap();
    let full = run(&def, &tmp.path().join("full"), None).unwrap();
    let dir = tmp.path().join("killed");
    let e = run(&def, &dir, Some((2, 3))).unwrap_err();
    assert!(is_cancelled(&e), "{e}");
    assert!(Zoo::open(&dir).is_err(), "an unfinished zoo does not open");
    let resumed = run(&def, &dir, None).unwrap();
    assert_eq!(
        max_diff(&full.weights(2).unwrap(), &resumed.weights(2).unwrap()),
        0.0
    );
    assert_eq!(full.records, resumed.records);
}

#[test]
fn a_diverging_network_is_recorded_and_the_others_go_on() {
    let def = ZooDef::parse(
        Path::new("diverge.toml"),
        r#"
        name = "diverge"
        arch = "tetris_mlp"
        dataset = "tetris"
        epochs = 3
        [data]
        val_size = 500
        [hparams]
        activation = "relu"
        init = "xavier_uniform"
        optimizer = "sgd"
        weight_decay = 0.0
        dropout = 0.0
        batch_size = 10
        seed = 1
        [grid]
        lr = [1e-2, 1e12]
        "#,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let zoo = run(&def, &tmp.path().join("z"), None).unwrap();
    let last: Vec<_> = zoo.records.iter().filter(|r| r.epoch == 3).collect();
    let sane = last.iter().find(|r| r.id == 0).unwrap();
    let wild = last.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(sane.status, NetStatus::Ok);
    assert!(sane.test_acc > 0.3, "{}", sane.test_acc);
    assert_eq!(wild.status, NetStatus::Diverged);
    assert!(wild.test_acc.is_nan());
    // Its weights are NaN from then on; loading accepts that because it is recorded.
    let w = zoo.weights(3).unwrap();
    assert!(w[100..].iter().all(|v| v.is_nan()));
    assert!(w[..100].iter().all(|v| v.is_finite()));
}

/// The native CPU kernels train as LibTorch's operators do: the same weights up to rounding
/// after two epochs (Adam and SGD, dropout, the reference zoos' uniform initialisation), and the
/// same accuracies.
#[test]
fn native_kernels_train_as_libtorch_does() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("kaiming", DEF.to_string()),
        (
            "uniform",
            DEF.replace("kaiming_uniform", "uniform")
                .replace("dropout = 0.25", "dropout = 0.0"),
        ),
    ] {
        let def = ZooDef::parse(Path::new("pop.toml"), &text).unwrap();
        let native = run_with(
            &def,
            &tmp.path().join(format!("{name}-native")),
            None,
            Kernel::Auto,
        )
        .unwrap();
        let torch = run_with(
            &def,
            &tmp.path().join(format!("{name}-libtorch")),
            None,
            Kernel::LibTorch,
        )
        .unwrap();
        for epoch in [1, 2] {
            let (a, b) = (
                native.weights(epoch).unwrap(),
                torch.weights(epoch).unwrap(),
            );
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = max_diff(&a, &b);
            assert!(
                d <= 1e-3 * scale,
                "{name} epoch {epoch}: max |diff| {d} (largest weight {scale})"
            );
        }
        for (r, t) in native.records.iter().zip(&torch.records) {
            assert!(
                (r.test_acc - t.test_acc).abs() <= 0.02,
                "{name}: network {} epoch {}: test accuracy {} native, {} libtorch",
                r.id,
                r.epoch,
                r.test_acc,
                t.test_acc
            );
        }
    }
}

#[test]
fn small_resnet_zoos_train_move_their_running_statistics_and_resume_bit_exactly() {
    // resnet8 (batch norms, identity and projection shortcuts) on LibTorch, Adam and SGD.
    let text = DEF
        .replace("arch = \"cnn_s\"", "arch = \"resnet8\"")
        .replace("train_fraction = 0.01", "train_fraction = 0.005")
        .replace("seed = [1, 2]", "seed = [1]");
    let def = ZooDef::parse(Path::new("res.toml"), &text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let full = run(&def, &tmp.path().join("full"), None).unwrap();
    let layout = def.arch.layout().unwrap();
    let p = layout.total;
    let (start, end) = (full.weights(0).unwrap(), full.weights(2).unwrap());
    for m in 0..2 {
        for l in layout.params.iter().filter(|l| l.buffers_offset.is_some()) {
            let at = m * p + l.buffers_offset.unwrap();
            let (mean, var) = (at..at + l.out, at + l.out..at + 2 * l.out);
            // PyTorch's initial statistics, then the batches' (the variance stays positive).
            assert!(start[mean.clone()].iter().all(|v| *v == 0.0));
            assert!(start[var.clone()].iter().all(|v| *v == 1.0));
            assert!(
                end[mean].iter().any(|v| v.abs() > 1e-3),
                "model {m}: running means moved"
            );
            assert!(end[var.clone()].iter().all(|v| *v > 0.0 && v.is_finite()));
            assert!(end[var].iter().any(|v| (v - 1.0).abs() > 1e-3));
        }
    }
    let last: Vec<f64> = full
        .records
        .iter()
        .filter(|r| r.epoch == 2)
        .map(|r| r.test_acc)
        .collect();
    assert!(last.iter().all(|a| a.is_finite()), "{last:?}");
    // 30 steps an epoch: past chance (0.1) and the start (0.07), in evaluation mode on the
    // running statistics; the training loss down for both.
    assert!(
        last.iter().all(|a| *a > 0.15),
        "test accuracies at epoch 2: {last:?}"
    );
    for id in 0..2 {
        let loss = |e: usize| {
            let r = full.records.iter().find(|r| r.id == id && r.epoch == e);
            r.unwrap().train_loss
        };
        assert!(
            loss(2) < loss(0) - 0.1,
            "model {id}: {} -> {}",
            loss(0),
            loss(2)
        );
    }
    // Killed during epoch 2 and resumed: the same networks, bit for bit.
    let dir = tmp.path().join("killed");
    let e = run(&def, &dir, Some((2, 3))).unwrap_err();
    assert!(is_cancelled(&e), "{e}");
    let resumed = run(&def, &dir, None).unwrap();
    assert_eq!(max_diff(&end, &resumed.weights(2).unwrap()), 0.0);
    assert_eq!(full.records, resumed.records);
}
