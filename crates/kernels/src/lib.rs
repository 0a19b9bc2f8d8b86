//! Population training on the CPU without LibTorch: every network of a population trains its
//! epoch on its own thread's share of the population, forward and backward written out per
//! layer (convolutions, max pooling, activations, dropout, linear layers, cross-entropy) with
//! the loops compiled for AVX2/FMA where the CPU has them. Convolutions of stride 1 without
//! padding whose output rows are at least 8 wide (every convolution of CNN-s but its last) run
//! as direct convolutions in AVX2 registers ([`direct`]); the others, and every convolution on
//! a CPU without AVX2, as im2col and a matrix product in the `gemm` crate's kernels.
//!
//! Why: a zoo network is small (CNN-s has 2,464 parameters, channel counts of 1 to 8), so
//! LibTorch's grouped convolutions and its autograd spend most of a step on overhead, and its
//! intra-op threads wait on each other at every operator. Here a thread runs whole epochs of
//! its networks with no synchronisation at all: the networks of a population share nothing but
//! the read-only training images.
//!
//! What stays the same: the optimizer (torch.optim's Adam and SGD with momentum 0.9, weight
//! decay as L2 on the gradient, in f32 as the tensor path computes it), each network's data order
//! and dropout masks (drawn from the same (seed, step, layer) streams, [`model_rng`], as the
//! population forward's), and the flat PyTorch state-dict layout. A network's
//! arithmetic does not depend on which thread runs it or on the other networks, so a population
//! trains its networks exactly as they would train alone, and a resumed generation continues
//! bit for bit. The numbers differ from the LibTorch path by rounding only (the order of the
//! sums); tests compare the forward with PyTorch's and the gradients with burn's autodiff.
use hyperzoo_core::arch::{Activation, ArchSpec, Layer, ParamKind};
use hyperzoo_core::zoo::{Hparams, OptimizerKind};
use rand::Rng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod direct;

/// The stream of a network's data order (shuffled per epoch with [`model_rng`]).
pub const SHUFFLE_STREAM: u64 = 0x5f;

/// The inverted-dropout mask of one network for one layer at one step: `len` values, each
/// `1 / (1 - p)` (kept) or 0, drawn from the network's `(seed, step, layer)` stream. The tensor
/// path of zoo training draws its masks here too, so both drop the same units.
pub fn dropout_mask(seed: u64, step: u64, layer: u64, p: f64, len: usize) -> Vec<f32> {
    let keep = 1.0 - p;
    let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
    let mut rng = model_rng(seed, step, layer);
    (0..len)
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Training stopped by the stop flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// A reproducible RNG for one model's draws at one step and purpose.
pub fn model_rng(seed: u64, step: u64, stream: u64) -> rand_chacha::ChaCha8Rng {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream);
    rng
}

/// One layer of a compiled network. Spatial activations are laid out `[C, B, H, W]` (channel
/// major over the whole batch, so that a convolution is one matrix product per step), flat ones
/// `[B, F]`.
#[derive(Debug, Clone)]
enum Op {
    Conv {
        w: usize,
        b: Option<usize>,
        out: usize,
        inp: usize,
        k: usize,
        stride: usize,
        pad: usize,
        ih: usize,
        iw: usize,
        oh: usize,
        ow: usize,
    },
    Pool {
        k: usize,
        stride: usize,
        c: usize,
        ih: usize,
        iw: usize,
        oh: usize,
        ow: usize,
    },
    Act(Activation),
    Dropout {
        p: Option<f64>,
        layer: u64,
        /// Per-image shape `[C, H, W]` (spatial) or `[F]`.
        shape: Vec<usize>,
    },
    Flatten {
        c: usize,
        hw: usize,
    },
    Gap {
        c: usize,
        hw: usize,
    },
    Linear {
        w: usize,
        b: Option<usize>,
        out: usize,
        inp: usize,
    },
}

/// A network compiled for the native path.
#[derive(Debug, Clone)]
pub struct NativeNet {
    ops: Vec<Op>,
    input: [usize; 3],
    classes: usize,
    params: usize,
    /// Whether convolutions the direct kernels compute run there (the CPU has AVX2 and FMA).
    direct: bool,
}

impl NativeNet {
    /// Compiles `spec` with `activation` for its activation layers without a fixed function.
    pub fn new(spec: &ArchSpec, activation: Activation) -> hyperzoo_core::Result<Self> {
        let layout = spec.layout()?;
        spec.sequential_only("the native CPU kernels")?;
        let mut params = layout.params.iter();
        let mut ops = Vec::with_capacity(spec.layers.len());
        let mut classes = 0;
        let mut shape: Vec<usize> = spec.input.to_vec();
        for (i, layer) in spec.layers.iter().enumerate() {
            let next = layout.shapes[i].clone();
            let op = match layer {
                Layer::Conv2d { .. } => {
                    let pl = params.next().expect("layout matches layers");
                    let ParamKind::Conv {
                        kernel,
                        stride,
                        padding,
                    } = pl.kind
                    else {
                        unreachable!("a convolution's parameters")
                    };
                    Op::Conv {
                        w: pl.weight_offset,
                        b: pl.bias_offset,
                        out: pl.out,
                        inp: pl.inp,
                        k: kernel,
                        stride,
                        pad: padding,
                        ih: shape[1],
                        iw: shape[2],
                        oh: next[1],
                        ow: next[2],
                    }
                }
                Layer::MaxPool { kernel, stride } => Op::Pool {
                    k: *kernel,
                    stride: stride.unwrap_or(*kernel),
                    c: shape[0],
                    ih: shape[1],
                    iw: shape[2],
                    oh: next[1],
                    ow: next[2],
                },
                Layer::Activation { func } => Op::Act(func.unwrap_or(activation)),
                Layer::Dropout { p } => Op::Dropout {
                    p: *p,
                    layer: i as u64,
                    shape: shape.clone(),
                },
                // A flat input is already in order: one "channel" of all its features.
                Layer::Flatten if shape.len() == 1 => Op::Flatten { c: 1, hw: shape[0] },
                Layer::Flatten => Op::Flatten {
                    c: shape[0],
                    hw: shape[1..].iter().product(),
                },
                Layer::GlobalAvgPool => Op::Gap {
                    c: shape[0],
                    hw: shape[1..].iter().product(),
                },
                Layer::BatchNorm { .. } | Layer::Residual { .. } => {
                    unreachable!("refused by sequential_only")
                }
                Layer::Linear { .. } => {
                    let pl = params.next().expect("layout matches layers");
                    Op::Linear {
                        w: pl.weight_offset,
                        b: pl.bias_offset,
                        out: pl.out,
                        inp: pl.inp,
                    }
                }
            };
            ops.push(op);
            classes = next.iter().product();
            shape = next;
        }
        Ok(Self {
            ops,
            input: spec.input,
            classes,
            params: layout.total,
            direct: direct::available(),
        })
    }

    /// The same network with every convolution as im2col and a matrix product (what a CPU
    /// without AVX2 runs), to compare the two.
    pub fn without_direct_convolutions(mut self) -> Self {
        self.direct = false;
        self
    }

    /// Whether some convolution of this network runs as a direct convolution.
    pub fn uses_direct_convolutions(&self) -> bool {
        self.ops.iter().any(|op| self.direct_geo(op, 1).is_some())
    }

    /// The direct kernels' geometry of `op` on a batch of `b`, when it is a convolution they
    /// compute on this CPU.
    fn direct_geo(&self, op: &Op, b: usize) -> Option<direct::Geo> {
        match *op {
            Op::Conv {
                out,
                inp,
                k,
                stride,
                pad,
                ih,
                iw,
                oh,
                ow,
                ..
            } if self.direct && direct::applies(stride, pad, ow) => Some(direct::Geo {
                c: inp,
                o: out,
                k,
                ih,
                iw,
                oh,
                ow,
                b,
            }),
            _ => None,
        }
    }

    /// Parameters per network.
    pub fn param_count(&self) -> usize {
        self.params
    }
}

/// `c = op(a) * op(b) + beta * c` for row-major `a` (`[m, k]`, or `[k, m]` when `ta`), `b`
/// (`[k, n]`, or `[n, k]` when `tb`) and `c` (`[m, n]`), each stored with its rows `ld*` apart,
/// in the `gemm` crate's kernels (runtime dispatch to the CPU's vector instructions; small
/// products without packing).
#[allow(clippy::too_many_arguments)]
fn gemm_ld(
    (m, k, n): (usize, usize, usize),
    (a, ta, lda): (&[f32], bool, usize),
    (b, tb, ldb): (&[f32], bool, usize),
    beta: f32,
    (c, ldc): (&mut [f32], usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
    let fits = |len: usize, rows: usize, cols: usize, ld: usize| {
        cols <= ld && (rows == 0 || cols == 0 || (rows - 1) * ld + cols <= len)
    };
    assert!(fits(a.len(), a_rows, a_cols, lda) && fits(b.len(), b_rows, b_cols, ldb));
    assert!(fits(c.len(), m, n, ldc));
    let (a_rs, a_cs) = if ta { (1, lda) } else { (lda, 1) };
    let (b_rs, b_cs) = if tb { (1, ldb) } else { (ldb, 1) };
    // SAFETY: the three slices hold every element addressed with these strides (checked
    // above); `c` does not alias `a` or `b` (a `&mut` beside two `&`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            beta != 0.0,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            beta,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// [`gemm_ld`] of densely stored matrices.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    beta: f32,
    c: &mut [f32],
) {
    let lda = if ta { m } else { k };
    let ldb = if tb { k } else { n };
    gemm_ld((m, k, n), (a, ta, lda), (b, tb, ldb), beta, (c, n));
}

/// Bytes of a convolution's im2col matrix computed at once: the images of a batch go through
/// a convolution in groups whose matrix stays in the core's L2 cache.
const COLS_BYTES: usize = 1024 * 1024;

/// Images per group of a convolution with `ckk` rows per output pixel and `ohw` pixels.
fn conv_group(b: usize, ckk: usize, ohw: usize) -> usize {
    (COLS_BYTES / (4 * ckk * ohw).max(1)).clamp(1, b.max(1))
}

/// What a forward pass keeps for the backward pass, per op: its input (`acts[i]`), and the
/// im2col matrix of a convolution, the argmax of a pooling or the mask of a dropout (`aux`).
#[derive(Default)]
struct Tape {
    acts: Vec<Vec<f32>>,
    cols: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    masks: Vec<Vec<f32>>,
    grad: Vec<f32>,
    grad_next: Vec<f32>,
    dcols: Vec<f32>,
    /// Per op, the direct kernels' segments and the batch size they were cut for (the same
    /// for the forward and the backward pass, and for every step of one batch size).
    segs: Vec<(usize, Vec<direct::Seg>)>,
}

impl Tape {
    fn new(net: &NativeNet) -> Self {
        let n = net.ops.len();
        Tape {
            acts: vec![Vec::new(); n + 1],
            cols: vec![Vec::new(); n],
            argmax: vec![Vec::new(); n],
            masks: vec![Vec::new(); n],
            segs: vec![(0, Vec::new()); n],
            ..Tape::default()
        }
    }
}

/// The segments of `geo` from `cache`, cut again only when the batch size changed.
fn segments<'a>(cache: &'a mut (usize, Vec<direct::Seg>), geo: &direct::Geo) -> &'a [direct::Seg] {
    if cache.0 != geo.b || cache.1.is_empty() {
        direct::segments(geo, &mut cache.1);
        cache.0 = geo.b;
    }
    &cache.1
}

/// Per-network dropout of a forward pass: probability, seed, step.
#[derive(Clone, Copy)]
struct DropoutAt {
    p: f64,
    seed: u64,
    step: u64,
}

/// `v` zeroed, `len` long (for sums into it).
fn zeroed(v: &mut Vec<f32>, len: usize) {
    v.clear();
    v.resize(len, 0.0);
}

/// `v` `len` long, its old values left (for buffers written whole).
fn fit(v: &mut Vec<f32>, len: usize) {
    v.truncate(len);
    v.resize(len, 0.0);
}

impl NativeNet {
    /// Puts `images` (each `[C, H, W]`, row-major) into `tape.acts[0]` as `[C, B, H, W]`.
    fn load<'a>(&self, tape: &mut Tape, images: impl ExactSizeIterator<Item = &'a [f32]>) {
        let [c, h, wd] = self.input;
        let (hw, b) = (h * wd, images.len());
        let x0 = &mut tape.acts[0];
        fit(x0, c * b * hw);
        for (img, src) in images.enumerate() {
            for ch in 0..c {
                x0[(ch * b + img) * hw..][..hw].copy_from_slice(&src[ch * hw..][..hw]);
            }
        }
    }

    /// Forward pass of one network (`w`, its flat weights) on `b` images held in `tape.acts[0]`
    /// (`[C, B, H, W]`); the logits end in the last `tape.acts` (`[B, classes]`).
    #[inline(always)]
    fn forward(&self, w: &[f32], b: usize, dropout: Option<DropoutAt>, tape: &mut Tape) {
        for (i, op) in self.ops.iter().enumerate() {
            let (before, after) = tape.acts.split_at_mut(i + 1);
            let x = &before[i];
            let y = &mut after[0];
            match op {
                Op::Conv {
                    w: wo,
                    b: bo,
                    out,
                    inp,
                    k,
                    stride,
                    pad,
                    ih,
                    iw,
                    oh,
                    ow,
                } => {
                    let (ckk, ohw) = (inp * k * k, oh * ow);
                    let cols_n = b * ohw;
                    fit(y, out * cols_n);
                    #[cfg(target_arch = "x86_64")]
                    if let Some(geo) = self.direct_geo(op, b) {
                        let segs = segments(&mut tape.segs[i], &geo);
                        let bias = bo.map(|bo| &w[bo..bo + out]);
                        // SAFETY: `direct_geo` is only given where the CPU has AVX2 and FMA;
                        // the segments are those of this geometry.
                        unsafe { direct::forward(&geo, x, &w[*wo..wo + out * ckk], bias, y, segs) };
                        continue;
                    }
                    if let Some(bo) = bo {
                        for (o, row) in y.chunks_exact_mut(cols_n).enumerate() {
                            row.fill(w[bo + o]);
                        }
                    }
                    let beta = if bo.is_some() { 1.0 } else { 0.0 };
                    let group = conv_group(b, ckk, ohw);
                    let cols = &mut tape.cols[i];
                    for g0 in (0..b).step_by(group) {
                        let gn = group.min(b - g0);
                        fit(cols, ckk * gn * ohw);
                        let geo = (*inp, *ih, *iw, *k, *stride, *pad, *oh, *ow);
                        im2col(x, cols, b, (g0, gn), geo);
                        // y[:, group] (rows cols_n apart) = W [O, CKK] x cols [CKK, gn*ohw].
                        gemm_ld(
                            (*out, ckk, gn * ohw),
                            (&w[*wo..], false, ckk),
                            (cols, false, gn * ohw),
                            beta,
                            (&mut y[g0 * ohw..], cols_n),
                        );
                    }
                }
                Op::Pool {
                    k,
                    stride,
                    c,
                    ih,
                    iw,
                    oh,
                    ow,
                } => {
                    let planes = c * b;
                    fit(y, planes * oh * ow);
                    let arg = &mut tape.argmax[i];
                    arg.truncate(planes * oh * ow);
                    arg.resize(planes * oh * ow, 0);
                    if *k == 2 && *stride == 2 {
                        pool2(x, y, arg, planes, (*ih, *iw, *oh, *ow), self.direct);
                        continue;
                    }
                    for p in 0..planes {
                        let xin = &x[p * ih * iw..(p + 1) * ih * iw];
                        for oy in 0..*oh {
                            for ox in 0..*ow {
                                let j0 = oy * stride * iw + ox * stride;
                                let (mut best, mut at) = (xin[j0], j0);
                                for ky in 0..*k {
                                    let row = (oy * stride + ky) * iw + ox * stride;
                                    for kx in 0..*k {
                                        let j = row + kx;
                                        let v = xin[j];
                                        // PyTorch's rule: the first maximum; NaN wins.
                                        let take = v > best || v.is_nan();
                                        best = if take { v } else { best };
                                        at = if take { j } else { at };
                                    }
                                }
                                let o = p * oh * ow + oy * ow + ox;
                                y[o] = best;
                                arg[o] = (p * ih * iw + at) as u32;
                            }
                        }
                    }
                }
                Op::Act(f) => {
                    fit(y, x.len());
                    // One loop per function, so that each vectorises.
                    macro_rules! apply {
                        ($f:expr) => {
                            for (o, &v) in y.iter_mut().zip(x.iter()) {
                                *o = activate($f, v);
                            }
                        };
                    }
                    match f {
                        Activation::Relu => apply!(Activation::Relu),
                        Activation::Leakyrelu => apply!(Activation::Leakyrelu),
                        Activation::Tanh => apply!(Activation::Tanh),
                        Activation::Sigmoid => apply!(Activation::Sigmoid),
                        Activation::Silu => apply!(Activation::Silu),
                        Activation::Gelu => apply!(Activation::Gelu),
                    }
                }
                Op::Dropout { p, layer, shape } => {
                    let prob = match (p, dropout) {
                        (Some(p), Some(_)) => *p,
                        (None, Some(d)) => d.p,
                        (_, None) => 0.0,
                    };
                    fit(y, x.len());
                    let mask = &mut tape.masks[i];
                    mask.clear();
                    match dropout {
                        Some(d) if prob > 0.0 => {
                            let rest: usize = shape.iter().product();
                            // Drawn per image, the image's elements channel-major.
                            let drawn = dropout_mask(d.seed, d.step, *layer, prob, b * rest);
                            mask.resize(x.len(), 0.0);
                            if shape.len() == 3 {
                                let (c, hw) = (shape[0], shape[1] * shape[2]);
                                for ch in 0..c {
                                    for img in 0..b {
                                        let to = (ch * b + img) * hw;
                                        let from = img * rest + ch * hw;
                                        mask[to..to + hw].copy_from_slice(&drawn[from..from + hw]);
                                    }
                                }
                            } else {
                                mask.copy_from_slice(&drawn);
                            }
                            for ((o, &v), &m) in y.iter_mut().zip(x.iter()).zip(mask.iter()) {
                                *o = v * m;
                            }
                        }
                        _ => y.copy_from_slice(x),
                    }
                }
                Op::Flatten { c, hw } => {
                    fit(y, x.len());
                    for ch in 0..*c {
                        for img in 0..b {
                            let from = (ch * b + img) * hw;
                            let to = img * c * hw + ch * hw;
                            y[to..to + hw].copy_from_slice(&x[from..from + hw]);
                        }
                    }
                }
                Op::Gap { c, hw } => {
                    fit(y, b * c);
                    for ch in 0..*c {
                        for img in 0..b {
                            let from = (ch * b + img) * hw;
                            let s: f32 = x[from..from + hw].iter().sum();
                            y[img * c + ch] = s / *hw as f32;
                        }
                    }
                }
                Op::Linear {
                    w: wo,
                    b: bo,
                    out,
                    inp,
                } => {
                    fit(y, b * out);
                    if let Some(bo) = bo {
                        for row in y.chunks_exact_mut(*out) {
                            row.copy_from_slice(&w[*bo..bo + out]);
                        }
                    }
                    let beta = if bo.is_some() { 1.0 } else { 0.0 };
                    // [B, F] x [F, O] (the weight [O, F] transposed).
                    gemm(b, *inp, *out, x, false, &w[*wo..], true, beta, y);
                }
            }
        }
    }

    /// Backward pass from `tape.grad` (d loss / d logits, `[B, classes]`) after
    /// [`NativeNet::forward`]; the gradient of the weights is added to `g`.
    #[inline(always)]
    fn backward(&self, w: &[f32], b: usize, tape: &mut Tape, g: &mut [f32]) {
        for (i, op) in self.ops.iter().enumerate().rev() {
            let need_input_grad = i > 0;
            let x = &tape.acts[i];
            let dy = &tape.grad;
            let dx = &mut tape.grad_next;
            match op {
                Op::Conv {
                    w: wo,
                    b: bo,
                    out,
                    inp,
                    k,
                    stride,
                    pad,
                    ih,
                    iw,
                    oh,
                    ow,
                } => {
                    let (ckk, ohw) = (inp * k * k, oh * ow);
                    let cols_n = b * ohw;
                    if let Some(bo) = bo {
                        for (o, row) in dy.chunks_exact(cols_n).enumerate() {
                            g[bo + o] += sum(row);
                        }
                    }
                    if need_input_grad {
                        zeroed(dx, inp * b * ih * iw);
                    }
                    #[cfg(target_arch = "x86_64")]
                    if let Some(geo) = self.direct_geo(op, b) {
                        let segs = segments(&mut tape.segs[i], &geo);
                        let wl = &w[*wo..wo + out * ckk];
                        // SAFETY: as in the forward pass.
                        unsafe {
                            direct::weight_grad(&geo, x, dy, &mut g[*wo..wo + out * ckk], segs);
                            if need_input_grad {
                                direct::input_grad(&geo, dy, wl, dx, segs);
                            }
                        }
                        if need_input_grad {
                            std::mem::swap(&mut tape.grad, &mut tape.grad_next);
                        }
                        continue;
                    }
                    let group = conv_group(b, ckk, ohw);
                    let geo = (*inp, *ih, *iw, *k, *stride, *pad, *oh, *ow);
                    let cols = &mut tape.cols[i];
                    for g0 in (0..b).step_by(group) {
                        let gn = group.min(b - g0);
                        let gcols = gn * ohw;
                        // The group's im2col matrix again (cheaper than keeping every group's);
                        // a batch in one group still has the forward pass's.
                        if group < b {
                            fit(cols, ckk * gcols);
                            im2col(x, cols, b, (g0, gn), geo);
                        }
                        // dW [O, CKK] += dY[:, group] [O, gcols] x cols^T [gcols, CKK].
                        gemm_ld(
                            (*out, gcols, ckk),
                            (&dy[g0 * ohw..], false, cols_n),
                            (cols, true, gcols),
                            1.0,
                            (&mut g[*wo..wo + out * ckk], ckk),
                        );
                        if need_input_grad {
                            // dcols [CKK, gcols] = W^T [CKK, O] x dY[:, group] [O, gcols].
                            fit(&mut tape.dcols, ckk * gcols);
                            gemm_ld(
                                (ckk, *out, gcols),
                                (&w[*wo..], true, ckk),
                                (&dy[g0 * ohw..], false, cols_n),
                                0.0,
                                (&mut tape.dcols, gcols),
                            );
                            col2im(&tape.dcols, dx, b, (g0, gn), geo);
                        }
                    }
                }
                Op::Pool {
                    c, ih, iw, oh, ow, ..
                } => {
                    zeroed(dx, c * b * ih * iw);
                    let arg = &tape.argmax[i];
                    debug_assert_eq!(arg.len(), c * b * oh * ow);
                    for (&a, &d) in arg.iter().zip(dy.iter()) {
                        dx[a as usize] += d;
                    }
                }
                Op::Act(f) => {
                    let y = &tape.acts[i + 1];
                    fit(dx, x.len());
                    macro_rules! apply {
                        ($f:expr) => {
                            for ((o, &d), (&xv, &yv)) in
                                dx.iter_mut().zip(dy.iter()).zip(x.iter().zip(y.iter()))
                            {
                                *o = d * activation_grad($f, xv, yv);
                            }
                        };
                    }
                    match f {
                        Activation::Relu => apply!(Activation::Relu),
                        Activation::Leakyrelu => apply!(Activation::Leakyrelu),
                        Activation::Tanh => apply!(Activation::Tanh),
                        Activation::Sigmoid => apply!(Activation::Sigmoid),
                        Activation::Silu => apply!(Activation::Silu),
                        Activation::Gelu => apply!(Activation::Gelu),
                    }
                }
                Op::Dropout { .. } => {
                    let mask = &tape.masks[i];
                    fit(dx, x.len());
                    if mask.is_empty() {
                        dx.copy_from_slice(dy);
                    } else {
                        for ((o, &d), &m) in dx.iter_mut().zip(dy.iter()).zip(mask.iter()) {
                            *o = d * m;
                        }
                    }
                }
                Op::Flatten { c, hw } => {
                    fit(dx, x.len());
                    for ch in 0..*c {
                        for img in 0..b {
                            let to = (ch * b + img) * hw;
                            let from = img * c * hw + ch * hw;
                            dx[to..to + hw].copy_from_slice(&dy[from..from + hw]);
                        }
                    }
                }
                Op::Gap { c, hw } => {
                    fit(dx, x.len());
                    for ch in 0..*c {
                        for img in 0..b {
                            let d = dy[img * c + ch] / *hw as f32;
                            let to = (ch * b + img) * hw;
                            dx[to..to + hw].fill(d);
                        }
                    }
                }
                Op::Linear {
                    w: wo,
                    b: bo,
                    out,
                    inp,
                } => {
                    if let Some(bo) = bo {
                        for row in dy.chunks_exact(*out) {
                            for (gb, &d) in g[*bo..bo + out].iter_mut().zip(row) {
                                *gb += d;
                            }
                        }
                    }
                    // dW [O, F] += dY^T [O, B] x X [B, F].
                    gemm(
                        *out,
                        b,
                        *inp,
                        dy,
                        true,
                        x,
                        false,
                        1.0,
                        &mut g[*wo..wo + out * inp],
                    );
                    if need_input_grad {
                        fit(dx, b * inp);
                        // dX [B, F] = dY [B, O] x W [O, F].
                        gemm(b, *out, *inp, dy, false, &w[*wo..], false, 0.0, dx);
                    }
                }
            }
            if need_input_grad {
                std::mem::swap(&mut tape.grad, &mut tape.grad_next);
            }
        }
    }
}

/// 2x2 max pooling with stride 2 of `planes` planes: the maximum (NaN if any is NaN, the
/// first of equal values) and where it is, without branches.
#[inline(always)]
fn pool2(
    x: &[f32],
    y: &mut [f32],
    arg: &mut [u32],
    planes: usize,
    (ih, iw, oh, ow): (usize, usize, usize, usize),
    simd: bool,
) {
    #[inline(always)]
    fn pick(a: (f32, u32), b: (f32, u32)) -> (f32, u32) {
        let take = b.0 > a.0 || (b.0.is_nan() && !a.0.is_nan());
        (if take { b.0 } else { a.0 }, if take { b.1 } else { a.1 })
    }
    for p in 0..planes {
        let base = p * ih * iw;
        for oy in 0..oh {
            let r0 = base + 2 * oy * iw;
            let r1 = r0 + iw;
            let (top, bottom) = (&x[r0..r0 + 2 * ow], &x[r1..r1 + 2 * ow]);
            let out = p * oh * ow + oy * ow;
            let (yo, ao) = (&mut y[out..out + ow], &mut arg[out..out + ow]);
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` is only set where the CPU has AVX2 (`NativeNet::direct`).
                done = unsafe { direct::pool2_row(top, bottom, (r0 as u32, r1 as u32), yo, ao) };
            }
            for ox in done..ow {
                let j = 2 * ox;
                let first = pick((top[j], (r0 + j) as u32), (top[j + 1], (r0 + j + 1) as u32));
                let second = pick(
                    (bottom[j], (r1 + j) as u32),
                    (bottom[j + 1], (r1 + j + 1) as u32),
                );
                let (v, at) = pick(first, second);
                yo[ox] = v;
                ao[ox] = at;
            }
        }
    }
}

/// `out = src` for short rows, in 8-float blocks (a `memcpy` call per row costs more than
/// the copy).
#[inline(always)]
fn copy_row(out: &mut [f32], src: &[f32]) {
    let mut o = out.chunks_exact_mut(8);
    let mut i = src.chunks_exact(8);
    for (a, b) in (&mut o).zip(&mut i) {
        let b: &[f32; 8] = b.try_into().expect("8 floats");
        let a: &mut [f32; 8] = a.try_into().expect("8 floats");
        *a = *b;
    }
    for (a, b) in o.into_remainder().iter_mut().zip(i.remainder()) {
        *a = *b;
    }
}

/// The sum of `v` over 8 interleaved partial sums (vectorisable; the same order on every CPU).
#[inline(always)]
fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut total =
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in rest {
        total += x;
    }
    total
}

/// A convolution's geometry: input channels, height and width, kernel, stride, padding,
/// output height and width.
type Geometry = (usize, usize, usize, usize, usize, usize, usize, usize);

/// `cols[(c*k + ky)*k + kx][(i*oh + oy)*ow + ox]` = the pixel of image `g0 + i` under that
/// kernel tap (zero in the padding), for the `gn` images of group `(g0, gn)` of `x` (laid out
/// `[C, B, H, W]`, `B = b`).
#[inline(always)]
fn im2col(x: &[f32], cols: &mut [f32], b: usize, (g0, gn): (usize, usize), geo: Geometry) {
    let (c, ih, iw, k, stride, pad, oh, ow) = geo;
    let n = gn * oh * ow;
    for ch in 0..c {
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((ch * k + ky) * k + kx) * n..][..n];
                for (i, out) in row.chunks_exact_mut(oh * ow).enumerate() {
                    let plane = &x[(ch * b + g0 + i) * ih * iw..][..ih * iw];
                    if stride == 1 && pad == 0 {
                        // The tap reads a window of the plane: rows of `ow` from rows of `iw`.
                        let src = &plane[ky * iw + kx..];
                        for (o, line) in out.chunks_exact_mut(ow).zip(src.chunks(iw)) {
                            copy_row(o, &line[..ow]);
                        }
                        continue;
                    }
                    for (oy, o) in out.chunks_exact_mut(ow).enumerate() {
                        let y = (oy * stride + ky) as isize - pad as isize;
                        if y < 0 || y >= ih as isize {
                            o.fill(0.0);
                            continue;
                        }
                        let line = &plane[y as usize * iw..][..iw];
                        for (ox, v) in o.iter_mut().enumerate() {
                            let xx = (ox * stride + kx) as isize - pad as isize;
                            *v = if xx < 0 || xx >= iw as isize {
                                0.0
                            } else {
                                line[xx as usize]
                            };
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry of the group back onto its pixel.
#[inline(always)]
fn col2im(cols: &[f32], dx: &mut [f32], b: usize, (g0, gn): (usize, usize), geo: Geometry) {
    let (c, ih, iw, k, stride, pad, oh, ow) = geo;
    let n = gn * oh * ow;
    for ch in 0..c {
        for ky in 0..k {
            for kx in 0..k {
                let row = &cols[((ch * k + ky) * k + kx) * n..][..n];
                for (i, from) in row.chunks_exact(oh * ow).enumerate() {
                    let plane = &mut dx[(ch * b + g0 + i) * ih * iw..][..ih * iw];
                    for (oy, f) in from.chunks_exact(ow).enumerate() {
                        let y = (oy * stride + ky) as isize - pad as isize;
                        if y < 0 || y >= ih as isize {
                            continue;
                        }
                        let line = &mut plane[y as usize * iw..][..iw];
                        if stride == 1 && pad == 0 {
                            for (d, &v) in line[kx..kx + ow].iter_mut().zip(f) {
                                *d += v;
                            }
                            continue;
                        }
                        for (ox, &v) in f.iter().enumerate() {
                            let xx = (ox * stride + kx) as isize - pad as isize;
                            if xx >= 0 && xx < iw as isize {
                                line[xx as usize] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// tanh by a rational approximation (Eigen's, as vectorised math libraries compute it): within
/// a few ulp of `f32::tanh`, and written so that loops over it vectorise.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_4e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = A[6];
    for a in A[..6].iter().rev() {
        p = p * x2 + a;
    }
    let q = ((B[3] * x2 + B[2]) * x2 + B[1]) * x2 + B[0];
    let t = x * p / q;
    if x.abs() < 4e-4 { x } else { t }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline(always)]
fn activate(f: Activation, x: f32) -> f32 {
    match f {
        // NaN passes through, as in PyTorch.
        Activation::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        Activation::Leakyrelu => {
            if x > 0.0 {
                x
            } else {
                0.01 * x
            }
        }
        Activation::Tanh => tanh(x),
        Activation::Sigmoid => sigmoid(x),
        Activation::Silu => x * sigmoid(x),
        Activation::Gelu => 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)),
    }
}

/// d activation / d x at input `x` with output `y`.
#[inline(always)]
fn activation_grad(f: Activation, x: f32, y: f32) -> f32 {
    match f {
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Leakyrelu => {
            if x > 0.0 {
                1.0
            } else {
                0.01
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Silu => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() * 0.398_942_3;
            cdf + x * pdf
        }
    }
}

/// Mean cross-entropy of `logits` (`[B, K]`) against `labels`, and its gradient into `grad`.
#[inline(always)]
fn cross_entropy(logits: &[f32], labels: &[i64], k: usize, grad: &mut Vec<f32>) -> f32 {
    let b = labels.len();
    fit(grad, b * k);
    let mut loss = 0.0f32;
    for ((row, g), &y) in logits
        .chunks_exact(k)
        .zip(grad.chunks_exact_mut(k))
        .zip(labels)
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        let lse = max + sum.ln();
        loss += lse - row[y as usize];
        for (gj, &v) in g.iter_mut().zip(row) {
            *gj = (v - lse).exp() / b as f32;
        }
        g[y as usize] -= 1.0 / b as f32;
    }
    loss / b as f32
}

/// The training images on the host: `[T, C*H*W]` and labels.
pub struct HostSet {
    /// Images, row-major `[T, C, H, W]`.
    pub x: Vec<f32>,
    /// Labels.
    pub y: Vec<i64>,
}

/// The optimizer state of one network, rows of the population's matrices.
pub struct NetState<'a> {
    /// Weights.
    pub w: &'a mut [f32],
    /// Adam first moment.
    pub m: &'a mut [f32],
    /// Adam second moment.
    pub v: &'a mut [f32],
    /// SGD momentum buffer.
    pub buf: &'a mut [f32],
}

/// Trains one epoch (`epoch`, 1-based; steps from `first_step`) of the networks whose states
/// and hyperparameters are given, each with its own data order, on up to `threads` threads.
/// `done` counts finished network-steps (for progress); `cancel` stops every thread at its
/// next step with [`Cancelled`].
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    net: &NativeNet,
    states: Vec<NetState<'_>>,
    hps: &[&Hparams],
    data: &HostSet,
    epoch: usize,
    first_step: u64,
    threads: usize,
    done: &AtomicUsize,
    cancel: &AtomicBool,
) -> Result<(), Cancelled> {
    let n = states.len();
    if n == 0 {
        return Ok(());
    }
    let threads = threads.clamp(1, n);
    let per = n.div_ceil(threads);
    let mut jobs: Vec<Vec<(NetState<'_>, &Hparams)>> = (0..threads).map(|_| Vec::new()).collect();
    for (j, (s, h)) in states.into_iter().zip(hps.iter().copied()).enumerate() {
        jobs[j / per].push((s, h));
    }
    let results: Vec<Result<(), Cancelled>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                scope.spawn(move || {
                    let mut tape = Tape::new(net);
                    let mut g = vec![0.0f32; net.params];
                    for (state, hp) in job {
                        train_network(
                            net, state, hp, data, epoch, first_step, &mut tape, &mut g, done,
                            cancel,
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.into_iter().collect()
}

/// [`train_network_with`] compiled for AVX2 and FMA where the CPU has them (the loops of the
/// forward and backward passes vectorise 8 wide; the arithmetic, and so the result, is the
/// same), else for the baseline instruction set.
#[allow(clippy::too_many_arguments)]
fn train_network(
    net: &NativeNet,
    s: NetState<'_>,
    hp: &Hparams,
    data: &HostSet,
    epoch: usize,
    first_step: u64,
    tape: &mut Tape,
    g: &mut [f32],
    done: &AtomicUsize,
    cancel: &AtomicBool,
) -> Result<(), Cancelled> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe {
            train_network_avx2(net, s, hp, data, epoch, first_step, tape, g, done, cancel)
        };
    }
    train_network_with(net, s, hp, data, epoch, first_step, tape, g, done, cancel)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn train_network_avx2(
    net: &NativeNet,
    s: NetState<'_>,
    hp: &Hparams,
    data: &HostSet,
    epoch: usize,
    first_step: u64,
    tape: &mut Tape,
    g: &mut [f32],
    done: &AtomicUsize,
    cancel: &AtomicBool,
) -> Result<(), Cancelled> {
    train_network_with(net, s, hp, data, epoch, first_step, tape, g, done, cancel)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn train_network_with(
    net: &NativeNet,
    s: NetState<'_>,
    hp: &Hparams,
    data: &HostSet,
    epoch: usize,
    first_step: u64,
    tape: &mut Tape,
    g: &mut [f32],
    done: &AtomicUsize,
    cancel: &AtomicBool,
) -> Result<(), Cancelled> {
    let t = data.y.len();
    let bs = hp.batch_size.max(1);
    let per: usize = net.input.iter().product();
    let mut order: Vec<usize> = (0..t).collect();
    {
        use rand::seq::SliceRandom;
        order.shuffle(&mut model_rng(hp.seed, epoch as u64, SHUFFLE_STREAM));
    }
    let mut labels = Vec::with_capacity(bs);
    let mut step = first_step;
    let drops = hp.dropout > 0.0
        || net
            .ops
            .iter()
            .any(|o| matches!(o, Op::Dropout { p: Some(p), .. } if *p > 0.0));
    for batch in order.chunks(bs) {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        let b = batch.len();
        net.load(tape, batch.iter().map(|&i| &data.x[i * per..][..per]));
        labels.clear();
        labels.extend(batch.iter().map(|&i| data.y[i]));
        let dropout = drops.then_some(DropoutAt {
            p: hp.dropout,
            seed: hp.seed,
            step,
        });
        net.forward(s.w, b, dropout, tape);
        let logits = tape.acts.last().expect("an output");
        cross_entropy(logits, &labels, net.classes, &mut tape.grad);
        g.fill(0.0);
        net.backward(s.w, b, tape, g);
        step += 1;
        update(&mut *s.w, &mut *s.m, &mut *s.v, &mut *s.buf, g, hp, step);
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One optimizer step (torch.optim's Adam or SGD with momentum 0.9; weight decay as L2 on the
/// gradient), `step` counting from 1, in f32 as the tensor path computes it.
#[inline(always)]
fn update(
    w: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    buf: &mut [f32],
    g: &[f32],
    hp: &Hparams,
    step: u64,
) {
    let (lr, wd) = (hp.lr as f32, hp.weight_decay as f32);
    match hp.optimizer {
        OptimizerKind::Adam => {
            let t = step as i32;
            let (bc1, bc2) = (
                (1.0 - 0.9f64.powi(t)) as f32,
                (1.0 - 0.999f64.powi(t)) as f32,
            );
            for i in 0..w.len() {
                let gi = g[i] + w[i] * wd;
                m[i] = m[i] * 0.9 + gi * 0.1;
                v[i] = v[i] * 0.999 + gi * gi * 0.001;
                let a = (m[i] / bc1) / ((v[i] / bc2).sqrt() + 1e-8);
                w[i] -= a * lr;
            }
        }
        OptimizerKind::Sgd => {
            for i in 0..w.len() {
                let gi = g[i] + w[i] * wd;
                buf[i] = buf[i] * 0.9 + gi;
                w[i] -= buf[i] * lr;
            }
        }
    }
}

/// Images per forward pass in [`evaluate`].
pub const EVAL_CHUNK: usize = 32;

/// Mean cross-entropy and accuracy of every network (`weights`: `[N, P]` row-major) on a set
/// of images, at most `batch` images at a time (and at most [`EVAL_CHUNK`], so that a layer's
/// im2col matrix stays in cache), on up to `threads` threads (networks split between them).
/// Accuracy counts the first largest logit.
pub fn evaluate(
    net: &NativeNet,
    weights: &[f32],
    set: &HostSet,
    batch: usize,
    threads: usize,
) -> (Vec<f64>, Vec<f64>) {
    let p = net.params;
    let n = weights.len() / p.max(1);
    let mut loss = vec![f64::NAN; n];
    let mut acc = vec![f64::NAN; n];
    if n == 0 || set.y.is_empty() {
        return (loss, acc);
    }
    let per = n.div_ceil(threads.clamp(1, n));
    std::thread::scope(|scope| {
        for ((w, l), a) in weights
            .chunks(per * p)
            .zip(loss.chunks_mut(per))
            .zip(acc.chunks_mut(per))
        {
            scope.spawn(move || {
                let mut tape = Tape::new(net);
                for ((w, l), a) in w.chunks_exact(p).zip(l.iter_mut()).zip(a.iter_mut()) {
                    let chunk = batch.clamp(1, EVAL_CHUNK);
                    (*l, *a) = evaluate_network(net, w, set, chunk, &mut tape);
                }
            });
        }
    });
    (loss, acc)
}

fn evaluate_network(
    net: &NativeNet,
    w: &[f32],
    set: &HostSet,
    batch: usize,
    tape: &mut Tape,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { evaluate_network_avx2(net, w, set, batch, tape) };
    }
    evaluate_network_with(net, w, set, batch, tape)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn evaluate_network_avx2(
    net: &NativeNet,
    w: &[f32],
    set: &HostSet,
    batch: usize,
    tape: &mut Tape,
) -> (f64, f64) {
    evaluate_network_with(net, w, set, batch, tape)
}

#[inline(always)]
fn evaluate_network_with(
    net: &NativeNet,
    w: &[f32],
    set: &HostSet,
    batch: usize,
    tape: &mut Tape,
) -> (f64, f64) {
    let per: usize = net.input.iter().product();
    let k = net.classes;
    let total = set.y.len();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let mut start = 0;
    while start < total {
        let b = batch.min(total - start);
        net.load(
            tape,
            set.x[start * per..(start + b) * per].chunks_exact(per),
        );
        net.forward(w, b, None, tape);
        let logits = tape.acts.last().expect("an output");
        for (row, &y) in logits.chunks_exact(k).zip(&set.y[start..start + b]) {
            let (mut best, mut at) = (row[0], 0);
            for (j, &v) in row.iter().enumerate().skip(1) {
                if v > best {
                    (best, at) = (v, j);
                }
            }
            correct += (at as i64 == y) as usize;
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
            loss += f64::from(max + sum.ln() - row[y as usize]);
        }
        start += b;
    }
    (loss / total as f64, correct as f64 / total as f64)
}

/// Logits `[B, classes]` of one network on `b` images (row-major `[B, C, H, W]`), no dropout.
pub fn logits(net: &NativeNet, w: &[f32], images: &[f32], b: usize) -> Vec<f32> {
    let per: usize = net.input.iter().product();
    let mut tape = Tape::new(net);
    net.load(&mut tape, images[..b * per].chunks_exact(per));
    net.forward(w, b, None, &mut tape);
    tape.acts.pop().unwrap_or_default()
}

/// The gradient of the summed mean cross-entropy of one network with respect to its weights
/// (for tests against autodiff), with dropout drawn as in training at `step`.
pub fn gradient(
    net: &NativeNet,
    w: &[f32],
    images: &[f32],
    labels: &[i64],
    dropout: Option<(f64, u64, u64)>,
) -> (f32, Vec<f32>) {
    let (per, b): (usize, _) = (net.input.iter().product(), labels.len());
    let mut tape = Tape::new(net);
    net.load(&mut tape, images[..b * per].chunks_exact(per));
    let d = dropout.map(|(p, seed, step)| DropoutAt { p, seed, step });
    net.forward(w, b, d, &mut tape);
    let logits = tape.acts.last().expect("an output").clone();
    let loss = cross_entropy(&logits, labels, net.classes, &mut tape.grad);
    let mut g = vec![0.0; net.params];
    net.backward(w, b, &mut tape, &mut g);
    (loss, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), r> = <x, col2im(r)> for random x and r, with stride and padding.
        let (b, c, ih, iw, k, stride, pad) = (2, 3, 7, 6, 3, 2, 1);
        let (oh, ow) = (
            (ih + 2 * pad - k) / stride + 1,
            (iw + 2 * pad - k) / stride + 1,
        );
        let mut rng = model_rng(1, 2, 3);
        let x: Vec<f32> = (0..c * b * ih * iw)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let r: Vec<f32> = (0..c * k * k * b * oh * ow)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let geo = (c, ih, iw, k, stride, pad, oh, ow);
        let mut cols = vec![0.0; r.len()];
        im2col(&x, &mut cols, b, (0, b), geo);
        let mut back = vec![0.0; x.len()];
        col2im(&r, &mut back, b, (0, b), geo);
        let lhs: f64 = cols.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }

    #[test]
    fn a_batch_in_image_groups_gives_each_image_its_own_logits_and_gradients() {
        // cnn3's first convolution takes 32x32x3 images: a batch of 23 goes through it in
        // several groups (`conv_group`).
        const B: usize = 23;
        let spec = ArchSpec::builtin("cnn3").unwrap();
        // The im2col path (the direct kernels have no groups; they are checked against it).
        let net = NativeNet::new(&spec, Activation::Tanh)
            .unwrap()
            .without_direct_convolutions();
        let (p, per) = (net.params, spec.input.iter().product::<usize>());
        assert!(conv_group(B, 27, 30 * 30) < B, "groups are exercised");
        let mut rng = model_rng(3, 4, 5);
        let w: Vec<f32> = (0..p).map(|_| (rng.random::<f32>() - 0.5) * 0.2).collect();
        let x: Vec<f32> = (0..B * per).map(|_| rng.random::<f32>()).collect();
        let all = logits(&net, &w, &x, B);
        let labels: Vec<i64> = (0..B as i64).map(|i| i % 10).collect();
        let (_, g_all) = gradient(&net, &w, &x, &labels, None);
        let mut g_sum = vec![0f32; p];
        for i in 0..B {
            let one = logits(&net, &w, &x[i * per..(i + 1) * per], 1);
            for (a, b) in one.iter().zip(&all[i * 10..(i + 1) * 10]) {
                assert!((a - b).abs() < 1e-5, "image {i}: {a} vs {b}");
            }
            let (_, g) = gradient(
                &net,
                &w,
                &x[i * per..(i + 1) * per],
                &labels[i..i + 1],
                None,
            );
            for (s, v) in g_sum.iter_mut().zip(g) {
                *s += v / B as f32;
            }
        }
        let scale = g_all.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = g_all
            .iter()
            .zip(&g_sum)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-4 * scale,
            "mean gradient: max |diff| {diff} of {scale}"
        );
    }

    #[test]
    fn direct_convolutions_compute_what_im2col_computes() {
        // Output rows of 12 (a last segment overlapping the first, 4 lanes masked), 8 and 3
        // (im2col), 3 and 5 output channels (tiles of 4, 2 and 1), 1 and 2 input channels,
        // batches that leave partial tiles; cnn_s and cnn3 as built.
        let custom = ArchSpec {
            name: "odd".into(),
            input: [2, 14, 14],
            layers: vec![
                Layer::Conv2d {
                    out: 3,
                    kernel: 3,
                    stride: 1,
                    padding: 0,
                    bias: true,
                },
                Layer::Activation { func: None },
                Layer::Conv2d {
                    out: 5,
                    kernel: 5,
                    stride: 1,
                    padding: 0,
                    bias: false,
                },
                Layer::MaxPool {
                    kernel: 2,
                    stride: None,
                },
                Layer::Conv2d {
                    out: 2,
                    kernel: 2,
                    stride: 1,
                    padding: 0,
                    bias: true,
                },
                Layer::Flatten,
                Layer::Linear { out: 4, bias: true },
            ],
        };
        let specs = [
            custom,
            ArchSpec::builtin("cnn_s").unwrap(),
            ArchSpec::builtin("cnn3").unwrap(),
        ];
        for spec in specs {
            let direct = NativeNet::new(&spec, Activation::Tanh).unwrap();
            if !direct.uses_direct_convolutions() {
                eprintln!(
                    "{}: no direct convolutions on this CPU; nothing to compare",
                    spec.name
                );
                continue;
            }
            let im2col = direct.clone().without_direct_convolutions();
            let (p, per) = (direct.params, spec.input.iter().product::<usize>());
            let mut rng = model_rng(7, 8, 9);
            let w: Vec<f32> = (0..p).map(|_| (rng.random::<f32>() - 0.5) * 0.4).collect();
            for b in [1, 4, 7] {
                let x: Vec<f32> = (0..b * per).map(|_| rng.random::<f32>() - 0.3).collect();
                let labels: Vec<i64> = (0..b as i64).map(|i| i % direct.classes as i64).collect();
                let (la, lb) = (logits(&direct, &w, &x, b), logits(&im2col, &w, &x, b));
                for (a, e) in la.iter().zip(&lb) {
                    assert!(
                        (a - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{}: {a} vs {e}",
                        spec.name
                    );
                }
                let (_, ga) = gradient(&direct, &w, &x, &labels, None);
                let (_, gb) = gradient(&im2col, &w, &x, &labels, None);
                let scale = gb.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (a, e)) in ga.iter().zip(&gb).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-5 * scale,
                        "{} batch {b}, weight {i}: {a} vs {e} (largest {scale})",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn vectorised_pooling_picks_what_the_scalar_rule_picks() {
        if !direct::available() {
            eprintln!("no AVX2 on this CPU; nothing to compare");
            return;
        }
        // Ties (values from a set of 4), NaNs, infinities; rows of 4, 12 and 13 outputs (the
        // vector loop and the scalar rest).
        let mut rng = model_rng(4, 5, 6);
        let values = [0.5, -1.0, f32::NAN, f32::INFINITY];
        for (ih, iw) in [(8, 8), (24, 24), (6, 26)] {
            let (planes, oh, ow) = (3, ih / 2, iw / 2);
            let x: Vec<f32> = (0..planes * ih * iw)
                .map(|_| values[rng.random_range(0..4usize)])
                .collect();
            let run = |simd: bool| {
                let (mut y, mut arg) = (vec![0.0; planes * oh * ow], vec![0u32; planes * oh * ow]);
                pool2(&x, &mut y, &mut arg, planes, (ih, iw, oh, ow), simd);
                (y, arg)
            };
            let ((ys, args), (yv, argv)) = (run(false), run(true));
            assert_eq!(args, argv, "{ih}x{iw}: where the maxima are");
            for (a, b) in ys.iter().zip(&yv) {
                assert!(
                    a == b || (a.is_nan() && b.is_nan()),
                    "{ih}x{iw}: {a} vs {b}"
                );
            }
            assert!(ys.iter().any(|v| v.is_nan()) && ys.contains(&0.5));
        }
    }

    #[test]
    fn flatten_after_global_pooling_keeps_each_image_its_features() {
        let spec = ArchSpec {
            name: "gap".into(),
            input: [2, 6, 6],
            layers: vec![
                Layer::Conv2d {
                    out: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    bias: true,
                },
                Layer::Activation { func: None },
                Layer::GlobalAvgPool,
                Layer::Flatten,
                Layer::Linear {
                    out: 3,
                    bias: false,
                },
            ],
        };
        let net = NativeNet::new(&spec, Activation::Relu).unwrap();
        let per = 2 * 6 * 6;
        let mut rng = model_rng(1, 1, 1);
        let w: Vec<f32> = (0..net.params).map(|_| rng.random::<f32>() - 0.5).collect();
        let x: Vec<f32> = (0..4 * per).map(|_| rng.random::<f32>()).collect();
        let all = logits(&net, &w, &x, 4);
        for i in 0..4 {
            let one = logits(&net, &w, &x[i * per..(i + 1) * per], 1);
            for (a, b) in one.iter().zip(&all[i * 3..(i + 1) * 3]) {
                assert!((a - b).abs() < 1e-5, "image {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_rational_tanh_is_within_a_few_ulp() {
        let mut worst = 0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let (a, b) = (tanh(x), x.tanh());
            worst = worst.max((a - b).abs() / b.abs().max(1e-30));
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn activation_gradients_match_finite_differences() {
        for f in Activation::ALL {
            for x in [-2.0f32, -0.3, 0.4, 1.7] {
                let h = 1e-3;
                let numeric = (activate(f, x + h) - activate(f, x - h)) / (2.0 * h);
                let analytic = activation_grad(f, x, activate(f, x));
                assert!(
                    (numeric - analytic).abs() < 2e-3,
                    "{f:?} at {x}: {numeric} vs {analytic}"
                );
            }
        }
    }
}
