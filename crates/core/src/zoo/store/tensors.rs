//! Weight files: safetensors of f32 tensors, one per checkpoint epoch.
use super::*;

pub(super) fn weights_name(epoch: usize) -> String {
    format!("epoch_{epoch:04}.safetensors")
}

/// Named f32 tensors read from a safetensors file: name to (data, shape).
pub type TensorMap = HashMap<String, (Vec<f32>, Vec<usize>)>;

/// Writes named f32 tensors to a safetensors file atomically.
pub fn write_tensors(path: &Path, tensors: &[(&str, &[f32], Vec<usize>)]) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, _)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, _, shape), b)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), b)
                .map_err(|e| Error::format(path, e.to_string()))?;
            Ok((name.to_string(), view))
        })
        .collect::<Result<_>>()?;
    let out =
        safetensors::serialize(views, None).map_err(|e| Error::format(path, e.to_string()))?;
    write_atomic(path, &out)
}

/// Reads every f32 tensor of a safetensors file: name to (data, shape).
pub fn read_tensors(path: &Path) -> Result<TensorMap> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::format(
            path,
            format!("not a valid safetensors file (corrupt or truncated?): {e}"),
        )
    })?;
    let mut out = HashMap::new();
    for name in st.names() {
        let t = st
            .tensor(name)
            .map_err(|e| Error::format(path, e.to_string()))?;
        if t.dtype() != Dtype::F32 {
            return Err(Error::format(
                path,
                format!("tensor '{name}' is {:?}, expected F32", t.dtype()),
            ));
        }
        let data = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        out.insert(name.to_string(), (data, t.shape().to_vec()));
    }
    Ok(out)
}
