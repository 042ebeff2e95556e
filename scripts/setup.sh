#!/usr/bin/env bash
# Create .venv and install zeronas with its test extras.
# TORCH_SPEC picks the PyTorch build: the default pins the CPU wheel that CI uses; on a
# CUDA machine use e.g. TORCH_SPEC="torch" to let pip choose a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "$TORCH_SPEC"
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import torch, zeronas; print(f'zeronas {zeronas.__version__} with torch {torch.__version__} ready in .venv')"
