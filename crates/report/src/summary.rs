//! `hyperzoo summary`: one compact table that says whether a run works, each line with the
//! hyper-representation's number beside its baseline.
//!
//! | section        | the run's number                          | beside                              |
//! |----------------|-------------------------------------------|-------------------------------------|
//! | zoo            | median test accuracy of the checkpoints used | chance (1 / classes)             |
//! | training       | final validation reconstruction R²        | 0 (predicting the mean)             |
//! | probes         | `hyper` (and `hyper-layers`) test score   | `W` and `s(W)`, the best marked     |
//! | reconstruction | reconstructed networks' median accuracy   | the originals', the difference in points, agreement |
//! | generation     | generated networks' median accuracy       | anchors', chance; fine-tuned: random init |
//! | memorisation   | median distance to the nearest training checkpoint | noise and interpolation baselines; near copies |
//!
//! Data comes in from the run directory (config.toml as an [`Experiment`], metrics.jsonl as
//! [`Metrics`], results.toml as [`Results`]) and from the run's zoo ([`Zoo`]: manifest and
//! properties); [`summarize_run`] reads them, [`Summary::build`] makes the table from them
//! without I/O, [`ZooSummary::of`] the zoo line. A section without data is listed in
//! [`Summary::missing`] with the command that produces it, never an error. The same content
//! goes out as text ([`Summary::to_text`]) or as JSON (serde, field names stable).
use crate::Result;
use hyperzoo_core::experiment::{EpochSelection, Experiment};
use hyperzoo_core::metrics::Metrics;
use hyperzoo_core::results::{Quantiles, Results};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::store::{NetStatus, Zoo};
use serde::Serialize;
use std::collections::HashSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The probe methods the summary compares, in column order: the hyper-representation's, then
/// the baselines.
pub const PROBE_METHODS: [&str; 4] = ["hyper", "hyper-layers", "W", "s(W)"];

/// The whole summary of a run. Sections without data are `None` (or empty) and named in
/// `missing`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The run as the user named it (a name in the workspace or a directory).
    pub run: String,
    /// The autoencoder (`transformer`, `fc`, `sane`); `None` when config.toml did not parse.
    pub model: Option<String>,
    /// The zoo the run was trained on.
    pub zoo: Option<ZooSummary>,
    /// The end of training.
    pub training: Option<TrainingSummary>,
    /// One row per property probed, in results.toml's order.
    pub probes: Vec<ProbeSummary>,
    /// Whether the probes were fitted on standardized features (`eval --standardize`).
    pub probes_standardized: bool,
    /// Reconstruction of the test split.
    pub reconstruction: Option<ReconstructionSummary>,
    /// Networks generated from the embedding space.
    pub generation: Option<GenerationSummary>,
    /// The sections without data, each with what produces it.
    pub missing: Vec<Missing>,
}

/// A section the summary has no data for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// `zoo`, `training`, `probes`, `reconstruction`, `generation` or `memorisation`.
    pub section: String,
    /// Why, and the command that fills it.
    pub reason: String,
}

/// The zoo line: what the networks are and how well they do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZooSummary {
    /// The zoo's name.
    pub name: String,
    /// Its dataset.
    pub dataset: String,
    /// The architecture's name.
    pub architecture: String,
    /// Parameters per network.
    pub parameters: usize,
    /// Networks in the zoo.
    pub networks: usize,
    /// Networks the run uses (`zoo.max_models`).
    pub networks_used: usize,
    /// Classes: the size of the architecture's output; `None` if the spec has no valid layout.
    pub classes: Option<usize>,
    /// Chance accuracy, 1 / classes.
    pub chance: Option<f64>,
    /// The checkpoint epochs the run uses (`zoo.epochs`).
    pub epochs: Vec<usize>,
    /// Checkpoints used: networks used at those epochs, status ok, finite test accuracy, and
    /// under the weight filter when there is one.
    pub checkpoints: usize,
    /// The `zoo.max_abs_weight` filter applied, when finite.
    pub max_abs_weight: Option<f64>,
    /// Median test accuracy of the checkpoints used.
    pub median_test_acc: Option<f64>,
}

/// The training line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingSummary {
    /// Epoch of the last evaluation record (1-based).
    pub epoch: u64,
    /// Epochs configured (`train.epochs`); `None` without a config.
    pub epochs: Option<usize>,
    /// Reconstruction R² on the validation split at the last evaluation.
    pub val_r2: f64,
    /// Reconstruction MSE on the validation split at the last evaluation.
    pub val_loss: f64,
}

/// One property's probe scores on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeSummary {
    /// The property.
    pub property: String,
    /// `r2` or `accuracy`.
    pub metric: String,
    /// From the hyper-representation's embedding.
    pub hyper: Option<f64>,
    /// From SANE's per-layer embeddings.
    pub hyper_layers: Option<f64>,
    /// From the flat weights.
    pub w: Option<f64>,
    /// From the weight statistics.
    pub s_w: Option<f64>,
    /// The method with the highest finite test score among [`PROBE_METHODS`].
    pub best: Option<String>,
    /// Whether that is the hyper-representation (`hyper` or `hyper-layers`).
    pub hyper_wins: bool,
}

/// The reconstruction line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconstructionSummary {
    /// Test checkpoints reconstructed.
    pub checkpoints: usize,
    /// Weight R².
    pub weight_r2: f64,
    /// Median test accuracy of the original networks.
    pub median_acc_original: Option<f64>,
    /// Median test accuracy of the reconstructed networks.
    pub median_acc_reconstructed: Option<f64>,
    /// Reconstructed minus original median, in percentage points.
    pub difference_points: Option<f64>,
    /// Mean agreement of the predictions of original and reconstruction.
    pub mean_agreement: Option<f64>,
}

/// The generation lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationSummary {
    /// Networks kept.
    pub networks: usize,
    /// Candidates decoded.
    pub candidates: usize,
    /// Anchor checkpoints sampled around.
    pub anchors: usize,
    /// The sampler.
    pub sampler: String,
    /// Median test accuracy of the generated networks, without training.
    pub median_acc_generated: Option<f64>,
    /// Median test accuracy of the anchors.
    pub median_acc_anchors: Option<f64>,
    /// Chance accuracy (from the zoo's architecture).
    pub chance: Option<f64>,
    /// Fine-tuning after K epochs (K > 0), in order.
    pub finetune: Vec<FinetuneSummary>,
    /// The memorisation audit; `None` in files written before it.
    pub memorisation: Option<MemorisationSummary>,
}

/// Generated against random initialisation after the same epochs of training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneSummary {
    /// Epochs trained.
    pub epochs: usize,
    /// Median test accuracy starting from the generated networks.
    pub median_acc_generated_init: Option<f64>,
    /// Median test accuracy starting from random initialisation.
    pub median_acc_random_init: Option<f64>,
}

/// The memorisation lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorisationSummary {
    /// Training checkpoints searched.
    pub checkpoints: usize,
    /// A near copy is within this fraction of its nearest checkpoint's norm.
    pub copy_threshold: f64,
    /// Median L2 distance of the generated networks to their nearest training checkpoint.
    pub median_distance_generated: Option<f64>,
    /// The same for anchors plus Gaussian noise.
    pub median_distance_noise: Option<f64>,
    /// The same for averages of two aligned anchors.
    pub median_distance_interpolation: Option<f64>,
    /// Share of the generated networks that are near copies.
    pub copies_generated: Option<f64>,
    /// Share of the noise baseline that are near copies.
    pub copies_noise: Option<f64>,
    /// Share of the interpolation baseline that are near copies.
    pub copies_interpolation: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn median(q: &Option<Quantiles>) -> Option<f64> {
    q.as_ref().and_then(|q| finite(q.median))
}

impl ZooSummary {
    /// The zoo line of a run configured by `e` on `zoo`: the checkpoints of the run's epochs
    /// (`zoo.epochs`) of its networks (`zoo.max_models`) whose status is ok; with a finite
    /// `zoo.max_abs_weight`, the weights of those epochs are read and checkpoints with a larger
    /// weight are left out, as training leaves them out.
    pub fn of(zoo: &Zoo, e: &Experiment) -> Result<ZooSummary> {
        let m = &zoo.manifest;
        let epochs: Vec<usize> = match &e.zoo.epochs {
            EpochSelection::Last => m.checkpoints.last().copied().into_iter().collect(),
            EpochSelection::All => m.checkpoints.clone(),
            EpochSelection::List(v) => v
                .iter()
                .copied()
                .filter(|x| m.checkpoints.contains(x))
                .collect(),
        };
        let used = e.zoo.max_models.map_or(m.models, |n| n.min(m.models));
        let threshold = finite(e.zoo.max_abs_weight);
        let mut dropped: HashSet<(usize, usize)> = HashSet::new();
        if let Some(t) = threshold {
            for &epoch in &epochs {
                let w = zoo.weights(epoch)?;
                for (id, row) in w.chunks_exact(m.params.max(1)).enumerate() {
                    if row.iter().any(|v| f64::from(v.abs()) > t) {
                        dropped.insert((id, epoch));
                    }
                }
            }
        }
        let acc: Vec<f64> = zoo
            .records
            .iter()
            .filter(|r| r.id < used && epochs.contains(&r.epoch))
            .filter(|r| r.status == NetStatus::Ok && r.test_acc.is_finite())
            .filter(|r| !dropped.contains(&(r.id, r.epoch)))
            .map(|r| r.test_acc)
            .collect();
        let classes = m
            .arch
            .layout()
            .ok()
            .map(|l| l.output_shape().iter().product::<usize>())
            .filter(|&c| c > 0);
        Ok(ZooSummary {
            name: m.name.clone(),
            dataset: m.dataset.clone(),
            architecture: m.arch.name.clone(),
            parameters: m.params,
            networks: m.models,
            networks_used: used,
            classes,
            chance: classes.map(|c| 1.0 / c as f64),
            epochs,
            checkpoints: acc.len(),
            max_abs_weight: threshold,
            median_test_acc: median(&Quantiles::of(&acc)),
        })
    }
}

impl Summary {
    /// The summary of run `run` from what was read of it: its configuration (`None` when
    /// config.toml did not parse), results.toml (`None` before `hyperzoo eval`), its metrics
    /// and its zoo's line (`Err(why)` when the zoo could not be read). No I/O.
    pub fn build(
        run: &str,
        experiment: Option<&Experiment>,
        results: Option<&Results>,
        metrics: &Metrics,
        zoo: std::result::Result<ZooSummary, String>,
    ) -> Summary {
        let mut missing = Vec::new();
        let mut miss = |section: &str, reason: String| {
            missing.push(Missing {
                section: section.into(),
                reason,
            })
        };
        let zoo = match zoo {
            Ok(z) => Some(z),
            Err(why) => {
                miss("zoo", why);
                None
            }
        };
        let training = metrics.epochs.last().map(|r| TrainingSummary {
            epoch: r.epoch,
            epochs: experiment.map(|e| e.train.epochs),
            val_r2: r.val_r2,
            val_loss: r.val_loss,
        });
        if training.is_none() {
            miss(
                "training",
                "no validation record in metrics.jsonl yet: train it with `hyperzoo run` (the first epoch's evaluation writes one)".into(),
            );
        }
        let eval_hint = format!("run `hyperzoo eval {run}`");
        let generate_hint = format!("run `hyperzoo generate {run} --n 25 --out <zoo dir>`");
        let probes = results.map_or_else(Vec::new, probe_rows);
        let reconstruction = results.and_then(|r| r.reconstruction.as_ref()).map(|rc| {
            let (o, r) = (median(&rc.acc_original), median(&rc.acc_reconstructed));
            ReconstructionSummary {
                checkpoints: rc.checkpoints,
                weight_r2: rc.weight_r2,
                median_acc_original: o,
                median_acc_reconstructed: r,
                difference_points: o.zip(r).map(|(o, r)| 100.0 * (r - o)),
                mean_agreement: rc.agreement.as_ref().and_then(|q| finite(q.mean)),
            }
        });
        let chance = zoo.as_ref().and_then(|z| z.chance);
        let generation = results.and_then(|r| r.generation.as_ref()).map(|g| {
            let memorisation = g.memorisation.as_ref().map(|m| {
                let copies = |r: &hyperzoo_core::results::MemorisationRow| {
                    (r.networks > 0).then_some(r.copies).and_then(finite)
                };
                MemorisationSummary {
                    checkpoints: m.checkpoints,
                    copy_threshold: m.copy_threshold,
                    median_distance_generated: median(&m.generated.distance),
                    median_distance_noise: median(&m.noise.distance),
                    median_distance_interpolation: median(&m.interpolation.distance),
                    copies_generated: copies(&m.generated),
                    copies_noise: copies(&m.noise),
                    copies_interpolation: copies(&m.interpolation),
                }
            });
            GenerationSummary {
                networks: g.networks,
                candidates: g.candidates,
                anchors: g.anchors,
                sampler: g.sampler.clone(),
                median_acc_generated: median(&g.acc_generated),
                median_acc_anchors: median(&g.acc_anchors),
                chance,
                finetune: g
                    .finetune
                    .iter()
                    .filter(|f| f.epoch > 0)
                    .map(|f| FinetuneSummary {
                        epochs: f.epoch,
                        median_acc_generated_init: median(&f.generated),
                        median_acc_random_init: median(&f.random),
                    })
                    .collect(),
                memorisation,
            }
        });
        match results {
            None => {
                for section in ["probes", "reconstruction"] {
                    miss(section, format!("no results.toml yet: {eval_hint}"));
                }
                miss(
                    "generation",
                    format!("no results.toml yet: {generate_hint}"),
                );
            }
            Some(r) => {
                if probes.is_empty() {
                    miss("probes", format!("results.toml has no probes: {eval_hint}"));
                }
                if reconstruction.is_none() {
                    miss(
                        "reconstruction",
                        format!("results.toml has no [reconstruction]: {eval_hint}"),
                    );
                }
                match &r.generation {
                    None => miss(
                        "generation",
                        format!("results.toml has no [generation]: {generate_hint}"),
                    ),
                    Some(g) if g.memorisation.is_none() => miss(
                        "memorisation",
                        format!(
                            "[generation] was written before the memorisation audit: {generate_hint} again"
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
        Summary {
            run: run.into(),
            model: experiment.map(|e| e.model.kind().to_string()),
            zoo,
            training,
            probes,
            probes_standardized: results.is_some_and(|r| r.standardized),
            reconstruction,
            generation,
            missing,
        }
    }

    /// The reason a section is missing, if it is.
    pub fn missing(&self, section: &str) -> Option<&str> {
        self.missing
            .iter()
            .find(|m| m.section == section)
            .map(|m| m.reason.as_str())
    }

    /// The summary as pretty-printed JSON (the fields of [`Summary`], non-finite numbers as
    /// `null`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the summary serialises to JSON")
    }

    /// The summary as a text table: a label column, then each number beside its baseline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let model = self
            .model
            .as_deref()
            .map_or(String::new(), |m| format!(" ({m} hyper-representation)"));
        let _ = writeln!(out, "summary of run {}{model}", self.run);
        let line = |out: &mut String, label: &str, text: &str| {
            let _ = writeln!(out, "{label:<16}{text}");
        };
        let missing = |out: &mut String, section: &str| {
            if let Some(why) = self.missing(section) {
                line(out, section, &format!("missing: {why}"));
            }
        };

        match &self.zoo {
            Some(z) => {
                let classes = z
                    .classes
                    .map_or(String::new(), |c| format!(", {c} classes"));
                let used = if z.networks_used < z.networks {
                    format!(" ({} used)", z.networks_used)
                } else {
                    String::new()
                };
                line(
                    &mut out,
                    "zoo",
                    &format!(
                        "{}: {} networks{used}, {} ({} parameters) on {}{classes}",
                        z.name, z.networks, z.architecture, z.parameters, z.dataset
                    ),
                );
                let filter = z
                    .max_abs_weight
                    .map_or(String::new(), |t| format!(", |w| <= {t}"));
                line(
                    &mut out,
                    "",
                    &format!(
                        "median test accuracy {} over {} checkpoints (epochs {}{filter})   chance {}",
                        num(z.median_test_acc, 3),
                        z.checkpoints,
                        list(&z.epochs),
                        num(z.chance, 3)
                    ),
                );
            }
            None => missing(&mut out, "zoo"),
        }

        match &self.training {
            Some(t) => {
                let of = t.epochs.map_or(String::new(), |n| format!(" of {n}"));
                line(
                    &mut out,
                    "training",
                    &format!(
                        "final validation reconstruction R² {} (epoch {}{of}, val loss {})   baseline 0 (predicting the mean)",
                        num(finite(t.val_r2), 3),
                        t.epoch,
                        num(finite(t.val_loss), 4)
                    ),
                );
            }
            None => missing(&mut out, "training"),
        }

        if self.probes.is_empty() {
            missing(&mut out, "probes");
        } else {
            let layers = self.probes.iter().any(|p| p.hyper_layers.is_some());
            // Numbers are right-aligned one column short of their cell (the `*` goes there).
            let title = |name: &str, w: usize| format!("{name:>w$} ", w = w - 1);
            let mut head = format!("{:<14} {:<8} {}", "property", "metric", title("hyper", 8));
            if layers {
                let _ = write!(head, " {}", title("hyper-layers", 13));
            }
            let _ = write!(head, " {} {}   best", title("W", 8), title("s(W)", 8));
            let standardized = if self.probes_standardized {
                ", standardized features"
            } else {
                ""
            };
            line(&mut out, "probes", &format!("(test split{standardized})"));
            line(&mut out, "", &head);
            for p in &self.probes {
                let cell = |method: &str, v: Option<f64>, w: usize| {
                    let star = if p.best.as_deref() == Some(method) {
                        "*"
                    } else {
                        " "
                    };
                    format!("{:>w$}{star}", num(v, 3), w = w - 1)
                };
                let mut row = format!(
                    "{:<14} {:<8} {}",
                    p.property,
                    if p.metric == "r2" { "R²" } else { &p.metric },
                    cell("hyper", p.hyper, 8)
                );
                if layers {
                    let _ = write!(row, " {}", cell("hyper-layers", p.hyper_layers, 13));
                }
                let _ = write!(
                    row,
                    " {} {}   {}",
                    cell("W", p.w, 8),
                    cell("s(W)", p.s_w, 8),
                    p.best.as_deref().unwrap_or("-")
                );
                line(&mut out, "", &row);
            }
            let wins = self.probes.iter().filter(|p| p.hyper_wins).count();
            line(
                &mut out,
                "",
                &format!(
                    "the hyper-representation is best on {wins} of {} properties (* marks the best)",
                    self.probes.len()
                ),
            );
        }

        match &self.reconstruction {
            Some(r) => {
                let diff = r
                    .difference_points
                    .map_or("-".to_string(), |d| format!("{d:+.1}"));
                line(
                    &mut out,
                    "reconstruction",
                    &format!(
                        "median test accuracy: reconstructed {} vs original {} ({diff} points)",
                        num(r.median_acc_reconstructed, 3),
                        num(r.median_acc_original, 3)
                    ),
                );
                line(
                    &mut out,
                    "",
                    &format!(
                        "mean agreement {}, weight R² {} ({} test checkpoints)",
                        num(r.mean_agreement, 3),
                        num(finite(r.weight_r2), 3),
                        r.checkpoints
                    ),
                );
            }
            None => missing(&mut out, "reconstruction"),
        }

        match &self.generation {
            Some(g) => {
                line(
                    &mut out,
                    "generation",
                    &format!(
                        "median test accuracy without training: generated {} vs anchors {} vs chance {}",
                        num(g.median_acc_generated, 3),
                        num(g.median_acc_anchors, 3),
                        num(g.chance, 3)
                    ),
                );
                line(
                    &mut out,
                    "",
                    &format!(
                        "({} kept of {} candidates, {} sampler, {} anchors)",
                        g.networks, g.candidates, g.sampler, g.anchors
                    ),
                );
                for f in &g.finetune {
                    line(
                        &mut out,
                        "fine-tuning",
                        &format!(
                            "after {} epoch{}: generated init {} vs random init {}",
                            f.epochs,
                            if f.epochs == 1 { "" } else { "s" },
                            num(f.median_acc_generated_init, 3),
                            num(f.median_acc_random_init, 3)
                        ),
                    );
                }
                match &g.memorisation {
                    Some(m) => {
                        line(
                            &mut out,
                            "memorisation",
                            &format!(
                                "median L2 to the nearest of {} training checkpoints: generated {} vs noise {} vs interpolation {}",
                                m.checkpoints,
                                num(m.median_distance_generated, 4),
                                num(m.median_distance_noise, 4),
                                num(m.median_distance_interpolation, 4)
                            ),
                        );
                        line(
                            &mut out,
                            "",
                            &format!(
                                "near copies (within {}% of the norm): generated {} vs noise {} vs interpolation {}",
                                100.0 * m.copy_threshold,
                                pct(m.copies_generated),
                                pct(m.copies_noise),
                                pct(m.copies_interpolation)
                            ),
                        );
                    }
                    None => missing(&mut out, "memorisation"),
                }
            }
            None => missing(&mut out, "generation"),
        }
        out
    }
}

/// Probe rows: one per property in results.toml's order, the test scores of the methods of
/// [`PROBE_METHODS`], the best marked.
fn probe_rows(r: &Results) -> Vec<ProbeSummary> {
    let mut order: Vec<&str> = Vec::new();
    for p in &r.probes {
        if PROBE_METHODS.contains(&p.method.as_str()) && !order.contains(&p.property.as_str()) {
            order.push(&p.property);
        }
    }
    order
        .into_iter()
        .map(|property| {
            let score = |method: &str| {
                r.probes
                    .iter()
                    .find(|p| p.property == property && p.method == method)
            };
            let metric = PROBE_METHODS
                .iter()
                .find_map(|m| score(m))
                .map_or(String::new(), |p| p.metric.clone());
            let test = |method: &str| score(method).map(|p| p.test);
            let best = PROBE_METHODS
                .iter()
                .filter_map(|&m| Some((m, finite(test(m)?)?)))
                .fold(None::<(&str, f64)>, |acc, (m, v)| match acc {
                    Some((_, b)) if b >= v => acc,
                    _ => Some((m, v)),
                })
                .map(|(m, _)| m.to_string());
            ProbeSummary {
                property: property.into(),
                metric,
                hyper: test("hyper"),
                hyper_layers: test("hyper-layers"),
                w: test("W"),
                s_w: test("s(W)"),
                hyper_wins: matches!(best.as_deref(), Some("hyper" | "hyper-layers")),
                best,
            }
        })
        .collect()
}

/// A number with `d` decimals, `-` when absent.
fn num(v: Option<f64>, d: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.d$}"))
}

/// A share as a percentage with one decimal, `-` when absent.
fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

fn list(v: &[usize]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the zoo of a run configured by `e` is: its `[zoo] path`, or the zoo a definition
/// generates (`<workspace>/zoos/<the definition's name>`); when the definition file cannot be
/// read, the zoo named in results.toml under `<workspace>/zoos/`.
pub fn zoo_dir(e: &Experiment, workspace: &Path, results: Option<&Results>) -> Result<PathBuf> {
    e.zoo_dir(workspace)
        .or_else(|err| match results.filter(|r| !r.zoo.is_empty()) {
            Some(r) if e.zoo.is_definition() => Ok(workspace.join("zoos").join(&r.zoo)),
            _ => Err(err.into()),
        })
}

/// Reads the run in `run_dir` (named `run` as the user gave it) and its zoo (found through the
/// run's configuration, relative paths against `workspace`), and builds its summary. Errors
/// only when `run_dir` is not a run directory or a file there cannot be read; a section whose
/// data is missing or unreadable (no results.toml yet, a zoo that has gone) is listed in
/// [`Summary::missing`].
pub fn summarize_run(run: &str, run_dir: &Path, workspace: &Path) -> Result<Summary> {
    let dir = RunDir::open(run_dir)?;
    let experiment = Experiment::load(&dir.path("config.toml"));
    let results = Results::read(&dir.path("results.toml"))?;
    let metrics_path = dir.path("metrics.jsonl");
    let metrics = match std::fs::read_to_string(&metrics_path) {
        Ok(text) => Metrics::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Metrics::default(),
        Err(source) => {
            return Err(crate::Error::Io {
                action: "reading",
                path: metrics_path,
                source,
            });
        }
    };
    let zoo = match &experiment {
        Err(e) => Err(format!("the run's configuration does not load: {e}")),
        Ok(e) => zoo_dir(e, workspace, results.as_ref())
            .map_err(|err| format!("the run's zoo cannot be found: {err}"))
            .and_then(|z| {
                Zoo::open(&z)
                    .map_err(crate::Error::from)
                    .and_then(|zoo| ZooSummary::of(&zoo, e))
                    .map_err(|err| format!("zoo {}: {err}", z.display()))
            }),
    };
    Ok(Summary::build(
        run,
        experiment.as_ref().ok(),
        results.as_ref(),
        &metrics,
        zoo,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::write_test_zoo;
    use hyperzoo_core::results::{
        Finetune, Generation, Memorisation, MemorisationRow, Probe, Reconstruction,
    };

    fn experiment(zoo: &Path, extra: &str) -> Experiment {
        let text = format!(
            "name = \"t\"\n[zoo]\npath = {:?}\nepochs = \"all\"\n{extra}\n[model]\nkind = \"transformer\"\nd_model = 16\nheads = 2\nlayers = 1\nd_ff = 32\nlatent = 8\n[train]\nepochs = 3\n",
            zoo.display().to_string()
        );
        Experiment::parse(Path::new("t.toml"), &text).unwrap()
    }

    fn probe(property: &str, method: &str, metric: &str, test: f64) -> Probe {
        Probe {
            property: property.into(),
            method: method.into(),
            metric: metric.into(),
            test,
            ..Default::default()
        }
    }

    fn results() -> Results {
        let q = |v: &[f64]| Quantiles::of(v);
        let row = |networks, copies, d: &[f64]| MemorisationRow {
            networks,
            copies,
            distance: q(d),
            ..Default::default()
        };
        Results {
            run: "t".into(),
            probes: vec![
                probe("test_acc", "hyper", "r2", 0.9),
                probe("test_acc", "W", "r2", -2.5),
                probe("test_acc", "s(W)", "r2", 0.6),
                probe("test_acc", "spectral", "r2", 0.95),
                probe("activation", "hyper", "accuracy", 0.5),
                probe("activation", "W", "accuracy", 0.5),
                probe("activation", "s(W)", "accuracy", 0.8),
            ],
            reconstruction: Some(Reconstruction {
                checkpoints: 40,
                weight_r2: 0.8,
                acc_original: q(&[0.5, 0.6, 0.7]),
                acc_reconstructed: q(&[0.45, 0.55, 0.65]),
                agreement: q(&[0.7, 0.8, 0.9]),
                ..Default::default()
            }),
            generation: Some(Generation {
                sampler: "joint".into(),
                anchors: 12,
                candidates: 5,
                networks: 3,
                bn_condition: 0,
                acc_anchors: q(&[0.6, 0.65, 0.7]),
                acc_generated: q(&[0.3, 0.4, 0.5]),
                finetune: vec![
                    Finetune {
                        epoch: 0,
                        generated: q(&[0.4]),
                        random: q(&[0.25]),
                    },
                    Finetune {
                        epoch: 1,
                        generated: q(&[0.55]),
                        random: q(&[0.35]),
                    },
                ],
                memorisation: Some(Memorisation {
                    checkpoints: 12,
                    copy_threshold: 0.01,
                    generated: row(3, 1.0 / 3.0, &[1.0, 1.5, 2.0]),
                    noise: row(3, 0.0, &[1.4, 1.5, 1.6]),
                    interpolation: row(0, f64::NAN, &[]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const METRICS: &str = r#"{"kind":"epoch","step":3,"epoch":1,"val_loss":0.9,"val_r2":0.25}
{"kind":"step","step":4,"epoch":1,"loss":0.5}
{"kind":"epoch","step":6,"epoch":2,"val_loss":0.5,"val_r2":0.625}
"#;

    #[test]
    fn the_table_puts_each_number_beside_its_baseline() {
        let tmp = tempfile::tempdir().unwrap();
        let zoo = Zoo::open(&write_test_zoo(tmp.path(), 10)).unwrap();
        let e = experiment(&zoo.dir, "max_models = 8");
        let z = ZooSummary::of(&zoo, &e).unwrap();
        // Networks 0..8 at epochs 0 (acc 0.1) and 5 (0.5 + 0.01 id): 16 checkpoints.
        assert_eq!(
            (z.networks, z.networks_used, z.checkpoints, z.epochs.clone()),
            (10, 8, 16, vec![0, 5])
        );
        assert_eq!((z.classes, z.chance), (Some(4), Some(0.25)));
        let m = z.median_test_acc.unwrap();
        assert!((m - 0.3).abs() < 1e-12, "{m}");

        let r = results();
        let s = Summary::build("t", Some(&e), Some(&r), &Metrics::parse(METRICS), Ok(z));
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let t = s.training.as_ref().unwrap();
        assert_eq!((t.epoch, t.epochs, t.val_r2), (2, Some(3), 0.625));

        // Only hyper, hyper-layers, W and s(W) compete (spectral is left out).
        assert_eq!(s.probes.len(), 2);
        let (acc, act) = (&s.probes[0], &s.probes[1]);
        assert_eq!(
            (acc.property.as_str(), acc.metric.as_str()),
            ("test_acc", "r2")
        );
        assert_eq!(
            (acc.hyper, acc.w, acc.s_w),
            (Some(0.9), Some(-2.5), Some(0.6))
        );
        assert_eq!((acc.best.as_deref(), acc.hyper_wins), (Some("hyper"), true));
        assert_eq!((act.best.as_deref(), act.hyper_wins), (Some("s(W)"), false));

        let rc = s.reconstruction.as_ref().unwrap();
        assert_eq!(rc.median_acc_original, Some(0.6));
        assert!((rc.difference_points.unwrap() + 5.0).abs() < 1e-9);
        assert!((rc.mean_agreement.unwrap() - 0.8).abs() < 1e-12);

        let g = s.generation.as_ref().unwrap();
        assert_eq!(
            (g.median_acc_generated, g.median_acc_anchors, g.chance),
            (Some(0.4), Some(0.65), Some(0.25))
        );
        assert_eq!(g.finetune.len(), 1, "epoch 0 is the generation line itself");
        assert_eq!(g.finetune[0].median_acc_random_init, Some(0.35));
        let mem = g.memorisation.as_ref().unwrap();
        assert_eq!(mem.median_distance_generated, Some(1.5));
        assert_eq!(mem.median_distance_interpolation, None);
        assert_eq!(
            (mem.copies_noise, mem.copies_interpolation),
            (Some(0.0), None)
        );

        let text = s.to_text();
        for want in [
            "summary of run t (transformer hyper-representation)",
            "zoo             tiny: 10 networks (8 used), tetris_mlp (100 parameters) on tetris, 4 classes",
            "median test accuracy 0.300 over 16 checkpoints (epochs 0, 5)   chance 0.250",
            "final validation reconstruction R² 0.625 (epoch 2 of 3, val loss 0.5000)",
            "test_acc       R²         0.900*  -2.500    0.600    hyper",
            "activation     accuracy   0.500    0.500    0.800*   s(W)",
            "best on 1 of 2 properties",
            "reconstruction  median test accuracy: reconstructed 0.550 vs original 0.600 (-5.0 points)",
            "mean agreement 0.800, weight R² 0.800 (40 test checkpoints)",
            "generated 0.400 vs anchors 0.650 vs chance 0.250",
            "fine-tuning     after 1 epoch: generated init 0.550 vs random init 0.350",
            "memorisation    median L2 to the nearest of 12 training checkpoints: generated 1.5000 vs noise 1.5000 vs interpolation -",
            "near copies (within 1% of the norm): generated 33.3% vs noise 0.0% vs interpolation -",
        ] {
            assert!(text.contains(want), "no {want:?} in\n{text}");
        }
        assert!(!text.contains("hyper-layers"), "{text}");

        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["zoo"]["chance"], 0.25);
        assert_eq!(json["probes"][0]["best"], "hyper");
        assert_eq!(json["reconstruction"]["median_acc_reconstructed"], 0.55);
        assert_eq!(
            json["generation"]["memorisation"]["copies_interpolation"],
            serde_json::Value::Null
        );
        assert_eq!(json["missing"], serde_json::json!([]));
    }

    #[test]
    fn missing_sections_are_named_with_the_command_that_fills_them() {
        let s = Summary::build("r", None, None, &Metrics::default(), Err("no zoo".into()));
        for section in ["zoo", "training", "probes", "reconstruction", "generation"] {
            assert!(s.missing(section).is_some(), "{section}: {:?}", s.missing);
        }
        assert!(s.missing("probes").unwrap().contains("hyperzoo eval r"));
        assert!(
            s.missing("generation")
                .unwrap()
                .contains("hyperzoo generate r")
        );
        let text = s.to_text();
        assert!(
            text.contains("probes          missing: no results.toml yet: run `hyperzoo eval r`"),
            "{text}"
        );

        // Probes with SANE's per-layer embeddings get their column; a generation table from
        // before the audit says so.
        let mut r = results();
        r.probes.push(probe("test_acc", "hyper-layers", "r2", 0.95));
        r.generation.as_mut().unwrap().memorisation = None;
        r.reconstruction = None;
        let s = Summary::build(
            "r",
            None,
            Some(&r),
            &Metrics::default(),
            Err("no zoo".into()),
        );
        assert_eq!(s.probes[0].best.as_deref(), Some("hyper-layers"));
        assert!(s.probes[0].hyper_wins);
        assert!(s.missing("memorisation").unwrap().contains("again"));
        assert!(
            s.missing("reconstruction")
                .unwrap()
                .contains("no [reconstruction]")
        );
        assert_eq!(s.generation.as_ref().unwrap().chance, None);
        let text = s.to_text();
        assert!(text.contains("hyper-layers"), "{text}");
        assert!(text.contains("0.950*"), "{text}");
        assert!(text.contains("memorisation    missing:"), "{text}");
    }

    #[test]
    fn summarize_run_reads_the_run_and_its_zoo() {
        let tmp = tempfile::tempdir().unwrap();
        let zoo = write_test_zoo(tmp.path(), 6);
        let run = tmp.path().join("runs/t");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.toml"), experiment(&zoo, "").to_toml()).unwrap();
        std::fs::write(run.join("metrics.jsonl"), METRICS).unwrap();
        let s = summarize_run("t", &run, tmp.path()).unwrap();
        // The last network diverged at epoch 5: 6 + 5 checkpoints.
        assert_eq!(s.zoo.as_ref().unwrap().checkpoints, 11);
        assert_eq!(s.training.as_ref().unwrap().val_r2, 0.625);
        assert!(s.missing("probes").is_some() && s.missing("zoo").is_none());
        // A zoo that has gone is a missing section, not an error.
        std::fs::remove_dir_all(&zoo).unwrap();
        let s = summarize_run("t", &run, tmp.path()).unwrap();
        assert!(
            s.missing("zoo").unwrap().contains("zoo.toml"),
            "{:?}",
            s.missing
        );
    }
}
