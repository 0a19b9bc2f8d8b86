//! hyperzoo-report: what leaves the workbench as files.
//!
//! - [`series`]: a run's `metrics.jsonl` as CSV ([`series_csv`], [`write_series_csv`]).
//! - [`results`]: `results.toml` read back ([`read_results`]), and one run's results or a
//!   comparison table of several ([`results_toml`]; the format is documented there).
//! - [`plot`]: PNG and SVG plots, the format chosen by the output file's extension: training
//!   curves ([`loss_curves`], [`val_r2_curves`]), probe scores ([`probe_bars`]) and accuracy
//!   distributions ([`accuracy_histograms`], built on [`histograms`] and [`quantile_boxes`]).
//! - [`summary`]: one run's "does it work" table ([`summarize_run`], [`Summary`]): the zoo, the
//!   end of training, probes, reconstruction, generation and memorisation, each number beside
//!   its baseline, as text or JSON.
//! - [`ablation`]: the ablation table of several runs ([`Ablation`]): the keys that vary, the
//!   final metrics, seeds grouped into mean ± std, sorting, the best per column, TOML and CSV.
//! - [`tensorboard`]: a run's metrics and config as TensorBoard event files.
//! - [`font`]: the bundled DejaVu Sans, registered with plotters so that text renders on a
//!   machine without any font package.
//!
//! Every function takes run directories (`<workspace>/runs/<name>/`, see docs/experiments.md);
//! a run is named by its directory's name. Errors name the run or file and say what to do.

pub mod ablation;
pub mod error;
pub mod font;
pub mod plot;
pub mod results;
pub mod series;
pub mod summary;
pub mod tensorboard;

mod run;
#[cfg(test)]
mod testutil;

pub use ablation::Ablation;
pub use error::{Error, Result};
pub use plot::{
    ImageFormat, PlotOptions, accuracy_histograms, histograms, loss_curves, probe_bars,
    quantile_boxes, val_r2_curves, zoo_test_accuracy,
};
pub use results::{Quantiles, Results, read_results, results_toml};
pub use series::{series_csv, write_series_csv};
pub use summary::{Summary, summarize_run};
