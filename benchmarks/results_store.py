"""Records of long benchmark runs under ``benchmarks/results/``: one JSON file a run, resumable.

Each record holds what reproduces it and what it gave: the commit, the seed, the command (or
the settings), the wall time and the metrics. A script skips a run whose record exists with
the same command, so an interrupted sweep continues where it stopped.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import harness

RESULTS = Path(__file__).resolve().parent / "results"


def git_commit() -> str:
    """The checkout's commit (``"unknown"`` outside git), with ``+dirty`` when tracked files differ from it."""
    state = harness.git_commit(short=False)
    if state is None:
        return "unknown"
    commit, dirty = state
    return commit + ("+dirty" if dirty else "")


def load(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or ``None`` when absent or unreadable (a run cut off while writing)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` atomically (a crash leaves the old file or none, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def run_once(path: Path, command: Any, seed: int, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The record of ``command`` at ``path``: loaded if it holds the same command and finished,
    else made by ``work()`` (its metrics) and saved with the commit, seed, command and wall time."""
    done = load(path)
    if done is not None and done.get("command") == command and done.get("finished"):
        return done
    commit, start = git_commit(), time.perf_counter()  # the code the run starts with
    metrics = work()
    record = {"command": command, "seed": seed, "commit": commit, "wall_s": round(time.perf_counter() - start, 1),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "metrics": metrics}
    save(path, record)
    return record


def median_and_worst(values: Iterable[float], higher_is_better: bool = True) -> tuple[float, float] | None:
    """``(median, worst)`` of ``values`` (``None`` when there are none)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), (min(values) if higher_is_better else max(values))
