//! Compare view: the runs selected with Space, overlaid in their stable colours (loss and
//! validation R²), a legend made of the config values that differ between them, and a table of
//! those differences only.
//!
//! When the selected runs differ only by `seed`, the differences table gives way to the
//! statistics over the seeds ([`seed_stats`]): mean ± sample standard deviation of the last
//! epoch's validation loss and R² (metrics.jsonl), and of each probe's test score by property
//! and method (results.toml), the best mean of a property marked `*`.
use crate::app::App;
use crate::store::RunInfo;
use crate::view::block;
use crate::view::curves::metric_label;
use crate::view::curves::{self, Curve, Series};
use crate::view::results::{BEST_MARK, METHOD_ORDER};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use std::collections::BTreeMap;

pub use hyperzoo_report::ablation::{Stat, differing_keys, flatten};

/// A run's legend entry: its values of the differing keys, or its name when none differ.
pub fn legend_label(run: &RunInfo, config: &BTreeMap<String, String>, keys: &[String]) -> String {
    if keys.is_empty() {
        return run.name.clone();
    }
    keys.iter()
        .map(|k| format!("{k}={}", config.get(k).map_or("-", |v| v.as_str())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A property's probe scores over the seeds, one [`Stat`] per method of [`SeedStats::methods`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStats {
    /// The property.
    pub property: String,
    /// The metric's short label (`R²`, `acc`).
    pub metric: &'static str,
    /// Test score statistics per method (`None`: no run probed it).
    pub scores: Vec<Option<Stat>>,
}

impl ProbeStats {
    /// The column of the best (largest) mean; ties give the first.
    pub fn best(&self) -> Option<usize> {
        (0..self.scores.len())
            .filter(|&i| self.scores[i].is_some())
            .max_by(|&a, &b| {
                let m = |i: usize| self.scores[i].map_or(f64::NEG_INFINITY, |s| s.mean);
                m(a).total_cmp(&m(b)).then(b.cmp(&a))
            })
    }
}

/// Statistics over runs that differ only by seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedStats {
    /// The runs.
    pub runs: usize,
    /// Their seeds as written in their configs, in selection order.
    pub seeds: Vec<String>,
    /// The last epoch's validation loss of each run that has one.
    pub val_loss: Option<Stat>,
    /// The last epoch's validation R².
    pub val_r2: Option<Stat>,
    /// Runs with a results.toml.
    pub evaluated: usize,
    /// Probe methods, in the Results view's column order.
    pub methods: Vec<String>,
    /// One row per property, in the order the properties first appear.
    pub probes: Vec<ProbeStats>,
}

/// Whether a comparison's differing keys say that its runs differ only by seed.
pub fn only_seed_differs(runs: usize, keys: &[String]) -> bool {
    runs >= 2 && keys.len() == 1 && keys[0] == "seed"
}

/// The statistics over `runs` (meant for runs that differ only by seed).
pub fn seed_stats(runs: &[&RunInfo]) -> SeedStats {
    let last = |f: fn(&hyperzoo_core::metrics::EpochRecord) -> f64| -> Vec<f64> {
        runs.iter()
            .filter_map(|r| r.metrics.epochs.last().map(f))
            .collect()
    };
    let results: Vec<&hyperzoo_core::results::Results> =
        runs.iter().filter_map(|r| r.results.as_ref()).collect();
    let probes = results.iter().flat_map(|r| &r.probes);
    let mut methods: Vec<String> = METHOD_ORDER
        .iter()
        .filter(|m| probes.clone().any(|p| p.method == **m))
        .map(|m| m.to_string())
        .collect();
    let mut properties: Vec<(&str, &'static str)> = Vec::new();
    for p in probes.clone() {
        if !methods.contains(&p.method) {
            methods.push(p.method.clone());
        }
        if !properties.iter().any(|(q, _)| *q == p.property) {
            properties.push((&p.property, metric_label(&p.metric)));
        }
    }
    let probes = properties
        .into_iter()
        .map(|(property, metric)| {
            let scores = methods
                .iter()
                .map(|m| {
                    let tests: Vec<f64> = results
                        .iter()
                        .filter_map(|r| {
                            r.probes
                                .iter()
                                .find(|p| p.property == property && p.method == *m)
                                .map(|p| p.test)
                        })
                        .collect();
                    Stat::of(&tests)
                })
                .collect();
            ProbeStats {
                property: property.to_string(),
                metric,
                scores,
            }
        })
        .collect();
    SeedStats {
        runs: runs.len(),
        seeds: runs
            .iter()
            .map(|r| {
                r.config
                    .as_ref()
                    .and_then(|c| c.get("seed"))
                    .map_or("-".into(), |v| v.to_string())
            })
            .collect(),
        val_loss: Stat::of(&last(|e| e.val_loss)),
        val_r2: Stat::of(&last(|e| e.val_r2)),
        evaluated: results.len(),
        methods,
        probes,
    }
}

/// The lines of the seed statistics panel.
fn seed_lines(stats: &SeedStats, app: &App) -> Vec<Line<'static>> {
    let p = &app.palette;
    let ascii = app.plot.ascii;
    let runs = stats.runs;
    let show = |s: Option<Stat>| s.map_or("-".to_string(), |s| s.text(ascii, runs));
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<16}", "last epoch"), p.header()),
        Span::raw(format!("val loss {}", show(stats.val_loss))),
        Span::raw(format!("   val R² {}", show(stats.val_r2))),
    ])];
    if stats.probes.is_empty() {
        lines.push(Line::styled(
            "no probe results: run `hyperzoo eval <run>` on each seed",
            p.dim(),
        ));
        return lines;
    }
    let cells: Vec<Vec<String>> = stats
        .probes
        .iter()
        .map(|row| {
            let best = row.best();
            row.scores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut t = show(*s);
                    if best == Some(i) {
                        t.push(BEST_MARK);
                    }
                    t
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..stats.methods.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([stats.methods[i].chars().count()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let mut head = format!("{:<16}", "probe (test)");
    for (m, w) in stats.methods.iter().zip(&widths) {
        head.push_str(&format!("{m:<w$}"));
    }
    lines.push(Line::styled(head, p.header()));
    for (row, cells) in stats.probes.iter().zip(&cells) {
        let label = format!("{} {}", row.property, row.metric);
        let mut spans = vec![Span::raw(format!("{label:<16}"))];
        let best = row.best();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let style = if best == Some(i) {
                Style::new().fg(p.good)
            } else {
                Style::new()
            };
            spans.push(Span::styled(format!("{c:<w$}"), style));
        }
        lines.push(Line::from(spans));
    }
    if stats.evaluated < runs {
        lines.push(Line::styled(
            format!(
                "probes from the {} of {runs} runs with a results.toml",
                stats.evaluated
            ),
            p.dim(),
        ));
    }
    lines
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let runs = app.selected_runs();
    if runs.is_empty() {
        let msg = Paragraph::new(Line::styled(
            "no runs selected: press space on runs in the experiments view",
            p.dim(),
        ))
        .block(block("Compare", app));
        frame.render_widget(msg, area);
        return;
    }
    let configs: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|(r, _)| r.config.as_ref().map(flatten).unwrap_or_default())
        .collect();
    let keys = differing_keys(&configs);
    let labels: Vec<String> = runs
        .iter()
        .zip(&configs)
        .map(|((r, _), c)| legend_label(r, c, &keys))
        .collect();
    let seeds_only = only_seed_differs(runs.len(), &keys);
    let legend_height = runs.len() as u16 + 2;
    let [charts, legend, diff] = Layout::vertical([
        Constraint::Percentage(if seeds_only { 45 } else { 55 }),
        Constraint::Length(legend_height),
        Constraint::Min(3),
    ])
    .areas(area);
    let [loss_area, r2_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    let epochs = curves::in_epochs(runs.iter().map(|(r, _)| *r));
    let overlay = |series: Series| -> Vec<Curve> {
        runs.iter()
            .zip(&labels)
            .map(|((r, slot), label)| {
                let from = curves::window_start(&r.metrics, &app.plot, epochs);
                Curve {
                    label: label.clone(),
                    color: p.series(*slot),
                    points: curves::transform(
                        &curves::raw(&r.metrics, series, epochs),
                        &app.plot,
                        from,
                    ),
                }
            })
            .collect()
    };
    curves::render_chart(
        frame,
        loss_area,
        "loss",
        &overlay(Series::Loss),
        epochs,
        false,
        app,
    );
    curves::render_chart(
        frame,
        r2_area,
        "val R²",
        &overlay(Series::ValR2),
        epochs,
        false,
        app,
    );
    let lines: Vec<Line> = runs
        .iter()
        .zip(&labels)
        .map(|((r, slot), label)| {
            Line::from(vec![
                Span::styled("-- ", Style::new().fg(p.series(*slot))),
                Span::raw(label.clone()),
                Span::styled(format!("  ({})", r.name), p.dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block("legend", app)), legend);
    if seeds_only {
        let list: Vec<&RunInfo> = runs.iter().map(|(r, _)| *r).collect();
        let stats = seed_stats(&list);
        let title = format!(
            "mean {} sample std over {} seeds (seed = {})",
            if app.plot.ascii { "+-" } else { "±" },
            stats.runs,
            stats.seeds.join(", ")
        );
        let panel = Paragraph::new(seed_lines(&stats, app)).block(block(title, app));
        frame.render_widget(panel, diff);
        return;
    }
    if keys.is_empty() {
        let same = Paragraph::new(Line::styled("the configs do not differ", p.dim()))
            .block(block("config diff", app));
        frame.render_widget(same, diff);
        return;
    }
    let header = std::iter::once(Cell::new("key"))
        .chain(
            runs.iter()
                .map(|(r, slot)| Cell::new(r.name.clone()).style(Style::new().fg(p.series(*slot)))),
        )
        .collect::<Row>()
        .style(p.header());
    let rows = keys.iter().map(|k| {
        std::iter::once(Cell::new(k.clone()))
            .chain(
                configs
                    .iter()
                    .map(|c| Cell::new(c.get(k).cloned().unwrap_or_else(|| "-".into()))),
            )
            .collect::<Row>()
    });
    let widths =
        std::iter::once(Constraint::Length(18)).chain(runs.iter().map(|_| Constraint::Fill(1)));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block("config diff", app));
    frame.render_widget(table, diff);
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[
    (crate::app::Action::ToggleSmoothing, "smooth"),
    (crate::app::Action::ToggleLogScale, "log"),
    (crate::app::Action::ZoomIn, "zoom"),
    (crate::app::Action::Export, "export"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differing_keys_make_the_legend() {
        let a: toml::Table =
            toml::from_str("name='a'\nseed=1\n[loss]\ngamma=0.1\nkind='x'").unwrap();
        let b: toml::Table =
            toml::from_str("name='b'\nseed=1\n[loss]\ngamma=0.5\nkind='x'\n[extra]\nk=2").unwrap();
        let flat = [flatten(&a), flatten(&b)];
        let keys = differing_keys(&flat);
        assert_eq!(keys, ["extra.k", "loss.gamma"]);
        let run = RunInfo::new("a", std::path::Path::new("a"));
        assert_eq!(
            legend_label(&run, &flat[0], &keys),
            "extra.k=- loss.gamma=0.1"
        );
        assert_eq!(legend_label(&run, &flat[0], &[]), "a");
        assert!(!only_seed_differs(2, &keys));
        assert!(only_seed_differs(3, &["seed".to_string()]));
        assert!(!only_seed_differs(1, &["seed".to_string()]));
    }

    #[test]
    fn mean_and_sample_std() {
        let s = Stat::of(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
        assert_eq!((s.mean, s.std, s.n), (2.0, Some(1.0), 3));
        assert_eq!(s.text(true, 3), "2.000+-1.000");
        assert_eq!(s.text(false, 4), "2.000±1.000 (n=3)");
        let one = Stat::of(&[0.5]).unwrap();
        assert_eq!((one.std, one.text(true, 1)), (None, "0.500".to_string()));
        assert_eq!(Stat::of(&[f64::INFINITY]), None);
    }

    #[test]
    fn seed_statistics_from_metrics_and_results() {
        let tmp = tempfile::tempdir().unwrap();
        let names = crate::fixture::seed_runs(&tmp.path().join("runs"));
        let snap =
            crate::store::Snapshot::read(tmp.path(), tmp.path(), std::time::SystemTime::now());
        let runs: Vec<&RunInfo> = names.iter().map(|n| snap.run(n).unwrap()).collect();
        let flat: Vec<_> = runs
            .iter()
            .map(|r| flatten(r.config.as_ref().unwrap()))
            .collect();
        assert_eq!(differing_keys(&flat), ["seed"]);
        let stats = seed_stats(&runs);
        assert_eq!(stats.seeds, ["1", "2", "3"]);
        assert_eq!(stats.evaluated, 3);
        assert_eq!(stats.methods, ["hyper", "W", "s(W)", "s(W)-56"]);
        let test_acc = &stats.probes[0];
        assert_eq!(
            (test_acc.property.as_str(), test_acc.metric),
            ("test_acc", "R²")
        );
        // hyper: 0.834 + 0.01 * seed for seeds 1, 2, 3.
        let hyper = test_acc.scores[0].unwrap();
        assert!((hyper.mean - 0.854).abs() < 1e-12 && (hyper.std.unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(test_acc.best(), Some(0));
        // s(W)-56 was probed in one run only.
        assert_eq!(test_acc.scores[3].unwrap().n, 1);
        assert_eq!(stats.val_r2.unwrap().n, 3);
    }
}
