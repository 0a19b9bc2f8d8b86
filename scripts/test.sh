#!/usr/bin/env bash
# The README's test command: set up (libtorch, datasets) and run every crate's tests on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test "$@"
