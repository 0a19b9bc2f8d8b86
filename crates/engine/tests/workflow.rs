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

#[test]
fn train_evaluate_and_generate_through_the_workflows() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), ZOO).unwrap();
    let file = tmp.path().join("wf.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let env = Env {
        workspace: Workspace::new(tmp.path().join("ws")),
        // Tetris needs no dataset files.
        data_dir: tmp.path().join("no-data"),
        device: Default::default(),
        zoo_kernel: Default::default(),
    };
    let e = Experiment::load(&file).unwrap();
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
