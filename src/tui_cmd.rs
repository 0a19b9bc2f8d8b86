//! `hyperzoo tui` (and `hyperzoo` alone): the workbench on the workspace and the experiments
//! folder. Runs launched from it are threads of this process, reporting through the run store
//! that the TUI reads; when the terminal goes away the process keeps them going to the end.
use crate::cli::{GenerateArgs, Global, RunArgs, TuiArgs};
use anyhow::{Result, bail};
use hyperzoo_core::experiment::Experiment;
use hyperzoo_core::paths;
use hyperzoo_core::zoo::ZooDef;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Starts runs and zoo generations on threads of this process, each launch with its own stop
/// flag so that stopping one run leaves the others going.
struct ThreadLauncher {
    global: Global,
    live: Arc<AtomicUsize>,
    /// The launches of this session.
    launches: Vec<Launch>,
}

/// One launch: the run (or zoo) names it covers, its stop flag, and whether its thread ended.
struct Launch {
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl ThreadLauncher {
    fn spawn(
        &mut self,
        what: &str,
        names: Vec<String>,
        job: impl FnOnce(&Global) + Send + 'static,
    ) -> Result<(), String> {
        self.launches.retain(|l| !l.done.load(Ordering::SeqCst));
        if let Some(busy) = names
            .iter()
            .find(|n| self.launches.iter().any(|l| l.names.contains(n)))
        {
            return Err(format!("{busy} is already running in this session"));
        }
        let g = self.global.clone();
        let live = self.live.clone();
        let launch = Launch {
            names,
            stop: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let (stop, done) = (launch.stop.clone(), launch.done.clone());
        live.fetch_add(1, Ordering::SeqCst);
        let started = std::thread::Builder::new()
            .name(what.to_string())
            .spawn(move || {
                hyperzoo_engine::device::init_worker_thread();
                crate::set_thread_cancel_flag(stop);
                job(&g);
                done.store(true, Ordering::SeqCst);
                live.fetch_sub(1, Ordering::SeqCst);
            });
        match started {
            Ok(_) => {
                self.launches.push(launch);
                Ok(())
            }
            Err(e) => {
                self.live.fetch_sub(1, Ordering::SeqCst);
                Err(format!("starting {what}: {e}"))
            }
        }
    }

    /// The stop flags of the launches that cover `run`.
    fn flags_of(&self, run: &str) -> Vec<Arc<AtomicBool>> {
        self.launches
            .iter()
            .filter(|l| l.names.iter().any(|n| n == run))
            .map(|l| l.stop.clone())
            .collect()
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
            let names = ZooDef::load(&file)
                .map(|d| vec![d.name])
                .map_err(|e| e.to_string())?;
            self.spawn("zoo generation", names, move |g| {
                let args = GenerateArgs {
                    file,
                    out: None,
                    shard: None,
                };
                let _ = crate::zoo_cmd::generate(g, &args);
            })
        } else {
            let names = Experiment::load(&file)
                .and_then(|e| e.expand())
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            self.spawn("experiment", names, move |g| {
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

    fn stop(&mut self, run: &str) {
        // The launch that trains `run` stops at its next step with a checkpoint (its later grid
        // runs are not started); other launches go on.
        for flag in self.flags_of(run) {
            flag.store(true, Ordering::SeqCst);
        }
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
        launches: Vec::new(),
    };
    crate::QUIET.store(true, Ordering::SeqCst);
    let result = hyperzoo_tui::run_tui_with(options, Box::new(launcher));
    crate::QUIET.store(false, Ordering::SeqCst);
    result?;
    Ok(ExitCode::SUCCESS)
}
