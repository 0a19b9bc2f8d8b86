//! Reader for the idx format of MNIST-style datasets (LeCun): a 4-byte magic `00 00 TT ND`
//! (TT = element type, ND = number of dims), ND big-endian u32 dimensions, then the elements in
//! row-major order. hyperzoo reads unsigned-byte files (TT = 0x08), raw or gzip-compressed.
use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An unsigned-byte idx array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Elements, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads an idx file (raw, or gzip when it starts with the gzip magic).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt or truncated gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    read_idx_bytes(&bytes).map_err(|reason| Error::format(path, reason))
}

/// Parses idx bytes; the error is a sentence saying what was expected and what was found.
pub fn read_idx_bytes(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes: too short for an idx header (4-byte magic)",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "wrong magic {:02x} {:02x} {:02x} {:02x}: an idx file starts with 00 00 <type> <ndims>",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} not supported: hyperzoo reads unsigned-byte idx files (type 0x08)",
            bytes[2]
        ));
    }
    let nd = bytes[3] as usize;
    if nd == 0 || nd > 4 {
        return Err(format!("{nd} dimensions in the magic; expected 1 to 4"));
    }
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(format!(
            "{} bytes: header of {nd} dims needs {header}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let body = bytes.len() - header;
    if body != count {
        let what = if body < count {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(format!(
            "{what}: dims {dims:?} need {count} data bytes after the {header}-byte header, found {body}"
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_a_small_array() {
        let a = read_idx_bytes(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        let e = read_idx_bytes(&idx(&[2, 3], &[1, 2, 3])).unwrap_err();
        assert!(e.contains("truncated") && e.contains("found 3"), "{e}");
        let e = read_idx_bytes(&idx(&[1], &[1, 2])).unwrap_err();
        assert!(e.contains("trailing"), "{e}");
        let e = read_idx_bytes(&[0, 0, 8]).unwrap_err();
        assert!(e.contains("too short"), "{e}");
    }

    #[test]
    fn rejects_wrong_magic_and_type() {
        let e = read_idx_bytes(b"PK\x03\x04rest").unwrap_err();
        assert!(e.contains("wrong magic 50 4b 03 04"), "{e}");
        let mut f = idx(&[1], &[0, 0, 0, 0]);
        f[2] = 0x0d;
        assert!(read_idx_bytes(&f).unwrap_err().contains("0x0d"));
    }

    #[test]
    fn reads_gzip_and_names_the_file_on_error() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&idx(&[4], &[9, 8, 7, 6])).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(&p, &gz).unwrap();
        assert_eq!(read_idx(&p).unwrap().data, vec![9, 8, 7, 6]);
        std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
        let e = read_idx(&p).unwrap_err().to_string();
        assert!(e.contains("a.gz") && e.contains("gzip"), "{e}");
    }
}
