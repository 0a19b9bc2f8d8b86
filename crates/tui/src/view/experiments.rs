//! Experiments view: each experiment file followed by its runs, with state, progress, epoch,
//! last loss and last validation R²; runs selected for comparison are marked in their colour,
//! and a run's tags (its notes.toml) follow its name in brackets.
use crate::app::{App, Row};
use crate::view::{block, fmt_opt, phase_style};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row as TableRow, Table, TableState};

/// What the Experiments view keeps between frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The row under the cursor.
    pub cursor: usize,
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let snap = &app.snapshot;
    let rows: Vec<TableRow> = app
        .rows()
        .into_iter()
        .map(|row| match row {
            Row::Experiment(e) => {
                let exp = &snap.experiments[e];
                let (status, style) = match &exp.error {
                    Some(_) => ("invalid".to_string(), Style::new().fg(p.bad)),
                    None => {
                        let n = exp.runs.len();
                        (format!("{n} run{}", if n == 1 { "" } else { "s" }), p.dim())
                    }
                };
                TableRow::new([
                    Cell::new(""),
                    Cell::new(exp.rel.clone()).style(Style::new().add_modifier(Modifier::BOLD)),
                    Cell::new(status).style(style),
                ])
            }
            Row::Unmatched => TableRow::new([
                Cell::new(""),
                Cell::new("(runs of no experiment file)").style(p.dim()),
            ]),
            Row::Run(r) => {
                let run = &snap.runs[r];
                let mark = match app.slot(&run.name) {
                    Some(s) => Cell::new("*").style(Style::new().fg(p.series(s))),
                    None => Cell::new(""),
                };
                let step = match run.total_steps() {
                    Some(t) => format!("{}/{t}", run.step()),
                    None => run.step().to_string(),
                };
                let epoch = run
                    .status
                    .as_ref()
                    .map(|s| format!("{}/{}", s.epoch, s.epochs))
                    .unwrap_or_default();
                let mut name = vec![Span::raw(format!("  {}", run.name))];
                if !run.notes.tags.is_empty() {
                    name.push(Span::styled(
                        format!("  [{}]", run.notes.tags.join(", ")),
                        Style::new().fg(p.accent),
                    ));
                }
                TableRow::new([
                    mark,
                    Cell::new(Line::from(name)),
                    Cell::new(run.status_label()).style(phase_style(run.phase, app)),
                    Cell::new(step),
                    Cell::new(epoch),
                    Cell::new(fmt_opt(run.last_loss())),
                    Cell::new(fmt_opt(run.last_val_r2())),
                ])
            }
        })
        .collect();
    let empty = rows.is_empty();
    let header =
        TableRow::new(["", "name", "status", "step", "epoch", "loss", "val R²"]).style(p.header());
    let mut title = String::from("Experiments");
    if !app.filter.is_empty() {
        title.push_str(&format!(" (filter: {})", app.filter));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .block(block(title, app))
    .row_highlight_style(p.highlight())
    .highlight_symbol(">");
    let mut state = TableState::default().with_selected((!empty).then_some(app.experiments.cursor));
    frame.render_stateful_widget(table, area, &mut state);
    if empty {
        let msg = if app.filter.is_empty() {
            "no experiment files or runs yet"
        } else {
            "nothing matches the filter"
        };
        let inner = area.inner(ratatui::layout::Margin::new(2, 2));
        frame.render_widget(Line::styled(msg, p.dim()), inner);
    }
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[
    (crate::app::Action::Enter, "open"),
    (crate::app::Action::Launch, "launch"),
    (crate::app::Action::Edit, "edit"),
    (crate::app::Action::NewExperiment, "new"),
    (crate::app::Action::Stop, "stop"),
    (crate::app::Action::Filter, "filter"),
];
