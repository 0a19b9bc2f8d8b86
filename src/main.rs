//! The `hyperzoo` binary: command-line wiring only. The work lives in the crates:
//! `hyperzoo-core` (paths, datasets, specs) and `hyperzoo-engine` (burn).
mod bench;
mod cli;
mod commands;
mod eval_cmd;
mod progress;
mod run_cmd;
mod store_cmd;
mod summary_cmd;
mod tui_cmd;
mod zoo_cmd;

use clap::Parser;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

/// `eprintln!` whose write errors (a closed pipe) are ignored: a closed stderr must not stop
/// a training run.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {
        {
            let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("{}\n", format_args!($($t)*)));
        }
    };
}

/// `println!` whose write errors are ignored: a closed stdout (`hyperzoo run … | head`) must
/// not stop a training run.
#[macro_export]
macro_rules! tell {
    ($($t:tt)*) => {
        {
            let _ = std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", format_args!($($t)*)));
        }
    };
}

/// The signal that stopped the command line's long job, if one did (0: none).
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// The process's stop flag, set by SIGINT (Ctrl-C), SIGTERM (a scheduler's time limit or
/// preemption) or SIGHUP (the terminal gone): long jobs of the command line stop at their next
/// step and keep their work (a checkpoint, every finished epoch). The handlers are installed
/// on first use; the signals are read on a thread of their own, which says what it does. (The
/// TUI gives each of its jobs a flag of its own and handles SIGHUP itself.)
pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
            if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            {
                let f = flag.clone();
                std::thread::spawn(move || {
                    for sig in signals.forever() {
                        STOPPED_BY.store(sig, Ordering::SeqCst);
                        // A closed terminal (SIGHUP) must not stop the stopping.
                        let _ = std::io::Write::write_fmt(
                            &mut std::io::stderr(),
                            format_args!(
                                "\n{}: stopping after this step; finished work is kept (run the same command to resume)\n",
                                signal_name(sig)
                            ),
                        );
                        f.store(true, Ordering::SeqCst);
                    }
                });
            }
        }
        flag
    })
    .clone()
}

/// The name of a signal that stops a job (`SIGTERM`).
pub fn signal_name(sig: i32) -> &'static str {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        match sig {
            SIGINT => return "SIGINT (interrupt)",
            SIGTERM => return "SIGTERM",
            SIGHUP => return "SIGHUP (hang-up)",
            _ => {}
        }
    }
    let _ = sig;
    "a signal"
}

/// The exit status of a job stopped by a signal: 128 + the signal (130 for Ctrl-C, 143 for
/// SIGTERM, 129 for SIGHUP), and the signal's name; 130 when none is known.
pub fn stopped_exit() -> (std::process::ExitCode, &'static str) {
    match STOPPED_BY.load(Ordering::SeqCst) {
        0 => (std::process::ExitCode::from(130), "interrupt"),
        sig => (
            std::process::ExitCode::from((128 + sig) as u8),
            signal_name(sig),
        ),
    }
}

/// Commands that only print (listings, checks, summaries) end quietly when their output pipe
/// closes (`hyperzoo check grid.toml | head`), as Unix tools do: SIGPIPE gets its default action
/// back (Rust ignores it, so `println!` would panic instead). Long jobs and the TUI keep it
/// ignored: a closed pipe must not kill a training run, a zoo generation or a download (their
/// output goes through [`say!`]/[`tell!`], which ignore write errors).
fn restore_sigpipe_for(command: &cli::Command) {
    use cli::{Command, DataCommand, ZooCommand};
    let prints_only = matches!(
        command,
        Command::Check { .. }
            | Command::Ls { .. }
            | Command::Show { .. }
            | Command::Summary { .. }
            | Command::Doctor { .. }
            | Command::Completions { .. }
            | Command::Man
            | Command::Data(DataCommand::List { .. })
            | Command::Zoo(ZooCommand::Info { .. })
    );
    #[cfg(unix)]
    if prints_only {
        // SAFETY: setting a signal's disposition to its default before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    #[cfg(not(unix))]
    let _ = prints_only;
}

/// An error and its causes on one line, each cause once: the library's messages already end
/// with their cause ("reading X: Is a directory (os error 21)"), which anyhow's chain would
/// repeat.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    if let Some(hint) = hyperzoo_core::fsutil::disk_full_hint(&text) {
        text.push_str("\n  ");
        text.push_str(hint);
    }
    text
}

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if let Some(command) = &cli.command {
        restore_sigpipe_for(command);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
