//! Compare view: the runs selected with Space, overlaid in their stable colours (loss and
//! validation R²), a legend made of the config values that differ between them, and a table of
//! those differences only.
use crate::app::App;
use crate::store::RunInfo;
use crate::view::block;
use crate::view::curves::{self, Curve, Series};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use std::collections::{BTreeMap, BTreeSet};

/// A config.toml as dotted keys (`loss.gamma`) and their values as written.
pub fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                toml::Value::String(s) => {
                    out.insert(key, s.clone());
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", table, &mut out);
    out
}

/// Keys whose values are not the same in every config (a missing key counts as a value);
/// `name` is left out, it always differs.
pub fn differing_keys(configs: &[BTreeMap<String, String>]) -> Vec<String> {
    let keys: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    keys.into_iter()
        .filter(|k| *k != "name")
        .filter(|k| {
            let first = configs.first().and_then(|c| c.get(*k));
            configs.iter().any(|c| c.get(*k) != first)
        })
        .cloned()
        .collect()
}

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
    let legend_height = runs.len() as u16 + 2;
    let [charts, legend, diff] = Layout::vertical([
        Constraint::Percentage(55),
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
    }
}
