//! Pure transforms on batches of images, as the zoos use them: grayscale, bilinear resize,
//! centred padding, channel repetition and per-channel normalisation.
//!
//! A batch is an [`Images`]: `f32` pixels laid out `[n, c, h, w]` row-major (channel-major, as
//! PyTorch). Every function takes a batch by reference and returns a new one; none changes its
//! input. Shape problems (wrong channel count, a target smaller than the image, ...) are
//! [`Error::InvalidValue`]s that give the shape found and the one accepted.
//!
//! What each function matches in the Python world is said on the function; the short version:
//! [`resize`] with [`Filter::Bilinear`] is `torch.nn.functional.interpolate(mode="bilinear",
//! align_corners=False)`, with [`Filter::AntialiasedBilinear`] it is PIL's `Image.resize(...,
//! BILINEAR)` (and torchvision's `Resize`, antialiased by default); [`pad`] followed by
//! [`normalize`] gives what the engine's zoo loader (`hyperzoo_engine::zoo::dataset`) feeds a
//! network whose input is larger than the dataset's images.
use super::ImageSplit;
use crate::{Error, Result};

/// A batch of images: `f32` pixels, shape `[n, c, h, w]`, row-major.
///
/// The fields are private so that `data.len()` always equals the product of the shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    shape: [usize; 4],
    data: Vec<f32>,
}

impl Images {
    /// A batch of shape `[n, c, h, w]` from its pixels; fails when `data.len()` is not
    /// `n * c * h * w`.
    pub fn new(shape: [usize; 4], data: Vec<f32>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(Error::InvalidValue {
                what: "image batch".into(),
                value: format!("{} values", data.len()),
                expected: format!("{expected} values for shape {shape:?} [n, c, h, w]"),
            });
        }
        Ok(Images { shape, data })
    }

    /// A batch of `value` everywhere.
    pub fn filled(shape: [usize; 4], value: f32) -> Self {
        Images {
            shape,
            data: vec![value; shape.iter().product()],
        }
    }

    /// The pixels of an [`ImageSplit`] times `scale` (`1.0 / 255.0` gives torchvision's
    /// `ToTensor` range `[0, 1]`; `1.0` keeps `0..=255`).
    ///
    /// Accepts images stored `[n, h, w]` (one channel, as idx datasets) or `[n, c, h, w]` (as
    /// CIFAR-10 and image folders with colour).
    pub fn from_split(split: &ImageSplit, scale: f32) -> Result<Self> {
        let dims = &split.images.dims;
        let shape = match *dims.as_slice() {
            [n, h, w] => [n, 1, h, w],
            [n, c, h, w] => [n, c, h, w],
            _ => {
                return Err(Error::InvalidValue {
                    what: "image split dims".into(),
                    value: format!("{dims:?}"),
                    expected: "[n, h, w] or [n, c, h, w]".into(),
                });
            }
        };
        let data = split
            .images
            .data
            .iter()
            .map(|&p| p as f32 * scale)
            .collect();
        Images::new(shape, data)
    }

    /// The shape `[n, c, h, w]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Number of images `n`.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// True when the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Number of channels `c`.
    pub fn channels(&self) -> usize {
        self.shape[1]
    }

    /// Height `h` in pixels.
    pub fn height(&self) -> usize {
        self.shape[2]
    }

    /// Width `w` in pixels.
    pub fn width(&self) -> usize {
        self.shape[3]
    }

    /// The pixels, `[n, c, h, w]` row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The pixels, by value.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// One channel plane (`h * w` values) of one image.
    pub fn plane(&self, image: usize, channel: usize) -> &[f32] {
        let hw = self.shape[2] * self.shape[3];
        let start = (image * self.shape[1] + channel) * hw;
        &self.data[start..start + hw]
    }

    /// "shape [n, c, h, w] = [..]", for error messages.
    fn shape_text(&self) -> String {
        format!("shape [n, c, h, w] = {:?}", self.shape)
    }
}

/// How [`grayscale`] weighs the colour channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrayWeights {
    /// The plain mean over channels (`tf.reduce_mean(x, axis=channels)`), as the Unterthiner et
    /// al. CIFAR-10-GS zoo was made. Works for any channel count.
    #[default]
    Mean,
    /// ITU-R 601-2 luma, `0.299 R + 0.587 G + 0.114 B`: PIL's `convert("L")` and torchvision's
    /// `Grayscale` on PIL images. (torchvision's tensor path uses `0.2989` for red, a difference
    /// of at most `1e-4` of the red value.) Needs exactly 3 channels, in RGB order.
    Luma601,
}

/// Converts to one channel with the chosen weights; output shape `[n, 1, h, w]`.
///
/// A one-channel batch is returned unchanged by either choice.
pub fn grayscale(x: &Images, weights: GrayWeights) -> Result<Images> {
    let [n, c, h, w] = x.shape;
    if c == 1 {
        return Ok(x.clone());
    }
    let coefs: Vec<f32> = match weights {
        GrayWeights::Mean if c > 0 => vec![1.0 / c as f32; c],
        GrayWeights::Luma601 if c == 3 => vec![0.299, 0.587, 0.114],
        _ => {
            return Err(Error::InvalidValue {
                what: format!("image batch for grayscale ({weights:?})"),
                value: x.shape_text(),
                expected: match weights {
                    GrayWeights::Mean => "at least one channel".into(),
                    GrayWeights::Luma601 => "3 channels (RGB) or 1".into(),
                },
            });
        }
    };
    let hw = h * w;
    let mut out = vec![0.0f32; n * hw];
    for (i, dst) in out.chunks_exact_mut(hw.max(1)).enumerate().take(n) {
        for (ch, &k) in coefs.iter().enumerate() {
            for (d, &s) in dst.iter_mut().zip(x.plane(i, ch)) {
                *d += k * s;
            }
        }
    }
    Images::new([n, 1, h, w], out)
}

/// The interpolation of [`resize`]. Both use half-pixel centres (`align_corners=False`): output
/// pixel `i` sits at source coordinate `(i + 0.5) * in / out - 0.5`, and samples outside the
/// image are clamped to the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Plain bilinear interpolation between the two nearest source pixels on each axis:
    /// `torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)` and
    /// torchvision's `Resize(size, antialias=False)` on tensors. Downscaling by an integer
    /// factor of 2 averages 2x2 blocks; larger factors skip pixels (aliasing).
    Bilinear,
    /// PIL's `Image.resize(size, Image.BILINEAR)` (computed in floating point, without PIL's
    /// rounding to `u8`), which is also `interpolate(..., antialias=True)` and torchvision's
    /// `Resize` default: when downscaling, the triangle filter is widened by the scale factor
    /// so every source pixel contributes. Identical to [`Filter::Bilinear`] when upscaling.
    #[default]
    AntialiasedBilinear,
}

/// Per output index along one axis: the first source index and the weights of the source
/// pixels from there on (summing to 1). Follows PIL's `precompute_coeffs` (Resample.c) with the
/// bilinear (triangle) filter of support 1.
fn axis_weights(input: usize, output: usize, filter: Filter) -> Vec<(usize, Vec<f32>)> {
    let scale = input as f64 / output as f64;
    let filter_scale = match filter {
        Filter::AntialiasedBilinear => scale.max(1.0),
        Filter::Bilinear => 1.0,
    };
    let support = filter_scale; // the triangle filter's support is 1, widened by filter_scale
    (0..output)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0) as usize).min(input - 1);
            let hi = ((center + support + 0.5).floor() as usize).clamp(lo + 1, input);
            let mut ws: Vec<f64> = (lo..hi)
                .map(|s| (1.0 - ((s as f64 + 0.5 - center) / filter_scale).abs()).max(0.0))
                .collect();
            let total: f64 = ws.iter().sum();
            if total > 0.0 {
                ws.iter_mut().for_each(|w| *w /= total);
            } else {
                // Cannot happen with support >= 1 (the nearest pixel is always within 0.5),
                // but keep a defined result: nearest pixel.
                ws.iter_mut().for_each(|w| *w = 0.0);
                ws[0] = 1.0;
            }
            (lo, ws.into_iter().map(|w| w as f32).collect())
        })
        .collect()
}

/// Resizes every image to `height x width` with the given [`Filter`] (separable: rows, then
/// columns). Same-size input is returned unchanged, bit for bit.
///
/// Fails when the batch or the target has a zero height or width.
pub fn resize(x: &Images, height: usize, width: usize, filter: Filter) -> Result<Images> {
    let [n, c, h, w] = x.shape;
    if h == 0 || w == 0 || height == 0 || width == 0 {
        return Err(Error::InvalidValue {
            what: "resize".into(),
            value: format!("{} to {height}x{width}", x.shape_text()),
            expected: "non-zero source and target heights and widths".into(),
        });
    }
    if (h, w) == (height, width) {
        return Ok(x.clone());
    }
    let wx = axis_weights(w, width, filter);
    let wy = axis_weights(h, height, filter);
    let mut out = Vec::with_capacity(n * c * height * width);
    let mut rows = vec![0.0f32; h * width]; // horizontally resized plane
    for i in 0..n {
        for ch in 0..c {
            let src = x.plane(i, ch);
            for r in 0..h {
                let line = &src[r * w..(r + 1) * w];
                for (o, (lo, ws)) in wx.iter().enumerate() {
                    rows[r * width + o] = ws.iter().zip(&line[*lo..]).map(|(k, v)| k * v).sum();
                }
            }
            for (lo, ws) in &wy {
                for col in 0..width {
                    let v: f32 = ws
                        .iter()
                        .enumerate()
                        .map(|(k, wt)| wt * rows[(lo + k) * width + col])
                        .sum();
                    out.push(v);
                }
            }
        }
    }
    Images::new([n, c, height, width], out)
}

/// Pads every image to `height x width` with `fill`, centred: `(height - h) / 2` rows on top
/// (rounded down) and the rest below, likewise left and right (torchvision's `CenterCrop`
/// convention when it pads).
///
/// Agreement with the engine: `hyperzoo_engine::zoo::dataset::to_tensors` pads by
/// `(target - size) / 2` on each side (it refuses odd differences) with the normalised zero,
/// `-mean / std`. `normalize(&pad(&x, h, w, 0.0)?, ...)` gives the same values, and so does
/// `pad(&normalize(&x, ...)?, h, w, -mean / std)`.
///
/// Fails when the target is smaller than the images.
pub fn pad(x: &Images, height: usize, width: usize, fill: f32) -> Result<Images> {
    let [n, c, h, w] = x.shape;
    if height < h || width < w {
        return Err(Error::InvalidValue {
            what: "pad target".into(),
            value: format!("{height}x{width}"),
            expected: format!(
                "at least the image size {h}x{w} ({}); padding cannot shrink",
                x.shape_text()
            ),
        });
    }
    let (top, left) = ((height - h) / 2, (width - w) / 2);
    let mut out = Images::filled([n, c, height, width], fill);
    let plane = height * width;
    for i in 0..n {
        for ch in 0..c {
            let src = x.plane(i, ch);
            let base = (i * c + ch) * plane;
            for r in 0..h {
                let dst = base + (r + top) * width + left;
                out.data[dst..dst + w].copy_from_slice(&src[r * w..(r + 1) * w]);
            }
        }
    }
    Ok(out)
}

/// Repeats a one-channel batch `channels` times (`x.repeat(1, 3, 1, 1)` for grey to RGB).
///
/// Fails unless the batch has exactly one channel.
pub fn repeat_channels(x: &Images, channels: usize) -> Result<Images> {
    let [n, c, h, w] = x.shape;
    if c != 1 {
        return Err(Error::InvalidValue {
            what: "image batch for repeat_channels".into(),
            value: x.shape_text(),
            expected: "exactly 1 channel".into(),
        });
    }
    let hw = h * w;
    let mut out = Vec::with_capacity(n * channels * hw);
    for i in 0..n {
        for _ in 0..channels {
            out.extend_from_slice(x.plane(i, 0));
        }
    }
    Images::new([n, channels, h, w], out)
}

/// `(x - mean[c]) / std[c]` per channel, as torchvision's `Normalize`. `mean` and `std` have one
/// entry per channel, or a single entry used for every channel.
///
/// Fails when the lengths fit neither, or a `std` is zero or not finite.
pub fn normalize(x: &Images, mean: &[f32], std: &[f32]) -> Result<Images> {
    let [n, c, h, w] = x.shape;
    for (name, v) in [("mean", mean), ("std", std)] {
        if v.len() != c && v.len() != 1 {
            return Err(Error::InvalidValue {
                what: format!("normalize {name}"),
                value: format!("{v:?}"),
                expected: format!("1 or {c} values (one per channel, {})", x.shape_text()),
            });
        }
    }
    if let Some(s) = std.iter().find(|s| **s == 0.0 || !s.is_finite()) {
        return Err(Error::InvalidValue {
            what: "normalize std".into(),
            value: format!("{s}"),
            expected: "non-zero finite standard deviations".into(),
        });
    }
    let pick = |v: &[f32], ch: usize| if v.len() == 1 { v[0] } else { v[ch] };
    let hw = h * w;
    let mut out = x.data.clone();
    for (k, plane) in out.chunks_exact_mut(hw.max(1)).enumerate().take(n * c) {
        let ch = k % c;
        let (m, s) = (pick(mean, ch), pick(std, ch));
        plane.iter_mut().for_each(|v| *v = (*v - m) / s);
    }
    Images::new(x.shape, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IdxArray;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn shape_is_checked() {
        assert!(Images::new([1, 1, 2, 2], vec![0.0; 3]).is_err());
        let e = Images::new([2, 3, 1, 1], vec![0.0; 5]).unwrap_err();
        assert!(e.to_string().contains("6 values"), "{e}");
    }

    #[test]
    fn from_split_accepts_3d_and_4d() {
        let s = ImageSplit {
            images: IdxArray {
                dims: vec![1, 1, 2],
                data: vec![0, 255],
            },
            labels: vec![0],
        };
        let x = Images::from_split(&s, 1.0 / 255.0).unwrap();
        assert_eq!(x.shape(), [1, 1, 1, 2]);
        assert_eq!(x.data(), &[0.0, 1.0]);
        let s = ImageSplit {
            images: IdxArray {
                dims: vec![1, 3, 1, 1],
                data: vec![1, 2, 3],
            },
            labels: vec![0],
        };
        assert_eq!(Images::from_split(&s, 1.0).unwrap().shape(), [1, 3, 1, 1]);
    }

    #[test]
    fn grayscale_mean_and_luma() {
        // One 1x2 RGB image: pixel 0 = (1, 0, 0) red, pixel 1 = (0.2, 0.4, 0.9).
        let x = Images::new([1, 3, 1, 2], vec![1.0, 0.2, 0.0, 0.4, 0.0, 0.9]).unwrap();
        let g = grayscale(&x, GrayWeights::Mean).unwrap();
        assert_eq!(g.shape(), [1, 1, 1, 2]);
        close(g.data(), &[1.0 / 3.0, 0.5]);
        let g = grayscale(&x, GrayWeights::Luma601).unwrap();
        close(g.data(), &[0.299, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.9]);
        // Grey stays grey; Luma601 needs RGB.
        let one = Images::new([1, 1, 1, 2], vec![0.5, 0.25]).unwrap();
        assert_eq!(grayscale(&one, GrayWeights::Luma601).unwrap(), one);
        let two = Images::filled([1, 2, 1, 1], 1.0);
        assert!(grayscale(&two, GrayWeights::Luma601).is_err());
        close(grayscale(&two, GrayWeights::Mean).unwrap().data(), &[1.0]);
    }

    #[test]
    fn resize_same_size_is_identity() {
        let x = Images::new([2, 1, 2, 3], (0..12).map(|v| v as f32 * 0.1).collect()).unwrap();
        for f in [Filter::Bilinear, Filter::AntialiasedBilinear] {
            assert_eq!(resize(&x, 2, 3, f).unwrap(), x);
        }
        assert!(resize(&x, 0, 3, Filter::Bilinear).is_err());
    }

    #[test]
    fn resize_up_2x2_to_4x4_half_pixel() {
        // Hand-computed with source coordinate (i + 0.5) / 2 - 0.5, clamped at the edges:
        // i = 0..4 -> -0.25 (edge), 0.25, 0.75, 1.25 (edge), so the weights of (p0, p1) are
        // (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1). This is also what
        // F.interpolate(torch.tensor([[[[0., 1], [2, 3]]]]), size=4, mode="bilinear",
        // align_corners=False) prints.
        let x = Images::new([1, 1, 2, 2], vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        #[rustfmt::skip]
        let want = [
            0.0, 0.25, 0.75, 1.0,
            0.5, 0.75, 1.25, 1.5,
            1.5, 1.75, 2.25, 2.5,
            2.0, 2.25, 2.75, 3.0,
        ];
        for f in [Filter::Bilinear, Filter::AntialiasedBilinear] {
            let y = resize(&x, 4, 4, f).unwrap();
            assert_eq!(y.shape(), [1, 1, 4, 4]);
            close(y.data(), &want);
        }
    }

    #[test]
    fn resize_down_4x4_to_2x2() {
        // Plain bilinear: output pixel 0 sits at source 0.5, halfway between pixels 0 and 1, so
        // halving averages 2x2 blocks.
        let x = Images::new([1, 1, 4, 4], (0..16).map(|v| v as f32).collect()).unwrap();
        let y = resize(&x, 2, 2, Filter::Bilinear).unwrap();
        close(
            y.data(),
            &[
                (0.0 + 1.0 + 4.0 + 5.0) / 4.0,
                (2.0 + 3.0 + 6.0 + 7.0) / 4.0,
                (8.0 + 9.0 + 12.0 + 13.0) / 4.0,
                (10.0 + 11.0 + 14.0 + 15.0) / 4.0,
            ],
        );
        // PIL-style: the triangle filter is twice as wide; output 0 is centred at 1.0 and the
        // source centres 0.5, 1.5, 2.5 get 0.75, 0.75, 0.25 (normalised by 1.75), per axis.
        let y = resize(&x, 2, 2, Filter::AntialiasedBilinear).unwrap();
        let axis = |v: [f32; 4]| {
            [
                (0.75 * v[0] + 0.75 * v[1] + 0.25 * v[2]) / 1.75,
                (0.25 * v[1] + 0.75 * v[2] + 0.75 * v[3]) / 1.75,
            ]
        };
        let [c0, c1] = axis([0.0, 1.0, 2.0, 3.0]);
        let [r0, r1] = axis([0.0, 4.0, 8.0, 12.0]);
        close(y.data(), &[r0 + c0, r0 + c1, r1 + c0, r1 + c1]);
    }

    #[test]
    fn resize_keeps_constant_images_and_channels_apart() {
        let mut data = vec![3.0; 5 * 7];
        data.extend(vec![-1.0; 5 * 7]);
        let x = Images::new([1, 2, 5, 7], data).unwrap();
        for f in [Filter::Bilinear, Filter::AntialiasedBilinear] {
            for (h, w) in [(2, 3), (11, 4), (1, 1)] {
                let y = resize(&x, h, w, f).unwrap();
                assert_eq!(y.shape(), [1, 2, h, w]);
                close(y.plane(0, 0), &vec![3.0; h * w]);
                close(y.plane(0, 1), &vec![-1.0; h * w]);
            }
        }
    }

    #[test]
    fn pad_centres_and_matches_engine() {
        // The engine's own test: a 2x2 image [[255, 0], [0, 255]] into a [3, 4, 4] input with
        // mean 0, std 1 has 1.0 at plane indices 5 and 10 and sums to 2 on every channel.
        let x = Images::new([1, 1, 2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let y = repeat_channels(&pad(&x, 4, 4, 0.0).unwrap(), 3).unwrap();
        assert_eq!(y.shape(), [1, 3, 4, 4]);
        for ch in 0..3 {
            let p = y.plane(0, ch);
            assert_eq!((p[5], p[6], p[10]), (1.0, 0.0, 1.0));
            assert_eq!(p.iter().sum::<f32>(), 2.0);
        }
        // Padding raw pixels with 0 then normalising = normalising then padding with -mean/std
        // (the engine's background value).
        let (m, s) = (0.1307, 0.3081);
        let a = normalize(&pad(&x, 6, 4, 0.0).unwrap(), &[m], &[s]).unwrap();
        let b = pad(&normalize(&x, &[m], &[s]).unwrap(), 6, 4, -m / s).unwrap();
        close(a.data(), b.data());
        // Odd difference: the extra row/column goes below/right.
        let y = pad(&Images::filled([1, 1, 1, 1], 7.0), 2, 3, -1.0).unwrap();
        assert_eq!(y.data(), &[-1.0, 7.0, -1.0, -1.0, -1.0, -1.0]);
        let e = pad(&x, 1, 4, 0.0).unwrap_err().to_string();
        assert!(e.contains("1x4") && e.contains("2x2"), "{e}");
    }

    #[test]
    fn repeat_channels_copies_planes() {
        let x = Images::new([2, 1, 1, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let y = repeat_channels(&x, 3).unwrap();
        assert_eq!(y.shape(), [2, 3, 1, 2]);
        assert_eq!(
            y.data(),
            &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0]
        );
        assert!(repeat_channels(&y, 3).is_err());
    }

    #[test]
    fn normalize_per_channel() {
        // Two images, two channels, one pixel each.
        let x = Images::new([2, 2, 1, 1], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let y = normalize(&x, &[1.0, 2.0], &[2.0, 0.5]).unwrap();
        close(y.data(), &[0.0, 0.0, 1.0, 4.0]);
        let y = normalize(&x, &[0.5], &[0.5]).unwrap();
        close(y.data(), &[1.0, 3.0, 5.0, 7.0]);
        assert!(normalize(&x, &[0.0, 0.0, 0.0], &[1.0]).is_err());
        let e = normalize(&x, &[0.0], &[0.0]).unwrap_err().to_string();
        assert!(e.contains("std"), "{e}");
    }
}
