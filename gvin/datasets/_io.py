"""Atomic file writes: a temporary file in the target directory, then ``os.replace``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from gvin.io import atomic_write


def atomic_savez(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    compressed: bool = False,
) -> Path:
    """Write an ``.npz`` so that readers see either the old file or the complete new one.

    Args:
        path: destination (written exactly; no ``.npz`` suffix is added).
        arrays: named arrays, or a sequence saved as ``arr_0, arr_1, ...``.
        compressed: use ``np.savez_compressed``.

    Returns:
        The destination path.
    """
    path = Path(path)
    save = np.savez_compressed if compressed else np.savez
    with atomic_write(path) as handle:
        if isinstance(arrays, Mapping):
            save(handle, **arrays)
        else:
            save(handle, *arrays)
    return path
