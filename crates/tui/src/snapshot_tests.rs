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
    app.exp_cursor = 2;
    insta::assert_snapshot!("experiments", draw(&app));
}

#[test]
fn experiments_filter_and_confirmation() {
    let (_tmp, mut app) = app();
    app.filter = "gamma".into();
    app.mode = Mode::Filter;
    insta::assert_snapshot!("experiments_filter", draw(&app));
    app.mode = Mode::Confirm(Pending::Stop("gamma-loss.gamma=0.1".into()));
    app.exp_cursor = 1;
    insta::assert_snapshot!("experiments_confirm_stop", draw(&app));
}

#[test]
fn run() {
    let (_tmp, mut app) = app();
    app.focus = Some("gamma-loss.gamma=0.1".into());
    app.view = View::Run;
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
fn zoos() {
    let (_tmp, mut app) = app();
    app.view = View::Zoos;
    app.zoo_cursor = 1;
    insta::assert_snapshot!("zoos", draw(&app));
    app.zoo_cursor = 0;
    insta::assert_snapshot!("zoos_definition", draw(&app));
}

#[test]
fn results() {
    let (_tmp, mut app) = app();
    app.focus = Some("quickstart".into());
    app.view = View::Results;
    insta::assert_snapshot!("results", draw(&app));
    app.focus = Some("orphan".into());
    insta::assert_snapshot!("results_missing", draw(&app));
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
