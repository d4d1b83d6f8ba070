#!/usr/bin/env bash
# Create .venv and install gvin with its test extras, on a fresh machine.
# torch comes first: a local CPU wheel when one is at hand (pip's find-links), otherwise
# the index in TORCH_INDEX_URL (set it to PyTorch's CPU index for a CPU-only install),
# otherwise PyPI's default build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-test}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if "${PIP[@]}" install --no-index "torch==2.13.0" 2>/dev/null; then
    echo "setup: installed torch from the local CPU wheel"
  elif [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" install "torch>=2.3" --index-url "$TORCH_INDEX_URL"
  else
    "${PIP[@]}" install "torch>=2.3"
  fi
fi
"${PIP[@]}" install -e ".[${EXTRAS}]" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import gvin, torch; print(f'setup: gvin {gvin.__version__}, torch {torch.__version__}')"
