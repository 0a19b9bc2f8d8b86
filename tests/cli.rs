//! The binary run as a process.
use assert_cmd::Command;
use predicates::prelude::*;
use std::ffi::OsStr;

fn hyperzoo() -> Command {
    Command::cargo_bin("hyperzoo").unwrap()
}

#[test]
fn doctor_reports_versions_device_data_and_workspace() {
    let ws = tempfile::tempdir().unwrap();
    // Uses the real data directory (HYPERZOO_DATA or default), where setup fetched the datasets.
    hyperzoo()
        .args(["doctor", "--workspace"])
        .arg(ws.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "hyperzoo {}",
            env!("CARGO_PKG_VERSION")
        )))
        .stdout(predicate::str::contains("burn        0.22"))
        .stdout(predicate::str::contains("tensor check ok"))
        .stdout(predicate::str::is_match(r"mnist\s+verified").unwrap())
        .stdout(predicate::str::is_match(r"fashion-mnist\s*verified").unwrap())
        .stdout(predicate::str::contains("exists, writable"))
        .stdout(predicate::str::contains("status        ok"));
}

#[test]
fn doctor_fails_with_the_fix_when_datasets_are_missing() {
    let empty = tempfile::tempdir().unwrap();
    hyperzoo()
        .arg("doctor")
        .env("HYPERZOO_DATA", empty.path())
        .assert()
        .failure()
        .stdout(predicate::str::contains(format!(
            "{} (from the environment)",
            empty.path().display()
        )))
        .stdout(predicate::str::contains("run `hyperzoo data fetch mnist`"))
        .stdout(predicate::str::contains(
            "run `hyperzoo data fetch fashion-mnist`",
        ));
}

#[test]
fn bad_device_is_rejected_with_accepted_values() {
    hyperzoo()
        .args(["--device", "tpu", "doctor"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tpu").and(predicate::str::contains("cuda:N")));
}

#[test]
fn fetch_from_a_bad_directory_writes_nothing_and_says_what_to_do() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("train-images-idx3-ubyte"), b"not mnist").unwrap();
    let data = tempfile::tempdir().unwrap();
    hyperzoo()
        .args(["data", "fetch", "mnist", "--from"])
        .arg(src.path())
        .arg("--data-dir")
        .arg(data.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("--from <DIR>"));
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "data dir must stay empty"
    );
}

#[test]
fn unknown_dataset_lists_the_known_ones() {
    let data = tempfile::tempdir().unwrap();
    hyperzoo()
        .args(["data", "fetch", "cifar10", "--data-dir"])
        .arg(data.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unknown dataset 'cifar10'; known: mnist, fashion-mnist",
        ));
}

const TINY_ZOO: &str = r#"
name = "tiny"
arch = "cnn_s"
dataset = "mnist"
epochs = 2
checkpoints = [0, 2]
[data]
val_size = 100
train_fraction = 0.002
test_fraction = 0.01
[hparams]
activation = "relu"
init = "kaiming_normal"
optimizer = "adam"
lr = 1e-3
weight_decay = 0.0
dropout = 0.0
batch_size = 10
[grid]
seed = [1, 2, 3]
"#;

#[test]
fn zoo_generate_then_info() {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("tiny.toml");
    std::fs::write(&def, TINY_ZOO).unwrap();
    let out = tmp.path().join("zoo");
    hyperzoo()
        .args(["--device", "cpu", "zoo", "generate"])
        .arg(&def)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("3 networks"));
    for f in [
        "zoo.toml",
        "models.csv",
        "properties.csv",
        "weights/epoch_0000.safetensors",
        "weights/epoch_0002.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert!(!out.join("weights/epoch_0001.safetensors").exists());
    let props = std::fs::read_to_string(out.join("properties.csv")).unwrap();
    assert_eq!(props.lines().count(), 1 + 3 * 2, "{props}");
    hyperzoo()
        .args(["zoo", "info"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\n\s+2\s+3\s+0\s+0\s+0\.\d{4}").unwrap());
    // Running it again finds the zoo complete and changes nothing.
    let before = std::fs::read(out.join("weights/epoch_0002.safetensors")).unwrap();
    hyperzoo()
        .args(["zoo", "generate"])
        .arg(&def)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(out.join("weights/epoch_0002.safetensors")).unwrap(),
        before
    );
}

#[test]
fn bad_zoo_file_names_file_key_and_value() {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("bad.toml");
    std::fs::write(&def, TINY_ZOO.replace("lr = 1e-3", "lr = \"fast\"")).unwrap();
    hyperzoo()
        .args(["zoo", "generate"])
        .arg(&def)
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.toml").and(predicate::str::contains("fast")));
}

const TETRIS_ZOO: &str = r#"
name = "tetris-tiny"
arch = "tetris_mlp"
dataset = "tetris"
epochs = 3
[data]
val_size = 500
[hparams]
init = "xavier_uniform"
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
dropout = 0.0
batch_size = 10
[grid]
activation = ["tanh", "relu"]
seed = [1, 2, 3]
"#;

#[test]
fn sharded_generation_merges_to_the_unsharded_zoo() {
    let tmp = tempfile::tempdir().unwrap();
    let def = tmp.path().join("tetris.toml");
    std::fs::write(&def, TETRIS_ZOO).unwrap();
    let whole = tmp.path().join("whole");
    hyperzoo()
        .args(["zoo", "generate"])
        .arg(&def)
        .arg("--out")
        .arg(&whole)
        .assert()
        .success();
    // Shard 0 on a shared directory, shard 1 elsewhere (as on separate machines).
    let shared = tmp.path().join("shared");
    let apart = tmp.path().join("apart");
    for (i, out) in [(0, &shared), (1, &apart)] {
        hyperzoo()
            .args(["zoo", "generate"])
            .arg(&def)
            .arg("--out")
            .arg(out)
            .args(["--shard", &format!("{i}/2")])
            .assert()
            .success()
            .stdout(predicate::str::contains("zoo merge"));
    }
    hyperzoo()
        .args(["zoo", "merge"])
        .arg(&shared)
        .assert()
        .failure()
        .stderr(predicate::str::contains("[1] are not finished"));
    hyperzoo()
        .args(["zoo", "merge"])
        .arg(&shared)
        .arg(&apart)
        .assert()
        .success();
    for f in [
        "weights/epoch_0003.safetensors",
        "properties.csv",
        "models.csv",
    ] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(shared.join(f)).unwrap(),
            "{f}"
        );
    }
    // After 3 epochs every Tetris MLP beats chance (0.25) clearly.
    hyperzoo()
        .args(["zoo", "info"])
        .arg(&shared)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\n\s+3\s+6\s+0\s+0\s+0\.(3[5-9]|[4-9]\d)\d\d").unwrap());
    hyperzoo()
        .args(["zoo", "info", "--verify"])
        .arg(&shared)
        .assert()
        .success()
        .stdout(predicate::str::contains("every value read"));
    // A truncated weight file is named, and the exit status says so.
    let w = shared.join("weights/epoch_0002.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    hyperzoo()
        .args(["zoo", "info"])
        .arg(&shared)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("epoch_0002.safetensors: truncated or damaged")
                .and(predicate::str::contains("1 of")),
        );
    std::fs::write(&w, &bytes).unwrap();
    hyperzoo()
        .args(["zoo", "generate"])
        .arg(&def)
        .args(["--shard", "2/2"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid --shard '2/2'"));
}

/// 20 Tetris MLPs, 2 epochs.
const TINY_TETRIS: &str = include_str!("fixtures/tetris-tiny.toml");

const TINY_EXPERIMENT: &str = r#"
name = "tiny"
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
"#;

/// `hyperzoo --device cpu --workspace <ws> <args...>`.
fn in_workspace(ws: &std::path::Path, args: &[&std::ffi::OsStr]) -> assert_cmd::assert::Assert {
    hyperzoo()
        .args(["--device", "cpu", "--workspace"])
        .arg(ws)
        .args(args)
        .assert()
}

#[test]
fn a_run_held_by_another_process_is_refused_and_a_dead_holders_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    let run = ws.join("runs/tiny");
    std::fs::create_dir_all(&run).unwrap();
    // This test process holds the run, as a `hyperzoo run` training it would.
    let held = hyperzoo_core::workspace::RunLock::acquire(&run).unwrap();
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()])
        .failure()
        .stderr(
            predicate::str::contains("in use by").and(predicate::str::contains(format!(
                "pid {}",
                std::process::id()
            ))),
        );
    assert!(
        !run.join("metrics.jsonl").exists(),
        "the refused process must not train"
    );
    drop(held);
    // A lock file left by a process that died: taken over.
    std::fs::write(run.join("lock"), "pid = 999999\nhost = \"gone\"\n").unwrap();
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()])
        .success()
        .stdout(predicate::str::contains("tiny: finished"));
}

#[test]
fn eval_after_train_writes_the_probe_tables_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()]).success();
    let results = ws.join("runs/tiny/results.toml");
    assert!(!results.exists());
    // Asking for evaluation afterwards is not another configuration: the finished run is
    // evaluated once, without training again.
    let with_eval = format!("{TINY_EXPERIMENT}\n[eval]\nafter_train = true\nimages = 100\n");
    std::fs::write(&exp, with_eval).unwrap();
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()])
        .success()
        .stderr(predicate::str::contains("already finished"))
        .stdout(predicate::str::contains("probes on the test split"));
    let r = hyperzoo_core::results::Results::read(&results)
        .unwrap()
        .expect("results.toml written after training");
    assert!(!r.probes.is_empty() && r.reconstruction.is_some());
    let config = std::fs::read_to_string(ws.join("runs/tiny/config.toml")).unwrap();
    assert!(config.contains("after_train = true"), "{config}");
    // The ablation table of the experiment's runs, as the TUI's Table view shows it.
    let table = tmp.path().join("table.csv");
    in_workspace(
        &ws,
        &[
            "export".as_ref(),
            "--table".as_ref(),
            exp.as_os_str(),
            "--out".as_ref(),
            table.as_os_str(),
        ],
    )
    .success()
    .stdout(predicate::str::contains("1 rows"));
    let csv = std::fs::read_to_string(&table).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("run,runs,val_loss,") && header.contains("probe.test_acc.hyper"),
        "{header}"
    );
    assert!(
        csv.lines().nth(1).unwrap().starts_with("tiny,tiny,"),
        "{csv}"
    );
    in_workspace(
        &ws,
        &["export", "--table", "tiny", "--out", "t.png"].map(OsStr::new),
    )
    .failure()
    .stderr(predicate::str::contains(".toml or .csv"));
}

#[test]
fn run_trains_skips_when_finished_and_eval_writes_results() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    let run_it = || in_workspace(&ws, &["run".as_ref(), exp.as_os_str()]);
    run_it()
        .success()
        .stdout(predicate::str::contains("tiny: finished"));
    let run = ws.join("runs/tiny");
    for f in [
        "config.toml",
        "status.toml",
        "metrics.jsonl",
        "log.txt",
        "normalization.json",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    assert!(run.join("checkpoints/best/model.bpk").is_file());
    let status = std::fs::read_to_string(run.join("status.toml")).unwrap();
    assert!(status.contains("state = \"finished\""), "{status}");
    // Again: nothing to do.
    run_it()
        .success()
        .stderr(predicate::str::contains("already finished"));
    // A changed configuration is refused rather than mixed into the run.
    std::fs::write(&exp, TINY_EXPERIMENT.replace("lr = 1e-3", "lr = 2e-3")).unwrap();
    run_it()
        .failure()
        .stderr(predicate::str::contains("different configuration"));
    let eval_it = || in_workspace(&ws, &["eval", "tiny", "--images", "200"].map(OsStr::new));
    eval_it()
        .success()
        .stdout(predicate::str::contains("reconstruction: weight R²"));
    // An unreadable results.toml is kept aside and named, not overwritten unread; with
    // --standardize the probes (and those scored on another zoo) see standardized features.
    std::fs::write(run.join("results.toml"), "probes = [").unwrap();
    in_workspace(
        &ws,
        &[
            "eval",
            "tiny",
            "--images",
            "200",
            "--standardize",
            "--zoo",
            "tetris-tiny",
        ]
        .map(OsStr::new),
    )
    .success()
    .stdout(predicate::str::contains("standardized features"))
    .stderr(predicate::str::contains("results.toml.unreadable"));
    assert_eq!(
        std::fs::read_to_string(run.join("results.toml.unreadable")).unwrap(),
        "probes = ["
    );
    let results = hyperzoo_core::results::Results::read(&run.join("results.toml"))
        .unwrap()
        .unwrap();
    assert!(results.standardized && !results.probes.is_empty() && !results.ood.is_empty());
    in_workspace(&ws, &["ls".as_ref()])
        .success()
        .stdout(predicate::str::is_match(r"tiny\s+finished").unwrap());
    in_workspace(&ws, &["show".as_ref(), "tiny".as_ref()])
        .success()
        .stdout(predicate::str::contains("reconstruction weight R²"));
    // Notes and tags: stored in the run's notes.toml, listed by ls, shown by show.
    in_workspace(&ws, &["tag", "tiny", "baseline", "cpu"].map(OsStr::new)).success();
    in_workspace(&ws, &["tag", "tiny", "cpu", "--remove"].map(OsStr::new)).success();
    in_workspace(&ws, &["note", "tiny", "first try"].map(OsStr::new)).success();
    in_workspace(&ws, &["ls".as_ref()])
        .success()
        .stdout(predicate::str::contains("baseline").and(predicate::str::contains("cpu").not()));
    in_workspace(&ws, &["show".as_ref(), "tiny".as_ref()])
        .success()
        .stdout(predicate::str::contains("first try"));
    in_workspace(&ws, &["tag", "tiny", "two words"].map(OsStr::new))
        .failure()
        .stderr(predicate::str::contains("notes.toml").or(predicate::str::contains("tag")));
    let emb = tmp.path().join("emb");
    in_workspace(
        &ws,
        &[
            "embed".as_ref(),
            "tiny".as_ref(),
            "--out".as_ref(),
            emb.as_os_str(),
        ],
    )
    .success();
    let csv = std::fs::read_to_string(tmp.path().join("emb.csv")).unwrap();
    assert!(csv.starts_with("row,id,split,epoch,test_acc"), "{csv}");
    assert!(tmp.path().join("emb.safetensors").is_file());
    // Another zoo (here the run's own, by name): every checkpoint, the same rows.
    let other = tmp.path().join("emb-other");
    in_workspace(
        &ws,
        &[
            "embed".as_ref(),
            "tiny".as_ref(),
            "--zoo".as_ref(),
            "tetris-tiny".as_ref(),
            "--out".as_ref(),
            other.as_os_str(),
        ],
    )
    .success()
    .stdout(predicate::str::contains("on zoo tetris-tiny"));
    let rows = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .skip(1)
            .map(|l| l.split(',').skip(1).collect::<Vec<_>>().join(","))
            .collect();
        v.sort();
        v
    };
    let other_csv = std::fs::read_to_string(tmp.path().join("emb-other.csv")).unwrap();
    assert_eq!(rows(&other_csv), rows(&csv));
    hyperzoo()
        .arg("check")
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 run(s)"));
    let gen_dir = tmp.path().join("gen");
    generate_tiny(&ws, &gen_dir, &["--sampler", "joint"])
        .stdout(predicate::str::contains("generated 3 networks"))
        .stdout(predicate::str::contains("random init +1 epochs"));
    let generated = hyperzoo_core::zoo::store::Zoo::open(&gen_dir).unwrap();
    assert_eq!(generated.models.len(), 3);
    assert!(generated.records.iter().all(|r| r.test_acc.is_finite()));
    for (file, plot) in [
        ("cmp.toml", "loss"),
        ("series.csv", "loss"),
        ("loss.png", "loss"),
        ("probes.svg", "probes"),
    ] {
        let out = tmp.path().join(file);
        in_workspace(
            &ws,
            &[
                "export".as_ref(),
                "tiny".as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
                "--plot".as_ref(),
                plot.as_ref(),
            ],
        )
        .success();
        assert!(std::fs::metadata(&out).unwrap().len() > 100, "{file}");
    }
    let out = tmp.path().join("two.svg");
    in_workspace(
        &ws,
        &[
            "export".as_ref(),
            "tiny".as_ref(),
            "tiny".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--plot".as_ref(),
            "accuracy".as_ref(),
        ],
    )
    .failure()
    .stderr(predicate::str::contains(
        "--plot accuracy draws one run (2 given)",
    ));
    let results = std::fs::read_to_string(run.join("results.toml")).unwrap();
    for key in [
        "property = \"test_acc\"",
        "method = \"s(W)\"",
        "method = \"s(W)-56\"",
        "method = \"spectral\"",
        "weight_r2",
        "acc_reconstructed",
        "[generation]",
        "[[generation.finetune]]",
    ] {
        assert!(results.contains(key), "{key} in {results}");
    }
    let parsed =
        hyperzoo_core::results::Results::parse(&run.join("results.toml"), &results).unwrap();
    let generation = parsed.generation.unwrap();
    assert_eq!(generation.networks, 3);
    assert_eq!(generation.finetune.len(), 2, "epochs 0 and 1");
    assert!(generation.finetune[1].random.unwrap().mean.is_finite());
    // Every network's accuracy, by group, for the accuracy-distribution picture.
    let rows = hyperzoo_core::results::read_accuracies(&run.join("accuracies.csv")).unwrap();
    for group in [
        "original",
        "reconstructed",
        "anchors",
        "generated",
        "generated+1",
        "random+1",
    ] {
        let n = rows.iter().filter(|(g, _, _)| g == group).count();
        assert!(n > 0, "{group}: {rows:?}");
    }
    assert_eq!(rows.iter().filter(|(g, _, _)| g == "random+1").count(), 3);
    // Running eval again keeps the generation table.
    eval_it().success();
    let again = std::fs::read_to_string(run.join("results.toml")).unwrap();
    assert!(again.contains("[generation]"), "{again}");
}

/// The stdout of a successful `hyperzoo --device cpu --workspace <ws> <args...>`.
fn stdout_of(ws: &std::path::Path, args: &[&str]) -> String {
    let out = in_workspace(ws, &args.iter().map(OsStr::new).collect::<Vec<_>>())
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn summary_puts_each_number_beside_its_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()]).success();

    // Trained, not evaluated: the sections still to compute say which command fills them.
    let before = stdout_of(&ws, &["summary", "tiny"]);
    assert!(
        before.contains("final validation reconstruction R²"),
        "{before}"
    );
    assert!(
        before.contains("probes          missing: no results.toml yet: run `hyperzoo eval tiny`"),
        "{before}"
    );
    assert!(before.contains("hyperzoo generate tiny"), "{before}");
    // `tui --open` checks its run before it needs a terminal.
    in_workspace(&ws, &["tui", "--open", "nope"].map(OsStr::new))
        .failure()
        .stderr(predicate::str::contains("--open nope: no run of that name"));
    let run_dir = ws.join("runs/tiny");
    in_workspace(
        &ws,
        &["tui".as_ref(), "--open".as_ref(), run_dir.as_os_str()],
    )
    .failure()
    .stderr(predicate::str::contains("needs a terminal"));

    in_workspace(&ws, &["eval", "tiny", "--images", "200"].map(OsStr::new)).success();
    let gen_dir = tmp.path().join("gen");
    generate_tiny(&ws, &gen_dir, &["--images", "200"]);

    let text = stdout_of(&ws, &["summary", "tiny"]);
    println!("{text}");
    assert!(!text.contains("missing"), "{text}");
    let number = r"-?\d+\.\d+";
    for (label, pattern) in [
        ("zoo", r"zoo\s+tetris-tiny: 20 networks, tetris_mlp \(100 parameters\) on tetris, 4 classes".to_string()),
        ("zoo accuracy", format!(r"median test accuracy {number} over \d+ checkpoints \(epochs [\d, ]+\)\s+chance 0\.250")),
        ("training", format!(r"training\s+final validation reconstruction R² {number} \(epoch 2 of 2")),
        ("probes", r"probes\s+\(test split\)".to_string()),
        ("probe header", r"property\s+metric\s+hyper\s+W\s+s\(W\)\s+best".to_string()),
        ("probe row", format!(r"test_acc\s+R²\s+{number}\*?\s+{number}\*?\s+{number}\*?\s+(hyper|W|s\(W\))")),
        ("probe verdict", r"best on \d+ of \d+ properties".to_string()),
        ("reconstruction", format!(r"reconstruction\s+median test accuracy: reconstructed {number} vs original {number} \({number} points\)")),
        ("agreement", format!(r"mean agreement {number}, weight R² {number}")),
        ("generation", format!(r"generation\s+median test accuracy without training: generated {number} vs anchors {number} vs chance 0\.250")),
        ("fine-tuning", format!(r"fine-tuning\s+after 1 epoch: generated init {number} vs random init {number}")),
        ("memorisation", format!(r"memorisation\s+median L2 to the nearest of \d+ training checkpoints: generated {number} vs noise {number} vs interpolation {number}")),
        ("copies", r"near copies \(within [\d.]+% of the norm\): generated [\d.]+% vs noise [\d.]+% vs interpolation [\d.]+%".to_string()),
    ] {
        assert!(
            predicate::str::is_match(&pattern).unwrap().eval(&text),
            "{label}: no /{pattern}/ in\n{text}"
        );
    }

    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&ws, &["summary", "tiny", "--json"])).unwrap();
    assert_eq!(json["run"], "tiny");
    assert_eq!(json["model"], "transformer");
    assert_eq!(json["zoo"]["networks"], 20);
    assert_eq!(json["zoo"]["classes"], 4);
    assert_eq!(json["zoo"]["chance"], 0.25);
    assert!(json["zoo"]["median_test_acc"].is_f64());
    assert!(json["training"]["val_r2"].is_f64());
    let probes = json["probes"].as_array().unwrap();
    let acc = probes.iter().find(|p| p["property"] == "test_acc").unwrap();
    assert_eq!(acc["metric"], "r2");
    for key in ["hyper", "w", "s_w"] {
        assert!(acc[key].is_f64(), "{key}: {acc}");
    }
    assert!(
        acc["best"].is_string() && acc["hyper_wins"].is_boolean(),
        "{acc}"
    );
    let rc = &json["reconstruction"];
    for key in [
        "median_acc_original",
        "median_acc_reconstructed",
        "difference_points",
        "mean_agreement",
    ] {
        assert!(rc[key].is_f64(), "{key}: {rc}");
    }
    let g = &json["generation"];
    assert_eq!(g["networks"], 3);
    assert_eq!(g["chance"], 0.25);
    assert!(
        g["median_acc_generated"].is_f64() && g["median_acc_anchors"].is_f64(),
        "{g}"
    );
    assert_eq!(g["finetune"][0]["epochs"], 1);
    assert!(g["finetune"][0]["median_acc_random_init"].is_f64(), "{g}");
    let m = &g["memorisation"];
    for key in [
        "median_distance_generated",
        "median_distance_noise",
        "median_distance_interpolation",
        "copies_generated",
    ] {
        assert!(m[key].is_f64(), "{key}: {m}");
    }
    assert_eq!(json["missing"], serde_json::json!([]));

    // A run that is not there is an error naming where it was looked for.
    in_workspace(&ws, &["summary", "nope"].map(OsStr::new))
        .failure()
        .stderr(predicate::str::contains("no run 'nope'"));
}

#[test]
fn a_killed_run_resumes_with_no_corrupt_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    let long = TINY_EXPERIMENT.replace(
        "epochs = 2\nbatch_size = 8",
        "epochs = 16\nbatch_size = 8\ncheckpoint_every = 1",
    );
    std::fs::write(&exp, long).unwrap();
    let ws = tmp.path().join("ws");
    let bin = assert_cmd::cargo::cargo_bin("hyperzoo");
    let mut child = std::process::Command::new(&bin)
        .args(["--device", "cpu", "--workspace"])
        .arg(&ws)
        .arg("run")
        .arg(&exp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = ws.join("runs/tiny");
    // Kill it once a few checkpoints exist.
    let start = std::time::Instant::now();
    loop {
        let n = std::fs::read_dir(run.join("checkpoints"))
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        if n >= 3 || start.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let status = std::fs::read_to_string(run.join("status.toml")).unwrap();
    assert!(status.contains("running"), "{status}");
    // Every file left is readable: the config, the status, each metrics line but a torn last one.
    hyperzoo_core::experiment::Experiment::load(&run.join("config.toml")).unwrap();
    // Running again resumes from the last checkpoint and finishes.
    hyperzoo()
        .args(["--device", "cpu", "--workspace"])
        .arg(&ws)
        .arg("run")
        .arg(&exp)
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming at step"));
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "step")
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=steps.len() as u64).collect();
    assert_eq!(steps, expected, "every step once, in order");
    assert!(
        std::fs::read_to_string(run.join("status.toml"))
            .unwrap()
            .contains("finished")
    );
}

/// SIGTERM (a Slurm time limit or preemption) stops a run as Ctrl-C does: the step ends, a
/// checkpoint is written, status.toml says `cancelled` and names the signal, the exit status is
/// 143; the same command resumes it. Files follow the umask (022 here: 0644), not 0600.
#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_with_a_checkpoint_and_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    let long = TINY_EXPERIMENT.replace(
        "epochs = 2\nbatch_size = 8",
        "epochs = 400\nbatch_size = 8\ncheckpoint_every = 100",
    );
    std::fs::write(&exp, long).unwrap();
    let ws = tmp.path().join("ws");
    let bin = assert_cmd::cargo::cargo_bin("hyperzoo");
    // Under umask 022 (exec keeps the shell's pid: the signal reaches hyperzoo itself).
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022; exec "$0" --device cpu --workspace "$1" run "$2""#)
        .arg(&bin)
        .arg(&ws)
        .arg(&exp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = ws.join("runs/tiny");
    let start = std::time::Instant::now();
    // Once it trains (some steps recorded), SIGTERM.
    loop {
        let steps = std::fs::read_to_string(run.join("metrics.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        assert!(start.elapsed().as_secs() < 120, "the run never trained");
        if steps >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    let status = std::fs::read_to_string(run.join("status.toml")).unwrap();
    assert!(
        status.contains("state = \"cancelled\"") && status.contains("stopped by SIGTERM"),
        "{status}"
    );
    let ckpts = std::fs::read_dir(run.join("checkpoints")).unwrap().count();
    assert!(ckpts >= 1, "a checkpoint at the stop");
    // Every file hyperzoo wrote follows the umask: 0644, not 0600.
    let zoo = ws.join("zoos/tetris-tiny");
    for f in [
        run.join("config.toml"),
        run.join("status.toml"),
        run.join("metrics.jsonl"),
        zoo.join("zoo.toml"),
        zoo.join("models.csv"),
        zoo.join("properties.csv"),
        zoo.join("weights/epoch_0002.safetensors"),
    ] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{} is {mode:o}", f.display());
    }
}

/// `check` says where an experiment's zoo is, that it will be generated first, or that its
/// path holds no zoo (an error naming the file, line and key, before any run is made).
#[test]
fn check_says_where_the_zoo_is_and_refuses_a_missing_one() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    in_workspace(&ws, &["check".as_ref(), exp.as_os_str()])
        .success()
        .stdout(
            predicate::str::contains("not generated yet")
                .and(predicate::str::contains("zoo epochs all")),
        );
    let missing = tmp.path().join("missing.toml");
    std::fs::write(
        &missing,
        TINY_EXPERIMENT.replace(
            "definition = \"tetris-tiny.toml\"",
            "path = \"no-such-zoo\"",
        ),
    )
    .unwrap();
    in_workspace(&ws, &["check".as_ref(), missing.as_os_str()])
        .failure()
        .stderr(
            predicate::str::contains("missing.toml:4: zoo.path = ")
                .and(predicate::str::contains("no zoo.toml")),
        );
    assert!(!ws.join("runs").exists(), "check makes no run");
}

/// Shell completions and the man page come from the same argument definitions.
#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "_hyperzoo()"),
        ("zsh", "#compdef hyperzoo"),
        ("fish", "complete -c hyperzoo"),
    ] {
        hyperzoo()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker).and(predicate::str::contains("summary")));
    }
    hyperzoo().arg("man").assert().success().stdout(
        predicate::str::contains(".TH hyperzoo 1").and(predicate::str::contains("completions")),
    );
    hyperzoo().args(["completions", "cmd"]).assert().code(2);
}

/// `--json` on the listing commands: one JSON document each, with the field names of
/// docs/json.md.
#[test]
fn listings_speak_json() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let exp = tmp.path().join("tiny.toml");
    std::fs::write(&exp, TINY_EXPERIMENT).unwrap();
    let ws = tmp.path().join("ws");
    in_workspace(&ws, &["run".as_ref(), exp.as_os_str()]).success();
    let json = |args: &[&std::ffi::OsStr]| -> serde_json::Value {
        let out = in_workspace(&ws, args).get_output().stdout.clone();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out)))
    };
    let ls = json(&["ls", "--json"].map(OsStr::new));
    assert_eq!(ls[0]["run"], "tiny");
    assert_eq!(ls[0]["state"], "finished");
    assert_eq!(ls[0]["epochs"], 2);
    assert!(ls[0]["val_r2"].is_number() && ls[0]["results"] == false);
    let show = json(&["show", "tiny", "--json"].map(OsStr::new));
    assert_eq!(show["state"], "finished");
    assert!(
        show["checkpoints"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(show["last_evaluation"]["kind"], "epoch");
    let check = json(&["check".as_ref(), exp.as_os_str(), "--json".as_ref()]);
    assert_eq!(check["zoo"]["state"], "generated");
    assert_eq!(check["runs"][0]["zoo_epochs"], "all");
    let info = json(&["zoo", "info", "tetris-tiny", "--json"].map(OsStr::new));
    assert_eq!(info["models"], 20);
    assert_eq!(info["splits"]["train"], 12);
    assert!(info["epochs"][1]["test_acc"]["median"].is_number());
    let data = json(&["data", "list", "--json"].map(OsStr::new));
    assert!(
        data["datasets"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["name"] == "mnist"))
    );
    let doctor = hyperzoo()
        .args(["--device", "cpu", "--workspace"])
        .arg(&ws)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(doctor["workspace_state"], "writable");
    assert_eq!(
        doctor["ok"],
        doctor["problems"].as_array().unwrap().is_empty()
    );
    // TensorBoard event files, one directory per run (read back in report::tensorboard's
    // tests).
    let tb = tmp.path().join("tb");
    in_workspace(
        &ws,
        &[
            "export".as_ref(),
            "tiny".as_ref(),
            "--format".as_ref(),
            "tensorboard".as_ref(),
            "--out".as_ref(),
            tb.as_os_str(),
        ],
    )
    .success()
    .stdout(predicate::str::contains("tensorboard --logdir"));
    let events: Vec<_> = std::fs::read_dir(tb.join("tiny"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        events.len() == 1
            && events[0]
                .file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
    );
}

/// A listing whose reader has gone (`hyperzoo check grid.toml | head`) ends by SIGPIPE as Unix
/// tools do, not with a panic about a broken pipe.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_a_listing_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("hyperzoo"))
        .args(["check", "experiments/quickstart.toml"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // SIGPIPE is 13 on Linux, macOS and the BSDs.
    assert_eq!(out.status.signal(), Some(13), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `hyperzoo generate tiny --n 3 --candidates 5 --finetune-epochs 1 --out gen_dir` plus
/// `extra`, which must succeed.
fn generate_tiny(
    ws: &std::path::Path,
    gen_dir: &std::path::Path,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    let mut args: Vec<&OsStr> = [
        "generate",
        "tiny",
        "--n",
        "3",
        "--candidates",
        "5",
        "--finetune-epochs",
        "1",
    ]
    .map(OsStr::new)
    .to_vec();
    args.extend(extra.iter().map(OsStr::new));
    args.extend([OsStr::new("--out"), gen_dir.as_os_str()]);
    in_workspace(ws, &args).success()
}

/// A workspace whose disk fills during a run: the run fails with a message that says the disk
/// is full and what to do, leaves no partial file (every checkpoint whole, no temporary file),
/// and, once there is space again, the same command resumes and ends as an uninterrupted run.
/// The disk is a 300 KiB tmpfs in a user and mount namespace (`unshare`); where the machine does
/// not allow one, a file-size limit (`ulimit -f`, SIGXFSZ ignored) makes the writes fail
/// instead.
#[test]
fn a_full_disk_fails_cleanly_and_the_run_resumes_when_space_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tetris-tiny.toml"), TINY_TETRIS).unwrap();
    let zoo = tmp.path().join("zoo");
    hyperzoo()
        .args(["--device", "cpu", "zoo", "generate"])
        .arg(tmp.path().join("tetris-tiny.toml"))
        .arg("--out")
        .arg(&zoo)
        .assert()
        .success();
    let exp = tmp.path().join("tiny.toml");
    let text = TINY_EXPERIMENT
        .replace(
            "definition = \"tetris-tiny.toml\"",
            &format!("path = {:?}", zoo.display().to_string()),
        )
        .replace("epochs = 2\nbatch_size", "epochs = 6\nbatch_size");
    std::fs::write(&exp, text).unwrap();
    // The uninterrupted run, for the final numbers.
    let reference = tmp.path().join("reference");
    in_workspace(
        &reference,
        &["run".as_ref(), "--plain".as_ref(), exp.as_os_str()],
    )
    .success();

    let bin = assert_cmd::cargo::cargo_bin("hyperzoo");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let run_cmd = |n: u32| {
        format!(
            "{:?} --device cpu --workspace {:?} run --plain {:?} > {:?} 2>&1; echo $? > {:?}",
            bin,
            ws,
            exp,
            out.join(format!("out{n}.txt")),
            out.join(format!("rc{n}"))
        )
    };
    // A zoo that cannot fit is refused before it starts.
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let generate_cmd = format!(
        "{:?} --device cpu zoo generate {:?} --out {:?} > {:?} 2>&1; echo $? > {:?}",
        bin,
        tmp.path().join("tetris-tiny.toml"),
        small.join("zoo"),
        out.join("zoo.txt"),
        out.join("zoo_rc")
    );
    let tmpfs = format!(
        "mount -t tmpfs -o size=300k tmpfs {ws:?} || exit 1; {}; {}; \
         mount -o remount,size=20m {ws:?} || exit 1; {}; \
         mount -t tmpfs -o size=16k tmpfs {small:?} || exit 1; {generate_cmd}",
        run_cmd(1),
        format_args!(
            "cp -r {:?} {:?}",
            ws.join("runs"),
            out.join("after-failure")
        ),
        run_cmd(2),
    );
    let namespaced = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(&tmpfs)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && out.join("rc2").exists();
    if !namespaced {
        eprintln!("no tmpfs in a user namespace here: a file-size limit fails the writes instead");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let limited = format!(
            "trap '' XFSZ; (ulimit -f 64; {}); cp -r {:?} {:?}; {}",
            run_cmd(1),
            ws.join("runs"),
            out.join("after-failure"),
            run_cmd(2)
        );
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &limited])
                .status()
                .unwrap()
                .success()
        );
    }
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let first = read("out1.txt");
    assert_eq!(read("rc1").trim(), "1", "{first}");
    if namespaced {
        assert!(first.contains("No space left on device"), "{first}");
        assert!(first.contains("the disk is full: free space"), "{first}");
    } else {
        assert!(first.contains("File too large"), "{first}");
    }
    // What the failure left: a failed status naming the cause, whole checkpoints, no
    // temporary or partial file, metrics lines that parse (a torn last line is allowed).
    let left = out.join("after-failure/tiny");
    let status = std::fs::read_to_string(left.join("status.toml")).unwrap();
    assert!(status.contains("state = \"failed\""), "{status}");
    let mut stack = vec![left.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.contains(".tmp") && !name.contains("partial"),
                "left behind: {}",
                path.display()
            );
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    for ckpt in std::fs::read_dir(left.join("checkpoints")).unwrap() {
        let ckpt = ckpt.unwrap().path();
        for file in ["model.bpk", "optimizer.bpk", "state.json"] {
            assert!(ckpt.join(file).is_file(), "{} lacks {file}", ckpt.display());
        }
        let state = std::fs::read_to_string(ckpt.join("state.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&state).unwrap();
    }
    let metrics = std::fs::read_to_string(left.join("metrics.jsonl")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    for line in &lines[..lines.len().saturating_sub(1)] {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }

    if namespaced {
        let zoo_out = read("zoo.txt");
        assert_eq!(read("zoo_rc").trim(), "1", "{zoo_out}");
        assert!(
            zoo_out.contains("free on its disk, and about")
                && zoo_out.contains("is needed for the weights of 20 networks x 3 checkpoints"),
            "{zoo_out}"
        );
        assert!(
            !zoo_out.contains("epoch 1"),
            "refused before training: {zoo_out}"
        );
    }
    let second = read("out2.txt");
    assert_eq!(read("rc2").trim(), "0", "{second}");
    let final_r2 = |run: &std::path::Path| -> f64 {
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "epoch")
            .filter_map(|v| v["val_r2"].as_f64())
            .next_back()
            .unwrap()
    };
    let resumed = if namespaced {
        // The tmpfs went with the namespace: the second run's output holds its result.
        second
            .lines()
            .rev()
            .find_map(|l| l.split("val R² ").nth(1))
            .and_then(|v| v.split([' ', ')']).next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap()
    } else {
        final_r2(&ws.join("runs/tiny"))
    };
    let expected = final_r2(&reference.join("runs/tiny"));
    assert!(
        (resumed - expected).abs() < 5e-5,
        "resumed run ends at val R² {resumed}, the uninterrupted one at {expected}:\n{second}"
    );
}
