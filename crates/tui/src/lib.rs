//! hyperzoo-tui: the terminal workbench. Reads the run store (`hyperzoo_core::run`) and draws it;
//! no burn here, so it builds and tests without libtorch.
//!
//! Elm-style, one file per part:
//! - [`app`]: the state ([`App`]), what keys mean ([`Action`]), [`update`] (pure, returns
//!   [`Effect`]s for the shell to perform).
//! - [`keymap`]: keys to actions from TOML (embedded default plus a user file); the help view is
//!   generated from it.
//! - [`store`]: a read-only [`Snapshot`] of the workspace (runs, experiment files, zoos), read
//!   without locking, incrementally by [`Loader`].
//! - [`view`]: one pure `render(frame, area, &App)` per view.
//! - [`theme`]: `themes/*.toml` (via `hyperzoo_core::theme`) as ratatui colours.
//! - [`queue`]: the [`Launcher`] the binary uses: runs on threads of this process, at most N at
//!   once, the others queued (their status `queued` in the run store); the training itself is
//!   the binary's [`queue::Worker`].
//! - [`export`]: results TOML and loss plots of runs into `<workspace>/exports/` (the `e` key).
//! - [`bench`]: the loop's frame times while runs train (`hyperzoo bench tui`).
//! - [`run_tui`]: the terminal event loop; training is reached only through a [`Launcher`].
//!   When the terminal goes away (SIGHUP) it stops drawing and carries the live runs to their
//!   end before returning.
pub mod app;
pub mod bench;
pub mod error;
pub mod export;
pub mod keymap;
pub mod plan;
pub mod queue;
mod shell;
pub mod store;
pub mod theme;
pub mod view;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod snapshot_tests;

pub use app::{Action, App, Effect, Mode, PlotOptions, View, action_for_key, update};
pub use error::{Error, Result};
pub use keymap::{Key, Keymap};
pub use shell::{Options, run_tui, run_tui_with};
pub use store::{Loader, Snapshot};

use std::path::Path;

/// How the TUI starts and stops runs; the binary implements it over the engine, so this crate
/// never links it. Runs are threads of the process that launched them and write their run
/// directories as they go; the TUI sees them through the workspace like any other run.
pub trait Launcher: Send {
    /// Starts (or queues, or resumes) the runs of an experiment file, or generates a zoo from a
    /// zoo file. Returns a line for the status bar saying what was done.
    fn launch(&mut self, experiment: &Path) -> Result<String, String>;
    /// Asks the run named `run` to stop (at its next step, with a checkpoint), or takes it out
    /// of the queue. Returns a line for the status bar saying what was done.
    fn stop(&mut self, run: &str) -> Result<String, String>;
    /// Stops every run of this process: queued ones are taken out of the queue, running ones
    /// stop at their next step with a checkpoint (they are live until then).
    fn stop_all(&mut self);
    /// Runs of this process still to end, running or queued; the TUI does not exit while there
    /// are any once its terminal has gone (or the user chose to leave them running).
    fn live_runs(&self) -> usize;
    /// Of [`Launcher::live_runs`], those still waiting in a queue.
    fn queued_runs(&self) -> usize {
        0
    }
    /// Queues an evaluation or a generation of each of the (trained) runs named. Returns a
    /// line for the status bar saying what was done.
    fn task(&mut self, task: hyperzoo_core::run::Task, runs: &[String]) -> Result<String, String> {
        let command = match task {
            hyperzoo_core::run::Task::Evaluate => "eval",
            hyperzoo_core::run::Task::Generate => "generate",
        };
        Err(format!(
            "jobs are not available here; run `hyperzoo {command} {}`",
            runs.join(" ")
        ))
    }
}

/// A launcher that launches nothing: browsing only.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLauncher;

impl Launcher for NoLauncher {
    fn launch(&mut self, experiment: &Path) -> Result<String, String> {
        Err(format!(
            "launching is not available here; run `hyperzoo run {}`",
            experiment.display()
        ))
    }

    fn stop(&mut self, run: &str) -> Result<String, String> {
        Err(format!("{run} was not launched here: nothing to stop"))
    }

    fn stop_all(&mut self) {}

    fn live_runs(&self) -> usize {
        0
    }
}
