//! Reading a complete zoo.
use super::*;

pub(super) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("zoo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let m: Manifest = toml::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
    let count = m
        .arch
        .param_count()
        .map_err(|e| Error::format(&path, e.to_string()))?;
    if count != m.params {
        return Err(Error::format(
            &path,
            format!(
                "params = {} but arch '{}' has {count}",
                m.params, m.arch.name
            ),
        ));
    }
    Ok(m)
}

/// A complete zoo on disk.
#[derive(Debug, Clone)]
pub struct Zoo {
    /// Directory.
    pub dir: PathBuf,
    /// zoo.toml.
    pub manifest: Manifest,
    /// models.csv.
    pub models: Vec<ModelRow>,
    /// properties.csv.
    pub records: Vec<Record>,
}

impl Zoo {
    /// Whether `dir` holds a complete zoo, from its zoo.toml's `status` alone (cheap: no CSV
    /// is read; [`Zoo::open`] validates the rest).
    pub fn is_complete(dir: &Path) -> bool {
        std::fs::read_to_string(dir.join("zoo.toml"))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| {
                t.get("status").and_then(|s| s.as_str()) == Some(ZooStatus::Complete.name())
            })
    }

    /// Opens and validates a complete zoo (manifest, models, properties; weights on demand).
    pub fn open(dir: &Path) -> Result<Zoo> {
        let manifest = read_manifest(dir)?;
        if manifest.status != ZooStatus::Complete {
            return Err(Error::format(
                dir.join("zoo.toml"),
                format!(
                    "status '{}': the generation has not finished; run `hyperzoo zoo generate` again",
                    manifest.status.name()
                ),
            ));
        }
        let models = read_models(&dir.join("models.csv"))?;
        if models.len() != manifest.models || models.iter().enumerate().any(|(i, m)| m.id != i) {
            return Err(Error::format(
                dir.join("models.csv"),
                format!("expected ids 0..{} in order", manifest.models),
            ));
        }
        let records: Vec<Record> = read_csv(&dir.join("properties.csv"))?;
        Ok(Zoo {
            dir: dir.into(),
            manifest,
            models,
            records,
        })
    }

    /// The `[models, params]` weights at a checkpoint epoch, validated: shape, and no
    /// non-finite value in a network not recorded as diverged.
    pub fn weights(&self, epoch: usize) -> Result<Vec<f32>> {
        let path = self.dir.join("weights").join(weights_name(epoch));
        if !self.manifest.checkpoints.contains(&epoch) {
            return Err(Error::InvalidValue {
                what: format!("epoch of zoo {}", self.dir.display()),
                value: epoch.to_string(),
                expected: format!("a checkpoint epoch: {:?}", self.manifest.checkpoints),
            });
        }
        let t = read_tensors(&path)?;
        let (data, shape) = t
            .get("weights")
            .ok_or_else(|| Error::format(&path, "no tensor 'weights'"))?;
        let (n, p) = (self.manifest.models, self.manifest.params);
        if shape != &vec![n, p] {
            return Err(Error::format(
                &path,
                format!(
                    "weights {shape:?}, expected [{n}, {p}] (models, params of {})",
                    self.manifest.arch.name
                ),
            ));
        }
        let diverged: std::collections::HashSet<usize> = self
            .records
            .iter()
            .filter(|r| r.epoch == epoch && r.status != NetStatus::Ok)
            .map(|r| r.id)
            .collect();
        for (id, row) in data.chunks_exact(p).enumerate() {
            if !diverged.contains(&id)
                && let Some(j) = row.iter().position(|v| !v.is_finite())
            {
                return Err(Error::format(
                    &path,
                    format!(
                        "model {id} has a non-finite weight ({}) at index {j} but is recorded as ok",
                        row[j]
                    ),
                ));
            }
        }
        Ok(data.clone())
    }

    /// Checks every checkpoint's weight file without reading its values: that it is there,
    /// its safetensors header reads, its `weights` tensor is f32 of shape `[models, params]`,
    /// and the file is as long as the header says (a truncated or damaged file is named). With
    /// `values`, reads every value too ([`Zoo::weights`]: no non-finite weight in a network
    /// recorded as ok). One message per damaged file; none when all are sound.
    pub fn verify_weights(&self, values: bool) -> Vec<String> {
        let (n, p) = (self.manifest.models, self.manifest.params);
        self.manifest
            .checkpoints
            .iter()
            .filter_map(|&epoch| {
                let path = self.dir.join("weights").join(weights_name(epoch));
                let checked = check_weight_header(&path, n, p).and_then(|()| {
                    if values {
                        self.weights(epoch).map(|_| ())
                    } else {
                        Ok(())
                    }
                });
                checked.err().map(|e| e.to_string())
            })
            .collect()
    }
}

/// Reads a weight file's header only (8 bytes of length, then the JSON header) and checks it
/// against `[n, p]` f32 and the file's length.
fn check_weight_header(path: &Path, n: usize, p: usize) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    let bad = |why: String| Error::format(path, why);
    let mut size = [0u8; 8];
    f.read_exact(&mut size)
        .map_err(|_| bad(format!("truncated: {len} bytes, not even a header")))?;
    let header_len = u64::from_le_bytes(size);
    if header_len > len.saturating_sub(8) || header_len > 100_000_000 {
        return Err(bad(format!(
            "damaged or truncated: its header claims {header_len} bytes of a {len}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::io("reading", path, e))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("damaged header ({e})")))?;
    let w = meta
        .get("weights")
        .ok_or_else(|| bad("no tensor 'weights' in the header".into()))?;
    let dtype = w.get("dtype").and_then(|d| d.as_str()).unwrap_or("?");
    let shape: Vec<u64> = w
        .get("shape")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
        .unwrap_or_default();
    if dtype != "F32" || shape != [n as u64, p as u64] {
        return Err(bad(format!(
            "weights {dtype} {shape:?}, expected F32 [{n}, {p}] (models, params)"
        )));
    }
    let end = w
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .and_then(|o| o.get(1))
        .and_then(|e| e.as_u64())
        .ok_or_else(|| bad("damaged header (no data offsets)".into()))?;
    let want = 8 + header_len + end;
    if len != want || end != (n * p * 4) as u64 {
        return Err(bad(format!(
            "truncated or damaged: {len} bytes, expected {want} ({n} x {p} f32 weights)"
        )));
    }
    Ok(())
}
