//! Browses a workspace with the TUI and no launcher (nothing can be started from it):
//! `cargo run -p hyperzoo-tui --example browse -- <workspace> <experiments dir> [theme]`.
use hyperzoo_tui::{NoLauncher, Options, run_tui_with, theme};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workspace = PathBuf::from(
        args.next()
            .ok_or("usage: browse <workspace> <experiments> [theme]")?,
    );
    let experiments = PathBuf::from(args.next().unwrap_or_else(|| "experiments".into()));
    let mut options = Options::new(&workspace, &experiments);
    if let Some(name) = args.next() {
        options.theme = theme::load(&name, &[PathBuf::from("themes")])?;
    }
    run_tui_with(options, Box::new(NoLauncher))?;
    Ok(())
}
