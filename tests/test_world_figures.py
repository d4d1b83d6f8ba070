"""benchmarks/world_figures.py --quick on one world: the table row, its parsed metrics, no rerun when finished."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "world_figures.py"


@pytest.mark.slow  # a subprocess benchmark run
def test_quick_cspace_row(tmp_path):
    command = [sys.executable, str(SCRIPT), "--quick", "--rows", "cspace18", "--out-root", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| cspace ")]
    assert len(rows) == 1, done.stdout
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == "18×18 bins, 16/4/8" and cells[3] == "6" and cells[4] == "1"
    assert re.fullmatch(r"\d+\.\d", cells[6]) and re.fullmatch(r"\d+\.\d", cells[7])
    assert cells[8].startswith("`gvin train --world cspace --size 18 ") and "--threads 1" in cells[8]
    result = json.loads((tmp_path / "cspace18" / "result.json").read_text())
    assert result["status"] == "ok" and f"{result['optimal']:.1f}" == cells[6]
    assert (tmp_path / "cspace18" / "checkpoint.pt").exists()

    again = subprocess.run([*command, "--report"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and rows[0] in again.stdout.splitlines()
