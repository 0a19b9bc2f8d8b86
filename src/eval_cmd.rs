//! `hyperzoo eval`, `embed` and `generate` on a trained run: the library's workflows
//! ([`hyperzoo_engine::workflow::evaluate`], [`hyperzoo_engine::workflow::generate`]) with
//! their tables printed.
use crate::cli::{EvalArgs, Global};
use crate::progress::Progress;
use anyhow::Result;
use hyperzoo_core::results::{Quantiles, Results};
use hyperzoo_engine::workflow::evaluate::{EvalOptions, embed as embed_run, evaluate};
use hyperzoo_engine::workflow::generate::{GenerateOptions, generate as generate_nets};
use hyperzoo_engine::workflow::open::{Access, CheckpointChoice, open_run};
use std::process::ExitCode;

/// `hyperzoo eval`.
pub fn eval(g: &Global, a: &EvalArgs) -> Result<ExitCode> {
    let env = g.env();
    let l = open_run(
        &env,
        &a.run,
        CheckpointChoice::parse(&a.checkpoint)?,
        Access::Write,
    )?;
    let opts = EvalOptions {
        images: a.images,
        standardize: a.standardize,
        other_zoo: a.zoo.clone(),
    };
    let mut progress = Progress::new(false);
    let results = evaluate(&env, &l, &opts, &crate::cancel_flag(), &mut |n| {
        progress.note(n)
    });
    progress.finish();
    let results = results?;
    print_summary(&results);
    crate::tell!("wrote {}", l.run.path("results.toml").display());
    Ok(ExitCode::SUCCESS)
}

/// The probe table and reconstruction lines of an evaluation, on stdout.
pub fn print_summary(r: &Results) {
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
/// splits) to F.safetensors and F.csv, for notebooks.
pub fn embed(g: &Global, a: &crate::cli::EmbedArgs) -> Result<ExitCode> {
    let env = g.env();
    let l = open_run(
        &env,
        &a.run,
        CheckpointChoice::parse(&a.checkpoint)?,
        Access::Read,
    )?;
    let e = embed_run(&env, &l, &a.out, a.zoo.as_deref())?;
    crate::tell!(
        "wrote {} ({} x {}) and {} for run {} ({}) on zoo {}",
        e.safetensors.display(),
        e.rows,
        e.dim,
        e.csv.display(),
        l.experiment.name,
        l.checkpoint.display(),
        e.zoo
    );
    Ok(ExitCode::SUCCESS)
}

/// `hyperzoo generate <run> --n N --out <zoo>`: new networks sampled around the run's
/// training-split latents, evaluated, written as a zoo, with their table printed.
pub fn generate(g: &Global, a: &crate::cli::GenerateNetsArgs) -> Result<ExitCode> {
    let env = g.env();
    let l = open_run(
        &env,
        &a.run,
        CheckpointChoice::parse(&a.checkpoint)?,
        Access::Write,
    )?;
    let opts = GenerateOptions {
        n: a.n,
        out: a.out.clone(),
        sampler: a.sampler.clone(),
        bandwidth: a.bandwidth.clone(),
        top: a.top,
        candidates: a.candidates,
        images: a.images,
        seed: a.seed,
        finetune_epochs: a.finetune_epochs,
        bn_condition: a.bn_condition,
    };
    let mut progress = Progress::new(false);
    let out = generate_nets(&env, &l, &opts, &crate::cancel_flag(), &mut |n| {
        progress.note(n)
    });
    progress.finish();
    let out = out?;
    print_generation(&out);
    Ok(ExitCode::SUCCESS)
}

fn print_generation(out: &hyperzoo_engine::workflow::generate::Generated) {
    let generation = &out.generation;
    let row = |name: &str, s: Option<Quantiles>| match s {
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
        "generated {} networks ({} sampler, bandwidth {}, {} anchors{}) -> {}",
        generation.networks,
        generation.sampler,
        generation.bandwidth,
        generation.anchors,
        if generation.bn_condition > 0 {
            format!(
                ", batch norms conditioned on {} batches of training images",
                generation.bn_condition
            )
        } else {
            String::new()
        },
        generation.zoo
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
        generation.diversity_anchors,
        generation.diversity_generated
    );
    if let Some(m) = &generation.memorisation {
        let q = |x: Option<Quantiles>, f: fn(&Quantiles) -> f64| {
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
        out.results.display(),
        out.accuracies.display()
    );
}
