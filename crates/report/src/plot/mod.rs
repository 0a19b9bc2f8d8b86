//! Plots as PNG or SVG, the format chosen by the output file's extension (`.png`, `.svg`, any
//! case). Files are written atomically (a temporary file beside the output, then renamed), and
//! the output's directory is created.
//!
//! - [`loss_curves`]: total training loss per step, one line per run (optionally log-y).
//! - [`val_r2_curves`]: validation R² per epoch, one line per run.
//! - [`probe_bars`]: a run's probe test scores, grouped by property, one bar per method.
//! - [`histograms`]: labelled samples as histograms side by side, on a shared x range.
//! - [`quantile_boxes`]: box plots drawn from quantiles (min, q25, median, q75, max, mean).
//! - [`accuracy_histograms`]: a zoo's test accuracy at its last epoch (histogram and box) beside
//!   a run's original and reconstructed test accuracies (boxes from results.toml's quantiles).
//!
//! A run keeps its colour from one plot to the next: the colour is chosen from the run's name
//! (a hash into a 10-colour palette); only when two runs of the same plot land on the same
//! colour does the later one take the next free colour.
mod panels;

use crate::results::{Quantiles, read_run_results};
use crate::run::{Run, open_run, open_runs};
use crate::{Error, Result};
use hyperzoo_core::zoo::store::{NetStatus, Zoo};
use panels::{BarSeries, Bars, Boxes, Column, Figure, Hist, Line, Lines, Panel};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Image formats, chosen by the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `.png`: a bitmap.
    Png,
    /// `.svg`: vector graphics, text kept as text.
    Svg,
}

impl ImageFormat {
    /// The format of `path` by its extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<ImageFormat> {
        let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            other => Err(Error::UnknownFormat {
                path: path.into(),
                found: match other {
                    Some(e) => format!("the extension '.{e}'"),
                    None => "a name without extension".into(),
                },
            }),
        }
    }
}

/// How to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Image width in pixels (SVG: user units). Default 800.
    pub width: u32,
    /// Image height. Default 500.
    pub height: u32,
    /// Logarithmic y axis ([`loss_curves`] only; points ≤ 0 are left out). Default false.
    pub log_y: bool,
    /// Title instead of the plot's own.
    pub title: Option<String>,
    /// Histogram bins. Default 20.
    pub bins: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            width: 800,
            height: 500,
            log_y: false,
            title: None,
            bins: 20,
        }
    }
}

impl PlotOptions {
    fn title_or(&self, default: impl Into<String>) -> String {
        self.title.clone().unwrap_or_else(|| default.into())
    }
}

/// Total loss per step of each run (the `loss` of metrics.jsonl's step records), and its
/// validation loss at the end of each epoch (the `val_loss` of the epoch records, at their
/// step), dashed.
pub fn loss_curves(runs: &[PathBuf], out: &Path, opts: &PlotOptions) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    let runs = open_plot_runs(runs)?;
    let mut series = curves(&runs, "step", "step", "loss")?;
    for (line, run) in series.iter_mut().zip(&runs) {
        line.dashed = Run::series(&run.require_metrics()?, "epoch", "step", "val_loss");
    }
    if opts.log_y {
        for s in &mut series {
            s.points.retain(|&(_, y)| y > 0.0);
            s.dashed.retain(|&(_, y)| y > 0.0);
        }
    }
    if series.iter().all(|s| s.points.is_empty()) {
        let what = if opts.log_y { "positive loss" } else { "loss" };
        return Err(no_points(&runs, what, "step"));
    }
    let y_label = if opts.log_y {
        "loss (log scale)"
    } else {
        "loss"
    };
    let panel = Panel::Lines(Lines {
        title: opts.title_or("Training loss"),
        x_label: "step".into(),
        y_label: y_label.into(),
        log_y: opts.log_y,
        keys: Some((
            "training loss (per step)".into(),
            "validation loss (per epoch)".into(),
        )),
        series,
    });
    save(&Figure::single(panel), out, format, opts)
}

/// Validation R² per epoch of each run (the `val_r2` of metrics.jsonl's epoch records).
pub fn val_r2_curves(runs: &[PathBuf], out: &Path, opts: &PlotOptions) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    let runs = open_plot_runs(runs)?;
    let series = curves(&runs, "epoch", "epoch", "val_r2")?;
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(no_points(&runs, "val_r2", "epoch"));
    }
    let panel = Panel::Lines(Lines {
        title: opts.title_or("Validation R²"),
        x_label: "epoch".into(),
        y_label: "validation R²".into(),
        log_y: false,
        keys: None,
        series,
    });
    save(&Figure::single(panel), out, format, opts)
}

fn open_plot_runs(dirs: &[PathBuf]) -> Result<Vec<Run>> {
    if dirs.is_empty() {
        return Err(Error::empty("plot", "no run given"));
    }
    open_runs(dirs, &[])
}

fn curves(runs: &[Run], kind: &str, x_key: &str, key: &str) -> Result<Vec<Line>> {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let colours = run_colours(&names);
    runs.iter()
        .zip(colours)
        .map(|(run, colour)| {
            let records = run.require_metrics()?;
            Ok(Line {
                name: run.name.clone(),
                colour,
                points: Run::series(&records, kind, x_key, key),
                dashed: Vec::new(),
            })
        })
        .collect()
}

fn no_points(runs: &[Run], what: &str, kind: &str) -> Error {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    Error::empty(
        "plot",
        format!(
            "no {kind} record with a {what} in the metrics.jsonl of {}",
            names.join(", ")
        ),
    )
}

/// The run's probe test scores from its results.toml: one group per property, one bar per
/// method (hyper, W, s(W), then any other in file order). R² below -1 is drawn at -1 with its
/// value written on the bar.
pub fn probe_bars(run: &Path, out: &Path, opts: &PlotOptions) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    let run = open_run(run)?;
    let results = read_run_results(&run)?;
    if results.probes.is_empty() {
        return Err(Error::empty(
            "plot",
            format!("the results.toml of run {} has no probe", run.shown()),
        ));
    }
    let mut properties: Vec<(String, String)> = Vec::new();
    let mut methods: Vec<String> = ["hyper", "W", "s(W)"].map(String::from).to_vec();
    for p in &results.probes {
        if !properties.iter().any(|(name, _)| name == &p.property) {
            let metric = match p.metric.as_str() {
                "r2" => "R²",
                "accuracy" => "accuracy",
                other => other,
            };
            properties.push((p.property.clone(), format!("({metric})")));
        }
        if !methods.contains(&p.method) {
            methods.push(p.method.clone());
        }
    }
    methods.retain(|m| results.probes.iter().any(|p| &p.method == m));
    let series = methods
        .iter()
        .enumerate()
        .map(|(k, method)| BarSeries {
            name: method.clone(),
            colour: PALETTE[k % PALETTE.len()],
            values: properties
                .iter()
                .map(|(property, _)| {
                    results
                        .probes
                        .iter()
                        .find(|p| &p.property == property && &p.method == method)
                        .map(|p| p.test)
                })
                .collect(),
        })
        .collect();
    let panel = Panel::Bars(Bars {
        title: opts.title_or(format!("Linear probes of {} (test split)", run.name)),
        y_label: "test score (R² or accuracy)".into(),
        groups: properties,
        series,
    });
    save(&Figure::single(panel), out, format, opts)
}

/// Labelled samples as histograms side by side (one panel each, a shared x range and a
/// shared y scale in percent of each sample, `opts.bins` bins); non-finite values are left
/// out.
pub fn histograms(samples: &[(String, Vec<f64>)], out: &Path, opts: &PlotOptions) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    if samples.is_empty() {
        return Err(Error::empty("plot", "no sample given"));
    }
    let finite = |v: &[f64]| -> Vec<f64> { v.iter().copied().filter(|x| x.is_finite()).collect() };
    let all: Vec<f64> = samples.iter().flat_map(|(_, v)| finite(v)).collect();
    let (Some(lo), Some(hi)) = (
        all.iter().copied().reduce(f64::min),
        all.iter().copied().reduce(f64::max),
    ) else {
        let labels: Vec<&str> = samples.iter().map(|(l, _)| l.as_str()).collect();
        return Err(Error::empty(
            "plot",
            format!("no finite value in {}", labels.join(", ")),
        ));
    };
    let mut hists: Vec<Hist> = samples
        .iter()
        .enumerate()
        .map(|(k, (label, values))| Hist {
            title: label.clone(),
            x_label: String::new(),
            colour: PALETTE[k % PALETTE.len()],
            values: finite(values),
            range: (lo, hi),
            bins: opts.bins,
            y_max: 0.0,
            x_axis: true,
        })
        .collect();
    share_y(&mut hists);
    let figure = Figure::row(
        opts.title.clone(),
        hists.into_iter().map(Panel::Hist).collect(),
    );
    save(&figure, out, format, opts)
}

/// Gives every histogram the same y axis.
fn share_y(hists: &mut [Hist]) {
    let top = Hist::shared_top(&hists.iter().collect::<Vec<_>>());
    for h in hists {
        h.y_max = top;
    }
}

/// Box plots drawn from quantiles: a box from q25 to q75, a line at the median, whiskers to
/// min and max, a cross at the mean (said in a note under the plot).
pub fn quantile_boxes(boxes: &[(String, Quantiles)], out: &Path, opts: &PlotOptions) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    if boxes.is_empty() {
        return Err(Error::empty("plot", "no quantiles given"));
    }
    let panel = Panel::Boxes(Boxes {
        title: opts.title_or("Quantiles"),
        y_label: String::new(),
        y_range: None,
        boxes: boxes
            .iter()
            .enumerate()
            .map(|(k, (label, q))| (label.clone(), *q, PALETTE[k % PALETTE.len()]))
            .collect(),
    });
    let mut figure = Figure::single(panel);
    figure.note = Some(panels::BOX_NOTE.into());
    save(&figure, out, format, opts)
}

/// The test accuracy of a zoo's networks at the zoo's last checkpoint epoch (networks that
/// diverged, or without a finite accuracy, left out), with a label naming zoo, epoch and count.
pub fn zoo_test_accuracy(zoo_dir: &Path) -> Result<(String, Vec<f64>)> {
    let zoo = Zoo::open(zoo_dir)?;
    let name = &zoo.manifest.name;
    let Some(epoch) = zoo.records.iter().map(|r| r.epoch).max() else {
        return Err(Error::empty(
            "plot",
            format!("zoo {name} ({}) has no record", zoo_dir.display()),
        ));
    };
    let values: Vec<f64> = zoo
        .records
        .iter()
        .filter(|r| r.epoch == epoch && r.status == NetStatus::Ok && r.test_acc.is_finite())
        .map(|r| r.test_acc)
        .collect();
    if values.is_empty() {
        return Err(Error::empty(
            "plot",
            format!("zoo {name} has no network with a finite test accuracy at epoch {epoch}"),
        ));
    }
    let label = format!("zoo {name}, epoch {epoch}, {} networks", values.len());
    Ok((label, values))
}

/// Test accuracy distributions. With `zoo`: a histogram of the zoo's test accuracy at its
/// last epoch ([`zoo_test_accuracy`]) and its box. With `run`: from the run's accuracies.csv, a
/// box per group (original, reconstructed, anchors, generated, fine-tuned) and histograms of
/// the original, reconstructed and generated networks; without that file, the boxes of the
/// original and reconstructed networks from the quantiles of its results.toml. At least one of
/// the two is needed. The histograms are stacked on one x axis (0 to 1) and one y scale (percent
/// of each group's networks), the boxes beside them.
pub fn accuracy_histograms(
    zoo: Option<&Path>,
    run: Option<&Path>,
    out: &Path,
    opts: &PlotOptions,
) -> Result<()> {
    let format = ImageFormat::from_path(out)?;
    if zoo.is_none() && run.is_none() {
        return Err(Error::empty(
            "plot",
            "accuracy histograms need a zoo, a run or both",
        ));
    }
    let mut hists = Vec::new();
    let mut boxes = Vec::new();
    let mut title = opts.title_or("Test accuracy");
    let hist = |title: String, colour: RGBColor, values: Vec<f64>| Hist {
        title,
        x_label: "test accuracy".into(),
        colour,
        values,
        range: (0.0, 1.0),
        bins: opts.bins,
        y_max: 0.0,
        x_axis: false,
    };
    if let Some(dir) = zoo {
        let (label, values) = zoo_test_accuracy(dir)?;
        if let Some(q) = Quantiles::of(&values) {
            boxes.push(("zoo".to_string(), q, PALETTE[0]));
        }
        // The label's count is the histogram's n.
        let label = label
            .rsplit_once(", ")
            .map_or(label.clone(), |(l, _)| l.to_string());
        hists.push(hist(label, PALETTE[0], values));
    }
    if let Some(dir) = run {
        let run = open_run(dir)?;
        if opts.title.is_none() {
            title = format!("Test accuracy: {}", run.name);
        }
        let csv = run.path(hyperzoo_core::results::ACCURACIES_FILE);
        let groups = accuracy_groups(&csv)?;
        if groups.is_empty() {
            let rc = read_run_results(&run)?.reconstruction.unwrap_or_default();
            let (Some(original), Some(reconstructed)) = (rc.acc_original, rc.acc_reconstructed)
            else {
                return Err(Error::empty(
                    "plot",
                    format!(
                        "the results.toml of run {} has no test accuracies ([reconstruction] \
                         acc_original, acc_reconstructed): eval had no test images of the zoo's dataset",
                        run.shown()
                    ),
                ));
            };
            boxes.push(("original".into(), original, PALETTE[1]));
            boxes.push(("reconstructed".into(), reconstructed, PALETTE[2]));
        }
        // accuracies.csv (eval, generate): every network's accuracy, a histogram per group of
        // the seeds' central picture and a box per group.
        for (k, (group, values)) in groups.into_iter().enumerate() {
            let colour = PALETTE[(k + 1) % PALETTE.len()];
            if let Some(q) = Quantiles::of(&values) {
                boxes.push((group.clone(), q, colour));
            }
            if ["original", "reconstructed", "generated"].contains(&group.as_str()) {
                hists.push(hist(group, colour, values));
            }
        }
    }
    share_y(&mut hists);
    if let Some(last) = hists.last_mut() {
        last.x_axis = true;
    }
    let boxes = Panel::Boxes(Boxes {
        title: "quantiles".into(),
        y_label: "test accuracy".into(),
        y_range: Some((0.0, 1.0)),
        boxes,
    });
    let mut columns = Vec::new();
    if !hists.is_empty() {
        columns.push(Column {
            weight: 0.55,
            panels: hists.into_iter().map(Panel::Hist).collect(),
        });
    }
    columns.push(Column {
        weight: 0.45,
        panels: vec![boxes],
    });
    let figure = Figure {
        title: Some(title),
        note: Some(panels::BOX_NOTE.into()),
        columns,
    };
    save(&figure, out, format, opts)
}

/// The groups of an accuracies.csv in a fixed order (original, reconstructed, anchors,
/// generated, then the fine-tuned ones in file order); empty when there is no file.
fn accuracy_groups(path: &Path) -> Result<Vec<(String, Vec<f64>)>> {
    let rows = hyperzoo_core::results::read_accuracies(path).map_err(|e| Error::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
    for (g, _, v) in rows {
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some((_, vals)) => vals.push(v),
            None => groups.push((g, vec![v])),
        }
    }
    let rank = |g: &str| {
        ["original", "reconstructed", "anchors", "generated"]
            .iter()
            .position(|x| *x == g)
            .unwrap_or(4)
    };
    groups.sort_by_key(|(g, _)| rank(g));
    Ok(groups)
}

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A colour per run, chosen by name (see the module documentation).
fn run_colours(names: &[&str]) -> Vec<RGBColor> {
    let mut used = [0usize; PALETTE.len()];
    names
        .iter()
        .map(|name| {
            // FNV-1a: stable across Rust releases, unlike std's hasher.
            let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            let home = (hash % PALETTE.len() as u64) as usize;
            // Past 10 runs colours repeat: take the least used slot from the name's own.
            let slot = (0..PALETTE.len())
                .map(|k| (home + k) % PALETTE.len())
                .min_by_key(|&s| used[s])
                .unwrap_or(home);
            used[slot] += 1;
            PALETTE[slot]
        })
        .collect()
}

fn save(figure: &Figure, out: &Path, format: ImageFormat, opts: &PlotOptions) -> Result<()> {
    crate::font::register_fonts();
    let size = (opts.width.max(1), opts.height.max(1));
    let plot_error = |e: &dyn std::fmt::Display| Error::Plot {
        path: out.into(),
        reason: e.to_string(),
    };
    match format {
        ImageFormat::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                figure
                    .draw(&root)
                    .and_then(|()| root.present())
                    .map_err(|e| plot_error(&e))?;
            }
            Ok(hyperzoo_core::fsutil::write_atomic(out, text.as_bytes())?)
        }
        ImageFormat::Png => {
            let dir = match out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                action: "creating directory",
                path: dir.into(),
                source,
            })?;
            let name = out.file_name().unwrap_or_default().to_string_lossy();
            // The encoder picks the format from the extension: keep .png last.
            let partial = dir.join(format!(".{name}.partial.png"));
            let drawn = {
                let root = BitMapBackend::new(&partial, size).into_drawing_area();
                figure.draw(&root).and_then(|()| root.present())
            };
            if let Err(e) = drawn {
                let _ = std::fs::remove_file(&partial);
                return Err(plot_error(&e));
            }
            std::fs::rename(&partial, out).map_err(|source| Error::Io {
                action: "renaming into place",
                path: out.into(),
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests;
