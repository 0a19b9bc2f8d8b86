#!/usr/bin/env bash
# The README's main job on a fresh machine: set everything up, then run hyperzoo.
# (Until the quickstart experiment lands, the main job is `hyperzoo doctor`.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --release
cargo run --release --quiet --bin hyperzoo -- doctor "$@"
