"""Text and image renderings of grid mazes, values and paths."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from gvin.io import atomic_write


def _as_maze(maze, what: str = "maze", finite: bool = True) -> np.ndarray:
    """A 2-D numeric maze (non-zero = free), checked."""
    if isinstance(maze, (str, bytes)):
        raise TypeError(f"{what} must be a 2-D array, got {type(maze).__name__}")
    if hasattr(maze, "detach"):
        maze = maze.detach().cpu().numpy()
    array = np.asarray(maze)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D [H, W] array (render_ascii and plot_plan draw 2-D mazes), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    if array.dtype != bool and not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} must hold numbers or booleans, got dtype {array.dtype}")
    if finite and np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or inf (non-zero = free, 0 = wall)")
    return array


def _as_cell(cell, shape: tuple[int, ...], what: str) -> tuple[int, int]:
    """A ``(row, col)`` pair of integers inside ``shape`` (negative indices are refused: no wrap-around)."""
    if hasattr(cell, "tolist"):
        cell = cell.tolist()
    if isinstance(cell, (str, bytes)) or not isinstance(cell, (tuple, list)) or len(cell) != 2:
        raise ValueError(f"{what} must be a (row, col) pair, got {cell!r}")
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in cell):
        raise TypeError(f"{what} must be a (row, col) pair of integers, got {cell!r}")
    row, col = int(cell[0]), int(cell[1])
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(f"{what} {(row, col)} is outside the maze of shape {tuple(shape)}")
    return row, col


def _as_cells(cells, shape: tuple[int, ...], what: str) -> list[tuple[int, int]]:
    if isinstance(cells, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of (row, col) cells, got {type(cells).__name__}")
    return [_as_cell(cell, shape, f"{what} cell {i}") for i, cell in enumerate(cells)]


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

    Raises:
        ValueError: not a 2-D maze, NaN in it, a cell outside the maze or not a pair.
        TypeError: non-numeric maze, non-integer cell coordinates.
    """
    maze = _as_maze(maze)
    cells = _as_cells(path, maze.shape, "path")
    start = None if start is None else _as_cell(start, maze.shape, "start")
    goal = None if goal is None else _as_cell(goal, maze.shape, "goal")
    canvas = np.where(maze != 0, ".", "#").astype("<U1")
    for row, col in cells:
        canvas[row, col] = "*"
    if start is not None:
        canvas[start] = "S"
    if goal is not None:
        canvas[goal] = "G"
    return "\n".join(" ".join(line) for line in canvas)


_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def _atomic_savefig(figure, path) -> Path:
    path = Path(path)
    with atomic_write(path) as file:
        figure.savefig(file, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def plot_plan(
    maze: np.ndarray,
    values: np.ndarray,
    planned: Sequence[Sequence[int]],
    optimal: Sequence[Sequence[int]],
    goal: tuple[int, int],
    path,
    title: str = "",
):
    """Save a PNG: the learned values with the planned path, next to the optimal path.

    Args:
        maze: ``[H, W]`` (non-zero = free).
        values: ``[H, W]`` learned values (walls are greyed out).
        planned, optimal: ``(row, col)`` cells of the two paths, start first.
        goal: ``(row, col)``.
        path: the PNG file (written atomically; ``.pdf``, ``.svg``, ... work too).
        title: a figure title.

    Returns:
        The path written.

    Raises:
        ValueError: not a 2-D maze, ``values`` of another shape, a cell outside
            the maze, an unknown image format.
        IsADirectoryError: ``path`` is a directory.
        TypeError: non-numeric arrays, non-integer cell coordinates.
    """
    maze = _as_maze(maze) != 0
    values = _as_maze(values, "values", finite=False)  # -inf / NaN values are drawn blank
    if values.shape != maze.shape:
        raise ValueError(f"values must have the maze's shape {maze.shape}, got {values.shape}")
    planned = _as_cells(planned, maze.shape, "planned")
    optimal = _as_cells(optimal, maze.shape, "optimal")
    goal = _as_cell(goal, maze.shape, "goal")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write the plot to {path}: it is a directory; give a file path")
    if path.suffix and path.suffix.lstrip(".").lower() not in _FORMATS:
        raise ValueError(f"path must end in one of {sorted('.' + f for f in _FORMATS)}, got {path.name!r}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = np.ma.masked_where(~maze, values.astype(float))
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    panels = ((axes[0], planned, "planned (learned values)", "tab:red"),
              (axes[1], optimal, "optimal (shortest path)", "tab:green"))
    for axis, cells, label, colour in panels:
        if axis is axes[0]:
            image = axis.imshow(shown, cmap="viridis")
            figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="V")
        else:
            axis.imshow(np.where(maze, 1.0, 0.0), cmap="gray", vmin=0, vmax=1)
        axis.imshow(np.ma.masked_where(maze, np.ones_like(maze, dtype=float)), cmap="gray_r", vmin=0, vmax=1)
        if len(cells):
            rows, cols = np.asarray(cells).T
            axis.plot(cols, rows, "-o", color=colour, markersize=3, linewidth=2,
                      label=f"{label}: {len(cells) - 1} moves")
            axis.plot(cols[0], rows[0], "s", color="white", markeredgecolor="black", markersize=8)
        axis.plot(goal[1], goal[0], "*", color="gold", markeredgecolor="black", markersize=14)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title)
    try:
        return _atomic_savefig(figure, path)
    finally:
        plt.close(figure)
