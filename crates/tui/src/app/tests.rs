//! The state machine without rendering: keys in, state and effects out.
use super::*;
use crate::fixture;
use crate::theme;
use std::time::SystemTime;

fn app() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, exp) = fixture::workspace(tmp.path());
    let snap = Snapshot::read(&ws, &exp, SystemTime::now());
    let app = App::new(snap, theme::builtin("plain").unwrap(), Keymap::default());
    (tmp, app)
}

/// Presses keys written as in the keymap, separated by spaces; returns all effects.
fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for k in keys.split(' ') {
        let key = Key::parse(k).unwrap_or_else(|| panic!("bad key {k}"));
        if let Some(a) = action_for_key(app, key) {
            effects.extend(update(app, a));
        }
    }
    effects
}

fn row_name(app: &App) -> String {
    match app.current_row().unwrap() {
        Row::Experiment(e) => app.snapshot.experiments[e].rel.clone(),
        Row::Run(r) => app.snapshot.runs[r].name.clone(),
        Row::Unmatched => "(unmatched)".into(),
    }
}

#[test]
fn rows_list_experiments_then_their_runs() {
    let (_tmp, app) = app();
    let names: Vec<String> = (0..app.rows().len())
        .map(|i| {
            let mut a = app.clone();
            a.experiments.cursor = i;
            row_name(&a)
        })
        .collect();
    assert_eq!(
        names,
        [
            "ablations/gamma.toml",
            "gamma-loss.gamma=0.1",
            "gamma-loss.gamma=0.5",
            "broken.toml",
            "quickstart.toml",
            "quickstart",
            "(unmatched)",
            "orphan",
        ]
    );
}

#[test]
fn navigation_moves_and_clamps() {
    let (_tmp, mut app) = app();
    press(&mut app, "k");
    assert_eq!(app.experiments.cursor, 0);
    press(&mut app, "j down j");
    assert_eq!(row_name(&app), "broken.toml");
    press(&mut app, "G");
    assert_eq!(row_name(&app), "orphan");
    press(&mut app, "j");
    assert_eq!(row_name(&app), "orphan");
    press(&mut app, "g");
    assert_eq!(app.experiments.cursor, 0);
}

#[test]
fn view_switching_by_tab_number_help_and_back() {
    let (_tmp, mut app) = app();
    press(&mut app, "tab");
    assert_eq!(app.view, View::Run);
    press(&mut app, "shift-tab shift-tab");
    assert_eq!(app.view, View::Table);
    press(&mut app, "shift-tab");
    assert_eq!(app.view, View::Results);
    press(&mut app, "4");
    assert_eq!(app.view, View::Zoos);
    press(&mut app, "?");
    assert_eq!(app.view, View::Help);
    press(&mut app, "?");
    assert_eq!(app.view, View::Zoos);
    press(&mut app, "? esc");
    assert_eq!(app.view, View::Zoos);
    press(&mut app, "esc");
    assert_eq!(app.view, View::Experiments);
    // Enter on a run opens it; up/down in the Run view step through runs.
    press(&mut app, "j enter");
    assert_eq!(
        (app.view, app.focus.as_deref()),
        (View::Run, Some("gamma-loss.gamma=0.1"))
    );
    press(&mut app, "j");
    assert_eq!(app.focus.as_deref(), Some("gamma-loss.gamma=0.5"));
    press(&mut app, "j");
    assert_eq!(app.focus.as_deref(), Some("quickstart"));
    assert_eq!(row_name(&app), "quickstart");
    press(&mut app, "esc");
    assert_eq!(app.view, View::Experiments);
}

#[test]
fn filter_typed_after_slash_hides_rows_and_esc_clears_it() {
    let (_tmp, mut app) = app();
    press(&mut app, "/");
    assert_eq!(app.mode, Mode::Filter);
    // Letters type into the filter, they are not commands.
    press(&mut app, "q u i c k x backspace");
    assert!(!app.quit);
    assert_eq!(app.filter, "quick");
    assert_eq!(app.rows().len(), 2);
    press(&mut app, "enter");
    assert_eq!(
        (app.mode.clone(), app.filter.as_str()),
        (Mode::Normal, "quick")
    );
    press(&mut app, "j");
    assert_eq!(row_name(&app), "quickstart");
    // A run name matching keeps its experiment row, not the experiment's other runs.
    press(&mut app, "esc / 0 . 5");
    let mut names = Vec::new();
    for i in 0..app.rows().len() {
        app.experiments.cursor = i;
        names.push(row_name(&app));
    }
    assert_eq!(names, ["ablations/gamma.toml", "gamma-loss.gamma=0.5"]);
    press(&mut app, "esc");
    assert_eq!((app.mode.clone(), app.filter.as_str()), (Mode::Normal, ""));
    assert_eq!(app.rows().len(), 8);
}

#[test]
fn selection_keeps_colour_slots_stable() {
    let (_tmp, mut app) = app();
    press(&mut app, "j space j space G space");
    let slots: Vec<(&str, usize)> = app.selected.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    assert_eq!(
        slots,
        [
            ("gamma-loss.gamma=0.1", 0),
            ("gamma-loss.gamma=0.5", 1),
            ("orphan", 2)
        ]
    );
    press(&mut app, "g j j space");
    assert_eq!(app.slot("gamma-loss.gamma=0.5"), None);
    assert_eq!(app.slot("orphan"), Some(2));
    press(&mut app, "G k k space");
    assert_eq!(app.slot("quickstart"), Some(1), "the free slot is reused");
    // Space on an experiment row selects nothing.
    press(&mut app, "g space");
    assert_eq!(app.selected.len(), 3);
    assert!(app.message.is_some());
}

#[test]
fn stop_and_delete_act_only_after_confirmation() {
    let (_tmp, mut app) = app();
    // The running run: stop asks, anything but y cancels.
    assert!(press(&mut app, "j x").is_empty());
    assert_eq!(
        app.mode,
        Mode::Confirm(Pending::Stop("gamma-loss.gamma=0.1".into()))
    );
    assert!(press(&mut app, "n").is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(press(&mut app, "x esc").is_empty());
    assert_eq!(
        press(&mut app, "x y"),
        [Effect::Stop("gamma-loss.gamma=0.1".into()), Effect::Reload]
    );
    // A running run cannot be deleted; a failed one can, after y.
    assert!(press(&mut app, "D").is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.message.as_deref().unwrap().contains("stop it first"));
    press(&mut app, "j space enter");
    assert_eq!(app.focus.as_deref(), Some("gamma-loss.gamma=0.5"));
    assert!(press(&mut app, "D").is_empty());
    assert_eq!(
        press(&mut app, "y"),
        [
            Effect::Delete("gamma-loss.gamma=0.5".into()),
            Effect::Reload
        ]
    );
    assert!(app.selected.is_empty() && app.focus.is_none());
    // Stopping a run that is not running asks nothing.
    press(&mut app, "1 G x");
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("stale, not running")
    );
}

#[test]
fn launch_export_and_quit() {
    let (_tmp, mut app) = app();
    // An experiment says what it will do first (the shell asks the question), y launches.
    let eff = press(&mut app, "r");
    let [Effect::PlanLaunch(p)] = &eff[..] else {
        panic!("{eff:?}")
    };
    assert!(p.ends_with("ablations/gamma.toml"));
    app.mode = Mode::Confirm(Pending::Launch(
        p.clone(),
        "launch gamma.toml? (y/N)".into(),
    ));
    let eff = press(&mut app, "y");
    assert!(
        matches!(&eff[..], [Effect::Launch(p), Effect::Reload] if p.ends_with("ablations/gamma.toml"))
    );
    // A run row resumes its experiment; an invalid file or an orphan run launches nothing.
    let eff = press(&mut app, "j r");
    assert!(matches!(&eff[..], [Effect::PlanLaunch(p)] if p.ends_with("ablations/gamma.toml")));
    assert!(press(&mut app, "j j r").is_empty());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("broken.toml is invalid")
    );
    assert!(press(&mut app, "G r").is_empty());
    // Zoos: a complete zoo is not generated again, a defined one is.
    press(&mut app, "4");
    let names: Vec<&str> = app.snapshot.zoos.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["tetris-quick", "tiny"]);
    let eff = press(&mut app, "r");
    assert!(
        matches!(&eff[..], [Effect::Launch(p), Effect::Reload] if p.ends_with("zoos/tetris-quick.toml"))
    );
    assert!(press(&mut app, "j r").is_empty());
    assert_eq!(app.message.as_deref(), Some("zoo tiny is complete"));
    // Export only asks the shell: the run under the cursor, the run shown, or the selection.
    assert_eq!(
        press(&mut app, "1 G e"),
        [Effect::Export(vec!["orphan".into()])]
    );
    assert_eq!(
        press(&mut app, "enter 5 e"),
        [Effect::Export(vec!["orphan".into()])]
    );
    assert!(press(&mut app, "3 e").is_empty());
    assert!(app.message.as_deref().unwrap().contains("no runs selected"));
    press(&mut app, "1 g j space j space 3");
    assert_eq!(
        press(&mut app, "e"),
        [Effect::Export(vec![
            "gamma-loss.gamma=0.1".into(),
            "gamma-loss.gamma=0.5".into()
        ])]
    );
}

#[test]
fn quitting_with_live_runs_keeps_them_headless_or_stops_them() {
    let (_tmp, mut app) = app();
    // Nothing live: q quits at once, on its own.
    press(&mut app, "q");
    assert!(app.quit && !app.detach && !app.stopping);
    // Live runs: q asks; y is not an answer, any key but k and s stays.
    let (_tmp, mut app) = self::app();
    (app.live_runs, app.queued_runs) = (3, 1);
    press(&mut app, "q");
    assert_eq!(app.mode, Mode::Confirm(Pending::Quit));
    let asked = question(&Pending::Quit, 3, 1);
    assert!(asked.contains("3 live run(s), 1 queued"), "{asked}");
    for no in ["y", "n", "esc"] {
        assert!(press(&mut app, &format!("q {no}")).is_empty());
        assert!(!app.quit && !app.stopping, "{no}");
        assert_eq!(app.mode, Mode::Normal);
    }
    // s: the runs are stopped, the shell quits once none is live.
    assert_eq!(press(&mut app, "q s"), [Effect::StopAll, Effect::Reload]);
    assert!(app.stopping && !app.quit);
    // k: leave the screen, carry the runs to their end headless.
    let (_tmp, mut app) = self::app();
    app.live_runs = 1;
    assert!(press(&mut app, "q k").is_empty());
    assert!(app.quit && app.detach);
}

#[test]
fn queued_runs_are_taken_out_of_the_queue_not_deleted() {
    let (tmp, mut app) = app();
    let run = tmp.path().join("workspace/runs/quickstart");
    std::fs::write(
        run.join("status.toml"),
        "state = \"queued\"\nstep = 0\nepoch = 0\nepochs = 6\nmessage = \"queued in process 1\"\n",
    )
    .unwrap();
    app.set_snapshot(Snapshot::read(
        &tmp.path().join("workspace"),
        &tmp.path().join("experiments"),
        SystemTime::now(),
    ));
    press(&mut app, "G k k");
    assert_eq!(row_name(&app), "quickstart");
    assert_eq!(
        app.current_row().map(|r| match r {
            Row::Run(i) => app.snapshot.runs[i].phase,
            _ => Phase::Pending,
        }),
        Some(Phase::Queued)
    );
    assert!(press(&mut app, "D").is_empty());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("queued: stop it first")
    );
    assert!(press(&mut app, "x").is_empty());
    assert_eq!(
        app.mode,
        Mode::Confirm(Pending::Unqueue("quickstart".into()))
    );
    assert!(question(&Pending::Unqueue("quickstart".into()), 0, 0).contains("out of the queue"));
    assert_eq!(
        press(&mut app, "y"),
        [Effect::Stop("quickstart".into()), Effect::Reload]
    );
}

#[test]
fn toggles_and_reloads_keep_the_cursor_on_its_row() {
    let (tmp, mut app) = app();
    press(&mut app, "s l w");
    assert!(app.plot.smooth && app.plot.log_y && !app.plot.full_history);
    press(&mut app, "s l w");
    assert_eq!(
        app.plot,
        PlotOptions {
            ascii: true,
            ..PlotOptions::default()
        }
    );
    press(&mut app, "G");
    assert_eq!(row_name(&app), "orphan");
    // A new run sorted before "orphan" appears: the cursor follows "orphan".
    let ws = tmp.path().join("workspace");
    fixture::run_dir(&ws.join("runs/aaa"), "finished", 3, 10);
    app.set_snapshot(Snapshot::read(
        &ws,
        &tmp.path().join("experiments"),
        SystemTime::now(),
    ));
    assert_eq!(row_name(&app), "orphan");
    assert_eq!(app.rows().len(), 9);
}

#[test]
fn probe_curve_cycles_through_the_run_properties() {
    let (_tmp, mut app) = app();
    // A run without probe records: nothing to cycle.
    press(&mut app, "j enter");
    assert_eq!(app.focus.as_deref(), Some("gamma-loss.gamma=0.1"));
    press(&mut app, "p");
    assert!(app.message.as_deref().unwrap().contains("no probe records"));
    assert_eq!(app.run_view.probe, None);
    // quickstart: test_acc first, then epoch, then back.
    press(&mut app, "j j");
    let run = app.focused_run().unwrap().clone();
    assert_eq!(run.name, "quickstart");
    assert_eq!(app.probe_property(&run), Some("test_acc"));
    press(&mut app, "p");
    assert_eq!(app.probe_property(&run), Some("epoch"));
    press(&mut app, "p");
    assert_eq!(app.probe_property(&run), Some("test_acc"));
    // Outside the run view the key only says where it works.
    press(&mut app, "5 p");
    assert_eq!(app.run_view.probe.as_deref(), Some("test_acc"));
    assert!(app.message.is_some());
}

#[test]
fn results_scroll_stops_at_the_end_and_resets_for_another_run() {
    let (_tmp, mut app) = app();
    app.screen_height = 20;
    press(&mut app, "G k k enter 5");
    assert_eq!(app.focus.as_deref(), Some("quickstart"));
    press(&mut app, "pagedown");
    assert_eq!(app.results.scroll, 5);
    for _ in 0..10 {
        press(&mut app, "pagedown");
    }
    let max = crate::view::results::max_scroll(&app);
    assert!(max > 5);
    assert_eq!(app.results.scroll, max);
    press(&mut app, "pageup");
    assert_eq!(app.results.scroll, max - 5);
    // Another run starts at the top; scrolling elsewhere does nothing.
    press(&mut app, "j");
    assert_eq!(app.results.scroll, 0);
    assert_eq!(crate::view::results::max_scroll(&app), 0);
    press(&mut app, "pagedown 2 pagedown");
    assert_eq!(app.results.scroll, 0);
}

#[test]
fn enter_on_a_zoo_opens_the_accuracy_page_of_a_run_on_it() {
    let (_tmp, mut app) = app();
    press(&mut app, "4");
    // tetris-quick has no run: Enter says so and stays.
    press(&mut app, "enter");
    assert_eq!(app.view, View::Zoos);
    assert_eq!(
        app.message.as_deref(),
        Some("no run on zoo tetris-quick yet")
    );
    // tiny: the quickstart run trained on it and has accuracies.csv.
    let tiny = app.snapshot.zoos.iter().find(|z| z.name == "tiny").unwrap();
    let on_tiny: Vec<&str> = app
        .snapshot
        .runs_on_zoo(tiny)
        .iter()
        .map(|&i| app.snapshot.runs[i].name.as_str())
        .collect();
    assert_eq!(
        on_tiny,
        ["gamma-loss.gamma=0.1", "gamma-loss.gamma=0.5", "quickstart"]
    );
    press(&mut app, "j enter");
    assert_eq!(app.view, View::Results);
    assert!(app.results.accuracy);
    assert_eq!(app.focused_run().unwrap().name, "quickstart");
    // Back returns to the Zoos view, and the Results view shows its tables next time.
    let mut back = app.clone();
    press(&mut back, "esc");
    assert_eq!(back.view, View::Zoos);
    assert!(!back.results.accuracy);
    press(&mut back, "esc");
    assert_eq!(back.view, View::Experiments);
    // Without accuracies.csv the link is refused with the command that writes it.
    let mut app2 = app.clone();
    for r in &mut app2.snapshot.runs {
        r.accuracies.clear();
    }
    press(&mut app2, "4 enter");
    assert_eq!(app2.view, View::Zoos);
    assert!(app2.message.as_deref().unwrap().contains("hyperzoo eval"));
}

#[test]
fn zoom_halves_and_doubles_the_recent_window() {
    let (_tmp, mut app) = app();
    // The quickstart run: 60 steps.
    app.focus = Some("quickstart".into());
    app.view = View::Run;
    assert_eq!(app.focused_run().unwrap().metrics.steps.len(), 60);
    assert!(app.plot.full_history);
    press(&mut app, "+");
    assert_eq!((app.plot.full_history, app.plot.window), (false, 30));
    press(&mut app, "= +");
    assert_eq!(app.plot.window, MIN_WINDOW);
    press(&mut app, "-");
    assert_eq!((app.plot.full_history, app.plot.window), (false, 20));
    press(&mut app, "- -");
    assert!(app.plot.full_history, "80 steps cover the run's 60");
    // Zooming out of the whole history changes nothing.
    press(&mut app, "-");
    assert!(app.plot.full_history);
    // From a recent window longer than the run (w after zooming out to 80 steps), one +
    // halves what shows.
    press(&mut app, "w");
    assert_eq!((app.plot.full_history, app.plot.window), (false, 80));
    press(&mut app, "+");
    assert_eq!(app.plot.window, 30);
}

#[test]
fn open_run_shows_its_results_and_keys_go_on_from_its_row() {
    let (_tmp, mut app) = app();
    app.filter = "gamma".into();
    // An unknown run changes nothing.
    let err = app.open_run("nope").unwrap_err();
    assert!(err.contains("nope"), "{err}");
    assert_eq!(
        (app.view, app.filter.as_str()),
        (View::Experiments, "gamma")
    );
    // `hyperzoo tui --open quickstart`: its Results view, its row under the cursor (the
    // filter that hid it cleared).
    app.open_run("quickstart").unwrap();
    assert_eq!(app.view, View::Results);
    assert_eq!(app.focused_run().unwrap().name, "quickstart");
    assert!(app.filter.is_empty());
    assert_eq!(row_name(&app), "quickstart");
    // The keys go on from there: scrolling, the accuracy page, stepping to the previous run,
    // Back to its row in the experiments table.
    app.screen_height = 20;
    assert!(update(&mut app, Action::ScrollDown).is_empty());
    assert_eq!(app.results.scroll, 5);
    press(&mut app, "a");
    assert!(app.results.accuracy);
    press(&mut app, "a k");
    assert_eq!(app.focus.as_deref(), Some("gamma-loss.gamma=0.5"));
    assert_eq!(app.results.scroll, 0);
    press(&mut app, "esc");
    assert_eq!(app.view, View::Experiments);
    assert_eq!(row_name(&app), "gamma-loss.gamma=0.5");
}

#[test]
fn the_table_groups_seeds_sorts_by_any_column_and_opens_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, exp) = fixture::workspace(tmp.path());
    fixture::seed_runs(&ws.join("runs"));
    let snap = Snapshot::read(&ws, &exp, SystemTime::now());
    let mut app = App::new(snap, theme::builtin("plain").unwrap(), Keymap::default());
    for run in ["seeds-seed=1", "seeds-seed=2", "seeds-seed=3", "quickstart"] {
        app.focus = Some(run.into());
        app.view = View::Run;
        update(&mut app, Action::Select);
    }
    press(&mut app, "6");
    assert_eq!(app.view, View::Table);
    // The three seeds are one row (grouped by default), the quickstart run another.
    let (scope, t) = app.ablation();
    assert_eq!(scope, "4 selected runs");
    assert_eq!(t.rows.len(), 2);
    assert!(
        t.rows
            .iter()
            .any(|r| r.runs.len() == 3 && r.name == "seeds")
    );
    // m: one row per run; the seed becomes a column.
    press(&mut app, "m");
    let (_, t) = app.ablation();
    assert_eq!(t.rows.len(), 4);
    assert!(t.keys.contains(&"seed".to_string()));
    // > steps through the columns: the name (ascending), the keys, then the metrics (best
    // first); o reverses.
    press(&mut app, ">");
    assert_eq!(app.table.sort, Some((0, false)));
    let cols = app.ablation().1.columns();
    let val_loss = cols
        .iter()
        .position(|c| matches!(c, hyperzoo_report::ablation::Column::Metric(0)))
        .unwrap();
    for _ in 0..val_loss {
        press(&mut app, ">");
    }
    // Validation loss: lower is better, so ascending.
    assert_eq!(app.table.sort, Some((val_loss, false)));
    let (_, t) = app.ablation();
    let losses: Vec<f64> = t.rows.iter().map(|r| r.values[0].unwrap().mean).collect();
    assert!(losses.windows(2).all(|w| w[0] <= w[1]), "{losses:?}");
    press(&mut app, "o");
    let (_, t) = app.ablation();
    let losses: Vec<f64> = t.rows.iter().map(|r| r.values[0].unwrap().mean).collect();
    assert!(losses.windows(2).all(|w| w[0] >= w[1]), "{losses:?}");
    // / filters the rows; Enter opens the row's run; e exports the table.
    app.filter = "seeds".into();
    assert_eq!(app.ablation().1.rows.len(), 3);
    assert_eq!(press(&mut app, "e"), vec![Effect::ExportTable]);
    press(&mut app, "enter");
    assert_eq!(app.view, View::Run);
    assert!(app.focus.as_deref().unwrap().starts_with("seeds-seed="));
}

#[test]
fn new_copy_and_edit_ask_for_a_name_then_hand_the_file_to_the_shell() {
    let (_tmp, mut app) = app();
    // n: a name typed, enter: a new experiment from the template, then the editor.
    press(&mut app, "n");
    assert!(matches!(&app.mode, Mode::Input(i) if i.purpose == InputPurpose::NewExperiment));
    let eff = press(&mut app, "m i n e backspace e enter");
    assert_eq!(
        eff,
        vec![
            Effect::NewExperiment {
                name: "mine".into(),
                from: None
            },
            Effect::Reload
        ]
    );
    assert_eq!(app.mode, Mode::Normal);
    // C on the experiment under the cursor: its copy, named `<stem>-copy` unless retyped.
    let eff = press(&mut app, "C enter");
    let [
        Effect::NewExperiment {
            name,
            from: Some(from),
        },
        Effect::Reload,
    ] = &eff[..]
    else {
        panic!("{eff:?}")
    };
    assert_eq!(name, "gamma-copy");
    assert!(from.ends_with("ablations/gamma.toml"));
    // esc cancels; v edits the file under the cursor.
    press(&mut app, "n x esc");
    assert_eq!(app.mode, Mode::Normal);
    let eff = press(&mut app, "v");
    assert!(
        matches!(&eff[..], [Effect::Edit(p), Effect::Reload] if p.ends_with("ablations/gamma.toml"))
    );
}
