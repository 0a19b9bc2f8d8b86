"""Reference logits for hyperzoo's population forward, computed by PyTorch.

Writes tests/reference/population_forward.json, compared by crates/engine/tests/forward_reference.rs.
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/population_forward.py

The networks are written here independently of hyperzoo, the way the reference repositories
write them (HSG-AIML def_net.py CNN / CNN3 / LeNet5 / ResNetBase, Unterthiner's Keras CNN in
PyTorch form, the 2021 Tetris MLP). Weights are deterministic so only small numbers are
committed: parameter tensor t (in state-dict order, num_batches_tracked left out) of model n
holds, at flat index i of the whole vector,
    w = offset[t] + scale[t] * sin(0.37 * i + 1.1 * n + 0.5)
and input element j (flat C*H*W index) of image b is  x = sin(0.11 * j + 0.7 * b).
"""
import json
import math
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_blocks import BasicBlock

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


class ResNet(nn.Module):
    """[RS] ResNetBase: torchvision's ResNet with conv1 3x3 stride 1 padding 1 (no bias) and
    maxpool = Identity; stages of BasicBlocks, the first block of each later stage stride 2."""

    def __init__(self, c_in, stem, stages, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        blocks, c = [], stem
        for s, (out, n) in enumerate(stages):
            for b in range(n):
                blocks.append(BasicBlock(c, out, 2 if s > 0 and b == 0 else 1))
                c = out
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x).mean(dim=(2, 3))
        return self.fc(x)


def resnet18():
    return ResNet(3, 64, [(64, 2), (128, 2), (256, 2), (512, 2)], 10)


def resnet8():
    return ResNet(1, 8, [(8, 1), (16, 1), (32, 1)], 10)


# (arch, activation, network, input shape[, training]): `training` runs batch norm on the
# batch's statistics (PyTorch's train mode), else on the running ones.
CASES = [
    ("cnn_s", "tanh", lambda: cnn_s(1, "tanh"), (1, 28, 28)),
    ("cnn_s", "gelu", lambda: cnn_s(1, "gelu"), (1, 28, 28)),
    ("cnn_s_rgb", "relu", lambda: cnn_s(3, "relu"), (3, 28, 28)),
    ("cnn3", "leakyrelu", lambda: cnn3("leakyrelu"), (3, 32, 32)),
    ("unterthiner_cnn", "silu", lambda: unterthiner("silu"), (1, 28, 28)),
    ("tetris_mlp", "sigmoid", lambda: tetris("sigmoid"), (1, 4, 4)),
    ("lenet5", "tanh", lambda: lenet5("tanh"), (3, 32, 32)),
    ("resnet8", "relu", resnet8, (1, 28, 28)),
    ("resnet8", "relu", resnet8, (1, 28, 28), True),
    ("resnet18", "relu", resnet18, (3, 32, 32)),
    # ResNet-18 in train mode at the sine weights is chaotic (batch norm on the batch's statistics
    # of such regular weights: PyTorch's own float32 logits differ from its float64 ones by 0.064
    # of at most 3.6), so it is compared at hashed weights ("hash" below), where PyTorch's float32
    # and float64 logits agree to 2e-6 of at most 2.0.
    ("resnet18", "relu", resnet18, (3, 32, 32), True, "hash"),
]


def flat_weights(kind, total, n):
    """Model n's flat weights before each tensor's scale and offset: "sin" = sin(0.37 i + 1.1 n +
    0.5); "hash" = 2 (h - floor(h)) - 1 with h = 43758.5453 sin(12.9898 (i + 7919 n) + 78.233),
    a well-mixed sequence in [-1, 1) (computed in float64, as the Rust test does)."""
    i = torch.arange(total, dtype=torch.float64)
    if kind == "hash":
        h = torch.sin(12.9898 * (i + 7919 * n) + 78.233) * 43758.5453
        return 2 * (h - torch.floor(h)) - 1
    return torch.sin(0.37 * i + 1.1 * n + 0.5)


def scale_and_offset(key, t):
    """Each tensor's weights: offset + scale * sin(...). Fan-in scaling keeps every layer's
    pre-activations of order one; a batch norm's weight is about 1 and its running variance
    positive."""
    if key.endswith("running_var"):
        return 0.5, 1.0
    if key.endswith("running_mean"):
        return 0.3, 0.0
    if t.dim() == 1 and key.endswith("weight"):  # batch norm
        return 0.3, 1.0
    if t.dim() > 1:
        return 1.5 / math.sqrt(t[0].numel()), 0.0
    return 0.3, 0.0


def main():
    out = {"generator": "scripts/reference/population_forward.py", "torch": torch.__version__,
           "models": N, "batch": B, "cases": []}
    for arch, act, make, shape, *rest in CASES:
        training = bool(rest and rest[0])
        kind = rest[1] if len(rest) > 1 else "sin"
        nets = [make() for _ in range(N)]
        for net in nets:
            net.train(training)
        # num_batches_tracked (an integer) is not part of a flat weight vector
        items = [(k, t) for k, t in nets[0].state_dict().items() if not k.endswith("num_batches_tracked")]
        scales, offsets = zip(*[scale_and_offset(k, t) for k, t in items])
        total = sum(t.numel() for _, t in items)
        for n, net in enumerate(nets):
            flat = flat_weights(kind, total, n)
            sd, off = dict(net.state_dict()), 0
            for (k, t), s, o in zip(items, scales, offsets):
                sd[k] = (o + s * flat[off:off + t.numel()]).reshape(t.shape)
                off += t.numel()
            net.load_state_dict(sd)
        j = torch.arange(math.prod(shape), dtype=torch.float64)
        x = torch.stack([torch.sin(0.11 * j + 0.7 * b) for b in range(B)]).reshape(B, *shape)
        with torch.no_grad():
            logits = torch.stack([net(x) for net in nets])  # [N, B, classes]
        # In train mode PyTorch moved each batch norm's running statistics towards the
        # batch's: record them (per model, layer by layer: running mean, running variance).
        running = [v for net in nets for k, t in net.state_dict().items()
                   if k.endswith(("running_mean", "running_var")) for v in t.flatten().tolist()]
        out["cases"].append({
            "arch": arch, "activation": act, "params": total, "scales": list(scales),
            "offsets": list(offsets), "training": training, "weights": kind,
            "running": [round(v, 8) for v in running] if training else [],
            "logits": [round(v, 7) for v in logits.flatten().tolist()],
            "classes": logits.shape[-1],
        })
        print(f"{arch:16} {act:10} {'train' if training else 'eval ':5} params {total:8} |logits| max {logits.abs().max().item():.3f}")
    path = pathlib.Path(__file__).resolve().parents[2] / "tests/reference/population_forward.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
