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
}
