//! Random erasing: overwrite a random part of a sample with a value (0 by default), as the
//! references do to make the two contrastive views differ beyond permutation and noise.
//!
//! "Erasing" means two different things in the references, both provided here:
//!
//! - [`VectorErasing`] ([R21] `random_erasing.py` `RandomErasingVector`, reference.md §5.1): on
//!   the **flat weight vector** of one network (after permutation and noise, before
//!   tokenization). With probability `p`, mode `block` erases one contiguous slice of
//!   `int(len·U(scale))` entries starting at a uniform index (tried up to 10 times; a slice that
//!   would reach the end is rejected and redrawn; after 10 rejections nothing is erased); mode
//!   `scatter` erases `int(len·U(scale))` indices drawn uniformly *with replacement* (so fewer
//!   distinct entries may be erased). Defaults: p 0.5, scale (0.02, 0.33), value 0, block.
//! - [`RandomErasing`] ([RS] `ErasingAugmentation` = torchvision `RandomErasing`, §5.2): on a
//!   **token window** seen as a `rows × cols` image (rows = tokens, cols = entries of a token,
//!   i.e. `W × tokensize`). With probability `p`, one rectangle of area `rows·cols·U(scale)` and
//!   aspect ratio `exp(U(ln ratio))` is erased (up to 10 tries for one that fits strictly inside;
//!   otherwise nothing is erased). Defaults: p 0.5, scale (0.02, 0.33), ratio (0.3, 3.3),
//!   value 0. The rectangle ignores the token mask (padding may be "erased", which with value 0
//!   changes nothing there). [RS] erases in place on a whole batch `[B, 1, W, T]`, so one coin
//!   flip and one rectangle are shared by every sample of the batch; use
//!   [`RandomErasing::draw`] once and [`Rect::fill`] on each sample to reproduce that, or
//!   [`RandomErasing::apply`] per sample for independent erasing.
//!
//! The value is either a constant or, as both references allow (`value="random"`), a fresh
//! N(0, 1) draw per erased entry.
use super::noise::standard_normal;
use crate::{Error, Result};
use rand::Rng;

/// What erased entries become.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EraseValue {
    /// A constant (the references use 0).
    Constant(f32),
    /// A fresh N(0, 1) value per erased entry.
    Random,
}

impl EraseValue {
    fn draw(&self, rng: &mut impl Rng) -> f32 {
        match *self {
            EraseValue::Constant(v) => v,
            EraseValue::Random => standard_normal(rng) as f32,
        }
    }
}

/// How [`VectorErasing`] picks the erased entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorEraseMode {
    /// One contiguous slice.
    Block,
    /// Independent indices, drawn with replacement.
    Scatter,
}

/// Random erasing on a flat vector ([R21]). See the module docs for the exact draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VectorErasing {
    /// Probability that a sample is erased at all.
    pub p: f64,
    /// Range `(min, max)` of the erased fraction of the vector.
    pub scale: (f64, f64),
    /// The value written.
    pub value: EraseValue,
    /// Block or scatter.
    pub mode: VectorEraseMode,
}

impl Default for VectorErasing {
    /// [R21]'s defaults: p 0.5, scale (0.02, 0.33), value 0, block.
    fn default() -> Self {
        Self {
            p: 0.5,
            scale: (0.02, 0.33),
            value: EraseValue::Constant(0.0),
            mode: VectorEraseMode::Block,
        }
    }
}

impl VectorErasing {
    /// Rejects p outside [0, 1] and scales outside 0 <= min <= max <= 1, naming the value.
    pub fn validate(&self) -> Result<()> {
        check_p(self.p)?;
        check_scale(self.scale)
    }

    /// Erases part of `x` in place with probability `p`. Returns the number of erase writes
    /// (0 when the sample was left alone; in scatter mode repeated indices count each time).
    pub fn apply(&self, x: &mut [f32], rng: &mut impl Rng) -> usize {
        if x.is_empty() || rng.random::<f64>() >= self.p {
            return 0;
        }
        let len = x.len();
        match self.mode {
            VectorEraseMode::Block => {
                for _ in 0..10 {
                    let erase = (len as f64 * uniform(rng, self.scale)) as usize;
                    let begin = rng.random_range(0..len);
                    // [R21] rejects slices that reach the last entry (strict `<`).
                    if begin + erase >= len {
                        continue;
                    }
                    for v in &mut x[begin..begin + erase] {
                        *v = self.value.draw(rng);
                    }
                    return erase;
                }
                0
            }
            VectorEraseMode::Scatter => {
                let erase = (len as f64 * uniform(rng, self.scale)) as usize;
                for _ in 0..erase {
                    let i = rng.random_range(0..len);
                    x[i] = self.value.draw(rng);
                }
                erase
            }
        }
    }

    /// Erases each row of a row-major `[N, row_len]` batch independently. Returns the total
    /// number of erase writes.
    ///
    /// # Panics
    /// If `row_len` is 0 or does not divide `batch.len()`.
    pub fn apply_batch(&self, batch: &mut [f32], row_len: usize, rng: &mut impl Rng) -> usize {
        assert!(
            row_len > 0 && batch.len().is_multiple_of(row_len),
            "batch of {} values is not [N, {row_len}]",
            batch.len()
        );
        batch
            .chunks_exact_mut(row_len)
            .map(|row| self.apply(row, rng))
            .sum()
    }
}

/// An erased rectangle of a `rows × cols` window: rows `row..row+height`, columns
/// `col..col+width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First row (token).
    pub row: usize,
    /// First column (entry within the token).
    pub col: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl Rect {
    /// Writes `value` into the rectangle of a row-major window with `cols` columns.
    ///
    /// # Panics
    /// If the rectangle does not fit in the window.
    pub fn fill(&self, window: &mut [f32], cols: usize, value: EraseValue, rng: &mut impl Rng) {
        assert!(
            self.col + self.width <= cols && (self.row + self.height) * cols <= window.len(),
            "rectangle {self:?} outside a window of {} values with {cols} columns",
            window.len()
        );
        for r in self.row..self.row + self.height {
            for v in &mut window[r * cols + self.col..r * cols + self.col + self.width] {
                *v = value.draw(rng);
            }
        }
    }

    /// Number of erased entries.
    pub fn area(&self) -> usize {
        self.height * self.width
    }
}

/// Random erasing of a rectangle in a token window ([RS], torchvision's `RandomErasing`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomErasing {
    /// Probability that a window is erased at all.
    pub p: f64,
    /// Range `(min, max)` of the erased fraction of the window's area.
    pub scale: (f64, f64),
    /// Range `(min, max)` of the rectangle's aspect ratio height/width (drawn log-uniformly).
    pub ratio: (f64, f64),
    /// The value written.
    pub value: EraseValue,
}

impl Default for RandomErasing {
    /// [RS]'s (and torchvision's) defaults: p 0.5, scale (0.02, 0.33), ratio (0.3, 3.3), value 0.
    fn default() -> Self {
        Self {
            p: 0.5,
            scale: (0.02, 0.33),
            ratio: (0.3, 3.3),
            value: EraseValue::Constant(0.0),
        }
    }
}

impl RandomErasing {
    /// Rejects p outside [0, 1], scales outside 0 <= min <= max <= 1 and ratios that are not
    /// 0 < min <= max, naming the value.
    pub fn validate(&self) -> Result<()> {
        check_p(self.p)?;
        check_scale(self.scale)?;
        let (a, b) = self.ratio;
        if a > 0.0 && a <= b && b.is_finite() {
            Ok(())
        } else {
            Err(Error::InvalidValue {
                what: "erasing ratio".into(),
                value: format!("({a}, {b})"),
                expected: "(min, max) with 0 < min <= max".into(),
            })
        }
    }

    /// Draws the rectangle for a `rows × cols` window, or `None` when the window is left alone
    /// (the coin flip said no, or 10 tries found no rectangle strictly smaller than the window).
    /// Follows torchvision's `get_params`: area `rows·cols·U(scale)`, aspect
    /// `exp(U(ln ratio.0, ln ratio.1))`, `height = round(sqrt(area·aspect))`,
    /// `width = round(sqrt(area/aspect))` (Python's round: half to even), accepted when
    /// `height < rows` and `width < cols`, then a uniform top-left corner.
    pub fn draw(&self, rows: usize, cols: usize, rng: &mut impl Rng) -> Option<Rect> {
        if rng.random::<f64>() >= self.p {
            return None;
        }
        let area = (rows * cols) as f64;
        let log_ratio = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let erase_area = area * uniform(rng, self.scale);
            let aspect = uniform(rng, log_ratio).exp();
            let height = (erase_area * aspect).sqrt().round_ties_even() as usize;
            let width = (erase_area / aspect).sqrt().round_ties_even() as usize;
            if !(height < rows && width < cols) {
                continue;
            }
            let row = rng.random_range(0..=rows - height);
            let col = rng.random_range(0..=cols - width);
            return Some(Rect {
                row,
                col,
                height,
                width,
            });
        }
        None
    }

    /// Draws and erases a rectangle of a row-major `rows × cols` window in place; returns it.
    ///
    /// # Panics
    /// If `window.len() != rows * cols`.
    pub fn apply(
        &self,
        window: &mut [f32],
        rows: usize,
        cols: usize,
        rng: &mut impl Rng,
    ) -> Option<Rect> {
        assert_eq!(
            window.len(),
            rows * cols,
            "window of {} values is not {rows} x {cols}",
            window.len()
        );
        let rect = self.draw(rows, cols, rng)?;
        rect.fill(window, cols, self.value, rng);
        Some(rect)
    }
}

/// `U(a, b)` as torch's `uniform_(a, b)`: `a + (b - a)·U[0, 1)`.
fn uniform(rng: &mut impl Rng, (a, b): (f64, f64)) -> f64 {
    a + (b - a) * rng.random::<f64>()
}

fn check_p(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "erasing probability".into(),
            value: p.to_string(),
            expected: "a probability in [0, 1]".into(),
        })
    }
}

fn check_scale((a, b): (f64, f64)) -> Result<()> {
    if 0.0 <= a && a <= b && b <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "erasing scale".into(),
            value: format!("({a}, {b})"),
            expected: "(min, max) fractions with 0 <= min <= max <= 1".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn zeros(x: &[f32]) -> usize {
        x.iter().filter(|v| **v == 0.0).count()
    }

    #[test]
    fn block_erasing_statistics() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let e = VectorErasing::default();
        let len = 2464;
        let trials = 4000;
        let (mut erased, mut fractions) = (0, Vec::new());
        for _ in 0..trials {
            let mut x = vec![1.0f32; len];
            let n = e.apply(&mut x, &mut rng);
            assert_eq!(zeros(&x), n);
            if n > 0 {
                erased += 1;
                // One contiguous run of zeros that stops before the last entry.
                let first = x.iter().position(|v| *v == 0.0).unwrap();
                assert!(x[first..first + n].iter().all(|v| *v == 0.0));
                assert!(first + n < len);
                let f = n as f64 / len as f64;
                assert!((0.019..0.33).contains(&f), "fraction {f}");
                fractions.push(f);
            }
        }
        // p = 0.5, minus the rare runs where 10 tries all overflowed (start must fall in the
        // first len - erase entries: a try fails with probability ~E[fraction] ~ 0.175).
        let rate = erased as f64 / trials as f64;
        assert!((0.46..0.52).contains(&rate), "erase rate {rate}");
        // Accepted slices are biased towards short ones (long ones overflow more often), so the
        // mean fraction sits a little under the uniform mean 0.175.
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        assert!((0.14..0.175).contains(&mean), "mean fraction {mean}");
    }

    #[test]
    fn scatter_erasing_draws_with_replacement() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let e = VectorErasing {
            p: 1.0,
            scale: (0.3, 0.3),
            mode: VectorEraseMode::Scatter,
            ..Default::default()
        };
        let mut x = vec![1.0f32; 1000];
        assert_eq!(e.apply(&mut x, &mut rng), 300);
        // 300 draws with replacement from 1000 cover 1000·(1 - 0.999^300) ≈ 259 distinct entries.
        let z = zeros(&x);
        assert!((235..285).contains(&z), "{z} distinct erased");
    }

    #[test]
    fn erase_probability_zero_and_one_and_random_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let never = VectorErasing {
            p: 0.0,
            ..Default::default()
        };
        let mut x = vec![1.0f32; 100];
        assert_eq!(never.apply(&mut x, &mut rng), 0);
        assert_eq!(x, vec![1.0; 100]);
        let noisy = VectorErasing {
            p: 1.0,
            value: EraseValue::Random,
            mode: VectorEraseMode::Scatter,
            scale: (0.5, 0.5),
        };
        let mut x = vec![100.0f32; 1000];
        noisy.apply(&mut x, &mut rng);
        let replaced: Vec<f32> = x.iter().copied().filter(|v| *v != 100.0).collect();
        assert!(replaced.len() > 300 && replaced.iter().all(|v| v.abs() < 10.0));
        let mut batch = vec![1.0f32; 4 * 50];
        let always = VectorErasing {
            p: 1.0,
            scale: (0.2, 0.2),
            mode: VectorEraseMode::Scatter,
            ..Default::default()
        };
        assert_eq!(always.apply_batch(&mut batch, 50, &mut rng), 40);
    }

    #[test]
    fn rectangle_erasing_statistics() {
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let e = RandomErasing::default();
        let (rows, cols) = (64, 289);
        let trials = 4000;
        let (mut hits, mut fractions) = (0, Vec::new());
        for _ in 0..trials {
            let mut w = vec![1.0f32; rows * cols];
            if let Some(r) = e.apply(&mut w, rows, cols, &mut rng) {
                hits += 1;
                assert!(r.height < rows && r.width < cols);
                assert!(r.row + r.height <= rows && r.col + r.width <= cols);
                assert_eq!(zeros(&w), r.area());
                if r.area() > 0 {
                    assert_eq!(w[r.row * cols + r.col], 0.0);
                }
                let f = r.area() as f64 / (rows * cols) as f64;
                // Rounding of height and width can move the area a little outside the scale.
                assert!((0.01..0.40).contains(&f), "fraction {f} {r:?}");
                let aspect = r.height as f64 / r.width.max(1) as f64;
                assert!((0.2..4.5).contains(&aspect), "aspect {aspect} {r:?}");
                fractions.push(f);
            }
        }
        // On a 64 x 289 window nearly every draw fits, so the rate is ~p.
        let rate = hits as f64 / trials as f64;
        assert!((0.47..0.53).contains(&rate), "erase rate {rate}");
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        // Tall rectangles (height >= 64 rows) are redrawn, which favours smaller areas: the
        // mean fraction is ~0.144 (simulated), not the uniform mean 0.175.
        assert!((0.13..0.16).contains(&mean), "mean fraction {mean}");
    }

    #[test]
    fn rectangles_that_never_fit_leave_the_window_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        // A 2 x 2 window with a fixed 90 % square: every draw is too big, all 10 tries fail.
        let e = RandomErasing {
            p: 1.0,
            scale: (0.9, 0.9),
            ratio: (1.0, 1.0),
            ..Default::default()
        };
        // Area 0.9·4 = 3.6, side round(1.897) = 2, and 2 < 2 rows fails.
        assert_eq!(e.draw(2, 2, &mut rng), None);
        let mut w = vec![1.0f32; 4];
        assert_eq!(e.apply(&mut w, 2, 2, &mut rng), None);
        assert_eq!(w, vec![1.0; 4]);
    }

    #[test]
    fn shared_rectangle_for_a_batch() {
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        let e = RandomErasing {
            p: 1.0,
            ..Default::default()
        };
        let rect = e.draw(16, 32, &mut rng).expect("p = 1 on a roomy window");
        let mut batch = vec![vec![1.0f32; 16 * 32]; 3];
        for w in &mut batch {
            rect.fill(w, 32, e.value, &mut rng);
        }
        assert!(batch.iter().all(|w| w == &batch[0]));
        assert_eq!(zeros(&batch[0]), rect.area());
    }

    #[test]
    fn invalid_parameters_are_named() {
        let bad = VectorErasing {
            p: 1.5,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("1.5"));
        let bad = VectorErasing {
            scale: (0.5, 0.2),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("scale"));
        let bad = RandomErasing {
            ratio: (0.0, 3.3),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("ratio"));
        assert!(RandomErasing::default().validate().is_ok());
        assert!(VectorErasing::default().validate().is_ok());
    }
}
