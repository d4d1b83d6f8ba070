"""The files of a run folder, and the checks on paths a run writes.

A training run writes into its folder: ``checkpoint.pt`` (every epoch, atomically; a run
resumes from it), ``run.json`` (the data and model settings, for people and older
checkpoints), ``metrics.jsonl`` (one JSON line per epoch, appended as it ends; rewritten from
the checkpoint's history on a resume, so no epoch appears twice), ``test.json`` (the test
figures), ``learning_curve.png`` and ``plan.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from gvin.io import atomic_write

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
TEST_FILE = "test.json"
CURVE_FILE = "learning_curve.png"
PLAN_FILE = "plan.png"


Log = Callable[[str], None] | None
"""Where a run's lines of progress go: ``print`` (the default), any ``str -> None``, or ``None`` (nowhere)."""


def emit(log: Log, line: str) -> None:
    """Send ``line`` to ``log`` (nothing when ``log`` is ``None``)."""
    if log is not None:
        log(line)


class RunError(ValueError):
    """A run that cannot start or go on as asked: bad settings, a folder in the way, a resume of
    another run. The message names the setting (as the ``gvin`` option that sets it)."""


def option(name: str) -> str:
    """The ``gvin`` option of a setting: ``batch_size`` → ``--batch-size``."""
    return "--" + name.replace("_", "-")


def listed(items: list[str]) -> str:
    """``a, b or c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` if it is a file (so nothing can be created there)."""
    for part in path.parents:
        if part.exists():
            return None if part.is_dir() else part
    return None


def check_folder(path: Path, setting: str) -> None:
    """Refuse a folder that is a file, or lies under one."""
    if path.exists() and not path.is_dir():
        raise RunError(f"{setting} {path} is a file; expected a folder")
    blocker = _file_above(path)
    if blocker is not None:
        raise RunError(f"{setting} {path} lies under the file {blocker}, not a folder")


def check_file_target(path: Path, setting: str) -> None:
    """Refuse a file to be written that is a folder, or lies under a file."""
    if path.is_dir():
        raise RunError(f"{setting} {path} is a folder; expected a file name")
    blocker = _file_above(path)
    if blocker is not None:
        raise RunError(f"{setting} {path} lies under the file {blocker}, not a folder")


def check_picture(path: Path, setting: str = "--png") -> None:
    """Refuse a picture path that cannot be written, or in a format the plots do not have."""
    from gvin.viz import PICTURE_FORMATS

    check_file_target(path, setting)
    if path.suffix and path.suffix.lstrip(".").lower() not in PICTURE_FORMATS:
        raise RunError(f"{setting} {path}: expected a picture file ending in one of "
                       f"{', '.join('.' + f for f in PICTURE_FORMATS)}")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically, indented."""
    with atomic_write(path, "w") as file:
        json.dump(payload, file, indent=2)


def read_run_file(path: Path) -> dict[str, Any] | None:
    """A run's ``run.json`` (``None`` if absent); a broken one is an error naming it."""
    if not path.exists():
        return None
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{path} is broken ({' '.join(str(error).split())}); fix or delete it") from None
    if not isinstance(run, dict) or not isinstance(run.get("data"), dict) or "kernel_size" not in run:
        raise RunError(f"{path} is broken: expected the 'data' and 'kernel_size' entries gvin train writes; "
                       "fix or delete it")
    return run


class MetricsLog:
    """A run's ``metrics.jsonl``: one JSON line per epoch, appended as the epoch ends (after its
    checkpoint), with the epoch's ``seconds``."""

    def __init__(self, path: Path):
        self.path = path
        self._started = time.perf_counter()

    def start(self, history: list[dict[str, float]]) -> None:
        """Rewrite the file to hold one line per epoch of ``history`` (the checkpoint's).

        Lines the file already holds for those epochs are kept (they may carry an epoch's
        ``seconds``); lines of later epochs, which the checkpoint does not hold, and unreadable
        lines are dropped, so a resume or a fresh start never duplicates an epoch.
        """
        kept: dict[int, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    epoch = json.loads(line).get("epoch")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(epoch, (int, float)):
                    kept[int(epoch)] = line
        lines = [kept.get(int(record["epoch"]), json.dumps(record)) for record in history]
        with atomic_write(self.path, "w") as file:
            file.write("".join(line + "\n" for line in lines))
        self._started = time.perf_counter()

    def append(self, record: dict[str, float]) -> None:
        now = time.perf_counter()
        with open(self.path, "a") as file:
            file.write(json.dumps({**record, "seconds": round(now - self._started, 3)}) + "\n")
        self._started = now


def epoch_line(record: dict[str, float], epochs: int) -> str:
    """``epoch 3/10  loss 0.1234  valid %Optimal 98.1  %Success 98.9 ...``."""
    line = f"epoch {int(record['epoch'])}/{epochs}  loss {record['loss']:.4f}"
    if "valid_optimal" in record:
        line += (f"  valid %Optimal {100 * record['valid_optimal']:.1f}"
                 f"  %Success {100 * record['valid_success']:.1f}")
    if "valid_near_optimal" in record:
        line += f"  %Optimal(1%) {100 * record['valid_near_optimal']:.1f}"
    if "valid_cost_ratio" in record:
        line += f"  cost ratio {record['valid_cost_ratio']:.3f}"
    return line
