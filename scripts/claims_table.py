#!/usr/bin/env python3
"""One row per run of the claims' experiments (docs/RESULTS.md, experiments/claims/) from each
run's results.toml and metrics.jsonl: reconstruction (weight R², agreement, accuracy of the
originals and the reconstructions), the probes' test scores per method, and generation.

Usage: python3 scripts/claims_table.py PREFIX [WORKSPACE]
  PREFIX     runs whose name starts with it (e.g. claim-behaviour)
  WORKSPACE  default $HYPERZOO_WORKSPACE or .workspace
Standard library only.
"""
import json
import os
import sys
import tomllib
from pathlib import Path

prefix = sys.argv[1] if len(sys.argv) > 1 else "claim-"
ws = Path(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("HYPERZOO_WORKSPACE", ".workspace"))


def f(x, d=3):
    return "–" if x is None else f"{x:.{d}f}"


def last_val(run):
    p = run / "metrics.jsonl"
    r2 = None
    if p.exists():
        for line in p.read_text().splitlines():
            m = json.loads(line)
            if m.get("kind") == "epoch" and m.get("val_r2") is not None:
                r2 = m["val_r2"]
    return r2


rows = sorted(d for d in (ws / "runs").iterdir() if d.name.startswith(prefix))
print("| run | val R² | test weight R² | agreement (median / mean) | original acc (median) "
      "| reconstructed acc (median / mean) |")
print("|---|---|---|---|---|---|")
probes = {}
for run in rows:
    p = run / "results.toml"
    r = tomllib.loads(p.read_text()) if p.exists() else {}
    rec = r.get("reconstruction", {})
    ag, ao, ar = rec.get("agreement"), rec.get("acc_original"), rec.get("acc_reconstructed")
    print(f"| {run.name[len(prefix):].lstrip('-') or run.name} | {f(last_val(run))} "
          f"| {f(rec.get('weight_r2'))} "
          f"| {f(ag and ag['median'])} / {f(ag and ag['mean'])} | {f(ao and ao['median'])} "
          f"| {f(ar and ar['median'])} / {f(ar and ar['mean'])} |")
    for pr in r.get("probes", []):
        probes.setdefault(run.name, {})[(pr["property"], pr["method"])] = pr["test"]
if probes:
    methods = ["hyper", "hyper-layers", "W", "s(W)", "s(W)-56", "spectral"]
    for name, d in probes.items():
        present = [m for m in methods if any(k[1] == m for k in d)]
        props = []
        for k in d:
            if k[0] not in props:
                props.append(k[0])
        print(f"\n{name} (test split)\n")
        print("| property | " + " | ".join(present) + " |")
        print("|---|" + "---|" * len(present))
        for prop in props:
            vals = [d.get((prop, m)) for m in present]
            best = max((v for v in vals if v is not None and v == v), default=None)
            cells = [("**" + f(v) + "**") if v is not None and v == best else f(v) for v in vals]
            print(f"| {prop} | " + " | ".join(cells) + " |")
