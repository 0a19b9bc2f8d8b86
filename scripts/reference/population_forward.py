"""Reference logits for hyperzoo's population forward, computed by PyTorch.

Writes tests/reference/population_forward.json, compared by crates/engine/tests/forward_reference.rs.
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/population_forward.py

The networks are written here independently of hyperzoo, the way the reference repositories
write them (HSG-AIML def_net.py CNN / CNN3 / LeNet5, Unterthiner's Keras CNN in PyTorch form,
the 2021 Tetris MLP). Weights are deterministic so only small numbers are committed: parameter
tensor t (in state-dict order) of model n holds, at flat index i of the whole vector,
    w = scale[t] * sin(0.37 * i + 1.1 * n + 0.5)
and input element j (flat C*H*W index) of image b is  x = sin(0.11 * j + 0.7 * b).
"""
import json
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)  # compute the reference in f64; Rust runs f32
N, B = 3, 4

ACTS = {
    "relu": nn.ReLU,
    "leakyrelu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}


def cnn_s(c_in, act):
    a = ACTS[act]
    return nn.Sequential(
        nn.Conv2d(c_in, 8, 5), nn.MaxPool2d(2, 2), a(),
        nn.Conv2d(8, 6, 5), nn.MaxPool2d(2, 2), a(),
        nn.Conv2d(6, 4, 2), a(), nn.Flatten(),
        nn.Linear(36, 20), a(), nn.Linear(20, 10),
    )


def cnn3(act):
    a = ACTS[act]
    return nn.Sequential(
        nn.Conv2d(3, 16, 3), nn.MaxPool2d(2, 2), a(), nn.Dropout(0.0),
        nn.Conv2d(16, 32, 3), nn.MaxPool2d(2, 2), a(), nn.Dropout(0.0),
        nn.Conv2d(32, 15, 3), nn.MaxPool2d(2, 2), a(), nn.Dropout(0.0),
        nn.Flatten(), nn.Linear(60, 20), a(), nn.Dropout(0.0), nn.Linear(20, 10),
    )


class Gap(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def unterthiner(act):
    a = ACTS[act]
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2), a(),
        nn.Conv2d(16, 16, 3, stride=2), a(),
        nn.Conv2d(16, 16, 3, stride=2), a(),
        Gap(), nn.Linear(16, 10),
    )


def tetris(act):
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 5, bias=False), ACTS[act](), nn.Linear(5, 4, bias=False))


def lenet5(act):
    a = ACTS[act]
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), a(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), a(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(400, 120), a(), nn.Linear(120, 84), a(), nn.Linear(84, 10),
    )


CASES = [
    ("cnn_s", "tanh", lambda: cnn_s(1, "tanh"), (1, 28, 28)),
    ("cnn_s", "gelu", lambda: cnn_s(1, "gelu"), (1, 28, 28)),
    ("cnn_s_rgb", "relu", lambda: cnn_s(3, "relu"), (3, 28, 28)),
    ("cnn3", "leakyrelu", lambda: cnn3("leakyrelu"), (3, 32, 32)),
    ("unterthiner_cnn", "silu", lambda: unterthiner("silu"), (1, 28, 28)),
    ("tetris_mlp", "sigmoid", lambda: tetris("sigmoid"), (1, 4, 4)),
    ("lenet5", "tanh", lambda: lenet5("tanh"), (3, 32, 32)),
]


def main():
    out = {"generator": "scripts/reference/population_forward.py", "torch": torch.__version__,
           "models": N, "batch": B, "cases": []}
    for arch, act, make, shape in CASES:
        nets = [make().eval() for _ in range(N)]
        tensors = list(nets[0].state_dict().values())
        # fan-in scaling keeps every layer's pre-activations of order one
        scales = [1.5 / math.sqrt(t[0].numel()) if t.dim() > 1 else 0.3 for t in tensors]
        total = sum(t.numel() for t in tensors)
        for n, net in enumerate(nets):
            i = torch.arange(total, dtype=torch.float64)
            flat = torch.sin(0.37 * i + 1.1 * n + 0.5)
            sd, off = {}, 0
            for (k, t), s in zip(net.state_dict().items(), scales):
                sd[k] = (s * flat[off:off + t.numel()]).reshape(t.shape)
                off += t.numel()
            net.load_state_dict(sd)
        j = torch.arange(math.prod(shape), dtype=torch.float64)
        x = torch.stack([torch.sin(0.11 * j + 0.7 * b) for b in range(B)]).reshape(B, *shape)
        with torch.no_grad():
            logits = torch.stack([net(x) for net in nets])  # [N, B, classes]
        out["cases"].append({
            "arch": arch, "activation": act, "params": total, "scales": scales,
            "logits": [round(v, 7) for v in logits.flatten().tolist()],
            "classes": logits.shape[-1],
        })
        print(f"{arch:16} {act:10} params {total:6} |logits| max {logits.abs().max().item():.3f}")
    path = pathlib.Path(__file__).resolve().parents[2] / "tests/reference/population_forward.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
