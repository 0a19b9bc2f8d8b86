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
fn modelzoos_resnet_import_runs_like_pytorch() {
    // torchvision's names (model.conv1, model.layer2.0.downsample.1, model.fc) sort into the
    // state-dict order; batch norms' running statistics are read, num_batches_tracked left out;
    // the networks run in evaluation mode as PyTorch ran them.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mzr");
    let zoo = import("modelzoos", "modelzoos_resnet", &out);
    assert_eq!(zoo.manifest.arch.name, "resnet8");
    assert_eq!(zoo.manifest.checkpoints, vec![0, 1, 2]);
    assert_eq!(zoo.models[0].get("activation"), Some("relu"));
    let exp: MzExpected = serde_json::from_str(
        &std::fs::read_to_string(fixture("modelzoos_resnet_expected.json")).unwrap(),
    )
    .unwrap();
    for (id, m) in exp.models.iter().enumerate() {
        for epoch in 0..=2usize {
            let expected = &m.logits[&epoch.to_string()];
            let got = logits(&zoo, id, epoch, &exp.inputs, exp.input_shape);
            let scale = expected.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let d = max_diff(&got, expected);
            assert!(d <= 1e-4 * scale, "model {id} epoch {epoch}: max diff {d}");
        }
    }
    // Trained: the running statistics moved from PyTorch's initial 0 and 1.
    let layout = zoo.manifest.arch.layout().unwrap();
    let bn = layout.params[1].buffers_offset.unwrap();
    let w = zoo.weights(2).unwrap();
    assert!(w[bn..bn + 8].iter().all(|v| *v != 0.0), "running means");
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

/// The experiment the imported zoos are trained with: the behavioural loss on query images
/// from the zoo's dataset.
const DATA_QUERIES: &str = r#"
[zoo]
epochs = "all"
[model]
kind = "transformer"
d_model = 16
heads = 2
layers = 1
d_ff = 32
latent = 8
[head]
kind = "mlp"
layers = 1
hidden = 8
out = 4
[loss]
gamma = 0.2
beta = 0.5
query_set = "data"
queries = 16
[train]
epochs = 2
batch_size = 2
lr = 1e-3
"#;

/// An imported zoo whose dataset hyperzoo reads works as a generated one: zoo.toml records
/// the source's normalisation, the behavioural loss draws query images from the dataset, eval
/// scores the original and reconstructed networks on its test images, generate scores the
/// new networks and fine-tunes them beside random initialisations. An imported zoo of a
/// dataset hyperzoo cannot read says so before training.
#[test]
fn imported_zoos_with_a_known_dataset_train_evaluate_and_generate_like_generated_ones() {
    let data = hyperzoo_core::paths::data_dir(None).path;
    assert!(
        data.join("mnist").is_dir(),
        "mnist is not in {}: run scripts/setup.sh first",
        data.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let in_ws = |args: &[&std::ffi::OsStr]| {
        hyperzoo()
            .args(["--device", "cpu", "--workspace"])
            .arg(&ws)
            .args(args)
            .assert()
    };
    for (format, fixture_name, mean, std, grey) in [
        ("modelzoos", "modelzoos", 0.1307, 0.3081, false),
        ("unterthiner", "unterthiner", 0.5, 0.5, true),
    ] {
        let zoo_dir = ws.join("zoos").join(format);
        hyperzoo()
            .args(["zoo", "import", format])
            .arg(fixture(fixture_name))
            .arg("--out")
            .arg(&zoo_dir)
            .args(["--split", "0.34,0.33,0.33"])
            .assert()
            .success()
            .stdout(predicates::str::contains("images: mnist, normalised"));
        let zoo = Zoo::open(&zoo_dir).unwrap();
        let d = zoo
            .manifest
            .data
            .clone()
            .expect("[data] recorded at import");
        assert_eq!(
            (d.mean, d.std, d.grayscale, d.val_size, d.split_seed),
            (Some(vec![mean]), Some(vec![std]), grey, 10_000, 42),
            "{format}"
        );
        // A small part of MNIST keeps fine-tuning short.
        let toml_path = zoo_dir.join("zoo.toml");
        let text = std::fs::read_to_string(&toml_path).unwrap();
        let text = text
            .replace("train_fraction = 1.0", "train_fraction = 0.01")
            .replace("test_fraction = 1.0", "test_fraction = 0.05");
        std::fs::write(&toml_path, text).unwrap();

        let exp = tmp.path().join(format!("{format}.toml"));
        std::fs::write(
            &exp,
            format!(
                "name = \"{format}\"\n{}",
                DATA_QUERIES.replace(
                    "[zoo]\n",
                    &format!("[zoo]\npath = {:?}\n", zoo_dir.display().to_string())
                )
            ),
        )
        .unwrap();
        in_ws(&["run".as_ref(), "--plain".as_ref(), exp.as_os_str()]).success();
        let run = ws.join("runs").join(format);
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let behaviour: Vec<f64> = metrics
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "step")
            .filter_map(|v| v["behaviour"].as_f64())
            .collect();
        assert!(
            !behaviour.is_empty() && behaviour.iter().all(|b| b.is_finite()),
            "{format}: behavioural loss per step {behaviour:?}"
        );

        in_ws(&[
            "eval".as_ref(),
            format.as_ref(),
            "--images".as_ref(),
            "200".as_ref(),
        ])
        .success()
        .stdout(predicates::str::contains("test accuracy on 200 images"));
        let results_path = run.join("results.toml");
        let text = std::fs::read_to_string(&results_path).unwrap();
        let results = hyperzoo_core::results::Results::parse(&results_path, &text).unwrap();
        let rc = results.reconstruction.unwrap();
        assert!(rc.acc_original.unwrap().mean.is_finite(), "{format}");
        assert!(rc.acc_reconstructed.unwrap().mean.is_finite(), "{format}");

        let gen_dir = tmp.path().join(format!("gen-{format}"));
        in_ws(&[
            "generate".as_ref(),
            format.as_ref(),
            "--n".as_ref(),
            "2".as_ref(),
            "--candidates".as_ref(),
            "3".as_ref(),
            "--finetune-epochs".as_ref(),
            "1".as_ref(),
            "--images".as_ref(),
            "200".as_ref(),
            "--out".as_ref(),
            gen_dir.as_os_str(),
        ])
        .success()
        .stdout(predicates::str::contains("random init +1 epochs"));
        let generated = Zoo::open(&gen_dir).unwrap();
        assert!(generated.records.iter().all(|r| r.test_acc.is_finite()));
        let groups: std::collections::BTreeSet<String> =
            hyperzoo_core::results::read_accuracies(&run.join("accuracies.csv"))
                .unwrap()
                .into_iter()
                .map(|(g, _, _)| g)
                .collect();
        for g in [
            "original",
            "reconstructed",
            "generated",
            "generated+1",
            "random+1",
        ] {
            assert!(groups.contains(g), "{format}: {g} in {groups:?}");
        }
    }

    // A dataset hyperzoo cannot read: no [data], and a run that needs images says why.
    let zoo_dir = ws.join("zoos/svhn");
    hyperzoo()
        .args(["zoo", "import", "unterthiner"])
        .arg(fixture("unterthiner"))
        .arg("--out")
        .arg(&zoo_dir)
        .args(["--dataset", "svhn"])
        .assert()
        .success()
        .stdout(predicates::str::contains("images: none hyperzoo can load"));
    assert!(Zoo::open(&zoo_dir).unwrap().manifest.data.is_none());
    let exp = tmp.path().join("svhn.toml");
    std::fs::write(
        &exp,
        format!(
            "name = \"svhn\"\n{}",
            DATA_QUERIES.replace(
                "[zoo]\n",
                &format!("[zoo]\npath = {:?}\n", zoo_dir.display().to_string())
            )
        ),
    )
    .unwrap();
    in_ws(&["run".as_ref(), exp.as_os_str()])
        .failure()
        .stderr(predicates::str::contains(
            "loss.query_set = \"data\" needs the zoo's images: zoo svhn (dataset \"svhn\", imported)",
        ))
        .stderr(predicates::str::contains("--dataset"));
}
