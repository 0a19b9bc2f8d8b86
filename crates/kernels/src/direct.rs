//! Direct convolutions in AVX2/FMA registers, for the small convolutions of zoo networks
//! (stride 1, no padding, output rows at least 8 pixels wide): no im2col matrix is written or
//! read. The output is cut into *segments* of 8 consecutive pixels of one row (a row whose
//! width is not a multiple of 8 ends with a segment that overlaps the one before it; its
//! first lanes are masked out of every sum). Each kernel keeps a tile of accumulators in
//! registers over every tap of the kernel:
//! - forward: 4 output channels x 3 segments (the input vector loaded once per tap and
//!   segment, each weight broadcast once per tap);
//! - input gradient: up to 8 output channels' weights of one tap in registers, the tap's
//!   share of every segment added onto the input;
//! - weight gradient: 2 output channels x up to 5 taps of a kernel row, over every segment of
//!   the batch, then summed across lanes.
//!
//! The sums run in another order than the im2col path's matrix products, so the two agree to
//! rounding (tested), not bit for bit.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One segment: 8 output pixels of a row, where its input window starts (`x`, in the input
/// plane of channel 0 of the batch) and its output starts (`y`, in the output plane of
/// channel 0), and how many of its first lanes an earlier segment already covers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    x: u32,
    y: u32,
    skip: u32,
}

/// A convolution's geometry for the direct kernels: input channels `c`, output channels `o`,
/// kernel `k`, input `ih` x `iw`, output `oh` x `ow`, batch `b` (layout `[C, B, H, W]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geo {
    pub c: usize,
    pub o: usize,
    pub k: usize,
    pub ih: usize,
    pub iw: usize,
    pub oh: usize,
    pub ow: usize,
    pub b: usize,
}

impl Geo {
    /// Floats between two input channels.
    fn xs(&self) -> usize {
        self.b * self.ih * self.iw
    }
    /// Floats between two output channels.
    fn ys(&self) -> usize {
        self.b * self.oh * self.ow
    }
    fn check(&self, x: usize, w: usize, y: usize, segs: &[Seg]) {
        assert!(self.ow >= 8 && self.ow + self.k - 1 == self.iw);
        assert!(self.oh + self.k - 1 == self.ih);
        assert!(x >= self.c * self.xs() && y >= self.o * self.ys());
        assert!(w >= self.o * self.c * self.k * self.k);
        assert_eq!(segs.len(), self.b * self.oh * self.ow.div_ceil(8));
    }
}

/// Whether the direct kernels compute a convolution of this kind.
pub(crate) fn applies(stride: usize, pad: usize, ow: usize) -> bool {
    stride == 1 && pad == 0 && ow >= 8 && u32::try_from(ow).is_ok()
}

/// Whether this CPU runs the direct kernels (AVX2 and FMA).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The segments of a batch, image by image, row by row.
pub(crate) fn segments(g: &Geo, out: &mut Vec<Seg>) {
    out.clear();
    let full = g.ow / 8;
    for img in 0..g.b {
        for oy in 0..g.oh {
            let x = img * g.ih * g.iw + oy * g.iw;
            let y = img * g.oh * g.ow + oy * g.ow;
            let seg = |ox: usize, skip: usize| Seg {
                x: (x + ox) as u32,
                y: (y + ox) as u32,
                skip: skip as u32,
            };
            out.extend((0..full).map(|s| seg(8 * s, 0)));
            if !g.ow.is_multiple_of(8) {
                out.push(seg(g.ow - 8, 8 * full - (g.ow - 8)));
            }
        }
    }
    assert!(
        g.c * g.xs() <= u32::MAX as usize && g.o * g.ys() <= u32::MAX as usize,
        "a convolution's activations beyond 2^32 floats"
    );
}

/// `y = conv(x, w) + bias` (every output pixel written).
///
/// # Safety
/// The CPU has AVX2 and FMA ([`available`]); `segs` are [`segments`] of `g`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn forward(
    g: &Geo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    segs: &[Seg],
) {
    g.check(x.len(), w.len(), y.len(), segs);
    if let Some(bias) = bias {
        assert!(bias.len() >= g.o);
    }
    let mut o0 = 0;
    while o0 < g.o {
        // SAFETY (each call): the assertions above bound every address the tiles form.
        o0 += unsafe {
            match g.o - o0 {
                4.. => forward_channels::<4>(g, x, w, bias, y, segs, o0),
                2..=3 => forward_channels::<2>(g, x, w, bias, y, segs, o0),
                _ => forward_channels::<1>(g, x, w, bias, y, segs, o0),
            }
        };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_channels<const NO: usize>(
    g: &Geo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    segs: &[Seg],
    o0: usize,
) -> usize {
    let mut tiles = segs.chunks_exact(3);
    for t in &mut tiles {
        unsafe { forward_tile::<NO, 3>(g, x, w, bias, y, t, o0) };
    }
    for s in tiles.remainder().chunks(1) {
        unsafe { forward_tile::<NO, 1>(g, x, w, bias, y, s, o0) };
    }
    NO
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn forward_tile<const NO: usize, const NP: usize>(
    g: &Geo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    segs: &[Seg],
    o0: usize,
) {
    let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
    let (k, kk, xs, ys) = (g.k, g.k * g.k, g.xs(), g.ys());
    let mut acc = [[_mm256_setzero_ps(); NP]; NO];
    if let Some(bias) = bias {
        for (o, a) in acc.iter_mut().enumerate() {
            *a = [_mm256_set1_ps(bias[o0 + o]); NP];
        }
    }
    let mut xo = [0usize; NP];
    for p in 0..NP {
        xo[p] = segs[p].x as usize;
    }
    for c in 0..g.c {
        for ky in 0..k {
            for kx in 0..k {
                let at = c * xs + ky * g.iw + kx;
                let mut xv = [_mm256_setzero_ps(); NP];
                for p in 0..NP {
                    // SAFETY: the segment's window lies in channel c's plane.
                    xv[p] = unsafe { _mm256_loadu_ps(xp.add(at + xo[p])) };
                }
                let tap = c * kk + ky * k + kx;
                for (o, a) in acc.iter_mut().enumerate() {
                    // SAFETY: (o0 + o, tap) is a weight of the layer.
                    let wv = unsafe { _mm256_broadcast_ss(&*wp.add((o0 + o) * g.c * kk + tap)) };
                    for p in 0..NP {
                        a[p] = _mm256_fmadd_ps(wv, xv[p], a[p]);
                    }
                }
            }
        }
    }
    for (o, a) in acc.iter().enumerate() {
        for p in 0..NP {
            // SAFETY: the segment's 8 pixels lie in channel o0 + o's output.
            unsafe { _mm256_storeu_ps(yp.add((o0 + o) * ys + segs[p].y as usize), a[p]) };
        }
    }
}

/// The gradient of one output segment, lanes an earlier segment covers zeroed.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_grad(dy: *const f32, seg: Seg) -> __m256 {
    // SAFETY: the caller's address holds 8 floats.
    let v = unsafe { _mm256_loadu_ps(dy.add(seg.y as usize)) };
    if seg.skip == 0 {
        return v;
    }
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let keep = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(seg.skip as i32 - 1));
    _mm256_and_ps(v, _mm256_castsi256_ps(keep))
}

/// `dx += conv_transpose(dy, w)`: the gradient of the input, added onto `dx`.
///
/// # Safety
/// As for [`forward`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn input_grad(g: &Geo, dy: &[f32], w: &[f32], dx: &mut [f32], segs: &[Seg]) {
    g.check(dx.len(), w.len(), dy.len(), segs);
    let mut o0 = 0;
    while o0 < g.o {
        // SAFETY (each call): the assertions above bound every address the tiles form.
        o0 += unsafe {
            match g.o - o0 {
                8.. => input_grad_channels::<8>(g, dy, w, dx, segs, o0),
                6..=7 => input_grad_channels::<6>(g, dy, w, dx, segs, o0),
                4..=5 => input_grad_channels::<4>(g, dy, w, dx, segs, o0),
                2..=3 => input_grad_channels::<2>(g, dy, w, dx, segs, o0),
                _ => input_grad_channels::<1>(g, dy, w, dx, segs, o0),
            }
        };
    }
}

/// The input gradient from `NO` output channels, tap by tap: the tap's weights stay in
/// registers while every segment adds its share onto the input (one segment after another, so
/// that no store waits on the one before it, as it would between two taps of one segment,
/// whose windows overlap); returns `NO`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn input_grad_channels<const NO: usize>(
    g: &Geo,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    segs: &[Seg],
    o0: usize,
) -> usize {
    let (dyp, wp, dxp) = (dy.as_ptr(), w.as_ptr(), dx.as_mut_ptr());
    let (k, kk, xs, ys) = (g.k, g.k * g.k, g.xs(), g.ys());
    for c in 0..g.c {
        for ky in 0..k {
            for kx in 0..k {
                let tap = c * kk + ky * k + kx;
                let mut wv = [_mm256_setzero_ps(); NO];
                for (o, v) in wv.iter_mut().enumerate() {
                    // SAFETY: (o0 + o, tap) is a weight of the layer.
                    *v = unsafe { _mm256_broadcast_ss(&*wp.add((o0 + o) * g.c * kk + tap)) };
                }
                let at = c * xs + ky * g.iw + kx;
                for &seg in segs {
                    // SAFETY: the segment lies in each output channel; its window in channel
                    // c's input plane.
                    unsafe {
                        let mut t = _mm256_mul_ps(wv[0], load_grad(dyp.add(o0 * ys), seg));
                        for (o, &v) in wv.iter().enumerate().skip(1) {
                            t = _mm256_fmadd_ps(v, load_grad(dyp.add((o0 + o) * ys), seg), t);
                        }
                        let q = dxp.add(at + seg.x as usize);
                        _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), t));
                    }
                }
            }
        }
    }
    NO
}

/// `gw += d loss / d w` of the convolution (its bias's gradient is not included).
///
/// # Safety
/// As for [`forward`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn weight_grad(g: &Geo, x: &[f32], dy: &[f32], gw: &mut [f32], segs: &[Seg]) {
    g.check(x.len(), gw.len(), dy.len(), segs);
    let mut o0 = 0;
    while o0 < g.o {
        let no = if g.o - o0 >= 2 { 2 } else { 1 };
        for c in 0..g.c {
            for ky in 0..g.k {
                let mut kx = 0;
                while kx < g.k {
                    let left = g.k - kx;
                    // SAFETY (each call): the assertions above bound every address.
                    unsafe {
                        let step = match (no, left) {
                            (2, 5..) => weight_grad_tile::<2, 5>(g, x, dy, gw, segs, o0, c, ky, kx),
                            (2, 4) => weight_grad_tile::<2, 4>(g, x, dy, gw, segs, o0, c, ky, kx),
                            (2, 2..=3) => {
                                weight_grad_tile::<2, 2>(g, x, dy, gw, segs, o0, c, ky, kx)
                            }
                            (2, _) => weight_grad_tile::<2, 1>(g, x, dy, gw, segs, o0, c, ky, kx),
                            (_, 5..) => weight_grad_tile::<1, 5>(g, x, dy, gw, segs, o0, c, ky, kx),
                            (_, 4) => weight_grad_tile::<1, 4>(g, x, dy, gw, segs, o0, c, ky, kx),
                            (_, 2..=3) => {
                                weight_grad_tile::<1, 2>(g, x, dy, gw, segs, o0, c, ky, kx)
                            }
                            _ => weight_grad_tile::<1, 1>(g, x, dy, gw, segs, o0, c, ky, kx),
                        };
                        kx += step;
                    }
                }
            }
        }
        o0 += no;
    }
}

/// The sum of a vector's lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The gradient of `NO` output channels' weights at `NT` taps of row `ky` of input channel
/// `c` (from tap `kx`), over every segment; returns `NT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
// Indexed loops over the register tile: it stays in registers when written so.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline]
unsafe fn weight_grad_tile<const NO: usize, const NT: usize>(
    g: &Geo,
    x: &[f32],
    dy: &[f32],
    gw: &mut [f32],
    segs: &[Seg],
    o0: usize,
    c: usize,
    ky: usize,
    kx: usize,
) -> usize {
    let (xp, dyp) = (x.as_ptr(), dy.as_ptr());
    let (kk, ys) = (g.k * g.k, g.ys());
    let at = c * g.xs() + ky * g.iw + kx;
    let mut acc = [[_mm256_setzero_ps(); NT]; NO];
    for &seg in segs {
        let mut d = [_mm256_setzero_ps(); NO];
        for (o, v) in d.iter_mut().enumerate() {
            // SAFETY: the segment lies in channel o0 + o's output.
            *v = unsafe { load_grad(dyp.add((o0 + o) * ys), seg) };
        }
        let base = at + seg.x as usize;
        for t in 0..NT {
            // SAFETY: the segment's window lies in channel c's plane.
            let xv = unsafe { _mm256_loadu_ps(xp.add(base + t)) };
            for o in 0..NO {
                acc[o][t] = _mm256_fmadd_ps(d[o], xv, acc[o][t]);
            }
        }
    }
    for (o, row) in acc.iter().enumerate() {
        for (t, &v) in row.iter().enumerate() {
            gw[(o0 + o) * g.c * kk + c * kk + ky * g.k + kx + t] += hsum(v);
        }
    }
    NT
}

/// 2x2 max pooling with stride 2 of one output row, 4 outputs at a time: the maximum of each
/// window and where it is (`r0`, `r1`: the indices of the two input rows' first pixels), the
/// same choice as the scalar rule (the first of equal values; NaN wins). Returns how many
/// outputs it wrote (a multiple of 4; the caller does the rest).
///
/// # Safety
/// The CPU has AVX2 ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn pool2_row(
    top: &[f32],
    bottom: &[f32],
    (r0, r1): (u32, u32),
    y: &mut [f32],
    arg: &mut [u32],
) -> usize {
    let n = y
        .len()
        .min(arg.len())
        .min(top.len() / 2)
        .min(bottom.len() / 2)
        / 4
        * 4;
    let even = _mm_setr_epi32(0, 2, 4, 6);
    let one = _mm_set1_epi32(1);
    for ox in (0..n).step_by(4) {
        let j = 2 * ox;
        // SAFETY: 2 * ox + 8 <= 2 * n <= the rows' lengths; ox + 4 <= n <= the outputs'.
        unsafe {
            let (ta, tb) = (
                _mm_loadu_ps(top.as_ptr().add(j)),
                _mm_loadu_ps(top.as_ptr().add(j + 4)),
            );
            let (ba, bb) = (
                _mm_loadu_ps(bottom.as_ptr().add(j)),
                _mm_loadu_ps(bottom.as_ptr().add(j + 4)),
            );
            let it = _mm_add_epi32(_mm_set1_epi32((r0 as usize + j) as i32), even);
            let ib = _mm_add_epi32(_mm_set1_epi32((r1 as usize + j) as i32), even);
            let first = pick(
                (_mm_shuffle_ps::<0b10_00_10_00>(ta, tb), it),
                (
                    _mm_shuffle_ps::<0b11_01_11_01>(ta, tb),
                    _mm_add_epi32(it, one),
                ),
            );
            let second = pick(
                (_mm_shuffle_ps::<0b10_00_10_00>(ba, bb), ib),
                (
                    _mm_shuffle_ps::<0b11_01_11_01>(ba, bb),
                    _mm_add_epi32(ib, one),
                ),
            );
            let (v, at) = pick(first, second);
            _mm_storeu_ps(y.as_mut_ptr().add(ox), v);
            _mm_storeu_si128(arg.as_mut_ptr().add(ox).cast(), at);
        }
    }
    n
}

/// The larger of two (value, index) vectors lane by lane: `b` where it is greater, or NaN
/// where `a` is not.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn pick(a: (__m128, __m128i), b: (__m128, __m128i)) -> (__m128, __m128i) {
    let nan_b = _mm_cmpunord_ps(b.0, b.0);
    let take = _mm_or_ps(
        _mm_cmpgt_ps(b.0, a.0),
        _mm_and_ps(nan_b, _mm_cmpord_ps(a.0, a.0)),
    );
    let at = _mm_castps_si128(_mm_blendv_ps(
        _mm_castsi128_ps(a.1),
        _mm_castsi128_ps(b.1),
        take,
    ));
    (_mm_blendv_ps(a.0, b.0, take), at)
}
