#!/usr/bin/env bash
# Installs LibTorch for burn-tch from PyPI's torch wheel into a project venv and exposes it as
# .libtorch (read by torch-sys through .cargo/config.toml). Idempotent: a second run takes ~1 s.
#
#   LIBTORCH_MODE=cpu|cuda|auto (default auto: cuda when `nvidia-smi -L` works)
#   VENV=path (default .venv)
#
# cpu mode installs torch without its multi-GB nvidia dependencies and builds a "view" of
# torch/lib without libtorch_cuda.so, so the binary links only libtorch_cpu + libc10 (see
# ../shared/toolchain.md §1a). cuda mode installs the full wheel and links libtorch_cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_VERSION=2.9.0
MODE=${LIBTORCH_MODE:-auto}
if [ "$MODE" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then MODE=cuda; else MODE=cpu; fi
fi
case "$MODE" in cpu|cuda) ;; *) echo "LIBTORCH_MODE must be cpu, cuda or auto (got '$MODE')" >&2; exit 2;; esac

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
TORCH_DIR="$("$VENV/bin/python" -c 'import sysconfig, os; print(os.path.join(sysconfig.get_paths()["purelib"], "torch"))')"
stamp="$VENV/.hyperzoo-libtorch-$MODE-$TORCH_VERSION"
if [ ! -f "$stamp" ] || [ ! -f "$TORCH_DIR/lib/libtorch_cpu.so" ]; then
  if [ "$MODE" = cuda ]; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "torch==$TORCH_VERSION"
  else
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps "torch==$TORCH_VERSION" \
        nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
  fi
  rm -f "$VENV"/.hyperzoo-libtorch-*
  touch "$stamp"
fi
test -f "$TORCH_DIR/lib/libtorch_cpu.so" || { echo "torch wheel has no lib/libtorch_cpu.so under $TORCH_DIR" >&2; exit 1; }

rm -rf .libtorch
if [ "$MODE" = cuda ]; then
  ln -s "$TORCH_DIR" .libtorch
else
  mkdir -p .libtorch/lib
  ln -s "$TORCH_DIR/include" .libtorch/include
  for f in libtorch_cpu.so libtorch.so libc10.so; do ln -s "$TORCH_DIR/lib/$f" ".libtorch/lib/$f"; done
fi
echo "libtorch $TORCH_VERSION ($MODE) ready: .libtorch -> $TORCH_DIR"
