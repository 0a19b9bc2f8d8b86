//! What a figure is made of, and how each part is drawn on any plotters backend.
//!
//! Text is laid out so that it fits: titles, captions and category labels are measured with the
//! bundled font and shrunk (down to a floor) or shortened in the middle with "…"; the number of
//! ticks follows the axis' length in pixels and tick labels carry as many decimals as the ticks
//! need (steps and epochs read "500", not "500.0"); legends go under the plotting area, where
//! they cannot hide a curve. `plot::tests` renders every plot kind to SVG and checks that no
//! two text elements overlap and none leaves the image.
use crate::results::Quantiles;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

type Area<DB> = DrawingArea<DB, Shift>;

/// Columns of panels (each column's panels stacked top to bottom) under an optional title,
/// with an optional note across the bottom.
pub(super) struct Figure {
    pub title: Option<String>,
    pub note: Option<String>,
    pub columns: Vec<Column>,
}

/// A column of a [`Figure`]: its share of the width, and its panels from top to bottom.
pub(super) struct Column {
    pub weight: f64,
    pub panels: Vec<Panel>,
}

impl Figure {
    /// One panel, which carries the title itself.
    pub fn single(panel: Panel) -> Self {
        Self::row(None, vec![panel])
    }

    /// Panels side by side, of equal width.
    pub fn row(title: Option<String>, panels: Vec<Panel>) -> Self {
        Self {
            title,
            note: None,
            columns: panels
                .into_iter()
                .map(|p| Column {
                    weight: 1.0,
                    panels: vec![p],
                })
                .collect(),
        }
    }

    pub fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (w, _) = root.dim_in_pixel();
        let mut area = root.clone();
        if let Some(title) = &self.title {
            let (text, size) = fit(root, title, 22.0, 12.0, w.saturating_sub(20));
            let (top, rest) = area.split_vertically(size as u32 + 16);
            top.draw(&Text::new(
                text,
                (w as i32 / 2, 8),
                anchored(size, HPos::Center, VPos::Top),
            ))?;
            area = rest;
        }
        if let Some(note) = &self.note {
            let (text, size) = fit(root, note, 13.0, 9.0, w.saturating_sub(20));
            let (_, ah) = area.dim_in_pixel();
            let (rest, bottom) = area.split_vertically(ah.saturating_sub(size as u32 + 10));
            let grey = BLACK.mix(0.65);
            bottom.draw(&Text::new(
                text,
                (w as i32 / 2, 2),
                anchored(size, HPos::Center, VPos::Top).color(&grey),
            ))?;
            area = rest;
        }
        let total: f64 = self.columns.iter().map(|c| c.weight.max(0.0)).sum();
        let (aw, _) = area.dim_in_pixel();
        let mut rest = area;
        for (k, column) in self.columns.iter().enumerate() {
            let cell = if k + 1 == self.columns.len() {
                rest.clone()
            } else {
                let share = (column.weight.max(0.0) / total.max(f64::MIN_POSITIVE) * f64::from(aw))
                    .round() as u32;
                let (cell, right) = rest.split_horizontally(share);
                rest = right;
                cell
            };
            let cells = cell.split_evenly((column.panels.len().max(1), 1));
            for (panel, cell) in column.panels.iter().zip(&cells) {
                match panel {
                    Panel::Lines(p) => p.draw(cell)?,
                    Panel::Bars(p) => p.draw(cell)?,
                    Panel::Hist(p) => p.draw(cell)?,
                    Panel::Boxes(p) => p.draw(cell)?,
                }
            }
        }
        Ok(())
    }
}

pub(super) enum Panel {
    Lines(Lines),
    Bars(Bars),
    Hist(Hist),
    Boxes(Boxes),
}

pub(super) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
}

fn anchored(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(font(size)).pos(Pos::new(h, v))
}

/// The width of `text` at `size` as the backend lays it out.
fn text_width<DB: DrawingBackend>(area: &Area<DB>, text: &str, size: f64) -> u32 {
    area.estimate_text_size(text, &TextStyle::from(font(size)))
        .map(|(w, _)| w)
        .unwrap_or(u32::MAX)
}

/// `text` at the largest size from `size` down to `min` that fits in `max_width` pixels; if
/// none does, shortened in the middle with "…" at `min`.
pub(super) fn fit<DB: DrawingBackend>(
    area: &Area<DB>,
    text: &str,
    size: f64,
    min: f64,
    max_width: u32,
) -> (String, f64) {
    let mut s = size;
    while s > min && text_width(area, text, s) > max_width {
        s -= 1.0;
    }
    let s = s.max(min);
    if text_width(area, text, s) <= max_width {
        return (text.to_string(), s);
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let head: String = chars[..keep.div_ceil(2)].iter().collect();
        let tail: String = chars[chars.len() - keep / 2..].iter().collect();
        let short = format!("{head}…{tail}");
        if text_width(area, &short, s) <= max_width {
            return (short, s);
        }
    }
    (String::new(), s)
}

/// `lo..hi` widened by `pad` of its span on both sides (or around a single value).
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// How many tick labels an axis of `pixels` length holds, one per `spacing` pixels (2 to 10).
fn tick_count(pixels: u32, spacing: u32) -> usize {
    (pixels / spacing.max(1)).clamp(2, 10) as usize
}

/// The fewest decimals (up to 6) that write every tick of `lo..hi` with `n` labels exactly, as
/// plotters places them.
fn tick_decimals(lo: f64, hi: f64, n: usize) -> usize {
    let ticks = RangedCoordf64::from(lo..hi).key_points(n);
    (0..=6)
        .find(|&d| {
            ticks.iter().all(|&t| {
                let shown: f64 = format!("{t:.d$}").parse().unwrap_or(f64::NAN);
                (shown - t).abs() <= 1e-9 * t.abs().max(1.0)
            })
        })
        .unwrap_or(6)
}

/// At most `n` ticks, and as many as keep every tick of `lo..hi` on an integer.
fn integral_ticks(lo: f64, hi: f64, n: usize) -> usize {
    (1..=n)
        .rev()
        .find(|&k| {
            RangedCoordf64::from(lo..hi)
                .key_points(k)
                .iter()
                .all(|t| t.fract() == 0.0)
        })
        .unwrap_or(1)
}

/// Writes a tick value with `decimals` decimals, without a minus sign on zero.
fn tick_text(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// A tick of a logarithmic axis: up to 3 significant digits, no trailing zeros.
fn log_tick_text(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    Line,
    Dashed,
    Block,
}

pub(super) struct Entry {
    pub label: String,
    pub colour: RGBColor,
    pub mark: Mark,
}

const LEGEND_FONT: f64 = 13.0;
const LEGEND_ROW: u32 = 19;
const SWATCH: i32 = 22;

/// The legend's entries placed in rows that fit `width`: (row, x offset, label) per entry.
fn legend_layout<DB: DrawingBackend>(
    area: &Area<DB>,
    entries: &[Entry],
    width: u32,
) -> Vec<(u32, i32, String)> {
    let mut placed = Vec::with_capacity(entries.len());
    let (mut row, mut x) = (0u32, 0i32);
    let room = width.saturating_sub(SWATCH as u32 + 6);
    for e in entries {
        let (label, _) = fit(area, &e.label, LEGEND_FONT, LEGEND_FONT, room);
        let w = SWATCH + 6 + text_width(area, &label, LEGEND_FONT) as i32 + 18;
        if x > 0 && x + w > width as i32 {
            row += 1;
            x = 0;
        }
        placed.push((row, x, label));
        x += w;
    }
    placed
}

/// Splits a legend of `entries` off the bottom of `area` and draws it there; returns the rest
/// of the area (all of it when there is no entry).
fn legend_below<DB: DrawingBackend>(
    area: &Area<DB>,
    entries: &[Entry],
) -> Result<Area<DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    if entries.is_empty() {
        return Ok(area.clone());
    }
    let (w, h) = area.dim_in_pixel();
    let margin = 15;
    let placed = legend_layout(area, entries, w.saturating_sub(2 * margin));
    let rows = placed.last().map(|p| p.0 + 1).unwrap_or(0);
    let height = rows * LEGEND_ROW + 6;
    let (rest, bottom) = area.split_vertically(h.saturating_sub(height));
    // Rows centred as a block.
    let widest = placed
        .iter()
        .zip(entries)
        .map(|((_, x, label), _)| x + SWATCH + 6 + text_width(area, label, LEGEND_FONT) as i32)
        .max()
        .unwrap_or(0);
    let left = ((w as i32 - widest) / 2).max(margin as i32);
    for ((row, x, label), e) in placed.iter().zip(entries) {
        let (x, y) = (left + x, (*row * LEGEND_ROW) as i32 + LEGEND_ROW as i32 / 2);
        let colour = e.colour;
        match e.mark {
            Mark::Line => bottom.draw(&PathElement::new(
                vec![(x, y), (x + SWATCH, y)],
                colour.stroke_width(2),
            ))?,
            Mark::Dashed => {
                for k in 0..3 {
                    let a = x + k * 8;
                    bottom.draw(&PathElement::new(
                        vec![(a, y), (a + 5, y)],
                        colour.stroke_width(2),
                    ))?;
                }
            }
            Mark::Block => bottom.draw(&Rectangle::new(
                [(x + 4, y - 6), (x + SWATCH - 4, y + 6)],
                colour.filled(),
            ))?,
        }
        bottom.draw(&Text::new(
            label.clone(),
            (x + SWATCH + 6, y),
            anchored(LEGEND_FONT, HPos::Left, VPos::Center),
        ))?;
    }
    Ok(rest)
}

/// Draws category labels under the plotting area of `chart`, centred at x = i + 0.5, each
/// fitted to its slot.
fn category_labels<DB: DrawingBackend>(
    area: &Area<DB>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y_bottom: f64,
    labels: &[(String, String)],
) -> DrawResult<DB> {
    let (bx, by) = area.get_base_pixel();
    let left = chart.backend_coord(&(0.0, y_bottom)).0;
    let right = chart.backend_coord(&(labels.len() as f64, y_bottom)).0;
    let room = ((right - left).max(1) as u32 / labels.len().max(1) as u32).saturating_sub(6);
    // One size for the row: the largest at which every label fits, else the floor.
    let size = labels
        .iter()
        .map(|(l, _)| fit(area, l, 13.0, 9.0, room).1)
        .fold(13.0, f64::min);
    for (i, (label, sub)) in labels.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, y_bottom));
        let (x, y) = (x - bx, y - by);
        let (label, _) = fit(area, label, size, size, room);
        area.draw(&Text::new(
            label,
            (x, y + 8),
            anchored(size, HPos::Center, VPos::Top),
        ))?;
        if !sub.is_empty() {
            let grey = BLACK.mix(0.6);
            let (sub, sub_size) = fit(area, sub, size - 1.0, 8.0, room);
            let below = anchored(sub_size, HPos::Center, VPos::Top).color(&grey);
            area.draw(&Text::new(sub, (x, y + 12 + size as i32), below))?;
        }
    }
    Ok(())
}

pub(super) struct Line {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// A second series of the same run, drawn dashed with markers (validation per epoch).
    pub dashed: Vec<(f64, f64)>,
}

/// One line per series, with a legend under the plot.
pub(super) struct Lines {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    /// What the solid and the dashed lines are, when some series has dashed points.
    pub keys: Option<(String, String)>,
    pub series: Vec<Line>,
}

const CHART_MARGIN: u32 = 15;

/// A full-width chart's title fitted to its area (20 px, down to 12).
fn chart_caption<DB: DrawingBackend>(area: &Area<DB>, title: &str) -> (String, f64) {
    let (w, _) = area.dim_in_pixel();
    fit(area, title, 20.0, 12.0, w.saturating_sub(2 * CHART_MARGIN))
}
const Y_LABEL_AREA: u32 = 70;
const X_LABEL_AREA: u32 = 45;

impl Lines {
    fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .series
            .iter()
            .map(|s| Entry {
                label: s.name.clone(),
                colour: s.colour,
                mark: Mark::Line,
            })
            .collect();
        if let Some((solid, dashed)) = &self.keys
            && self.series.iter().any(|s| !s.dashed.is_empty())
        {
            let grey = RGBColor(90, 90, 90);
            entries.push(Entry {
                label: solid.clone(),
                colour: grey,
                mark: Mark::Line,
            });
            entries.push(Entry {
                label: dashed.clone(),
                colour: grey,
                mark: Mark::Dashed,
            });
        }
        entries
    }

    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> DrawResult<DB> {
        let area = legend_below(area, &self.entries())?;
        let points = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.dashed).copied())
        };
        let (x0, x1) = min_max(points().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let (x0, x1) = if x0 < x1 {
            (x0, x1)
        } else {
            padded(x0, x1, 0.0)
        };
        let (y0, y1) = min_max(points().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (w, h) = area.dim_in_pixel();
        let (caption, size) = chart_caption(&area, &self.title);
        let plot_w = w.saturating_sub(2 * CHART_MARGIN + Y_LABEL_AREA);
        let plot_h = h.saturating_sub(2 * CHART_MARGIN + X_LABEL_AREA + size as u32 + 10);
        let mut x_ticks = tick_count(plot_w, 80);
        // Steps and epochs: ticks on integers only.
        if points().all(|p| p.0.fract() == 0.0) {
            x_ticks = integral_ticks(x0, x1, x_ticks);
        }
        let y_ticks = tick_count(plot_h, 45);
        let mut builder = ChartBuilder::on(&area);
        builder
            .caption(caption, font(size))
            .margin(CHART_MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA);
        let x_decimals = tick_decimals(x0, x1, x_ticks);
        let x_text = |v: &f64| tick_text(*v, x_decimals);
        if self.log_y {
            let y = (y0 / 1.25)..(y1 * 1.25);
            let y_text = |v: &f64| log_tick_text(*v);
            let chart = builder.build_cartesian_2d(x0..x1, y.log_scale())?;
            self.fill(chart, (x_ticks, &x_text), (y_ticks, &y_text))
        } else {
            let (y0, y1) = padded(y0, y1, 0.05);
            let y_decimals = tick_decimals(y0, y1, y_ticks);
            let y_text = |v: &f64| tick_text(*v, y_decimals);
            let chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
            self.fill(chart, (x_ticks, &x_text), (y_ticks, &y_text))
        }
    }

    fn fill<'a, DB: DrawingBackend + 'a, Y>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
        (x_ticks, x_text): (usize, &dyn Fn(&f64) -> String),
        (y_ticks, y_text): (usize, &dyn Fn(&f64) -> String),
    ) -> DrawResult<DB>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_labels(x_ticks)
            .y_labels(y_ticks)
            .x_label_formatter(x_text)
            .y_label_formatter(y_text)
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .draw()?;
        for s in &self.series {
            let colour = s.colour;
            let width = if s.points.len() > 60 { 1 } else { 2 };
            chart.draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(width),
            ))?;
            // Few points (one per epoch): mark them, a single one would not show as a line.
            if s.points.len() <= 60 {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
            if !s.dashed.is_empty() {
                let shade = |c: u8| (f64::from(c) * 0.7) as u8;
                let dark = RGBColor(shade(colour.0), shade(colour.1), shade(colour.2));
                chart.draw_series(DashedLineSeries::new(
                    s.dashed.iter().copied(),
                    6,
                    4,
                    dark.stroke_width(2),
                ))?;
                chart.draw_series(s.dashed.iter().map(|&p| Circle::new(p, 3, dark.filled())))?;
            }
        }
        Ok(())
    }
}

pub(super) struct BarSeries {
    pub name: String,
    pub colour: RGBColor,
    /// One value per group (`None`: no bar).
    pub values: Vec<Option<f64>>,
}

/// Grouped bars: one group per category, one bar per series within it.
pub(super) struct Bars {
    pub title: String,
    pub y_label: String,
    /// (label, sub-label) per group.
    pub groups: Vec<(String, String)>,
    pub series: Vec<BarSeries>,
}

impl Bars {
    /// Values below this are drawn at it (R² of a useless probe can be hugely negative).
    const FLOOR: f64 = -1.0;

    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> DrawResult<DB> {
        let entries: Vec<Entry> = self
            .series
            .iter()
            .map(|s| Entry {
                label: s.name.clone(),
                colour: s.colour,
                mark: Mark::Block,
            })
            .collect();
        let area = legend_below(area, &entries)?;
        let n = self.groups.len().max(1);
        let values = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied());
        let (lo, hi) = min_max(values.filter(|v| v.is_finite())).unwrap_or((0.0, 1.0));
        // Scores (R², accuracy) end at 1: the axis does too, unless a value is above.
        let (lo, hi) = (lo.clamp(Self::FLOOR, 0.0), hi.max(1.0));
        let (w, h) = area.dim_in_pixel();
        let (caption, size) = chart_caption(&area, &self.title);
        let m = self.series.len().max(1) as f64;
        let slot = 0.8 / m;
        let plot_w = w.saturating_sub(2 * CHART_MARGIN + 60);
        let bar_pixels = f64::from(plot_w) / n as f64 * slot;
        let values_shown = bar_pixels >= 26.0;
        let span = hi - lo;
        let (y0, y1) = (
            if lo < 0.0 { lo - 0.05 * span } else { 0.0 },
            // Room above the tallest bar for its value.
            hi + if values_shown { 0.08 } else { 0.02 } * span,
        );
        let plot_h = h.saturating_sub(2 * CHART_MARGIN + 50 + size as u32 + 10);
        let y_ticks = tick_count(plot_h, 45);
        let y_decimals = tick_decimals(y0, y1, y_ticks);
        let y_text = |v: &f64| tick_text(*v, y_decimals);
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, font(size))
            .margin(CHART_MARGIN)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n as f64, y0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_labels(0)
            .y_labels(y_ticks)
            .y_label_formatter(&y_text)
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .draw()?;
        if y0 < 0.0 {
            chart.draw_series(LineSeries::new([(0.0, 0.0), (n as f64, 0.0)], BLACK))?;
        }
        for (j, s) in self.series.iter().enumerate() {
            let colour = s.colour;
            let bars: Vec<(f64, f64, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
                .map(|(i, v)| (i as f64 + 0.1 + j as f64 * slot, v, v.max(Self::FLOOR)))
                .collect();
            chart.draw_series(bars.iter().map(|&(x, _, shown)| {
                Rectangle::new(
                    [(x + 0.05 * slot, 0.0), (x + 0.95 * slot, shown)],
                    colour.filled(),
                )
            }))?;
            // Values on the bars when they fit; a clipped bar always shows its true value,
            // inside the bar's foot where no neighbour's label can reach.
            let labels = bars
                .iter()
                .filter(|&&(_, v, shown)| values_shown || v != shown)
                .map(|&(x, v, shown)| {
                    let v_pos = if shown >= 0.0 {
                        VPos::Bottom
                    } else {
                        VPos::Top
                    };
                    Text::new(
                        format!("{v:.2}"),
                        (x + 0.5 * slot, shown),
                        anchored(11.0, HPos::Center, v_pos),
                    )
                });
            chart.draw_series(labels)?;
        }
        category_labels(&area, &chart, y0, &self.groups)
    }
}

/// A histogram of `values` over `range` in `bins` bins (values outside are left out), as the
/// share of the values in each bin, so that samples of different sizes compare on one scale.
pub(super) struct Hist {
    pub title: String,
    pub x_label: String,
    pub colour: RGBColor,
    pub values: Vec<f64>,
    pub range: (f64, f64),
    pub bins: usize,
    /// The top of the y axis in percent: the same for every histogram of a figure.
    pub y_max: f64,
    /// Tick labels and description of the x axis (off for all but the lowest of a stack).
    pub x_axis: bool,
}

impl Hist {
    fn bins(&self) -> (f64, f64, Vec<usize>) {
        let bins = self.bins.max(1);
        let (lo, hi) = if self.range.0 < self.range.1 {
            self.range
        } else {
            padded(self.range.0, self.range.1, 0.0)
        };
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0; bins];
        for &v in &self.values {
            if (lo..=hi).contains(&v) {
                counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
            }
        }
        (lo, width, counts)
    }

    /// The share of the values in each bin, in percent.
    pub fn percents(&self) -> Vec<f64> {
        let (_, _, counts) = self.bins();
        let n = self.values.len().max(1) as f64;
        counts.iter().map(|&c| 100.0 * c as f64 / n).collect()
    }

    /// A shared y axis top for `hists`: the largest bin, plus a tenth.
    pub fn shared_top(hists: &[&Hist]) -> f64 {
        let most = hists.iter().flat_map(|h| h.percents()).fold(0.0, f64::max);
        if most > 0.0 {
            (most * 1.1).min(100.0)
        } else {
            100.0
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> DrawResult<DB> {
        let (lo, width, _) = self.bins();
        let percents = self.percents();
        let hi = lo + width * percents.len() as f64;
        let (w, h) = area.dim_in_pixel();
        let x_area = if self.x_axis { 45 } else { 8 };
        let (caption, size) = fit(
            area,
            &format!("{} (n = {})", self.title, self.values.len()),
            14.0,
            9.0,
            w.saturating_sub(2 * 10),
        );
        let plot_w = w.saturating_sub(2 * 10 + 55);
        let plot_h = h.saturating_sub(2 * 10 + x_area + size as u32 + 10);
        let x_ticks = tick_count(plot_w, 55);
        let y_ticks = tick_count(plot_h, 30);
        let top = if self.y_max > 0.0 { self.y_max } else { 100.0 };
        let x_decimals = tick_decimals(lo, hi, x_ticks);
        let y_decimals = tick_decimals(0.0, top, y_ticks);
        let x_text = |v: &f64| tick_text(*v, x_decimals);
        let y_text = |v: &f64| tick_text(*v, y_decimals);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, font(size))
            .margin(10)
            .x_label_area_size(x_area)
            .y_label_area_size(55)
            .build_cartesian_2d(lo..hi, 0.0..top)?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .y_labels(y_ticks)
            .x_label_formatter(&x_text)
            .y_label_formatter(&y_text)
            .y_desc("% of networks")
            .label_style(font(12.0))
            .axis_desc_style(font(13.0));
        if self.x_axis {
            mesh.x_labels(x_ticks).x_desc(self.x_label.as_str());
        } else {
            mesh.x_labels(0);
        }
        mesh.draw()?;
        let colour = self.colour;
        chart.draw_series(percents.iter().enumerate().filter(|(_, p)| **p > 0.0).map(
            |(i, &p)| {
                let x = lo + i as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, p)], colour.mix(0.8).filled())
            },
        ))?;
        Ok(())
    }
}

/// What a box plot's marks mean: the note under a figure that holds one.
pub(super) const BOX_NOTE: &str = "box q25–q75, line median, whiskers min–max, × mean";

/// Box plots from quantiles, one per category.
pub(super) struct Boxes {
    pub title: String,
    pub y_label: String,
    /// `None`: the range of the quantiles.
    pub y_range: Option<(f64, f64)>,
    pub boxes: Vec<(String, Quantiles, RGBColor)>,
}

impl Boxes {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> DrawResult<DB> {
        let n = self.boxes.len().max(1);
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let all = self
                .boxes
                .iter()
                .flat_map(|(_, q, _)| [q.min, q.max, q.mean]);
            let (lo, hi) = min_max(all.filter(|v| v.is_finite())).unwrap_or((0.0, 1.0));
            padded(lo, hi, 0.05)
        });
        let (w, h) = area.dim_in_pixel();
        let (caption, size) = fit(area, &self.title, 16.0, 10.0, w.saturating_sub(2 * 10));
        let plot_h = h.saturating_sub(2 * 10 + 45 + size as u32 + 10);
        let y_ticks = tick_count(plot_h, 35);
        let y_decimals = tick_decimals(y0, y1, y_ticks);
        let y_text = |v: &f64| tick_text(*v, y_decimals);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, font(size))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..n as f64, y0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_labels(0)
            .y_labels(y_ticks)
            .y_label_formatter(&y_text)
            .y_desc(self.y_label.as_str())
            .label_style(font(12.0))
            .axis_desc_style(font(13.0))
            .draw()?;
        for (i, (_, q, colour)) in self.boxes.iter().enumerate() {
            let c = i as f64 + 0.5;
            let (w, cap) = (0.2, 0.08);
            let line = |a: (f64, f64), b: (f64, f64), width: u32| {
                PathElement::new(vec![a, b], colour.stroke_width(width))
            };
            chart.draw_series([Rectangle::new(
                [(c - w, q.q25), (c + w, q.q75)],
                colour.mix(0.3).filled(),
            )])?;
            chart.draw_series([Rectangle::new(
                [(c - w, q.q25), (c + w, q.q75)],
                colour.stroke_width(2),
            )])?;
            chart.draw_series([
                line((c, q.min), (c, q.q25), 1),
                line((c, q.q75), (c, q.max), 1),
                line((c - cap, q.min), (c + cap, q.min), 1),
                line((c - cap, q.max), (c + cap, q.max), 1),
                line((c - w, q.median), (c + w, q.median), 3),
            ])?;
            chart.draw_series([Cross::new((c, q.mean), 5, BLACK.stroke_width(2))])?;
        }
        let labels: Vec<(String, String)> = self
            .boxes
            .iter()
            .map(|(l, q, _)| (l.clone(), format!("median {:.3}", q.median)))
            .collect();
        category_labels(area, &chart, y0, &labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_carry_the_decimals_they_need() {
        assert_eq!(tick_decimals(0.0, 2520.0, 8), 0);
        assert_eq!(tick_decimals(5.0, 30.0, 6), 0);
        assert_eq!(tick_decimals(0.0, 1.0, 5), 1);
        assert_eq!(tick_decimals(0.0, 0.03, 6), 2);
        assert_eq!(tick_decimals(0.0, 0.006, 6), 3);
        // Epochs 1 and 2: not 1.2, 1.4, …
        assert_eq!(integral_ticks(1.0, 2.0, 10), 2);
        let n = integral_ticks(5.0, 30.0, 10);
        assert!(
            RangedCoordf64::from(5.0..30.0)
                .key_points(n)
                .iter()
                .all(|t| t.fract() == 0.0)
        );
        assert_eq!(tick_text(-0.0, 1), "0.0");
        assert_eq!(tick_text(-0.2, 1), "-0.2");
        assert_eq!(log_tick_text(0.02), "0.02");
        assert_eq!(log_tick_text(1.0), "1");
        assert_eq!(log_tick_text(200.0), "200");
    }
}
