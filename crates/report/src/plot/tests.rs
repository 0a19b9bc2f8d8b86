use super::*;
use crate::testutil::{
    RunSpec, assert_labels, assert_text_fits, png_size, svg_labels, svg_text_boxes,
    svg_text_elements, write_run, write_test_zoo,
};

fn two_runs(root: &Path) -> Vec<PathBuf> {
    let mut b = RunSpec::new("beta");
    b.score_shift = 0.05;
    vec![write_run(root, &RunSpec::new("alpha")), write_run(root, &b)]
}

/// Renders `figure` into an RGB buffer.
fn render(figure: &Figure, (w, h): (u32, u32)) -> Vec<u8> {
    crate::font::register_fonts();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        figure.draw(&root).unwrap();
        root.present().unwrap();
    }
    buf
}

#[test]
fn titles_render_with_the_bundled_font() {
    let title = "Bundled font check";
    let figure = |title: &str| {
        Figure::single(Panel::Lines(Lines {
            title: title.into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            log_y: false,
            keys: None,
            series: vec![Line {
                name: "a".into(),
                colour: PALETTE[0],
                points: vec![(0.0, 1.0), (1.0, 0.5)],
                dashed: Vec::new(),
            }],
        }))
    };
    let (w, h) = (400, 300);
    let dark_in_title_band = |buf: &[u8]| {
        buf[..(w * 35 * 3) as usize]
            .chunks_exact(3)
            .filter(|p| p.iter().all(|&c| c < 128))
            .count()
    };
    let titled = dark_in_title_band(&render(&figure(title), (w, h)));
    let untitled = dark_in_title_band(&render(&figure(""), (w, h)));
    assert!(titled > 100, "{titled} dark pixels in the title band");
    assert_eq!(untitled, 0, "the band holds nothing but the title");

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        figure(title).draw(&root).unwrap();
        root.present().unwrap();
    }
    assert_labels(&svg_text_elements(&svg), &[title]);
}

#[test]
fn loss_curves_write_png_and_svg_with_the_run_names() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(tmp.path());
    let png = tmp.path().join("plots/loss.png");
    loss_curves(&runs, &png, &PlotOptions::default()).unwrap();
    assert_eq!(png_size(&png), (800, 500));
    assert!(!tmp.path().join("plots/.loss.png.partial.png").exists());

    let svg = tmp.path().join("loss.SVG");
    let opts = PlotOptions {
        log_y: true,
        width: 640,
        height: 400,
        ..PlotOptions::default()
    };
    loss_curves(&runs, &svg, &opts).unwrap();
    assert_labels(
        &svg_labels(&svg),
        &[
            "Training loss",
            "alpha",
            "beta",
            "step",
            "loss (log scale)",
            "training loss (per step)",
            "validation loss (per epoch)",
        ],
    );
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .starts_with(r#"<svg width="640" height="400""#)
    );
}

#[test]
fn val_r2_curves_plot_each_runs_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(tmp.path());
    let png = tmp.path().join("r2.png");
    val_r2_curves(&runs, &png, &PlotOptions::default()).unwrap();
    assert_eq!(png_size(&png), (800, 500));
    let svg = tmp.path().join("r2.svg");
    let opts = PlotOptions {
        title: Some("R² by epoch".into()),
        ..PlotOptions::default()
    };
    val_r2_curves(&runs, &svg, &opts).unwrap();
    assert_labels(
        &svg_labels(&svg),
        &["R² by epoch", "alpha", "beta", "epoch", "validation R²"],
    );
}

#[test]
fn probe_bars_group_methods_by_property() {
    let tmp = tempfile::tempdir().unwrap();
    let run = write_run(tmp.path(), &RunSpec::new("alpha"));
    let png = tmp.path().join("probes.png");
    probe_bars(&run, &png, &PlotOptions::default()).unwrap();
    assert_eq!(png_size(&png), (800, 500));
    let svg = tmp.path().join("probes.svg");
    probe_bars(&run, &svg, &PlotOptions::default()).unwrap();
    let labels = [
        "Linear probes of alpha (test split)",
        "hyper",
        "W",
        "s(W)",
        "test_acc",
        "activation",
        "(R²)",
        "(accuracy)",
        "0.90",
        // W's R² of -2.5 is drawn at -1 with its value.
        "-2.50",
    ];
    assert_labels(&svg_labels(&svg), &labels);
}

#[test]
fn histograms_and_boxes_from_samples_and_quantiles() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = vec![
        ("first".to_string(), vec![0.1, 0.2, 0.2, 0.4, f64::NAN]),
        ("second".to_string(), vec![0.3, 0.5, 0.6]),
    ];
    let svg = tmp.path().join("h.svg");
    histograms(&samples, &svg, &PlotOptions::default()).unwrap();
    assert_labels(
        &svg_labels(&svg),
        &["first (n = 4)", "second (n = 3)", "% of networks"],
    );
    let png = tmp.path().join("h.png");
    histograms(&samples, &png, &PlotOptions::default()).unwrap();
    assert_eq!(png_size(&png), (800, 500));

    let q = Quantiles::of(&samples[0].1).unwrap();
    assert_eq!((q.min, q.median, q.max), (0.1, 0.2, 0.4));
    let svg = tmp.path().join("b.svg");
    quantile_boxes(&[("first".into(), q)], &svg, &PlotOptions::default()).unwrap();
    assert_labels(
        &svg_labels(&svg),
        &["Quantiles", "first", "median 0.200", panels::BOX_NOTE],
    );
}

#[test]
fn accuracy_histograms_of_a_zoo_and_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = write_test_zoo(tmp.path(), 10);
    let run = write_run(tmp.path(), &RunSpec::new("alpha"));

    let (label, values) = zoo_test_accuracy(&zoo).unwrap();
    assert_eq!(label, "zoo tiny, epoch 5, 9 networks");
    assert_eq!(values.len(), 9);
    assert!((values[8] - 0.58).abs() < 1e-12);

    let png = tmp.path().join("acc.png");
    accuracy_histograms(Some(&zoo), Some(&run), &png, &PlotOptions::default()).unwrap();
    assert_eq!(png_size(&png), (800, 500));
    let svg = tmp.path().join("acc.svg");
    accuracy_histograms(Some(&zoo), Some(&run), &svg, &PlotOptions::default()).unwrap();
    let labels = [
        "Test accuracy: alpha",
        "zoo tiny, epoch 5 (n = 9)",
        "zoo",
        "original",
        "reconstructed",
        "median 0.550",
    ];
    assert_labels(&svg_labels(&svg), &labels);
    // Either source alone is enough.
    accuracy_histograms(None, Some(&run), &svg, &PlotOptions::default()).unwrap();
    accuracy_histograms(Some(&zoo), None, &svg, &PlotOptions::default()).unwrap();

    // With accuracies.csv (eval and generate): a box per group and histograms of the original,
    // reconstructed and generated networks, the groups in a fixed order.
    hyperzoo_core::results::write_accuracies(
        &run,
        &[
            ("generated".into(), vec![0.3, 0.4, 0.5]),
            ("random+2".into(), vec![0.2, 0.25]),
            ("original".into(), vec![0.6, 0.7]),
        ],
    )
    .unwrap();
    accuracy_histograms(None, Some(&run), &svg, &PlotOptions::default()).unwrap();
    let labels = svg_labels(&svg);
    assert_labels(
        &labels,
        &[
            "original (n = 2)",
            "generated (n = 3)",
            "random+2",
            "median 0.400",
        ],
    );
    let pos = |l: &str| labels.iter().position(|x| x == l).unwrap();
    assert!(
        pos("original (n = 2)") < pos("generated (n = 3)"),
        "{labels:?}"
    );
}

#[test]
fn errors_name_the_file_and_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = two_runs(tmp.path());
    let opts = PlotOptions::default();

    let e = loss_curves(&runs, Path::new("out/loss.jpg"), &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "out/loss.jpg: cannot tell the image format from the extension '.jpg': name the file .png or .svg"
    );
    let e = probe_bars(&runs[0], Path::new("probes"), &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "probes: cannot tell the image format from a name without extension: name the file .png or .svg"
    );

    let mut spec = RunSpec::new("unevaluated");
    spec.results = false;
    let bare = write_run(tmp.path(), &spec);
    let out = tmp.path().join("x.png");
    let e = probe_bars(&bare, &out, &opts).unwrap_err().to_string();
    let shown = bare.display();
    assert_eq!(
        e,
        format!("run {shown} has no results.toml: run `hyperzoo eval {shown}` first")
    );
    let e = accuracy_histograms(None, Some(&bare), &out, &opts).unwrap_err();
    assert!(e.to_string().contains("has no results.toml"));

    std::fs::write(bare.join("metrics.jsonl"), "").unwrap();
    let e = loss_curves(&[runs[0].clone(), bare.clone()], &out, &opts).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("run {shown} has no metrics: ")),
        "{e}"
    );
    assert_eq!(
        loss_curves(&[], &out, &opts).unwrap_err().to_string(),
        "nothing to plot: no run given"
    );
    assert_eq!(
        accuracy_histograms(None, None, &out, &opts)
            .unwrap_err()
            .to_string(),
        "nothing to plot: accuracy histograms need a zoo, a run or both"
    );
    // A run with epoch records but no step record.
    std::fs::write(
        bare.join("metrics.jsonl"),
        "{\"kind\":\"epoch\",\"step\":3,\"epoch\":1,\"val_loss\":1.0,\"val_r2\":0.1}\n",
    )
    .unwrap();
    let e = loss_curves(std::slice::from_ref(&bare), &out, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "nothing to plot: no step record with a loss in the metrics.jsonl of unevaluated"
    );
    assert!(!out.exists());
}

#[test]
fn run_colours_follow_the_name_not_the_position() {
    let ab = run_colours(&["alpha", "beta"]);
    let ba = run_colours(&["beta", "alpha"]);
    assert_eq!((ab[0], ab[1]), (ba[1], ba[0]));
    assert_ne!(ab[0], ab[1]);
    let many: Vec<String> = (0..10).map(|i| format!("run{i}")).collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    let colours = run_colours(&names);
    for (i, c) in colours.iter().enumerate() {
        assert!(!colours[..i].contains(c), "10 runs get 10 colours");
    }
}

/// Runs as the claims' experiments name them, 2,520 steps, seven probed properties and six
/// methods, and every accuracy group: where the text of a figure gets crowded.
fn crowded(root: &Path) -> (Vec<PathBuf>, PathBuf) {
    let mut runs = Vec::new();
    for (k, name) in [
        "claim-behaviour-loss.beta=0.9-seed=1",
        "claim-behaviour-loss.beta=0.1-seed=1",
        "claim-representation-augment.permutation=false-seed=3",
    ]
    .iter()
    .enumerate()
    {
        let mut spec = RunSpec::new(name);
        spec.steps = 2520;
        spec.score_shift = 0.02 * k as f64;
        runs.push(write_run(root, &spec));
    }
    let mut results = std::fs::read_to_string(runs[0].join("results.toml")).unwrap();
    let properties = [
        "ggap",
        "epoch",
        "init",
        "lr",
        "weight_decay",
        "test_loss_long_name",
    ];
    let methods = ["hyper", "W", "s(W)", "hyper-layers", "s(W)-56", "spectral"];
    for (i, property) in properties.iter().enumerate() {
        for (j, method) in methods.iter().enumerate() {
            results = format!(
                "[[probes]]\nproperty = \"{property}\"\nmethod = \"{method}\"\nmetric = \"r2\"\n\
                 train = 0.9\nval = 0.9\ntest = {}\n\n{results}",
                0.97 - 0.1 * i as f64 + 0.01 * j as f64
            );
        }
    }
    std::fs::write(runs[0].join("results.toml"), results).unwrap();
    let spread = |n: usize, at: f64| -> Vec<f64> {
        (0..n)
            .map(|i| at + 0.1 * ((i * 37 % 101) as f64 / 101.0 - 0.5))
            .collect()
    };
    hyperzoo_core::results::write_accuracies(
        &runs[0],
        &[
            ("original".into(), spread(576, 0.54)),
            ("reconstructed".into(), spread(576, 0.52)),
            ("anchors".into(), spread(20, 0.55)),
            ("generated".into(), spread(20, 0.3)),
            ("generated+1".into(), spread(20, 0.57)),
            ("random+1".into(), spread(20, 0.33)),
        ],
    )
    .unwrap();
    (runs, write_test_zoo(root, 40))
}

#[test]
fn every_plot_kind_lays_its_text_out_without_overlap_or_clipping() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, zoo) = crowded(tmp.path());
    let svg = tmp.path().join("fig.svg");
    let text = || std::fs::read_to_string(&svg).unwrap();
    for (width, height) in [(800, 500), (1200, 700), (560, 360)] {
        let size = format!("{width}×{height}");
        for log_y in [false, true] {
            let opts = PlotOptions {
                width,
                height,
                log_y,
                ..PlotOptions::default()
            };
            let check = |what: &str| {
                let svg = text();
                let result = std::panic::catch_unwind(|| assert_text_fits(&svg));
                assert!(result.is_ok(), "{what} at {size} (log {log_y})");
                svg_text_elements(&svg)
            };
            loss_curves(&runs, &svg, &opts).unwrap();
            let labels = check("loss");
            if !log_y {
                // Steps are integers: no "500.0".
                assert!(labels.iter().any(|l| l == "1000"), "{labels:?}");
                assert!(
                    !labels.iter().any(|l| l.ends_with(".0") && l.len() > 3),
                    "{labels:?}"
                );
            }
            val_r2_curves(&runs, &svg, &opts).unwrap();
            let labels = check("r2");
            assert!(labels.iter().any(|l| l == "1"), "epochs: {labels:?}");
            probe_bars(&runs[0], &svg, &opts).unwrap();
            let labels = check("probes");
            // The score axis ends near 1: its highest tick is at most 1.2.
            let top = labels
                .iter()
                .filter_map(|l| l.parse::<f64>().ok())
                .filter(|v| v.abs() <= 10.0)
                .fold(f64::MIN, f64::max);
            assert!(
                (1.0..=1.2).contains(&top),
                "probe axis to {top}: {labels:?}"
            );
            accuracy_histograms(Some(&zoo), Some(&runs[0]), &svg, &opts).unwrap();
            check("accuracy");
            accuracy_histograms(None, Some(&runs[1]), &svg, &opts).unwrap();
            check("accuracy from quantiles");
            histograms(
                &[
                    ("a long label of a sample".into(), vec![0.1, 0.5, 0.52]),
                    ("b".into(), vec![0.3]),
                ],
                &svg,
                &opts,
            )
            .unwrap();
            check("histograms");
        }
    }
}

#[test]
fn accuracy_histograms_share_one_y_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let (runs, _) = crowded(tmp.path());
    let svg = tmp.path().join("acc.svg");
    accuracy_histograms(None, Some(&runs[0]), &svg, &PlotOptions::default()).unwrap();
    let boxes = svg_text_boxes(&std::fs::read_to_string(&svg).unwrap());
    // The y ticks of each stacked histogram (left of its plot, right-aligned numbers): every
    // panel shows the same values.
    let desc: Vec<f64> = boxes
        .iter()
        .filter(|b| b.text == "% of networks")
        .map(|b| (b.y0 + b.y1) / 2.0)
        .collect();
    assert_eq!(desc.len(), 3, "original, reconstructed, generated");
    let ticks_of = |k: usize| -> Vec<String> {
        let (top, bottom) = (
            if k == 0 {
                0.0
            } else {
                (desc[k - 1] + desc[k]) / 2.0
            },
            desc.get(k + 1).map_or(f64::MAX, |n| (desc[k] + n) / 2.0),
        );
        let mut t: Vec<String> = boxes
            .iter()
            .filter(|b| b.x1 < 63.0 && b.y0 > top && b.y1 < bottom)
            .filter(|b| b.text.parse::<f64>().is_ok())
            .map(|b| b.text.clone())
            .collect();
        t.sort();
        t
    };
    assert!(!ticks_of(0).is_empty());
    assert_eq!(ticks_of(0), ticks_of(1));
    assert_eq!(ticks_of(1), ticks_of(2));
}
