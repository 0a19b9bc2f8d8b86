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
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The process's stop flag, set by Ctrl-C (the handler is installed on first use): long jobs
/// of the command line stop at their next step and keep their work. (The TUI gives each of its
/// jobs a flag of its own.)
pub fn cancel_flag() -> Arc<AtomicBool> {
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
