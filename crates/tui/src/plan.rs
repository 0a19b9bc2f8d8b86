//! Experiments from the keyboard: a new experiment file from a template or as a copy of
//! another, and before a launch, the grid's runs with an estimate of their time from the
//! throughput measured on this machine.
//!
//! The estimate takes, among the runs in the workspace that trained on the same zoo with the
//! same kind of model, the one with the most steps measured, and its seconds per epoch
//! (steps per epoch × mean seconds per step, waiting for data included); each run of the
//! experiment still to train costs its remaining epochs at that rate. Larger models or batches
//! than the reference's take longer: it is a first-order guess, and says which run it uses.
use crate::store::{MetricsExt, RunInfo, Snapshot};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::run::RunState;
use std::path::{Path, PathBuf};

/// The template of a new experiment: the quickstart's SANE with the behavioural loss, on the
/// claims' Tetris zoo, every key that matters written with its meaning.
pub const TEMPLATE: &str = r#"# A hyperzoo experiment (docs/experiments.md lists every key and its default). This one is
# the quickstart's: SANE with the structural and behavioural loss on the claims' Tetris zoo
# (generated on first use), evaluated when each run ends.
name = "NAME"
description = "what this experiment asks"
seed = 1

[zoo]
# A zoo definition (generated into the workspace on first use), or `path` to a zoo.
definition = "zoos/tetris-claims.toml"
epochs = [15, 16, 17, 18, 19, 20]

[model]
kind = "sane"          # sane, transformer (the 2021 model) or fc
token_size = 0
window = 0
d_model = 64
heads = 4
layers = 2
latent = 16
max_positions = [16, 8, 16]

[head]
kind = "sane"

[loss]
gamma = 0.0            # contrastive weight
beta = 0.9             # structure vs behaviour (1.0: structure only)
reconstruction = "masked"
behaviour = "softmax_mse"
queries = 256
query_set = "data"
normalize_terms = true

[augment]
permutation = true
permutation_pool = 20
permutation_pool_scope = "checkpoint"

[train]
epochs = 30
batch_size = 32
lr = 1e-3
weight_decay = 3e-9
schedule = "onecycle"
eval_every = 5
checkpoint_every = 10
keep_last = 1

[eval]
after_train = true     # probe tables and reconstruction when each run ends
images = 1000

# An ablation: one run per combination.
# [grid]
# "loss.beta" = [0.9, 1.0]
# seed = [1, 2, 3]
"#;

/// Writes a new experiment `<experiments>/<name>.toml`: the template, or a copy of `from`
/// with its `name` replaced. Refuses a name that is not a plain file name, or a file that
/// exists.
pub fn new_experiment(
    experiments: &Path,
    name: &str,
    from: Option<&Path>,
) -> Result<PathBuf, String> {
    let name = name.trim().trim_end_matches(".toml");
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(format!(
            "'{name}': a name of letters, digits, '-', '_' and '.' (it names the file and the runs)"
        ));
    }
    // A copy goes beside the original, so that its relative zoo paths still hold.
    let dir = from.and_then(Path::parent).unwrap_or(experiments);
    let path = dir.join(format!("{name}.toml"));
    let text = match from {
        None => TEMPLATE.replace("NAME", name),
        Some(src) => {
            let text = std::fs::read_to_string(src)
                .map_err(|e| format!("reading {}: {e}", src.display()))?;
            rename(&text, name)
        }
    };
    if path.exists() {
        return Err(format!("{} exists: choose another name", path.display()));
    }
    hyperzoo_core::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(path)
}

/// `text` with its top-level `name = ...` line set to `name` (added first when absent).
fn rename(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    let mut in_table = false;
    for line in text.lines() {
        let t = line.trim_start();
        in_table |= t.starts_with('[');
        let key = t.split('=').next().map(str::trim);
        if !done && !in_table && key == Some("name") {
            out.push_str(&format!("name = \"{name}\"\n"));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if done {
        out
    } else {
        format!("name = \"{name}\"\n{out}")
    }
}

/// Whether the experiment file `path` reads and checks, as a line for the status bar:
/// `name: N run(s)` or the error (`file:line: key = value: ...`).
pub fn check(path: &Path) -> Result<String, String> {
    let e = Experiment::load(path).map_err(|e| e.to_string())?;
    let runs = e.expand().map_err(|e| e.to_string())?;
    Ok(format!(
        "{} is valid: experiment {}, {} run(s)",
        path.display(),
        e.name,
        runs.len()
    ))
}

/// The question before launching `path`: its runs (those finished left out), and the time
/// they should take on this machine when a comparable run has trained here.
pub fn launch_question(path: &Path, snap: &Snapshot) -> Result<String, String> {
    let e = Experiment::load(path).map_err(|e| e.to_string())?;
    let runs = e.expand().map_err(|e| e.to_string())?;
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut finished = 0;
    let mut epochs_left = 0u64;
    for (name, r) in &runs {
        match snap.run(name).and_then(|x| x.status.as_ref()) {
            Some(s) if s.state == RunState::Finished => finished += 1,
            s => epochs_left += (r.train.epochs as u64).saturating_sub(s.map_or(0, |s| s.epoch)),
        }
    }
    let todo = runs.len() - finished;
    let mut q = format!("launch {shown}: {todo} run(s) to train");
    if finished > 0 {
        q.push_str(&format!(" ({finished} finished, left out)"));
    }
    let reference = runs.first().and_then(|(_, r)| reference_run(r, snap));
    match reference {
        Some((run, per_epoch)) if todo > 0 => q.push_str(&format!(
            ", about {} one after the other ({} per epoch as run {run} on this machine)",
            duration(per_epoch * epochs_left as f64),
            duration(per_epoch)
        )),
        _ if todo > 0 => {
            q.push_str(", no estimate yet (no run of this zoo and model has trained here)")
        }
        _ => {}
    }
    q.push_str("? (y/N)");
    Ok(q)
}

/// The run of the snapshot on the same zoo (file name of its `[zoo]` path or definition) with
/// the same model kind that has the most measured steps, and its seconds per epoch.
fn reference_run(e: &Experiment, snap: &Snapshot) -> Option<(String, f64)> {
    let zoo_file = |s: &str| Path::new(s).file_name().map(|n| n.to_owned());
    let ours = zoo_file(e.zoo.definition.as_deref().or(e.zoo.path.as_deref())?)?;
    let kind = e.model.kind();
    let same = |r: &&RunInfo| {
        let Some(c) = &r.config else { return false };
        let zoo = c.get("zoo").and_then(|z| z.as_table());
        let theirs = zoo
            .and_then(|z| z.get("definition").or_else(|| z.get("path")))
            .and_then(|v| v.as_str())
            .and_then(zoo_file);
        let their_kind = c
            .get("model")
            .and_then(|m| m.get("kind"))
            .and_then(|k| k.as_str());
        theirs.as_ref() == Some(&ours) && their_kind == Some(kind)
    };
    snap.runs
        .iter()
        .filter(same)
        .filter_map(|r| {
            let spe = r.metrics.steps_per_epoch()?;
            let sps = r.metrics.seconds_per_step(200)?;
            Some((r.metrics.steps.len(), r.name.clone(), spe * sps))
        })
        .max_by_key(|(n, _, _)| *n)
        .map(|(_, name, per_epoch)| (name, per_epoch))
}

/// `45 s`, `3 min`, `1.5 h`.
fn duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_experiment_from_the_template_is_valid_and_a_copy_is_renamed() {
        let tmp = tempfile::tempdir().unwrap();
        let exp = tmp.path();
        std::fs::create_dir_all(exp.join("zoos")).unwrap();
        crate::fixture::zoo_definition(&exp.join("zoos/tetris-claims.toml"), "tetris-claims");
        let p = new_experiment(exp, "mine", None).unwrap();
        assert_eq!(p, exp.join("mine.toml"));
        let msg = check(&p).unwrap();
        assert!(msg.contains("experiment mine, 1 run(s)"), "{msg}");
        assert!(
            new_experiment(exp, "mine", None)
                .unwrap_err()
                .contains("exists")
        );
        assert!(new_experiment(exp, "../x", None).is_err());
        let c = new_experiment(exp, "mine-copy", Some(&p)).unwrap();
        let text = std::fs::read_to_string(&c).unwrap();
        assert!(text.contains("name = \"mine-copy\"") && !text.contains("name = \"mine\""));
        assert!(check(&c).unwrap().contains("experiment mine-copy"));
        // A broken edit is named file:line: key = value.
        std::fs::write(&c, text.replace("lr = 1e-3", "lr = -1")).unwrap();
        let err = check(&c).unwrap_err();
        assert!(
            err.contains("mine-copy.toml:") && err.contains("train.lr = -1"),
            "{err}"
        );
    }

    #[test]
    fn rename_sets_the_top_level_name_only() {
        let t = "# c\nname = \"a\"\n[zoo]\nname = \"z\"\n";
        assert_eq!(rename(t, "b"), "# c\nname = \"b\"\n[zoo]\nname = \"z\"\n");
        assert_eq!(rename("seed = 1\n", "b"), "name = \"b\"\nseed = 1\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(600.0), "10 min");
        assert_eq!(duration(7200.0), "2.0 h");
    }
}
