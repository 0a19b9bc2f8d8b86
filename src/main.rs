//! The `hyperzoo` binary: command-line wiring only. The work lives in the crates:
//! `hyperzoo-core` (paths, datasets, specs) and `hyperzoo-engine` (burn).
mod bench;
mod bench_hyper;
mod cli;
mod commands;
mod eval_cmd;
mod run_cmd;
mod store_cmd;
mod summary_cmd;
mod tui_cmd;
mod zoo_cmd;

use clap::Parser;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// True while the TUI owns the terminal: commands run from it write nothing to stdout/stderr
/// (their runs report through the run store, which the TUI reads).
pub static QUIET: AtomicBool = AtomicBool::new(false);

/// `eprintln!` unless the TUI owns the terminal; write errors (a closed pipe) are ignored.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {
        if !$crate::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            // A closed stderr must not stop a training run: write errors are ignored.
            let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("{}\n", format_args!($($t)*)));
        }
    };
}

/// `println!` unless the TUI owns the terminal; write errors (a closed pipe) are ignored.
#[macro_export]
macro_rules! tell {
    ($($t:tt)*) => {
        if !$crate::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            // A closed stdout (`hyperzoo run … | head`) must not stop a training run.
            let _ = std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", format_args!($($t)*)));
        }
    };
}

std::thread_local! {
    /// A stop flag of this thread's own (a job launched from the TUI), used instead of the
    /// process's interrupt flag.
    static THREAD_CANCEL: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// Gives the calling thread its own stop flag: [`cancel_flag`] returns it on this thread, so
/// that one job launched from the TUI can be stopped without the others.
pub fn set_thread_cancel_flag(flag: Arc<AtomicBool>) {
    THREAD_CANCEL.with(|c| *c.borrow_mut() = Some(flag));
}

/// The stop flag long jobs check at every step (they stop there and keep their work): the
/// calling thread's own ([`set_thread_cancel_flag`]), else the process's interrupt flag, set by
/// Ctrl-C (the handler is installed on first use).
pub fn cancel_flag() -> Arc<AtomicBool> {
    if let Some(own) = THREAD_CANCEL.with(|c| c.borrow().clone()) {
        return own;
    }
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            eprintln!("\ninterrupt: stopping after this step; finished work is kept (run the same command to resume)");
            f.store(true, Ordering::SeqCst);
        });
        flag
    })
    .clone()
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
            | Command::Ls
            | Command::Show { .. }
            | Command::Summary { .. }
            | Command::Doctor
            | Command::Data(DataCommand::List)
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

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if let Some(command) = &cli.command {
        restore_sigpipe_for(command);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
