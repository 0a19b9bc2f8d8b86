"""Reference values and gradients of hyperzoo's hyper-representation losses, computed by PyTorch.

Writes tests/reference/hyper_losses.json, compared by crates/engine/tests/hyper_losses.rs
(crates/engine/src/hyper/loss.rs is the code under test).
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/hyper_losses.py

The losses are written here the way the reference repositories write them (HSG-AIML
NeurIPS 2021 / 2022 `def_loss.py`, SANE and ICLR-WSL 2025 `def_loss.py`): NT-Xent with
nn.CosineSimilarity over the 2N stacked views, the negative mask and
CrossEntropyLoss(reduction='sum') / 2N; NT_Xent_pos as MSELoss against zeros / 2N; masked MSE
as MSELoss(mask * output, target); LayerWiseReconLoss's per-layer sums; the 2025
DistillationLoss 'l2' and 'distillation' criteria with their nan_to_num, per network, then the
mean over networks. Only small numbers are committed: every input is generated from a formula,
  x[i] = sum_t  scale_t * sin(a_t * i + b_t)     (i = flat row-major index)
whose terms are stored beside each case ("wave"), so the Rust test rebuilds the same inputs.
Everything is computed in float64; Rust runs f32.
"""
import json
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "reference" / "hyper_losses.json"


def wave(shape, terms):
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    x = torch.zeros(n)
    for s, a, b in terms:
        x = x + s * torch.sin(a * i + b)
    return x.reshape(shape)


def leaf(shape, terms):
    return wave(shape, terms).requires_grad_(True)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


# --- contrast, the reference way --------------------------------------------------------------

def mask_correlated_samples(batch_size):
    n = 2 * batch_size
    mask = torch.ones((n, n), dtype=bool)
    mask = mask.fill_diagonal_(0)
    for i in range(batch_size):
        mask[i, batch_size + i] = 0
        mask[batch_size + i, i] = 0
    return mask


def similarities(z_i, z_j, temperature):
    batch_size = z_i.shape[0]
    n = 2 * batch_size
    z = torch.cat((z_i, z_j), dim=0)
    sim = nn.CosineSimilarity(dim=2)(z.unsqueeze(1), z.unsqueeze(0)) / temperature
    sim_i_j = torch.diag(sim, batch_size)
    sim_j_i = torch.diag(sim, -batch_size)
    positive = torch.cat((sim_i_j, sim_j_i), dim=0).reshape(n, 1)
    return sim, positive, n


def nt_xent(z_i, z_j, temperature):
    sim, positive, n = similarities(z_i, z_j, temperature)
    negative = sim[mask_correlated_samples(z_i.shape[0])].reshape(n, -1)
    labels = torch.zeros(n).long()
    logits = torch.cat((positive, negative), dim=1)
    loss = nn.CrossEntropyLoss(reduction="sum")(logits, labels)
    return loss / n


def nt_xent_pos(z_i, z_j, temperature):
    _, positive, n = similarities(z_i, z_j, temperature)
    labels = torch.zeros(n).unsqueeze(dim=1)
    loss = nn.MSELoss(reduction="mean")(positive, labels)
    return loss / n


def positive_alignment(z_i, z_j, temperature):
    # hyperzoo's intended variant: target 1/tau instead of 0, same scaling.
    _, positive, n = similarities(z_i, z_j, temperature)
    labels = torch.ones(n).unsqueeze(dim=1) / temperature
    return nn.MSELoss(reduction="mean")(positive, labels) / n


# --- reconstruction ---------------------------------------------------------------------------

def masked_mse(output, target, mask):
    return nn.MSELoss(reduction="mean")(mask * output, target)


def layerwise(output, target, std, layers, reduction):
    output = torch.clone(output) / std
    target = torch.clone(target) / std
    loss = torch.tensor(0.0)
    crit = nn.MSELoss(reduction="sum")
    for start, length in layers:
        tmp = crit(output[:, start:start + length], target[:, start:start + length])
        if reduction == "global_mean":
            tmp = tmp / (output.shape[0] * output.shape[1])
        else:
            tmp = tmp / (output.shape[0] * length)
        loss = loss + tmp
    return loss


# --- behaviour (2025 DistillationLoss criteria) -------------------------------------------------

def l2_loss(output, target):
    soft_target = F.softmax(target, dim=-1)
    soft_output = F.softmax(output, dim=-1)
    soft_target = torch.nan_to_num(soft_target, nan=0.0, posinf=1.0, neginf=0.0)
    soft_output = torch.nan_to_num(soft_output, nan=0.0, posinf=1.0, neginf=0.0)
    return F.mse_loss(soft_output, soft_target, reduction="mean")


def distillation_loss(output, target, T):
    soft_target = F.softmax(target / T, dim=-1)
    soft_prob = F.log_softmax(output / T, dim=-1)
    soft_target = torch.nan_to_num(soft_target, nan=1e-9, posinf=1.0, neginf=1e-9)
    soft_prob = torch.nan_to_num(soft_prob, nan=math.log(1e-9), posinf=math.log(1.0), neginf=math.log(1e-9))
    return torch.sum(soft_target * (soft_target.log() - soft_prob)) / soft_prob.size()[0] * (T ** 2)


def criterion(kind):
    if kind["kind"] == "softmax_mse":
        return l2_loss
    return lambda o, t: distillation_loss(o, t, kind["t"])


def behaviour_on_logits(y_rec, y_orig, kind):
    crit = criterion(kind)
    per = torch.stack([crit(y_rec[n], y_orig[n]) for n in range(y_rec.shape[0])])
    return torch.mean(per[per.isfinite()])


def tetris(act):
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 5, bias=False), act(), nn.Linear(5, 4, bias=False))


def cnn_s(act):
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.MaxPool2d(2, 2), act(),
        nn.Conv2d(8, 6, 5), nn.MaxPool2d(2, 2), act(),
        nn.Conv2d(6, 4, 2), act(), nn.Flatten(),
        nn.Linear(36, 20), act(), nn.Linear(20, 10),
    )


def functional(model, w, x):
    params, off = {}, 0
    for name, p in model.state_dict().items():
        params[name] = w[off:off + p.numel()].reshape(p.shape)
        off += p.numel()
    assert off == w.numel(), (off, w.numel())
    return torch.func.functional_call(model, params, (x,))


def behaviour_end_to_end(model, rec, orig, queries, kind):
    crit = criterion(kind)
    losses = []
    for n in range(rec.shape[0]):
        with torch.no_grad():
            target = functional(model, orig[n], queries)
        output = functional(model, rec[n], queries)
        losses.append(crit(output, target))
    per = torch.stack(losses)
    return torch.mean(per[per.isfinite()])


def main():
    cases = []

    # Contrast: N = 5 pairs of d = 7; z_j = z_i + a perturbation.
    zi_w = [[1.0, 0.37, 0.5]]
    zj_w = [[1.0, 0.37, 0.5], [0.6, 0.91, 0.2]]
    for tau in (0.1, 0.5):
        for name, fn in (("nt_xent", nt_xent), ("positive_contrast", nt_xent_pos),
                         ("positive_alignment", positive_alignment)):
            z_i, z_j = leaf([5, 7], zi_w), leaf([5, 7], zj_w)
            loss = fn(z_i, z_j, tau)
            loss.backward()
            cases.append({
                "loss": name, "params": {"temperature": tau},
                "inputs": {"z_i": {"shape": [5, 7], "wave": zi_w}, "z_j": {"shape": [5, 7], "wave": zj_w}},
                "value": loss.item(), "grads": {"z_i": flat(z_i.grad), "z_j": flat(z_j.grad)},
            })

    # Plain MSE on [4, 9].
    o_w, t_w = [[0.8, 0.23, 0.1]], [[0.5, 0.41, 1.3], [0.2, 1.7, 0.0]]
    out, tgt = leaf([4, 9], o_w), leaf([4, 9], t_w)
    loss = F.mse_loss(out, tgt)
    loss.backward()
    cases.append({
        "loss": "mse", "params": {},
        "inputs": {"output": {"shape": [4, 9], "wave": o_w}, "target": {"shape": [4, 9], "wave": t_w}},
        "value": loss.item(), "grads": {"output": flat(out.grad), "target": flat(tgt.grad)},
    })

    # Masked MSE on tokens [2, 3, 5]: mask[b, w, t] = 1 if t < 5 - ((b + w) % 3); the target is
    # zero on padding, as SANE's tokens are.
    B, W, T = 2, 3, 5
    mask = torch.tensor([[[1.0 if t < T - ((b + w) % 3) else 0.0 for t in range(T)] for w in range(W)] for b in range(B)])
    out = leaf([B, W, T], o_w)
    tgt = (wave([B, W, T], t_w) * mask).requires_grad_(True)
    loss = masked_mse(out, tgt, mask)
    loss.backward()
    cases.append({
        "loss": "masked_mse", "params": {"mask_rule": "t < T - ((b + w) % 3); target multiplied by mask"},
        "inputs": {"output": {"shape": [B, W, T], "wave": o_w}, "target": {"shape": [B, W, T], "wave": t_w}},
        "value": loss.item(), "grads": {"output": flat(out.grad), "target": flat(tgt.grad)},
    })

    # Layer-wise MSE on [3, 20]: three layers with very different sigmas.
    layers = [[0, 6], [6, 10], [16, 4]]
    sigmas = [0.3, 1.7, 0.05]
    std = torch.cat([torch.full((l,), s) for (_, l), s in zip(layers, sigmas)])
    lo_w, lt_w = [[0.3, 0.29, 0.4]], [[0.3, 0.29, 0.4], [0.05, 1.31, 0.7]]
    for red in ("global_mean", "layer_mean"):
        out, tgt = leaf([3, 20], lo_w), leaf([3, 20], lt_w)
        loss = layerwise(out, tgt, std, layers, red)
        loss.backward()
        cases.append({
            "loss": "layerwise_mse", "params": {"reduction": red, "layers": layers, "sigmas": sigmas},
            "inputs": {"output": {"shape": [3, 20], "wave": lo_w}, "target": {"shape": [3, 20], "wave": lt_w}},
            "value": loss.item(), "grads": {"output": flat(out.grad), "target": flat(tgt.grad)},
        })

    # Behaviour on given logits [N=3, Q=4, K=5].
    yr_w, yo_w = [[2.0, 0.53, 0.3]], [[2.0, 0.53, 0.3], [1.5, 0.77, 1.9]]
    for kind in ({"kind": "softmax_mse"}, {"kind": "distillation", "t": 2.0}):
        y_rec = leaf([3, 4, 5], yr_w)
        y_orig = wave([3, 4, 5], yo_w)
        loss = behaviour_on_logits(y_rec, y_orig, kind)
        loss.backward()
        cases.append({
            "loss": "behaviour_logits", "params": kind,
            "inputs": {"y_rec": {"shape": [3, 4, 5], "wave": yr_w}, "y_orig": {"shape": [3, 4, 5], "wave": yo_w}},
            "value": loss.item(), "grads": {"y_rec": flat(y_rec.grad)},
        })

    # Behaviour end to end: decoded and original networks on the same queries.
    # queries[j] = 0.5 + 0.5 sin(0.11 j + 0.7)  (flat index over [Q, C, H, W]).
    q_w = [[0.5, 0.11, 0.7]]
    for arch, model, act, n, q, shape, scale in (
        ("tetris_mlp", tetris(nn.Tanh), "tanh", 3, 6, [1, 4, 4], 0.4),
        ("cnn_s", cnn_s(nn.ReLU), "relu", 2, 3, [1, 28, 28], 0.25),
    ):
        p = sum(t.numel() for t in model.state_dict().values())
        rec_w = [[scale, 0.37, 0.5]]
        orig_w = [[scale, 0.37, 0.5], [0.3 * scale, 0.83, 1.1]]
        queries = wave([q] + shape, q_w) + 0.5
        for kind in ({"kind": "softmax_mse"}, {"kind": "distillation", "t": 2.0}):
            rec = leaf([n, p], rec_w)
            orig = wave([n, p], orig_w)
            loss = behaviour_end_to_end(model, rec, orig, queries, kind)
            loss.backward()
            g = rec.grad.reshape(-1)
            probe = wave([n * p], [[1.0, 0.13, 0.0]])
            stride = max(1, g.numel() // 64)
            cases.append({
                "loss": "behaviour_net", "params": dict(kind, arch=arch, activation=act, queries=q),
                "inputs": {
                    "reconstructed": {"shape": [n, p], "wave": rec_w},
                    "original": {"shape": [n, p], "wave": orig_w},
                    "queries": {"shape": [q] + shape, "wave": q_w, "offset": 0.5},
                },
                "value": loss.item(),
                # The full gradient for the small net; for cnn_s a summary keeps the file small:
                # its norm, its dot product with the probe wave sin(0.13 i), and every
                # `stride`-th entry.
                "grads": {"reconstructed": flat(g)} if p <= 200 else {},
                "grad_summary": {
                    "norm": float(g.norm()), "probe_dot": float(g @ probe),
                    "stride": stride, "entries": flat(g[::stride]),
                },
            })

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "generator": "scripts/reference/hyper_losses.py",
        "torch": torch.__version__,
        "cases": cases,
    }, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
