//! Property tests of every reader of user files: valid fixtures, randomly mutated (bytes
//! flipped, inserted, deleted, the file truncated), must never make hyperzoo panic, and every
//! error must name the file it is about. proptest shrinks a failing case to a minimal one.
//!
//! Readers: experiment and zoo-definition TOML, the zoo store (zoo.toml, models.csv,
//! properties.csv, safetensors weights), the Model Zoos importer (params.json, result.json,
//! pickled state dicts, which are never executed) and the Small CNN Zoo importer (weights.npy,
//! metrics.csv, layout.csv).
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::zoo::ZooDef;
use hyperzoo_core::zoo::import::{self, ImportOptions};
use hyperzoo_core::zoo::store::Zoo;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

fn apply(bytes: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in ms {
        let n = b.len().max(1);
        match *m {
            Mutation::Flip(i, x) if !b.is_empty() => b[i % n] ^= x.max(1),
            Mutation::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Mutation::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Mutation::Truncate(i) => b.truncate(i % (b.len() + 1)),
            _ => {}
        }
    }
    b
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// A copy of the directory `src` with one of its files (chosen by `pick`) mutated; returns the
/// temporary directory and the mutated file.
fn mutated_copy(src: &Path, pick: usize, ms: &[Mutation]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    copy_dir(src, &dir);
    let all = files(&dir);
    let target = all[pick % all.len()].clone();
    let bytes = std::fs::read(&target).unwrap();
    std::fs::write(&target, apply(&bytes, ms)).unwrap();
    (tmp, target)
}

/// An error about the copy in `dir` must say where: a path inside it (or the directory).
fn names_a_file_in(err: &str, dir: &Path) -> bool {
    err.contains(&dir.display().to_string())
}

/// A small valid zoo (the Small CNN Zoo fixture, imported), made once per test run.
fn valid_zoo() -> PathBuf {
    static ZOO: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    ZOO.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("zoo");
        import::unterthiner::import(
            &repo("tests/fixtures/unterthiner"),
            &ImportOptions::default(),
        )
        .unwrap()
        .write(&dir)
        .unwrap();
        (tmp, dir)
    })
    .1
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn experiment_files(ms in mutations()) {
        let text = std::fs::read(repo("experiments/quickstart.toml")).unwrap();
        let text = String::from_utf8_lossy(&apply(&text, &ms)).into_owned();
        if let Err(e) = Experiment::parse(Path::new("fuzzed.toml"), &text) {
            let e = e.to_string();
            prop_assert!(e.starts_with("fuzzed.toml"), "{}", e);
        }
    }

    #[test]
    fn zoo_definitions(ms in mutations()) {
        let text = std::fs::read(repo("experiments/zoos/tetris-claims.toml")).unwrap();
        let text = String::from_utf8_lossy(&apply(&text, &ms)).into_owned();
        if let Err(e) = ZooDef::parse(Path::new("fuzzed.toml"), &text) {
            let e = e.to_string();
            prop_assert!(e.starts_with("fuzzed.toml"), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn zoo_store_files(pick in any::<usize>(), ms in mutations()) {
        let (tmp, _) = mutated_copy(&valid_zoo(), pick, &ms);
        let dir = tmp.path().join("d");
        let opened = Zoo::open(&dir).and_then(|z| {
            z.manifest.checkpoints.iter().try_for_each(|&e| z.weights(e).map(|_| ()))?;
            Ok(z)
        });
        if let Err(e) = opened {
            let e = e.to_string();
            prop_assert!(names_a_file_in(&e, &dir), "{}", e);
        }
    }

    #[test]
    fn small_cnn_zoo_importer(pick in any::<usize>(), ms in mutations()) {
        let (tmp, _) = mutated_copy(&repo("tests/fixtures/unterthiner"), pick, &ms);
        let dir = tmp.path().join("d");
        if let Err(e) = import::unterthiner::import(&dir, &ImportOptions::default()) {
            let e = e.to_string();
            prop_assert!(names_a_file_in(&e, &dir), "{}", e);
        }
    }

    #[test]
    fn model_zoos_importer(pick in any::<usize>(), ms in mutations()) {
        let (tmp, _) = mutated_copy(&repo("tests/fixtures/modelzoos"), pick, &ms);
        let dir = tmp.path().join("d");
        if let Err(e) = import::modelzoos::import(&dir, &ImportOptions::default()) {
            let e = e.to_string();
            prop_assert!(names_a_file_in(&e, &dir), "{}", e);
        }
    }
}
