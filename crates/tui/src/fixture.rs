//! Test fixtures: a workspace in the formats of `hyperzoo_core::run` (status.toml and config.toml
//! by hand, metrics.jsonl from `hyperzoo_core::metrics` records, results.toml from
//! `hyperzoo_core::results`, log.txt) and of the zoo store (through its writer).
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_core::metrics::{self, EpochRecord, ProbeRecord, ProbeScore, StepRecord};
use hyperzoo_core::results::{
    Finetune, Generation, Memorisation, MemorisationRow, Ood, Probe, Quantiles, Reconstruction,
    Results,
};
use hyperzoo_core::zoo::ModelSplit;
use hyperzoo_core::zoo::store::{FORMAT_VERSION, Manifest, ModelRow, NetStatus, Record, write_zoo};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a fixture run looks like.
pub struct RunSpec {
    pub state: &'static str,
    pub steps: u64,
    pub steps_per_epoch: u64,
    pub epochs: u64,
    pub seed: u64,
    pub gamma: f64,
    pub message: &'static str,
    /// Probe records every this many epochs (0: none).
    pub probe_every: u64,
    /// The zoo directory the config's `[zoo] path` names (none: no `[zoo]` table).
    pub zoo: Option<PathBuf>,
}

impl RunSpec {
    pub fn new(state: &'static str, steps: u64, steps_per_epoch: u64) -> Self {
        Self {
            state,
            steps,
            steps_per_epoch,
            epochs: 10,
            seed: 42,
            gamma: 0.1,
            message: "",
            probe_every: 0,
            zoo: None,
        }
    }
}

/// A run with `steps` step records and an evaluation at the end of every epoch.
pub fn run_dir(dir: &Path, state: &'static str, steps: u64, steps_per_epoch: u64) {
    run(dir, &RunSpec::new(state, steps, steps_per_epoch));
}

pub fn run(dir: &Path, spec: &RunSpec) {
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy();
    let spe = spec.steps_per_epoch;
    let status = format!(
        "state = \"{}\"\nstep = {}\nepoch = {}\nepochs = {}\nmessage = \"{}\"\n",
        spec.state,
        spec.steps,
        spec.steps / spe,
        spec.epochs,
        spec.message
    );
    std::fs::write(dir.join("status.toml"), status).unwrap();
    let config = format!(
        "name = \"{name}\"\nseed = {}\n\n[model]\nkind = \"transformer\"\nd_model = 64\n\n[loss]\ngamma = {}\ncontrast = \"ntxent\"\n\n[train]\nepochs = {}\nbatch_size = 64\nlr = 0.001\n",
        spec.seed, spec.gamma, spec.epochs
    );
    let config = match &spec.zoo {
        Some(z) => format!("{config}\n[zoo]\npath = {:?}\n", z.display().to_string()),
        None => config,
    };
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut records = Vec::new();
    let mut log = format!("started {name}: {} epochs of {spe} steps\n", spec.epochs);
    for s in 1..=spec.steps {
        let t = s as f64;
        let wiggle = 0.05 * (t * 1.7).sin();
        let structure = 0.1 + 1.5 * (-t / 15.0).exp() + wiggle;
        let contrast = 2.0 + (-t / 30.0).exp();
        let loss = structure + spec.gamma * contrast;
        let lr = 0.001 * (1.0 - t / (spe * spec.epochs) as f64).max(0.0) + 1e-5;
        records.push(metrics::Record::Step(StepRecord {
            step: s,
            epoch: (s - 1) / spe,
            loss,
            contrast: Some(contrast),
            structure: Some(structure),
            behaviour: None,
            lr,
            grad_norm: 1.0,
            samples_per_s: 2560.0,
            data_ms: 0.2,
            wait_ms: 5.0,
            step_ms: 20.0,
        }));
        if s % spe == 0 {
            let k = s / spe;
            let r2 = 1.0 - (-(k as f64) / 2.0).exp();
            records.push(metrics::Record::Epoch(EpochRecord {
                step: s,
                epoch: k,
                train_loss: loss,
                val_loss: structure * 1.1,
                val_r2: r2,
                lr,
            }));
            let _ = writeln!(
                log,
                "epoch {k}: val_loss {:.4} val_r2 {r2:.4}",
                structure * 1.1
            );
            if spec.probe_every > 0 && k.is_multiple_of(spec.probe_every) {
                let score = |property: &str, metric: &str, test: f64| ProbeScore {
                    property: property.into(),
                    metric: metric.into(),
                    val: Some(test + 0.01),
                    test,
                };
                let k = k as f64;
                records.push(metrics::Record::Probe(ProbeRecord {
                    step: s,
                    epoch: k as u64,
                    probes: vec![
                        score("test_acc", "r2", 0.9 - 0.6 * (-k / 2.0).exp()),
                        score("epoch", "accuracy", 0.5 + 0.06 * k),
                    ],
                }));
            }
        }
    }
    let metrics: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    std::fs::write(dir.join("log.txt"), log).unwrap();
}

/// Sets the modification time of a run's status.toml and metrics.jsonl `ago` in the past.
pub fn age(dir: &Path, ago: Duration) {
    for f in ["status.toml", "metrics.jsonl"] {
        let file = std::fs::File::options()
            .append(true)
            .open(dir.join(f))
            .unwrap();
        file.set_modified(SystemTime::now() - ago).unwrap();
    }
}

/// A complete zoo of 4 Tetris MLPs with checkpoints at epochs 0 and 2; one diverges.
pub fn zoo(dir: &Path) {
    let arch = ArchSpec::builtin("tetris_mlp").unwrap();
    let params = arch.param_count().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        name,
        description: "four Tetris MLPs".into(),
        status: hyperzoo_core::zoo::store::ZooStatus::Complete,
        dataset: "tetris".into(),
        models: 4,
        params,
        epochs: 2,
        checkpoints: vec![0, 2],
        arch,
        versions: Default::default(),
        command: "test".into(),
        definition: String::new(),
        source: String::new(),
        data: None,
    };
    let rows: Vec<ModelRow> = (0..4)
        .map(|id| ModelRow {
            id,
            split: ModelSplit::Train,
            population: 0,
            hparams: vec![("seed".into(), id.to_string())],
        })
        .collect();
    let weights = vec![(0, vec![0.0; 4 * params]), (2, vec![0.0; 4 * params])];
    let rec = |id, epoch, status, test_acc| Record {
        id,
        epoch,
        status,
        train_loss: 1.0,
        train_acc: test_acc,
        val_loss: 1.0,
        val_acc: test_acc,
        test_loss: 1.0,
        test_acc,
        ggap: 0.0,
    };
    let records = vec![
        rec(0, 0, NetStatus::Ok, 0.1),
        rec(1, 0, NetStatus::Ok, 0.12),
        rec(2, 0, NetStatus::Ok, 0.08),
        rec(3, 0, NetStatus::Ok, 0.1),
        rec(0, 2, NetStatus::Ok, 0.5),
        rec(1, 2, NetStatus::Ok, 0.9),
        rec(2, 2, NetStatus::Ok, 0.7),
        rec(3, 2, NetStatus::Diverged, f64::NAN),
    ];
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    write_zoo(dir, manifest, &rows, &weights, &records).unwrap();
}

/// A zoo definition file of three networks.
pub fn zoo_definition(path: &Path, name: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text = format!(
        r#"name = "{name}"
description = "three seeds"
arch = "tetris_mlp"
dataset = "tetris"
epochs = 1
[models]
max_population = 2
[hparams]
activation = "relu"
init = "normal"
optimizer = "sgd"
lr = 0.1
weight_decay = 0.0
dropout = 0.0
batch_size = 4
[grid]
seed = [1, 2, 3]
"#
    );
    std::fs::write(path, text).unwrap();
}

/// A workspace with experiments, runs in every state and zoos: `(workspace, experiments)`.
pub fn workspace(root: &Path) -> (PathBuf, PathBuf) {
    let ws = root.join("workspace");
    let exp = root.join("experiments");
    std::fs::create_dir_all(exp.join("ablations")).unwrap();
    std::fs::write(
        exp.join("quickstart.toml"),
        "name = \"quickstart\"\ndescription = \"2021 transformer AE on tetris-quick\"\n[model]\nkind = \"transformer\"\n",
    )
    .unwrap();
    std::fs::write(
        exp.join("ablations/gamma.toml"),
        "name = \"gamma\"\ndescription = \"weight of the contrast term\"\n[model]\nkind = \"transformer\"\n[grid]\n\"loss.gamma\" = [0.1, 0.5]\n",
    )
    .unwrap();
    std::fs::write(exp.join("broken.toml"), "name = \n").unwrap();
    zoo_definition(&exp.join("zoos/tetris-quick.toml"), "tetris-quick");
    zoo(&ws.join("zoos/tiny"));
    let runs = ws.join("runs");
    let mut quick = RunSpec::new("finished", 60, 10);
    (quick.epochs, quick.probe_every) = (6, 2);
    let tiny = std::path::absolute(ws.join("zoos/tiny")).unwrap();
    quick.zoo = Some(tiny.clone());
    run(&runs.join("quickstart"), &quick);
    std::fs::write(runs.join("quickstart/results.toml"), results().to_toml()).unwrap();
    hyperzoo_core::results::write_accuracies(&runs.join("quickstart"), &accuracies()).unwrap();
    let mut g1 = RunSpec::new("running", 35, 10);
    (g1.epochs, g1.seed, g1.gamma) = (6, 1, 0.1);
    g1.zoo = Some(tiny.clone());
    run(&runs.join("gamma-loss.gamma=0.1"), &g1);
    notes(
        &runs.join("gamma-loss.gamma=0.1"),
        "contrast weight sweep\nsecond line",
        &["sweep"],
    );
    let mut g5 = RunSpec::new("failed", 12, 10);
    (g5.epochs, g5.seed, g5.gamma) = (6, 1, 0.5);
    g5.zoo = Some(tiny);
    g5.message = "step 12: the structure loss is NaN";
    run(&runs.join("gamma-loss.gamma=0.5"), &g5);
    notes(
        &runs.join("gamma-loss.gamma=0.5"),
        "",
        &["baseline", "paper"],
    );
    run_dir(&runs.join("orphan"), "running", 8, 10);
    age(&runs.join("orphan"), Duration::from_secs(3600));
    (ws, exp)
}

/// Writes a run's notes.toml through core.
pub fn notes(dir: &Path, note: &str, tags: &[&str]) {
    let mut n = hyperzoo_core::run::Notes {
        note: note.into(),
        ..Default::default()
    };
    n.add_tags(tags).unwrap();
    n.write(&dir.join(hyperzoo_core::run::NOTES_FILE)).unwrap();
}

/// accuracies.csv groups of the quickstart run, in the order `hyperzoo eval` and `hyperzoo
/// generate` write them (file order is not the view's): a spread around a median per group;
/// one generated network diverged (NaN).
pub fn accuracies() -> Vec<(String, Vec<f64>)> {
    let group = |name: &str, n: usize, median: f64, spread: f64| {
        let values: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64;
                median + spread * ((t * 2.399).sin() + (t * 0.7).cos()) / 2.0
            })
            .collect();
        (name.to_string(), values)
    };
    let mut generated = group("generated", 20, 0.48, 0.18);
    generated.1[3] = f64::NAN;
    vec![
        group("anchors", 40, 0.63, 0.09),
        generated,
        group("random+1", 20, 0.35, 0.12),
        group("generated+1", 20, 0.6, 0.08),
        group("original", 40, 0.62, 0.1),
        group("reconstructed", 40, 0.55, 0.14),
    ]
}

/// Three finished runs of one experiment that differ only by seed (1, 2, 3), each with a
/// results.toml whose probe test scores grow by 0.01 per seed (`s(W)-56` in the first only);
/// returns their names.
pub fn seed_runs(runs: &Path) -> Vec<String> {
    (1..=3u64)
        .map(|seed| {
            let name = format!("seeds-seed={seed}");
            let mut spec = RunSpec::new("finished", 40 + 5 * seed, 10);
            spec.seed = seed;
            run(&runs.join(&name), &spec);
            let mut res = results();
            res.run = name.clone();
            res.probes.retain(|p| seed == 1 || p.method != "s(W)-56");
            for p in &mut res.probes {
                p.test += 0.01 * seed as f64;
            }
            std::fs::write(runs.join(&name).join("results.toml"), res.to_toml()).unwrap();
            name
        })
        .collect()
}

/// Quantiles from a median and a spread.
fn quantiles(median: f64, spread: f64) -> Option<Quantiles> {
    Some(Quantiles {
        min: median - 2.0 * spread,
        q25: median - spread,
        median,
        q75: median + spread,
        max: median + 1.5 * spread,
        mean: median - 0.1 * spread,
    })
}

/// results.toml of the quickstart run: probes of three properties (methods in file order that
/// is not the table's, one method only some properties have), reconstruction, an
/// out-of-distribution probe and generation with its memorisation audit and fine-tuning.
pub fn results() -> Results {
    let probe = |property: &str, method: &str, test: f64| {
        let r2 = property != "epoch";
        Probe {
            property: property.into(),
            method: method.into(),
            metric: if r2 { "r2" } else { "accuracy" }.into(),
            train: test + 0.05,
            val: Some(test + 0.01),
            test,
            kendall_tau: (r2 && method == "hyper").then_some(test - 0.1),
            alpha: r2.then_some(1.0),
        }
    };
    Results {
        run: "quickstart".into(),
        zoo: "tetris-quick".into(),
        checkpoint: "checkpoints/epoch-6".into(),
        embedding_dim: 64,
        rows: [120, 20, 40],
        standardized: false,
        probes: vec![
            probe("test_acc", "W", 0.612),
            probe("test_acc", "s(W)", 0.741),
            probe("test_acc", "hyper", 0.834),
            probe("test_acc", "s(W)-56", 0.779),
            probe("ggap", "W", 0.121),
            probe("ggap", "s(W)", 0.352),
            probe("ggap", "hyper", 0.297),
            probe("epoch", "W", 0.45),
            probe("epoch", "s(W)", 0.8),
            probe("epoch", "hyper", 0.8),
        ],
        reconstruction: Some(Reconstruction {
            checkpoints: 40,
            weight_r2: 0.912,
            weight_mse: 0.0123,
            l2_mean: 3.41,
            images: 1000,
            acc_original: quantiles(0.62, 0.05),
            acc_reconstructed: quantiles(0.55, 0.07),
            agreement: quantiles(0.81, 0.04),
        }),
        ood: vec![Ood {
            zoo: "tetris-wide".into(),
            property: "test_acc".into(),
            method: "hyper".into(),
            r2: 0.512,
            kendall_tau: 0.43,
        }],
        generation: Some(Generation {
            zoo: "zoos/quickstart-generated".into(),
            sampler: "joint".into(),
            bandwidth: "scott".into(),
            anchors: 40,
            candidates: 200,
            networks: 20,
            bn_condition: 0,
            images: 1000,
            acc_anchors: quantiles(0.62, 0.05),
            acc_generated: quantiles(0.48, 0.09),
            diversity_anchors: 12.5,
            diversity_generated: 9.75,
            finetune: vec![
                Finetune {
                    epoch: 0,
                    generated: quantiles(0.48, 0.09),
                    random: quantiles(0.1, 0.01),
                },
                Finetune {
                    epoch: 1,
                    generated: quantiles(0.6, 0.04),
                    random: quantiles(0.35, 0.06),
                },
            ],
            memorisation: Some(Memorisation {
                checkpoints: 120,
                candidates: 16,
                noise_norm: 2.25,
                copy_threshold: 0.01,
                generated: MemorisationRow {
                    networks: 20,
                    neighbours: 9,
                    copies: 0.15,
                    distance: quantiles(2.25, 0.5),
                    relative: quantiles(0.18, 0.04),
                    neighbour_acc: quantiles(0.64, 0.03),
                },
                noise: MemorisationRow {
                    networks: 20,
                    neighbours: 17,
                    copies: 0.0,
                    distance: quantiles(2.2, 0.05),
                    relative: quantiles(0.17, 0.01),
                    neighbour_acc: quantiles(0.62, 0.05),
                },
                interpolation: MemorisationRow {
                    networks: 20,
                    neighbours: 18,
                    copies: 0.0,
                    distance: quantiles(3.1, 0.4),
                    relative: quantiles(0.24, 0.03),
                    neighbour_acc: quantiles(0.61, 0.05),
                },
            }),
        }),
    }
}
