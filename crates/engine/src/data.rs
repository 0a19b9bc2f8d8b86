//! Datasets as tensors: the bridge from [`hyperzoo_core::data`] (bytes on disk) to burn.
use burn::prelude::*;
use burn::tensor::TensorData;
use hyperzoo_core::data::ImageSplit;

/// Images of a split as a `[n, 1, rows, cols]` f32 tensor, scaled to [0, 1] and then
/// standardised with `(x - mean) / std` (pass `(0.0, 1.0)` to keep [0, 1]).
pub fn images_to_tensor(split: &ImageSplit, mean: f32, std: f32, device: &Device) -> Tensor<4> {
    let d = &split.images.dims;
    let values: Vec<f32> = split
        .images
        .data
        .iter()
        .map(|&p| (p as f32 / 255.0 - mean) / std)
        .collect();
    Tensor::from_data(TensorData::new(values, [d[0], 1, d[1], d[2]]), device)
}

/// Labels of a split as an `[n]` integer tensor.
pub fn labels_to_tensor(split: &ImageSplit, device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = split.labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(values, [split.labels.len()]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::data::IdxArray;

    #[test]
    fn images_become_normalised_nchw() {
        let split = ImageSplit {
            images: IdxArray {
                dims: vec![2, 1, 2],
                data: vec![0, 255, 51, 102],
            },
            labels: vec![3, 7],
        };
        let dev = crate::device::resolve(Default::default()).unwrap().device;
        let x = images_to_tensor(&split, 0.5, 0.5, &dev);
        assert_eq!(x.dims(), [2, 1, 1, 2]);
        let v: Vec<f32> = x.into_data().try_to_vec().unwrap();
        let expect = [-1.0, 1.0, -0.6, -0.2];
        for (a, b) in v.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        let y: Vec<i64> = labels_to_tensor(&split, &dev)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(y, vec![3, 7]);
    }
}
