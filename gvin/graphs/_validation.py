"""Input checks shared by the graph builders: clear errors instead of silent wrong answers."""
from __future__ import annotations

import numpy as np
import torch


def as_numpy(array, name: str = "maze") -> np.ndarray:
    """Accept numpy arrays, torch tensors and nested sequences; reject everything else."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, (list, tuple)):
        return np.asarray(array)
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


def positive_int(value, name: str) -> int:
    """``value`` as an ``int >= 1``; a bool, a float (even ``3.0``) or anything else is refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_edge_index(edge_index, num_nodes: int) -> torch.Tensor:
    """A ``[2, E]`` int64 tensor of node indices in ``[0, num_nodes)``, with ``E >= 1``.

    Raises:
        ValueError: a missing field, another shape or dtype, no edge, or a node
            index out of range; the message names ``edge_index`` and the problem.
    """
    if edge_index is None:
        raise ValueError("the graph has no 'edge_index' field")
    if not isinstance(edge_index, torch.Tensor):
        raise ValueError(f"edge_index must be a torch tensor, got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.shape[1] == 0:
        raise ValueError("the graph has no edges (edge_index is empty)")
    if edge_index.dtype != torch.long:
        raise ValueError(f"edge_index must be int64 (long), got {edge_index.dtype}")
    low, high = int(edge_index.min()), int(edge_index.max())
    if low < 0 or high >= num_nodes:
        raise ValueError(
            f"edge_index refers to nodes in [{low}, {high}] but the graph has {num_nodes} nodes"
        )
    return edge_index
