#!/usr/bin/env bash
# A second venv with the full PyTorch wheel (6.7 GB), used only by the scripts in this folder
# that write the reference outputs committed under tests/reference/. CI never runs it: tests
# compare against the committed outputs. (The .venv of setup-libtorch.sh cannot `import torch`.)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv-ref/bin/python ] || python3 -m venv .venv-ref
.venv-ref/bin/pip install --quiet --disable-pip-version-check --no-cache-dir torch==2.9.0 numpy safetensors
.venv-ref/bin/python -c 'import torch; print("reference venv ready: torch", torch.__version__)'
