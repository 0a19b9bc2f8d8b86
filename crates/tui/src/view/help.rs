//! Help view: every action with its keys and description, generated from the keymap (so a
//! remapped key shows here as it is bound).
use crate::app::App;
use crate::view::block;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let bindings = app.keymap.bindings();
    let [keys, notes] = Layout::vertical([Constraint::Min(0), Constraint::Length(5)]).areas(area);
    // Two columns of bindings, so the whole keymap fits a 30-line terminal.
    let half = bindings.len().div_ceil(2);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(keys);
    for (part, rect, title) in [
        (&bindings[..half], left, "Keys"),
        (&bindings[half..], right, ""),
    ] {
        let rows = part.iter().map(|b| {
            let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
            Row::new([keys.join(", "), b.description.to_string()])
        });
        let table = Table::new(rows, [Constraint::Length(12), Constraint::Fill(1)])
            .block(block(title, app));
        frame.render_widget(table, rect);
    }
    let lines = vec![
        Line::raw("filter: type to narrow the rows, enter keeps the filter, esc clears it"),
        Line::raw("questions: y confirms, other keys cancel; e writes to <workspace>/exports"),
        Line::raw("q with live runs: k keeps them running headless until they end, s stops them"),
    ];
    let notes_block = block("", app);
    frame.render_widget(
        Paragraph::new(lines).style(p.dim()).block(notes_block),
        notes,
    );
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[(crate::app::Action::Back, "back")];
