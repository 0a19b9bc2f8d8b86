//! The TUI's state and its state machine, Elm-style: keys become [`Action`]s
//! ([`action_for_key`]), [`update`] changes the [`App`] and returns the [`Effect`]s the shell
//! must perform (launching, stopping, deleting, exporting, reloading). Nothing here does I/O, so
//! every transition is tested without a terminal.
//!
//! Quitting while this process has live runs asks what to do with them: keep them going
//! headless until they end ([`App::detach`]: the shell leaves the screen and waits, as it does
//! when the terminal goes away), or stop them ([`App::stopping`]: they stop at their next step
//! with a checkpoint, and the TUI quits once none is live).
use crate::keymap::{Key, Keymap};
use crate::store::{MetricsExt, Phase, RunInfo, Snapshot, ZooInfo};
use crate::theme::Palette;
use crossterm::event::{KeyCode, KeyModifiers};
use hyperzoo_core::theme::Theme;
use std::path::PathBuf;

/// The views. The first five are tabs (keys 1-5); Help is shown over them with `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// Experiment files and their runs.
    Experiments,
    /// One run's curves, progress and log.
    Run,
    /// The selected runs overlaid, with their config differences.
    Compare,
    /// Zoos and their accuracy distributions.
    Zoos,
    /// One run's results.toml.
    Results,
    /// The ablation table: the runs' varying keys and final metrics, sortable, seeds grouped.
    Table,
    /// Keys, from the keymap.
    Help,
}

impl View {
    /// The tabs, in order.
    pub const TABS: [View; 6] = [
        View::Experiments,
        View::Run,
        View::Compare,
        View::Zoos,
        View::Results,
        View::Table,
    ];

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            View::Experiments => "Experiments",
            View::Run => "Run",
            View::Compare => "Compare",
            View::Zoos => "Zoos",
            View::Results => "Results",
            View::Table => "Table",
            View::Help => "Help",
        }
    }
}

/// What the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave (asks first while runs are live).
    Quit,
    /// Show or hide the help.
    Help,
    /// Previous row.
    Up,
    /// Next row.
    Down,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Next tab.
    NextView,
    /// Previous tab.
    PrevView,
    /// A tab.
    Goto(View),
    /// Open the row under the cursor; keep the filter being typed.
    Enter,
    /// Go back; clear the filter.
    Back,
    /// Start typing a filter.
    Filter,
    /// Select or deselect a run for comparison.
    Select,
    /// Debiased-EMA smoothing of the curves.
    ToggleSmoothing,
    /// Logarithmic y axes.
    ToggleLogScale,
    /// Full history or the last points only.
    ToggleWindow,
    /// Zoom in on the curves' x axis: halve the recent window.
    ZoomIn,
    /// Zoom out: double the recent window, up to the whole history.
    ZoomOut,
    /// The Run view's probe curve shows the next property of the run's probe records.
    NextProbe,
    /// The Results view shows the run's accuracy distributions (accuracies.csv) instead of its
    /// results.toml tables, or back.
    ToggleAccuracy,
    /// Scroll the Results view up.
    ScrollUp,
    /// Scroll the Results view down.
    ScrollDown,
    /// Export the run, or the selected runs in the Compare view (the shell does it).
    Export,
    /// Launch or resume an experiment, or generate a zoo.
    Launch,
    /// Stop a run (asks first).
    Stop,
    /// Table view: sort by the next column (or the first).
    SortNext,
    /// Table view: sort by the previous column.
    SortPrev,
    /// Table view: reverse the sort order.
    SortReverse,
    /// Table view: group the runs that differ only by seed into mean ± std, or not.
    GroupSeeds,
    /// Queue an evaluation of the selected runs, or of the run under the cursor.
    Evaluate,
    /// Queue a generation of networks from the selected runs, or the run under the cursor.
    Generate,
    /// A new experiment file from the template (asks for its name), opened in `$EDITOR`.
    NewExperiment,
    /// A copy of the experiment under the cursor (asks for its name), opened in `$EDITOR`.
    CopyExperiment,
    /// Open the experiment file under the cursor in `$EDITOR`; checked on return.
    Edit,
    /// Delete a run's directory (asks first).
    Delete,
    /// A character typed into the filter.
    FilterChar(char),
    /// Backspace in the filter.
    FilterBackspace,
    /// Yes to the question asked.
    Confirm,
    /// No to the question asked.
    Cancel,
    /// Quit, leaving the live runs to finish headless (an answer to the quit question).
    Detach,
    /// Stop the live runs, then quit (an answer to the quit question).
    StopAndQuit,
}

/// Work for the shell: the only way `update` touches the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Launch (or resume) the experiment or zoo file.
    Launch(PathBuf),
    /// Ask before launching the experiment file: its runs and their estimated time (the
    /// shell reads the file and sets [`Pending::Launch`]).
    PlanLaunch(PathBuf),
    /// Write a new experiment file named so (from the template, or a copy of `from`), then
    /// edit it.
    NewExperiment {
        /// The name (also of the file).
        name: String,
        /// The file copied; `None`: the template.
        from: Option<PathBuf>,
    },
    /// Open the file in `$EDITOR` (the terminal suspended meanwhile), then check it.
    Edit(PathBuf),
    /// Stop the run of that name, or take it out of the queue.
    Stop(String),
    /// Queue an evaluation or generation job for each of these runs.
    Task(hyperzoo_core::run::Task, Vec<String>),
    /// Stop every live run of this process.
    StopAll,
    /// Delete the directory of the run of that name.
    Delete(String),
    /// Export the runs of these names (one run, or several compared).
    Export(Vec<String>),
    /// Write the ablation table as the Table view shows it (sorted, filtered, grouped) to TOML
    /// and CSV.
    ExportTable,
    /// Read the workspace again now.
    Reload,
}

/// A question waiting for y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Stop this run.
    Stop(String),
    /// Take this queued run out of the queue.
    Unqueue(String),
    /// Delete this run.
    Delete(String),
    /// Launch this experiment file; the question (its runs and their estimated time).
    Launch(PathBuf, String),
    /// Quit while runs are live.
    Quit,
}

/// How keys are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Keys go through the keymap.
    Normal,
    /// Typing the filter.
    Filter,
    /// Waiting for `y` (anything else cancels); the quit question takes `k` or `s`.
    Confirm(Pending),
    /// Typing a line (the name of a new experiment).
    Input(Input),
}

/// A line being typed, and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// What the line is for.
    pub purpose: InputPurpose,
    /// The text so far.
    pub text: String,
}

/// What a typed line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPurpose {
    /// The name of a new experiment from the template.
    NewExperiment,
    /// The name of a copy of this experiment file.
    CopyExperiment(PathBuf),
}

/// How curves are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Debiased exponential moving average.
    pub smooth: bool,
    /// Its decay.
    pub beta: f64,
    /// Logarithmic y axis (non-positive values are left out).
    pub log_y: bool,
    /// Whole history, or the last `window` steps.
    pub full_history: bool,
    /// Steps in the recent window.
    pub window: usize,
    /// Dots instead of braille, and only ASCII on screen.
    pub ascii: bool,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            smooth: false,
            beta: 0.9,
            log_y: false,
            full_history: true,
            window: 200,
            ascii: false,
        }
    }
}

/// A row of the experiments table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// An experiment file (index into `Snapshot::experiments`).
    Experiment(usize),
    /// A run (index into `Snapshot::runs`).
    Run(usize),
    /// The heading of the runs that match no experiment file.
    Unmatched,
}

/// The whole state of the TUI.
#[derive(Debug, Clone)]
pub struct App {
    /// The view shown.
    pub view: View,
    /// The view Help returns to.
    pub prev_view: View,
    /// How keys are read.
    pub mode: Mode,
    /// The workspace as last read.
    pub snapshot: Snapshot,
    /// Rows whose name (or, for runs, one of whose tags) does not contain this
    /// (case-insensitive) are hidden.
    pub filter: String,
    /// The Experiments view's state (its cursor).
    pub experiments: crate::view::experiments::State,
    /// The Zoos view's state (its cursor).
    pub zoos: crate::view::zoos::State,
    /// The run the Run and Results views show.
    pub focus: Option<String>,
    /// Runs selected for comparison, with their colour slot (kept while selected).
    pub selected: Vec<(String, usize)>,
    /// Curve options.
    pub plot: PlotOptions,
    /// The Run view's state (the property of its probe curve).
    pub run_view: crate::view::run::State,
    /// The Results view's state (scroll, tables or accuracy distributions).
    pub results: crate::view::results::State,
    /// Resident memory of this process in bytes, which runs launched here share (set by the
    /// shell at each reload; `None` when unknown).
    pub memory: Option<u64>,
    /// The terminal's height at the last draw (the shell sets it; 0 when unknown), so that
    /// scrolling stops where the content ends.
    pub screen_height: u16,
    /// The theme.
    pub theme: Theme,
    /// Its colours.
    pub palette: Palette,
    /// Keys.
    pub keymap: Keymap,
    /// A one-line message for the status bar (cleared by the next key).
    pub message: Option<String>,
    /// Runs the launcher reports as live, running or queued (set by the shell).
    pub live_runs: usize,
    /// Of those, the queued ones (set by the shell).
    pub queued_runs: usize,
    /// Set when the shell should leave.
    pub quit: bool,
    /// With `quit`: leave the screen but carry the live runs to their end first (headless).
    pub detach: bool,
    /// The live runs were asked to stop; the shell quits once none is live.
    pub stopping: bool,
    /// Where Back returns to when the view was opened from another than Experiments (the
    /// accuracy page opened from the Zoos view); cleared by any other view change.
    pub back_to: Option<View>,
    /// The Table view's state (cursor, sort and grouping).
    pub table: crate::view::table::State,
}

impl App {
    /// A new state showing `snapshot`; ASCII drawing follows the theme.
    pub fn new(snapshot: Snapshot, theme: Theme, keymap: Keymap) -> Self {
        let plot = PlotOptions {
            ascii: theme.ascii,
            ..PlotOptions::default()
        };
        Self {
            view: View::Experiments,
            prev_view: View::Experiments,
            mode: Mode::Normal,
            snapshot,
            filter: String::new(),
            experiments: Default::default(),
            zoos: Default::default(),
            focus: None,
            selected: Vec::new(),
            plot,
            run_view: Default::default(),
            results: Default::default(),
            memory: None,
            screen_height: 0,
            palette: Palette::new(&theme),
            theme,
            keymap,
            message: None,
            live_runs: 0,
            queued_runs: 0,
            quit: false,
            detach: false,
            stopping: false,
            back_to: None,
            table: Default::default(),
        }
    }

    /// Replaces the snapshot, keeping the cursors on the same rows where they still exist.
    pub fn set_snapshot(&mut self, snapshot: Snapshot) {
        let row_key = self.row_key(self.experiments.cursor);
        let zoo = self
            .zoo_rows()
            .get(self.zoos.cursor)
            .map(|&i| self.snapshot.zoos[i].name.clone());
        self.snapshot = snapshot;
        if let Some(key) = row_key
            && let Some(i) =
                (0..self.rows().len()).find(|&i| self.row_key(i).as_ref() == Some(&key))
        {
            self.experiments.cursor = i;
        }
        if let Some(name) = zoo
            && let Some(i) = self
                .zoo_rows()
                .iter()
                .position(|&z| self.snapshot.zoos[z].name == name)
        {
            self.zoos.cursor = i;
        }
        self.clamp();
    }

    /// Shows a message in the status bar.
    pub fn notify(&mut self, message: impl Into<String>) {
        self.message = Some(message.into());
    }

    /// The rows of the experiments table, filtered.
    pub fn rows(&self) -> Vec<Row> {
        let f = self.filter.to_lowercase();
        let hit = |s: &str| s.to_lowercase().contains(&f);
        let run_hit = |r: &RunInfo| hit(&r.name) || r.notes.tags.iter().any(|t| hit(t));
        let snap = &self.snapshot;
        let mut rows = Vec::new();
        for (e, exp) in snap.experiments.iter().enumerate() {
            let all = hit(&exp.name) || hit(&exp.rel);
            let runs: Vec<usize> = exp
                .runs
                .iter()
                .copied()
                .filter(|&r| all || run_hit(&snap.runs[r]))
                .collect();
            if all || !runs.is_empty() {
                rows.push(Row::Experiment(e));
                rows.extend(runs.into_iter().map(Row::Run));
            }
        }
        let orphans: Vec<usize> = snap
            .unmatched
            .iter()
            .copied()
            .filter(|&r| run_hit(&snap.runs[r]))
            .collect();
        if !orphans.is_empty() {
            rows.push(Row::Unmatched);
            rows.extend(orphans.into_iter().map(Row::Run));
        }
        rows
    }

    /// Indices of the zoos shown, filtered.
    pub fn zoo_rows(&self) -> Vec<usize> {
        let f = self.filter.to_lowercase();
        (0..self.snapshot.zoos.len())
            .filter(|&i| self.snapshot.zoos[i].name.to_lowercase().contains(&f))
            .collect()
    }

    /// The zoo under the Zoos view's cursor.
    pub fn current_zoo(&self) -> Option<&ZooInfo> {
        self.zoo_rows()
            .get(self.zoos.cursor)
            .map(|&i| &self.snapshot.zoos[i])
    }

    /// Enter in the Zoos view: the Results view's accuracy distributions (original,
    /// reconstructed, generated networks) of the first run on the zoo that has them.
    fn open_zoo_accuracy(&mut self) {
        let Some(z) = self.current_zoo() else {
            return;
        };
        let name = z.name.clone();
        match self.snapshot.accuracy_run_of_zoo(z) {
            Some(r) => {
                self.show(r);
                self.view = View::Results;
                self.results.accuracy = true;
                self.results.scroll = 0;
                self.back_to = Some(View::Zoos);
            }
            None if self.snapshot.runs_on_zoo(z).is_empty() => {
                self.notify(format!("no run on zoo {name} yet"));
            }
            None => self.notify(format!(
                "no run on zoo {name} has accuracies yet: `hyperzoo eval <run>` writes them"
            )),
        }
    }

    /// Opens run `name` in the Results view (`hyperzoo tui --open <run>`): the run is shown, the
    /// filter cleared and the experiments cursor put on the run's row, so that Back returns to
    /// it and up/down step to its neighbours. An error (for the status bar) when the snapshot
    /// has no run of that name; the state is then unchanged.
    pub fn open_run(&mut self, name: &str) -> Result<(), String> {
        let Some(r) = self.snapshot.runs.iter().position(|x| x.name == name) else {
            return Err(format!("no run {name} in the workspace's runs/"));
        };
        self.filter.clear();
        if self.mode == Mode::Filter {
            self.mode = Mode::Normal;
        }
        if let Some(i) = self.rows().iter().position(|row| *row == Row::Run(r)) {
            self.experiments.cursor = i;
        }
        self.show(r);
        self.view = View::Results;
        self.results.accuracy = false;
        self.back_to = None;
        Ok(())
    }

    /// The row under the experiments cursor.
    pub fn current_row(&self) -> Option<Row> {
        self.rows().get(self.experiments.cursor).copied()
    }

    /// The run the Run and Results views show: the focused one, else the one under the
    /// experiments cursor, else the first running one.
    pub fn focused_run(&self) -> Option<&RunInfo> {
        let snap = &self.snapshot;
        self.focus
            .as_deref()
            .and_then(|n| snap.run(n))
            .or_else(|| match self.current_row() {
                Some(Row::Run(i)) => snap.runs.get(i),
                _ => None,
            })
            .or_else(|| snap.runs.iter().find(|r| r.phase == Phase::Running))
    }

    /// The property whose probe curve the Run view shows for `run`: the one chosen with
    /// [`Action::NextProbe`] if the run has it, else `test_acc`, else the run's first; `None`
    /// when its metrics have no probe record.
    pub fn probe_property<'a>(&'a self, run: &'a RunInfo) -> Option<&'a str> {
        let props = run.metrics.probe_properties();
        let chosen = self.run_view.probe.as_deref().filter(|p| props.contains(p));
        chosen
            .or_else(|| props.iter().copied().find(|&p| p == "test_acc"))
            .or_else(|| props.first().copied())
    }

    /// The colour slot of a selected run.
    pub fn slot(&self, run: &str) -> Option<usize> {
        self.selected
            .iter()
            .find(|(n, _)| n == run)
            .map(|(_, s)| *s)
    }

    /// The selected runs present in the snapshot, in selection order, with their slots.
    pub fn selected_runs(&self) -> Vec<(&RunInfo, usize)> {
        self.selected
            .iter()
            .filter_map(|(n, s)| Some((self.snapshot.run(n)?, *s)))
            .collect()
    }

    fn row_key(&self, i: usize) -> Option<RowKey> {
        Some(match *self.rows().get(i)? {
            Row::Experiment(e) => RowKey::Experiment(self.snapshot.experiments[e].path.clone()),
            Row::Run(r) => RowKey::Run(self.snapshot.runs[r].name.clone()),
            Row::Unmatched => RowKey::Unmatched,
        })
    }

    fn clamp(&mut self) {
        self.experiments.cursor = self
            .experiments
            .cursor
            .min(self.rows().len().saturating_sub(1));
        self.zoos.cursor = self
            .zoos
            .cursor
            .min(self.zoo_rows().len().saturating_sub(1));
    }

    /// The runs an export covers: the selected ones in the Compare view, else the target run.
    fn export_targets(&self) -> Result<Vec<String>, &'static str> {
        if self.view == View::Compare {
            let runs: Vec<String> = self
                .selected_runs()
                .iter()
                .map(|(r, _)| r.name.clone())
                .collect();
            return if runs.is_empty() {
                Err("no runs selected to export: select runs with space first")
            } else {
                Ok(runs)
            };
        }
        self.target_run()
            .map(|r| vec![r.name.clone()])
            .ok_or("no run to export here")
    }

    /// The experiment file under the experiments cursor (or of the run there, or shown).
    pub fn experiment_target(&self) -> Option<PathBuf> {
        let snap = &self.snapshot;
        match self.view {
            View::Experiments => match self.current_row()? {
                Row::Experiment(e) => Some(snap.experiments[e].path.clone()),
                Row::Run(r) => snap
                    .experiment_of(&snap.runs[r].name)
                    .map(|e| e.path.clone()),
                Row::Unmatched => None,
            },
            View::Run | View::Results => {
                let run = self.focused_run()?;
                snap.experiment_of(&run.name).map(|e| e.path.clone())
            }
            _ => None,
        }
    }

    /// The runs the Table view tabulates: the selected runs; else the runs of the experiment
    /// under the experiments cursor (or of the run there); else every run.
    pub fn table_runs(&self) -> (String, Vec<&RunInfo>) {
        let snap = &self.snapshot;
        let selected: Vec<&RunInfo> = self.selected_runs().into_iter().map(|(r, _)| r).collect();
        if !selected.is_empty() {
            return (format!("{} selected runs", selected.len()), selected);
        }
        let exp = match self.current_row() {
            Some(Row::Experiment(e)) => snap.experiments.get(e),
            Some(Row::Run(r)) => snap.experiment_of(&snap.runs[r].name),
            _ => None,
        };
        match exp {
            Some(e) if !e.runs.is_empty() => (
                e.rel.clone(),
                e.runs.iter().filter_map(|&i| snap.runs.get(i)).collect(),
            ),
            _ => ("all runs".into(), snap.runs.iter().collect()),
        }
    }

    /// The ablation table as the Table view shows it: grouped, filtered and sorted as set.
    pub fn ablation(&self) -> (String, hyperzoo_report::Ablation) {
        use hyperzoo_report::ablation::{Ablation, RunRow};
        let (scope, runs) = self.table_runs();
        let rows: Vec<RunRow> = runs
            .iter()
            .map(|r| RunRow {
                name: r.name.clone(),
                config: r.config.clone().unwrap_or_default(),
                last_epoch: r.metrics.epochs.last().cloned(),
                results: r.results.clone(),
            })
            .collect();
        let mut t = Ablation::build(&rows, self.table.group_seeds);
        t.filter(&self.filter);
        if let Some((c, desc)) = self.table.sort
            && let Some(&col) = t.columns().get(c)
        {
            t.sort(col, desc);
        }
        (scope, t)
    }

    /// Moves the Table view's sort column by `step` (wrapping), ascending for keys and the
    /// name, best first for metrics.
    fn sort_step(&mut self, step: isize) {
        let (_, t) = self.ablation();
        let cols = t.columns();
        let n = cols.len() as isize;
        let next = match self.table.sort {
            None if step > 0 => 0,
            None => n - 1,
            Some((c, _)) => (c as isize + step).rem_euclid(n),
        } as usize;
        let desc = matches!(
            cols.get(next),
            Some(hyperzoo_report::ablation::Column::Metric(m))
                if t.metrics[*m].better != hyperzoo_report::ablation::Better::Lower
        );
        self.table.sort = Some((next, desc));
        self.table.cursor = 0;
    }

    /// The runs an evaluation or generation applies to: the selected runs, else the run under
    /// the cursor (or shown); only finished runs have a model to evaluate.
    fn task_targets(&self) -> Result<Vec<String>, String> {
        let selected: Vec<&RunInfo> = self.selected_runs().into_iter().map(|(r, _)| r).collect();
        let runs = if selected.is_empty() {
            self.target_run().into_iter().collect()
        } else {
            selected
        };
        if runs.is_empty() {
            return Err("no run here: put the cursor on a run, or select runs with space".into());
        }
        let (done, not): (Vec<&RunInfo>, Vec<&RunInfo>) =
            runs.into_iter().partition(|r| r.phase == Phase::Finished);
        if done.is_empty() {
            let names: Vec<String> = not
                .iter()
                .map(|r| format!("{} is {}", r.name, r.phase.label()))
                .collect();
            return Err(format!(
                "nothing to do: {} (only finished runs)",
                names.join(", ")
            ));
        }
        Ok(done.iter().map(|r| r.name.clone()).collect())
    }

    /// The run an action applies to: under the cursor, or the one shown.
    fn target_run(&self) -> Option<&RunInfo> {
        match self.view {
            View::Experiments => match self.current_row()? {
                Row::Run(i) => self.snapshot.runs.get(i),
                _ => None,
            },
            View::Run | View::Results => self.focused_run(),
            // The first run of the row under the cursor.
            View::Table => {
                let (_, t) = self.ablation();
                let name = t.rows.get(self.table.cursor)?.runs.first()?.clone();
                self.snapshot.run(&name)
            }
            _ => None,
        }
    }

    fn toggle_selected(&mut self, run: &str) {
        if let Some(i) = self.selected.iter().position(|(n, _)| n == run) {
            self.selected.remove(i);
        } else {
            let slot = (0..)
                .find(|s| self.selected.iter().all(|(_, t)| t != s))
                .unwrap_or(0);
            self.selected.push((run.to_string(), slot));
        }
    }

    fn move_cursor(&mut self, action: Action) {
        let to = |cur: usize, len: usize| -> usize {
            let last = len.saturating_sub(1);
            match action {
                Action::Up => cur.saturating_sub(1),
                Action::Down => (cur + 1).min(last),
                Action::Top => 0,
                _ => last,
            }
        };
        match self.view {
            View::Experiments => {
                self.experiments.cursor = to(self.experiments.cursor, self.rows().len())
            }
            View::Zoos => self.zoos.cursor = to(self.zoos.cursor, self.zoo_rows().len()),
            // Up and down step through the runs, in the experiments table's order.
            View::Run | View::Results => {
                let rows = self.rows();
                let runs: Vec<usize> = (0..rows.len())
                    .filter(|&i| matches!(rows[i], Row::Run(_)))
                    .collect();
                if runs.is_empty() {
                    return;
                }
                let current = self.focused_run().map(|r| r.name.clone());
                let at = runs
                    .iter()
                    .position(|&i| {
                        matches!(rows[i], Row::Run(r) if Some(&self.snapshot.runs[r].name) == current.as_ref())
                    })
                    .unwrap_or(0);
                let row = runs[to(at, runs.len())];
                if let Row::Run(r) = rows[row] {
                    self.experiments.cursor = row;
                    self.show(r);
                }
            }
            View::Table => {
                let rows = self.ablation().1.rows.len();
                self.table.cursor = to(self.table.cursor, rows);
            }
            View::Compare | View::Help => {}
        }
    }

    /// Shows run `r` (an index into the snapshot's runs) in the Run and Results views.
    fn show(&mut self, r: usize) {
        let name = &self.snapshot.runs[r].name;
        if self.focus.as_ref() != Some(name) {
            self.focus = Some(name.clone());
            self.results.scroll = 0;
        }
    }

    /// Steps of the longest run the curves show (the selected runs in the Compare view, else
    /// the run shown); 0 when none.
    fn shown_steps(&self) -> usize {
        let len = |r: &RunInfo| r.metrics.steps.len();
        if self.view == View::Compare {
            self.selected
                .iter()
                .filter_map(|(n, _)| self.snapshot.run(n))
                .map(len)
                .max()
                .unwrap_or(0)
        } else {
            self.focused_run().map_or(0, len)
        }
    }

    /// Zooms the curves' x axis: in halves the recent window (from the whole history, half
    /// the steps shown), never below [`MIN_WINDOW`] steps; out doubles it and returns to the
    /// whole history once the window covers every step.
    fn zoom(&mut self, zoom_in: bool) {
        let steps = self.shown_steps();
        let p = &mut self.plot;
        if zoom_in {
            // A window longer than the run shows all of it: halve what is shown.
            let shown = steps.max(2 * MIN_WINDOW);
            let from = if p.full_history {
                shown
            } else {
                p.window.min(shown)
            };
            p.window = (from / 2).max(MIN_WINDOW);
            p.full_history = false;
        } else if !p.full_history {
            p.window = p.window.saturating_mul(2);
            if p.window >= steps {
                p.full_history = true;
            }
        }
    }

    /// Cycles the Run view's probe curve to the next property of the shown run.
    fn next_probe(&mut self) {
        let Some(run) = self.focused_run().filter(|_| self.view == View::Run) else {
            self.notify("the probe curve is in the run view");
            return;
        };
        let props = run.metrics.probe_properties();
        let Some(current) = self.probe_property(run) else {
            let msg = format!("run {} has no probe records yet", run.name);
            self.notify(msg);
            return;
        };
        let at = props.iter().position(|&p| p == current).unwrap_or(0);
        self.run_view.probe = Some(props[(at + 1) % props.len()].to_string());
    }

    /// Scrolls the Results view by `lines` (negative: up), stopping where its content ends.
    fn scroll_results(&mut self, lines: isize) {
        if self.view != View::Results {
            return;
        }
        let max = crate::view::results::max_scroll(self);
        self.results.scroll = self.results.scroll.saturating_add_signed(lines).min(max);
    }

    fn launch_target(&self) -> Result<PathBuf, String> {
        let snap = &self.snapshot;
        let experiment = |run: &RunInfo| {
            snap.experiment_of(&run.name)
                .map(|e| e.path.clone())
                .ok_or_else(|| format!("run {} has no experiment file", run.name))
        };
        match self.view {
            View::Experiments => match self.current_row() {
                Some(Row::Experiment(e)) => {
                    let exp = &snap.experiments[e];
                    match &exp.error {
                        Some(err) => Err(format!("{} is invalid: {err}", exp.rel)),
                        None => Ok(exp.path.clone()),
                    }
                }
                Some(Row::Run(r)) => experiment(&snap.runs[r]),
                _ => Err("no experiment under the cursor".into()),
            },
            View::Run | View::Results => self
                .focused_run()
                .ok_or_else(|| "no run shown".to_string())
                .and_then(experiment),
            View::Zoos => {
                let z = self.current_zoo().ok_or("no zoo under the cursor")?;
                match (&z.definition, z.status) {
                    (_, crate::store::ZooState::Complete) => {
                        Err(format!("zoo {} is complete", z.name))
                    }
                    (Some(def), _) => Ok(def.clone()),
                    (None, _) => Err(format!("zoo {} has no definition file here", z.name)),
                }
            }
            View::Table | View::Compare | View::Help => {
                Err("launch from the experiments or zoos view".into())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum RowKey {
    Experiment(PathBuf),
    Run(String),
    Unmatched,
}

/// The smallest recent window zooming in reaches, in steps.
pub const MIN_WINDOW: usize = 10;

/// Lines the Results view moves per scroll key.
const SCROLL_STEP: isize = 5;

/// The action a key means in the app's current mode.
pub fn action_for_key(app: &App, key: Key) -> Option<Action> {
    match &app.mode {
        Mode::Confirm(Pending::Quit) => Some(match key.code {
            KeyCode::Char('k' | 'K') if key.mods.is_empty() => Action::Detach,
            KeyCode::Char('s' | 'S') if key.mods.is_empty() => Action::StopAndQuit,
            _ => Action::Cancel,
        }),
        Mode::Confirm(_) => Some(match key.code {
            KeyCode::Char('y' | 'Y') if key.mods.is_empty() => Action::Confirm,
            _ => Action::Cancel,
        }),
        Mode::Filter | Mode::Input(_)
            if !key
                .mods
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            match key.code {
                KeyCode::Char(c) => Some(Action::FilterChar(c)),
                KeyCode::Backspace => Some(Action::FilterBackspace),
                KeyCode::Enter => Some(Action::Enter),
                KeyCode::Esc => Some(Action::Back),
                KeyCode::Up => Some(Action::Up),
                KeyCode::Down => Some(Action::Down),
                _ => None,
            }
        }
        _ => app.keymap.action(key),
    }
}

/// Applies an action; returns what the shell must do. Pure: no I/O.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    app.message = None;
    match app.mode.clone() {
        Mode::Confirm(pending) => {
            app.mode = Mode::Normal;
            return match (action, pending) {
                (Action::Detach, Pending::Quit) => {
                    app.detach = true;
                    app.quit = true;
                    Vec::new()
                }
                (Action::StopAndQuit, Pending::Quit) => {
                    app.stopping = true;
                    app.notify("stopping the live runs; quitting once they have stopped");
                    vec![Effect::StopAll, Effect::Reload]
                }
                (Action::Confirm, pending) if pending != Pending::Quit => confirmed(app, pending),
                _ => {
                    app.notify("cancelled");
                    Vec::new()
                }
            };
        }
        Mode::Input(input) => {
            let mut input = input.clone();
            match action {
                Action::FilterChar(c) => input.text.push(c),
                Action::FilterBackspace => {
                    input.text.pop();
                }
                Action::Enter => {
                    app.mode = Mode::Normal;
                    let from = match input.purpose {
                        InputPurpose::NewExperiment => None,
                        InputPurpose::CopyExperiment(p) => Some(p),
                    };
                    return vec![
                        Effect::NewExperiment {
                            name: input.text,
                            from,
                        },
                        Effect::Reload,
                    ];
                }
                Action::Back => {
                    app.mode = Mode::Normal;
                    return Vec::new();
                }
                _ => {}
            }
            app.mode = Mode::Input(input);
            return Vec::new();
        }
        Mode::Filter => {
            match action {
                Action::FilterChar(c) => app.filter.push(c),
                Action::FilterBackspace => {
                    app.filter.pop();
                }
                Action::Enter => app.mode = Mode::Normal,
                Action::Back => {
                    app.filter.clear();
                    app.mode = Mode::Normal;
                }
                Action::Up | Action::Down => app.move_cursor(action),
                Action::Quit => {
                    app.mode = Mode::Normal;
                    return update(app, Action::Quit);
                }
                _ => {}
            }
            app.clamp();
            return Vec::new();
        }
        Mode::Normal => {}
    }
    match action {
        Action::Quit if app.live_runs > 0 => app.mode = Mode::Confirm(Pending::Quit),
        Action::Quit => app.quit = true,
        Action::Help if app.view == View::Help => app.view = app.prev_view,
        Action::Help => {
            app.prev_view = app.view;
            app.view = View::Help;
        }
        Action::Up | Action::Down | Action::Top | Action::Bottom => app.move_cursor(action),
        Action::NextView | Action::PrevView => {
            let from = if app.view == View::Help {
                app.prev_view
            } else {
                app.view
            };
            let i = View::TABS.iter().position(|&v| v == from).unwrap_or(0);
            let n = View::TABS.len();
            let j = if action == Action::NextView {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.view = View::TABS[j];
            app.back_to = None;
        }
        Action::Goto(v) => {
            app.view = v;
            app.back_to = None;
        }
        Action::Enter => {
            if app.view == View::Experiments {
                let run = match app.current_row() {
                    Some(Row::Run(r)) => Some(r),
                    Some(Row::Experiment(e)) => app.snapshot.experiments[e].runs.first().copied(),
                    _ => None,
                };
                match run {
                    Some(r) => {
                        app.show(r);
                        app.view = View::Run;
                    }
                    None if matches!(app.current_row(), Some(Row::Experiment(_))) => {
                        app.notify("no run yet: r launches the experiment");
                    }
                    None => {}
                }
            } else if app.view == View::Zoos {
                app.open_zoo_accuracy();
            } else if app.view == View::Table {
                let (_, t) = app.ablation();
                let first = t.rows.get(app.table.cursor).and_then(|r| r.runs.first());
                match first.and_then(|n| app.snapshot.runs.iter().position(|r| &r.name == n)) {
                    Some(r) => {
                        app.show(r);
                        app.view = View::Run;
                        app.back_to = Some(View::Table);
                    }
                    None => app.notify("no row here"),
                }
            }
        }
        Action::Back => {
            let list = matches!(app.view, View::Experiments | View::Zoos);
            if app.view == View::Help {
                app.view = app.prev_view;
            } else if list && !app.filter.is_empty() {
                app.filter.clear();
            } else {
                if app.view == View::Results {
                    app.results.accuracy = false;
                }
                app.view = app.back_to.take().unwrap_or(View::Experiments);
            }
        }
        Action::Filter => {
            if matches!(app.view, View::Experiments | View::Zoos | View::Table) {
                app.mode = Mode::Filter;
            } else {
                app.notify("the filter works in the experiments, zoos and table views");
            }
        }
        Action::Select => match app.target_run().map(|r| r.name.clone()) {
            Some(name) => app.toggle_selected(&name),
            None => app.notify("no run to select here"),
        },
        Action::ToggleSmoothing => app.plot.smooth = !app.plot.smooth,
        Action::ToggleLogScale => app.plot.log_y = !app.plot.log_y,
        Action::ToggleWindow => app.plot.full_history = !app.plot.full_history,
        Action::ZoomIn | Action::ZoomOut => app.zoom(action == Action::ZoomIn),
        Action::NextProbe => app.next_probe(),
        Action::ToggleAccuracy => {
            if app.view == View::Results {
                app.results.accuracy = !app.results.accuracy;
                app.results.scroll = 0;
            } else {
                app.notify("the accuracy distributions are in the results view");
            }
        }
        Action::ScrollUp => app.scroll_results(-SCROLL_STEP),
        Action::ScrollDown => app.scroll_results(SCROLL_STEP),
        Action::Export if app.view == View::Table => {
            let (_, t) = app.ablation();
            if t.rows.is_empty() {
                app.notify("the table is empty: nothing to export");
            } else {
                app.notify("exporting the table");
                return vec![Effect::ExportTable];
            }
        }
        Action::Export => match app.export_targets() {
            Ok(runs) => {
                app.notify(format!("exporting {}", runs.join(", ")));
                return vec![Effect::Export(runs)];
            }
            Err(why) => app.notify(why),
        },
        Action::Launch => match app.launch_target() {
            // A zoo generation starts at once; an experiment says what it will do first.
            Ok(path) if app.view == View::Zoos => {
                return vec![Effect::Launch(path), Effect::Reload];
            }
            Ok(path) => return vec![Effect::PlanLaunch(path)],
            Err(why) => app.notify(why),
        },
        Action::NewExperiment => {
            app.mode = Mode::Input(Input {
                purpose: InputPurpose::NewExperiment,
                text: String::new(),
            });
        }
        Action::CopyExperiment => match app.experiment_target() {
            Some(path) => {
                let stem = path
                    .file_stem()
                    .map_or(String::new(), |s| s.to_string_lossy().into_owned());
                app.mode = Mode::Input(Input {
                    purpose: InputPurpose::CopyExperiment(path),
                    text: format!("{stem}-copy"),
                });
            }
            None => app.notify("no experiment under the cursor to copy"),
        },
        Action::Edit => match app.experiment_target() {
            Some(path) => return vec![Effect::Edit(path), Effect::Reload],
            None => app.notify("no experiment under the cursor to edit"),
        },
        Action::Stop => match app.target_run() {
            Some(r) if r.phase == Phase::Running => {
                app.mode = Mode::Confirm(Pending::Stop(r.name.clone()));
            }
            Some(r) if r.phase == Phase::Queued => {
                app.mode = Mode::Confirm(Pending::Unqueue(r.name.clone()));
            }
            Some(r) => {
                let msg = format!("run {} is {}, not running", r.name, r.phase.label());
                app.notify(msg);
            }
            None => app.notify("no run to stop here"),
        },
        Action::SortNext | Action::SortPrev | Action::SortReverse | Action::GroupSeeds
            if app.view != View::Table =>
        {
            app.notify("sorting and grouping are in the table view");
        }
        Action::SortNext => app.sort_step(1),
        Action::SortPrev => app.sort_step(-1),
        Action::SortReverse => match &mut app.table.sort {
            Some((_, desc)) => *desc = !*desc,
            None => app.notify("no column sorted yet: > sorts by the next column"),
        },
        Action::GroupSeeds => {
            app.table.group_seeds = !app.table.group_seeds;
            app.table.sort = None;
            app.table.cursor = 0;
        }
        Action::Evaluate | Action::Generate => {
            let task = if action == Action::Evaluate {
                hyperzoo_core::run::Task::Evaluate
            } else {
                hyperzoo_core::run::Task::Generate
            };
            match app.task_targets() {
                Ok(runs) => return vec![Effect::Task(task, runs), Effect::Reload],
                Err(why) => app.notify(why),
            }
        }
        Action::Delete => match app.target_run() {
            Some(r) if matches!(r.phase, Phase::Running | Phase::Queued) => {
                let msg = format!("run {} is {}: stop it first", r.name, r.phase.label());
                app.notify(msg);
            }
            Some(r) => app.mode = Mode::Confirm(Pending::Delete(r.name.clone())),
            None => app.notify("no run to delete here"),
        },
        Action::FilterChar(_)
        | Action::FilterBackspace
        | Action::Confirm
        | Action::Cancel
        | Action::Detach
        | Action::StopAndQuit => {}
    }
    app.clamp();
    Vec::new()
}

fn confirmed(app: &mut App, pending: Pending) -> Vec<Effect> {
    match pending {
        // Answered by `Detach` or `StopAndQuit`, never by `Confirm`.
        Pending::Quit => Vec::new(),
        Pending::Launch(path, _) => vec![Effect::Launch(path), Effect::Reload],
        Pending::Stop(name) => {
            app.notify(format!("stopping {name}"));
            vec![Effect::Stop(name), Effect::Reload]
        }
        Pending::Unqueue(name) => {
            app.notify(format!("taking {name} out of the queue"));
            vec![Effect::Stop(name), Effect::Reload]
        }
        Pending::Delete(name) => {
            app.selected.retain(|(n, _)| *n != name);
            if app.focus.as_ref() == Some(&name) {
                app.focus = None;
            }
            app.notify(format!("deleting {name}"));
            vec![Effect::Delete(name), Effect::Reload]
        }
    }
}

/// The question a pending confirmation asks; `live_runs` and `queued_runs` are the launcher's
/// counts (for the quit question).
pub fn question(p: &Pending, live_runs: usize, queued_runs: usize) -> String {
    match p {
        Pending::Launch(_, q) => q.clone(),
        Pending::Stop(n) => format!("stop run {n}? (y/N)"),
        Pending::Unqueue(n) => format!("take run {n} out of the queue? (y/N)"),
        Pending::Delete(n) => format!("delete run {n} and all its files? (y/N)"),
        Pending::Quit => {
            let queued = if queued_runs > 0 {
                format!(", {queued_runs} queued")
            } else {
                String::new()
            };
            format!(
                "{live_runs} live run(s){queued}: k keeps them going headless, s stops them (checkpoint), other keys stay"
            )
        }
    }
}

#[cfg(test)]
mod tests;
