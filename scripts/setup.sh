#!/usr/bin/env bash
# Sets hyperzoo up on a fresh machine, with no manual step:
#   1. libtorch from PyPI's torch wheel into .venv (scripts/setup-libtorch.sh; CUDA build when
#      `nvidia-smi -L` works, CPU-only otherwise; override with LIBTORCH_MODE=cpu|cuda);
#   2. the hyperzoo binary (debug, or release with --release);
#   3. the datasets, fetched and verified by `hyperzoo data fetch` into the data directory
#      (--data-dir / HYPERZOO_DATA / platform default, resolved by the binary itself).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo_flags=()
case "${1:-}" in
  --release) cargo_flags=(--release) ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--release]" >&2; exit 2 ;;
esac
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

bash scripts/setup-libtorch.sh

# Fashion-MNIST ships in Debian's dataset-fashion-mnist; a fresh machine may have empty apt lists.
if command -v apt-get >/dev/null && ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq || true
  elif command -v sudo >/dev/null; then sudo -n apt-get update -qq || true
  fi
fi

cargo build "${cargo_flags[@]}" --bin hyperzoo
cargo run "${cargo_flags[@]}" --quiet --bin hyperzoo -- data fetch
