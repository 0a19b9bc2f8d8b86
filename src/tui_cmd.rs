//! `hyperzoo tui` (and `hyperzoo` alone): the workbench on the workspace and the experiments
//! folder. Runs launched from it are threads of this process, reporting through the run store
//! that the TUI reads; when the terminal goes away the process keeps them going to the end.
use crate::cli::{GenerateArgs, Global, RunArgs, TuiArgs};
use anyhow::{Result, bail};
use hyperzoo_core::paths;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Starts runs and zoo generations on threads of this process.
struct ThreadLauncher {
    global: Global,
    live: Arc<AtomicUsize>,
}

impl ThreadLauncher {
    fn spawn(&self, what: &str, job: impl FnOnce(&Global) + Send + 'static) -> Result<(), String> {
        let g = self.global.clone();
        let live = self.live.clone();
        live.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new()
            .name(what.to_string())
            .spawn(move || {
                job(&g);
                live.fetch_sub(1, Ordering::SeqCst);
            })
            .map(|_| ())
            .map_err(|e| format!("starting {what}: {e}"))
    }
}

fn is_zoo_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("arch") && !t.contains_key("model"))
}

impl hyperzoo_tui::Launcher for ThreadLauncher {
    fn launch(&mut self, file: &Path) -> Result<(), String> {
        let file = file.to_path_buf();
        if is_zoo_file(&file) {
            self.spawn("zoo generation", move |g| {
                let args = GenerateArgs {
                    file,
                    out: None,
                    shard: None,
                };
                let _ = crate::zoo_cmd::generate(g, &args);
            })
        } else {
            self.spawn("experiment", move |g| {
                let args = RunArgs {
                    file,
                    headless: true,
                    out: None,
                    quiet: true,
                };
                // Failures are recorded in each run's status.toml and log.txt.
                let _ = crate::run_cmd::run(g, &args);
            })
        }
    }

    fn stop(&mut self, _run: &str) {
        // Runs stop at their next step with a checkpoint; every run of this process stops.
        crate::cancel_flag().store(true, Ordering::SeqCst);
    }

    fn live_runs(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

/// `hyperzoo tui`.
pub fn tui(g: &Global, a: &TuiArgs) -> Result<ExitCode> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "the TUI needs a terminal; for scripts use `hyperzoo run <experiment.toml>` (see `hyperzoo --help`)"
        );
    }
    let workspace = paths::workspace_dir(g.workspace.clone()).path;
    let experiments = a
        .experiments
        .clone()
        .unwrap_or_else(|| PathBuf::from("experiments"));
    let theme_dirs = vec![PathBuf::from("themes")];
    let mut options = hyperzoo_tui::Options::new(&workspace, &experiments);
    let theme = if a.theme.is_empty() { "dark" } else { &a.theme };
    options.theme = hyperzoo_tui::theme::load(theme, &theme_dirs)?;
    options.keymap = hyperzoo_tui::keymap::Keymap::load(a.keymap.as_deref())?;
    if a.ascii {
        options.ascii = Some(true);
    }
    let launcher = ThreadLauncher {
        global: g.clone(),
        live: Arc::new(AtomicUsize::new(0)),
    };
    crate::QUIET.store(true, Ordering::SeqCst);
    let result = hyperzoo_tui::run_tui_with(options, Box::new(launcher));
    crate::QUIET.store(false, Ordering::SeqCst);
    result?;
    Ok(ExitCode::SUCCESS)
}
