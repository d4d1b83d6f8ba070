"""The notebooks are committed executed at full size (small outputs, so a repository page shows their
figures), and every one runs top to bottom in quick mode (GVIN_NOTEBOOK_QUICK=1) without an error:
the quickstart in the default suite, the others with GVIN_SLOW=1."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need the test extra: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT = 240  # seconds per notebook (quick mode takes a few to twenty on 2 busy cores)


MAX_BYTES = 400_000  # scripts/execute_notebooks.py's cap


def test_the_notebooks_are_committed_executed_at_full_size():
    assert {path.stem for path in NOTEBOOKS} >= {"quickstart", "depth", "equivalence", "implicit", "worlds"}
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        executed = notebook["metadata"].get("gvin", {}).get("executed", {})
        assert executed.get("quick") is False, f"{path.name}: run scripts/execute_notebooks.py and commit it"
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and all(cell["execution_count"] is not None for cell in code), path.name
        errors = [out for cell in code for out in cell["outputs"] if out["output_type"] == "error"]
        assert not errors, f"{path.name} was committed with an error: {errors[0].get('ename')}"
        assert any("image/png" in out.get("data", {}) for cell in code for out in cell["outputs"]), path.name
        assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes: keep notebooks small"


def _quick(path: Path):
    return path if path.stem == "quickstart" else pytest.param(path, marks=pytest.mark.slow)


@pytest.mark.parametrize("path", [_quick(path) for path in NOTEBOOKS], ids=[path.stem for path in NOTEBOOKS])
def test_the_notebook_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("GVIN_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny workloads: threads only contend (10-30x slower on busy cores)
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell if one raises
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors, errors
    pictures = sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []))
    assert pictures >= 1, f"{path.name} drew no plot"
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
