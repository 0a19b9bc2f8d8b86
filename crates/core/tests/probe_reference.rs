//! The downstream probes against the reference's procedure run by PyTorch / numpy
//! (tests/reference/probe_ridge.json, written by scripts/reference/probe_ridge.py): ridge α
//! selection, R² curves and coefficients, Kendall's τ-b with ties, and the baseline weight
//! statistics (s(W), Unterthiner's 56, spectral metrics). The inputs are rebuilt here from the
//! script's formulas.
use hyperzoo_core::arch::{ArchSpec, Layout};
use hyperzoo_core::probe::features::{self, FeatureMatrix};
use hyperzoo_core::probe::{ALPHA_GRID, RidgeProbe, evaluate_regression, kendall_tau};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    alpha_grid: Vec<f64>,
    ridge: Vec<RidgeCase>,
    kendall: Vec<KendallCase>,
    features: Vec<FeatureCase>,
}

#[derive(Deserialize)]
struct RidgeCase {
    n_train: usize,
    n_val: usize,
    n_test: usize,
    w: Vec<f64>,
    b: f64,
    noise: f64,
    r2_train_curve: Vec<f64>,
    r2_val_curve: Vec<f64>,
    best: usize,
    alpha: f64,
    r2_train: f64,
    r2_val: f64,
    r2_test: f64,
    weights: Vec<f64>,
    bias: f64,
    kendall_tau_test: f64,
}

#[derive(Deserialize)]
struct KendallCase {
    x: Vec<f64>,
    y: Vec<f64>,
    tau: f64,
}

#[derive(Deserialize)]
struct FeatureCase {
    arch: String,
    networks: usize,
    stats_with_bias: Vec<Vec<f64>>,
    unterthiner: Vec<Vec<f64>>,
    spectral: Vec<Vec<f64>>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/reference/probe_ridge.json"
    );
    let text = std::fs::read_to_string(path).expect("run scripts/reference/probe_ridge.py");
    serde_json::from_str(&text).unwrap()
}

/// Within 1e-9 relative (plus 1e-12 absolute for values at zero).
fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs() + 1e-12,
        "{what}: got {got}, want {want} (diff {:e})",
        (got - want).abs()
    );
}

fn close_all(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, &format!("{what}[{i}]"));
    }
}

/// The script's rows `i` of `x[i, j] = sin((0.7 + 0.31 j) i + 1.3 j)` and their targets.
fn ridge_rows(rows: std::ops::Range<usize>, case: &RidgeCase) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in rows {
        let row: Vec<f64> = (0..case.w.len())
            .map(|j| ((0.7 + 0.31 * j as f64) * i as f64 + 1.3 * j as f64).sin())
            .collect();
        y.push(
            row.iter().zip(&case.w).map(|(a, c)| c * a).sum::<f64>()
                + case.b
                + case.noise * (2.9 * i as f64 + 0.4).cos(),
        );
        x.extend(row);
    }
    (x, y)
}

#[test]
fn ridge_matches_the_reference_procedure() {
    let r = reference();
    assert_eq!(r.alpha_grid, ALPHA_GRID.to_vec());
    for (k, case) in r.ridge.iter().enumerate() {
        let (nt, nv) = (case.n_train, case.n_val);
        let (xt, yt) = ridge_rows(0..nt, case);
        let (xv, yv) = ridge_rows(nt..nt + nv, case);
        let (xs, ys) = ridge_rows(nt + nv..nt + nv + case.n_test, case);
        let sel = RidgeProbe::select(&xt, &yt, Some((&xv, &yv)), &ALPHA_GRID).unwrap();
        assert_eq!(sel.best, case.best, "case {k}: selected index");
        assert_eq!(sel.probe.alpha, case.alpha, "case {k}: selected alpha");
        let train: Vec<f64> = sel.scores.iter().map(|s| s.r2_train).collect();
        let val: Vec<f64> = sel.scores.iter().map(|s| s.r2_val.unwrap()).collect();
        close_all(&train, &case.r2_train_curve, &format!("case {k} train R²"));
        close_all(&val, &case.r2_val_curve, &format!("case {k} val R²"));
        close_all(
            &sel.probe.weights,
            &case.weights,
            &format!("case {k} weights"),
        );
        close(sel.probe.bias, case.bias, &format!("case {k} bias"));

        let rep = evaluate_regression((&xt, &yt), Some((&xv, &yv)), (&xs, &ys)).unwrap();
        close(rep.r2_train, case.r2_train, &format!("case {k} r2_train"));
        close(
            rep.r2_val.unwrap(),
            case.r2_val,
            &format!("case {k} r2_val"),
        );
        close(rep.r2_test, case.r2_test, &format!("case {k} r2_test"));
        close(
            rep.kendall_tau_test,
            case.kendall_tau_test,
            &format!("case {k} tau"),
        );
    }
}

#[test]
fn kendall_tau_b_matches_scipy_formula() {
    for (k, case) in reference().kendall.iter().enumerate() {
        close(
            kendall_tau(&case.x, &case.y),
            case.tau,
            &format!("kendall {k}"),
        );
    }
}

/// The script's networks: `w[m, p] = 0.3 sin(0.37 p + 0.001 p² + 1.1 m + 0.5)`.
fn networks(layout: &Layout, n: usize) -> Vec<f64> {
    (0..n)
        .flat_map(|m| {
            (0..layout.total).map(move |p| {
                let p = p as f64;
                0.3 * (0.37 * p + 0.001 * p * p + 1.1 * m as f64 + 0.5).sin()
            })
        })
        .collect()
}

fn compare(got: &FeatureMatrix, want: &[Vec<f64>], what: &str) {
    assert_eq!(got.rows, want.len(), "{what}: rows");
    for (m, row) in want.iter().enumerate() {
        close_all(got.row(m), row, &format!("{what} network {m}"));
    }
}

#[test]
fn weight_statistics_match_numpy() {
    for case in reference().features {
        let layout = ArchSpec::builtin(&case.arch).unwrap().layout().unwrap();
        let w = networks(&layout, case.networks);
        let what = |s: &str| format!("{} {s}", case.arch);
        compare(
            &features::stats(&w, &layout, true).unwrap(),
            &case.stats_with_bias,
            &what("s(W)"),
        );
        compare(
            &features::unterthiner(&w, &layout).unwrap(),
            &case.unterthiner,
            &what("unterthiner"),
        );
        compare(
            &features::spectral(&w, &layout).unwrap(),
            &case.spectral,
            &what("spectral"),
        );
    }
}
