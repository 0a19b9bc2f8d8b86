//! The images a zoo trains on, as tensors on the device: the training set minus a held-out
//! validation set (fixed seed), optionally subsampled, and the test set; transformed to the
//! architecture's input (normalised with the dataset's mean/std, zero-padded to a larger input,
//! grey repeated to 3 channels: how cnn3 zoos are made from MNIST here).
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::data::{self, ImageSplit, Split};
use hyperzoo_core::zoo::ZooDef;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::Path;

/// Images `[n, C, H, W]` and labels `[n]` on a device.
#[derive(Debug, Clone)]
pub struct TensorSet {
    /// Images.
    pub x: Tensor<4>,
    /// Labels.
    pub y: Tensor<1, Int>,
}

impl TensorSet {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.dims()[0]
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Train / validation / test sets of a zoo.
#[derive(Debug, Clone)]
pub struct ZooData {
    /// Training images.
    pub train: TensorSet,
    /// The training images on which train loss/accuracy are measured (a prefix of `train`).
    pub train_eval: TensorSet,
    /// Held-out validation images (from the training file).
    pub val: TensorSet,
    /// Test images.
    pub test: TensorSet,
    /// Number of classes.
    pub classes: usize,
}

/// Per-dataset normalisation (mean, std of pixel/255).
fn norm(name: &str) -> (f32, f32) {
    match name {
        "mnist" => (0.1307, 0.3081),
        "fashion-mnist" => (0.2860, 0.3530),
        "tetris" => (0.0, 1.0),
        _ => (0.5, 0.5),
    }
}

/// Loads the zoo's dataset from `data_dir` onto `device`.
pub fn load_zoo_data(def: &ZooDef, data_dir: &Path, device: &Device) -> Result<ZooData> {
    let (name, classes, train, test) = if def.dataset == "tetris" {
        // Generated, not fetched: see hyperzoo_core::data::tetris for the generator.
        let (train, test) = data::tetris::generate(&data::tetris::TetrisSpec::default());
        ("tetris", 4, train, test)
    } else {
        let ds = data::find_dataset(&def.dataset).ok_or_else(|| {
            Error::Core(hyperzoo_core::Error::InvalidValue {
                what: "dataset".into(),
                value: def.dataset.clone(),
                expected: format!("one of {}", hyperzoo_core::zoo::DATASETS.join(", ")),
            })
        })?;
        let train = data::load_split(data_dir, ds, Split::Train)?;
        let test = data::load_split(data_dir, ds, Split::Test)?;
        (ds.name, ds.classes, train, test)
    };
    let mut idx: Vec<usize> = (0..train.len()).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        def.data.split_seed,
    ));
    let val_n = def.data.val_size.min(train.len() - 1);
    let (val_idx, rest) = idx.split_at(val_n);
    let train_n = ((rest.len() as f64 * def.data.train_fraction).round() as usize).max(1);
    let mut test_idx: Vec<usize> = (0..test.len()).collect();
    test_idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        def.data.split_seed ^ 1,
    ));
    let test_n = ((test.len() as f64 * def.data.test_fraction).round() as usize).max(1);
    let (mean, std) = norm(name);
    let input = def.arch.input;
    let make = |split: &ImageSplit, ids: &[usize]| to_tensors(split, ids, input, mean, std, device);
    let train_set = make(&train, &rest[..train_n])?;
    let eval_n = def
        .data
        .train_eval_size
        .unwrap_or(train_n)
        .clamp(1, train_n);
    let train_eval = TensorSet {
        x: train_set.x.clone().narrow(0, 0, eval_n),
        y: train_set.y.clone().narrow(0, 0, eval_n),
    };
    Ok(ZooData {
        train: train_set,
        train_eval,
        val: make(&train, val_idx)?,
        test: make(&test, &test_idx[..test_n])?,
        classes,
    })
}

/// Selected images, normalised and fitted to `input` = [C, H, W].
pub fn to_tensors(
    split: &ImageSplit,
    ids: &[usize],
    input: [usize; 3],
    mean: f32,
    std: f32,
    device: &Device,
) -> Result<TensorSet> {
    let (h, w) = (split.images.dims[1], split.images.dims[2]);
    let [c, th, tw] = input;
    if th < h || tw < w || (th - h) % 2 != 0 || (tw - w) % 2 != 0 {
        return Err(Error::Shape {
            what: "dataset images for the architecture input".into(),
            found: format!("{h}x{w}"),
            expected: format!("an image that pads evenly to {th}x{tw}"),
        });
    }
    let (ph, pw) = ((th - h) / 2, (tw - w) / 2);
    let background = -mean / std;
    let mut out = vec![background; ids.len() * c * th * tw];
    for (k, &i) in ids.iter().enumerate() {
        let img = &split.images.data[i * h * w..(i + 1) * h * w];
        for ch in 0..c {
            let base = (k * c + ch) * th * tw;
            for r in 0..h {
                for col in 0..w {
                    out[base + (r + ph) * tw + col + pw] =
                        (img[r * w + col] as f32 / 255.0 - mean) / std;
                }
            }
        }
    }
    let labels: Vec<i64> = ids.iter().map(|&i| split.labels[i] as i64).collect();
    Ok(TensorSet {
        x: Tensor::from_data(TensorData::new(out, [ids.len(), c, th, tw]), device),
        y: Tensor::from_data(TensorData::new(labels, [ids.len()]), device),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::data::IdxArray;

    #[test]
    fn pads_and_repeats_channels() {
        let split = ImageSplit {
            images: IdxArray {
                dims: vec![1, 2, 2],
                data: vec![255, 0, 0, 255],
            },
            labels: vec![4],
        };
        let dev = crate::device::resolve(Default::default()).unwrap().device;
        let t = to_tensors(&split, &[0], [3, 4, 4], 0.0, 1.0, &dev).unwrap();
        assert_eq!(t.x.dims(), [1, 3, 4, 4]);
        let v: Vec<f32> = t.x.into_data().try_to_vec().unwrap();
        for ch in 0..3 {
            let plane = &v[ch * 16..(ch + 1) * 16];
            assert_eq!(plane[5], 1.0);
            assert_eq!(plane[6], 0.0);
            assert_eq!(plane[10], 1.0);
            assert_eq!(plane.iter().sum::<f32>(), 2.0);
        }
        assert!(to_tensors(&split, &[0], [1, 3, 3], 0.0, 1.0, &dev).is_err());
    }
}
