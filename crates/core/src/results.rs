//! results.toml: the downstream results of a run as one structure (property × method × split
//! probe scores, out-of-distribution scores, the reconstruction table and the generation
//! table with its memorisation audit). `hyperzoo eval` and `hyperzoo generate` write it; the
//! report crate and the TUI read it.
//! Written with [`Results::to_toml`]; every key missing on reading is empty or absent, so files
//! from older versions still load.
use serde::{Deserialize, Serialize};

/// Quantiles of a distribution (results.toml's accuracy and agreement tables).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Smallest.
    pub min: f64,
    /// 25th percentile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub q75: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// The `q`-quantile (0 ≤ q ≤ 1) of ascending `sorted` values, linearly interpolated as numpy's
/// default (`np.quantile`); NaN for an empty slice. The one quantile of hyperzoo: results
/// tables, `zoo info`, the TUI's distributions and its benchmark all use it.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    crate::probe::features::percentile(sorted, 100.0 * q.clamp(0.0, 1.0))
}

impl Quantiles {
    /// Of the finite values of `values` (as `hyperzoo eval` computes them); `None` if there is
    /// no finite value.
    pub fn of(values: &[f64]) -> Option<Quantiles> {
        let mut s: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let q = |p: f64| crate::probe::features::percentile(&s, p);
        Some(Quantiles {
            min: s[0],
            q25: q(25.0),
            median: q(50.0),
            q75: q(75.0),
            max: s[s.len() - 1],
            mean: s.iter().sum::<f64>() / s.len() as f64,
        })
    }

    /// `(name, value)` in the order min, q25, median, q75, max, mean.
    pub fn fields(&self) -> [(&'static str, f64); 6] {
        [
            ("min", self.min),
            ("q25", self.q25),
            ("median", self.median),
            ("q75", self.q75),
            ("max", self.max),
            ("mean", self.mean),
        ]
    }
}

/// results.toml, as written by `hyperzoo eval`. Missing keys read as empty or absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Results {
    /// The experiment's name.
    pub run: String,
    /// The zoo it was trained on.
    pub zoo: String,
    /// The checkpoint evaluated.
    pub checkpoint: String,
    /// Dimensions of the embedding.
    pub embedding_dim: usize,
    /// Checkpoints in the train, val and test splits.
    pub rows: [usize; 3],
    /// The probes were fitted on features standardized with the training split's statistics
    /// (`hyperzoo eval --standardize`), not on raw features as the references fit them.
    pub standardized: bool,
    /// Linear probes.
    pub probes: Vec<Probe>,
    /// Reconstruction of the test split.
    pub reconstruction: Option<Reconstruction>,
    /// Probes scored on another zoo.
    pub ood: Vec<Ood>,
    /// Networks generated from the embedding space (`hyperzoo generate`).
    pub generation: Option<Generation>,
}

/// A linear probe's scores (`[[probes]]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Probe {
    /// The property predicted.
    pub property: String,
    /// `hyper` (the embedding), `hyper-layers` (SANE's per-layer means), `W`, `s(W)`,
    /// `s(W)-56` (Unterthiner's features) or `spectral`.
    pub method: String,
    /// `r2` or `accuracy`.
    pub metric: String,
    /// Score on the training split.
    pub train: f64,
    /// Score on the validation split.
    pub val: Option<f64>,
    /// Score on the test split.
    pub test: f64,
    /// Kendall's τ on the test split (regression).
    pub kendall_tau: Option<f64>,
    /// Ridge α (regression).
    pub alpha: Option<f64>,
}

/// `[reconstruction]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reconstruction {
    /// Checkpoints reconstructed.
    pub checkpoints: usize,
    /// Weight R².
    pub weight_r2: f64,
    /// Weight MSE.
    pub weight_mse: f64,
    /// Mean L2 distance.
    pub l2_mean: f64,
    /// Test images the networks ran on.
    pub images: usize,
    /// Test accuracy of the original networks.
    pub acc_original: Option<Quantiles>,
    /// Test accuracy of the reconstructed networks.
    pub acc_reconstructed: Option<Quantiles>,
    /// Agreement between original and reconstruction.
    pub agreement: Option<Quantiles>,
}

/// `[[ood]]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ood {
    /// The other zoo.
    pub zoo: String,
    /// The property.
    pub property: String,
    /// The method.
    pub method: String,
    /// R² on the other zoo.
    pub r2: f64,
    /// Kendall's τ on the other zoo.
    pub kendall_tau: f64,
}

/// `[generation]`: networks sampled from the embedding space, decoded and evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Generation {
    /// Where the generated networks were written (a zoo directory).
    pub zoo: String,
    /// `individual`, `joint`, `token` or `uniform`.
    pub sampler: String,
    /// The KDE bandwidth (a number, `scott` or `silverman`).
    pub bandwidth: String,
    /// Anchor checkpoints the sampler fitted.
    pub anchors: usize,
    /// Candidates decoded before keeping the best `networks` by validation accuracy.
    pub candidates: usize,
    /// Networks kept.
    pub networks: usize,
    /// Training-mode passes (batches of 32 training images) that refreshed the generated
    /// networks' batch-norm running statistics before evaluation, [RS]'s conditioning; 0 for
    /// none (networks without batch norms, or files written before it existed).
    #[serde(default)]
    pub bn_condition: usize,
    /// Test images the networks ran on.
    pub images: usize,
    /// Test accuracy of the anchors (the zoo checkpoints sampled around).
    pub acc_anchors: Option<Quantiles>,
    /// Test accuracy of the generated networks, without training.
    pub acc_generated: Option<Quantiles>,
    /// Mean pairwise L2 distance of the anchors.
    pub diversity_anchors: f64,
    /// Mean pairwise L2 distance of the generated networks.
    pub diversity_generated: f64,
    /// Fine-tuning: generated networks as initialisation against random initialisation, trained
    /// the same epochs with the zoo's own hyperparameters.
    pub finetune: Vec<Finetune>,
    /// The memorisation audit: distance of every generated network to its nearest training
    /// checkpoint after weight matching, beside two baselines (absent in files written before
    /// the audit existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memorisation: Option<Memorisation>,
}

/// `[generation.memorisation]`: the memorisation audit of the generated networks
/// ([`crate::memorisation`]). For every network of a group: the L2 distance to its nearest
/// training checkpoint after aligning hidden units by weight matching, and that checkpoint's
/// test accuracy; for the generated networks and two baselines of the same count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memorisation {
    /// Training checkpoints searched for the nearest one.
    pub checkpoints: usize,
    /// Training checkpoints aligned per network at most, in the order of the
    /// permutation-invariant pre-screen; 0: no cap (the nearest checkpoint is exact up to weight
    /// matching).
    pub candidates: usize,
    /// L2 norm of the noise baseline's Gaussian noise: the median distance of the generated
    /// networks to their nearest training checkpoint.
    pub noise_norm: f64,
    /// A network counts as a near copy when its distance is at most this fraction of its
    /// nearest checkpoint's L2 norm.
    pub copy_threshold: f64,
    /// The generated networks.
    pub generated: MemorisationRow,
    /// Training checkpoints (the anchors) plus isotropic Gaussian noise of norm `noise_norm`.
    pub noise: MemorisationRow,
    /// Averages of two anchors, the second aligned onto the first by weight matching.
    pub interpolation: MemorisationRow,
}

/// One group of the memorisation audit (`[generation.memorisation.generated]`, `.noise`,
/// `.interpolation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemorisationRow {
    /// Networks audited (those with finite weights).
    pub networks: usize,
    /// Distinct training checkpoints that are some network's nearest.
    pub neighbours: usize,
    /// Fraction of the networks that are near copies (relative distance at most
    /// [`Memorisation::copy_threshold`]); NaN without networks.
    pub copies: f64,
    /// L2 distance to the nearest training checkpoint after alignment.
    pub distance: Option<Quantiles>,
    /// That distance divided by the nearest checkpoint's L2 norm.
    pub relative: Option<Quantiles>,
    /// Test accuracy of the nearest training checkpoint.
    pub neighbour_acc: Option<Quantiles>,
}

/// `[[generation.finetune]]`: test accuracy after `epoch` epochs of training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Finetune {
    /// Epochs trained (0: as generated / as initialised).
    pub epoch: usize,
    /// Starting from the generated networks.
    pub generated: Option<Quantiles>,
    /// Starting from random initialisation (the zoo's init scheme, fresh seeds).
    pub random: Option<Quantiles>,
}

impl Results {
    /// The TOML text of results.toml.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("results serialise to TOML")
    }

    /// Parses results.toml text; `path` names the file in the error.
    pub fn parse(path: &std::path::Path, text: &str) -> crate::Result<Results> {
        toml::from_str(text).map_err(|e| crate::Error::format(path, e.to_string()))
    }

    /// Reads `path` if it exists (`Ok(None)` if not).
    pub fn read(path: &std::path::Path) -> crate::Result<Option<Results>> {
        match std::fs::read_to_string(path) {
            Ok(t) => Results::parse(path, &t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::Error::io("reading", path, e)),
        }
    }
}

/// accuracies.csv beside results.toml: the test accuracy of every network of each group
/// (`original` and `reconstructed` from `hyperzoo eval`; `anchors`, `generated`,
/// `generated+K` and `random+K` from `hyperzoo generate`), one row per network with columns
/// `group,network,test_acc`, so that the seeds' central picture (original vs reconstructed vs
/// generated accuracy distributions) can be drawn from data.
pub const ACCURACIES_FILE: &str = "accuracies.csv";

/// Replaces the rows of the groups in `groups` in `dir`/accuracies.csv (keeping the other
/// groups' rows), written atomically.
pub fn write_accuracies(dir: &std::path::Path, groups: &[(String, Vec<f64>)]) -> crate::Result<()> {
    let path = dir.join(ACCURACIES_FILE);
    let mut rows: Vec<(String, usize, f64)> = read_accuracies(&path)?
        .into_iter()
        .filter(|(g, _, _)| !groups.iter().any(|(n, _)| n == g))
        .collect();
    for (name, values) in groups {
        rows.extend(
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| (name.clone(), i, v)),
        );
    }
    let mut text = String::from("group,network,test_acc\n");
    for (g, i, v) in rows {
        text.push_str(&format!("{g},{i},{v}\n"));
    }
    crate::fsutil::write_atomic(&path, text.as_bytes())
}

/// The rows of an accuracies.csv (`(group, network, test_acc)`); empty if there is no file.
pub fn read_accuracies(path: &std::path::Path) -> crate::Result<Vec<(String, usize, f64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::Error::io("reading", path, e)),
    };
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = match f.as_slice() {
            [g, i, v] => i
                .parse()
                .ok()
                .zip(v.parse().ok())
                .map(|(i, v)| (g.to_string(), i, v)),
            _ => None,
        };
        out.push(parsed.ok_or_else(|| {
            crate::Error::format(
                path,
                format!(
                    "line {}: expected group,network,test_acc, found '{line}'",
                    k + 1
                ),
            )
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_and_accuracy_groups_are_replaced() {
        let r = Results {
            run: "r".into(),
            probes: vec![Probe {
                property: "test_acc".into(),
                method: "hyper".into(),
                metric: "r2".into(),
                test: 0.5,
                ..Default::default()
            }],
            generation: Some(Generation {
                networks: 3,
                bn_condition: 0,
                acc_generated: Quantiles::of(&[0.1, 0.2, f64::NAN, 0.3]),
                finetune: vec![Finetune {
                    epoch: 1,
                    generated: Quantiles::of(&[0.5]),
                    random: None,
                }],
                memorisation: Some(Memorisation {
                    checkpoints: 40,
                    candidates: 16,
                    noise_norm: 1.5,
                    copy_threshold: 0.01,
                    generated: MemorisationRow {
                        networks: 3,
                        neighbours: 2,
                        copies: 1.0 / 3.0,
                        distance: Quantiles::of(&[0.0, 1.5, 2.0]),
                        relative: Quantiles::of(&[0.0, 0.1, 0.2]),
                        neighbour_acc: Quantiles::of(&[0.5, 0.6, 0.7]),
                    },
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let back = Results::parse(std::path::Path::new("x"), &r.to_toml()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.generation.unwrap().acc_generated.unwrap().median, 0.2);
        let err = Results::parse(std::path::Path::new("runs/a/results.toml"), "probes = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("runs/a/results.toml"), "{err}");
        let text = r.to_toml();
        assert!(text.contains("[generation.memorisation]"), "{text}");
        // A [generation] without the audit (files written before it) reads as `None`.
        let old = Results::parse(
            std::path::Path::new("x"),
            "[generation]\nnetworks = 2\ndiversity_generated = 1.5\n",
        )
        .unwrap();
        let g = old.generation.unwrap();
        assert_eq!((g.networks, g.memorisation), (2, None));
        assert!(!Results::default().to_toml().contains("memorisation"));

        let dir = tempfile::tempdir().unwrap();
        write_accuracies(dir.path(), &[("original".into(), vec![0.5, 0.25])]).unwrap();
        write_accuracies(dir.path(), &[("generated".into(), vec![0.125])]).unwrap();
        write_accuracies(dir.path(), &[("original".into(), vec![0.75])]).unwrap();
        let rows = read_accuracies(&dir.path().join(ACCURACIES_FILE)).unwrap();
        assert_eq!(
            rows,
            vec![("generated".into(), 0, 0.125), ("original".into(), 0, 0.75)]
        );
        std::fs::write(
            dir.path().join(ACCURACIES_FILE),
            "group,network,test_acc\nx,1\n",
        )
        .unwrap();
        let err = read_accuracies(&dir.path().join(ACCURACIES_FILE))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
