//! Run view: one run's progress line (state, step, epoch, ETA, throughput), where it runs
//! (device, and the resident memory of this process, whose threads the runs launched here
//! are), its tags and note (notes.toml), its curves (total
//! loss and each term; validation R²; learning rate; with probe records in its metrics, the
//! test score of one property's probe, cycled with [`crate::app::Action::NextProbe`]) and the
//! tail of its log.
use crate::app::App;
use crate::store::RunInfo;
use crate::view::curves::{self, Curve, Series};
use crate::view::{block, fmt_duration, phase_style};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What the Run view keeps between frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The property whose probe curve is shown (see [`App::probe_property`]); `None`: the first.
    pub probe: Option<String>,
}

/// Draws the view.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(run) = app.focused_run() else {
        let msg = Paragraph::new(Line::styled(
            "no run: open one from the experiments view",
            app.palette.dim(),
        ))
        .block(block("Run", app));
        frame.render_widget(msg, area);
        return;
    };
    let head_lines = header(run, app);
    let [head, charts, log] = Layout::vertical([
        Constraint::Length(head_lines.len() as u16),
        Constraint::Min(6),
        Constraint::Length(7),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(head_lines), head);
    let epochs = curves::in_epochs([run]);
    let from = curves::window_start(&run.metrics, &app.plot, epochs);
    let curve = |label: String, points: Vec<(f64, f64)>, slot: usize| Curve {
        label,
        color: app.palette.series(slot),
        points: curves::transform(&points, &app.plot, from),
    };
    let series = |s: Series, slot: usize| {
        curve(
            s.label().to_string(),
            curves::raw(&run.metrics, s, epochs),
            slot,
        )
    };
    let losses: Vec<Curve> = [
        Series::Loss,
        Series::Contrast,
        Series::Structure,
        Series::Behaviour,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, s)| series(s, i))
    .filter(|c| !c.points.is_empty())
    .collect();
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(charts);
    let halves = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]);
    // With probe records, the probe curve takes the lr chart's place beside val R², and the lr
    // chart goes below the loss (it changes slowly, a few rows show it).
    let (loss_area, r2_area, lr_area) = match app.probe_property(run) {
        Some(property) => {
            let [loss_area, lr_area] =
                Layout::vertical([Constraint::Min(6), Constraint::Length(7)]).areas(left);
            let [r2_area, probe_area] = halves.areas(right);
            let metric = curves::probe_metric(&run.metrics, property).unwrap_or("score");
            let title = format!("probe {property} ({metric}, test)");
            let points = curves::probe_raw(&run.metrics, property, epochs);
            let probe = [curve(property.to_string(), points, 2)];
            curves::render_chart(frame, probe_area, &title, &probe, epochs, false, app);
            (loss_area, r2_area, lr_area)
        }
        None => {
            let [r2_area, lr_area] = halves.areas(right);
            (left, r2_area, lr_area)
        }
    };
    curves::render_chart(frame, loss_area, "loss", &losses, epochs, true, app);
    let r2 = [series(Series::ValR2, 0)];
    curves::render_chart(frame, r2_area, "val R²", &r2, epochs, false, app);
    let lr = [series(Series::Lr, 1)];
    curves::render_chart(frame, lr_area, "lr", &lr, epochs, false, app);
    let shown = log.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = run.log_tail[run.log_tail.len().saturating_sub(shown)..]
        .iter()
        .map(|l| Line::raw(l.clone()))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block("log.txt", app)), log);
}

/// Bytes as `512 KiB`, `123 MiB` or `1.2 GiB`.
pub fn fmt_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.0} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

/// Two or three lines: name, state, progress and ETA; throughput, device, the memory of this
/// process, the plot options and the status message; the tags and the note's first line, when
/// the run has any.
fn header<'a>(run: &'a RunInfo, app: &App) -> Vec<Line<'a>> {
    let p = &app.palette;
    let mut first = vec![
        Span::styled(run.name.as_str(), p.header()),
        Span::raw("  "),
        Span::styled(run.phase.label(), phase_style(run.phase, app)),
        Span::raw("  "),
    ];
    let step = run.step();
    match run.total_steps() {
        Some(total) if total > 0 => {
            let frac = (step as f64 / total as f64).clamp(0.0, 1.0);
            let filled = (frac * 20.0).round() as usize;
            first.push(Span::raw(format!(
                "[{}{}] {:3.0}%  step {step}/{total}",
                "=".repeat(filled),
                " ".repeat(20 - filled),
                frac * 100.0
            )));
        }
        _ => first.push(Span::raw(format!("step {step}"))),
    }
    if let Some(s) = &run.status {
        first.push(Span::raw(format!("  epoch {}/{}", s.epoch, s.epochs)));
    }
    if let Some(eta) = run.eta_seconds() {
        first.push(Span::raw(format!("  ETA {}", fmt_duration(eta))));
    }
    // The run's evaluation or generation job: its state and stage, or how it ended.
    if let Some(j) = &run.job {
        first.push(Span::styled(
            format!("  {} {}: {}", j.task.name(), j.state.name(), j.message),
            p.dim(),
        ));
    }
    let on = |b: bool| if b { "on" } else { "off" };
    let opts = &app.plot;
    let window = if opts.full_history {
        "all".to_string()
    } else {
        format!("last {}", opts.window)
    };
    // Where the run trains, and the memory of this process (runs launched here are its
    // threads), then the plot options and the status message.
    let mut second = String::new();
    if let Some(last) = run.metrics.steps.last() {
        second.push_str(&format!("{:.0} samples/s  ", last.samples_per_s));
    }
    second.push_str(&format!(
        "device {}  process memory {}  ",
        run.device(),
        app.memory.map_or_else(|| "-".to_string(), fmt_bytes)
    ));
    second.push_str(&format!(
        "smoothing {}  log scale {}  history {window}",
        on(opts.smooth),
        on(opts.log_y)
    ));
    if let Some(s) = run.status.as_ref().filter(|s| !s.message.is_empty()) {
        second.push_str(&format!("  | {}", s.message));
    }
    let mut lines = vec![Line::from(first), Line::styled(second, p.dim())];
    // A third line for the tags and the note's first line, only when there are any.
    let mut third = Vec::new();
    if !run.notes.tags.is_empty() {
        third.push(Span::styled("tags ", p.dim()));
        third.push(Span::styled(
            run.notes.tags.join(", "),
            ratatui::style::Style::new().fg(p.accent),
        ));
    }
    let note = run.notes.note.trim();
    if !note.is_empty() {
        let mut text = note.lines().next().unwrap_or("").to_string();
        if note.lines().count() > 1 {
            text.push_str(" ...");
        }
        if !third.is_empty() {
            third.push(Span::raw("  "));
        }
        third.push(Span::styled("note ", p.dim()));
        third.push(Span::raw(text));
    }
    if !third.is_empty() {
        lines.push(Line::from(third));
    }
    lines
}

/// The keys the status bar offers in this view.
pub const HINTS: &[(crate::app::Action, &str)] = &[
    (crate::app::Action::ToggleSmoothing, "smooth"),
    (crate::app::Action::ToggleLogScale, "log"),
    (crate::app::Action::ToggleWindow, "window"),
    (crate::app::Action::ZoomIn, "zoom"),
    (crate::app::Action::NextProbe, "probe"),
    (crate::app::Action::Export, "export"),
];
