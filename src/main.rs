//! The `hyperzoo` binary: command-line wiring only. The work lives in the crates:
//! `hyperzoo-core` (paths, datasets, specs) and `hyperzoo-engine` (burn).
mod bench;
mod cli;
mod commands;
mod zoo_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
