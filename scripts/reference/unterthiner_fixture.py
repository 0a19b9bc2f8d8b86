"""A tiny "Small CNN Zoo" (Unterthiner et al. 2020) in its published format, with numpy only.

Writes tests/fixtures/unterthiner/{weights.npy, metrics.csv, layout.csv} and
tests/fixtures/unterthiner_expected.json, used by tests/import.rs to check
`hyperzoo zoo import unterthiner`.
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/unterthiner_fixture.py

Format (google-research dnn_predict_accuracy README and colab):
- weights.npy: float32 [rows, 4970]; each row is one checkpoint of one run, the Keras variables
  flattened per layer as [bias, kernel], kernels in Keras layout: Conv2D (kh, kw, c_in, c_out),
  Dense (c_in, c_out); boundaries (0,16) bias, (16,160) kernel, (160,176), (176,2480),
  (2480,2496), (2496,4800), (4800,4810), (4810,4970).
- metrics.csv: one row per weights row, pandas-written with the checkpoint path as index
  (".../<run id>/permanent_ckpt-<step>"), the config.* columns, step, and train/test
  accuracy/loss.
- Checkpoints at epochs 0, 1, 2, 3, 20, 40, 60, 80, 86; step = epoch * steps per epoch, where
  steps per epoch = floor(60000 * train_fraction / 512) (batch 512, drop_remainder).

The expected logits are computed here directly in the Keras layout (NHWC images, stride-2 valid
convolutions with (kh, kw, c_in, c_out) kernels, global average pooling, Dense (c_in, c_out)),
independently of hyperzoo's layout conversion.
"""
import csv
import json
import pathlib
import shutil

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "unterthiner"
EXPECTED = ROOT / "tests" / "fixtures" / "unterthiner_expected.json"
EPOCHS = [0, 1, 2, 3, 20, 40, 60, 80, 86]
LAYERS = [("conv", 1, 16), ("conv", 16, 16), ("conv", 16, 16), ("dense", 16, 10)]

RUNS = [
    # run id, activation, w_init, train_fraction, optimizer, lr, l2reg, dropout, checkpoints
    ("1001", "relu", "he_normal", 0.1, "adam", 0.003, 1e-4, 0.0, 9),
    ("1002", "tanh", "glorot_normal", 1.0, "sgd", 0.01, 1e-6, 0.2, 9),
    ("1003", "relu", "orthogonal", 0.25, "rmsprop", 0.001, 1e-3, 0.05, 3),  # crashed
]


def act(x, name):
    return np.maximum(x, 0.0) if name == "relu" else np.tanh(x)


def conv_keras(x, kernel, bias, stride=2):
    """x [B, H, W, C], kernel [kh, kw, C, O], valid padding."""
    b, h, w, _ = x.shape
    kh, kw, _, o = kernel.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((b, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def forward(row, x, activation):
    """Logits of one flat Keras-layout row on images x [B, 28, 28, 1]."""
    pos = 0
    h = x
    for kind, cin, cout in LAYERS:
        bias = row[pos : pos + cout].astype(np.float64)
        pos += cout
        if kind == "conv":
            n = 3 * 3 * cin * cout
            kernel = row[pos : pos + n].astype(np.float64).reshape(3, 3, cin, cout)
            pos += n
            h = act(conv_keras(h, kernel, bias), activation)
        else:
            n = cin * cout
            kernel = row[pos : pos + n].astype(np.float64).reshape(cin, cout)
            pos += n
            h = h.mean(axis=(1, 2)) @ kernel + bias
    assert pos == 4970
    return h


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(4, 28, 28, 1))
    rows, metrics, expected = [], [], []
    for run, activation, w_init, frac, opt, lr, l2, dropout, n_ckpt in RUNS:
        spe = int(60000 * frac) // 512
        base = rng.normal(0, 0.3, size=4970).astype(np.float32)
        for k, epoch in enumerate(EPOCHS[:n_ckpt]):
            row = (base + 0.05 * k * rng.normal(size=4970)).astype(np.float32)
            rows.append(row)
            step = epoch * spe
            acc = 0.1 + 0.01 * k
            metrics.append(
                {
                    "": f"/tmp/smallcnnzoo/mnist/{run}/permanent_ckpt-{step}",
                    "config.activation": activation,
                    "config.b_init": "zeros",
                    "config.dataset": "mnist",
                    "config.dnn_architecture": "cnn",
                    "config.dropout": dropout,
                    "config.epochs": 86,
                    "config.epochs_between_checkpoints": 20,
                    "config.init_std": 0.05,
                    "config.l2reg": l2,
                    "config.learning_rate": lr,
                    "config.num_layers": 3,
                    "config.num_units": 16,
                    "config.optimizer": opt,
                    "config.random_seed": 42,
                    "config.train_fraction": frac,
                    "config.w_init": w_init,
                    "modeldir": f"/tmp/smallcnnzoo/mnist/{run}",
                    "step": step,
                    "test_accuracy": acc,
                    "test_loss": 2.3 - k * 0.1,
                    "train_accuracy": acc + 0.02,
                    "train_loss": 2.2 - k * 0.1,
                }
            )
            expected.append(
                {"run": run, "epoch": epoch, "logits": forward(row, x, activation).flatten().tolist()}
            )
    np.save(OUT / "weights.npy", np.stack(rows))
    with open(OUT / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(metrics[0].keys()))
        w.writeheader()
        w.writerows(metrics)
    with open(OUT / "layout.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["varname", "start_idx", "end_idx", "shape"])
        pos = 0
        for li, (kind, cin, cout) in enumerate(LAYERS):
            name = f"sequential/{'conv2d' if kind == 'conv' else 'dense'}_{li}"
            w.writerow([f"{name}/bias:0", pos, pos + cout, f"({cout},)"])
            pos += cout
            shape = (3, 3, cin, cout) if kind == "conv" else (cin, cout)
            n = int(np.prod(shape))
            w.writerow([f"{name}/kernel:0", pos, pos + n, str(shape)])
            pos += n
    # images in hyperzoo's NCHW order
    EXPECTED.write_text(
        json.dumps(
            {
                "inputs": x.transpose(0, 3, 1, 2).flatten().tolist(),
                "input_shape": [4, 1, 28, 28],
                "checkpoints": expected,
            }
        )
    )
    print(f"wrote {OUT} ({len(rows)} rows) and {EXPECTED}")


if __name__ == "__main__":
    main()
