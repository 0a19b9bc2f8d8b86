"""Reference values for hyperzoo's downstream probes, computed the way the reference does.

Writes tests/reference/probe_ridge.json, compared by crates/core/tests/probe_reference.rs
(crates/core/src/probe/ is the code under test).
Run:  scripts/reference/setup-venv.sh && .venv-ref/bin/python scripts/reference/probe_ridge.py

- Ridge: the HSG-AIML downstream module's closed form (def_downstream_module.py
  compute_closed_form_solution / solve_linear_system, reference.md section 7.1), written out
  here with PyTorch in float64: append a ones column, solve (X^T X + alpha I) b = X^T y with
  torch.linalg.solve (the bias is regularized too), R^2 = 1 - mean((t-y)^2)/mean((t-mean t)^2),
  alpha = the first of the 17-value grid with the best validation R^2. One case has fewer rows
  than features (hyperzoo solves that one in dual form; here, like the reference, in primal).
- Kendall's tau-b as scipy.stats.kendalltau (scipy is not installed in this venv: the pair
  counts are written out below, with scipy's formula (C-D)/sqrt(n0-n1)/sqrt(n0-n2)).
- Weight statistics on flat weights (reference.md section 7.4): s(W) of LayerQuintiles
  (mean, np.var, np.percentile [1, 25, 50, 75, 99], weights then biases, per layer),
  Unterthiner's extract_summary_features (np.percentile [0, 25, 50, 75, 100], np.std, np.mean;
  bias then kernel, per layer), and WeightWatcher-style spectral metrics of each layer's weight
  reshaped [out, in*k*k] (numpy SVD; alpha by the xmin/KS power-law fit described in
  crates/core/src/probe/features.rs, written independently here).

Inputs come from formulas, so the Rust test rebuilds them without a data file:
  ridge rows      x[i, j] = sin((0.7 + 0.31 j) i + 1.3 j)        (i = row index over
                  train, then val, then test), targets y[i] = sum_j w_j x[i, j] + b
                  + noise cos(2.9 i + 0.4)
  weights         w[m, p] = 0.3 sin(0.37 p + 0.001 p^2 + 1.1 m + 0.5)   (m = network,
                  p = flat index; the p^2 term makes every layer's matrix full rank)
Everything is float64.
"""
import json
import math
import pathlib

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "reference" / "probe_ridge.json"

ALPHA_GRID = [1e3, 3e2, 1e2, 3e1, 1e1, 3e0, 1e0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4,
              1e-4, 3e-5, 1e-5]


# ---------------------------------------------------------------------------------------------
# ridge, as the reference


def ridge_rows(rows, w, b, noise):
    x = [[math.sin((0.7 + 0.31 * j) * i + 1.3 * j) for j in range(len(w))] for i in rows]
    y = [sum(wj * xj for wj, xj in zip(w, xi)) + b + noise * math.cos(2.9 * i + 0.4)
         for i, xi in zip(rows, x)]
    return torch.tensor(x), torch.tensor(y)


def with_ones(x):
    return torch.cat([x, torch.ones(x.shape[0]).unsqueeze(dim=1)], dim=1)


def r2(y, t):
    e = t - y
    e_mean = torch.einsum("i,i->", e, e) / e.shape[0]
    d = t - t.mean(dim=0)
    e_var = torch.einsum("i,i->", d, d) / d.shape[0]
    return (1 - e_mean / e_var).item()


def solve(x, y, reg):
    xt = torch.einsum("ij->ji", x)
    xtx = torch.einsum("ij,jk->ik", xt, x)
    xty = torch.einsum("ij,j->i", xt, y)
    xtx += reg * torch.eye(xtx.shape[0])
    return torch.linalg.solve(xtx, xty)


def kendall_tau_b(x, y):
    n = len(x)
    c_minus_d = xtie = ytie = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            xtie += dx == 0
            ytie += dy == 0
            c_minus_d += dx * dy
    tot = n * (n - 1) // 2
    if xtie == tot or ytie == tot:
        return float("nan")
    tau = c_minus_d / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    return float(min(1.0, max(-1.0, tau)))


def ridge_case(n_train, n_val, n_test, w, b, noise):
    xt, yt = ridge_rows(range(n_train), w, b, noise)
    xv, yv = ridge_rows(range(n_train, n_train + n_val), w, b, noise)
    xs, ys = ridge_rows(range(n_train + n_val, n_train + n_val + n_test), w, b, noise)
    xt, xv, xs = with_ones(xt), with_ones(xv), with_ones(xs)
    curve_train, curve_val, coefs = [], [], []
    for reg in ALPHA_GRID:
        coef = solve(xt, yt, reg)
        coefs.append(coef)
        curve_train.append(r2(xt @ coef, yt))
        curve_val.append(r2(xv @ coef, yv))
    best = curve_val.index(max(curve_val))
    coef = coefs[best]
    pred = xs @ coef
    return {
        "n_train": n_train, "n_val": n_val, "n_test": n_test, "w": w, "b": b, "noise": noise,
        "r2_train_curve": curve_train, "r2_val_curve": curve_val,
        "best": best, "alpha": ALPHA_GRID[best],
        "r2_train": curve_train[best], "r2_val": curve_val[best], "r2_test": r2(pred, ys),
        "weights": coef[:-1].tolist(), "bias": coef[-1].item(),
        "kendall_tau_test": kendall_tau_b(ys.tolist(), pred.tolist()),
        # Condition number of X^T X + alpha I at the selected alpha (how much to trust 1e-9).
        "condition": torch.linalg.cond(xt.T @ xt + ALPHA_GRID[best] * torch.eye(xt.shape[1])).item(),
    }


# ---------------------------------------------------------------------------------------------
# weight statistics

# (weight shape in PyTorch order, has bias) per parametric layer: hyperzoo's built-ins.
ARCHS = {
    "cnn_s": [((8, 1, 5, 5), True), ((6, 8, 5, 5), True), ((4, 6, 2, 2), True),
              ((20, 36), True), ((10, 20), True)],
    "unterthiner_cnn": [((16, 1, 3, 3), True), ((16, 16, 3, 3), True), ((16, 16, 3, 3), True),
                        ((10, 16), True)],
}


def layers(arch):
    """(weight slice, bias slice, weight shape) per layer in state-dict order."""
    out, off = [], 0
    for shape, bias in ARCHS[arch]:
        nw = math.prod(shape)
        wsl = slice(off, off + nw)
        off += nw
        bsl = None
        if bias:
            bsl = slice(off, off + shape[0])
            off += shape[0]
        out.append((wsl, bsl, shape))
    return out, off


def networks(total, n):
    return np.array([[0.3 * math.sin(0.37 * p + 0.001 * p * p + 1.1 * m + 0.5)
                      for p in range(total)] for m in range(n)])


def quintiles(a):
    return [np.mean(a), np.var(a), *np.percentile(a, [1, 25, 50, 75, 99])]


def summary(a):
    return [*np.percentile(a, (0, 25, 50, 75, 100)), np.std(a), np.mean(a)]


def powerlaw_alpha(evals):
    """xmin by smallest KS distance over the sorted eigenvalues but the largest; Hill MLE."""
    ev = np.sort(np.asarray(evals))
    if len(ev) < 2:
        return float("nan")
    best_d, best_alpha = math.inf, float("nan")
    for i in range(len(ev) - 1):
        tail = ev[i:]
        n = len(tail)
        alpha = 1.0 + n / np.sum(np.log(tail / ev[i]))
        if alpha > 1.0:
            fitted = 1.0 - (tail / ev[i]) ** (1.0 - alpha)
            d = np.max(np.abs(fitted - np.arange(n) / n))
        else:
            d = 1.0
        if d < best_d:
            best_d, best_alpha = d, alpha
    return float(best_alpha)


def spectral(wmat):
    sv = np.linalg.svd(wmat, compute_uv=False)
    ev = np.sort(sv ** 2)
    tol = ev[-1] * (max(wmat.shape) * np.finfo(np.float64).eps) ** 2
    nz = ev[ev > tol]
    alpha = powerlaw_alpha(nz)
    lmax = ev[-1]
    return [np.log10(ev.sum()), alpha, alpha * np.log10(lmax), np.log10(np.sum(nz ** alpha)),
            np.log10(lmax), ev.sum() / lmax]


def feature_case(arch, n):
    ls, total = layers(arch)
    w = networks(total, n)
    stats, unter, spec = [], [], []
    for row in w:
        s, u, sp = [], [], []
        for wsl, bsl, shape in ls:
            s += quintiles(row[wsl])
            s += quintiles(row[bsl])
            u += summary(row[bsl])
            u += summary(row[wsl])
            sp += spectral(row[wsl].reshape(shape[0], -1))
        stats.append([float(v) for v in s])
        unter.append([float(v) for v in u])
        spec.append([float(v) for v in sp])
    return {"arch": arch, "networks": n, "stats_with_bias": stats, "unterthiner": unter,
            "spectral": spec}


def main():
    ref = {
        "alpha_grid": ALPHA_GRID,
        "ridge": [
            # Few noisy rows, 6 features: the validation optimum is inside the grid.
            ridge_case(15, 15, 20, [1.0, -1.0, 0.5, 2.0, 0.0, -0.5], 0.2, 1.5),
            # More rows, mild noise: a small alpha wins.
            ridge_case(60, 25, 25, [0.3, -1.2, 0.8, 0.0, 1.5, -0.7, 0.25, 2.0], -0.4, 0.3),
            # Fewer rows (8) than features (12): hyperzoo's dual path against this primal solve.
            ridge_case(8, 10, 10, [0.5, -0.25, 1.0, 0.0, 0.75, -1.0, 0.3, 0.2, -0.6, 0.9, 0.1,
                                   -0.4], 0.1, 0.5),
        ],
        "kendall": [],
        "features": [feature_case("cnn_s", 2), feature_case("unterthiner_cnn", 2)],
    }
    # Kendall's tau-b on integer vectors with many ties in x, in y, and in both at once.
    for n, (a, b, c, d) in [(40, (7, 11, 5, 13)), (25, (3, 8, 5, 7)), (30, (1, 10, 1, 7))]:
        x = [float((a * i) % b // 2) for i in range(n)]
        y = [float((c * i) % d // 2) for i in range(n)]
        ref["kendall"].append({"x": x, "y": y, "tau": kendall_tau_b(x, y)})
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    for case in ref["ridge"]:
        print(f"ridge: best alpha {case['alpha']} (index {case['best']}), "
              f"val R2 {case['r2_val']:.4f}, test R2 {case['r2_test']:.4f}, "
              f"cond {case['condition']:.3g}")
    for k in ref["kendall"]:
        print(f"kendall tau-b {k['tau']:.6f}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
