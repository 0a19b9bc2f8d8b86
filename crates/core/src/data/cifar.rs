//! Reader for CIFAR-10's binary format (`data_batch_1.bin` ... `test_batch.bin`): records of
//! one label byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32).
//!
//! CIFAR-10 ships in no registry reachable here, so this reads files the user already has;
//! images are returned as `[n, 3, 32, 32]` idx-style arrays (channel-major, as PyTorch).
use super::{IdxArray, ImageSplit};
use crate::{Error, Result};
use std::path::Path;

/// Bytes per record: label + 3 x 32 x 32 pixels.
pub const RECORD: usize = 1 + 3 * 32 * 32;

/// Parses CIFAR-10 binary records; errors name the file and say what is wrong.
pub fn read_cifar10_bytes(path: &Path, bytes: &[u8]) -> Result<ImageSplit> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated or not CIFAR-10 binary?)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut data = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(Error::format(
                path,
                format!("record {i}: label {} out of range 0..10", rec[0]),
            ));
        }
        labels.push(rec[0]);
        data.extend_from_slice(&rec[1..]);
    }
    Ok(ImageSplit {
        images: IdxArray {
            dims: vec![n, 3, 32, 32],
            data,
        },
        labels,
    })
}

/// Reads and concatenates CIFAR-10 binary files.
pub fn read_cifar10(paths: &[&Path]) -> Result<ImageSplit> {
    let mut all = ImageSplit {
        images: IdxArray {
            dims: vec![0, 3, 32, 32],
            data: Vec::new(),
        },
        labels: Vec::new(),
    };
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| Error::io("reading", *p, e))?;
        let part = read_cifar10_bytes(p, &bytes)?;
        all.images.data.extend(part.images.data);
        all.labels.extend(part.labels);
    }
    all.images.dims[0] = all.labels.len();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture in the binary format: record i has label i % 10 and pixel (c, y, x) = c*64 + y + x.
    fn fixture(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.push((i % 10) as u8);
            for c in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        v.push((c * 64 + y + x + i) as u8);
                    }
                }
            }
        }
        v
    }

    #[test]
    fn reads_records_channel_major() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            dir.path().join("data_batch_1.bin"),
            dir.path().join("test_batch.bin"),
        );
        std::fs::write(&a, fixture(3)).unwrap();
        std::fs::write(&b, fixture(2)).unwrap();
        let s = read_cifar10(&[&a, &b]).unwrap();
        assert_eq!(s.images.dims, vec![5, 3, 32, 32]);
        assert_eq!(s.labels, vec![0, 1, 2, 0, 1]);
        // image 1, channel 2 (blue), y 3, x 4 = 2*64 + 3 + 4 + 1
        assert_eq!(s.images.data[3072 + 2 * 1024 + 3 * 32 + 4], 136);
    }

    #[test]
    fn truncated_and_bad_labels_are_named() {
        let p = Path::new("data_batch_9.bin");
        let f = fixture(2);
        let e = read_cifar10_bytes(p, &f[..f.len() - 5])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_9.bin") && e.contains("6141 bytes"),
            "{e}"
        );
        let mut g = fixture(2);
        g[RECORD] = 42;
        let e = read_cifar10_bytes(p, &g).unwrap_err().to_string();
        assert!(e.contains("record 1") && e.contains("label 42"), "{e}");
    }
}
