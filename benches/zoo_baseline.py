"""Baseline for `hyperzoo bench zoo`: train CNN-s networks one at a time, as the reference zoo
generators do (one PyTorch model, one DataLoader-style loop per network), and report
network-epochs per second.

Run (full torch wheel in .venv-ref, see scripts/reference/setup-venv.sh):
    .venv-ref/bin/python benches/zoo_baseline.py --models 4 --images 2000 --batch 10 --threads 2

Same work as `hyperzoo bench zoo` with the same flags: CNN-s (2464 parameters), tanh, Adam lr
3e-4, MNIST-shaped inputs (random normal images, random labels: speed does not depend on them),
shuffled minibatches, no evaluation.
"""
import argparse
import time

import torch
import torch.nn as nn


def cnn_s():
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.MaxPool2d(2, 2), nn.Tanh(),
        nn.Conv2d(8, 6, 5), nn.MaxPool2d(2, 2), nn.Tanh(),
        nn.Conv2d(6, 4, 2), nn.Tanh(), nn.Flatten(),
        nn.Linear(36, 20), nn.Tanh(), nn.Linear(20, 10),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.images, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (a.images,), generator=g)
    start = time.perf_counter()
    for m in range(a.models):
        torch.manual_seed(m)
        net = cnn_s()
        opt = torch.optim.Adam(net.parameters(), lr=3e-4)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(a.epochs):
            perm = torch.randperm(a.images)
            for s in range(0, a.images, a.batch):
                idx = perm[s:s + a.batch]
                opt.zero_grad()
                loss = loss_fn(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
    secs = time.perf_counter() - start
    rate = a.models * a.epochs / secs
    print(f"pytorch one-at-a-time: {a.models} networks x {a.epochs} epochs x {a.images} images, "
          f"batch {a.batch}, {a.threads} threads: {secs:.2f} s, {rate:.3f} network-epochs/s, "
          f"{rate * a.images:.0f} network-images/s")


if __name__ == "__main__":
    main()
