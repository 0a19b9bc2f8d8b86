//! `hyperzoo zoo import` on fixtures written in each published format by scripts in
//! scripts/reference/ (modelzoos_fixture.py with PyTorch, unterthiner_fixture.py with numpy):
//! the imported networks, run through hyperzoo's population forward, give the logits the
//! scripts computed in the source's own layout. Then `zoo export` round trips.
use assert_cmd::Command;
use hyperzoo_core::zoo::store::{NetStatus, Zoo};
use hyperzoo_engine::burn::prelude::*;
use hyperzoo_engine::burn::tensor::TensorData;
use hyperzoo_engine::zoo::{Input, PopulationNet};
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

fn hyperzoo() -> Command {
    Command::cargo_bin("hyperzoo").unwrap()
}

/// Imports fixture `name` in `format` into `out` and opens it.
fn import(format: &str, name: &str, out: &Path) -> Zoo {
    hyperzoo()
        .args(["zoo", "import", format])
        .arg(fixture(name))
        .arg("--out")
        .arg(out)
        .assert()
        .success()
        .stdout(predicates::str::contains("checkpoints"));
    Zoo::open(out).unwrap()
}

fn device() -> Device {
    hyperzoo_engine::device::resolve(Default::default())
        .unwrap()
        .device
}

/// Logits [B * 10] of network `id` of `zoo` at `epoch` on `inputs` [B, C, H, W].
fn logits(zoo: &Zoo, id: usize, epoch: usize, inputs: &[f32], shape: [usize; 4]) -> Vec<f32> {
    let dev = device();
    let p = zoo.manifest.params;
    let w = zoo.weights(epoch).unwrap()[id * p..(id + 1) * p].to_vec();
    let act = zoo.models[id].activation().unwrap();
    let net = PopulationNet::new(zoo.manifest.arch.clone(), act).unwrap();
    let w = Tensor::<2>::from_data(TensorData::new(w, [1, p]), &dev);
    let x = Tensor::<4>::from_data(TensorData::new(inputs.to_vec(), shape), &dev);
    let out = net.forward(w, Input::Shared(x), None).unwrap();
    out.into_data().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[derive(Deserialize)]
struct MzExpected {
    inputs: Vec<f32>,
    input_shape: [usize; 4],
    models: Vec<MzModel>,
}

#[derive(Deserialize)]
struct MzModel {
    dir: String,
    logits: std::collections::BTreeMap<String, Vec<f64>>,
}

#[test]
fn modelzoos_import_runs_like_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mz");
    let zoo = import("modelzoos", "modelzoos", &out);
    assert_eq!(zoo.manifest.arch.name, "cnn_s");
    assert_eq!(zoo.manifest.dataset, "mnist");
    assert_eq!(zoo.manifest.checkpoints, vec![0, 1, 2]);
    let exp: MzExpected =
        serde_json::from_str(&std::fs::read_to_string(fixture("modelzoos_expected.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for (id, m) in exp.models.iter().enumerate() {
        let row = &zoo.models[id];
        assert_eq!(row.get("source"), Some(m.dir.as_str()));
        for epoch in 0..=2usize {
            let rec = zoo
                .records
                .iter()
                .find(|r| r.id == id && r.epoch == epoch)
                .unwrap();
            match m.logits.get(&epoch.to_string()) {
                Some(expected) => {
                    assert_eq!(rec.status, NetStatus::Ok);
                    let got = logits(&zoo, id, epoch, &exp.inputs, exp.input_shape);
                    let d = max_diff(&got, expected);
                    // Relative to the logits' size: model 2's U(0,1) init gives logits of ~25,000,
                    // where one float32 ulp is 0.004 and the summation order of the CPU's
                    // convolution kernel decides the last bit.
                    let scale = expected.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    assert!(
                        d <= 1e-4 * scale,
                        "model {id} epoch {epoch}: max diff {d} (logits up to {scale})"
                    );
                    checked += 1;
                }
                None => assert_eq!(rec.status, NetStatus::Missing, "model {id} epoch {epoch}"),
            }
        }
    }
    assert_eq!(checked, 8);
    // The dropout-0.5 model (keys module_list.{0,4,8,11,14}) is mapped by layer order.
    assert_eq!(zoo.models[1].get("dropout"), Some("0.5"));
    // -999 "not trained yet" becomes NaN; recorded metrics are kept.
    let r0 = &zoo.records[0];
    assert!(r0.train_acc.is_nan() && r0.ggap.is_nan());
    assert!((r0.test_acc - 0.11).abs() < 1e-12);
}

#[test]
fn modelzoos_import_names_a_corrupt_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&fixture("modelzoos"), &src);
    let bad = src
        .join("tune_zoo_mnist_hyperparameter_10_fixed_seeds")
        .join("NN_tune_trainable_aaaa1_00001_1")
        .join("checkpoint_000001")
        .join("checkpoints");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("mz");
    hyperzoo()
        .args(["zoo", "import", "modelzoos"])
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicates::str::contains("checkpoint_000001/checkpoints"));
    assert!(!out.exists(), "nothing half-written");
    // A wrong architecture is refused with the tensor and both shapes.
    hyperzoo()
        .args(["zoo", "import", "modelzoos"])
        .arg(fixture("modelzoos"))
        .args(["--arch", "cnn3", "--out"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicates::str::contains("cnn3"));
}

#[derive(Deserialize)]
struct UtExpected {
    inputs: Vec<f32>,
    input_shape: [usize; 4],
    checkpoints: Vec<UtCheckpoint>,
}

#[derive(Deserialize)]
struct UtCheckpoint {
    run: String,
    epoch: usize,
    logits: Vec<f64>,
}

#[test]
fn unterthiner_import_matches_keras_layout_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ut");
    let zoo = import("unterthiner", "unterthiner", &out);
    assert_eq!(zoo.manifest.arch.name, "unterthiner_cnn");
    assert_eq!(
        zoo.manifest.checkpoints,
        vec![0, 1, 2, 3, 20, 40, 60, 80, 86]
    );
    let exp: UtExpected = serde_json::from_str(
        &std::fs::read_to_string(fixture("unterthiner_expected.json")).unwrap(),
    )
    .unwrap();
    for c in &exp.checkpoints {
        let id = zoo
            .models
            .iter()
            .position(|m| m.get("source").unwrap().ends_with(&c.run))
            .unwrap();
        let got = logits(&zoo, id, c.epoch, &exp.inputs, exp.input_shape);
        let d = max_diff(&got, &c.logits);
        assert!(d <= 1e-4, "run {} epoch {}: max diff {d}", c.run, c.epoch);
    }
    assert_eq!(exp.checkpoints.len(), 21);
    // The crashed run has 3 checkpoints; the other 6 are recorded as missing.
    let missing = zoo
        .records
        .iter()
        .filter(|r| r.status == NetStatus::Missing)
        .count();
    assert_eq!(missing, 6);
    assert_eq!(zoo.models[0].get("lr"), Some("0.003"));
    assert_eq!(zoo.models[1].get("init"), Some("glorot_normal"));
}

#[test]
fn unterthiner_import_rejects_truncated_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&fixture("unterthiner"), &src);
    let npy = src.join("weights.npy");
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..bytes.len() - 100]).unwrap();
    hyperzoo()
        .args(["zoo", "import", "unterthiner"])
        .arg(&src)
        .arg("--out")
        .arg(tmp.path().join("ut"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("weights.npy"));
}

#[test]
fn export_round_trips_through_npz_and_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ut");
    let zoo = import("unterthiner", "unterthiner", &out);
    let w20 = zoo.weights(20).unwrap();
    let npz = tmp.path().join("z.npz");
    hyperzoo()
        .args(["zoo", "export"])
        .arg(&out)
        .arg("--out")
        .arg(&npz)
        .args(["--epochs", "3,20"])
        .assert()
        .success();
    let mut archive = npyz::npz::NpzArchive::open(&npz).unwrap();
    let w = archive.by_name("weights").unwrap().unwrap();
    assert_eq!(w.shape(), &[2, 3, 4970]);
    let w: Vec<f32> = w.into_vec().unwrap();
    let second = &w[3 * 4970..];
    for (a, b) in second.iter().zip(&w20) {
        assert!(a == b || (a.is_nan() && b.is_nan()));
    }
    let epochs: Vec<i64> = archive
        .by_name("epochs")
        .unwrap()
        .unwrap()
        .into_vec()
        .unwrap();
    assert_eq!(epochs, vec![3, 20]);
    let st = tmp.path().join("z.safetensors");
    hyperzoo()
        .args(["zoo", "export"])
        .arg(&out)
        .arg("--out")
        .arg(&st)
        .assert()
        .success();
    let bytes = std::fs::read(&st).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert!(meta.metadata().as_ref().unwrap()["zoo.toml"].contains("unterthiner_cnn"));
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(t.tensor("test_acc").unwrap().shape(), &[9, 3]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
