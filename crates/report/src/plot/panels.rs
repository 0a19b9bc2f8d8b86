//! What a figure is made of, and how each part is drawn on any plotters backend.
use crate::results::Quantiles;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Panels side by side under an optional title.
pub(super) struct Figure {
    pub title: Option<String>,
    pub panels: Vec<Panel>,
}

impl Figure {
    /// One panel, which carries the title itself.
    pub fn single(panel: Panel) -> Self {
        Self {
            title: None,
            panels: vec![panel],
        }
    }

    pub fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let area = match &self.title {
            Some(t) => root.titled(t, font(22.0))?,
            None => root.clone(),
        };
        let cells = area.split_evenly((1, self.panels.len().max(1)));
        for (panel, cell) in self.panels.iter().zip(&cells) {
            match panel {
                Panel::Lines(p) => p.draw(cell)?,
                Panel::Bars(p) => p.draw(cell)?,
                Panel::Hist(p) => p.draw(cell)?,
                Panel::Boxes(p) => p.draw(cell)?,
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

/// Draws category labels under the plotting area of `chart`, centred at x = i + 0.5.
fn category_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y_bottom: f64,
    labels: &[(String, String)],
) -> DrawResult<DB> {
    let (bx, by) = area.get_base_pixel();
    let left = chart.backend_coord(&(0.0, y_bottom)).0;
    let right = chart.backend_coord(&(labels.len() as f64, y_bottom)).0;
    let room = f64::from((right - left).max(1)) / labels.len().max(1) as f64;
    let longest = labels
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(1);
    // DejaVu Sans averages about 0.55 em per character.
    let size = (room / (0.55 * longest.max(1) as f64)).clamp(10.0, 14.0);
    for (i, (label, sub)) in labels.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, y_bottom));
        let (x, y) = (x - bx, y - by);
        let top = anchored(size, HPos::Center, VPos::Top);
        area.draw(&Text::new(label.clone(), (x, y + 8), top))?;
        if !sub.is_empty() {
            let grey = BLACK.mix(0.6);
            let below = anchored(size - 1.0, HPos::Center, VPos::Top).color(&grey);
            area.draw(&Text::new(sub.clone(), (x, y + 10 + size as i32), below))?;
        }
    }
    Ok(())
}

pub(super) struct Line {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One line per series, with a legend.
pub(super) struct Lines {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    /// Where the legend goes: where the curves are not (upper right for a falling loss).
    pub legend: SeriesLabelPosition,
    pub series: Vec<Line>,
}

impl Lines {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let (x0, x1) = min_max(points().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let (x0, x1) = if x0 < x1 {
            (x0, x1)
        } else {
            padded(x0, x1, 0.0)
        };
        let (y0, y1) = min_max(points().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&self.title, font(20.0))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70);
        if self.log_y {
            let y = (y0 / 1.25)..(y1 * 1.25);
            self.fill(builder.build_cartesian_2d(x0..x1, y.log_scale())?)
        } else {
            let (y0, y1) = padded(y0, y1, 0.05);
            self.fill(builder.build_cartesian_2d(x0..x1, y0..y1)?)
        }
    }

    fn fill<'a, DB: DrawingBackend + 'a, Y>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    ) -> DrawResult<DB>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .draw()?;
        for s in &self.series {
            let colour = s.colour;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            // Few points (one per epoch): mark them, a single one would not show as a line.
            if s.points.len() <= 60 {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(self.legend.clone())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13.0))
            .draw()?;
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

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.groups.len().max(1);
        let values = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied());
        let (lo, hi) = min_max(values.filter(|v| v.is_finite())).unwrap_or((0.0, 1.0));
        let (lo, hi) = (lo.clamp(Self::FLOOR, 0.0), hi.max(1.0));
        let span = hi - lo;
        // The top 30% is left to the value labels and the legend.
        let (y0, y1) = (
            if lo < 0.0 { lo - 0.05 * span } else { 0.0 },
            hi + 0.3 * span,
        );
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(20.0))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n as f64, y0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_labels(0)
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .draw()?;
        if y0 < 0.0 {
            chart.draw_series(LineSeries::new([(0.0, 0.0), (n as f64, 0.0)], BLACK))?;
        }

        let m = self.series.len().max(1) as f64;
        let slot = 0.8 / m;
        let bar_pixels = {
            let (a, b) = (
                chart.backend_coord(&(0.0, 0.0)),
                chart.backend_coord(&(slot, 0.0)),
            );
            (b.0 - a.0) as f64
        };
        for (j, s) in self.series.iter().enumerate() {
            let colour = s.colour;
            let bars: Vec<(f64, f64, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
                .map(|(i, v)| (i as f64 + 0.1 + j as f64 * slot, v, v.max(Self::FLOOR)))
                .collect();
            chart
                .draw_series(bars.iter().map(|&(x, _, shown)| {
                    Rectangle::new(
                        [(x + 0.05 * slot, 0.0), (x + 0.95 * slot, shown)],
                        colour.filled(),
                    )
                }))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
            // Values on the bars when they fit; a clipped bar always shows its true value.
            let labels = bars
                .iter()
                .filter(|&&(_, v, shown)| bar_pixels >= 26.0 || v != shown)
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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(font(13.0))
            .draw()?;
        category_labels(area, &chart, y0, &self.groups)
    }
}

/// A histogram of `values` over `range` in `bins` bins (values outside are left out).
pub(super) struct Hist {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub colour: RGBColor,
    pub values: Vec<f64>,
    pub range: (f64, f64),
    pub bins: usize,
}

impl Hist {
    fn counts(&self) -> (f64, f64, Vec<usize>) {
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

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (lo, width, counts) = self.counts();
        let hi = lo + width * counts.len() as f64;
        let most = counts.iter().copied().max().unwrap_or(0) as u32;
        let top = most + (most / 10).max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} (n = {})", self.title, self.values.len()),
                font(16.0),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, 0u32..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .y_labels(top.min(10) as usize + 1)
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
            .axis_desc_style(font(15.0))
            .draw()?;
        let colour = self.colour;
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &c)| {
                    let x = lo + i as f64 * width;
                    Rectangle::new([(x, 0), (x + width, c as u32)], colour.mix(0.8).filled())
                }),
        )?;
        Ok(())
    }
}

/// Box plots from quantiles, one per category.
pub(super) struct Boxes {
    pub title: String,
    pub y_label: String,
    /// `None`: the range of the quantiles.
    pub y_range: Option<(f64, f64)>,
    pub boxes: Vec<(String, Quantiles, RGBColor)>,
}

impl Boxes {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.boxes.len().max(1);
        let (y0, y1) = self.y_range.unwrap_or_else(|| {
            let all = self
                .boxes
                .iter()
                .flat_map(|(_, q, _)| [q.min, q.max, q.mean]);
            let (lo, hi) = min_max(all.filter(|v| v.is_finite())).unwrap_or((0.0, 1.0));
            padded(lo, hi, 0.05)
        });
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(16.0))
            .margin(15)
            .x_label_area_size(55)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..n as f64, y0..y1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(BLACK.mix(0.03))
            .x_labels(0)
            .x_desc("box q25–q75, line median, whiskers min–max, × mean")
            .y_desc(self.y_label.as_str())
            .label_style(font(13.0))
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
