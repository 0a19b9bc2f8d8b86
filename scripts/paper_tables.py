#!/usr/bin/env python3
"""Markdown tables of the paper reproductions (docs/RESULTS.md) from the runs' results.toml.

Usage: python3 scripts/paper_tables.py [WORKSPACE]   (default: $HYPERZOO_WORKSPACE or .workspace)
Prints one section per experiment prefix found under WORKSPACE/runs; standard library only.
"""
import os
import sys
import tomllib
from pathlib import Path

ws = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HYPERZOO_WORKSPACE", ".workspace"))
runs = ws / "runs"
METHODS = ["hyper", "hyper-layers", "W", "s(W)", "s(W)-56", "spectral"]


def load(run: Path):
    p = run / "results.toml"
    return tomllib.loads(p.read_text()) if p.exists() else None


def fmt(v):
    return "–" if v is None else f"{v:.3f}"


def probe_table(r):
    props, methods = [], []
    for p in r.get("probes", []):
        if p["property"] not in props:
            props.append(p["property"])
        if p["method"] not in methods:
            methods.append(p["method"])
    methods = [m for m in METHODS if m in methods] + [m for m in methods if m not in METHODS]
    out = ["| property | metric | " + " | ".join(methods) + " |",
           "|---|---|" + "---|" * len(methods)]
    for prop in props:
        cells, metric = [], ""
        vals = {}
        for m in methods:
            p = next((x for x in r["probes"] if x["property"] == prop and x["method"] == m), None)
            if p:
                vals[m] = p["test"]
                metric = "R²" if p["metric"] == "r2" else "accuracy"
        best = max((v for v in vals.values() if v == v), default=None)
        for m in methods:
            v = vals.get(m)
            s = fmt(v)
            cells.append(f"**{s}**" if v is not None and v == best else s)
        out.append(f"| {prop} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def q(d, key):
    x = d.get(key) if d else None
    return f"{x['median']:.3f} / {x['mean']:.3f}" if x else "–"


def main():
    if not runs.is_dir():
        sys.exit(f"no runs in {runs}")
    for run in sorted(runs.iterdir()):
        r = load(run)
        if r is None:
            continue
        print(f"### {run.name}\n")
        print(f"{r.get('rows', ['?'] * 3)[2]} test checkpoints, embedding {r.get('embedding_dim')} dims.\n")
        print(probe_table(r) + "\n")
        rc = r.get("reconstruction")
        if rc:
            print(f"Reconstruction of the test split: weight R² {rc['weight_r2']:.3f}, "
                  f"mean L2 {rc['l2_mean']:.2f}; test accuracy (median / mean) on {rc['images']} images: "
                  f"original {q(rc, 'acc_original')}, reconstructed {q(rc, 'acc_reconstructed')}, "
                  f"agreement {q(rc, 'agreement')}.\n")
        for o in r.get("ood", []):
            print(f"- out of distribution on {o['zoo']}: {o['property']} ({o['method']}) "
                  f"R² {o['r2']:.3f}, Kendall τ {o['kendall_tau']:.3f}")
        g = r.get("generation")
        if g:
            print(f"Generation ({g['sampler']} sampler, bandwidth {g['bandwidth']}, {g['anchors']} anchors, "
                  f"best {g['networks']} of {g['candidates']}): test accuracy (median / mean) anchors "
                  f"{q(g, 'acc_anchors')}, generated {q(g, 'acc_generated')}; diversity (mean pairwise L2) "
                  f"anchors {g['diversity_anchors']:.2f}, generated {g['diversity_generated']:.2f}.\n")
            if g.get("finetune"):
                print("| epochs trained | generated init (median / mean) | random init (median / mean) |")
                print("|---|---|---|")
                for f in g["finetune"]:
                    print(f"| {f['epoch']} | {q(f, 'generated')} | {q(f, 'random')} |")
                print()


if __name__ == "__main__":
    main()
