//! Batches as tensors: rows, positions, and the model's `[N, T, D]` back to flat weights.
use super::data::{BatchData, Representation};
use burn::prelude::*;
use burn::tensor::TensorData;

/// Rows of a batch as a `[N, T, D]` tensor.
pub(crate) fn tensor3(x: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(x, shape), device)
}

/// SANE's positions of a batch's tokens, `[N, T, 3]` (none for flat rows).
pub(crate) fn positions(batch: &BatchData, device: &Device) -> Option<Tensor<3, Int>> {
    batch.pos.as_ref().map(|p| {
        Tensor::from_data(
            TensorData::new(p.clone(), [batch.shape[0], batch.shape[1], 3]),
            device,
        )
    })
}

/// Flat weights `[N, P]` of model outputs/inputs `[N, T, D]` in the run's representation.
pub(crate) fn to_flat(
    x: Tensor<3>,
    repr: &Representation,
    slots: Option<&Tensor<1, Int>>,
) -> Tensor<2> {
    let [n, t, d] = x.dims();
    match (repr, slots) {
        (Representation::Flat, _) => x.reshape([n, d]),
        (_, Some(s)) => x.reshape([n, t * d]).select(1, s.clone()),
        _ => unreachable!("SANE flat mapping needs the slot index"),
    }
}
