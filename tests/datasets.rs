//! The idx reader on the real MNIST and Fashion-MNIST files in the data directory
//! (`HYPERZOO_DATA`, else the platform default; `scripts/setup.sh` fetches them).
use hyperzoo_core::data::{self, Split, find_dataset, read_idx};
use hyperzoo_core::paths;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    let dir = paths::data_dir(None).path;
    for name in ["mnist", "fashion-mnist"] {
        let ds = find_dataset(name).unwrap();
        assert!(
            dir.join(ds.name).join(ds.files[0].name).is_file(),
            "{name} is not in {}: run `hyperzoo data fetch` (or scripts/setup.sh) first",
            dir.display()
        );
    }
    dir
}

#[test]
fn mnist_shapes_and_label_counts() {
    let dir = data_dir();
    let ds = find_dataset("mnist").unwrap();
    let train = data::load_split(&dir, ds, Split::Train).unwrap();
    assert_eq!(train.images.dims, vec![60_000, 28, 28]);
    assert_eq!(
        train.label_counts(10),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let test = data::load_split(&dir, ds, Split::Test).unwrap();
    assert_eq!(test.images.dims, vec![10_000, 28, 28]);
    assert_eq!(
        test.label_counts(10),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // Mean pixel of the training set is the well-known 0.1307 * 255.
    let mean =
        train.images.data.iter().map(|&p| p as f64).sum::<f64>() / train.images.data.len() as f64;
    assert!((mean / 255.0 - 0.1307).abs() < 1e-4, "mean {mean}");
}

#[test]
fn fashion_mnist_shapes_and_label_counts() {
    let dir = data_dir();
    let ds = find_dataset("fashion-mnist").unwrap();
    let train = data::load_split(&dir, ds, Split::Train).unwrap();
    assert_eq!(train.images.dims, vec![60_000, 28, 28]);
    assert_eq!(train.label_counts(10), vec![6000; 10]);
    assert_eq!(&train.labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    let test = data::load_split(&dir, ds, Split::Test).unwrap();
    assert_eq!(test.images.dims, vec![10_000, 28, 28]);
    assert_eq!(test.label_counts(10), vec![1000; 10]);
    assert_eq!(&test.labels[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
}

#[test]
fn both_datasets_verify_against_their_sha256() {
    let dir = data_dir();
    for ds in data::CATALOG {
        assert_eq!(
            data::verify(&dir, ds),
            data::DatasetStatus::Verified,
            "{}",
            ds.name
        );
    }
}

#[test]
fn truncated_real_file_is_rejected_with_the_path_and_sizes() {
    let dir = data_dir();
    let real = std::fs::read(dir.join("mnist/t10k-images-idx3-ubyte")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("t10k-images-idx3-ubyte");
    std::fs::write(&cut, &real[..real.len() - 784 * 3]).unwrap();
    let e = read_idx(&cut).unwrap_err().to_string();
    assert!(e.contains(&cut.display().to_string()), "{e}");
    assert!(
        e.contains("truncated") && e.contains("7840000") && e.contains("7837648"),
        "{e}"
    );
    // A corrupt copy in a data directory shows up in verify() as corrupt, not verified.
    let ds = find_dataset("mnist").unwrap();
    let fake_data = tmp.path().join("data");
    std::fs::create_dir_all(fake_data.join("mnist")).unwrap();
    for f in ds.files {
        std::fs::copy(
            dir.join("mnist").join(f.name),
            fake_data.join("mnist").join(f.name),
        )
        .unwrap();
    }
    let mut labels = std::fs::read(fake_data.join("mnist/t10k-labels-idx1-ubyte")).unwrap();
    labels[100] ^= 1;
    std::fs::write(fake_data.join("mnist/t10k-labels-idx1-ubyte"), labels).unwrap();
    match data::verify(&fake_data, ds) {
        data::DatasetStatus::Corrupt { path, reason } => {
            assert!(path.ends_with("t10k-labels-idx1-ubyte"));
            assert!(reason.contains("sha256"), "{reason}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
}

#[test]
fn wrong_magic_real_file_is_rejected() {
    let dir = data_dir();
    let mut bytes = std::fs::read(dir.join("fashion-mnist/t10k-labels-idx1-ubyte")).unwrap();
    bytes[0] = 0x1a;
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("labels");
    std::fs::write(&p, bytes).unwrap();
    let e = read_idx(&p).unwrap_err().to_string();
    assert!(
        e.contains("wrong magic 1a 00 08 01") && e.contains("labels"),
        "{e}"
    );
    // Labels where images are expected: load_split says which dims it wanted.
    let ds = find_dataset("fashion-mnist").unwrap();
    let d = tmp.path().join("data/fashion-mnist");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        dir.join("fashion-mnist/t10k-labels-idx1-ubyte"),
        d.join("t10k-images-idx3-ubyte"),
    )
    .unwrap();
    std::fs::copy(
        dir.join("fashion-mnist/t10k-labels-idx1-ubyte"),
        d.join("t10k-labels-idx1-ubyte"),
    )
    .unwrap();
    let e = data::load_split(&tmp.path().join("data"), ds, Split::Test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected 3 dims"), "{e}");
}
