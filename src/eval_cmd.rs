//! `hyperzoo eval <run> [--zoo Z]`: the downstream results of a trained run, written to the
//! run's results.toml: linear probes from the hyper-representation and from the baselines (W,
//! s(W)) to every property, and the reconstruction of the test split. With `--zoo`, probes
//! trained on the run's zoo are also scored on another zoo of the same architecture (out of
//! distribution: R² and Kendall's τ).
use crate::cli::{EvalArgs, Global};
use anyhow::{Context, Result, bail};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::paths;
use hyperzoo_core::probe::features::ColumnScaler;
use hyperzoo_core::probe::{evaluate_regression, kendall_tau, r2 as r2_score};
use hyperzoo_core::results::{Ood as OodResult, Results};
use hyperzoo_core::run::RunDir;
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::store::Zoo;
use hyperzoo_engine::device;
use hyperzoo_engine::hyper::eval::{self, TargetValues};
use hyperzoo_engine::hyper::model::HyperRep;
use hyperzoo_engine::hyper::train::{load_model, prepare};
use hyperzoo_engine::zoo::dataset::load_zoo_data;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A run directory given as a path, or a run name in `<workspace>/runs/`.
pub(crate) fn run_dir(g: &Global, run: &str) -> PathBuf {
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
    let zoo_dir = e.zoo_dir(&ws)?;
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
    crate::say!(
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
    let rows_train = prepared.splits[0].len();
    let (emb, scaler) = probe_features([&emb[0], &emb[1], &emb[2]], rows_train, a.standardize)?;
    let mut probes = eval::probe_all("hyper", [&emb[0], &emb[1], &emb[2]], &targets);
    // SANE's per-layer embeddings.
    let mut layered = Vec::new();
    for k in 0..3 {
        let split = &prepared.splits[k];
        if let Some((v, _)) = eval::embed_layers(&model, split, &prepared.repr, batch, &dev.device)?
        {
            layered.push(v);
        }
    }
    if let [l0, l1, l2] = layered.as_slice() {
        let (f, _) = probe_features([l0, l1, l2], rows_train, a.standardize)?;
        probes.extend(eval::probe_all(
            "hyper-layers",
            [&f[0], &f[1], &f[2]],
            &targets,
        ));
    }
    let baselines = eval::baselines(&prepared, &zoo)?;
    for (name, f) in &baselines {
        let (f, _) = probe_features([&f[0], &f[1], &f[2]], rows_train, a.standardize)?;
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
    let (reconstruction, accuracies) =
        eval::reconstruction(&model, &prepared, &zoo, images.as_ref(), batch, &dev.device)?;
    if !accuracies.is_empty() {
        hyperzoo_core::results::write_accuracies(run.dir(), &accuracies)?;
    }

    let mut ood = Vec::new();
    if let Some(other) = &a.zoo {
        ood = out_of_distribution(
            g,
            other,
            &e,
            &prepared,
            &model,
            (&emb, scaler.as_ref()),
            &targets,
            &dev.device,
        )?;
    }
    // A generation table written by `hyperzoo generate` stays. An unreadable results.toml is
    // kept aside (not overwritten unread) and named.
    let results_path = run.path("results.toml");
    let generation = match Results::read(&results_path) {
        Ok(r) => r.and_then(|r| r.generation),
        Err(err) => {
            // Kept under a name no earlier unreadable file holds.
            let aside = (0..)
                .map(|k| match k {
                    0 => run.path("results.toml.unreadable"),
                    k => run.path(&format!("results.toml.unreadable.{k}")),
                })
                .find(|p| !p.exists())
                .expect("an unused name");
            match std::fs::rename(&results_path, &aside) {
                Ok(()) => crate::say!(
                    "warning: {err:#}; kept as {} (its [generation] table, if any, is not carried over)",
                    aside.display()
                ),
                Err(e) => crate::say!(
                    "warning: {err:#}; it could not be kept aside ({e}) and will be replaced"
                ),
            }
            None
        }
    };
    let results = Results {
        run: e.name.clone(),
        zoo: zoo.manifest.name.clone(),
        checkpoint: ckpt.display().to_string(),
        embedding_dim: dz,
        rows: [0, 1, 2].map(|k| prepared.splits[k].len()),
        standardized: a.standardize,
        probes,
        reconstruction: Some(reconstruction),
        ood,
        generation,
    };
    run.write("results.toml", results.to_toml().as_bytes())?;
    print_summary(&results);
    crate::tell!("wrote {}", run.path("results.toml").display());
    Ok(ExitCode::SUCCESS)
}

/// Every checkpoint of another zoo (`other`: a directory, or a zoo name in the workspace) of
/// the run's architecture, selected by the run's experiment (epochs, weight filter) and
/// normalised with the run's own statistics, as one set of rows.
fn other_zoo_rows(
    g: &Global,
    other: &str,
    e: &Experiment,
    own: &hyperzoo_engine::hyper::train::Prepared,
) -> Result<(Zoo, hyperzoo_engine::hyper::data::SplitData)> {
    let ws = paths::workspace_dir(g.workspace.clone()).path;
    let odir = if Path::new(other).join("zoo.toml").exists() {
        PathBuf::from(other)
    } else {
        ws.join("zoos").join(other)
    };
    let ozoo = Zoo::open(&odir)?;
    if ozoo.manifest.params != own.splits[0].params {
        bail!(
            "zoo {} ({}, {} parameters) does not have the architecture of the run's zoo ({} parameters)",
            ozoo.manifest.name,
            ozoo.manifest.arch.name,
            ozoo.manifest.params,
            own.splits[0].params
        );
    }
    let mut spec = crate::run_cmd::train_spec(e, &ozoo)?;
    spec.selection.max_models = None;
    let op = prepare(&spec, &ozoo)?;
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
    Ok((ozoo, all))
}

/// The features of the three splits as the probes see them: as they are, or with
/// `standardize` standardized by the training split's statistics (the scaler is returned for
/// other rows, e.g. another zoo's embeddings). `rows_train` gives the column count.
/// The three splits' features as the probes see them.
type SplitFeatures<'a> = [Cow<'a, [f64]>; 3];

/// Raw features are borrowed, not copied (the W baseline of a large zoo is big).
fn probe_features<'a>(
    f: [&'a [f64]; 3],
    rows_train: usize,
    standardize: bool,
) -> Result<(SplitFeatures<'a>, Option<ColumnScaler>)> {
    if !standardize || rows_train == 0 || f[0].is_empty() {
        return Ok((f.map(Cow::Borrowed), None));
    }
    let scaler = ColumnScaler::fit(f[0], f[0].len() / rows_train)?;
    let out = [
        Cow::Owned(scaler.apply(f[0])?),
        Cow::Owned(scaler.apply(f[1])?),
        Cow::Owned(scaler.apply(f[2])?),
    ];
    Ok((out, Some(scaler)))
}

#[allow(clippy::too_many_arguments)]
fn out_of_distribution(
    g: &Global,
    other: &str,
    e: &Experiment,
    own: &hyperzoo_engine::hyper::train::Prepared,
    model: &HyperRep,
    (emb, scaler): (&SplitFeatures<'_>, Option<&ColumnScaler>),
    targets: &[Vec<(String, TargetValues)>; 3],
    device: &hyperzoo_engine::burn::prelude::Device,
) -> Result<Vec<OodResult>> {
    let (ozoo, all) = other_zoo_rows(g, other, e, own)?;
    let batch = e.train.batch_size.max(64);
    let (oemb, _) = eval::embed(model, &all, &own.repr, batch, device)?;
    // Standardized with the statistics of this zoo's training split, as the probe's inputs.
    let oemb = match scaler {
        Some(s) => s.apply(&oemb)?,
        None => oemb,
    };
    let otargets = eval::targets(&ozoo, &all);
    let mut out = Vec::new();
    for (k, (name, t)) in targets[0].iter().enumerate() {
        let (TargetValues::Numeric(train_y), Some((_, TargetValues::Numeric(oy)))) =
            (t, otargets.iter().find(|(n, _)| n == name))
        else {
            continue;
        };
        let val = match &targets[1][k].1 {
            TargetValues::Numeric(v) if !v.is_empty() => Some((&*emb[1], v.as_slice())),
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
    crate::tell!(
        "{}: probes on the test split ({} test checkpoints; embedding {} dims; {} features)",
        r.run,
        r.rows[2],
        r.embedding_dim,
        if r.standardized {
            "standardized"
        } else {
            "raw"
        }
    );
    let mut props: Vec<&str> = Vec::new();
    let mut methods: Vec<&str> = Vec::new();
    for p in &r.probes {
        if !props.contains(&p.property.as_str()) {
            props.push(&p.property);
        }
        if !methods.contains(&p.method.as_str()) {
            methods.push(&p.method);
        }
    }
    let head: String = methods.iter().map(|m| format!(" {m:>12}")).collect();
    crate::tell!("  {:<16}{head}", "property");
    for p in props {
        let cells: String = methods
            .iter()
            .map(|m| {
                let v = r
                    .probes
                    .iter()
                    .find(|x| x.property == p && x.method == *m)
                    .map_or("-".to_string(), |x| format!("{:.3}", x.test));
                format!(" {v:>12}")
            })
            .collect();
        let metric = r
            .probes
            .iter()
            .find(|x| x.property == p)
            .map_or("", |x| if x.metric == "r2" { "R²" } else { "acc" });
        crate::tell!("  {p:<16}{cells}  ({metric})");
    }
    if let Some(rc) = &r.reconstruction {
        crate::tell!(
            "  reconstruction: weight R² {:.4}, MSE {:.4}, mean L2 {:.4}",
            rc.weight_r2,
            rc.weight_mse,
            rc.l2_mean
        );
        if let (Some(o), Some(c), Some(a)) =
            (&rc.acc_original, &rc.acc_reconstructed, &rc.agreement)
        {
            crate::tell!(
                "  test accuracy on {} images: original median {:.4} (mean {:.4}), reconstructed median {:.4} (mean {:.4}), agreement mean {:.4}",
                rc.images,
                o.median,
                o.mean,
                c.median,
                c.mean,
                a.mean
            );
        }
    }
    for o in &r.ood {
        crate::tell!(
            "  out of distribution on {}: {} R² {:.4}, Kendall τ {:.4}",
            o.zoo,
            o.property,
            o.r2,
            o.kendall_tau
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
    // The run's own zoo (its three splits), or with --zoo every checkpoint of another zoo,
    // normalised with the run's statistics.
    let other = match &a.zoo {
        Some(z) => Some(other_zoo_rows(g, z, &l.e, &l.prepared)?),
        None => None,
    };
    let (zoo, sets): (&Zoo, Vec<&hyperzoo_engine::hyper::data::SplitData>) = match &other {
        Some((z, rows)) => (z, vec![rows]),
        None => (&l.zoo, l.prepared.splits.iter().collect()),
    };
    let hp: Vec<String> = zoo
        .models
        .first()
        .map(|m| m.hparams.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    header.extend(hp.iter().cloned());
    w.write_record(&header)?;
    let rec: std::collections::HashMap<(usize, usize), &hyperzoo_core::zoo::store::Record> =
        zoo.records.iter().map(|r| ((r.id, r.epoch), r)).collect();
    let mut row = 0;
    for data in sets {
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
                zoo.models[id].split.name().to_string(),
                epoch.to_string(),
                f(r.map(|r| r.test_acc)),
                f(r.map(|r| r.train_acc)),
                f(r.map(|r| r.ggap)),
            ];
            fields.extend(
                hp.iter()
                    .map(|k| zoo.models[id].get(k).unwrap_or("").to_string()),
            );
            w.write_record(&fields)?;
            row += 1;
        }
    }
    hyperzoo_core::zoo::store::write_tensors(&st, &[("embeddings", &all, vec![row, dz])])?;
    hyperzoo_core::fsutil::write_atomic(&csv_path, &w.into_inner()?)?;
    crate::tell!(
        "wrote {} ({row} x {dz}) and {} for run {} ({}) on zoo {}",
        st.display(),
        csv_path.display(),
        l.e.name,
        l.ckpt.display(),
        zoo.manifest.name
    );
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo generate <run> --n N --out <zoo>`: new networks sampled around the run's
/// training-split latents, decoded, de-normalised, evaluated on the zoo's test images without
/// training, and written as a zoo.
pub fn generate(g: &Global, a: &crate::cli::GenerateNetsArgs) -> Result<ExitCode> {
    use hyperzoo_core::zoo::ModelSplit;
    use hyperzoo_core::zoo::store::{Manifest, ModelRow, NetStatus, Record, write_zoo};
    use hyperzoo_engine::hyper::generate::{self as gen_, Bandwidth, Sampler};
    use rand::SeedableRng;
    let l = load(g, &a.run, &a.checkpoint)?;
    let batch = l.spec.batch_size.max(64);
    let dev = &l.dev.device;
    let p = l.zoo.manifest.params;
    let train = &l.prepared.splits[0];
    let (lat, shape) = gen_::latents(&l.model, train, &l.prepared.repr, batch, dev)?;
    let dim = shape[0] * shape[1];
    // Anchors: all training checkpoints, or those in the top `top`% by test accuracy.
    // Test accuracy of every training checkpoint (anchor choice and the memorisation audit).
    let acc_by: std::collections::HashMap<(usize, usize), f64> = l
        .zoo
        .records
        .iter()
        .map(|r| ((r.id, r.epoch), r.test_acc))
        .collect();
    let train_acc: Vec<f64> = (0..train.len())
        .map(|i| {
            acc_by
                .get(&(train.model[i], train.epoch[i]))
                .copied()
                .unwrap_or(f64::NAN)
        })
        .collect();
    let acc_of = |i: usize| train_acc[i];
    let mut rows: Vec<usize> = (0..train.len()).collect();
    if let Some(top) = a.top {
        let mut accs: Vec<f64> = rows
            .iter()
            .map(|&i| acc_of(i))
            .filter(|v| v.is_finite())
            .collect();
        accs.sort_by(f64::total_cmp);
        let cut = hyperzoo_core::probe::features::percentile(&accs, 100.0 - top);
        rows.retain(|&i| acc_of(i) >= cut);
    }
    if rows.is_empty() {
        bail!("no anchor checkpoints left (--top {:?})", a.top);
    }
    let anchors: Vec<f32> = rows
        .iter()
        .flat_map(|&i| lat[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let sampler = match a.sampler.as_str() {
        "individual" => Sampler::Individual,
        "joint" => Sampler::Joint,
        "token" => Sampler::Token,
        "uniform" => Sampler::Uniform,
        other => bail!("--sampler {other}: expected individual, joint, token or uniform"),
    };
    let sane = matches!(
        l.prepared.repr,
        hyperzoo_engine::hyper::data::Representation::Sane { .. }
    );
    let bw = match a.bandwidth.as_deref() {
        None => Bandwidth::Fixed(if sane { 0.2 } else { 0.002 }),
        Some("scott") => Bandwidth::Scott,
        Some("silverman") => Bandwidth::Silverman,
        Some(x) => Bandwidth::Fixed(
            x.parse()
                .with_context(|| format!("--bandwidth {x}: a number, scott or silverman"))?,
        ),
    };
    let m = a.candidates.unwrap_or(a.n).max(a.n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let (z, which) = gen_::sample(&anchors, shape, m, sampler, bw, &mut rng);
    let mut w = gen_::decode(&l.model, &z, shape, &l.prepared.repr, p, batch, dev)?;
    if let Some(s) = &l.prepared.standardizer {
        s.invert(&mut w)?;
    }
    // Activation of each generated network: its anchor's, else the zoo's most common.
    let mut counts = std::collections::BTreeMap::new();
    for a in &l.prepared.activations {
        *counts.entry(*a).or_insert(0usize) += 1;
    }
    let common = counts
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map(|(a, _)| a)
        .context("zoo without models")?;
    let acts: Vec<_> = which
        .iter()
        .map(|k| k.map_or(common, |k| l.prepared.activations[train.model[rows[k]]]))
        .collect();
    let def = if l.zoo.manifest.definition.is_empty() {
        None
    } else {
        Some(ZooDef::parse(
            &l.zoo.dir.join("zoo.toml"),
            &l.zoo.manifest.definition,
        )?)
    };
    let data = match &def {
        Some(def) => {
            let data_dir = paths::data_dir(g.data_dir.clone()).path;
            Some(load_zoo_data(def, &data_dir, dev)?)
        }
        None => None,
    };
    if a.finetune_epochs > 0 && data.is_none() {
        bail!(
            "--finetune-epochs needs the zoo's training images, and zoo {} has no zoo definition (an imported zoo)",
            l.zoo.manifest.name
        );
    }
    let cap = |t: &hyperzoo_engine::zoo::dataset::TensorSet| {
        let n = t.len().min(a.images);
        hyperzoo_engine::zoo::dataset::TensorSet {
            x: t.x.clone().narrow(0, 0, n),
            y: t.y.clone().narrow(0, 0, n),
        }
    };
    // Keep the best n of the m candidates by validation accuracy.
    let mut keep: Vec<usize> = (0..m).collect();
    let mut val_acc = vec![f64::NAN; m];
    if let Some(d) = &data
        && m > a.n
    {
        val_acc = eval::accuracies(&l.zoo, &w, &acts, &cap(&d.val), dev)?.0;
        keep.sort_by(|&i, &j| val_acc[j].total_cmp(&val_acc[i]));
        keep.truncate(a.n);
        keep.sort_unstable();
    }
    let kept: Vec<f32> = keep
        .iter()
        .flat_map(|&i| w[i * p..(i + 1) * p].iter().copied())
        .collect();
    let kept_acts: Vec<_> = keep.iter().map(|&i| acts[i]).collect();
    let test_acc = match &data {
        Some(d) => eval::accuracies(&l.zoo, &kept, &kept_acts, &cap(&d.test), dev)?.0,
        None => vec![f64::NAN; keep.len()],
    };
    let anchor_raw = eval::raw_weights(&l.prepared, 0)?;
    let anchor_acc: Vec<f64> = rows.iter().map(|&i| acc_of(i)).collect();
    let records: Vec<Record> = keep
        .iter()
        .enumerate()
        .map(|(id, &i)| Record {
            id,
            epoch: 0,
            status: if kept[id * p..(id + 1) * p].iter().all(|v| v.is_finite()) {
                NetStatus::Ok
            } else {
                NetStatus::Diverged
            },
            train_loss: f64::NAN,
            train_acc: f64::NAN,
            val_loss: f64::NAN,
            val_acc: val_acc[i],
            test_loss: f64::NAN,
            test_acc: test_acc[id],
            ggap: f64::NAN,
        })
        .collect();
    let model_rows: Vec<ModelRow> = keep
        .iter()
        .enumerate()
        .map(|(id, &i)| ModelRow {
            id,
            split: ModelSplit::Test,
            population: 0,
            hparams: vec![
                ("activation".into(), acts[i].name().into()),
                ("sampler".into(), a.sampler.clone()),
                (
                    "anchor_model".into(),
                    which[i].map_or(String::new(), |k| train.model[rows[k]].to_string()),
                ),
            ],
        })
        .collect();
    let manifest = Manifest {
        format: hyperzoo_core::zoo::store::FORMAT_VERSION,
        name: a
            .out
            .file_name()
            .map_or("generated".into(), |n| n.to_string_lossy().into_owned()),
        description: format!(
            "{} networks generated by run {} ({} sampler, {} anchors, best {} of {m})",
            a.n,
            l.e.name,
            a.sampler,
            rows.len(),
            a.n
        ),
        status: "complete".into(),
        dataset: l.zoo.manifest.dataset.clone(),
        models: keep.len(),
        params: p,
        epochs: 0,
        checkpoints: vec![0],
        arch: l.zoo.manifest.arch.clone(),
        versions: Default::default(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        definition: String::new(),
        source: format!("generated from run {}", l.e.name),
    };
    write_zoo(
        &a.out,
        manifest,
        &model_rows,
        &[(0, kept.clone())],
        &records,
    )?;
    // Fine-tuning: the generated networks and networks from random initialisation, trained
    // the same epochs with the hyperparameters of the zoo network each one was sampled around.
    let mut finetune = Vec::new();
    let mut groups: Vec<(String, Vec<f64>)> = vec![
        ("anchors".into(), anchor_acc.clone()),
        ("generated".into(), test_acc.clone()),
    ];
    if let (Some(def), Some(d), true) = (&def, &data, a.finetune_epochs > 0) {
        let anchors_of: Vec<Option<usize>> = keep
            .iter()
            .map(|&i| which[i].map(|k| train.model[rows[k]]))
            .collect();
        let [gen_curve, rand_curve] =
            finetune_both(&l.zoo, def, d, &kept, &kept_acts, &anchors_of, a, dev)?;
        for (k, (gc, rc)) in gen_curve.iter().zip(&rand_curve).enumerate() {
            finetune.push(hyperzoo_core::results::Finetune {
                epoch: k,
                generated: eval::Quantiles::of(gc),
                random: eval::Quantiles::of(rc),
            });
        }
        let last = a.finetune_epochs;
        groups.push((format!("generated+{last}"), gen_curve[last].clone()));
        groups.push((format!("random+{last}"), rand_curve[last].clone()));
    }
    let diversity = (
        gen_::diversity(&anchor_raw, p, 300),
        gen_::diversity(&kept, p, 300),
    );
    // Memorisation audit: every kept network's nearest training checkpoint after weight
    // matching and its accuracy, beside noise and interpolation baselines of the same count
    // made of the anchors.
    let memorisation = {
        use hyperzoo_core::memorisation::{AuditSettings, audit};
        let groups = hyperzoo_core::augment::PermutationGroups::new(&l.zoo.manifest.arch)?;
        let anchor_w: Vec<f32> = rows
            .iter()
            .flat_map(|&i| anchor_raw[i * p..(i + 1) * p].iter().copied())
            .collect();
        let settings = AuditSettings {
            // A stream of its own, apart from the sampler's (seeded by the same --seed).
            seed: a.seed ^ 0x6D65_6D6F_7269_7365,
            ..AuditSettings::default()
        };
        crate::say!(
            "memorisation audit: {} generated networks against {} training checkpoints",
            keep.len(),
            train.len(),
        );
        audit(
            &groups,
            &anchor_raw,
            &train_acc,
            &kept,
            &anchor_w,
            &settings,
        )?
    };
    let generation = hyperzoo_core::results::Generation {
        zoo: a.out.display().to_string(),
        sampler: a.sampler.clone(),
        bandwidth: match bw {
            Bandwidth::Fixed(h) => h.to_string(),
            Bandwidth::Scott => "scott".into(),
            Bandwidth::Silverman => "silverman".into(),
        },
        anchors: rows.len(),
        candidates: m,
        networks: keep.len(),
        images: data.as_ref().map_or(0, |d| d.test.len().min(a.images)),
        acc_anchors: eval::Quantiles::of(&anchor_acc),
        acc_generated: eval::Quantiles::of(&test_acc),
        diversity_anchors: diversity.0,
        diversity_generated: diversity.1,
        finetune,
        memorisation: Some(memorisation),
    };
    let results_path = l.run.path("results.toml");
    let mut results = hyperzoo_core::results::Results::read(&results_path)?.unwrap_or_else(|| {
        hyperzoo_core::results::Results {
            run: l.e.name.clone(),
            zoo: l.zoo.manifest.name.clone(),
            checkpoint: l.ckpt.display().to_string(),
            ..Default::default()
        }
    });
    results.generation = Some(generation.clone());
    l.run.write("results.toml", results.to_toml().as_bytes())?;
    hyperzoo_core::results::write_accuracies(l.run.dir(), &groups)?;

    let row = |name: &str, s: Option<eval::Quantiles>| match s {
        Some(s) => crate::tell!(
            "  {name:<22} {:.4} {:.4} {:.4} {:.4} {:.4} {:.4}",
            s.min,
            s.q25,
            s.median,
            s.q75,
            s.max,
            s.mean
        ),
        None => crate::tell!("  {name:<22} -"),
    };
    crate::tell!(
        "generated {} networks ({} sampler, bandwidth {}, {} anchors) -> {}",
        keep.len(),
        a.sampler,
        generation.bandwidth,
        rows.len(),
        a.out.display()
    );
    crate::tell!("  test accuracy          min    q25    median q75    max    mean");
    row("anchors (zoo)", generation.acc_anchors);
    row("generated", generation.acc_generated);
    for f in generation.finetune.iter().skip(1) {
        row(&format!("generated +{} epochs", f.epoch), f.generated);
        row(&format!("random init +{} epochs", f.epoch), f.random);
    }
    crate::tell!(
        "  diversity (mean pairwise L2): anchors {:.4}, generated {:.4}",
        diversity.0,
        diversity.1
    );
    if let Some(m) = &generation.memorisation {
        let q = |x: Option<eval::Quantiles>, f: fn(&eval::Quantiles) -> f64| {
            x.map_or("-".to_string(), |x| format!("{:.4}", f(&x)))
        };
        crate::tell!(
            "  memorisation: L2 distance to the nearest of {} training checkpoints after weight matching",
            m.checkpoints
        );
        crate::tell!(
            "  {:<30} {:>8} {:>8} {:>8} {:>12} {:>8}",
            "",
            "median",
            "q25",
            "q75",
            "nearest acc",
            "copies"
        );
        let noise = format!("noise baseline (norm {:.4})", m.noise_norm);
        for (name, r) in [
            ("generated", &m.generated),
            (noise.as_str(), &m.noise),
            ("interpolation baseline", &m.interpolation),
        ] {
            crate::tell!(
                "  {name:<30} {:>8} {:>8} {:>8} {:>12} {:>8}",
                q(r.distance, |x| x.median),
                q(r.distance, |x| x.q25),
                q(r.distance, |x| x.q75),
                q(r.neighbour_acc, |x| x.median),
                if r.networks > 0 {
                    format!("{:.1}%", 100.0 * r.copies)
                } else {
                    "-".into()
                }
            );
        }
        crate::tell!(
            "  (nearest acc: median test accuracy of the nearest checkpoints; copies: within {}% of the nearest's norm)",
            100.0 * m.copy_threshold
        );
    }
    crate::tell!(
        "wrote the generation table to {} and the accuracies to {}",
        results_path.display(),
        l.run
            .path(hyperzoo_core::results::ACCURACIES_FILE)
            .display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Test accuracies per epoch (`[K + 1][n]`) of the generated networks `weights` fine-tuned K
/// epochs, and of as many networks from random initialisation trained the same way: each with
/// the hyperparameters of the zoo network it was sampled around (or of the zoo's first network
/// of its activation), the seed replaced by a fresh one; populations share activation and batch
/// size.
#[allow(clippy::too_many_arguments)]
fn finetune_both(
    zoo: &Zoo,
    def: &ZooDef,
    data: &hyperzoo_engine::zoo::dataset::ZooData,
    weights: &[f32],
    acts: &[hyperzoo_core::arch::Activation],
    anchors: &[Option<usize>],
    a: &crate::cli::GenerateNetsArgs,
    dev: &hyperzoo_engine::burn::prelude::Device,
) -> Result<[Curves; 2]> {
    use hyperzoo_engine::zoo::PopulationNet;
    use hyperzoo_engine::zoo::init::init_weights;
    use hyperzoo_engine::zoo::train::finetune;
    let p = zoo.manifest.params;
    let n = acts.len();
    let layout = zoo.manifest.arch.layout()?;
    let hps: Vec<hyperzoo_core::zoo::Hparams> = (0..n)
        .map(|i| {
            let base = anchors[i]
                .and_then(|id| def.networks.get(id))
                .or_else(|| def.networks.iter().find(|h| h.activation == acts[i]))
                .or(def.networks.first())
                .context("zoo definition without networks")?;
            let mut h = base.clone();
            h.activation = acts[i];
            h.seed = a.seed.wrapping_mul(1_000_003).wrapping_add(i as u64 + 1);
            Ok(h)
        })
        .collect::<Result<_>>()?;
    // burn tensors share their storage when cloned: this copies no image.
    let mut data = data.clone();
    let cap = data.test.len().min(a.images);
    data.test = hyperzoo_engine::zoo::dataset::TensorSet {
        x: data.test.x.clone().narrow(0, 0, cap),
        y: data.test.y.clone().narrow(0, 0, cap),
    };
    let k = a.finetune_epochs;
    let mut gen_curve = vec![vec![f64::NAN; n]; k + 1];
    let mut rand_curve = vec![vec![f64::NAN; n]; k + 1];
    let mut groups: std::collections::BTreeMap<_, Vec<usize>> = Default::default();
    for (i, h) in hps.iter().enumerate() {
        groups
            .entry((h.activation, h.batch_size))
            .or_default()
            .push(i);
    }
    let cancel = crate::cancel_flag();
    let cancel = cancel.as_ref();
    for ((act, _), ids) in groups {
        let net = PopulationNet::new(zoo.manifest.arch.clone(), act)?;
        let group_hps: Vec<_> = ids.iter().map(|&i| hps[i].clone()).collect();
        let gen_w: Vec<f32> = ids
            .iter()
            .flat_map(|&i| weights[i * p..(i + 1) * p].iter().copied())
            .collect();
        let rand_w: Vec<f32> = group_hps
            .iter()
            .flat_map(|h| init_weights(&layout, h.init, h.seed))
            .collect();
        crate::say!(
            "fine-tuning {} generated and {} randomly initialised {act:?} networks for {k} epochs",
            ids.len(),
            ids.len()
        );
        for (w, curve) in [(gen_w, &mut gen_curve), (rand_w, &mut rand_curve)] {
            let accs = finetune(&net, &w, &group_hps, &data, k, 500, dev, cancel)?;
            for (e, row) in accs.iter().enumerate() {
                for (j, &i) in ids.iter().enumerate() {
                    curve[e][i] = row[j];
                }
            }
        }
    }
    Ok([gen_curve, rand_curve])
}

/// Test accuracies per epoch: `[epochs + 1][networks]`.
type Curves = Vec<Vec<f64>>;
