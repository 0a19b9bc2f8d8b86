//! Results view (placeholder until the format of results.toml is fixed): the shown run's
//! results.toml drawn generically. A table of tables becomes a matrix (rows: inner tables,
//! columns: their keys), a table of values a key/value list, an array of tables a table.
use crate::app::App;
use crate::view::{block, fmt_num};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

/// A section of results: a title, column names and rows of cells (first cell is the row name).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The dotted key of the section.
    pub title: String,
    /// Column names (after the row-name column).
    pub columns: Vec<String>,
    /// Rows: a name then one cell per column.
    pub rows: Vec<Vec<String>>,
}

fn cell(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) => fmt_num(*f),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The sections of a results table: loose values first, then the tables by key.
pub fn sections(results: &toml::Table) -> Vec<Section> {
    let mut out = Vec::new();
    let mut loose = Vec::new();
    for (key, value) in results {
        match value {
            toml::Value::Table(t) if t.values().all(|v| v.is_table()) => {
                out.push(matrix(key, t.iter().map(|(k, v)| (k.clone(), v))));
            }
            toml::Value::Table(t) => out.push(Section {
                title: key.clone(),
                columns: vec!["value".into()],
                rows: t.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect(),
            }),
            toml::Value::Array(a) if a.iter().all(|v| v.is_table()) => {
                out.push(matrix(
                    key,
                    a.iter().enumerate().map(|(i, v)| (i.to_string(), v)),
                ));
            }
            other => loose.push(vec![key.clone(), cell(other)]),
        }
    }
    if !loose.is_empty() {
        out.insert(
            0,
            Section {
                title: "results".into(),
                columns: vec!["value".into()],
                rows: loose,
            },
        );
    }
    out
}

fn matrix<'a>(title: &str, rows: impl Iterator<Item = (String, &'a toml::Value)>) -> Section {
    let rows: Vec<(String, &toml::Table)> =
        rows.filter_map(|(k, v)| Some((k, v.as_table()?))).collect();
    let mut columns: Vec<String> = Vec::new();
    for (_, t) in &rows {
        for k in t.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let rows = rows
        .iter()
        .map(|(name, t)| {
            std::iter::once(name.clone())
                .chain(columns.iter().map(|c| t.get(c).map_or("-".into(), cell)))
                .collect()
        })
        .collect();
    Section {
        title: title.into(),
        columns,
        rows,
    }
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let p = &app.palette;
    let run = app.focused_run();
    let title = format!("Results: {}", run.map_or("-", |r| r.name.as_str()));
    let Some(results) = run.and_then(|r| r.results.as_ref()) else {
        let msg = match run {
            Some(_) => "no results.toml for this run yet (written by evaluation)",
            None => "no run: open one from the experiments view",
        };
        let msg = Paragraph::new(Line::styled(msg, p.dim())).block(block(title, app));
        frame.render_widget(msg, area);
        return;
    };
    let sections = sections(results);
    let heights = sections
        .iter()
        .map(|s| Constraint::Length(s.rows.len() as u16 + 3));
    let areas = Layout::vertical(heights.chain([Constraint::Min(0)])).split(area);
    for (s, &a) in sections.iter().zip(areas.iter()) {
        let header = std::iter::once(Cell::new(""))
            .chain(s.columns.iter().map(|c| Cell::new(c.clone())))
            .collect::<Row>()
            .style(p.header());
        let rows = s
            .rows
            .iter()
            .map(|r| r.iter().map(|c| Cell::new(c.clone())).collect::<Row>());
        let widths = std::iter::once(Constraint::Length(18))
            .chain(s.columns.iter().map(|_| Constraint::Length(10)));
        let table = Table::new(rows, widths)
            .header(header)
            .block(block(format!("{title} [{}]", s.title), app));
        frame.render_widget(table, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_sections() {
        let t: toml::Table = toml::from_str(
            "seed = 1\n[probe.acc]\nW = 0.5\nhyper = 0.75\n[probe.lr]\nW = 0.25\n[recon]\nr2 = 0.9\n[[gen]]\nn = 3\n",
        )
        .unwrap();
        let s = sections(&t);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["results", "gen", "probe", "recon"]);
        assert_eq!(s[2].columns, ["W", "hyper"]);
        assert_eq!(s[2].rows[1], ["lr", "0.2500", "-"]);
        assert_eq!(s[3].rows, [["r2", "0.9000"]]);
        assert_eq!(s[1].rows, [["0", "3"]]);
    }
}
