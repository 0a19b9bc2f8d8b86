//! Export of a zoo to one file for notebooks: safetensors or numpy's npz.
//!
//! Arrays (E checkpoint epochs, N networks, P parameters):
//! - `weights` f32 `[E, N, P]`, PyTorch state-dict layout per row;
//! - `epochs` `[E]`, `split` `[N]` (0 train, 1 val, 2 test), `status` `[E, N]` (0 ok,
//!   1 diverged, 2 missing);
//! - `train_loss`, `train_acc`, `val_loss`, `val_acc`, `test_loss`, `test_acc`, `ggap` f32
//!   `[E, N]` (NaN where not recorded).
//!
//! In npz the integer arrays are int64; safetensors holds them as int64 too, and carries the
//! manifest (zoo.toml text) and models.csv text in its metadata. Both files are written
//! atomically.
use super::ModelSplit;
use super::store::{NetStatus, Zoo};
use crate::fsutil::write_atomic_with;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// safetensors (tensors plus metadata).
    Safetensors,
    /// numpy .npz (zip of .npy arrays).
    Npz,
}

impl std::str::FromStr for ExportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "safetensors" => Ok(Self::Safetensors),
            "npz" => Ok(Self::Npz),
            _ => Err(Error::InvalidValue {
                what: "export format".into(),
                value: s.into(),
                expected: "safetensors or npz".into(),
            }),
        }
    }
}

impl ExportFormat {
    /// The format a file name asks for by its extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "safetensors" => Some(Self::Safetensors),
            "npz" => Some(Self::Npz),
            _ => None,
        }
    }
}

enum Array {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// Writes `zoo` (the given checkpoint epochs, default all) to `out`.
pub fn export(zoo: &Zoo, epochs: Option<&[usize]>, format: ExportFormat, out: &Path) -> Result<()> {
    let epochs: Vec<usize> = epochs
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| zoo.manifest.checkpoints.clone());
    let (n, p, e) = (zoo.manifest.models, zoo.manifest.params, epochs.len());
    let mut weights = Vec::with_capacity(e * n * p);
    for &epoch in &epochs {
        weights.extend(zoo.weights(epoch)?);
    }
    let mut by_key: HashMap<(usize, usize), &super::store::Record> = HashMap::new();
    for r in &zoo.records {
        by_key.insert((r.epoch, r.id), r);
    }
    let metric = |f: fn(&super::store::Record) -> f64| {
        let mut v = Vec::with_capacity(e * n);
        for &epoch in &epochs {
            for id in 0..n {
                v.push(by_key.get(&(epoch, id)).map_or(f32::NAN, |r| f(r) as f32));
            }
        }
        Array::F32(v)
    };
    let mut status = Vec::with_capacity(e * n);
    for &epoch in &epochs {
        for id in 0..n {
            status.push(match by_key.get(&(epoch, id)).map(|r| r.status) {
                Some(NetStatus::Ok) => 0,
                Some(NetStatus::Diverged) => 1,
                Some(NetStatus::Missing) | None => 2,
            });
        }
    }
    let split = zoo
        .models
        .iter()
        .map(|m| match m.split {
            ModelSplit::Train => 0,
            ModelSplit::Val => 1,
            ModelSplit::Test => 2,
        })
        .collect();
    let arrays: Vec<(&str, Vec<usize>, Array)> = vec![
        ("weights", vec![e, n, p], Array::F32(weights)),
        (
            "epochs",
            vec![e],
            Array::I64(epochs.iter().map(|&x| x as i64).collect()),
        ),
        ("split", vec![n], Array::I64(split)),
        ("status", vec![e, n], Array::I64(status)),
        ("train_loss", vec![e, n], metric(|r| r.train_loss)),
        ("train_acc", vec![e, n], metric(|r| r.train_acc)),
        ("val_loss", vec![e, n], metric(|r| r.val_loss)),
        ("val_acc", vec![e, n], metric(|r| r.val_acc)),
        ("test_loss", vec![e, n], metric(|r| r.test_loss)),
        ("test_acc", vec![e, n], metric(|r| r.test_acc)),
        ("ggap", vec![e, n], metric(|r| r.ggap)),
    ];
    match format {
        ExportFormat::Safetensors => write_safetensors(zoo, &arrays, out),
        ExportFormat::Npz => write_npz(&arrays, out),
    }
}

fn write_safetensors(zoo: &Zoo, arrays: &[(&str, Vec<usize>, Array)], out: &Path) -> Result<()> {
    use safetensors::{Dtype, tensor::TensorView};
    let bytes: Vec<(Dtype, Vec<u8>)> = arrays
        .iter()
        .map(|(_, _, a)| match a {
            Array::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Array::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        })
        .collect();
    let views = arrays
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), (dtype, b))| {
            TensorView::new(*dtype, shape.clone(), b)
                .map(|v| (name.to_string(), v))
                .map_err(|err| Error::format(out, err.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let read = |name: &str| {
        let path = zoo.dir.join(name);
        std::fs::read_to_string(&path).map_err(|err| Error::io("reading", &path, err))
    };
    let meta = HashMap::from([
        ("zoo.toml".to_string(), read("zoo.toml")?),
        ("models.csv".to_string(), read("models.csv")?),
    ]);
    let data = safetensors::serialize(views, Some(meta))
        .map_err(|err| Error::format(out, err.to_string()))?;
    crate::fsutil::write_atomic(out, &data)
}

fn write_npz(arrays: &[(&str, Vec<usize>, Array)], out: &Path) -> Result<()> {
    use npyz::WriterBuilder;
    write_atomic_with(out, |file| {
        let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(file));
        for (name, shape, a) in arrays {
            let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
            match a {
                Array::F32(v) => {
                    let mut w = npz
                        .array::<f32>(name, Default::default())?
                        .default_dtype()
                        .shape(&shape)
                        .begin_nd()?;
                    w.extend(v.iter().copied())?;
                    w.finish()?;
                }
                Array::I64(v) => {
                    let mut w = npz
                        .array::<i64>(name, Default::default())?
                        .default_dtype()
                        .shape(&shape)
                        .begin_nd()?;
                    w.extend(v.iter().copied())?;
                    w.finish()?;
                }
            }
        }
        npz.zip_writer().finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_from_name() {
        use super::ExportFormat;
        use std::path::Path;
        assert_eq!(
            ExportFormat::from_path(Path::new("a/z.npz")),
            Some(ExportFormat::Npz)
        );
        assert_eq!(
            ExportFormat::from_path(Path::new("z.safetensors")),
            Some(ExportFormat::Safetensors)
        );
        assert!("csv".parse::<ExportFormat>().is_err());
    }
}
