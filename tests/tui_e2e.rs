//! The TUI end to end, in a real terminal: the binary runs in a detached tmux session (120x40),
//! keys are sent with `tmux send-keys` and the screen read with `tmux capture-pane -p`.
//!
//! One scenario, as on an SSH box: launch an experiment of two runs with `--max-runs 1` (one
//! trains, one is queued), then the terminal goes away (SIGHUP to the TUI, then the tmux server
//! killed): the process keeps both runs going to their end and exits 0. A TUI opened meanwhile
//! on the same workspace shows them live, then finished, and exports one (`e`); then it
//! evaluates both (`E` on the selection), opens their ablation table (`6`), sorts it and
//! exports it (the CSV checked).
//!
//! Skipped, with a notice, where tmux is not installed. Linux/Unix only.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// 20 Tetris MLPs, 2 epochs.
const ZOO: &str = include_str!("fixtures/tetris-tiny.toml");

const EXPERIMENT: &str = r#"
name = "tiny"
[zoo]
definition = "zoos/tetris-tiny.toml"
epochs = "all"
[model]
kind = "transformer"
d_model = 16
heads = 2
layers = 1
d_ff = 32
latent = 8
[head]
kind = "mlp"
layers = 1
hidden = 8
out = 4
[loss]
gamma = 0.2
[train]
epochs = 4
batch_size = 8
lr = 1e-3
[grid]
seed = [1, 2]
"#;

/// Longest wait for any one thing to happen.
const PATIENCE: Duration = Duration::from_secs(90);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hyperzoo")
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tmux server of its own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: format!("hyperzoo-e2e-{}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// Starts `command` in a new detached session `name`. A server whose last session was
    /// just killed exits; a client that reached its socket meanwhile is told "server exited
    /// unexpectedly": it tries again (on a fresh server) until `PATIENCE` runs out.
    fn start(&self, name: &str, command: &str) {
        let start = Instant::now();
        loop {
            let out = self.cmd(&[
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "120",
                "-y",
                "40",
                command,
            ]);
            if out.status.success() {
                return;
            }
            let exiting = String::from_utf8_lossy(&out.stderr).contains("server exited");
            assert!(
                exiting && start.elapsed() < PATIENCE,
                "tmux new-session: {out:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    /// Waits until the screen of `session` satisfies `ok`.
    fn wait_screen(&self, session: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(session);
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Waits until `ok` holds, checking every 100 ms.
fn wait(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(ws: &Path, run: &str) -> String {
    std::fs::read_to_string(ws.join("runs").join(run).join("status.toml")).unwrap_or_default()
}

/// A shell script that runs the TUI and writes its exit status to `exit_file`. The shell
/// catches SIGHUP for itself only (a caught signal is reset to its default in the TUI), so
/// that it outlives the terminal and records the status.
fn wrapper(dir: &Path, ws: &Path, exp: &Path, exit_file: &Path) -> PathBuf {
    let script = dir.join("tui.sh");
    let text = format!(
        "#!/bin/sh\ntrap 'echo hup >> \"{dir}/shell-hup\"' HUP\n\"{bin}\" --device cpu --workspace \"{ws}\" tui --experiments \"{exp}\" --theme plain --max-runs 1\necho $? > \"{exit}\"\n",
        dir = dir.display(),
        bin = bin(),
        ws = ws.display(),
        exp = exp.display(),
        exit = exit_file.display(),
    );
    std::fs::write(&script, text).unwrap();
    script
}

#[test]
fn runs_outlive_the_terminal_and_a_reopened_tui_shows_them() {
    if !have_tmux() {
        eprintln!("tui_e2e: tmux is not installed; skipping the end-to-end TUI test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ws, exp) = (dir.join("ws"), dir.join("experiments"));
    std::fs::create_dir_all(exp.join("zoos")).unwrap();
    std::fs::write(exp.join("zoos/tetris-tiny.toml"), ZOO).unwrap();
    std::fs::write(exp.join("tiny.toml"), EXPERIMENT).unwrap();
    // The zoo first, with the CLI: the TUI's part is the runs.
    let out = Command::new(bin())
        .args(["--device", "cpu", "--workspace"])
        .arg(&ws)
        .args(["zoo", "generate"])
        .arg(exp.join("zoos/tetris-tiny.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "zoo generate: {out:?}");

    let tmux = Tmux::new();
    let exit_file = dir.join("exit-status");
    let script = wrapper(dir, &ws, &exp, &exit_file);
    tmux.start("first", &format!("sh {}", script.display()));
    tmux.wait_screen("first", "the experiments view", |s| {
        s.contains("tiny.toml") && s.contains("Experiments")
    });
    // r on the experiment row asks first (the runs, no estimate on a fresh machine); y: one
    // run trains, the other waits.
    tmux.keys("first", &["r"]);
    tmux.wait_screen("first", "the launch question", |s| {
        s.contains("launch tiny.toml: 2 run(s) to train") && s.contains("(y/N)")
    });
    tmux.keys("first", &["y"]);
    let screen = tmux.wait_screen("first", "the launch", |s| {
        s.contains("tiny.toml: 1 started, 1 queued (at most 1 at once)")
    });
    assert!(screen.contains("tiny-seed=2"), "{screen}");
    wait("tiny-seed=2 to be queued", || {
        state(&ws, "tiny-seed=2").contains("state = \"queued\"")
    });
    let queued = state(&ws, "tiny-seed=2");
    let pid: u32 = queued
        .split("queued in process ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process id in {queued}"));
    tmux.wait_screen("first", "seed 2 shown as queued", |s| {
        s.lines()
            .any(|l| l.contains("tiny-seed=2") && l.contains("queued"))
    });

    // The terminal goes away: SIGHUP (whose default action would kill the process and its
    // runs), then the terminal itself.
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(300));
    let out = tmux.cmd(&["kill-session", "-t", "first"]);
    assert!(out.status.success(), "{out:?}");
    // The server had no other session: it exits; the next session starts on a new one.
    wait("the first tmux server to exit", || {
        !tmux.cmd(&["has-session"]).status.success()
    });
    let alive = Path::new("/proc").join(pid.to_string());
    if Path::new("/proc/self").exists() {
        assert!(alive.exists(), "the TUI died with its terminal");
    }

    // A TUI opened meanwhile reads the runs from the store as they are, live ones included.
    tmux.start(
        "second",
        &format!(
            "{} --device cpu --workspace {} tui --experiments {} --theme plain",
            bin(),
            ws.display(),
            exp.display()
        ),
    );
    let row = |s: &str, run: &str, st: &str| s.lines().any(|l| l.contains(run) && l.contains(st));
    let live = tmux.wait_screen("second", "the live runs", |s| {
        row(s, "tiny-seed=1", "running") || row(s, "tiny-seed=1", "finished")
    });
    assert!(
        row(&live, "tiny-seed=2", "queued")
            || row(&live, "tiny-seed=2", "running")
            || row(&live, "tiny-seed=2", "finished"),
        "{live}"
    );
    // The first process carries both runs to their end, then exits 0.
    tmux.wait_screen("second", "both runs to finish", |s| {
        row(s, "tiny-seed=1", "finished") && row(s, "tiny-seed=2", "finished")
    });
    wait("the first TUI to exit", || exit_file.exists());
    let status = std::fs::read_to_string(&exit_file).unwrap();
    assert_eq!(status.trim(), "0", "exit status of the detached TUI");

    // e on a run exports its loss plot (it has no results.toml: no TOML, and the status line
    // says why).
    tmux.keys("second", &["j", "e"]);
    let screen = tmux.wait_screen("second", "the export", |s| s.contains("wrote tiny-seed=1-"));
    assert!(screen.contains("not evaluated yet"), "{screen}");
    let exports: Vec<String> = std::fs::read_dir(ws.join("exports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        exports.iter().any(|f| f.ends_with(".png")) && exports.iter().any(|f| f.ends_with(".svg")),
        "{exports:?}"
    );

    // Both runs selected, E evaluates them as jobs of this TUI's queue; the run list shows
    // the jobs, results.toml appears in each run.
    tmux.keys("second", &["Space", "j", "Space", "E"]);
    tmux.wait_screen("second", "the evaluations queued", |s| {
        s.contains("evaluation of 2 run(s) queued")
    });
    for run in ["tiny-seed=1", "tiny-seed=2"] {
        wait(&format!("{run} to be evaluated"), || {
            ws.join("runs").join(run).join("results.toml").exists()
                && std::fs::read_to_string(ws.join("runs").join(run).join("job.toml"))
                    .is_ok_and(|j| j.contains("state = \"finished\""))
        });
    }
    // 6: the ablation table of the selection, the two seeds one row (mean ± std); > sorts by
    // the first column; e writes it as TOML and CSV.
    tmux.keys("second", &["6"]);
    // (The results are on screen once the TUI has read them: it reads the workspace twice a
    // second.)
    tmux.wait_screen("second", "the table of both runs with their probes", |s| {
        s.contains("Table: 2 selected runs")
            && s.contains("tiny (2 runs)")
            && s.contains("test_acc hyper")
    });
    tmux.keys("second", &[">", "e"]);
    tmux.wait_screen("second", "the table export", |s| s.contains("wrote table-"));
    let csv = std::fs::read_dir(ws.join("exports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a table CSV in the exports");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("run,runs,val_loss,")
            && text.contains("probe.test_acc.hyper")
            && text.contains("tiny,tiny-seed=1;tiny-seed=2,"),
        "{text}"
    );
    tmux.keys("second", &["q"]);
}
