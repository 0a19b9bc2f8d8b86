//! `hyperzoo eval <run> [--zoo Z]`: the downstream results of a trained run, written to the
//! run's results.toml: linear probes from the hyper-representation and from the baselines (W,
//! s(W)) to every property, and the reconstruction of the test split. With `--zoo`, probes
//! trained on the run's zoo are also scored on another zoo of the same architecture (out of
//! distribution: R² and Kendall's τ).
use crate::cli::{EvalArgs, Global};
use anyhow::{Context, Result, bail};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::paths;
use hyperzoo_core::probe::{evaluate_regression, kendall_tau, r2 as r2_score};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::Zoo;
use hyperzoo_engine::device;
use hyperzoo_engine::hyper::eval::{self, ProbeResult, Reconstruction, TargetValues};
use hyperzoo_engine::hyper::model::HyperRep;
use hyperzoo_engine::hyper::train::{load_model, prepare};
use hyperzoo_engine::zoo::dataset::load_zoo_data;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// results.toml.
#[derive(Debug, Serialize)]
struct Results {
    run: String,
    zoo: String,
    checkpoint: String,
    embedding_dim: usize,
    rows: [usize; 3],
    probes: Vec<ProbeResult>,
    reconstruction: Reconstruction,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ood: Vec<OodResult>,
}

/// A probe trained on the run's zoo, scored on another.
#[derive(Debug, Serialize)]
struct OodResult {
    zoo: String,
    property: String,
    method: String,
    r2: f64,
    kendall_tau: f64,
}

fn run_dir(g: &Global, run: &str) -> PathBuf {
    let p = PathBuf::from(run);
    if p.join("config.toml").exists() {
        return p;
    }
    paths::workspace_dir(g.workspace.clone())
        .path
        .join("runs")
        .join(run)
}

/// A trained run loaded for evaluation.
struct Loaded {
    run: RunDir,
    e: Experiment,
    zoo: Zoo,
    spec: hyperzoo_engine::hyper::train::TrainSpec,
    dev: device::ResolvedDevice,
    prepared: hyperzoo_engine::hyper::train::Prepared,
    ckpt: PathBuf,
    model: HyperRep,
}

fn load(g: &Global, name: &str, checkpoint: &str) -> Result<Loaded> {
    let dir = run_dir(g, name);
    let run = RunDir::open(&dir)?;
    let e = Experiment::load(&run.path("config.toml"))?;
    let ws = paths::workspace_dir(g.workspace.clone()).path;
    let zoo_dir = if e.zoo.is_definition() {
        let def = ZooDef::load(&e.zoo_location(&ws))?;
        ws.join("zoos").join(def.name)
    } else {
        e.zoo_location(&ws)
    };
    let zoo = Zoo::open(&zoo_dir).with_context(|| format!("the zoo of run {}", dir.display()))?;
    let spec = crate::run_cmd::train_spec(&e, &zoo)?;
    let dev = device::resolve(g.device)?;
    let prepared = prepare(&spec, &zoo)?;
    let ckpt = match checkpoint {
        "best" if dir.join("checkpoints/best").exists() => dir.join("checkpoints/best"),
        "best" | "last" => {
            let s = *run
                .checkpoints()?
                .last()
                .with_context(|| format!("{} has no checkpoint yet", dir.display()))?;
            run.checkpoint_dir(s)
        }
        other => bail!("--checkpoint {other}: expected best or last"),
    };
    let layout = zoo.manifest.arch.layout()?;
    let window = prepared.repr.item_shape(layout.total)[0];
    let model = HyperRep::new(
        &spec.model,
        spec.head.as_ref(),
        &layout,
        window,
        spec.seed,
        &dev.device,
    )?;
    let model = load_model(model, &ckpt)?;
    Ok(Loaded {
        run,
        e,
        zoo,
        spec,
        dev,
        prepared,
        ckpt,
        model,
    })
}

/// `hyperzoo eval`.
pub fn eval(g: &Global, a: &EvalArgs) -> Result<ExitCode> {
    let Loaded {
        run,
        e,
        zoo,
        spec,
        dev,
        prepared,
        ckpt,
        model,
    } = load(g, &a.run, &a.checkpoint)?;
    let batch = spec.batch_size.max(64);
    eprintln!(
        "evaluating {} ({}) on zoo {}",
        e.name,
        ckpt.display(),
        zoo.manifest.name
    );

    let mut emb = Vec::new();
    let mut dz = 0;
    for k in 0..3 {
        let (v, d) = eval::embed(
            &model,
            &prepared.splits[k],
            &prepared.repr,
            batch,
            &dev.device,
        )?;
        emb.push(v);
        dz = d;
    }
    let targets = [0, 1, 2].map(|k| eval::targets(&zoo, &prepared.splits[k]));
    let mut probes = eval::probe_all("hyper", [&emb[0], &emb[1], &emb[2]], &targets);
    let baselines = eval::baselines(&prepared, &zoo)?;
    for (name, f) in &baselines {
        probes.extend(eval::probe_all(name, [&f[0], &f[1], &f[2]], &targets));
    }

    let images = if zoo.manifest.definition.is_empty() {
        None
    } else {
        let def = ZooDef::parse(&zoo.dir.join("zoo.toml"), &zoo.manifest.definition)?;
        let data_dir = paths::data_dir(g.data_dir.clone()).path;
        let data = load_zoo_data(&def, &data_dir, &dev.device)
            .with_context(|| format!("test images of zoo {}", zoo.manifest.name))?;
        let n = data.test.len().min(a.images);
        Some(hyperzoo_engine::zoo::dataset::TensorSet {
            x: data.test.x.narrow(0, 0, n),
            y: data.test.y.narrow(0, 0, n),
        })
    };
    let reconstruction =
        eval::reconstruction(&model, &prepared, &zoo, images.as_ref(), batch, &dev.device)?;

    let mut ood = Vec::new();
    if let Some(other) = &a.zoo {
        ood = out_of_distribution(g, other, &e, &zoo, &model, &emb, &targets, &dev.device)?;
    }
    let results = Results {
        run: e.name.clone(),
        zoo: zoo.manifest.name.clone(),
        checkpoint: ckpt.display().to_string(),
        embedding_dim: dz,
        rows: [0, 1, 2].map(|k| prepared.splits[k].len()),
        probes,
        reconstruction,
        ood,
    };
    let text = toml::to_string(&results).context("results.toml")?;
    run.write("results.toml", text.as_bytes())?;
    print_summary(&results);
    println!("wrote {}", run.path("results.toml").display());
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn out_of_distribution(
    g: &Global,
    other: &str,
    e: &Experiment,
    zoo: &Zoo,
    model: &HyperRep,
    emb: &[Vec<f64>],
    targets: &[Vec<(String, TargetValues)>; 3],
    device: &hyperzoo_engine::burn::prelude::Device,
) -> Result<Vec<OodResult>> {
    let ws = paths::workspace_dir(g.workspace.clone()).path;
    let odir = if Path::new(other).join("zoo.toml").exists() {
        PathBuf::from(other)
    } else {
        ws.join("zoos").join(other)
    };
    let ozoo = Zoo::open(&odir)?;
    if ozoo.manifest.arch.layout()?.total != zoo.manifest.arch.layout()?.total {
        bail!(
            "zoo {} ({}) does not have the architecture of zoo {} ({})",
            ozoo.manifest.name,
            ozoo.manifest.arch.name,
            zoo.manifest.name,
            zoo.manifest.arch.name
        );
    }
    // The other zoo's checkpoints, all models, normalised with the run's own statistics.
    let mut spec = crate::run_cmd::train_spec(e, &ozoo)?;
    spec.selection.max_models = None;
    let own = prepare(&crate::run_cmd::train_spec(e, zoo)?, zoo)?;
    let mut op = prepare(&spec, &ozoo)?;
    let mut all = op.splits[0].clone();
    for k in 1..3 {
        all.weights.extend_from_slice(&op.splits[k].weights);
        all.model.extend_from_slice(&op.splits[k].model);
        all.epoch.extend_from_slice(&op.splits[k].epoch);
    }
    if let (Some(theirs), Some(ours)) = (&op.standardizer, &own.standardizer) {
        theirs.invert(&mut all.weights)?;
        ours.apply(&mut all.weights)?;
    }
    op.splits[2] = all.clone();
    let (oemb, _) = eval::embed(model, &all, &own.repr, spec.batch_size.max(64), device)?;
    let otargets = eval::targets(&ozoo, &all);
    let mut out = Vec::new();
    for (k, (name, t)) in targets[0].iter().enumerate() {
        let (TargetValues::Numeric(train_y), Some((_, TargetValues::Numeric(oy)))) =
            (t, otargets.iter().find(|(n, _)| n == name))
        else {
            continue;
        };
        let val = match &targets[1][k].1 {
            TargetValues::Numeric(v) if !v.is_empty() => Some((emb[1].as_slice(), v.as_slice())),
            _ => None,
        };
        let Ok(report) = evaluate_regression((&emb[0], train_y), val, (&emb[0], train_y)) else {
            continue;
        };
        let Ok(pred) = report.probe.predict(&oemb) else {
            continue;
        };
        let keep: Vec<usize> = (0..oy.len()).filter(|&i| oy[i].is_finite()).collect();
        let p: Vec<f64> = keep.iter().map(|&i| pred[i]).collect();
        let y: Vec<f64> = keep.iter().map(|&i| oy[i]).collect();
        out.push(OodResult {
            zoo: ozoo.manifest.name.clone(),
            property: name.clone(),
            method: "hyper".into(),
            r2: r2_score(&p, &y),
            kendall_tau: kendall_tau(&p, &y),
        });
    }
    Ok(out)
}

fn print_summary(r: &Results) {
    println!(
        "{}: probes on the test split ({} test checkpoints; embedding {} dims)",
        r.run, r.rows[2], r.embedding_dim
    );
    let mut props: Vec<&str> = r.probes.iter().map(|p| p.property.as_str()).collect();
    props.dedup();
    println!(
        "  {:<16} {:>10} {:>10} {:>10}",
        "property", "hyper", "W", "s(W)"
    );
    let mut seen = std::collections::BTreeSet::new();
    for p in props {
        if !seen.insert(p) {
            continue;
        }
        let cell = |m: &str| {
            r.probes
                .iter()
                .find(|x| x.property == p && x.method == m)
                .map_or("-".to_string(), |x| format!("{:.3}", x.test))
        };
        let metric = r
            .probes
            .iter()
            .find(|x| x.property == p)
            .map_or("", |x| if x.metric == "r2" { "R²" } else { "acc" });
        println!(
            "  {:<16} {:>10} {:>10} {:>10}  ({metric})",
            p,
            cell("hyper"),
            cell("W"),
            cell("s(W)")
        );
    }
    let rc = &r.reconstruction;
    println!(
        "  reconstruction: weight R² {:.4}, MSE {:.4}, mean L2 {:.4}",
        rc.weight_r2, rc.weight_mse, rc.l2_mean
    );
    if let (Some(o), Some(c), Some(a)) = (&rc.acc_original, &rc.acc_reconstructed, &rc.agreement) {
        println!(
            "  test accuracy on {} images: original median {:.4} (mean {:.4}), reconstructed median {:.4} (mean {:.4}), agreement mean {:.4}",
            rc.images, o.median, o.mean, c.median, c.mean, a.mean
        );
    }
    for o in &r.ood {
        println!(
            "  out of distribution on {}: {} R² {:.4}, Kendall τ {:.4}",
            o.zoo, o.property, o.r2, o.kendall_tau
        );
    }
}

/// `hyperzoo embed <run> --out F`: the embedding of every checkpoint of the run's zoo (all
/// splits) to F.safetensors (`embeddings` f32 [rows, dim]) and F.csv (one row per checkpoint:
/// row, model id, split, epoch, properties and hyperparameters), for notebooks.
pub fn embed(g: &Global, a: &crate::cli::EmbedArgs) -> Result<ExitCode> {
    let l = load(g, &a.run, &a.checkpoint)?;
    let batch = l.spec.batch_size.max(64);
    let st = a.out.with_extension("safetensors");
    let csv_path = a.out.with_extension("csv");
    let mut all = Vec::new();
    let mut dz = 0;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "row".to_string(),
        "id".into(),
        "split".into(),
        "epoch".into(),
        "test_acc".into(),
        "train_acc".into(),
        "ggap".into(),
    ];
    let hp: Vec<String> = l
        .zoo
        .models
        .first()
        .map(|m| m.hparams.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    header.extend(hp.iter().cloned());
    w.write_record(&header)?;
    let rec: std::collections::HashMap<(usize, usize), &hyperzoo_core::zoo::store::Record> =
        l.zoo.records.iter().map(|r| ((r.id, r.epoch), r)).collect();
    let mut row = 0;
    for (k, split) in ["train", "val", "test"].iter().enumerate() {
        let data = &l.prepared.splits[k];
        let (v, d) = eval::embed(&l.model, data, &l.prepared.repr, batch, &l.dev.device)?;
        dz = d;
        all.extend(v.iter().map(|&x| x as f32));
        for i in 0..data.len() {
            let (id, epoch) = (data.model[i], data.epoch[i]);
            let r = rec.get(&(id, epoch));
            let f = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            let mut fields = vec![
                row.to_string(),
                id.to_string(),
                split.to_string(),
                epoch.to_string(),
                f(r.map(|r| r.test_acc)),
                f(r.map(|r| r.train_acc)),
                f(r.map(|r| r.ggap)),
            ];
            fields.extend(
                hp.iter()
                    .map(|k| l.zoo.models[id].get(k).unwrap_or("").to_string()),
            );
            w.write_record(&fields)?;
            row += 1;
        }
    }
    hyperzoo_core::zoo::store::write_tensors(&st, &[("embeddings", &all, vec![row, dz])])?;
    hyperzoo_core::fsutil::write_atomic(&csv_path, &w.into_inner()?)?;
    println!(
        "wrote {} ({row} x {dz}) and {} for run {} ({})",
        st.display(),
        csv_path.display(),
        l.e.name,
        l.ckpt.display()
    );
    Ok(ExitCode::SUCCESS)
}
