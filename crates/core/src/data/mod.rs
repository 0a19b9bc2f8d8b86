//! Datasets on disk: the catalog of known datasets (files, sizes, sha256), the idx reader, and
//! fetching into the data directory.
//!
//! Layout: `<data dir>/<dataset>/<file>`, files stored uncompressed in the idx format, e.g.
//! `<data dir>/mnist/train-images-idx3-ubyte`. A dataset counts as present only when every file
//! has the catalog's size and sha256 (of the uncompressed bytes, whatever the source shipped).

mod catalog;
pub mod cifar;
mod fetch;
mod idx;
pub mod imagefolder;
pub mod tetris;
pub mod transforms;

pub use catalog::{CATALOG, DatasetInfo, FileInfo, Source, find_dataset};
pub use fetch::{FetchOptions, FetchOutcome, SourceChoice, fetch};
pub use idx::{IdxArray, read_idx, read_idx_bytes};

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The state of one dataset in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetStatus {
    /// Every file present with the expected sha256.
    Verified,
    /// Some files are absent (their names).
    Missing(Vec<String>),
    /// A file is present but its size or checksum is wrong.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A dataset's normalisation: per-channel mean and standard deviation of pixel/255, as the
/// reference zoos use them (MNIST (0.1307, 0.3081), as the Model Zoos; Tetris unnormalised);
/// (0.5, 0.5), which maps pixels to [-1, 1] as the Small CNN Zoo does, for any other.
pub fn default_norm(name: &str, channels: usize) -> (Vec<f32>, Vec<f32>) {
    match (name, channels) {
        ("mnist", 1) => (vec![0.1307], vec![0.3081]),
        ("fashion-mnist", 1) => (vec![0.2860], vec![0.3530]),
        ("tetris", _) => (vec![0.0], vec![1.0]),
        ("cifar10", 3) => (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616]),
        _ => (vec![0.5], vec![0.5]),
    }
}

/// Directory of `ds` under `data_dir`.
pub fn dataset_dir(data_dir: &Path, ds: &DatasetInfo) -> PathBuf {
    data_dir.join(ds.name)
}

/// Checks every file of `ds` in `data_dir` (size, then full sha256).
pub fn verify(data_dir: &Path, ds: &DatasetInfo) -> DatasetStatus {
    let dir = dataset_dir(data_dir, ds);
    let missing: Vec<String> = ds
        .files
        .iter()
        .filter(|f| !dir.join(f.name).is_file())
        .map(|f| f.name.to_string())
        .collect();
    if !missing.is_empty() {
        return DatasetStatus::Missing(missing);
    }
    for f in ds.files {
        let path = dir.join(f.name);
        if let Err(e) = check_file(&path, f) {
            return DatasetStatus::Corrupt {
                path,
                reason: e.to_string(),
            };
        }
    }
    DatasetStatus::Verified
}

/// Checks size and sha256 of one file against the catalog entry.
pub fn check_file(path: &Path, f: &FileInfo) -> Result<()> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    if len != f.bytes {
        return Err(Error::format(
            path,
            format!(
                "{len} bytes, expected {} (truncated or wrong file)",
                f.bytes
            ),
        ));
    }
    let found = sha256_file(path)?;
    if found != f.sha256 {
        return Err(Error::Checksum {
            path: path.into(),
            expected: f.sha256.into(),
            found,
        });
    }
    Ok(())
}

/// Hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).map_err(|e| Error::io("reading", path, e))?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A labelled image split: `images` is `[n, rows, cols]` u8, `labels` has `n` entries.
#[derive(Debug, Clone)]
pub struct ImageSplit {
    /// Images, idx dims `[n, rows, cols]`.
    pub images: IdxArray,
    /// One class label per image.
    pub labels: Vec<u8>,
}

impl ImageSplit {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Count of each label `0..classes`.
    pub fn label_counts(&self, classes: usize) -> Vec<usize> {
        let mut c = vec![0; classes];
        for &l in &self.labels {
            if (l as usize) < classes {
                c[l as usize] += 1;
            }
        }
        c
    }
}

/// Which half of an idx dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The 60k training files.
    Train,
    /// The 10k test files.
    Test,
}

/// Loads a split of an idx image dataset (MNIST, Fashion-MNIST) from `data_dir`.
///
/// Checks that images are 3-D, labels 1-D, counts agree, and labels are below the class count.
/// (Checksums are checked by `hyperzoo data fetch` and `doctor`, not on every load.)
pub fn load_split(data_dir: &Path, ds: &DatasetInfo, split: Split) -> Result<ImageSplit> {
    let dir = dataset_dir(data_dir, ds);
    let (img_name, lbl_name) = match split {
        Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    };
    let (img_path, lbl_path) = (dir.join(img_name), dir.join(lbl_name));
    if !img_path.is_file() || !lbl_path.is_file() {
        return Err(Error::MissingDataset {
            dataset: ds.name.into(),
            dir: data_dir.into(),
        });
    }
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    if images.dims.len() != 3 {
        return Err(Error::format(
            &img_path,
            format!("expected 3 dims [n, rows, cols], found {:?}", images.dims),
        ));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(Error::format(
            &lbl_path,
            format!(
                "expected 1 dim with {} labels (one per image), found {:?}",
                images.dims[0], labels.dims
            ),
        ));
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l as usize >= ds.classes) {
        return Err(Error::format(
            &lbl_path,
            format!("label {bad} out of range 0..{}", ds.classes),
        ));
    }
    Ok(ImageSplit {
        images,
        labels: labels.data,
    })
}
