#!/usr/bin/env bash
# Create .venv and install gvin with its test extras, on a fresh machine.
# torch comes first; scripts/torch_choice.py decides which build and says why: torch already in
# the venv, else a local wheel in pip's find-links, else TORCH_INDEX_URL, else PyPI's default
# (on Linux a CUDA build of several GB). GVIN_TORCH=local|index|pypi forces one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-test}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

pip_install() {
  "${PIP[@]}" install "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
}

choice=$("$VENV/bin/python" scripts/torch_choice.py)
mapfile -t lines <<<"$choice"
echo "setup: torch: ${lines[0]} (${lines[1]})"
torch_args=("${lines[@]:2}")
if [ ${#torch_args[@]} -gt 0 ]; then
  if ! pip_install "${torch_args[@]}"; then
    echo "setup: FAILED: pip install ${torch_args[*]}" >&2
    exit 1
  fi
fi
pip_install -e ".[${EXTRAS}]"
"$VENV/bin/python" - <<'PY'
import gvin, torch
build = f"CUDA {torch.version.cuda} build, GPU available: {torch.cuda.is_available()}" if torch.version.cuda else "CPU-only build"
print(f"setup: gvin {gvin.__version__}, torch {torch.__version__} ({build})")
PY
