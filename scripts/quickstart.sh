#!/usr/bin/env bash
# The README's main job on a fresh machine: set everything up, check the installation, then
# train the quickstart experiment (a small Tetris zoo and a transformer hyper-representation of
# it; a few minutes on a 2-core CPU). In a terminal it opens the workbench (TUI) with the
# quickstart launched (quit with q; runs can go on headless); without one (CI, scripts, or
# HYPERZOO_HEADLESS=1) it trains headless. Extra arguments go to `hyperzoo run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --release
cargo run --release --quiet --bin hyperzoo -- doctor
if [ -t 0 ] && [ -t 1 ] && [ -z "${HYPERZOO_HEADLESS:-}" ] && [ $# -eq 0 ]; then
    cargo run --release --quiet --bin hyperzoo -- tui --launch experiments/quickstart.toml
else
    cargo run --release --quiet --bin hyperzoo -- run experiments/quickstart.toml "$@"
fi
