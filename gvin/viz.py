"""Text and image renderings of grid mazes, values and paths."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from gvin.io import atomic_write


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
        path: the PNG file (written atomically).
        title: a figure title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maze = np.asarray(maze) > 0
    shown = np.ma.masked_where(~maze, np.asarray(values, dtype=float))
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
