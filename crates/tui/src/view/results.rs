//! Results view: the shown run's results.toml ([`hyperzoo_core::results::Results`]) as tables.
//!
//! From the top: what was evaluated (zoo, checkpoint, embedding size, split sizes); the probe
//! table (one row per property, one column per method, test scores, the best of each row
//! marked with `*` and the theme's colour); the reconstruction table (weight R², MSE, mean L2,
//! and the accuracy and agreement quantiles of the original and reconstructed networks); the
//! out-of-distribution probes; the generation table (accuracy quantiles of the anchors and of
//! the generated networks, their diversity, the memorisation audit (distance to the nearest
//! training checkpoint after weight matching, with the noise and interpolation baselines) and
//! fine-tuning against random initialisation).
//! The tables are lines of one scrollable paragraph ([`crate::app::Action::ScrollDown`]), so a
//! small terminal shows them clipped and scrolls through them. The view's other page, the
//! accuracy distributions of accuracies.csv ([`crate::view::accuracy`]), is toggled with
//! [`crate::app::Action::ToggleAccuracy`].
use crate::app::{Action, App};
use crate::view::block;
use crate::view::curves::metric_label;
use hyperzoo_core::results::{Memorisation, Quantiles, Results};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What the Results view keeps between frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Lines scrolled down by (back to 0 when another run is shown).
    pub scroll: usize,
    /// The accuracy distributions of accuracies.csv instead of the results.toml tables
    /// ([`crate::app::Action::ToggleAccuracy`]).
    pub accuracy: bool,
}

/// The probe methods in the order of the table's columns when present; other methods follow in
/// file order.
pub use hyperzoo_report::ablation::METHOD_ORDER;

/// Marks the best score of a probe row (plain ASCII, so it survives the plain theme).
pub const BEST_MARK: char = '*';

/// The probe table of a results.toml: test scores by property and method.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTable {
    /// The methods present, in column order ([`METHOD_ORDER`] first).
    pub methods: Vec<String>,
    /// One row per property, in file order.
    pub rows: Vec<ProbeRow>,
    /// Whether some `hyper` probe has Kendall's τ (the table then has a column for it).
    pub tau: bool,
}

/// A row of the [`ProbeTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    /// The property.
    pub property: String,
    /// The metric's short label (`R²`, `acc`), from the row's first probe.
    pub metric: &'static str,
    /// The test score of each method of [`ProbeTable::methods`] (`None`: not probed).
    pub scores: Vec<Option<f64>>,
    /// The largest finite score of the row (higher is better for R² and accuracy).
    pub best: Option<f64>,
    /// Kendall's τ of the `hyper` probe on the test split.
    pub tau: Option<f64>,
}

impl ProbeRow {
    /// Whether the score of column `i` is the row's best (ties are all best).
    pub fn is_best(&self, i: usize) -> bool {
        matches!((self.scores.get(i), self.best), (Some(Some(s)), Some(b)) if *s == b)
    }
}

/// The probe table of `results` (the first probe of a property and method counts).
pub fn probe_table(results: &Results) -> ProbeTable {
    let mut methods: Vec<String> = METHOD_ORDER
        .iter()
        .filter(|m| results.probes.iter().any(|p| p.method == **m))
        .map(|m| m.to_string())
        .collect();
    for p in &results.probes {
        if !methods.contains(&p.method) {
            methods.push(p.method.clone());
        }
    }
    let mut properties: Vec<&str> = Vec::new();
    for p in &results.probes {
        if !properties.contains(&p.property.as_str()) {
            properties.push(&p.property);
        }
    }
    let rows: Vec<ProbeRow> = properties
        .into_iter()
        .map(|property| {
            let of = |method: &str| {
                results
                    .probes
                    .iter()
                    .find(|p| p.property == property && p.method == method)
            };
            let scores: Vec<Option<f64>> = methods.iter().map(|m| of(m).map(|p| p.test)).collect();
            let best = scores
                .iter()
                .flatten()
                .copied()
                .filter(|s| s.is_finite())
                .max_by(f64::total_cmp);
            let first = results.probes.iter().find(|p| p.property == property);
            ProbeRow {
                property: property.to_string(),
                metric: first.map_or("", |p| metric_label(&p.metric)),
                scores,
                best,
                tau: of("hyper").and_then(|p| p.kendall_tau),
            }
        })
        .collect();
    let tau = rows.iter().any(|r| r.tau.is_some());
    ProbeTable { methods, rows, tau }
}

/// Largest useful [`App::results_scroll`] for the shown run at the terminal height of the last
/// draw: the Results view shows `height - 4` lines (tab bar, status bar, borders).
pub fn max_scroll(app: &App) -> usize {
    if app.results.accuracy {
        return 0; // the accuracy page fits its area
    }
    let Some(results) = app.focused_run().and_then(|r| r.results.as_ref()) else {
        return 0;
    };
    let visible = (app.screen_height as usize).saturating_sub(4).max(1);
    lines(results, app).len().saturating_sub(visible)
}

/// A score with 3 decimals (`-` when absent).
fn fmt3(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        Some(v) => format!("{v}"),
        None => "-".into(),
    }
}

/// A number with 4 significant decimals and no trailing zeros (`3.41`, `0.0123`), in
/// scientific notation when small or large, for MSE and distances.
fn num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a == 0.0 {
        return format!("{v}");
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    }
}

/// Builds aligned table lines: each cell is left- or right-aligned in its column's width,
/// columns separated by two spaces.
struct Table {
    widths: Vec<usize>,
    /// Right-aligned columns (numbers).
    right: Vec<bool>,
}

impl Table {
    /// A table of a left-aligned label column and `n` right-aligned number columns; widths fit
    /// every cell of `cells` (rows of texts, header included).
    fn new(cells: &[Vec<String>]) -> Self {
        let n = cells.iter().map(|r| r.len()).max().unwrap_or(0);
        let widths = (0..n)
            .map(|i| {
                cells
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        Self {
            widths,
            right: (0..n).map(|i| i > 0).collect(),
        }
    }

    /// The first `n` columns left-aligned (text), the others right-aligned.
    fn text_columns(mut self, n: usize) -> Self {
        for (i, r) in self.right.iter_mut().enumerate() {
            *r = i >= n;
        }
        self
    }

    /// One line of cells with their styles.
    fn line(&self, cells: Vec<(String, Style)>) -> Line<'static> {
        let mut spans = vec![Span::raw(" ")];
        for (i, (text, style)) in cells.into_iter().enumerate() {
            let w = self.widths.get(i).copied().unwrap_or(0);
            let right = self.right.get(i).copied().unwrap_or(true);
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            let text = if right {
                format!("{text:>w$}")
            } else {
                format!("{text:<w$}")
            };
            spans.push(Span::styled(text, style));
        }
        Line::from(spans)
    }

    /// One line of unstyled cells.
    fn plain(&self, cells: Vec<String>) -> Line<'static> {
        self.line(cells.into_iter().map(|c| (c, Style::new())).collect())
    }

    /// A header line.
    fn header(&self, cells: Vec<String>, app: &App) -> Line<'static> {
        let style = app.palette.dim().add_modifier(Modifier::BOLD);
        self.line(cells.into_iter().map(|c| (c, style)).collect())
    }
}

/// A section's title line.
fn title(text: String, app: &App) -> Line<'static> {
    Line::styled(text, app.palette.header())
}

/// A line of secondary text.
fn note(text: String, app: &App) -> Line<'static> {
    Line::styled(format!(" {text}"), app.palette.dim())
}

/// `τ`, or `tau` when drawing in ASCII.
fn tau(app: &App) -> &'static str {
    if app.plot.ascii { "tau" } else { "τ" }
}

/// A quantile table (`min q25 median q75 max mean`) of the rows that are present.
fn quantile_lines(rows: &[(&str, Option<Quantiles>)], app: &App) -> Vec<Line<'static>> {
    let rows: Vec<(&str, Quantiles)> = rows.iter().filter_map(|(n, q)| Some((*n, (*q)?))).collect();
    if rows.is_empty() {
        return Vec::new();
    }
    let names = ["min", "q25", "median", "q75", "max", "mean"];
    let header: Vec<String> = std::iter::once(String::new())
        .chain(names.iter().map(|n| n.to_string()))
        .collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, q)| {
            std::iter::once(name.to_string())
                .chain(q.fields().iter().map(|(_, v)| fmt3(Some(*v))))
                .collect()
        })
        .collect();
    let mut all = vec![header.clone()];
    all.extend(body.iter().cloned());
    let mut table = Table::new(&all);
    for w in table.widths.iter_mut().skip(1) {
        *w = (*w).max(6);
    }
    let mut out = vec![table.header(header, app)];
    out.extend(body.into_iter().map(|r| table.plain(r)));
    out
}

/// The probe section.
fn probe_lines(results: &Results, app: &App) -> Vec<Line<'static>> {
    let t = probe_table(results);
    if t.rows.is_empty() {
        return Vec::new();
    }
    let tau_header = format!("hyper {}", tau(app));
    let header: Vec<String> = ["property".to_string(), "metric".to_string()]
        .into_iter()
        .chain(t.methods.iter().map(|m| format!("{m} ")))
        .chain(t.tau.then(|| tau_header.clone()))
        .collect();
    // Scores carry a trailing mark (or a space), so the decimal points stay aligned.
    let cells = |r: &ProbeRow| -> Vec<(String, bool)> {
        (0..t.methods.len())
            .map(|i| {
                let best = r.is_best(i);
                let mark = if best { BEST_MARK } else { ' ' };
                (format!("{}{mark}", fmt3(r.scores[i])), best)
            })
            .collect()
    };
    let mut all = vec![header.clone()];
    for r in &t.rows {
        let mut row = vec![r.property.clone(), r.metric.to_string()];
        row.extend(cells(r).into_iter().map(|(c, _)| c));
        if t.tau {
            row.push(fmt3(r.tau));
        }
        all.push(row);
    }
    let table = Table::new(&all).text_columns(2);
    let best = Style::new()
        .fg(app.palette.good)
        .add_modifier(Modifier::BOLD);
    let mut out = vec![
        title(
            format!(
                "Probes  test split, {BEST_MARK} best of the row{}",
                if results.standardized {
                    ", standardized features"
                } else {
                    ""
                }
            ),
            app,
        ),
        table.header(header, app),
    ];
    for r in &t.rows {
        let mut row = vec![
            (r.property.clone(), Style::new()),
            (r.metric.to_string(), app.palette.dim()),
        ];
        row.extend(
            cells(r)
                .into_iter()
                .map(|(c, b)| (c, if b { best } else { Style::new() })),
        );
        if t.tau {
            row.push((fmt3(r.tau), Style::new()));
        }
        out.push(table.line(row));
    }
    out
}

/// The reconstruction section.
fn reconstruction_lines(results: &Results, app: &App) -> Vec<Line<'static>> {
    let Some(r) = &results.reconstruction else {
        return Vec::new();
    };
    let mut out = vec![title(
        format!(
            "Reconstruction  {} checkpoints, {} test images",
            r.checkpoints, r.images
        ),
        app,
    )];
    out.push(Line::raw(format!(
        " weight R² {}   MSE {}   mean L2 {}",
        fmt3(Some(r.weight_r2)),
        num(r.weight_mse),
        num(r.l2_mean)
    )));
    out.extend(quantile_lines(
        &[
            ("acc original", r.acc_original),
            ("acc reconstructed", r.acc_reconstructed),
            ("agreement", r.agreement),
        ],
        app,
    ));
    out
}

/// The out-of-distribution section.
fn ood_lines(results: &Results, app: &App) -> Vec<Line<'static>> {
    if results.ood.is_empty() {
        return Vec::new();
    }
    let header: Vec<String> = ["zoo", "property", "method", "R²"]
        .iter()
        .map(|s| s.to_string())
        .chain([tau(app).to_string()])
        .collect();
    let body: Vec<Vec<String>> = results
        .ood
        .iter()
        .map(|o| {
            vec![
                o.zoo.clone(),
                o.property.clone(),
                o.method.clone(),
                fmt3(Some(o.r2)),
                fmt3(Some(o.kendall_tau)),
            ]
        })
        .collect();
    let mut all = vec![header.clone()];
    all.extend(body.iter().cloned());
    let table = Table::new(&all).text_columns(3);
    let mut out = vec![
        title(
            "Out of distribution  probes scored on another zoo".into(),
            app,
        ),
        table.header(header, app),
    ];
    out.extend(body.into_iter().map(|r| table.plain(r)));
    out
}

/// The generation section.
fn generation_lines(results: &Results, app: &App) -> Vec<Line<'static>> {
    let Some(g) = &results.generation else {
        return Vec::new();
    };
    let mut heading = "Generation".to_string();
    if !g.sampler.is_empty() {
        heading.push_str(&format!("  sampler {}", g.sampler));
    }
    if !g.bandwidth.is_empty() {
        heading.push_str(&format!(", bandwidth {}", g.bandwidth));
    }
    let mut what = format!(
        "{} of {} candidates kept, {} anchors, {} test images",
        g.networks, g.candidates, g.anchors, g.images
    );
    if !g.zoo.is_empty() {
        what.push_str(&format!(", written to {}", g.zoo));
    }
    let mut out = vec![title(heading, app), note(what, app)];
    out.extend(quantile_lines(
        &[
            ("acc anchors", g.acc_anchors),
            ("acc generated", g.acc_generated),
        ],
        app,
    ));
    out.push(Line::raw(format!(
        " diversity (mean pairwise L2)  anchors {}   generated {}",
        num(g.diversity_anchors),
        num(g.diversity_generated)
    )));
    if let Some(m) = &g.memorisation {
        out.extend(memorisation_lines(m, app));
    }
    if !g.finetune.is_empty() {
        out.push(title(
            "Fine-tuning  test accuracy, generated vs random initialisation".into(),
            app,
        ));
        let q = |q: Option<Quantiles>, f: fn(&Quantiles) -> f64| fmt3(q.as_ref().map(f));
        let body: Vec<Vec<String>> = g
            .finetune
            .iter()
            .map(|f| {
                vec![
                    f.epoch.to_string(),
                    q(f.generated, |q| q.median),
                    q(f.generated, |q| q.mean),
                    q(f.random, |q| q.median),
                    q(f.random, |q| q.mean),
                ]
            })
            .collect();
        let header: Vec<String> = [
            "epoch",
            "gen median",
            "gen mean",
            "rand median",
            "rand mean",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        out.extend(plain_table(header, body, app));
    }
    out
}

/// The memorisation audit of the generation section: the generated networks' distance to
/// their nearest training checkpoint after weight matching and that checkpoint's accuracy,
/// beside the noise and interpolation baselines.
fn memorisation_lines(m: &Memorisation, app: &App) -> Vec<Line<'static>> {
    let mut out = vec![
        title(
            "Memorisation  L2 to the nearest training checkpoint after weight matching".into(),
            app,
        ),
        note(
            format!(
                "{} training checkpoints, {}, noise norm {}, copies within {}%",
                m.checkpoints,
                match m.candidates {
                    0 => "exact search".to_string(),
                    k => format!("{k} aligned per network at most"),
                },
                num(m.noise_norm),
                num(100.0 * m.copy_threshold)
            ),
            app,
        ),
    ];
    let q = |q: Option<Quantiles>, f: fn(&Quantiles) -> f64| {
        q.as_ref().map_or("-".into(), |q| num(f(q)))
    };
    let header: Vec<String> = [
        "",
        "networks",
        "median",
        "q25",
        "q75",
        "relative",
        "nearest acc",
        "copies",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let body: Vec<Vec<String>> = [
        ("generated", &m.generated),
        ("noise", &m.noise),
        ("interpolation", &m.interpolation),
    ]
    .into_iter()
    .map(|(name, r)| {
        vec![
            name.to_string(),
            r.networks.to_string(),
            q(r.distance, |q| q.median),
            q(r.distance, |q| q.q25),
            q(r.distance, |q| q.q75),
            q(r.relative, |q| q.median),
            fmt3(r.neighbour_acc.map(|q| q.median)),
            if r.networks > 0 {
                format!("{:.1}%", 100.0 * r.copies)
            } else {
                "-".into()
            },
        ]
    })
    .collect();
    out.extend(plain_table(header, body, app));
    out
}

/// A header line and plain body lines, columns as wide as their widest cell.
fn plain_table(header: Vec<String>, body: Vec<Vec<String>>, app: &App) -> Vec<Line<'static>> {
    let mut all = vec![header.clone()];
    all.extend(body.iter().cloned());
    let table = Table::new(&all);
    let mut out = vec![table.header(header, app)];
    out.extend(body.into_iter().map(|r| table.plain(r)));
    out
}

/// Every line of the view for `results`: what was evaluated, then the sections that have
/// content, a blank line between them.
pub fn lines(results: &Results, app: &App) -> Vec<Line<'static>> {
    let mut what = Vec::new();
    if !results.zoo.is_empty() {
        what.push(format!("zoo {}", results.zoo));
    }
    if !results.checkpoint.is_empty() {
        what.push(format!("checkpoint {}", results.checkpoint));
    }
    if results.embedding_dim > 0 {
        what.push(format!("embedding {} dims", results.embedding_dim));
    }
    if results.rows != [0; 3] {
        let [train, val, test] = results.rows;
        what.push(format!("train/val/test {train}/{val}/{test}"));
    }
    let mut out = Vec::new();
    if !what.is_empty() {
        out.push(note(what.join("  "), app));
    }
    let sections = [
        probe_lines(results, app),
        reconstruction_lines(results, app),
        ood_lines(results, app),
        generation_lines(results, app),
    ];
    let mut empty = true;
    for s in sections.into_iter().filter(|s| !s.is_empty()) {
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.extend(s);
        empty = false;
    }
    if empty {
        out.push(note(
            "results.toml has no probes, reconstruction or generation yet".into(),
            app,
        ));
    }
    out
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if app.results.accuracy {
        return crate::view::accuracy::render(frame, area, app);
    }
    let p = &app.palette;
    let run = app.focused_run();
    let name = run.map_or("-", |r| r.name.as_str());
    let Some(results) = run.and_then(|r| r.results.as_ref()) else {
        let msg = match run {
            Some(_) => "no results.toml for this run yet (written by evaluation)",
            None => "no run: open one from the experiments view",
        };
        let msg = Paragraph::new(Line::styled(msg, p.dim()))
            .block(block(format!("Results: {name}"), app));
        frame.render_widget(msg, area);
        return;
    };
    let lines = lines(results, app);
    let visible = area.height.saturating_sub(2) as usize;
    let scroll = app.results.scroll.min(lines.len().saturating_sub(visible));
    let mut title = format!("Results: {name}");
    if lines.len() > visible {
        let key = app.keymap.keys_text(Action::ScrollDown);
        let last = (scroll + visible).min(lines.len());
        title.push_str(&format!(" (lines {}-{last} of {}", scroll + 1, lines.len()));
        if let Some(k) = key.split(", ").next().filter(|k| !k.is_empty()) {
            let up = app.keymap.keys_text(Action::ScrollUp);
            let up = up.split(", ").next().unwrap_or("");
            title.push_str(&format!("; {up}/{k} scroll"));
        }
        title.push(')');
    }
    let para = Paragraph::new(lines)
        .scroll((scroll.min(u16::MAX as usize) as u16, 0))
        .block(block(title, app));
    frame.render_widget(para, area);
}

/// The keys the status bar offers in this view: the tables', or the accuracy page's.
pub fn hints(app: &App) -> &'static [(crate::app::Action, &'static str)] {
    if app.results.accuracy {
        &[
            (crate::app::Action::ToggleAccuracy, "tables"),
            (crate::app::Action::Back, "back"),
        ]
    } else {
        &[
            (crate::app::Action::ToggleAccuracy, "accuracy"),
            (crate::app::Action::ScrollDown, "scroll"),
            (crate::app::Action::Export, "export"),
            (crate::app::Action::Back, "back"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyperzoo_core::results::Probe;

    fn probe(property: &str, method: &str, metric: &str, test: f64) -> Probe {
        Probe {
            property: property.into(),
            method: method.into(),
            metric: metric.into(),
            test,
            ..Probe::default()
        }
    }

    #[test]
    fn the_probe_title_says_when_features_were_standardized() {
        let app = App::new(
            crate::store::Snapshot::default(),
            crate::theme::builtin("plain").unwrap(),
            crate::Keymap::default(),
        );
        let mut results = Results {
            probes: vec![probe("test_acc", "W", "r2", 0.5)],
            ..Results::default()
        };
        let heading = |r: &Results| probe_lines(r, &app)[0].to_string();
        assert!(!heading(&results).contains("standardized"));
        results.standardized = true;
        assert!(heading(&results).contains("standardized features"));
    }

    #[test]
    fn numbers_keep_four_significant_decimals() {
        let n: Vec<String> = [3.41, 12.5, 0.0123, 1234.5678, 2e-5, 0.0].map(num).into();
        assert_eq!(n, ["3.41", "12.5", "0.0123", "1235", "2.00e-5", "0"]);
    }

    #[test]
    fn probe_columns_follow_the_method_order_and_the_best_is_marked() {
        let mut hyper = probe("test_acc", "hyper", "r2", 0.9);
        hyper.kendall_tau = Some(0.75);
        let results = Results {
            probes: vec![
                probe("test_acc", "W", "r2", 0.5),
                probe("test_acc", "custom", "r2", 0.1),
                hyper,
                probe("epoch", "s(W)", "accuracy", 0.8),
                probe("epoch", "W", "accuracy", 0.8),
                probe("epoch", "hyper", "accuracy", f64::NAN),
            ],
            ..Results::default()
        };
        let t = probe_table(&results);
        assert_eq!(t.methods, ["hyper", "W", "s(W)", "custom"]);
        assert!(t.tau);
        let [acc, epoch] = &t.rows[..] else {
            panic!("{t:?}")
        };
        assert_eq!((acc.property.as_str(), acc.metric), ("test_acc", "R²"));
        assert_eq!(acc.scores, [Some(0.9), Some(0.5), None, Some(0.1)]);
        assert!(acc.is_best(0) && !acc.is_best(1) && !acc.is_best(2));
        assert_eq!(acc.tau, Some(0.75));
        // NaN is never best; ties are all marked.
        assert_eq!(
            (epoch.metric, epoch.best, epoch.tau),
            ("acc", Some(0.8), None)
        );
        assert!(!epoch.is_best(0) && epoch.is_best(1) && epoch.is_best(2));
        assert!(probe_table(&Results::default()).rows.is_empty());
    }
}
