"""Text and image renderings of grid mazes, values and paths."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def render_ascii(
    maze: np.ndarray,
    goal: tuple[int, int] | None = None,
    path: Iterable[Sequence[int]] = (),
    start: tuple[int, int] | None = None,
) -> str:
    """A 2-D maze as text: ``#`` wall, ``.`` free, ``*`` path, ``S`` start, ``G`` goal.

    Args:
        maze: ``[H, W]`` array, non-zero = free.
        goal, start: ``(row, col)`` cells to mark.
        path: cells ``(row, col)`` along a path.
    """
    maze = np.asarray(maze)
    if maze.ndim != 2:
        raise ValueError(f"render_ascii draws 2-D mazes, got shape {maze.shape}")
    canvas = np.where(maze > 0, ".", "#").astype("<U1")
    for row, col in path:
        canvas[row, col] = "*"
    if start is not None:
        canvas[start] = "S"
    if goal is not None:
        canvas[goal] = "G"
    return "\n".join(" ".join(line) for line in canvas)
