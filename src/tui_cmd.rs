//! `hyperzoo tui` (and `hyperzoo` alone): the workbench on the workspace and the experiments
//! folder. Runs launched from it are threads of this process (at most `--max-runs` at once, the
//! others queued: `hyperzoo_tui::queue`), reporting through the run store that the TUI reads;
//! when the terminal goes away the process keeps them going to the end, then exits 0.
use crate::cli::{BenchTuiArgs, Global, TuiArgs};
use anyhow::{Result, bail};
use hyperzoo_core::device::DeviceSpec;
use hyperzoo_core::paths;
use hyperzoo_tui::queue::{Job, RunQueue, Worker};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Does the TUI queue's jobs with the engine, each on the thread the queue started for it,
/// with the job's own stop flag (stopping one run leaves the others going).
struct EngineWorker {
    global: Global,
}

impl Worker for EngineWorker {
    fn work(&self, job: &Job, stop: Arc<AtomicBool>) {
        use hyperzoo_engine::workflow::{self, run::run_experiment, zoo::generate_zoo};
        hyperzoo_engine::device::init_worker_thread();
        let env = self.global.env();
        // Failures are recorded in each run's status.toml and log.txt (a zoo's in its store);
        // the views read them there, so the notes are dropped.
        match job {
            Job::Train { config, .. } => {
                // The run directory's config.toml is an experiment of exactly this run.
                if let Ok(e) = hyperzoo_core::experiment::Experiment::load(config) {
                    let _ = run_experiment(
                        &env,
                        &e,
                        &env.workspace.runs(),
                        &stop,
                        &mut workflow::ignore,
                    );
                }
            }
            Job::Zoo { file, .. } => {
                let _ = generate_zoo(&env, file, None, (0, 1), &stop, &mut workflow::ignore);
            }
            Job::Task { run, task } => {
                let _ = hyperzoo_engine::workflow::task::run_task(&env, run, *task, &stop);
            }
        }
    }
}

/// Runs trained at once by default: one on a CPU (two trainings share the cores, each at half
/// speed), two with CUDA (small models leave a GPU mostly idle).
fn default_max_runs(g: &Global) -> usize {
    match hyperzoo_engine::device::resolve(g.device) {
        Ok(d) if matches!(d.spec, DeviceSpec::Cuda(_)) => 2,
        _ => 1,
    }
}

/// `hyperzoo tui`.
pub fn tui(g: &Global, a: &TuiArgs) -> Result<ExitCode> {
    if a.max_runs == Some(0) {
        bail!("--max-runs 0: give at least 1 (the number of runs trained at once)");
    }
    let workspace = paths::workspace_dir(g.workspace.clone()).path;
    // Without --launch the run to open must be there already: say so before anything starts.
    let mut open = match (&a.open, &a.launch) {
        (Some(run), None) => Some(run_to_open(&workspace, run)?),
        _ => None,
    };
    if !std::io::stdout().is_terminal() {
        bail!(
            "the TUI needs a terminal; for scripts use `hyperzoo run <experiment.toml>` (see `hyperzoo --help`)"
        );
    }
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
    let max_runs = a.max_runs.unwrap_or_else(|| default_max_runs(g));
    let worker = EngineWorker { global: g.clone() };
    let mut launcher = RunQueue::new(&workspace, max_runs, Box::new(worker));
    if let Some(file) = &a.launch {
        use hyperzoo_tui::Launcher;
        if let Err(e) = launcher.launch(file) {
            bail!("--launch {}: {e}", file.display());
        }
    }
    if let (Some(run), None) = (&a.open, &open) {
        // After the launch, so that a run it has just queued can be named.
        match run_to_open(&workspace, run) {
            Ok(name) => open = Some(name),
            Err(e) => return Err(e),
        }
    }
    options.open = open;
    hyperzoo_tui::run_tui_with(options, Box::new(launcher))?;
    Ok(ExitCode::SUCCESS)
}

/// The name in `<workspace>/runs/` of the run `--open` names: a run name there, or the
/// directory of one (the workbench shows the workspace's runs only).
fn run_to_open(workspace: &Path, run: &str) -> Result<String> {
    let runs = workspace.join("runs");
    let is_run = |dir: &Path| dir.join("config.toml").is_file();
    if !run.contains(['/', '\\']) && is_run(&runs.join(run)) {
        return Ok(run.to_string());
    }
    let dir = Path::new(run);
    if is_run(dir) {
        let canonical = |p: &Path| p.canonicalize().ok();
        let parent = canonical(dir).and_then(|d| {
            let name = d.file_name()?.to_string_lossy().into_owned();
            Some((d.parent()?.to_path_buf(), name))
        });
        if let Some((parent, name)) = parent
            && Some(parent) == canonical(&runs)
        {
            return Ok(name);
        }
        bail!(
            "--open {run}: the workbench shows the runs of {} only; give the workspace that holds this run with --workspace",
            runs.display()
        );
    }
    bail!(
        "--open {run}: no run of that name in {} (`hyperzoo ls` lists them)",
        runs.display()
    )
}

/// `hyperzoo bench tui`: the TUI loop's redraws per second and frame times while the
/// experiment trains on a thread of this process, as it would when launched from the TUI
/// (`hyperzoo_tui::bench`). The workspace is a temporary directory.
pub fn bench(g: &Global, a: &BenchTuiArgs) -> Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let workspace = tmp.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let experiments = a
        .experiment
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let options = hyperzoo_tui::Options::new(&workspace, &experiments);
    let worker = EngineWorker {
        global: Global {
            workspace: Some(workspace.clone()),
            ..g.clone()
        },
    };
    let mut launcher = RunQueue::new(&workspace, 1, Box::new(worker));
    let stats = hyperzoo_tui::bench::measure_frames(
        &options,
        &mut launcher,
        &a.experiment,
        std::time::Duration::from_secs(a.seconds),
        std::time::Duration::from_secs(a.start_timeout),
        (a.width, a.height),
    );
    let s = stats?;
    let cpu = s
        .cpu_cores
        .map_or_else(|| "unknown".to_string(), |c| format!("{c:.2}"));
    println!(
        "hyperzoo tui: {:.1} redraws/s over {:.1} s of {} training ({}x{} screen, Run view); frame work p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; longest gap between redraws {:.1} ms; process CPU {cpu} cores of {}; training {} samples/s (median over the window)",
        s.redraws_per_s(),
        s.elapsed.as_secs_f64(),
        s.run,
        a.width,
        a.height,
        s.frame_quantile(0.5),
        s.frame_quantile(0.99),
        s.frame_quantile(1.0),
        s.worst_gap_ms(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        s.train_samples_per_s
            .map_or_else(|| "unknown".to_string(), |v| format!("{v:.0}")),
    );
    println!(
        "{{\"bench\": \"tui\", \"redraws_per_s\": {:.2}, \"frames\": {}, \"frame_ms_p50\": {:.3}, \"frame_ms_p99\": {:.3}, \"frame_ms_max\": {:.3}, \"cpu_cores\": {}, \"train_samples_per_s\": {}}}",
        s.redraws_per_s(),
        s.frame_ms.len(),
        s.frame_quantile(0.5),
        s.frame_quantile(0.99),
        s.frame_quantile(1.0),
        s.cpu_cores
            .map_or_else(|| "null".to_string(), |c| format!("{c:.3}")),
        s.train_samples_per_s
            .map_or_else(|| "null".to_string(), |v| format!("{v:.1}"))
    );
    Ok(ExitCode::SUCCESS)
}
