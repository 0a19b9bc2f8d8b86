//! Every shipped experiment and zoo definition parses, and every zoo an experiment names exists.
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::zoo::ZooDef;
use std::path::{Path, PathBuf};

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_zoo_definitions_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/zoos");
    let files = toml_files(&dir);
    assert!(files.len() >= 7);
    for f in files {
        ZooDef::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn shipped_experiments_parse_and_name_existing_zoo_definitions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut files = toml_files(&root);
    files.extend(toml_files(&root.join("reference")));
    files.extend(toml_files(&root.join("paper")));
    files.extend(toml_files(&root.join("paper/gpu")));
    assert!(files.len() >= 15, "{files:?}");
    let ws = tempfile::tempdir().unwrap();
    for f in files {
        let e = Experiment::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!e.expand().unwrap().is_empty());
        if e.zoo.is_definition() {
            let def = e.zoo_location(ws.path());
            ZooDef::load(&def).unwrap_or_else(|err| panic!("{}: {err}", f.display()));
        }
    }
}
