//! Table view: the ablation table ([`hyperzoo_report::Ablation`]) of the selected runs, or of
//! the experiment under the experiments cursor, or of every run: one row per run (runs that
//! differ only by seed grouped into mean ± std with `m`), the keys that vary, then the final
//! metrics; `<` `>` choose the sort column, `o` reverses it, `/` filters, the best value of
//! each metric is marked `*`, Enter opens the row's run, `e` writes the table as shown to TOML
//! and CSV.
use crate::app::App;
use crate::view::block;
use crate::view::results::BEST_MARK;
use hyperzoo_report::ablation::Column;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row, Table, TableState};

/// What the Table view keeps between frames: its cursor, sort and grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The row under the cursor.
    pub cursor: usize,
    /// The column sorted by (an index into [`hyperzoo_report::Ablation::columns`]) and
    /// whether descending; `None`: the runs' order.
    pub sort: Option<(usize, bool)>,
    /// Runs that differ only by seed are one row, mean ± std.
    pub group_seeds: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            cursor: 0,
            sort: None,
            group_seeds: true,
        }
    }
}

/// Widest a key or metric column gets.
const MAX_COL: usize = 18;

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let (scope, t) = app.ablation();
    let mut title = format!("Table: {scope}");
    if t.grouped {
        title.push_str(if app.plot.ascii {
            ", seeds as mean +- std"
        } else {
            ", seeds as mean ± std"
        });
    }
    if !app.filter.is_empty() {
        title.push_str(&format!(" (filter: {})", app.filter));
    }
    if t.rows.is_empty() {
        frame.render_widget(block(title, app), area);
        let inner = area.inner(ratatui::layout::Margin::new(2, 2));
        let msg = if app.filter.is_empty() {
            "no runs to tabulate: select runs with space, or put the cursor on an experiment"
        } else {
            "nothing matches the filter"
        };
        frame.render_widget(Line::styled(msg, p.dim()), inner);
        return;
    }
    let cols = t.columns();
    let sorted = app.table.sort.and_then(|(c, d)| Some((*cols.get(c)?, d)));
    let best = t.best();
    let cell_text = |row: usize, c: Column| -> String {
        let r = &t.rows[row];
        match c {
            Column::Name => {
                if r.runs.len() > 1 {
                    format!("{} ({} runs)", r.name, r.runs.len())
                } else {
                    r.name.clone()
                }
            }
            Column::Key(k) => r.keys[k].clone(),
            Column::Metric(m) => match r.values[m] {
                Some(s) => {
                    let mut text = s.text(app.plot.ascii, r.runs.len());
                    if best[m] == Some(row) && t.rows.len() > 1 {
                        text.push(BEST_MARK);
                    }
                    text
                }
                None => "-".into(),
            },
        }
    };
    let header_text = |c: Column| -> String {
        let mut h = t.header(c).to_string();
        if let Some((sc, desc)) = sorted
            && sc == c
        {
            h.push_str(match (desc, app.plot.ascii) {
                (true, false) => " ▼",
                (false, false) => " ▲",
                (true, true) => " v",
                (false, true) => " ^",
            });
        }
        h
    };
    // Widths: the content's, capped; the name takes what is left.
    let width = |c: Column| -> usize {
        let content = (0..t.rows.len())
            .map(|r| cell_text(r, c).chars().count())
            .max()
            .unwrap_or(0);
        content.max(header_text(c).chars().count()).min(MAX_COL)
    };
    let name_min = 16usize;
    let avail = (area.width as usize).saturating_sub(2 + 2);
    let keys: Vec<Column> = cols
        .iter()
        .copied()
        .filter(|c| matches!(c, Column::Key(_)))
        .collect();
    let metrics: Vec<Column> = cols
        .iter()
        .copied()
        .filter(|c| matches!(c, Column::Metric(_)))
        .collect();
    let fixed: usize = keys.iter().map(|&c| width(c) + 1).sum::<usize>() + name_min;
    // Metric columns from `first` on, as many as fit; the sorted one is always among them.
    let fits = |from: usize| {
        let mut used = fixed;
        let mut n = 0;
        for &c in &metrics[from..] {
            used += width(c) + 1;
            if used > avail {
                break;
            }
            n += 1;
        }
        n
    };
    let mut first = 0;
    if let Some((Column::Metric(m), _)) = sorted {
        while first < m && first + fits(first) <= m {
            first += 1;
        }
    }
    let shown_metrics = &metrics[first..first + fits(first)];
    let shown: Vec<Column> = std::iter::once(Column::Name)
        .chain(keys.iter().copied())
        .chain(shown_metrics.iter().copied())
        .collect();
    let widths: Vec<Constraint> = shown
        .iter()
        .map(|&c| match c {
            Column::Name => Constraint::Fill(1),
            c => Constraint::Length(width(c) as u16),
        })
        .collect();
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rows: Vec<Row> = (0..t.rows.len())
        .map(|r| {
            Row::new(shown.iter().map(|&c| {
                let text = cell_text(r, c);
                let is_best =
                    matches!(c, Column::Metric(m) if best[m] == Some(r)) && t.rows.len() > 1;
                Cell::new(text).style(if is_best { bold } else { Style::new() })
            }))
        })
        .collect();
    let header = Row::new(shown.iter().map(|&c| header_text(c))).style(p.header());
    let hidden = metrics.len() - shown_metrics.len();
    if hidden > 0 {
        title.push_str(&format!(
            "; {hidden} more metric columns: < > move the sort column"
        ));
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(title, app))
        .column_spacing(1)
        .row_highlight_style(p.highlight())
        .highlight_symbol(">");
    let mut state = TableState::default().with_selected(Some(app.table.cursor));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[
    (crate::app::Action::SortNext, "sort"),
    (crate::app::Action::SortReverse, "reverse"),
    (crate::app::Action::GroupSeeds, "seeds"),
    (crate::app::Action::Filter, "filter"),
    (crate::app::Action::Enter, "open"),
    (crate::app::Action::Export, "export"),
];
