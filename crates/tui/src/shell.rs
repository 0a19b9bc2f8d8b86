//! The terminal side: raw mode and the alternate screen, the event loop (draw, read a key,
//! update, perform effects, reload the workspace) and the restoration of the terminal on every
//! way out, panics included.
//!
//! The loop polls for keys for at most [`FRAME`], so it redraws at least 20 times a second
//! whatever the training threads do, and reloads the snapshot every [`RELOAD`].
//!
//! When the terminal goes away (SIGHUP from a dropped SSH session, or a draw or a read that
//! fails) the shell stops drawing, writes nothing more to the terminal (not even the escape
//! sequences that restore it), and waits for the launcher's live runs, running and queued, to
//! end before returning: the process carries its runs to completion and exits 0. SIGHUP is
//! caught from the start of the TUI so that its default action (terminating the process, and
//! the runs with it) never applies. Quitting with live runs and choosing to keep them
//! ([`App::detach`]) takes the same path after restoring the terminal, printing a line when the
//! count of live runs changes; there Ctrl-C (or SIGTERM) stops the runs at their next step with
//! a checkpoint, and a second one exits at once.
//!
//! Exports (`e`) are written on a thread, one at a time; the status bar says what was written.
use crate::app::{App, Effect, action_for_key, update};
use crate::error::Result;
use crate::export;
use crate::keymap::Keymap;
use crate::store::{Loader, Phase};
use crate::{Launcher, theme, view};
use crossterm::event::{self, DisableMouseCapture, Event, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use hyperzoo_core::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Once};
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
    /// A run (its name in `<workspace>/runs/`) shown in the Results view on opening
    /// ([`App::open_run`]); a name the workspace lacks is said in the status bar.
    pub open: Option<String>,
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
            open: None,
        }
    }
}

/// Runs the TUI on the workspace with the default options until the user quits.
pub fn run_tui(workspace: &Path, experiments: &Path, launcher: Box<dyn Launcher>) -> Result<()> {
    run_tui_with(Options::new(workspace, experiments), launcher)
}

/// Runs the TUI until the user quits; with live runs, until they have ended if the terminal
/// went away or the user chose to leave them running (see the module documentation).
pub fn run_tui_with(options: Options, mut launcher: Box<dyn Launcher>) -> Result<()> {
    let signals = Signals::catch_hangup()?;
    let mut loader = Loader::new(&options.workspace, &options.experiments);
    let mut app = App::new(
        loader.load(SystemTime::now()),
        options.theme.clone(),
        options.keymap.clone(),
    );
    if let Some(ascii) = options.ascii {
        app.plot.ascii = ascii;
    }
    if let Some(run) = &options.open
        && let Err(why) = app.open_run(run)
    {
        app.notify(why);
    }
    app.memory = crate::store::resident_memory();
    let mut session = Session::enter()?;
    let end = event_loop(
        &mut session,
        &mut app,
        &mut loader,
        launcher.as_mut(),
        &options,
        &signals,
    );
    match end {
        Ok(End::Quit) => Ok(()),
        Ok(End::Gone) => {
            // Nothing more to the dead terminal: not even restoring it.
            session.abandon();
            #[cfg(unix)]
            hangup::detach_stdio();
            wait_headless(launcher.as_mut(), &signals, false);
            Ok(())
        }
        Ok(End::Headless) => {
            drop(session);
            signals.catch_interrupts();
            wait_headless(launcher.as_mut(), &signals, true);
            Ok(())
        }
        // `session` restores the terminal when dropped.
        Err(e) => Err(e),
    }
}

/// How the event loop ended.
enum End {
    /// The user quit with nothing live (or the live runs stopped).
    Quit,
    /// The terminal went away.
    Gone,
    /// The user quit, leaving the live runs to end headless.
    Headless,
}

fn event_loop(
    session: &mut Session,
    app: &mut App,
    loader: &mut Loader,
    launcher: &mut dyn Launcher,
    options: &Options,
    signals: &Signals,
) -> Result<End> {
    let mut last_reload = Instant::now();
    let mut exporting: Option<Receiver<String>> = None;
    loop {
        app.live_runs = launcher.live_runs();
        app.queued_runs = launcher.queued_runs();
        if signals.hung_up() {
            return Ok(End::Gone);
        }
        if let Some(rx) = &exporting {
            match rx.try_recv() {
                Ok(msg) => {
                    app.notify(msg);
                    exporting = None;
                }
                Err(TryRecvError::Disconnected) => {
                    app.notify("the export ended without a word (see the log)");
                    exporting = None;
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        if let Ok(size) = session.terminal().size() {
            app.screen_height = size.height;
        }
        if session.terminal().draw(|f| view::render(f, app)).is_err() {
            return Ok(End::Gone);
        }
        let Some(events) = read_events(FRAME) else {
            return Ok(End::Gone);
        };
        for ev in events {
            let Event::Key(k) = ev else { continue };
            if k.kind == KeyEventKind::Release {
                continue;
            }
            let Some(action) = action_for_key(app, k.into()) else {
                continue;
            };
            for effect in update(app, action) {
                // Effects that need the terminal itself (an editor) or a new file.
                let effect = match effect {
                    Effect::NewExperiment { name, from } => {
                        match crate::plan::new_experiment(
                            &options.experiments,
                            &name,
                            from.as_deref(),
                        ) {
                            Ok(path) => Effect::Edit(path),
                            Err(e) => {
                                app.notify(e);
                                continue;
                            }
                        }
                    }
                    other => other,
                };
                if let Effect::Edit(path) = &effect {
                    edit(session, app, path);
                    last_reload = Instant::now() - RELOAD;
                    continue;
                }
                if perform(effect, app, launcher, options, &mut exporting) {
                    last_reload = Instant::now() - RELOAD;
                }
            }
            if app.quit {
                break;
            }
        }
        if app.quit {
            app.live_runs = launcher.live_runs();
            return Ok(if app.detach && app.live_runs > 0 {
                End::Headless
            } else {
                End::Quit
            });
        }
        if app.stopping && launcher.live_runs() == 0 {
            return Ok(End::Quit);
        }
        if last_reload.elapsed() >= RELOAD {
            app.set_snapshot(loader.load(SystemTime::now()));
            app.memory = crate::store::resident_memory();
            last_reload = Instant::now();
        }
    }
}

/// The terminal's events of the next `timeout` (all that are ready once one is); `None` when
/// the terminal has gone.
///
/// crossterm is asked only once stdin is readable: on a hung-up terminal its `event::poll`
/// loops for ever on reads that return nothing, so the hang-up is looked for first (a
/// terminal that hangs up between the two is handled by the SIGHUP handler, see [`hangup`]).
fn read_events(timeout: Duration) -> Option<Vec<Event>> {
    #[cfg(unix)]
    let wait = match hangup::wait_for_stdin(timeout) {
        hangup::Stdin::Gone => return None,
        hangup::Stdin::Quiet => return Some(Vec::new()),
        hangup::Stdin::Readable => Duration::ZERO,
        hangup::Stdin::NotATerminal => timeout,
    };
    #[cfg(not(unix))]
    let wait = timeout;
    let mut events = Vec::new();
    let mut next = wait;
    loop {
        match event::poll(next) {
            Ok(true) => match event::read() {
                Ok(ev) => events.push(ev),
                Err(_) => return None,
            },
            Ok(false) => return Some(events),
            Err(_) => return None,
        }
        next = Duration::ZERO;
    }
}

/// Waits until no run of the launcher is live. With `say`, prints a line to stderr when the
/// count changes (write errors ignored: the terminal may go away meanwhile); a hang-up silences
/// it; an interrupt (once [`Signals::catch_interrupts`]) stops every run.
fn wait_headless(launcher: &mut dyn Launcher, signals: &Signals, say: bool) {
    let mut shown = None;
    let mut stopping = false;
    loop {
        let live = (launcher.live_runs(), launcher.queued_runs());
        let talk = say && !signals.hung_up();
        if live.0 == 0 {
            if talk {
                let _ = writeln!(std::io::stderr(), "hyperzoo: every run has ended");
            }
            return;
        }
        if signals.interrupted() && !stopping {
            stopping = true;
            launcher.stop_all();
            shown = Some((usize::MAX, 0));
        }
        if talk && shown != Some(live) {
            let queued = if live.1 > 0 {
                format!(" ({} queued)", live.1)
            } else {
                String::new()
            };
            let line = match (shown, stopping) {
                (_, true) => format!(
                    "hyperzoo: stopping {} run(s) at their next step, with a checkpoint (Ctrl-C again exits at once)",
                    live.0
                ),
                (None, false) => format!(
                    "hyperzoo: carrying {} run(s){queued} to their end in process {}.\n  Closing this terminal leaves them running; Ctrl-C stops them with a checkpoint; `hyperzoo` shows them.",
                    live.0,
                    std::process::id()
                ),
                (Some(_), false) => format!("hyperzoo: {} run(s) live{queued}", live.0),
            };
            let _ = writeln!(std::io::stderr(), "{line}");
            shown = Some(live);
        }
        std::thread::sleep(RELOAD);
    }
}

/// The signals the shell handles: SIGHUP from the start (the terminal went away), SIGINT and
/// SIGTERM once the TUI has left the screen with runs still live.
struct Signals {
    interrupt: Arc<AtomicBool>,
}

/// Set by the SIGHUP handler.
static HUNG_UP: AtomicBool = AtomicBool::new(false);

impl Signals {
    /// Catches SIGHUP, replacing its default action (terminating the process).
    fn catch_hangup() -> Result<Signals> {
        #[cfg(unix)]
        {
            static CAUGHT: std::sync::OnceLock<std::result::Result<(), String>> =
                std::sync::OnceLock::new();
            CAUGHT
                .get_or_init(|| hangup::catch().map_err(|e| e.to_string()))
                .clone()
                .map_err(|e| std::io::Error::other(format!("catching SIGHUP: {e}")))?;
        }
        Ok(Signals {
            interrupt: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Catches SIGINT and SIGTERM: the first sets the interrupt flag, a second one exits the
    /// process at once (status 130).
    fn catch_interrupts(&self) {
        #[cfg(unix)]
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // The conditional exit first: it sees the flag as the previous signal left it.
            let _ =
                signal_hook::flag::register_conditional_shutdown(sig, 130, self.interrupt.clone());
            let _ = signal_hook::flag::register(sig, self.interrupt.clone());
        }
    }

    fn hung_up(&self) -> bool {
        HUNG_UP.load(Ordering::SeqCst)
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }
}

/// SIGHUP. crossterm reads keys from stdin (the terminal) and, once the terminal has hung up,
/// loops for ever inside `event::poll` on reads that return nothing, so a flag checked between
/// two polls is not enough. The handler also points stdin at an empty pipe (reads would block,
/// so crossterm's read loop ends and its poll times out) and stdout and stderr at /dev/null
/// (nothing more is written to the dead terminal, and a write cannot fail), then sets
/// [`HUNG_UP`].
#[cfg(unix)]
mod hangup {
    use super::HUNG_UP;
    use std::os::fd::IntoRawFd;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// What stdin said within a frame.
    pub(super) enum Stdin {
        /// Input is waiting.
        Readable,
        /// Nothing came.
        Quiet,
        /// The terminal hung up (or stdin was closed).
        Gone,
        /// stdin is not the terminal (crossterm then reads /dev/tty): it cannot tell.
        NotATerminal,
    }

    /// Waits up to `timeout` for stdin, the terminal crossterm reads keys from.
    pub(super) fn wait_for_stdin(timeout: Duration) -> Stdin {
        // Asked once, while the terminal is alive: a hung-up terminal is no longer a tty.
        static STDIN_TTY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // SAFETY: isatty only inspects the descriptor.
        let tty = *STDIN_TTY.get_or_init(|| unsafe { libc::isatty(libc::STDIN_FILENO) } == 1);
        if HUNG_UP.load(Ordering::SeqCst) {
            return Stdin::Gone;
        }
        if !tty {
            return Stdin::NotATerminal;
        }
        let mut fd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n < 0 {
            // EINTR (a signal, a resize): as a quiet frame.
            return Stdin::Quiet;
        }
        if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            Stdin::Gone
        } else if fd.revents & libc::POLLIN != 0 {
            Stdin::Readable
        } else {
            Stdin::Quiet
        }
    }

    /// Installs the handler. The pipe and /dev/null are opened here and never closed: a signal
    /// handler may only make async-signal-safe calls (`dup2` is one).
    pub(super) fn catch() -> std::io::Result<()> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        for fd in [read_end, write_end] {
            // SAFETY: plain fcntl calls on descriptors this function owns.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        // SAFETY: as above; the write end stays open, so a read says "would block", not EOF.
        unsafe {
            let flags = libc::fcntl(read_end, libc::F_GETFL);
            libc::fcntl(read_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")?
            .into_raw_fd();
        let _ = STDIO.set((read_end, null));
        let action = || {
            detach_stdio();
            HUNG_UP.store(true, Ordering::SeqCst);
        };
        // SAFETY: the action only calls dup2 and touches atomics (async-signal-safe).
        unsafe { signal_hook::low_level::register(signal_hook::consts::SIGHUP, action) }?;
        Ok(())
    }

    /// The empty pipe's read end and /dev/null, opened by [`catch`].
    static STDIO: std::sync::OnceLock<(libc::c_int, libc::c_int)> = std::sync::OnceLock::new();

    /// Points stdin at the empty pipe and stdout and stderr at /dev/null (once [`catch`] has
    /// run; async-signal-safe: an atomic read and dup2).
    pub(super) fn detach_stdio() {
        if let Some(&(pipe, null)) = STDIO.get() {
            // SAFETY: dup2 is async-signal-safe; both descriptors stay open for the process's
            // lifetime.
            unsafe {
                libc::dup2(null, libc::STDOUT_FILENO);
                libc::dup2(null, libc::STDERR_FILENO);
                libc::dup2(pipe, libc::STDIN_FILENO);
            }
        }
    }
}

/// Performs an effect; returns whether the workspace should be read again now.
fn perform(
    effect: Effect,
    app: &mut App,
    launcher: &mut dyn Launcher,
    options: &Options,
    exporting: &mut Option<Receiver<String>>,
) -> bool {
    match effect {
        Effect::Launch(path) => match launcher.launch(&path) {
            Ok(msg) | Err(msg) => app.notify(msg),
        },
        Effect::PlanLaunch(path) => match crate::plan::launch_question(&path, &app.snapshot) {
            Ok(q) => app.mode = crate::app::Mode::Confirm(crate::app::Pending::Launch(path, q)),
            Err(e) => app.notify(e),
        },
        // Done by the event loop, which holds the terminal.
        Effect::NewExperiment { .. } | Effect::Edit(_) => {}
        Effect::Stop(run) => match launcher.stop(&run) {
            Ok(msg) | Err(msg) => app.notify(msg),
        },
        Effect::Task(task, runs) => match launcher.task(task, &runs) {
            Ok(msg) | Err(msg) => app.notify(msg),
        },
        Effect::StopAll => launcher.stop_all(),
        Effect::Delete(run) => {
            if let Err(e) = delete_run(&options.workspace, &run, app) {
                app.notify(e);
            }
        }
        Effect::Export(runs) => {
            if exporting.is_some() {
                app.notify("an export is still being written: try again in a moment");
            } else {
                *exporting = start_export(&options.workspace, runs, app);
            }
        }
        Effect::ExportTable => {
            match export::export_table(&options.workspace, &app.ablation().1, SystemTime::now()) {
                Ok(done) => app.notify(done.summary()),
                Err(e) => app.notify(e),
            }
        }
        Effect::Reload => return true,
    }
    false
}

/// Opens `path` in the user's editor (`$VISUAL`, `$EDITOR`, else `vi`) with the terminal
/// given back to it, then takes the screen again and checks the file: the status bar shows
/// `file:line: key = value: ...` when it does not check, the file kept as written.
fn edit(session: &mut Session, app: &mut App, path: &Path) {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let _ = terminal::disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
    // The editor may be a command with arguments (`code -w`): run it through the shell, the
    // file as its last argument.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status();
    let _ = terminal::enable_raw_mode();
    let _ = execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide);
    let _ = session.terminal().clear();
    match status {
        Ok(s) if s.success() => match crate::plan::check(path) {
            Ok(msg) => app.notify(msg),
            Err(e) => app.notify(format!("kept as written, but: {e}")),
        },
        Ok(s) => app.notify(format!(
            "{editor} exited with {s}; {} kept as it is",
            path.display()
        )),
        Err(e) => app.notify(format!(
            "could not start the editor '{editor}': {e} (set $EDITOR)"
        )),
    }
}

/// Writes an export on a thread; its summary (or error) comes back on the receiver.
fn start_export(workspace: &Path, runs: Vec<String>, app: &mut App) -> Option<Receiver<String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let workspace = workspace.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("export".into())
        .spawn(move || {
            let msg = match export::export(&workspace, &runs, SystemTime::now()) {
                Ok(done) => done.summary(),
                Err(e) => e,
            };
            let _ = tx.send(msg);
        });
    match spawned {
        Ok(_) => Some(rx),
        Err(e) => {
            app.notify(format!("could not start the export: {e}"));
            None
        }
    }
}

fn delete_run(workspace: &Path, run: &str, app: &App) -> Result<(), String> {
    if run.is_empty() || run.starts_with('.') || run.contains(['/', '\\']) {
        return Err(format!("refusing to delete '{run}': not a run name"));
    }
    if let Some(r) = app
        .snapshot
        .run(run)
        .filter(|r| matches!(r.phase, Phase::Running | Phase::Queued))
    {
        return Err(format!("run {run} is {}: stop it first", r.phase.label()));
    }
    let dir = workspace.join("runs").join(run);
    std::fs::remove_dir_all(&dir).map_err(|e| format!("deleting {}: {e}", dir.display()))
}

/// Whether the terminal is in raw mode on the alternate screen (restored at most once).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

struct Session {
    /// `None` once abandoned.
    terminal: Option<Terminal<CrosstermBackend<Stdout>>>,
}

impl Session {
    fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        self.terminal
            .as_mut()
            .expect("the terminal is only abandoned at the end")
    }

    /// Forgets the terminal without writing to it: ratatui's `Terminal` shows the cursor when
    /// dropped, and a write to a hung-up terminal fails (and its error would be printed there).
    fn abandon(&mut self) {
        ACTIVE.store(false, Ordering::SeqCst);
        std::mem::forget(self.terminal.take());
    }

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
            Ok(terminal) => Ok(Session {
                terminal: Some(terminal),
            }),
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
