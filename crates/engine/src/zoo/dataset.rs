//! The images a zoo trains on, as tensors on the device: the training set minus a held-out
//! validation set (fixed seed), optionally subsampled, and the test set; transformed to the
//! architecture's input (normalised with the dataset's mean/std, zero-padded to a larger input,
//! grey repeated to 3 channels: how cnn3 zoos are made from MNIST here).
use crate::{Error, Result};
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::data::transforms::{self, Filter, GrayWeights, Images};
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

/// The dataset's train and test images with its number of classes.
fn read_dataset(def: &ZooDef, data_dir: &Path) -> Result<(usize, ImageSplit, ImageSplit)> {
    let path = def.data.path.as_ref().map(|p| data_dir.join(p));
    match def.dataset.as_str() {
        "tetris" => {
            // Generated, not fetched: see hyperzoo_core::data::tetris for the generator.
            let (train, test) = data::tetris::generate(&data::tetris::TetrisSpec::default());
            Ok((4, train, test))
        }
        "cifar10" => {
            let dir = path.expect("validated: cifar10 has a path");
            let train: Vec<std::path::PathBuf> = (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}.bin")))
                .collect();
            let train_refs: Vec<&Path> = train.iter().map(|p| p.as_path()).collect();
            let test = dir.join("test_batch.bin");
            Ok((
                10,
                data::cifar::read_cifar10(&train_refs)?,
                data::cifar::read_cifar10(&[&test])?,
            ))
        }
        "imagefolder" => {
            let dir = path.expect("validated: imagefolder has a path");
            let size = def.data.resize;
            let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
            let classes = data::imagefolder::class_names(&train_dir)?;
            if data::imagefolder::class_names(&test_dir)? != classes {
                return Err(Error::Core(hyperzoo_core::Error::format(
                    &test_dir,
                    format!(
                        "its class folders differ from those of {}",
                        train_dir.display()
                    ),
                )));
            }
            Ok((
                classes.len(),
                data::imagefolder::read_image_folder(&train_dir, size)?,
                data::imagefolder::read_image_folder(&test_dir, size)?,
            ))
        }
        name => {
            let ds = data::find_dataset(name).ok_or_else(|| {
                Error::Core(hyperzoo_core::Error::InvalidValue {
                    what: "dataset".into(),
                    value: name.into(),
                    expected: format!("one of {}", hyperzoo_core::zoo::DATASETS.join(", ")),
                })
            })?;
            let train = data::load_split(data_dir, ds, Split::Train)?;
            let test = data::load_split(data_dir, ds, Split::Test)?;
            Ok((ds.classes, train, test))
        }
    }
}

/// Loads the zoo's dataset from `data_dir` onto `device`.
pub fn load_zoo_data(def: &ZooDef, data_dir: &Path, device: &Device) -> Result<ZooData> {
    let (classes, train, test) = read_dataset(def, data_dir)?;
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
    let make = |split: &ImageSplit, ids: &[usize]| to_tensors(split, ids, def, device);
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

/// Selected images through the zoo's transforms, in this order: pixel/255, grayscale
/// (`[data] grayscale`), resize (`[data] resize`), centre zero-padding to the architecture's
/// input size, per-channel normalisation (so padding holds the normalised black), and a grey
/// image repeated to the architecture's channels (how cnn3 zoos are made from MNIST here).
pub fn to_tensors(
    split: &ImageSplit,
    ids: &[usize],
    def: &ZooDef,
    device: &Device,
) -> Result<TensorSet> {
    let per: usize = split.images.dims[1..].iter().product();
    let subset = ImageSplit {
        images: data::IdxArray {
            dims: [&[ids.len()][..], &split.images.dims[1..]].concat(),
            data: ids
                .iter()
                .flat_map(|&i| split.images.data[i * per..(i + 1) * per].iter().copied())
                .collect(),
        },
        labels: ids.iter().map(|&i| split.labels[i]).collect(),
    };
    let mut x = Images::from_split(&subset, 1.0 / 255.0)?;
    if def.data.grayscale && x.channels() != 1 {
        x = transforms::grayscale(&x, GrayWeights::Mean)?;
    }
    if let Some([h, w]) = def.data.resize
        && (x.height(), x.width()) != (h, w)
    {
        x = transforms::resize(&x, h, w, Filter::AntialiasedBilinear)?;
    }
    let [c, th, tw] = def.arch.input;
    let (h, w) = (x.height(), x.width());
    if th < h || tw < w {
        return Err(Error::Shape {
            what: format!("{} images for the architecture input", def.dataset),
            found: format!("{h}x{w}"),
            expected: format!("at most {th}x{tw}; set [data] resize = [{th}, {tw}]"),
        });
    }
    if (th, tw) != (h, w) {
        x = transforms::pad(&x, th, tw, 0.0)?;
    }
    let (mean, std) = match (&def.data.mean, &def.data.std) {
        (Some(m), Some(s)) => (m.clone(), s.clone()),
        _ => data::default_norm(&def.dataset, x.channels()),
    };
    x = transforms::normalize(&x, &mean, &std)?;
    if x.channels() != c {
        if x.channels() != 1 {
            return Err(Error::Shape {
                what: format!("{} images for the architecture input", def.dataset),
                found: format!("{} channels", x.channels()),
                expected: format!("{c} channels (set [data] grayscale = true for 1)"),
            });
        }
        x = transforms::repeat_channels(&x, c)?;
    }
    let labels: Vec<i64> = subset.labels.iter().map(|&l| l as i64).collect();
    Ok(TensorSet {
        x: Tensor::from_data(
            TensorData::new(x.into_data(), [ids.len(), c, th, tw]),
            device,
        ),
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
        let def = |input: &str| {
            ZooDef::parse(
                Path::new("t.toml"),
                &format!(
                    "name = 't'\ndataset = 'tetris'\nepochs = 1\n[arch]\nname = 'x'\ninput = {input}\nlayers = [{{ type = 'flatten' }}, {{ type = 'linear', out = 2 }}]\n[hparams]\nactivation = 'relu'\ninit = 'normal'\noptimizer = 'sgd'\nlr = 0.1\nweight_decay = 0.0\ndropout = 0.0\nbatch_size = 1\nseed = 1\n"
                ),
            )
            .unwrap()
        };
        let t = to_tensors(&split, &[0], &def("[3, 4, 4]"), &dev).unwrap();
        assert_eq!(t.x.dims(), [1, 3, 4, 4]);
        let v: Vec<f32> = t.x.into_data().try_to_vec().unwrap();
        for ch in 0..3 {
            let plane = &v[ch * 16..(ch + 1) * 16];
            assert_eq!(plane[5], 1.0);
            assert_eq!(plane[6], 0.0);
            assert_eq!(plane[10], 1.0);
            assert_eq!(plane.iter().sum::<f32>(), 2.0);
        }
        let e = to_tensors(&split, &[0], &def("[1, 1, 1]"), &dev).unwrap_err();
        assert!(e.to_string().contains("resize"), "{e}");
    }
}
