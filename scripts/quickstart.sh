#!/usr/bin/env bash
# The README's main job on a fresh machine: set everything up, check the installation, then the
# whole workflow on a small Tetris zoo in a few minutes of a 2-core CPU:
#   1. generate the zoo (experiments/zoos/tetris-claims.toml: 640 MLPs, 20 epochs) and train a
#      SANE hyper-representation of its weights (experiments/quickstart.toml: claim (a)'s
#      structure + behaviour setting, docs/RESULTS.md);
#   2. evaluate it: linear probes against the W and s(W) baselines, reconstructed networks'
#      test accuracy and agreement against the originals (hyperzoo eval);
#   3. generate new networks from the embedding space, test them as they are and after one
#      epoch of training against random initialisation, and audit them for memorisation
#      (hyperzoo generate);
#   4. print one summary table (hyperzoo summary); in a terminal, open the workbench (TUI) on
#      the run's Results view (quit with q).
# Run again, finished steps are skipped or redone from the saved checkpoint. Extra arguments go
# to `hyperzoo run`. HYPERZOO_HEADLESS=1 skips the TUI at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --release
hz() { cargo run --release --quiet --bin hyperzoo -- "$@"; }
hz doctor
run=quickstart-sane
# The workspace directory as hyperzoo resolves it (--workspace / $HYPERZOO_WORKSPACE / default).
ws=$(hz doctor --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["workspace"])')
hz run experiments/quickstart.toml "$@"
hz eval "$run" --images 1000
generated="$ws/zoos/$run-generated"
if [ -d "$generated" ]; then
    echo "generated networks already in $generated (delete it to sample them again)"
else
    hz generate "$run" --n 20 --candidates 40 --top 30 --sampler joint --bandwidth 0.05 \
        --finetune-epochs 1 --images 1000 --out "$generated"
fi
hz summary "$run"
if [ -t 0 ] && [ -t 1 ] && [ -z "${HYPERZOO_HEADLESS:-}" ]; then
    hz tui --open "$run"
fi
