#!/usr/bin/env bash
# The CPU-sized reproductions of docs/RESULTS.md, end to end: zoos are generated on first use,
# finished runs are skipped, everything else resumes. Usage:
#   scripts/paper.sh [r21|ablation|r25|r25long|fmnist|all]   (default: all; fmnist needs r21 first)
# Results land in each run's results.toml / accuracies.csv under $HYPERZOO_WORKSPACE/runs/, and
# a summary per step is printed. Needs a release build (scripts/setup.sh --release).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
# Runs and zoos go to $HYPERZOO_WORKSPACE (default: .workspace in the checkout).
export HYPERZOO_WORKSPACE="${HYPERZOO_WORKSPACE:-$PWD/.workspace}"
ws="$HYPERZOO_WORKSPACE"
# HYPERZOO_BIN: a built binary to use instead of `cargo run --release`.
hz() {
    if [ -n "${HYPERZOO_BIN:-}" ]; then "$HYPERZOO_BIN" "$@"
    else cargo run --release --quiet --bin hyperzoo -- "$@"; fi
}
eval_all() { # prefix
    for r in "$ws"/runs/"$1"*; do
        [ -f "$r/status.toml" ] && grep -q 'state = "finished"' "$r/status.toml" || continue
        echo "== eval $(basename "$r")"
        hz eval "$r" --images 2000
    done
}
case "$what" in r21|all)
    hz run experiments/paper/r21-table-mnist.toml
    eval_all r21-table-mnist ;; esac
case "$what" in ablation|all)
    hz run experiments/paper/augment-ablation-mnist.toml
    eval_all augment-ablation-mnist ;; esac
case "$what" in r25|all)
    hz run experiments/paper/r25-table-mnist.toml
    eval_all r25-table-mnist
    for r in "$ws"/runs/r25-table-mnist*; do
        echo "== generate $(basename "$r")"
        hz generate "$r" --n 20 --candidates 40 --top 30 --images 2000 --finetune-epochs 2 \
            --out "$ws/zoos/generated-$(basename "$r")"
    done ;; esac
case "$what" in r25long|all)
    hz run experiments/paper/r25-s-long-mnist.toml
    eval_all r25-s-long-mnist ;; esac
case "$what" in fmnist|all)
    hz run experiments/paper/r21-table-fmnist.toml
    eval_all r21-table-fmnist
    # Out of distribution: the MNIST run's probes scored on the Fashion-MNIST zoo (and back).
    echo "== eval r21-table-mnist --zoo paper-fmnist-hyp-small"
    hz eval r21-table-mnist --images 2000 --zoo paper-fmnist-hyp-small
    echo "== eval r21-table-fmnist --zoo paper-mnist-hyp-small"
    hz eval r21-table-fmnist --images 2000 --zoo paper-mnist-hyp-small ;; esac
