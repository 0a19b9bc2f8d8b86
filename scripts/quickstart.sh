#!/usr/bin/env bash
# The README's main job on a fresh machine: set everything up, check the installation, then
# train the quickstart experiment (a small Tetris zoo and a transformer hyper-representation of
# it; a few minutes on a 2-core CPU). Extra arguments go to `hyperzoo run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --release
cargo run --release --quiet --bin hyperzoo -- doctor
cargo run --release --quiet --bin hyperzoo -- run experiments/quickstart.toml "$@"
