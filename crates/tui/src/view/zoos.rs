//! Zoos view: generated zoos and zoo files; for the zoo under the cursor, its facts and the
//! test-accuracy distribution of its networks at each checkpoint epoch (quartiles and a box plot
//! on [0, 1]).
use crate::app::App;
use crate::store::{RunInfo, ZooInfo, ZooState};
use crate::view::accuracy::five_numbers;
use crate::view::block;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

/// What the Zoos view keeps between frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The zoo under the cursor.
    pub cursor: usize,
}

/// Width of the box plots.
const BOX_WIDTH: usize = 21;

/// A box plot of `[min, q25, median, q75, max]` on [0, 1], `width` characters wide:
/// `-` whiskers, `=` the box, `|` the median.
pub fn box_plot(q: [f64; 5], width: usize) -> String {
    if q.iter().any(|v| !v.is_finite()) || width < 2 {
        return String::new();
    }
    let at = |v: f64| ((v.clamp(0.0, 1.0) * (width - 1) as f64).round()) as usize;
    let [lo, q1, med, q3, hi] = q.map(at);
    (0..width)
        .map(|i| match i {
            _ if i == med => '|',
            _ if (q1..=q3).contains(&i) => '=',
            _ if (lo..=hi).contains(&i) => '-',
            _ => ' ',
        })
        .collect()
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let zoos = app.zoo_rows();
    let [list, detail] =
        Layout::horizontal([Constraint::Percentage(32), Constraint::Percentage(68)]).areas(area);
    let rows = zoos.iter().map(|&i| {
        let z = &app.snapshot.zoos[i];
        let color = match z.status {
            ZooState::Complete => p.good,
            ZooState::Generating => p.accent,
            ZooState::Invalid => p.bad,
            ZooState::Defined => p.muted,
        };
        Row::new([
            Cell::new(z.name.clone()),
            Cell::new(z.status.label()).style(Style::new().fg(color)),
            Cell::new(z.models.to_string()),
        ])
    });
    let mut title = String::from("Zoos");
    if !app.filter.is_empty() {
        title.push_str(&format!(" (filter: {})", app.filter));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(5),
        ],
    )
    .header(Row::new(["name", "status", "nets"]).style(p.header()))
    .block(block(title, app))
    .row_highlight_style(p.highlight())
    .highlight_symbol(">");
    let mut state =
        TableState::default().with_selected((!zoos.is_empty()).then_some(app.zoos.cursor));
    frame.render_stateful_widget(table, list, &mut state);
    match app.current_zoo() {
        Some(z) => render_detail(frame, detail, z, app),
        None => {
            let msg = Paragraph::new(Line::styled("no zoos yet", p.dim())).block(block("", app));
            frame.render_widget(msg, detail);
        }
    }
}

fn render_detail(frame: &mut Frame, area: Rect, z: &ZooInfo, app: &App) {
    let p = &app.palette;
    let mut facts = vec![
        Line::raw(format!(
            "{} networks, {} ({} params), {}, epochs {}",
            z.models, z.arch, z.params, z.dataset, z.epochs
        )),
        Line::raw(format!("checkpoints {:?}", z.checkpoints)),
    ];
    if !z.definition_rel.is_empty() {
        facts.push(Line::styled(
            format!("defined in {}", z.definition_rel),
            p.dim(),
        ));
    }
    if !z.description.is_empty() {
        facts.push(Line::styled(z.description.clone(), p.dim()));
    }
    if let Some(e) = &z.error {
        facts.push(Line::styled(e.clone(), Style::new().fg(p.bad)));
    }
    let runs = app.snapshot.runs_on_zoo(z);
    let runs_height = if runs.is_empty() {
        0
    } else {
        runs.len().min(6) as u16 + 3
    };
    let [top, bottom, runs_area] = Layout::vertical([
        Constraint::Length(facts.len() as u16 + 2),
        Constraint::Min(0),
        Constraint::Length(runs_height),
    ])
    .areas(area);
    if !runs.is_empty() {
        render_runs(frame, runs_area, runs, z, app);
    }
    let facts = Paragraph::new(facts)
        .wrap(Wrap { trim: true })
        .block(block(z.name.clone(), app));
    frame.render_widget(facts, top);
    if z.accuracy.is_empty() {
        let why = match z.status {
            ZooState::Defined => "not generated yet: r generates it",
            ZooState::Generating => "the distribution appears when the generation completes",
            _ => "no accuracy recorded",
        };
        let msg = Paragraph::new(Line::styled(why, p.dim())).block(block("test accuracy", app));
        frame.render_widget(msg, bottom);
        return;
    }
    let rows = z.accuracy.iter().map(|a| {
        let [lo, q1, med, q3, hi] = a.quantiles.map(|q| format!("{q:.3}"));
        Row::new([
            a.epoch.to_string(),
            a.ok.to_string(),
            a.failed.to_string(),
            lo,
            q1,
            med,
            q3,
            hi,
            box_plot(a.quantiles, BOX_WIDTH),
        ])
    });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(BOX_WIDTH as u16),
    ];
    let header = Row::new([
        "epoch", "ok", "bad", "min", "q25", "med", "q75", "max", "0 .. 1",
    ])
    .style(p.header());
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block("test accuracy", app));
    frame.render_widget(table, bottom);
}

/// The runs trained on the zoo, with the median test accuracy of their original,
/// reconstructed and generated networks (accuracies.csv); `>` marks the run whose accuracy
/// distributions Enter opens.
fn render_runs(frame: &mut Frame, area: Rect, runs: &[usize], z: &ZooInfo, app: &App) {
    let p = &app.palette;
    let linked = app.snapshot.accuracy_run_of_zoo(z);
    let median = |r: &RunInfo, group: &str| {
        r.accuracies
            .iter()
            .find(|(g, _)| g == group)
            .and_then(|(_, v)| five_numbers(v))
            .map_or_else(|| "-".to_string(), |q| format!("{:.3}", q[2]))
    };
    let rows = runs.iter().map(|&i| {
        let r = &app.snapshot.runs[i];
        Row::new([
            if Some(i) == linked { ">" } else { " " }.to_string(),
            r.name.clone(),
            r.phase.label().to_string(),
            median(r, "original"),
            median(r, "reconstructed"),
            median(r, "generated"),
        ])
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
    ];
    let title = match linked {
        Some(_) => "runs on this zoo: median test accuracy (Enter: distributions of >)",
        None => "runs on this zoo: median test accuracy",
    };
    let table = Table::new(rows, widths)
        .header(Row::new(["", "run", "state", "original", "recon.", "generated"]).style(p.header()))
        .column_spacing(1)
        .block(block(title, app));
    frame.render_widget(table, area);
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[
    (crate::app::Action::Enter, "accuracy"),
    (crate::app::Action::Launch, "generate"),
    (crate::app::Action::Filter, "filter"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_plot_marks_quartiles() {
        assert_eq!(box_plot([0.0, 0.25, 0.5, 0.75, 1.0], 9), "--==|==--");
        assert_eq!(box_plot([0.5, 0.5, 0.5, 0.5, 0.5], 5), "  |  ");
        assert_eq!(box_plot([f64::NAN; 5], 5), "");
    }
}
