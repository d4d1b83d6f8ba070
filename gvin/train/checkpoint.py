"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gvin.io import atomic_write


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings, lists, tuples, dicts) to ``path`` atomically.

    The file is written to a temporary file next to its destination, flushed to
    disk and renamed over it, so a crash or an error leaves either the old
    checkpoint or the new one, never half of one (and no temporary file).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"a checkpoint payload must be a dict, got {type(payload).__name__}")
    path = Path(path)
    with atomic_write(path) as file:
        torch.save(payload, file)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights only, no pickled code).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is damaged, not a checkpoint, or has no ``"model"`` state.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(f"checkpoint {path} is damaged or not a gvin checkpoint: {error}") from error
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"checkpoint {path} has no model state")
    return payload

