"""benchmarks/gpu_check.sh --dry-run: the GPU check script runs end to end on CPU (so it cannot rot)."""
from __future__ import annotations

import os

import pytest
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.sh"


@pytest.mark.slow  # runs every benchmark of the GPU check in dry-run mode
def test_gpu_check_dry_run_prints_every_figure():
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=env, timeout=180)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "== CUDA tests: pytest -m cuda" in out and "skipped" in out
    assert "copy bandwidth measured in this run" in out and "fwd × bound" in out
    rows = [line for line in out.splitlines() if line.startswith("| 8×8 ×2 |")]
    assert len(rows) == 6 and not any("error" in row for row in rows)  # K 10, 20 × three memory modes
    assert "marginal cost per layer" in out and "modes vs autograd" in out
    large = [line for line in out.splitlines() if line.startswith(("| grid | 400 |", "| roadmap | 400 |"))]
    assert len(large) == 2 and "table D=" in large[1]  # the large-graph rows, the roadmap on its neighbour table
    assert out.rstrip().endswith("large graphs exit 0")


def test_gpu_check_refuses_unknown_options():
    result = subprocess.run(["bash", str(SCRIPT), "--fast"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "usage" in result.stderr
