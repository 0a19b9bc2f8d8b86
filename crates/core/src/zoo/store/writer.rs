//! Writing a zoo: population by population as it trains (resumable), or at once.
use super::*;

/// Writes a zoo being generated: manifest, models, per-population parts, then the final files.
#[derive(Debug)]
pub struct ZooWriter {
    dir: PathBuf,
    manifest: Manifest,
}

impl ZooWriter {
    /// Creates the zoo directory for `def`, or reopens it to resume. A directory holding a
    /// different definition is refused rather than mixed.
    pub fn create_or_resume(
        dir: &Path,
        def: &ZooDef,
        versions: HashMap<String, String>,
        command: &str,
    ) -> Result<Self> {
        let params = def.arch.param_count()?;
        let manifest_path = dir.join("zoo.toml");
        if manifest_path.exists() {
            let existing = read_manifest(dir)?;
            if existing.definition != def.source || existing.arch != def.arch {
                return Err(Error::format(
                    &manifest_path,
                    "holds a zoo made from a different definition; choose another --out or delete it",
                ));
            }
            return Ok(Self {
                dir: dir.into(),
                manifest: existing,
            });
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            name: def.name.clone(),
            description: def.description.clone(),
            status: ZooStatus::Generating,
            dataset: def.dataset.clone(),
            models: def.networks.len(),
            params,
            epochs: def.epochs,
            checkpoints: def.checkpoints.clone(),
            arch: def.arch.clone(),
            versions,
            command: command.into(),
            definition: def.source.clone(),
            source: String::new(),
            data: None,
        };
        let pops = def.populations();
        let mut pop_of = vec![0; def.networks.len()];
        for (k, (_, ids)) in pops.iter().enumerate() {
            for &i in ids {
                pop_of[i] = k;
            }
        }
        let rows: Vec<ModelRow> = def
            .networks
            .iter()
            .enumerate()
            .map(|(id, h)| ModelRow::new(id, def.splits[id], pop_of[id], h))
            .collect();
        write_models(&dir.join("models.csv"), &rows)?;
        let w = Self {
            dir: dir.into(),
            manifest,
        };
        w.write_manifest()?;
        Ok(w)
    }

    fn write_manifest(&self) -> Result<()> {
        let path = self.dir.join("zoo.toml");
        let text =
            toml::to_string(&self.manifest).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Whether the zoo was already finished (nothing left to train).
    pub fn is_complete(&self) -> bool {
        self.manifest.status == ZooStatus::Complete
    }

    /// The zoo directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn part(&self, pop: usize) -> PathBuf {
        self.dir.join("parts").join(format!("pop_{pop:04}"))
    }

    /// Whether population `pop` has finished.
    pub fn is_done(&self, pop: usize) -> bool {
        self.part(pop).join("done").exists()
    }

    /// Records a checkpoint of population `pop`: its weights `[rows, params]` and records.
    pub fn write_checkpoint(
        &self,
        pop: usize,
        epoch: usize,
        weights: &[f32],
        rows: usize,
        records: &[Record],
    ) -> Result<()> {
        let part = self.part(pop);
        write_tensors(
            &part.join(weights_name(epoch)),
            &[("weights", weights, vec![rows, self.manifest.params])],
        )?;
        let path = part.join("properties.csv");
        let mut all: Vec<Record> = if path.exists() {
            read_csv(&path)?
        } else {
            Vec::new()
        };
        all.retain(|r| r.epoch != epoch);
        all.extend_from_slice(records);
        write_csv(&path, &all)
    }

    /// Saves the resume state of population `pop` (tensors named by the trainer).
    pub fn write_state(&self, pop: usize, tensors: &[(&str, &[f32], Vec<usize>)]) -> Result<()> {
        write_tensors(&self.part(pop).join("state.safetensors"), tensors)
    }

    /// The resume state of population `pop`, if any.
    pub fn read_state(&self, pop: usize) -> Result<Option<TensorMap>> {
        let path = self.part(pop).join("state.safetensors");
        if path.exists() {
            read_tensors(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Marks population `pop` finished.
    pub fn mark_done(&self, pop: usize) -> Result<()> {
        write_atomic(&self.part(pop).join("done"), b"")
    }

    /// Reopens a zoo directory from its own manifest (for `zoo merge`): the definition it was
    /// made from is stored in zoo.toml.
    pub fn open_for_merge(dir: &Path) -> Result<(Self, ZooDef)> {
        let manifest = read_manifest(dir)?;
        let def = ZooDef::parse(&dir.join("zoo.toml"), &manifest.definition)?;
        Ok((
            Self {
                dir: dir.into(),
                manifest,
            },
            def,
        ))
    }

    /// Moves the finished populations of another copy of this zoo (a shard written elsewhere)
    /// into this one. Refuses a copy of a different zoo, and a population present in both.
    /// Returns the populations taken.
    pub fn take_parts(&self, from: &Path) -> Result<Vec<usize>> {
        let other = read_manifest(from)?;
        if other.definition != self.manifest.definition {
            return Err(Error::format(
                from.join("zoo.toml"),
                format!(
                    "is not a shard of {}: its definition differs",
                    self.dir.display()
                ),
            ));
        }
        let parts = from.join("parts");
        let mut taken = Vec::new();
        let entries = match std::fs::read_dir(&parts) {
            Ok(e) => e,
            Err(_) => return Ok(taken),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let Some(k) = name
                .strip_prefix("pop_")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if !parts.join(&name).join("done").exists() {
                continue;
            }
            if self.is_done(k) {
                return Err(Error::format(
                    parts.join(&name),
                    format!(
                        "population {k} is also finished in {}: duplicated shard?",
                        self.dir.display()
                    ),
                ));
            }
            let dest = self.part(k);
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(dest.parent().expect("parts dir"))
                .map_err(|e| Error::io("creating directory", &dest, e))?;
            if std::fs::rename(parts.join(&name), &dest).is_err() {
                copy_dir(&parts.join(&name), &dest)?;
            }
            taken.push(k);
        }
        Ok(taken)
    }

    /// Assembles the finished populations into weights/ and properties.csv, marks the zoo
    /// complete and removes parts/. Fails, naming them, if some populations are not done.
    pub fn finish(mut self, def: &ZooDef) -> Result<Zoo> {
        let pops = def.populations();
        let missing: Vec<usize> = (0..pops.len()).filter(|&k| !self.is_done(k)).collect();
        if !missing.is_empty() {
            return Err(Error::format(
                &self.dir,
                format!("populations {missing:?} are not finished; run the generation again"),
            ));
        }
        let (n, p) = (self.manifest.models, self.manifest.params);
        let mut records = Vec::new();
        for &epoch in &self.manifest.checkpoints {
            let mut all = vec![0f32; n * p];
            for (k, (_, ids)) in pops.iter().enumerate() {
                let path = self.part(k).join(weights_name(epoch));
                let t = read_tensors(&path)?;
                let (data, shape) = t
                    .get("weights")
                    .ok_or_else(|| Error::format(&path, "no tensor 'weights'"))?;
                if shape != &vec![ids.len(), p] {
                    return Err(Error::format(
                        &path,
                        format!("weights {shape:?}, expected [{}, {p}]", ids.len()),
                    ));
                }
                for (row, &id) in ids.iter().enumerate() {
                    all[id * p..(id + 1) * p].copy_from_slice(&data[row * p..(row + 1) * p]);
                }
            }
            write_tensors(
                &self.dir.join("weights").join(weights_name(epoch)),
                &[("weights", &all, vec![n, p])],
            )?;
        }
        for k in 0..pops.len() {
            records.extend(read_csv::<Record>(&self.part(k).join("properties.csv"))?);
        }
        records.sort_by_key(|r| (r.id, r.epoch));
        write_csv(&self.dir.join("properties.csv"), &records)?;
        self.manifest.status = ZooStatus::Complete;
        self.write_manifest()?;
        let _ = std::fs::remove_dir_all(self.dir.join("parts"));
        Zoo::open(&self.dir)
    }
}

/// Writes a complete zoo in one go (importers, generated-network zoos): the files are written
/// into a staging directory beside `dir` that is renamed into place at the end, so a failure or
/// a kill leaves no half-written zoo. `weights` holds, per checkpoint epoch, the
/// `[models, params]` matrix. Refuses an existing `dir`.
pub fn write_zoo(
    dir: &Path,
    mut manifest: Manifest,
    rows: &[ModelRow],
    weights: &[(usize, Vec<f32>)],
    records: &[Record],
) -> Result<Zoo> {
    if dir.exists() {
        return Err(Error::format(
            dir,
            "already exists; choose another --out or delete it",
        ));
    }
    let (n, p) = (rows.len(), manifest.params);
    manifest.models = n;
    manifest.checkpoints = weights.iter().map(|(e, _)| *e).collect();
    manifest.status = ZooStatus::Complete;
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "zoo".into());
    let staging = dir.with_file_name(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        write_models(&staging.join("models.csv"), rows)?;
        for (epoch, w) in weights {
            let path = staging.join("weights").join(weights_name(*epoch));
            if w.len() != n * p {
                return Err(Error::format(
                    &path,
                    format!("{} values, expected {n} x {p}", w.len()),
                ));
            }
            write_tensors(&path, &[("weights", w, vec![n, p])])?;
        }
        let mut records = records.to_vec();
        records.sort_by_key(|r| (r.id, r.epoch));
        write_csv(&staging.join("properties.csv"), &records)?;
        let path = staging.join("zoo.toml");
        let text = toml::to_string(&manifest).map_err(|e| Error::format(&path, e.to_string()))?;
        write_atomic(&path, text.as_bytes())?;
        crate::fsutil::rename_into_place(&staging, dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    Zoo::open(dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("creating directory", to, e))?;
    for e in std::fs::read_dir(from)
        .map_err(|e| Error::io("listing", from, e))?
        .flatten()
    {
        let dest = to.join(e.file_name());
        std::fs::copy(e.path(), &dest).map_err(|err| Error::io("copying to", &dest, err))?;
    }
    Ok(())
}
