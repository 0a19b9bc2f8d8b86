//! The binary run as a process.
use assert_cmd::Command;
use predicates::prelude::*;

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
