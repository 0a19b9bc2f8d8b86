//! Accuracy distributions: the Results view's other page ([`crate::app::Action::ToggleAccuracy`]).
//!
//! A run's accuracies.csv holds the test accuracy of every network of each group (`original`
//! and `reconstructed` from `hyperzoo eval`; `anchors`, `generated`, `generated+K` and
//! `random+K` from `hyperzoo generate`). Each group gets a row: its size, a box plot (`-`
//! whiskers, `=` the quartile box, `|` the median) and its five-number summary; with room, a
//! histogram row below it. Every group is drawn on one shared accuracy axis, labelled at the
//! bottom, so that original vs reconstructed vs generated (and fine-tuned vs random) compare at
//! a glance.
use crate::app::{Action, App};
use crate::store::RunInfo;
use crate::view::block;
use crate::view::zoos::box_plot;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Width of the group label column.
const LABEL: usize = 14;
/// Width of the network count column.
const COUNT: usize = 4;
/// Width of each of the five number columns.
const NUM: usize = 6;

/// The five-number summary (min, q25, median, q75, max) of the finite values, linearly
/// interpolated; `None` when there is none.
pub fn five_numbers(values: &[f64]) -> Option<[f64; 5]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some([0.0, 0.25, 0.5, 0.75, 1.0].map(|q| crate::store::quantile(&v, q)))
}

/// The shared axis of the groups: from the smallest to the largest finite value, widened to
/// multiples of 0.05 and kept within [0, 1] (accuracies); `[0, 1]` when there is nothing.
pub fn axis(groups: &[(String, Vec<f64>)]) -> (f64, f64) {
    let all = groups.iter().flat_map(|(_, v)| v).filter(|x| x.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    });
    if lo > hi {
        return (0.0, 1.0);
    }
    let lo = ((lo / 0.05).floor() * 0.05).clamp(0.0, 1.0);
    let mut hi = ((hi / 0.05).ceil() * 0.05).clamp(0.0, 1.0);
    if hi - lo < 0.05 {
        hi = (lo + 0.05).min(1.0);
    }
    let lo = if hi - lo < 0.05 { hi - 0.05 } else { lo };
    (lo, hi)
}

/// A histogram of the finite `values` over `[lo, hi]` in `width` columns, one character per
/// column, its height relative to the fullest column: `ramp[0]` empty, the last character
/// full, an occupied column at least `ramp[1]`.
pub fn histogram(values: &[f64], lo: f64, hi: f64, width: usize, ramp: &[char]) -> String {
    if width == 0 || ramp.len() < 2 {
        return String::new();
    }
    let mut counts = vec![0usize; width];
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    for &x in values.iter().filter(|x| x.is_finite()) {
        let i = (((x - lo) / span) * width as f64).floor();
        counts[(i.max(0.0) as usize).min(width - 1)] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let top = ramp.len() - 1;
    counts
        .iter()
        .map(|&c| match c {
            0 => ramp[0],
            c => ramp[(c * top).div_ceil(most).clamp(1, top)],
        })
        .collect()
}

/// The colour of a group: originals and anchors, reconstructions, generated (fine-tuned or
/// not) and random initialisation each have theirs.
fn group_color(group: &str, app: &App) -> Color {
    let family = group.split('+').next().unwrap_or(group);
    match family {
        "original" | "anchors" => app.palette.series(0),
        "reconstructed" => app.palette.series(1),
        "generated" => app.palette.series(2),
        "random" => app.palette.series(3),
        _ => app.palette.fg,
    }
}

/// The lines of the page for `run`, `width` columns wide; `height` rows decide whether each
/// group gets a histogram row.
pub fn lines(run: &RunInfo, app: &App, width: usize, height: usize) -> Vec<Line<'static>> {
    let p = &app.palette;
    let groups = &run.accuracies;
    let (lo, hi) = axis(groups);
    // label, count, plot, five numbers; a space before each column after the first.
    let fixed = 1 + LABEL + 1 + COUNT + 2 + 5 * (NUM + 1);
    let plot = width.saturating_sub(fixed).max(10);
    let histograms = 3 + 2 * groups.len() <= height;
    let ramp: &[char] = if app.plot.ascii {
        &[' ', '.', ':', '-', '=', '+', '*', '#']
    } else {
        &[' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█']
    };
    let numbers = |q: Option<[f64; 5]>| -> String {
        match q {
            Some(q) => q.iter().map(|v| format!(" {v:>NUM$.3}")).collect(),
            None => format!(" {:>w$}", "-", w = 5 * (NUM + 1) - 1),
        }
    };
    let mut out = vec![Line::styled(
        format!(
            " {:<LABEL$} {:>COUNT$}  {:<plot$}{}",
            "group",
            "n",
            "min -[q25 =|median= q75]- max",
            ["min", "q25", "median", "q75", "max"]
                .iter()
                .map(|h| format!(" {h:>NUM$}"))
                .collect::<String>()
        ),
        p.header(),
    )];
    for (name, values) in groups {
        let q = five_numbers(values);
        let scaled = q.map(|q| q.map(|v| (v - lo) / (hi - lo)));
        let bx = scaled.map(|q| box_plot(q, plot)).unwrap_or_default();
        let n = values.iter().filter(|x| x.is_finite()).count();
        let style = Style::new().fg(group_color(name, app));
        out.push(Line::from(vec![
            Span::styled(format!(" {name:<LABEL$}"), style),
            Span::raw(format!(" {n:>COUNT$}  ")),
            Span::styled(format!("{bx:<plot$}"), style),
            Span::raw(numbers(q)),
        ]));
        if histograms {
            let h = histogram(values, lo, hi, plot, ramp);
            out.push(Line::from(vec![
                Span::raw(format!(" {:LABEL$} {:COUNT$}  ", "", "")),
                Span::styled(h, style),
            ]));
        }
    }
    // The shared axis under the plot column.
    let labels = crate::view::axis_labels(lo, hi, false);
    let mut axis_line = vec![' '; plot];
    let mut put = |at: usize, s: &str| {
        for (i, c) in s.chars().enumerate() {
            if let Some(cell) = axis_line.get_mut(at + i) {
                *cell = c;
            }
        }
    };
    put(0, &labels[0]);
    put((plot / 2).saturating_sub(labels[1].len() / 2), &labels[1]);
    put(plot.saturating_sub(labels[2].len()), &labels[2]);
    out.push(Line::styled(
        format!(
            " {:LABEL$} {:COUNT$}  {}",
            "",
            "",
            axis_line.into_iter().collect::<String>()
        ),
        p.dim(),
    ));
    out.push(Line::styled(
        " test accuracy of each network; every group on the same axis".to_string(),
        p.dim(),
    ));
    out
}

/// Draws the page for the shown run.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let run = app.focused_run();
    let name = run.map_or("-", |r| r.name.as_str());
    let key = app.keymap.keys_text(Action::ToggleAccuracy);
    let key = key.split(", ").next().unwrap_or("").to_string();
    let mut title = format!("Accuracy: {name} (accuracies.csv");
    if !key.is_empty() {
        title.push_str(&format!("; {key} tables"));
    }
    title.push(')');
    let Some(run) = run.filter(|r| !r.accuracies.is_empty()) else {
        let msg = match run {
            Some(_) => {
                "no accuracies.csv for this run yet (written by hyperzoo eval and hyperzoo generate)"
            }
            None => "no run: open one from the experiments view",
        };
        let msg = Paragraph::new(Line::styled(msg, p.dim())).block(block(title, app));
        frame.render_widget(msg, area);
        return;
    };
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let lines = lines(run, app, inner_w, inner_h);
    frame.render_widget(Paragraph::new(lines).block(block(title, app)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_numbers_skip_nan_and_interpolate() {
        let q = five_numbers(&[0.4, f64::NAN, 0.0, 0.2, 0.6]).unwrap();
        let want = [0.0, 0.15, 0.3, 0.45, 0.6];
        assert!(
            q.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{q:?}"
        );
        assert_eq!(five_numbers(&[f64::NAN]), None);
    }

    #[test]
    fn axis_is_shared_and_rounded_to_five_hundredths() {
        let g = |v: Vec<f64>| ("g".to_string(), v);
        let (lo, hi) = axis(&[g(vec![0.52, 0.61]), g(vec![0.12, f64::NAN])]);
        assert!(
            (lo - 0.10).abs() < 1e-12 && (hi - 0.65).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(axis(&[]), (0.0, 1.0));
        let (lo, hi) = axis(&[g(vec![1.0, 1.0])]);
        assert!((lo - 0.95).abs() < 1e-12 && hi == 1.0, "{lo} {hi}");
    }

    #[test]
    fn histogram_columns_scale_to_the_fullest() {
        let ramp = [' ', '.', ':', '#'];
        // Bins of 0.25: two values in the first, one in the third, one (the maximum) in the last.
        let h = histogram(&[0.0, 0.1, 0.6, 1.0, f64::NAN], 0.0, 1.0, 4, &ramp);
        assert_eq!(h, "# ::");
        assert_eq!(histogram(&[], 0.0, 1.0, 3, &ramp), "   ");
    }
}
