//! The library's workflows end to end, as the CLI and the TUI call them: an experiment whose zoo
//! is generated on first use, trained and evaluated after training (`[eval] after_train`), then
//! an evaluation and two generations as the TUI's jobs (job.toml), and a run held by another
//! holder refused.
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::results::Results;
use hyperzoo_core::run::{RunDir, RunState, Task};
use hyperzoo_core::workspace::{RunLock, Workspace};
use hyperzoo_engine::workflow::open::{Access, CheckpointChoice, open_run};
use hyperzoo_engine::workflow::run::run_experiment;
use hyperzoo_engine::workflow::task::run_task;
use hyperzoo_engine::workflow::{Env, Note};
use std::sync::atomic::AtomicBool;

const ZOO: &str = include_str!("../../../tests/fixtures/tetris-tiny.toml");

const EXPERIMENT: &str = r#"
name = "wf"
[zoo]
definition = "tetris-tiny.toml"
epochs = "all"
[model]
kind = "transformer"
d_model = 16
heads = 2
layers = 1
d_ff = 32
latent = 8
[head]
kind = "mlp"
layers = 1
hidden = 8
out = 4
[loss]
gamma = 0.2
[train]
epochs = 2
batch_size = 8
lr = 1e-3
[eval]
after_train = true
images = 100
"#;

/// Writes the zoo definition `zoo` (file name, text) and the experiment `experiment` into
/// `dir`; the environment of a workspace in `dir` and the loaded experiment.
fn setup(dir: &std::path::Path, zoo: (&str, &str), experiment: &str) -> (Env, Experiment) {
    std::fs::write(dir.join(zoo.0), zoo.1).unwrap();
    let file = dir.join("experiment.toml");
    std::fs::write(&file, experiment).unwrap();
    let env = Env {
        workspace: Workspace::new(dir.join("ws")),
        // Tetris needs no dataset files.
        data_dir: dir.join("no-data"),
        device: Default::default(),
        zoo_kernel: Default::default(),
    };
    (env, Experiment::load(&file).unwrap())
}

#[test]
fn train_evaluate_and_generate_through_the_workflows() {
    let tmp = tempfile::tempdir().unwrap();
    let (env, e) = setup(tmp.path(), ("tetris-tiny.toml", ZOO), EXPERIMENT);
    let cancel = AtomicBool::new(false);
    let mut notes = Vec::new();
    let end = run_experiment(&env, &e, &env.workspace.runs(), &cancel, &mut |n| {
        if let Note::Info(s) = n {
            notes.push(s);
        }
    })
    .unwrap();
    assert!(
        notes.iter().any(|n| n.contains("not generated yet")),
        "{notes:?}"
    );
    assert_eq!(end.finished.len(), 1, "{end:?}");
    assert!(end.failed.is_empty() && end.cancelled.is_none(), "{end:?}");
    let (name, results) = &end.evaluated[0];
    assert_eq!(name, "wf");
    assert!(!results.probes.is_empty() && results.reconstruction.is_some());

    // The TUI's jobs: each records where it is and how it ended in job.toml.
    let run = RunDir::open(&env.workspace.run_dir("wf")).unwrap();
    let msg = run_task(&env, "wf", Task::Evaluate, &cancel).unwrap();
    assert_eq!(msg, "wrote results.toml");
    let job = run.job().unwrap().unwrap();
    assert_eq!((job.task, job.state), (Task::Evaluate, RunState::Finished));
    for expected in ["wf-generated", "wf-generated-2"] {
        let msg = run_task(&env, "wf", Task::Generate, &cancel).unwrap();
        assert!(msg.ends_with(expected), "{msg}");
        assert!(
            env.workspace
                .zoos()
                .join(expected)
                .join("zoo.toml")
                .is_file()
        );
    }
    let r = Results::read(&run.path("results.toml")).unwrap().unwrap();
    assert!(
        r.generation.is_some() && !r.probes.is_empty(),
        "generation added, probes kept"
    );

    // Held by another (a training, say): evaluation is refused, naming the holder; reading
    // is not.
    let held = RunLock::acquire(run.dir()).unwrap();
    let err = run_task(&env, "wf", Task::Evaluate, &cancel).unwrap_err();
    assert!(err.to_string().contains("in use by pid"), "{err}");
    assert_eq!(run.job().unwrap().unwrap().state, RunState::Failed);
    open_run(&env, "wf", CheckpointChoice::Last, Access::Read).expect("reading is not locked");
    drop(held);
}

/// 20 small residual networks with batch norm on Tetris: stem, one residual block (identity
/// shortcut), global pooling, classifier.
const RESIDUAL_ZOO: &str = r#"
name = "tetris-res"
dataset = "tetris"
epochs = 2
[data]
val_size = 200
[models]
split = [0.6, 0.2, 0.2]
[hparams]
activation = "relu"
init = "kaiming_uniform"
optimizer = "sgd"
lr = 5e-2
weight_decay = 5e-4
dropout = 0.0
batch_size = 10
[grid]
seed = { from = 1, to = 20 }
[arch]
name = "tetris-res"
input = [1, 4, 4]
[[arch.layers]]
type = "conv2d"
out = 4
kernel = 3
padding = 1
bias = false
[[arch.layers]]
type = "batch_norm"
[[arch.layers]]
type = "activation"
[[arch.layers]]
type = "residual"
body = [
  { type = "conv2d", out = 4, kernel = 3, padding = 1, bias = false },
  { type = "batch_norm" },
  { type = "activation" },
  { type = "conv2d", out = 4, kernel = 3, padding = 1, bias = false },
  { type = "batch_norm" },
]
[[arch.layers]]
type = "activation"
[[arch.layers]]
type = "global_avg_pool"
[[arch.layers]]
type = "linear"
out = 4
"#;

#[test]
fn sane_trains_evaluates_and_generates_on_a_residual_zoo() {
    // SANE with the behavioural loss and permutation augmentation on networks with batch norm:
    // tokens, standardization, permutation groups, the behavioural forward (running
    // statistics), evaluation and generation with fine-tuning (LibTorch, running statistics
    // updated) all take residual networks.
    let tmp = tempfile::tempdir().unwrap();
    let (env, e) = setup(
        tmp.path(),
        ("tetris-res.toml", RESIDUAL_ZOO),
        r#"
name = "res"
[zoo]
definition = "tetris-res.toml"
epochs = "all"
[model]
kind = "sane"
token_size = 0
window = 0
d_model = 16
heads = 2
layers = 1
latent = 8
max_positions = [64, 16, 8]
[head]
kind = "sane"
[loss]
gamma = 0.0
beta = 0.5
reconstruction = "masked"
behaviour = "softmax_mse"
queries = 32
query_set = "data"
[augment]
permutation = true
[train]
epochs = 2
batch_size = 8
lr = 1e-3
[eval]
after_train = true
images = 100
"#,
    );
    let cancel = AtomicBool::new(false);
    let end = run_experiment(&env, &e, &env.workspace.runs(), &cancel, &mut |_| {}).unwrap();
    assert!(end.failed.is_empty() && end.cancelled.is_none(), "{end:?}");
    let (_, results) = &end.evaluated[0];
    let rec = results.reconstruction.as_ref().expect("reconstruction");
    assert!(!results.probes.is_empty(), "probes");
    // Original and reconstructed networks evaluated (on their running statistics).
    let original = rec.acc_original.as_ref().expect("original accuracy").median;
    let reconstructed = rec
        .acc_reconstructed
        .as_ref()
        .expect("reconstructed")
        .median;
    assert!(original > 0.3 && reconstructed.is_finite(), "{rec:?}");
    let generation = generate(&env, "res");
    assert!(generation.acc_generated.unwrap().median.is_finite());
    // Batch norms conditioned on the zoo's training images, as [RS] does for its ResNets.
    assert_eq!(generation.bn_condition, 200);

    // The same zoo with windows shorter than the sequence (as SANE runs ResNet-18s): trained
    // on random windows, evaluated window by window, generated chunk by chunk with halos.
    let file = tmp.path().join("windows.toml");
    let windowed = std::fs::read_to_string(tmp.path().join("experiment.toml"))
        .unwrap()
        .replace("name = \"res\"", "name = \"res-win\"")
        .replace("token_size = 0\nwindow = 0", "token_size = 8\nwindow = 6")
        .replace("beta = 0.5", "beta = 1.0")
        .replace("max_positions = [64, 16, 8]", "max_positions = [96, 16, 8]");
    assert!(windowed.contains("window = 6") && windowed.contains("[96, 16, 8]"));
    std::fs::write(&file, windowed).unwrap();
    let e = Experiment::load(&file).unwrap();
    let end = run_experiment(&env, &e, &env.workspace.runs(), &cancel, &mut |_| {}).unwrap();
    assert!(end.failed.is_empty() && end.cancelled.is_none(), "{end:?}");
    let rec = end.evaluated[0]
        .1
        .reconstruction
        .as_ref()
        .expect("reconstruction");
    assert!(
        rec.acc_reconstructed.as_ref().unwrap().median.is_finite(),
        "{rec:?}"
    );
    let generation = generate(&env, "res-win");
    assert!(generation.acc_generated.unwrap().median.is_finite());
}

/// Generates from run `name` as the TUI's job does; the `[generation]` table of the run's
/// results.toml.
fn generate(env: &Env, name: &str) -> hyperzoo_core::results::Generation {
    let msg = run_task(env, name, Task::Generate, &AtomicBool::new(false)).unwrap();
    assert!(msg.ends_with(&format!("{name}-generated")), "{msg}");
    let r = Results::read(
        &RunDir::open(&env.workspace.run_dir(name))
            .unwrap()
            .path("results.toml"),
    )
    .unwrap()
    .unwrap();
    r.generation.expect("generation results")
}
