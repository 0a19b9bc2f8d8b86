//! The terminal side: raw mode and the alternate screen, the event loop (draw, read a key,
//! update, perform effects, reload the workspace) and the restoration of the terminal on every
//! way out, panics included.
//!
//! The loop polls for keys for at most [`FRAME`], so it redraws at least 20 times a second
//! whatever the training threads do, and reloads the snapshot every [`RELOAD`]. When the
//! terminal goes away (a draw or a read fails) it stops drawing and waits for the launcher's
//! live runs to end before returning.
//!
//! TODO(SIGHUP): a dropped SSH session sends SIGHUP, whose default action kills the process
//! (and the runs it carries) before a failed draw is ever seen. Ignoring SIGHUP needs `libc` or
//! `signal-hook`, which this crate does not depend on; until then, start long runs in tmux,
//! screen or under `nohup`.
use crate::app::{App, Effect, action_for_key, update};
use crate::error::Result;
use crate::keymap::Keymap;
use crate::store::{Loader, Phase};
use crate::{Launcher, theme, view};
use crossterm::event::{self, DisableMouseCapture, Event, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use hyperzoo_core::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Stdout;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Longest wait for a key between two frames.
pub const FRAME: Duration = Duration::from_millis(50);
/// Time between two reads of the workspace.
pub const RELOAD: Duration = Duration::from_millis(500);

/// How the TUI is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The workspace (`runs/`, `zoos/`).
    pub workspace: PathBuf,
    /// The directory of experiment files (and `zoos/` definitions below it).
    pub experiments: PathBuf,
    /// Colours.
    pub theme: Theme,
    /// Keys.
    pub keymap: Keymap,
    /// Force ASCII drawing on or off (default: the theme's `ascii`).
    pub ascii: Option<bool>,
}

impl Options {
    /// The dark theme and the default keymap.
    pub fn new(workspace: &Path, experiments: &Path) -> Self {
        Self {
            workspace: workspace.into(),
            experiments: experiments.into(),
            theme: theme::builtin("dark").expect("the dark theme is embedded"),
            keymap: Keymap::default(),
            ascii: None,
        }
    }
}

/// Runs the TUI on the workspace with the default options until the user quits.
pub fn run_tui(workspace: &Path, experiments: &Path, launcher: Box<dyn Launcher>) -> Result<()> {
    run_tui_with(Options::new(workspace, experiments), launcher)
}

/// Runs the TUI until the user quits (or, with the terminal gone, until no run is live).
pub fn run_tui_with(options: Options, mut launcher: Box<dyn Launcher>) -> Result<()> {
    let mut loader = Loader::new(&options.workspace, &options.experiments);
    let mut app = App::new(
        loader.load(SystemTime::now()),
        options.theme.clone(),
        options.keymap.clone(),
    );
    if let Some(ascii) = options.ascii {
        app.plot.ascii = ascii;
    }
    let mut session = Session::enter()?;
    event_loop(
        &mut session,
        &mut app,
        &mut loader,
        launcher.as_mut(),
        &options,
    )
    // `session` restores the terminal when dropped, on errors too.
}

fn event_loop(
    session: &mut Session,
    app: &mut App,
    loader: &mut Loader,
    launcher: &mut dyn Launcher,
    options: &Options,
) -> Result<()> {
    let mut attached = true;
    let mut last_reload = Instant::now();
    loop {
        app.live_runs = launcher.live_runs();
        if attached {
            if let Ok(size) = session.terminal.size() {
                app.screen_height = size.height;
            }
            if session.terminal.draw(|f| view::render(f, app)).is_err() {
                attached = false;
                continue;
            }
            let mut effects = Vec::new();
            match event::poll(FRAME).and_then(|ready| ready.then(event::read).transpose()) {
                Ok(Some(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    if let Some(action) = action_for_key(app, k.into()) {
                        effects = update(app, action);
                    }
                }
                Ok(_) => {}
                Err(_) => attached = false,
            }
            for effect in effects {
                if perform(effect, app, launcher, options) {
                    last_reload = Instant::now() - RELOAD;
                }
            }
        } else if app.live_runs == 0 {
            return Ok(());
        } else {
            std::thread::sleep(RELOAD);
        }
        if app.quit {
            return Ok(());
        }
        if attached && last_reload.elapsed() >= RELOAD {
            app.set_snapshot(loader.load(SystemTime::now()));
            last_reload = Instant::now();
        }
    }
}

/// Performs an effect; returns whether the workspace should be read again now.
fn perform(effect: Effect, app: &mut App, launcher: &mut dyn Launcher, options: &Options) -> bool {
    match effect {
        Effect::Launch(path) => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            match launcher.launch(&path) {
                Ok(()) => app.notify(format!("launched {name}")),
                Err(e) => app.notify(e),
            }
        }
        Effect::Stop(run) => launcher.stop(&run),
        Effect::Delete(run) => {
            if let Err(e) = delete_run(&options.workspace, &run, app) {
                app.notify(e);
            }
        }
        Effect::Export(run) => app.notify(format!("export of {run}: not available yet")),
        Effect::Reload => return true,
    }
    false
}

fn delete_run(workspace: &Path, run: &str, app: &App) -> Result<(), String> {
    if run.is_empty() || run.starts_with('.') || run.contains(['/', '\\']) {
        return Err(format!("refusing to delete '{run}': not a run name"));
    }
    if app
        .snapshot
        .run(run)
        .is_some_and(|r| r.phase == Phase::Running)
    {
        return Err(format!("run {run} is running: stop it first"));
    }
    let dir = workspace.join("runs").join(run);
    std::fs::remove_dir_all(&dir).map_err(|e| format!("deleting {}: {e}", dir.display()))
}

/// Whether the terminal is in raw mode on the alternate screen (restored at most once).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

struct Session {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Session {
    fn enter() -> Result<Session> {
        install_panic_hook();
        ACTIVE.store(true, Ordering::SeqCst);
        let setup = || -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
            terminal::enable_raw_mode()?;
            let mut out = std::io::stdout();
            execute!(out, EnterAlternateScreen, DisableMouseCapture, cursor::Hide)?;
            Terminal::new(CrosstermBackend::new(out))
        };
        match setup() {
            Ok(terminal) => Ok(Session { terminal }),
            Err(e) => {
                restore();
                Err(e.into())
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode and the alternate screen; does nothing the second time.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// Restores the terminal before the panic message is printed, so it is readable. Only for
/// panics of the thread that runs the TUI: a training thread that panics must not tear the
/// screen down under a TUI that goes on.
fn install_panic_hook() {
    let ui = std::thread::current().id();
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui {
                restore();
            }
            previous(info);
        }));
    });
}
