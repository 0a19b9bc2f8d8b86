//! Drawing: pure functions of the [`App`] into a ratatui frame. [`render`] draws the tab bar,
//! the current view and the status bar; each view module has a `render(frame, area, &App)`.
//! With ASCII drawing on, every non-ASCII cell is replaced at the end (box drawing, braille,
//! bullets), so plain terminals and screen readers get plain characters.
use crate::app::{App, Mode, Row, View, question};
use crate::store::Phase;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs};

pub mod accuracy;
pub mod compare;
pub mod curves;
pub mod experiments;
pub mod help;
pub mod results;
pub mod run;
pub mod table;
pub mod zoos;

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Block::new().style(app.palette.text()), frame.area());
    render_tabs(frame, tabs, app);
    match app.view {
        View::Experiments => experiments::render(frame, body, app),
        View::Run => run::render(frame, body, app),
        View::Compare => compare::render(frame, body, app),
        View::Zoos => zoos::render(frame, body, app),
        View::Results => results::render(frame, body, app),
        View::Table => table::render(frame, body, app),
        View::Help => help::render(frame, body, app),
    }
    render_status(frame, status, app);
    if app.plot.ascii {
        ascii_only(frame.buffer_mut());
    }
}

fn render_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let titles = View::TABS.iter().map(|&v| {
        let key = app.keymap.keys_text(crate::app::Action::Goto(v));
        let key = key.split(", ").next().unwrap_or("").to_string();
        Line::from(format!("{key} {}", v.title()))
    });
    let current = View::TABS.iter().position(|&v| v == app.view);
    let tabs = Tabs::new(titles)
        .select(current)
        .style(p.dim())
        .highlight_style(p.header())
        .divider("|");
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(10)]).areas(area);
    frame.render_widget(tabs, left);
    frame.render_widget(
        Paragraph::new("hyperzoo ").style(p.dim()).right_aligned(),
        right,
    );
}

fn render_status(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", p.header()),
            Span::raw(app.filter.clone()),
            Span::styled("_", p.dim()),
            Span::styled("   enter keeps, esc clears", p.dim()),
        ]),
        Mode::Input(input) => Line::from(vec![
            Span::styled(
                match &input.purpose {
                    crate::app::InputPurpose::NewExperiment => "new experiment: ",
                    crate::app::InputPurpose::CopyExperiment(_) => "copy as: ",
                },
                p.header(),
            ),
            Span::raw(input.text.clone()),
            Span::styled("_", p.dim()),
            Span::styled("   enter creates and opens $EDITOR, esc cancels", p.dim()),
        ]),
        Mode::Confirm(pending) => Line::styled(
            question(pending, app.live_runs, app.queued_runs),
            Style::new().fg(p.warn),
        ),
        Mode::Normal => match &app.message {
            Some(m) => Line::styled(m.clone(), Style::new().fg(p.accent)),
            None if app.stopping => Line::styled(
                format!(
                    "stopping {} run(s): each ends at its next step with a checkpoint, then hyperzoo quits",
                    app.live_runs
                ),
                Style::new().fg(p.warn),
            ),
            None => {
                // The row's detail on the left, key hints on the right.
                let hints = hints(app);
                let width = (hints.len() as u16).min(area.width * 2 / 3);
                let [left, right] =
                    Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(area);
                frame.render_widget(Paragraph::new(detail(app)), left);
                frame.render_widget(Paragraph::new(hints).style(p.dim()).right_aligned(), right);
                return;
            }
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A line about the row under the cursor (a run's failure, an experiment's description).
fn detail(app: &App) -> String {
    let snap = &app.snapshot;
    match app.view {
        View::Experiments => match app.current_row() {
            Some(Row::Experiment(e)) => {
                let exp = &snap.experiments[e];
                exp.error.clone().unwrap_or_else(|| exp.description.clone())
            }
            Some(Row::Run(r)) => snap.runs[r]
                .status
                .as_ref()
                .map(|s| s.message.clone())
                .unwrap_or_default(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// Key hints for the current view, from the keymap.
fn hints(app: &App) -> String {
    use crate::app::Action as A;
    // Each view says which of its keys to show.
    let actions: &[(A, &str)] = match app.view {
        View::Experiments => experiments::HINTS,
        View::Run => run::HINTS,
        View::Compare => compare::HINTS,
        View::Zoos => zoos::HINTS,
        View::Results => results::hints(app),
        View::Table => table::HINTS,
        View::Help => help::HINTS,
    };
    let mut parts: Vec<String> = actions
        .iter()
        .chain([(A::Help, "help")].iter())
        // Keys that would do nothing for the run shown are left out.
        .filter(|(a, _)| match a {
            A::NextProbe => app
                .focused_run()
                .is_some_and(|r| app.probe_property(r).is_some()),
            A::ScrollDown => results::max_scroll(app) > 0,
            // The accuracy page is offered where the run has an accuracies.csv.
            A::ToggleAccuracy => {
                app.results.accuracy || app.focused_run().is_some_and(|r| !r.accuracies.is_empty())
            }
            _ => true,
        })
        .filter_map(|(a, label)| {
            let keys = app.keymap.keys_text(*a);
            let key = keys.split(", ").next().filter(|k| !k.is_empty())?;
            Some(format!("{key} {label}"))
        })
        .collect();
    parts.dedup();
    parts.join("  ")
}

/// A bordered block with a title.
pub(crate) fn block<'a>(title: impl Into<Line<'a>>, app: &App) -> Block<'a> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(app.palette.dim())
        .title(title)
        .title_style(app.palette.header())
}

/// The colour of a run state.
pub(crate) fn phase_style(phase: Phase, app: &App) -> Style {
    let p = &app.palette;
    Style::new().fg(match phase {
        Phase::Running => p.accent,
        Phase::Queued => p.fg,
        Phase::Finished => p.good,
        Phase::Failed => p.bad,
        Phase::Stale => p.warn,
        Phase::Cancelled | Phase::Pending => p.muted,
    })
}

/// A number in at most about 8 characters.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v}")
    } else if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// Three labels (low, middle, high) for an axis from `lo` to `hi`, with as many decimals as the
/// span needs. On a log axis the values are exponents and the labels their powers of ten.
pub fn axis_labels(lo: f64, hi: f64, log: bool) -> [String; 3] {
    let values = [lo, (lo + hi) / 2.0, hi];
    if log {
        return values.map(|v| {
            let real = 10f64.powf(v);
            if !(1e-2..1e5).contains(&real) {
                format!("{real:.1e}")
            } else {
                let d = (2.0 - real.log10().floor()).clamp(0.0, 4.0) as usize;
                format!("{real:.d$}")
            }
        });
    }
    let m = lo.abs().max(hi.abs());
    if m != 0.0 && !(1e-2..1e5).contains(&m) {
        return values.map(|v| format!("{v:.2e}"));
    }
    let span = (hi - lo).abs().max(1e-12);
    let d = ((-span.log10()).ceil() + 1.0).clamp(0.0, 4.0) as usize;
    values.map(|v| format!("{v:.d$}"))
}

/// An optional number, or `-`.
pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), fmt_num)
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
pub fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Replaces every non-ASCII cell with an ASCII look-alike.
pub fn ascii_only(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let c = sym.chars().next().unwrap_or(' ');
        let replacement = match c {
            '─' | '━' | '═' | '╌' | '┄' => "-",
            '│' | '┃' | '║' | '╎' | '┆' => "|",
            '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╰' | '╯' | '┏'
            | '┓' | '┗' | '┛' | '╔' | '╗' | '╚' | '╝' => "+",
            '\u{2800}' => " ",
            '\u{2801}'..='\u{28ff}' | '•' | '●' | '◆' => "*",
            '█' | '▄' | '▀' | '▌' | '▐' | '■' => "#",
            '…' => ".",
            '²' => "2",
            _ => "?",
        };
        cell.set_symbol(replacement);
    }
}
