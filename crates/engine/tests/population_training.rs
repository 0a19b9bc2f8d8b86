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
fn residual_zoos_are_refused_before_training_naming_the_architecture() {
    // Batch norm's running statistics are not yet kept up to date in training: a ResNet zoo
    // says so instead of writing networks whose evaluation mode is wrong.
    let text = DEF.replace("arch = \"cnn_s\"", "arch = \"resnet8\"");
    let def = ZooDef::parse(Path::new("res.toml"), &text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = run(&def, &dir.path().join("zoo"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("zoo generation") && err.contains("resnet8") && err.contains("batch"),
        "{err}"
    );
}
