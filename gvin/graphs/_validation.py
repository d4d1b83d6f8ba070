"""Input checks shared by the graph builders: clear errors instead of silent wrong answers."""
from __future__ import annotations

import numpy as np
import torch

from gvin._checks import as_array


def as_numpy(array, name: str = "maze") -> np.ndarray:
    """Accept numpy arrays, torch tensors and nested sequences; reject everything else."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, (list, tuple)):
        return as_array(array, name)
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")


def as_occupancy(maze, free_value: float = 1) -> np.ndarray:
    """Validate a 2-D/3-D 0/1 occupancy grid; return the boolean *free* mask."""
    array = as_numpy(maze)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"maze must hold numbers or booleans, got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ValueError(
            f"maze must be 2-D [H, W] or 3-D [D, H, W], got rank {array.ndim} (shape {array.shape})"
        )
    if array.size == 0:
        raise ValueError(f"maze is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
        raise ValueError("maze contains NaN")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        bad = np.unique(array[~np.isin(array, (0, 1))])[:5]
        raise ValueError(f"maze must be binary (0/1), found values {bad.tolist()}")
    if free_value not in (0, 1):
        raise ValueError(f"free_value must be 0 or 1, got {free_value!r}")
    free = array.astype(bool) if free_value == 1 else ~array.astype(bool)
    if not free.any():
        raise ValueError("maze has no free cell")
    return free

