//! Curves shared by the Run and Compare views: series taken from a run's metrics, transformed
//! by the plot options (debiased-EMA smoothing, recent window, log scale), drawn with
//! ratatui's `Chart`. The x axis is in epochs once a run's epoch length is known, else in steps.
use crate::app::{App, PlotOptions};
use crate::store::{MetricsExt, RunInfo};
use crate::view::{axis_labels, block};
use hyperzoo_core::metrics::{Metrics, StepRecord};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, LegendPosition, Paragraph};

/// Points drawn at most per curve (more are thinned evenly).
const MAX_POINTS: usize = 2000;

/// A curve ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: Color,
    /// (x, y) after the plot options.
    pub points: Vec<(f64, f64)>,
}

/// Which metric a curve shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Total loss per step.
    Loss,
    /// Contrast term per step.
    Contrast,
    /// Structure term per step.
    Structure,
    /// Behaviour term per step.
    Behaviour,
    /// Learning rate per step.
    Lr,
    /// Validation R² per evaluation.
    ValR2,
}

impl Series {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            Series::Loss => "loss",
            Series::Contrast => "contrast",
            Series::Structure => "structure",
            Series::Behaviour => "behaviour",
            Series::Lr => "lr",
            Series::ValR2 => "val R²",
        }
    }
}

/// Whether curves of these runs use epochs on the x axis (every run's epoch length known).
pub fn in_epochs<'a>(runs: impl IntoIterator<Item = &'a RunInfo>) -> bool {
    runs.into_iter()
        .all(|r| r.metrics.steps_per_epoch().is_some())
}

/// The raw (x, y) points of a series.
pub fn raw(m: &Metrics, series: Series, epochs: bool) -> Vec<(f64, f64)> {
    let spe = m.steps_per_epoch().filter(|_| epochs);
    let x = |step: u64| spe.map_or(step as f64, |spe| step as f64 / spe);
    let pick = |f: fn(&StepRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        m.steps
            .iter()
            .filter_map(|s| Some((x(s.step), f(s)?)))
            .collect()
    };
    match series {
        Series::Loss => pick(|s| Some(s.loss)),
        Series::Contrast => pick(|s| s.contrast),
        Series::Structure => pick(|s| s.structure),
        Series::Behaviour => pick(|s| s.behaviour),
        Series::Lr => pick(|s| Some(s.lr)),
        Series::ValR2 => m.epochs.iter().map(|e| (x(e.step), e.val_r2)).collect(),
    }
}

/// The raw (x, y) points of the test score of `property`'s probe (one per probe record that
/// scored it), on the same x axis as [`raw`].
pub fn probe_raw(m: &Metrics, property: &str, epochs: bool) -> Vec<(f64, f64)> {
    let spe = m.steps_per_epoch();
    m.probes
        .iter()
        .filter_map(|r| {
            let p = r.probes.iter().find(|p| p.property == property)?;
            // A record without its step (written by hand) stands at the end of its epoch.
            let step = match (r.step, spe) {
                (0, Some(spe)) => r.epoch as f64 * spe,
                (s, _) => s as f64,
            };
            let x = match spe.filter(|_| epochs) {
                Some(spe) => step / spe,
                None => step,
            };
            Some((x, p.test))
        })
        .collect()
}

/// The metric of `property`'s probe as a short label (`R²`, `acc`), from its last record.
pub fn probe_metric(m: &Metrics, property: &str) -> Option<&'static str> {
    let p = m
        .probes
        .iter()
        .rev()
        .find_map(|r| r.probes.iter().find(|p| p.property == property))?;
    Some(metric_label(&p.metric))
}

/// `r2` as `R²`, `accuracy` as `acc`; anything else as `score`.
pub fn metric_label(metric: &str) -> &'static str {
    match metric {
        "r2" => "R²",
        "accuracy" | "acc" => "acc",
        _ => "score",
    }
}

/// Where the recent window of a run starts on the x axis (None: whole history).
pub fn window_start(m: &Metrics, opts: &PlotOptions, epochs: bool) -> Option<f64> {
    if opts.full_history || m.steps.len() <= opts.window {
        return None;
    }
    let xs = raw(m, Series::Loss, epochs);
    xs.get(xs.len() - opts.window).map(|p| p.0)
}

/// Applies smoothing, the window (points before `from`) and the log scale.
pub fn transform(points: &[(f64, f64)], opts: &PlotOptions, from: Option<f64>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = if opts.smooth {
        ema(points, opts.beta)
    } else {
        points.to_vec()
    };
    if let Some(from) = from {
        out.retain(|p| p.0 >= from);
    }
    if opts.log_y {
        out = out
            .into_iter()
            .filter(|p| p.1 > 0.0)
            .map(|(x, y)| (x, y.log10()))
            .collect();
    }
    out.retain(|p| p.0.is_finite() && p.1.is_finite());
    thin(out)
}

/// Exponential moving average, divided by `1 - beta^t` so the first points are not pulled
/// towards zero.
pub fn ema(points: &[(f64, f64)], beta: f64) -> Vec<(f64, f64)> {
    let mut avg = 0.0;
    let mut weight = 1.0;
    points
        .iter()
        .map(|&(x, y)| {
            avg = beta * avg + (1.0 - beta) * y;
            weight *= beta;
            (x, avg / (1.0 - weight))
        })
        .collect()
}

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let step = points.len().div_ceil(MAX_POINTS);
    let last = *points.last().expect("not empty");
    let mut out: Vec<_> = points.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Draws curves in a bordered chart; `legend` shows ratatui's legend box.
pub fn render_chart(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    curves: &[Curve],
    epochs: bool,
    legend: bool,
    app: &App,
) {
    let opts = &app.plot;
    let block = block(title.to_string(), app);
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        let empty = Paragraph::new(Line::styled("no data yet", app.palette.dim())).block(block);
        frame.render_widget(empty, area);
        return;
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    (y0, y1) = (y0 - pad, y1 + pad);
    let marker = if opts.ascii {
        Marker::Dot
    } else {
        Marker::Braille
    };
    let datasets = curves
        .iter()
        .map(|c| {
            Dataset::default()
                .name(c.label.clone())
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(c.color))
                .data(&c.points)
        })
        .collect();
    let x_title = if epochs { "epoch" } else { "step" };
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .title(Line::styled(x_title, app.palette.dim()))
                .style(app.palette.dim())
                .bounds([x0, x1])
                .labels(axis_labels(x0, x1, false)),
        )
        .y_axis(
            Axis::default()
                .style(app.palette.dim())
                .bounds([y0, y1])
                .labels(axis_labels(y0, y1, opts.log_y)),
        )
        .legend_position(legend.then_some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(60)));
    frame.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debiased_ema_starts_at_the_first_value() {
        let pts: Vec<(f64, f64)> = (0..4).map(|i| (i as f64, 2.0)).collect();
        for (_, y) in ema(&pts, 0.9) {
            assert!((y - 2.0).abs() < 1e-12, "{y}");
        }
        let s = ema(&[(0.0, 0.0), (1.0, 10.0)], 0.5);
        // (0.5 * (0.5 * 0) + 0.5 * 10) / (1 - 0.5^2)
        assert!((s[1].1 - 5.0 / 0.75).abs() < 1e-12);
    }

    #[test]
    fn probe_points_share_the_x_axis_of_the_other_curves() {
        use hyperzoo_core::metrics::{EpochRecord, ProbeRecord, ProbeScore};
        let score = |property: &str, test| ProbeScore {
            property: property.into(),
            metric: "r2".into(),
            val: None,
            test,
        };
        let m = Metrics {
            epochs: vec![EpochRecord {
                step: 20,
                epoch: 2,
                ..Default::default()
            }],
            probes: vec![
                ProbeRecord {
                    step: 20,
                    epoch: 2,
                    probes: vec![score("a", 0.5), score("b", 0.1)],
                },
                ProbeRecord {
                    step: 0,
                    epoch: 4,
                    probes: vec![score("a", 0.7)],
                },
            ],
            ..Default::default()
        };
        assert_eq!(probe_raw(&m, "a", true), [(2.0, 0.5), (4.0, 0.7)]);
        assert_eq!(probe_raw(&m, "a", false), [(20.0, 0.5), (40.0, 0.7)]);
        assert_eq!(probe_raw(&m, "b", true), [(2.0, 0.1)]);
        assert_eq!(probe_metric(&m, "b"), Some("R²"));
        assert_eq!(probe_metric(&m, "c"), None);
    }

    #[test]
    fn log_scale_drops_non_positive_and_window_clips() {
        let opts = PlotOptions {
            log_y: true,
            ..PlotOptions::default()
        };
        let pts = [(0.0, 0.0), (1.0, 10.0), (2.0, 100.0), (3.0, -1.0)];
        assert_eq!(transform(&pts, &opts, None), vec![(1.0, 1.0), (2.0, 2.0)]);
        assert_eq!(transform(&pts, &opts, Some(1.5)), vec![(2.0, 2.0)]);
        let many: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        let thinned = transform(&many, &PlotOptions::default(), None);
        assert!(thinned.len() <= MAX_POINTS + 1);
        assert_eq!(thinned.last(), Some(&(9999.0, 1.0)));
    }
}
