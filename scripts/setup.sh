#!/usr/bin/env bash
# Create .venv and install zeronas with its test extras (Python 3.11 or newer).
# TORCH_SPEC picks the PyTorch build: the default pins the CPU wheel that CI uses; on a
# CUDA machine use e.g. TORCH_SPEC="torch" to let pip choose a CUDA build.
# PYTHON (default python3) and VENV (default .venv) choose the interpreter and the environment
# (.ci/run uses them to test several Pythons).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "zeronas needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())')" >&2
  exit 1
fi
if [[ ! -x $VENV/bin/python ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV"/bin/python -m pip install -q --upgrade pip
"$VENV"/bin/python -m pip install -q "$TORCH_SPEC"
"$VENV"/bin/python -m pip install -q -e ".[test]"
"$VENV"/bin/python -c "import torch, zeronas; print(f'zeronas {zeronas.__version__} with torch {torch.__version__} ready in $VENV')"
