//! Zoos trained on the user's own image files: an image folder (train/ and test/ class folders,
//! colour PNGs made grayscale and resized) and CIFAR-10's binary format. Both fixtures are
//! written here; the classes are separable by brightness, so the trained networks must beat
//! chance clearly, which a broken pipeline (wrong labels, scrambled pixels) would not.
use assert_cmd::Command;
use hyperzoo_core::zoo::store::Zoo;
use std::path::Path;

fn hyperzoo() -> Command {
    Command::cargo_bin("hyperzoo").unwrap()
}

const ZOO: &str = r#"
name = "files"
dataset = "DATASET"
epochs = 4
checkpoints = [0, 4]
[arch]
name = "mlp"
input = [1, 8, 8]
layers = [
  { type = "flatten" },
  { type = "linear", out = 8 },
  { type = "activation" },
  { type = "linear", out = CLASSES },
]
[data]
path = "PATH"
val_size = 8
EXTRA
[hparams]
activation = "relu"
init = "kaiming_uniform"
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
dropout = 0.0
batch_size = 8
[grid]
seed = [1, 2]
"#;

/// Pixel value of image `i` of class `label`: dark for class 0, bright for class 1, noisy.
fn pixel(label: usize, i: usize, j: usize) -> u8 {
    let base = if label == 0 { 40 } else { 200 };
    (base + (i * 7 + j * 13) % 30) as u8
}

fn generate(tmp: &Path, dataset: &str, path: &Path, classes: usize, extra: &str) -> Zoo {
    let def = tmp.join("zoo.toml");
    let text = ZOO
        .replace("DATASET", dataset)
        .replace("PATH", &path.display().to_string())
        .replace("CLASSES", &classes.to_string())
        .replace("EXTRA", extra);
    std::fs::write(&def, text).unwrap();
    let out = tmp.join("zoo");
    hyperzoo()
        .args(["--device", "cpu", "zoo", "generate"])
        .arg(&def)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    Zoo::open(&out).unwrap()
}

fn final_accuracies(zoo: &Zoo) -> Vec<f64> {
    zoo.records
        .iter()
        .filter(|r| r.epoch == 4)
        .map(|r| r.test_acc)
        .collect()
}

#[test]
fn zoo_from_an_image_folder_grayscale_and_resized() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shapes");
    for (split, n) in [("train", 40), ("test", 16)] {
        for (label, class) in ["dark", "light"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                // 16x16 RGB, resized to 8x8 and made grayscale by the zoo's [data] settings.
                let img = image::RgbImage::from_fn(16, 16, |x, y| {
                    let v = pixel(label, i, (x + y) as usize);
                    image::Rgb([v, v / 2 + 20, v])
                });
                img.save(dir.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
    let zoo = generate(
        tmp.path(),
        "imagefolder",
        &root,
        2,
        "grayscale = true\nresize = [8, 8]",
    );
    let acc = final_accuracies(&zoo);
    assert_eq!(acc.len(), 2);
    assert!(acc.iter().all(|&a| a > 0.9), "{acc:?}");
}

#[test]
fn zoo_from_cifar10_binary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    // CIFAR-10 records: a label byte, then 32x32 red, green, blue planes. Labels 0 and 1 only.
    let record = |label: usize, i: usize| -> Vec<u8> {
        let mut r = vec![label as u8];
        for c in 0..3 {
            r.extend((0..1024).map(|j| pixel(label, i + c, j)));
        }
        r
    };
    for b in 1..=5 {
        let bytes: Vec<u8> = (0..12).flat_map(|i| record(i % 2, i + b)).collect();
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    let test: Vec<u8> = (0..20).flat_map(|i| record(i % 2, i)).collect();
    std::fs::write(dir.join("test_batch.bin"), test).unwrap();
    let zoo = generate(
        tmp.path(),
        "cifar10",
        &dir,
        10,
        "grayscale = true\nresize = [8, 8]",
    );
    let acc = final_accuracies(&zoo);
    assert!(acc.iter().all(|&a| a > 0.9), "{acc:?}");
    // Without grayscale, 3-channel images do not fit the 1-channel architecture: a clear error.
    let def = tmp.path().join("zoo.toml");
    let text = std::fs::read_to_string(&def)
        .unwrap()
        .replace("grayscale = true", "");
    std::fs::write(&def, text).unwrap();
    hyperzoo()
        .args(["--device", "cpu", "zoo", "generate"])
        .arg(&def)
        .arg("--out")
        .arg(tmp.path().join("zoo2"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("grayscale"));
}
