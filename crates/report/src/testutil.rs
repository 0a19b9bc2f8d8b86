//! Fixture run directories and zoos, written by hand as `hyperzoo run` and `eval` would.
use hyperzoo_core::arch::ArchSpec;
use hyperzoo_core::zoo::ModelSplit;
use hyperzoo_core::zoo::store::{FORMAT_VERSION, Manifest, ModelRow, NetStatus, Record, write_zoo};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What a fixture run holds.
pub struct RunSpec {
    pub name: String,
    /// Step records (epoch records after steps 3 and 6).
    pub steps: u64,
    /// Epoch records, at most 2.
    pub epochs: u64,
    /// status.toml's state; `None`: no status.toml.
    pub state: Option<&'static str>,
    pub results: bool,
    /// Added to every probe score and to the weight R².
    pub score_shift: f64,
    pub ood: bool,
}

impl RunSpec {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            steps: 6,
            epochs: 2,
            state: Some("finished"),
            results: true,
            score_shift: 0.0,
            ood: false,
        }
    }
}

/// Writes `<root>/runs/<name>/` and returns it.
pub fn write_run(root: &Path, spec: &RunSpec) -> PathBuf {
    let dir = root.join("runs").join(&spec.name);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(dir.join("config.toml"), format!("name = {:?}\n", spec.name)).unwrap();
    if let Some(state) = spec.state {
        let status = format!(
            "state = \"{state}\"\nstep = {}\nepoch = {}\nepochs = 2\nmessage = \"\"\n",
            spec.steps, spec.epochs
        );
        std::fs::write(dir.join("status.toml"), status).unwrap();
    }

    let (train_loss, val_loss, val_r2) = ([1.2, 1.0], [1.1, 0.9], [0.25, 0.5]);
    let mut metrics = String::new();
    for step in 1..=spec.steps {
        let epoch = (step - 1) / 3;
        // Keys in the order the trainer writes them (serde_json's json! would sort them).
        writeln!(
            metrics,
            r#"{{"kind":"step","step":{step},"epoch":{epoch},"loss":{:?},"contrast":1.5,"structure":0.5,"lr":0.001}}"#,
            2.0 / step as f64
        )
        .unwrap();
        if step % 3 == 0 && epoch < spec.epochs {
            let e = epoch as usize;
            writeln!(
                metrics,
                r#"{{"kind":"epoch","step":{step},"epoch":{},"train_loss":{},"val_loss":{},"val_r2":{},"lr":0.001}}"#,
                epoch + 1,
                train_loss[e],
                val_loss[e],
                val_r2[e]
            )
            .unwrap();
        }
    }
    metrics.push_str("{\"kind\": \"st"); // torn by a kill
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();

    if spec.results {
        std::fs::write(dir.join("results.toml"), results_text(spec, &dir)).unwrap();
    }
    dir
}

fn results_text(spec: &RunSpec, dir: &Path) -> String {
    let d = spec.score_shift;
    let mut t = format!(
        "run = {:?}\nzoo = \"tetris\"\ncheckpoint = {:?}\nembedding_dim = 32\nrows = [100, 20, 40]\n",
        spec.name,
        dir.join("checkpoints/best").display().to_string()
    );
    let probes = [
        ("test_acc", "r2", [0.9, -2.5, 0.6]),
        ("activation", "accuracy", [0.95, 0.5, 0.8]),
    ];
    for (property, metric, scores) in probes {
        for (method, score) in ["hyper", "W", "s(W)"].iter().zip(scores) {
            write!(
                t,
                "\n[[probes]]\nproperty = \"{property}\"\nmethod = \"{method}\"\nmetric = \"{metric}\"\ntrain = 0.99\nval = 0.9\ntest = {:.3}\n",
                score + d
            )
            .unwrap();
            if metric == "r2" {
                t.push_str("kendall_tau = 0.8\nalpha = 1.0\n");
            }
        }
    }
    write!(
        t,
        "\n[reconstruction]\ncheckpoints = 40\nweight_r2 = {:.3}\nweight_mse = 0.2\nl2_mean = 3.5\nimages = 500\n",
        0.8 + d
    )
    .unwrap();
    let tables = [
        ("acc_original", [0.2, 0.5, 0.6, 0.7, 0.8, 0.58]),
        ("acc_reconstructed", [0.1, 0.4, 0.55, 0.65, 0.75, 0.52]),
        ("agreement", [0.5, 0.7, 0.8, 0.9, 0.95, 0.78]),
    ];
    for (name, [min, q25, median, q75, max, mean]) in tables {
        write!(
            t,
            "\n[reconstruction.{name}]\nmin = {min}\nq25 = {q25}\nmedian = {median}\nq75 = {q75}\nmax = {max}\nmean = {mean}\n"
        )
        .unwrap();
    }
    if spec.ood {
        t.push_str(
            "\n[[ood]]\nzoo = \"other\"\nproperty = \"test_acc\"\nmethod = \"hyper\"\nr2 = 0.6\nkendall_tau = 0.7\n",
        );
    }
    t
}

/// A complete zoo of `n` tetris MLPs with checkpoints at epochs 0 and 5: test accuracy at
/// epoch 5 is `0.5 + 0.01 i`, except the last network, which diverged.
pub fn write_test_zoo(root: &Path, n: usize) -> PathBuf {
    let dir = root.join("zoos/tiny");
    let arch = ArchSpec::builtin("tetris_mlp").unwrap();
    let params = arch.param_count().unwrap();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        name: "tiny".into(),
        description: String::new(),
        status: hyperzoo_core::zoo::store::ZooStatus::Complete,
        dataset: "tetris".into(),
        models: n,
        params,
        epochs: 5,
        checkpoints: vec![],
        arch,
        versions: Default::default(),
        command: "test".into(),
        definition: String::new(),
        source: String::new(),
    };
    let rows: Vec<ModelRow> = (0..n)
        .map(|id| ModelRow {
            id,
            split: ModelSplit::Train,
            population: 0,
            hparams: vec![("activation".into(), "relu".into())],
        })
        .collect();
    let weights: Vec<(usize, Vec<f32>)> =
        [0, 5].iter().map(|&e| (e, vec![0.0; n * params])).collect();
    let records: Vec<Record> = (0..n)
        .flat_map(|id| {
            [0, 5].map(|epoch| {
                let diverged = epoch == 5 && id == n - 1;
                let acc = match (epoch, diverged) {
                    (_, true) => f64::NAN,
                    (0, _) => 0.1,
                    _ => 0.5 + 0.01 * id as f64,
                };
                Record {
                    id,
                    epoch,
                    status: if diverged {
                        NetStatus::Diverged
                    } else {
                        NetStatus::Ok
                    },
                    train_loss: 1.0,
                    train_acc: acc,
                    val_loss: 1.0,
                    val_acc: acc,
                    test_loss: 1.0,
                    test_acc: acc,
                    ggap: 0.0,
                }
            })
        })
        .collect();
    write_zoo(&dir, manifest, &rows, &weights, &records).unwrap();
    dir
}

/// Width and height of a PNG file, after checking its signature.
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 1000, "{} is too small", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The texts of an SVG file's `<text>` elements, after checking it is an SVG.
pub fn svg_labels(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("<svg"),
        "not an SVG: {}",
        &text[..text.len().min(80)]
    );
    assert!(text.trim_end().ends_with("</svg>"));
    svg_text_elements(&text)
}

/// The contents of the `<text ...>...</text>` elements of an SVG document, trimmed.
pub fn svg_text_elements(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest.find("</text>")?;
            Some(rest[start..end].trim().to_string())
        })
        .collect()
}

/// Asserts that every label is the text of one of `labels`.
pub fn assert_labels(labels: &[String], want: &[&str]) {
    for w in want {
        assert!(labels.iter().any(|l| l == w), "no text {w:?} in {labels:?}");
    }
}
