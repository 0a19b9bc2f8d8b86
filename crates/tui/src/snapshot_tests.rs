//! Snapshot tests of every view: the fixture workspace drawn at 100x30 with the plain theme
//! (ASCII markers), compared as text with the files in `src/snapshots/`.
use crate::app::{Action, App, Mode, Pending, View, update};
use crate::fixture;
use crate::keymap::Keymap;
use crate::store::Snapshot;
use crate::theme;
use crate::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::SystemTime;

fn app() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, exp) = fixture::workspace(tmp.path());
    let snap = Snapshot::read(&ws, &exp, SystemTime::now());
    let app = App::new(snap, theme::builtin("plain").unwrap(), Keymap::default());
    (tmp, app)
}

fn draw(app: &App) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| view::render(f, app)).unwrap();
    let backend = terminal.backend().clone();
    let text = backend.to_string();
    assert!(
        text.is_ascii(),
        "ASCII drawing left a non-ASCII cell:\n{text}"
    );
    backend
}

fn select(app: &mut App, runs: &[&str]) {
    for run in runs {
        app.focus = Some(run.to_string());
        app.view = View::Run;
        update(app, Action::Select);
    }
    app.focus = None;
}

#[test]
fn experiments() {
    let (_tmp, mut app) = app();
    select(&mut app, &["gamma-loss.gamma=0.1", "quickstart"]);
    app.view = View::Experiments;
    app.experiments.cursor = 2;
    insta::assert_snapshot!("experiments", draw(&app));
}

#[test]
fn experiments_filter_and_confirmation() {
    let (_tmp, mut app) = app();
    app.filter = "gamma".into();
    app.mode = Mode::Filter;
    insta::assert_snapshot!("experiments_filter", draw(&app));
    app.mode = Mode::Confirm(Pending::Stop("gamma-loss.gamma=0.1".into()));
    app.experiments.cursor = 1;
    insta::assert_snapshot!("experiments_confirm_stop", draw(&app));
}

#[test]
fn run() {
    let (_tmp, mut app) = app();
    app.focus = Some("gamma-loss.gamma=0.1".into());
    app.view = View::Run;
    // The shell sets the memory of the process; a fixed value keeps the snapshot stable.
    app.memory = Some(123 * 1024 * 1024);
    insta::assert_snapshot!("run", draw(&app));
}

#[test]
fn run_smoothed_log_scale_recent_window() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Run;
    for a in [
        Action::ToggleSmoothing,
        Action::ToggleLogScale,
        Action::ToggleWindow,
    ] {
        update(&mut app, a);
    }
    app.plot.window = 20;
    insta::assert_snapshot!("run_options", draw(&app));
}

#[test]
fn run_with_probe_curve() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Run;
    insta::assert_snapshot!("run_probes", draw(&app));
    update(&mut app, Action::NextProbe);
    assert_eq!(app.run_view.probe.as_deref(), Some("epoch"));
    insta::assert_snapshot!("run_probes_next", draw(&app));
}

#[test]
fn compare() {
    let (_tmp, mut app) = app();
    select(
        &mut app,
        &["quickstart", "gamma-loss.gamma=0.1", "gamma-loss.gamma=0.5"],
    );
    app.view = View::Compare;
    insta::assert_snapshot!("compare", draw(&app));
    app.selected.clear();
    insta::assert_snapshot!("compare_empty", draw(&app));
}

#[test]
fn compare_seeds() {
    let (tmp, mut app) = app();
    let names = fixture::seed_runs(&tmp.path().join("workspace/runs"));
    app.set_snapshot(Snapshot::read(
        &tmp.path().join("workspace"),
        &tmp.path().join("experiments"),
        SystemTime::now(),
    ));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    select(&mut app, &names);
    app.view = View::Compare;
    insta::assert_snapshot!("compare_seeds", draw(&app));
}

#[test]
fn zoos() {
    let (_tmp, mut app) = app();
    app.view = View::Zoos;
    app.zoos.cursor = 1;
    insta::assert_snapshot!("zoos", draw(&app));
    app.zoos.cursor = 0;
    insta::assert_snapshot!("zoos_definition", draw(&app));
}

#[test]
fn results() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Results;
    insta::assert_snapshot!("results", draw(&app));
    // Scrolling stops where the content ends (the shell tells the app the terminal's height).
    app.screen_height = 30;
    for _ in 0..3 {
        update(&mut app, Action::ScrollDown);
    }
    assert_eq!(app.results.scroll, view::results::max_scroll(&app));
    insta::assert_snapshot!("results_scrolled", draw(&app));
    update(&mut app, Action::ScrollUp);
    assert_eq!(
        app.results.scroll,
        view::results::max_scroll(&app).saturating_sub(5)
    );
    app.focus = Some("orphan".into());
    insta::assert_snapshot!("results_missing", draw(&app));
}

#[test]
fn open_run_draws_its_results_view() {
    // `hyperzoo tui --open quickstart` from the Experiments view draws what focusing the run
    // and switching to the Results tab draws.
    let (_tmp, mut app) = app();
    app.open_run("quickstart").unwrap();
    let (_tmp2, mut by_hand) = self::app();
    by_hand.focus = Some("quickstart".into());
    by_hand.view = View::Results;
    let screen = draw(&app).to_string();
    assert_eq!(screen, draw(&by_hand).to_string());
    // The same screen as the `results` snapshot.
    insta::assert_snapshot!("results", screen);
    // A run the workspace lacks leaves the workbench where it was.
    let mut other = self::app().1;
    assert!(other.open_run("no-such-run").is_err());
    assert_eq!(other.view, View::Experiments);
    update(&mut app, Action::Back);
    assert_eq!(app.view, View::Experiments);
}

#[test]
fn results_in_a_small_terminal_are_clipped_and_scroll() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Results;
    app.screen_height = 12;
    update(&mut app, Action::ScrollDown);
    let mut terminal = Terminal::new(TestBackend::new(50, 12)).unwrap();
    terminal.draw(|f| view::render(f, &app)).unwrap();
    let text = terminal.backend().to_string();
    assert!(text.contains("(lines 6-13 of 35"), "{text}");
    assert!(
        text.contains("| epoch     acc     0.800*  0.450   0.800*   "),
        "{text}"
    );
}

#[test]
fn results_accuracy_distributions() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Results;
    update(&mut app, Action::ToggleAccuracy);
    assert!(app.results.accuracy);
    insta::assert_snapshot!("results_accuracy", draw(&app));
    // A run without accuracies.csv says where the file comes from.
    app.focus = Some("gamma-loss.gamma=0.5".into());
    insta::assert_snapshot!("results_accuracy_missing", draw(&app));
    update(&mut app, Action::ToggleAccuracy);
    assert!(!app.results.accuracy);
}

#[test]
fn experiments_filter_matches_tags() {
    let (_tmp, mut app) = app();
    app.filter = "PAPER".into();
    let names: Vec<&str> = app
        .rows()
        .into_iter()
        .filter_map(|r| match r {
            crate::app::Row::Run(i) => Some(app.snapshot.runs[i].name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["gamma-loss.gamma=0.5"]);
}

#[test]
fn help() {
    let (_tmp, mut app) = app();
    update(&mut app, Action::Help);
    insta::assert_snapshot!("help", draw(&app));
}

#[test]
fn braille_markers_without_ascii() {
    let (_tmp, mut app) = app();
    app.plot.ascii = false;
    app.focus = Some("quickstart".into());
    app.view = View::Run;
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| view::render(f, &app)).unwrap();
    let text = terminal.backend().to_string();
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "{text}"
    );
}

/// The fixture workspace with three runs that differ only by seed, selected.
fn table_app() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, exp) = fixture::workspace(tmp.path());
    let seeds = fixture::seed_runs(&ws.join("runs"));
    let snap = Snapshot::read(&ws, &exp, SystemTime::now());
    let mut app = App::new(snap, theme::builtin("plain").unwrap(), Keymap::default());
    let names: Vec<&str> = seeds.iter().map(String::as_str).collect();
    select(&mut app, &names);
    app.view = View::Table;
    (tmp, app)
}

#[test]
fn table_grouped_by_seed_and_sorted() {
    let (_tmp, mut app) = table_app();
    insta::assert_snapshot!("table_grouped", draw(&app));
    // One row per seed, sorted by the fourth column (run, seed, val loss, val R²: highest
    // first).
    update(&mut app, Action::GroupSeeds);
    for _ in 0..4 {
        update(&mut app, Action::SortNext);
    }
    insta::assert_snapshot!("table_runs_sorted", draw(&app));
}

/// An evaluation job on the quickstart run, at its stage: the run list says `eval`, the Run
/// view the stage (job.toml, as the library's task writes it).
#[test]
fn evaluation_job_progress_in_the_run_list_and_run_view() {
    use hyperzoo_core::run::{JobStatus, RunDir, RunState, Task};
    let tmp = tempfile::tempdir().unwrap();
    let (ws, exp) = fixture::workspace(tmp.path());
    RunDir::open(&ws.join("runs/quickstart"))
        .unwrap()
        .set_job(&JobStatus {
            task: Task::Evaluate,
            state: RunState::Running,
            message: "probes: the baselines".into(),
        })
        .unwrap();
    let snap = Snapshot::read(&ws, &exp, SystemTime::now());
    let mut app = App::new(snap, theme::builtin("plain").unwrap(), Keymap::default());
    insta::assert_snapshot!("experiments_eval_job", draw(&app));
    app.focus = Some("quickstart".into());
    app.view = View::Run;
    app.memory = Some(123 * 1024 * 1024);
    let screen = draw(&app).to_string();
    assert!(screen.contains("evaluate running: probes:"), "{screen}");
}
