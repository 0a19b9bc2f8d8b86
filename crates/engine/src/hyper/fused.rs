//! Fused layer norm and attention with hand-written backward passes, as a burn backend extension
//! ([`FusedOps`]).
//!
//! burn 0.22's autodiff backend decomposes attention into matmul/softmax/matmul (and records
//! every piece for the backward pass), and a layer norm written with tensor ops becomes a dozen
//! graph nodes. PyTorch runs both as single kernels with single-kernel backward passes; these
//! ops do the same on LibTorch:
//!
//! - [`layer_norm`]: `native_layer_norm` forward; the backward pass re-runs the layer norm under
//!   LibTorch's own autograd to reach `native_layer_norm_backward` (which `tch` does not wrap).
//! - [`attention_qkv`]: multi-head attention over a packed `[B, T, 3d]` q/k/v tensor (SANE's
//!   fused projection), with `_scaled_dot_product_flash_attention_for_cpu` and its backward on
//!   CPU devices. Taking the packed tensor spares the three `narrow` backward passes (each a
//!   zero tensor the size of the packed input): the gradient comes back packed in one copy.
//!   On CUDA devices it uses `scaled_dot_product_attention` without autodiff, and the composed
//!   forward and backward passes below with it.
//!
//! Other backends (flex) run composed implementations of the same maths, forward and backward,
//! written with ordinary backend ops (the trait's default methods). On the autodiff backend each
//! op is one graph node whose backward pass calls the inner backend's backward method.
//!
//! [`enabled`] says whether the model code uses these ops; it is on unless the environment sets
//! `HYPERZOO_FUSED_OPS=0`, and [`with_enabled`] overrides it on the calling thread (tests compare
//! both paths).
#![allow(deprecated)] // burn-tch's `LibTorch` is deprecated upstream; the project chose it.

use std::cell::Cell;
use std::sync::OnceLock;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Shape, Slice, TensorMetadata, backend_extension};
use burn::prelude::Tensor;

/// Fused layer norm (without bias) and packed multi-head attention, with their backward passes.
///
/// The `*_forward`/`*_backward` methods exist so that the autodiff implementation can save what
/// a backend's backward pass needs and call it; models call [`layer_norm`] and
/// [`attention_qkv`]. Default methods compose ordinary backend ops.
#[backend_extension(LibTorch: cfg(feature = "tch"), Flex: cfg(feature = "flex"), Autodiff)]
pub trait FusedOps: Backend {
    /// Layer norm over the last dimension, biased variance: `(x − mean)/√(var + eps) · gamma`,
    /// `gamma: [d]`.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        composed::layer_norm::<Self>(x, gamma, eps)
    }

    /// Gradients `(dx, dgamma)` of [`FusedOps::fused_layer_norm`] at `(x, gamma)` for the
    /// output gradient `grad`.
    fn fused_layer_norm_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::layer_norm_backward::<Self>(grad, x, gamma, eps)
    }

    /// Multi-head attention without mask or dropout over `qkv: [B, T, 3d]` (q, k, v side by
    /// side on the last dimension, `heads` heads of `d / heads`), scores scaled by `scale`;
    /// returns `[B, T, d]`.
    fn fused_attention_qkv(qkv: FloatTensor<Self>, heads: usize, scale: f64) -> FloatTensor<Self> {
        composed::attention_qkv::<Self>(qkv, heads, scale).0
    }

    /// [`FusedOps::fused_attention_qkv`] and the row log-sum-exp of the scores, which the
    /// backward pass takes back (its shape is the backend's business).
    fn fused_attention_qkv_forward(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::attention_qkv::<Self>(qkv, heads, scale)
    }

    /// Gradient `[B, T, 3d]` of [`FusedOps::fused_attention_qkv`] at `qkv` for the output
    /// gradient `grad`, given that op's output `out` and `lse` from
    /// [`FusedOps::fused_attention_qkv_forward`].
    fn fused_attention_qkv_backward(
        grad: FloatTensor<Self>,
        qkv: FloatTensor<Self>,
        out: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        heads: usize,
        scale: f64,
    ) -> FloatTensor<Self> {
        composed::attention_qkv_backward::<Self>(grad, qkv, out, lse, heads, scale)
    }
}

/// The composed implementations (any backend): the defaults of [`FusedOps`], also what LibTorch
/// falls back to where it has no fused kernel.
pub mod composed {
    use super::*;

    fn last_dim<B: Backend>(x: &FloatTensor<B>) -> (Shape, usize) {
        let shape = x.shape();
        let last = shape.num_dims() - 1;
        (shape, last)
    }

    /// `(x − mean, 1/√(var + eps))` over the last dimension (kept, size 1).
    fn centre<B: Backend>(x: FloatTensor<B>, eps: f64) -> (FloatTensor<B>, FloatTensor<B>) {
        let (_, last) = last_dim::<B>(&x);
        let mean = B::float_mean_dim(x.clone(), last);
        let xc = B::float_sub(x, mean);
        let var = B::float_mean_dim(B::float_mul(xc.clone(), xc.clone()), last);
        let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, eps.into())));
        (xc, rstd)
    }

    /// `gamma: [d]` reshaped to broadcast against a tensor of `shape`.
    fn broadcast_gamma<B: Backend>(gamma: FloatTensor<B>, shape: &Shape) -> FloatTensor<B> {
        let n = shape.num_dims();
        let dims: Shape = (0..n)
            .map(|i| if i + 1 == n { shape[i] } else { 1 })
            .collect();
        B::float_reshape(gamma, dims)
    }

    /// Layer norm over the last dimension (see [`FusedOps::fused_layer_norm`]).
    pub fn layer_norm<B: Backend>(
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        let (shape, _) = last_dim::<B>(&x);
        let (xc, rstd) = centre::<B>(x, eps);
        let g = broadcast_gamma::<B>(gamma, &shape);
        B::float_mul(B::float_mul(xc, rstd), g)
    }

    /// Layer-norm gradients: with x̂ = (x − mean)·rstd and g' = grad·gamma,
    /// dx = rstd·(g' − mean(g') − x̂·mean(g'·x̂)), dgamma = Σ grad·x̂ over all but the last dim.
    pub fn layer_norm_backward<B: Backend>(
        grad: FloatTensor<B>,
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        eps: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>) {
        let (shape, last) = last_dim::<B>(&x);
        let d = shape[last];
        let (xc, rstd) = centre::<B>(x, eps);
        let xhat = B::float_mul(xc, rstd.clone());
        let gg = B::float_mul(grad.clone(), broadcast_gamma::<B>(gamma, &shape));
        let a = B::float_mean_dim(gg.clone(), last);
        let b = B::float_mean_dim(B::float_mul(gg.clone(), xhat.clone()), last);
        let inner = B::float_sub(B::float_sub(gg, a), B::float_mul(xhat.clone(), b));
        let dx = B::float_mul(inner, rstd);
        let rows = shape.num_elements() / d.max(1);
        let gx = B::float_reshape(B::float_mul(grad, xhat), Shape::new([rows, d]));
        let dgamma = B::float_reshape(B::float_sum_dim(gx, 0), Shape::new([d]));
        (dx, dgamma)
    }

    /// `[B, T, d]` → `[B, H, T, d/H]`.
    fn split_heads<B: Backend>(x: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
        let [b, t, d] = x.shape().dims();
        let x = B::float_reshape(x, Shape::new([b, t, heads, d / heads]));
        B::float_swap_dims(x, 1, 2)
    }

    /// `[B, H, T, dk]` → `[B, T, H·dk]`.
    fn merge_heads<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        let [b, h, t, dk] = x.shape().dims();
        B::float_reshape(B::float_swap_dims(x, 1, 2), Shape::new([b, t, h * dk]))
    }

    /// q, k, v `[B, H, T, dk]` of a packed `[B, T, 3d]` tensor.
    fn unpack<B: Backend>(
        qkv: FloatTensor<B>,
        heads: usize,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let [_, _, d3] = qkv.shape().dims();
        let d = d3 / 3;
        let part = |i: usize| {
            let all = Slice::new(0, None, 1);
            let s = [
                all,
                all,
                Slice::new((i * d) as isize, Some(((i + 1) * d) as isize), 1),
            ];
            split_heads::<B>(B::float_slice(qkv.clone(), &s), heads)
        };
        (part(0), part(1), part(2))
    }

    /// Scaled scores `q·kᵀ·scale` `[B, H, T, T]`.
    fn scores<B: Backend>(q: FloatTensor<B>, k: FloatTensor<B>, scale: f64) -> FloatTensor<B> {
        B::float_mul_scalar(
            B::float_matmul(q, B::float_swap_dims(k, 2, 3)),
            scale.into(),
        )
    }

    /// Attention over a packed tensor (see [`FusedOps::fused_attention_qkv`]) and the row
    /// log-sum-exp of the scores, `[B, H, T, 1]`.
    pub fn attention_qkv<B: Backend>(
        qkv: FloatTensor<B>,
        heads: usize,
        scale: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>) {
        let (q, k, v) = unpack::<B>(qkv, heads);
        let s = scores::<B>(q, k, scale);
        let m = B::float_max_dim(s.clone(), 3);
        let sum = B::float_sum_dim(B::float_exp(B::float_sub(s.clone(), m.clone())), 3);
        let lse = B::float_add(m, B::float_log(sum));
        let p = B::float_exp(B::float_sub(s, lse.clone()));
        (merge_heads::<B>(B::float_matmul(p, v)), lse)
    }

    /// Gradient of [`attention_qkv`] at `qkv` (see [`FusedOps::fused_attention_qkv_backward`]):
    /// with P = exp(S − lse), dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)),
    /// dQ = dS·K·scale, dK = dSᵀ·Q·scale.
    pub fn attention_qkv_backward<B: Backend>(
        grad: FloatTensor<B>,
        qkv: FloatTensor<B>,
        out: FloatTensor<B>,
        lse: FloatTensor<B>,
        heads: usize,
        scale: f64,
    ) -> FloatTensor<B> {
        let (q, k, v) = unpack::<B>(qkv, heads);
        let g = split_heads::<B>(grad, heads);
        let o = split_heads::<B>(out, heads);
        let p = B::float_exp(B::float_sub(scores::<B>(q.clone(), k.clone(), scale), lse));
        let dv = B::float_matmul(B::float_swap_dims(p.clone(), 2, 3), g.clone());
        let dp = B::float_matmul(g.clone(), B::float_swap_dims(v, 2, 3));
        let delta = B::float_sum_dim(B::float_mul(g, o), 3);
        let ds = B::float_mul(p, B::float_sub(dp, delta));
        let dq = B::float_mul_scalar(B::float_matmul(ds.clone(), k), scale.into());
        let dk = B::float_mul_scalar(
            B::float_matmul(B::float_swap_dims(ds, 2, 3), q),
            scale.into(),
        );
        B::float_cat(
            vec![
                merge_heads::<B>(dq),
                merge_heads::<B>(dk),
                merge_heads::<B>(dv),
            ],
            2,
        )
    }
}

#[cfg(feature = "tch")]
mod libtorch {
    use super::{FusedOps, composed};
    use burn::backend::LibTorch;
    use burn::backend::libtorch::TchTensor;
    use tch::{Kind, Tensor};

    /// Whether the CPU flash-attention kernel takes tensors like `t`.
    fn flash_cpu(t: &Tensor) -> bool {
        t.device() == tch::Device::Cpu
            && matches!(
                t.kind(),
                Kind::Float | Kind::Double | Kind::BFloat16 | Kind::Half
            )
    }

    /// q, k, v `[B, H, T, dk]` views of a contiguous packed `[B, T, 3d]` tensor.
    fn unpack(qkv: &Tensor, heads: usize) -> (Tensor, Tensor, Tensor) {
        let s = qkv.size();
        let (b, t, d) = (s[0], s[1], s[2] / 3);
        let h = heads as i64;
        let v5 = qkv.view([b, t, 3, h, d / h]);
        let part = |i: i64| v5.select(2, i).transpose(1, 2);
        (part(0), part(1), part(2))
    }

    /// `[B, T, d]` → `[B, H, T, dk]` (a view where the strides allow it).
    fn split_heads(x: &Tensor, heads: usize) -> Tensor {
        let s = x.size();
        let h = heads as i64;
        x.reshape([s[0], s[1], h, s[2] / h]).transpose(1, 2)
    }

    /// `[B, H, T, dk]` → `[B, T, H·dk]`.
    fn merge_heads(x: &Tensor) -> Tensor {
        let s = x.size();
        x.transpose(1, 2).reshape([s[0], s[2], s[1] * s[3]])
    }

    impl FusedOps for LibTorch {
        fn fused_layer_norm(x: TchTensor, gamma: TchTensor, eps: f64) -> TchTensor {
            let d = *x.tensor.size().last().expect("layer norm of a scalar");
            TchTensor::new(x.tensor.layer_norm(
                [d],
                Some(&gamma.tensor),
                None::<&Tensor>,
                eps,
                true,
            ))
        }

        fn fused_layer_norm_backward(
            grad: TchTensor,
            x: TchTensor,
            gamma: TchTensor,
            eps: f64,
        ) -> (TchTensor, TchTensor) {
            // tch has no `native_layer_norm_backward`: re-run the (cheap) forward pass under
            // LibTorch's autograd and differentiate ⟨y, grad⟩, which reaches that kernel.
            let d = *x.tensor.size().last().expect("layer norm of a scalar");
            let (dx, dgamma) = tch::with_grad(|| {
                let xg = x.tensor.detach().set_requires_grad(true);
                let gg = gamma.tensor.detach().set_requires_grad(true);
                let y = xg.layer_norm([d], Some(&gg), None::<&Tensor>, eps, true);
                let dot = (y * &grad.tensor).sum(None::<Kind>);
                let mut g = Tensor::run_backward(&[dot], &[&xg, &gg], false, false);
                let dgamma = g.pop().expect("two gradients");
                let dx = g.pop().expect("two gradients");
                (dx, dgamma)
            });
            (TchTensor::new(dx), TchTensor::new(dgamma))
        }

        fn fused_attention_qkv(qkv: TchTensor, heads: usize, scale: f64) -> TchTensor {
            let packed = qkv.tensor.contiguous();
            let (q, k, v) = unpack(&packed, heads);
            let out = Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<&Tensor>,
                0.0,
                false,
                scale,
                false,
            );
            TchTensor::new(merge_heads(&out))
        }

        fn fused_attention_qkv_forward(
            qkv: TchTensor,
            heads: usize,
            scale: f64,
        ) -> (TchTensor, TchTensor) {
            if !flash_cpu(&qkv.tensor) {
                return composed::attention_qkv::<Self>(qkv, heads, scale);
            }
            let packed = qkv.tensor.contiguous();
            let (q, k, v) = unpack(&packed, heads);
            let (out, lse) = Tensor::internal_scaled_dot_product_flash_attention_for_cpu(
                &q,
                &k,
                &v,
                0.0,
                false,
                None::<&Tensor>,
                scale,
            );
            (TchTensor::new(merge_heads(&out)), TchTensor::new(lse))
        }

        fn fused_attention_qkv_backward(
            grad: TchTensor,
            qkv: TchTensor,
            out: TchTensor,
            lse: TchTensor,
            heads: usize,
            scale: f64,
        ) -> TchTensor {
            if !flash_cpu(&qkv.tensor) {
                return composed::attention_qkv_backward::<Self>(grad, qkv, out, lse, heads, scale);
            }
            let packed = qkv.tensor.contiguous();
            let (q, k, v) = unpack(&packed, heads);
            let g = split_heads(&grad.tensor, heads);
            let o = split_heads(&out.tensor, heads);
            let (dq, dk, dv) = Tensor::internal_scaled_dot_product_flash_attention_for_cpu_backward(
                &g,
                &q,
                &k,
                &v,
                &o,
                &lse.tensor,
                0.0,
                false,
                None::<&Tensor>,
                scale,
            );
            // [B, H, T, dk] each → [B, T, 3, H, dk] → [B, T, 3d], one copy.
            let s = packed.size();
            let grads = [dq, dk, dv].map(|t| t.transpose(1, 2));
            TchTensor::new(Tensor::stack(&grads, 2).reshape([s[0], s[1], s[2]]))
        }
    }
}

#[cfg(feature = "flex")]
impl FusedOps for burn::backend::Flex {}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LayerNormBackward;

        impl<B: FusedOps> Backward<B, 2> for LayerNormBackward {
            type State = (FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, eps) = ops.state;
                let (dx, dgamma) = B::fused_layer_norm_backward(grad, x, gamma, eps);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, dgamma);
                }
            }
        }

        match LayerNormBackward
            .prepare::<C>([x.node(), gamma.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = x.primitive().clone();
                let gp = gamma.primitive().clone();
                let out = B::fused_layer_norm(xp.clone(), gp.clone(), eps);
                prep.finish((xp, gp, eps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_layer_norm(
                x.into_primitive(),
                gamma.into_primitive(),
                eps,
            )),
        }
    }

    fn fused_attention_qkv(qkv: FloatTensor<Self>, heads: usize, scale: f64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AttentionBackward;

        impl<B: FusedOps> Backward<B, 1> for AttentionBackward {
            /// qkv, out, lse, heads, scale.
            type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, usize, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (qkv, out, lse, heads, scale) = ops.state;
                if let Some(node) = node {
                    let dqkv = B::fused_attention_qkv_backward(grad, qkv, out, lse, heads, scale);
                    grads.register::<B>(node.id, dqkv);
                }
            }
        }

        match AttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let qp = qkv.primitive().clone();
                let (out, lse) = B::fused_attention_qkv_forward(qp.clone(), heads, scale);
                prep.finish((qp, out.clone(), lse, heads, scale), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fused_attention_qkv(qkv.into_primitive(), heads, scale))
            }
        }
    }
}

/// Process-wide default of [`enabled`]: on unless `HYPERZOO_FUSED_OPS=0`.
fn default_enabled() -> bool {
    static DEFAULT: OnceLock<bool> = OnceLock::new();
    *DEFAULT.get_or_init(|| std::env::var("HYPERZOO_FUSED_OPS").map_or(true, |v| v.trim() != "0"))
}

thread_local! {
    static OVERRIDE: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether the model code uses the fused ops on this thread (else its composed tensor-op
/// implementations). On by default; `HYPERZOO_FUSED_OPS=0` turns them off process-wide and
/// [`with_enabled`] sets them for the calling thread.
pub fn enabled() -> bool {
    OVERRIDE.with(Cell::get).unwrap_or_else(default_enabled)
}

/// Runs `f` with the fused ops on or off on the calling thread.
pub fn with_enabled<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(on))));
    f()
}

/// Layer norm over the last dimension without bias: `(x − mean)/√(var_biased + eps) · gamma`.
pub fn layer_norm<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        eps,
    ))
}

/// Multi-head attention without mask or dropout over a packed `qkv: [B, T, 3d]` (q, k, v side
/// by side), `heads` heads, scores scaled by `1/√(d/heads)`; returns `[B, T, d]`.
pub fn attention_qkv(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    let [_, _, d3] = qkv.dims();
    assert!(
        heads > 0 && d3 % (3 * heads) == 0,
        "attention_qkv: last dimension {d3} is not 3·heads·dk for {heads} heads"
    );
    let scale = 1.0 / ((d3 / 3 / heads) as f64).sqrt();
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_attention_qkv(
        qkv.into_dispatch(),
        heads,
        scale,
    ))
}
