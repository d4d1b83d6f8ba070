"""Workspace obstacles as fixed-width float64 rows, the form datasets store and items carry."""
from __future__ import annotations

import numpy as np

from gvin.graphs.cspace import Box, Circle

__all__ = ["obstacle_rows", "rows_to_obstacles"]


def obstacle_rows(obstacles: list, width: int) -> np.ndarray:
    """``[width, 5]`` float64 rows: ``(0, cx, cy, r, 0)`` a circle, ``(1, x_min, y_min, x_max, y_max)``
    a box, ``-1`` padding."""
    rows = np.full((width, 5), -1.0)
    for row, obstacle in enumerate(obstacles):
        if isinstance(obstacle, Circle):
            rows[row] = (0.0, *obstacle.center, obstacle.radius, 0.0)
        else:
            rows[row] = (1.0, *obstacle.min_xy, *obstacle.max_xy)
    return rows


def rows_to_obstacles(rows: np.ndarray) -> list:
    """The :class:`gvin.Circle` / :class:`gvin.Box` objects of ``[K, 5]`` rows (padding skipped)."""
    return [Circle((a, b), c) if kind == 0 else Box((a, b), (c, d))
            for kind, a, b, c, d in np.asarray(rows).tolist() if kind >= 0]
