//! What `hyperzoo bench tui` measures: the TUI's own loop (read the workspace every
//! [`RELOAD`], draw, wait up to [`FRAME`] for a key) while runs launched through a [`Launcher`]
//! train on this process's threads, drawn through crossterm into a sink of the given size
//! instead of a terminal. The Run view of the first run that starts training is shown (its
//! loss curves, lr, R², log and memory are the most drawn of any view), so each frame does
//! everything a frame on screen does but the final write to the tty.
//!
//! The figure the workbench promises is ≥ 10 redraws per second while training saturates the
//! cores; [`FrameStats`] gives the achieved rate, the frame times, and the process's CPU use
//! over the window as evidence that training was saturating them.
use crate::error::{Error, Result};
use crate::shell::{FRAME, RELOAD};
use crate::store::{Loader, Phase};
use crate::{App, Launcher, Options, View, view};
use ratatui::Terminal;
use ratatui::TerminalOptions;
use ratatui::Viewport;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How long the runs are given to stop after the measurement.
const STOP_TIMEOUT: Duration = Duration::from_secs(600);

/// The frames of one measurement.
#[derive(Debug, Clone)]
pub struct FrameStats {
    /// The run whose Run view was drawn.
    pub run: String,
    /// Wall-clock time of the measured window (from the first frame with the run training).
    pub elapsed: Duration,
    /// Work of each frame in ms (reading the workspace when due, drawing), in order.
    pub frame_ms: Vec<f64>,
    /// CPU time of the whole process over the window divided by its wall-clock time (2.0 =
    /// two cores busy), when the platform says (Linux).
    pub cpu_cores: Option<f64>,
    /// Median training throughput (samples/s) of the run's steps recorded during the window:
    /// what the training paid for being drawn (compare with the same experiment headless).
    pub train_samples_per_s: Option<f64>,
}

impl FrameStats {
    /// Frames per second over the window.
    pub fn redraws_per_s(&self) -> f64 {
        self.frame_ms.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1, linearly interpolated) of the frame times in ms.
    pub fn frame_quantile(&self, q: f64) -> f64 {
        let mut v = self.frame_ms.clone();
        v.sort_by(f64::total_cmp);
        hyperzoo_core::results::quantile(&v, q)
    }

    /// The longest time between two redraws the user could see: the slowest frame plus the
    /// longest wait for a key.
    pub fn worst_gap_ms(&self) -> f64 {
        self.frame_quantile(1.0) + FRAME.as_secs_f64() * 1e3
    }
}

/// CPU time (user + system) of this process so far.
fn process_cpu() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ')'.
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| Duration::from_secs_f64(ticks as f64 / hz as f64))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The median samples/s of `run`'s step records after step `after`.
fn median_throughput(run: &crate::store::RunInfo, after: u64) -> Option<f64> {
    let mut v: Vec<f64> = run
        .metrics
        .steps
        .iter()
        .filter(|s| s.step > after && s.samples_per_s.is_finite())
        .map(|s| s.samples_per_s)
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Launches `experiment` with `launcher`, waits (up to `start_timeout`) for one of its runs to
/// be training, then runs the TUI's loop on that run's Run view for `window`, in a
/// `size.0` × `size.1` screen; stops the runs and waits for them to end before returning.
pub fn measure_frames(
    options: &Options,
    launcher: &mut dyn Launcher,
    experiment: &Path,
    window: Duration,
    start_timeout: Duration,
    size: (u16, u16),
) -> Result<FrameStats> {
    launcher
        .launch(experiment)
        .map_err(|e| Error::Other(format!("launching {}: {e}", experiment.display())))?;
    let mut loader = Loader::new(&options.workspace, &options.experiments);
    let mut app = App::new(
        loader.load(SystemTime::now()),
        options.theme.clone(),
        options.keymap.clone(),
    );
    let backend = CrosstermBackend::new(std::io::sink());
    let mut terminal = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, size.0, size.1)),
        },
    )?;
    app.screen_height = size.1;
    let result = frame_loop(
        &mut app,
        &mut loader,
        &mut terminal,
        launcher,
        window,
        start_timeout,
    );
    launcher.stop_all();
    // Runs stop at their next step; a step longer than this is not a run to measure with.
    let stopping = Instant::now();
    while launcher.live_runs() > 0 {
        if stopping.elapsed() > STOP_TIMEOUT {
            return Err(Error::Other(format!(
                "the runs did not stop within {} s of the end of the measurement",
                STOP_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    result
}

fn frame_loop(
    app: &mut App,
    loader: &mut Loader,
    terminal: &mut Terminal<CrosstermBackend<std::io::Sink>>,
    launcher: &mut dyn Launcher,
    window: Duration,
    start_timeout: Duration,
) -> Result<FrameStats> {
    let launched = Instant::now();
    let mut last_reload = Instant::now();
    let mut frame_ms = Vec::new();
    let mut start: Option<(Instant, Option<Duration>)> = None;
    let mut first_step = 0;
    loop {
        let t0 = Instant::now();
        if last_reload.elapsed() >= RELOAD {
            app.set_snapshot(loader.load(SystemTime::now()));
            app.memory = crate::store::resident_memory();
            app.live_runs = launcher.live_runs();
            last_reload = Instant::now();
            if app.focus.is_none()
                && let Some(r) = app
                    .snapshot
                    .runs
                    .iter()
                    .find(|r| r.phase == Phase::Running && !r.metrics.steps.is_empty())
            {
                app.focus = Some(r.name.clone());
                app.view = View::Run;
            }
        }
        terminal.draw(|f| view::render(f, app))?;
        let work = t0.elapsed();
        match start {
            Some((s, cpu0)) => {
                frame_ms.push(work.as_secs_f64() * 1e3);
                if s.elapsed() >= window {
                    let elapsed = s.elapsed();
                    let cpu_cores = match (cpu0, process_cpu()) {
                        (Some(a), Some(b)) => {
                            Some((b - a).as_secs_f64() / elapsed.as_secs_f64().max(1e-9))
                        }
                        _ => None,
                    };
                    app.set_snapshot(loader.load(SystemTime::now()));
                    let run = app.focus.clone().unwrap_or_default();
                    return Ok(FrameStats {
                        train_samples_per_s: app
                            .snapshot
                            .run(&run)
                            .and_then(|r| median_throughput(r, first_step)),
                        run,
                        elapsed,
                        frame_ms,
                        cpu_cores,
                    });
                }
            }
            None if app.focus.is_some() => {
                start = Some((Instant::now(), process_cpu()));
                first_step = app.focused_run().map_or(0, |r| r.step());
            }
            None => {
                if launched.elapsed() > start_timeout {
                    return Err(Error::Other(format!(
                        "no run was training {} s after the launch ({} live)",
                        start_timeout.as_secs(),
                        launcher.live_runs()
                    )));
                }
            }
        }
        if let Some(run) = &app.focus
            && app
                .snapshot
                .run(run)
                .is_some_and(|r| r.phase != Phase::Running)
            && start.is_some()
        {
            return Err(Error::Other(format!(
                "{run} stopped training before the {} s window ended; give a longer experiment",
                window.as_secs()
            )));
        }
        // The shell waits this long for a key; no key comes here.
        std::thread::sleep(FRAME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use std::path::PathBuf;

    /// Writes a running run into `runs` (if any) when launched; live until stopped.
    struct FakeLauncher {
        runs: Option<PathBuf>,
        live: bool,
    }

    impl Launcher for FakeLauncher {
        fn launch(&mut self, _experiment: &Path) -> std::result::Result<String, String> {
            if let Some(runs) = &self.runs {
                fixture::run_dir(&runs.join("fake"), "running", 30, 10);
                self.live = true;
            }
            Ok("launched fake".into())
        }
        fn stop(&mut self, _run: &str) -> std::result::Result<String, String> {
            Ok(String::new())
        }
        fn stop_all(&mut self) {
            self.live = false;
        }
        fn live_runs(&self) -> usize {
            usize::from(self.live)
        }
    }

    #[test]
    fn frames_are_measured_on_the_run_view_of_the_training_run() {
        let tmp = tempfile::tempdir().unwrap();
        let options = Options::new(&tmp.path().join("ws"), tmp.path());
        let mut launcher = FakeLauncher {
            runs: Some(tmp.path().join("ws/runs")),
            live: false,
        };
        let stats = measure_frames(
            &options,
            &mut launcher,
            Path::new("fake.toml"),
            Duration::from_millis(600),
            Duration::from_secs(10),
            (120, 40),
        )
        .unwrap();
        assert_eq!(stats.run, "fake");
        assert_eq!(launcher.live_runs(), 0, "the runs are stopped at the end");
        // At most one frame per FRAME wait: 600 ms holds at most 13 (fewer on a busy machine;
        // the rate is what `hyperzoo bench tui` measures, not this test).
        let n = stats.frame_ms.len();
        assert!((2..=13).contains(&n), "{n} frames");
        assert!(stats.redraws_per_s() <= 21.0);
        assert!(stats.frame_quantile(0.0) <= stats.frame_quantile(0.5));
        assert!(stats.frame_quantile(0.5) <= stats.frame_quantile(1.0));
        assert!(stats.worst_gap_ms() >= FRAME.as_secs_f64() * 1e3);
        #[cfg(target_os = "linux")]
        assert!(stats.cpu_cores.is_some_and(|c| c >= 0.0));
    }

    #[test]
    fn a_run_that_never_trains_is_an_error_naming_the_wait() {
        let tmp = tempfile::tempdir().unwrap();
        let options = Options::new(tmp.path(), tmp.path());
        let err = measure_frames(
            &options,
            &mut FakeLauncher {
                runs: None,
                live: false,
            },
            Path::new("x.toml"),
            Duration::from_millis(100),
            Duration::from_millis(200),
            (80, 24),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no run was training"), "{err}");
    }
}
