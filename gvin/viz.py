"""Text and image renderings of grid mazes, values and paths, and plots for notebooks.

Each ``plot_*`` helper draws onto the Matplotlib ``ax=`` it is given, or onto
new axes of a new pyplot figure, and returns the axes; it never chooses a
backend (``matplotlib.use``), so a notebook's inline backend stays. ``plot_plan``
writes a picture file without pyplot at all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gvin._checks import as_array
from gvin.graphs.cspace import as_arm, as_obstacles
from gvin.io import atomic_write
from gvin.maps import as_cell
from gvin.planners.shortest_paths import goal_mask


def _as_maze(maze, what: str = "maze", finite: bool = True) -> np.ndarray:
    """A 2-D numeric maze (non-zero = free), checked."""
    if isinstance(maze, (str, bytes)):
        raise TypeError(f"{what} must be a 2-D array, got {type(maze).__name__}")
    if hasattr(maze, "detach"):
        maze = maze.detach().cpu().numpy()
    array = as_array(maze, what)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D [H, W] array (gvin.viz draws 2-D maps), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    if array.dtype != bool and not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} must hold numbers or booleans, got dtype {array.dtype}")
    if finite and np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or inf (non-zero = free, 0 = wall)")
    return array


def _as_cells(cells, shape: tuple[int, ...], what: str) -> list[tuple[int, int]]:
    if isinstance(cells, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of (row, col) cells, got {type(cells).__name__}")
    return [as_cell(cell, shape, f"{what} cell {i}") for i, cell in enumerate(cells)]


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
    start = None if start is None else as_cell(start, maze.shape, "start")
    goal = None if goal is None else as_cell(goal, maze.shape, "goal")
    canvas = np.where(maze != 0, ".", "#").astype("<U1")
    for row, col in cells:
        canvas[row, col] = "*"
    if start is not None:
        canvas[start] = "S"
    if goal is not None:
        canvas[goal] = "G"
    return "\n".join(" ".join(line) for line in canvas)


PICTURE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")
"""The file endings a figure can be saved as."""


def save_figure(figure, path) -> Path:
    """Save a matplotlib ``figure`` to ``path`` atomically (its format from the ending; png without one)."""
    path = Path(path)
    with atomic_write(path) as file:
        figure.savefig(file, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def _axes(ax, figsize: tuple[float, float] = (5.0, 4.5)):
    """``ax``, or the axes of a new pyplot figure (pyplot keeps the user's backend)."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=figsize)[1]
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be Matplotlib Axes, got {type(ax).__name__}")
    return ax


def _draw_walls(ax, free: np.ndarray, background: bool) -> None:
    """Walls in black over the map; with ``background``, free cells in white under it."""
    if background:
        ax.imshow(np.ones(free.shape), cmap="gray", vmin=0, vmax=1)
    ax.imshow(np.ma.masked_where(free, np.ones(free.shape)), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_map(free, ax=None):
    """Draw a 2-D map: free cells white, walls black.

    Args:
        free: ``[H, W]`` map (non-zero = free; a :class:`~gvin.maps.GridMap` too).
        ax: Matplotlib axes to draw on (default: a new figure).

    Returns:
        The axes (two images).
    """
    free = _as_maze(free, "free") != 0
    ax = _axes(ax)
    _draw_walls(ax, free, background=True)
    return ax


def plot_values(free, values, ax=None, cmap: str = "viridis", colorbar: bool = True):
    """Draw a planner's values on a 2-D map (walls black, NaN / inf values blank).

    Args:
        free: ``[H, W]`` map (non-zero = free).
        values: ``[H, W]`` values, e.g. ``plan_on_map(...).values`` or ``gvin.to_grid(data, out.v)``.
        ax: axes to draw on (default: a new figure). cmap: the colour map.
        colorbar: add a colour bar labelled ``V``.

    Returns:
        The axes (the values' image and the walls' image).

    Raises:
        ValueError: not 2-D, or ``values`` of another shape than ``free``.
    """
    free = _as_maze(free, "free") != 0
    values = _as_maze(values, "values", finite=False).astype(float)
    if values.shape != free.shape:
        raise ValueError(f"values must have the map's shape {free.shape}, got {values.shape}")
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_where(~free | ~np.isfinite(values), values), cmap=cmap)
    _draw_walls(ax, free, background=False)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="V")
    return ax


def plot_path(free, cells, ax=None, colour: str = "tab:red", label: str | None = None,
              goal: tuple[int, int] | None = None):
    """Draw a path of ``(row, col)`` cells: over ``ax``'s picture, or on the map in new axes.

    Args:
        free: ``[H, W]`` map (non-zero = free); drawn only when ``ax`` is ``None``.
        cells: ``(row, col)`` cells, start first (e.g. ``plan_on_map(...).planned``);
            ``[]`` draws nothing.
        ax: axes to draw over, e.g. :func:`plot_values`'s (default: a new figure
            showing the map). colour: the path's colour. label: its legend entry.
        goal: a cell to mark with a star.

    Returns:
        The axes (a line through the cells and a square at the start; a star at the goal).
        A step between cells more than one apart (across the seam of a torus, such as a
        C-space's joint angle wrapping from 359° to 0°) breaks the line instead of crossing
        the whole map.

    Raises:
        ValueError: a cell outside the map; TypeError: non-integer cells.
    """
    free = _as_maze(free, "free") != 0
    cells = _as_cells(cells, free.shape, "path")
    goal = None if goal is None else as_cell(goal, free.shape, "goal")
    if ax is None:
        ax = plot_map(free)
    ax = _axes(ax)
    if cells:
        rows, cols = _broken_at_seams(np.asarray(cells, dtype=float))
        ax.plot(cols, rows, "-o", color=colour, markersize=3, linewidth=2, label=label)
        ax.plot(cols[0], rows[0], "s", color="white", markeredgecolor="black", markersize=8)
    if goal is not None:
        ax.plot(goal[1], goal[0], "*", color="gold", markeredgecolor="black", markersize=14)
    return ax


def _broken_at_seams(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of ``cells [L, 2]`` with a NaN between consecutive cells more than one cell
    apart (a wrap across a torus seam), where Matplotlib then breaks the line."""
    jumps = np.flatnonzero(np.abs(np.diff(cells, axis=0)).max(axis=1) > 1) + 1
    broken = np.insert(cells, jumps, np.nan, axis=0)
    return broken[:, 0], broken[:, 1]


_RATES = (("valid_optimal", "valid %Optimal", "tab:green"), ("valid_success", "valid %Success", "tab:orange"))


def _records(history) -> list[Mapping[str, Any]]:
    history = getattr(history, "history", history)  # a TrainedPlanner or a Trainer
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a list of per-epoch dicts (Trainer.history), got {type(history).__name__}")
    if not history:
        raise ValueError("history is empty: no epoch to plot")
    for index, record in enumerate(history):
        if not isinstance(record, Mapping) or "loss" not in record:
            raise ValueError(f"history[{index}] must be a dict with a 'loss' (Trainer.history), got {record!r}")
    return list(history)


def plot_learning_curve(history, ax=None):
    """Draw training loss per epoch and, on a second y axis, the validation rates in percent.

    Args:
        history: the trainer's per-epoch dicts (``epoch``, ``loss``,
            ``valid_optimal``, ``valid_success``), or anything with a
            ``.history`` (a :class:`~gvin.rollout.TrainedPlanner`, a ``Trainer``).
        ax: axes for the loss (default: a new figure); the rates go on ``ax.twinx()``.

    Returns:
        The loss axes (the loss line; the twin axes hold a line per rate).

    Raises:
        TypeError, ValueError: not a list of dicts with a ``loss``, or empty.
    """
    from matplotlib.ticker import MaxNLocator

    records = _records(history)
    epochs = [float(record.get("epoch", index + 1)) for index, record in enumerate(records)]
    ax = _axes(ax, figsize=(6.0, 3.5))
    handles = ax.plot(epochs, [float(r["loss"]) for r in records], "-o", color="tab:blue", markersize=3, label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    rates = [(key, label, colour) for key, label, colour in _RATES if any(key in r for r in records)]
    if rates:
        twin = ax.twinx()
        for key, label, colour in rates:
            shown = [100 * float(r[key]) if key in r else np.nan for r in records]
            handles += twin.plot(epochs, shown, "-o", color=colour, markersize=3, label=label)
        twin.set_ylabel("%")
        twin.set_ylim(0, 100)
    ax.legend(handles=handles, loc="center right", fontsize=8)
    return ax


def _obstacle_patch(obstacle, colour: str):
    from matplotlib.patches import Circle as CirclePatch, Rectangle

    if hasattr(obstacle, "radius"):
        return CirclePatch(obstacle.center, obstacle.radius, color=colour)
    (x0, y0), (x1, y1) = obstacle.min_xy, obstacle.max_xy
    return Rectangle((x0, y0), x1 - x0, y1 - y0, color=colour)


def _draw_obstacles(ax, obstacles, colour: str = "0.35") -> None:
    for obstacle in as_obstacles(obstacles):
        ax.add_patch(_obstacle_patch(obstacle, colour))


def plot_roadmap(data, path: Sequence[int] | None = None, obstacles=None, ax=None):
    """Draw a 2-D roadmap: its links, its nodes at ``data.pos``, the goal, a path and the obstacles.

    Args:
        data: a graph with ``pos [N, 2]`` and ``edge_index [2, E]`` (e.g.
            :func:`gvin.probabilistic_roadmap`); nodes in ``data.goal`` are starred.
        path: node indices, start first (e.g. ``plan_path(...).planned``).
        obstacles: :class:`~gvin.Circle` / :class:`~gvin.Box` list, drawn as patches.
        ax: axes to draw on (default: a new figure).

    Returns:
        The axes (a line collection of the links, the nodes, one patch per
        obstacle, a line for the path).

    Raises:
        ValueError: no ``pos [N, 2]``, a path node out of range.
    """
    from matplotlib.collections import LineCollection

    pos = getattr(data, "pos", None)
    if pos is None or pos.dim() != 2 or pos.shape[1] != 2:
        shape = None if pos is None else tuple(pos.shape)
        raise ValueError(f"plot_roadmap draws graphs with 2-D node positions data.pos [N, 2], got {shape}")
    pos = pos.detach().cpu().double().numpy()
    source, target = data.edge_index.detach().cpu().numpy()
    links = np.unique(np.sort(np.stack([source, target], 1)[source != target], axis=1), axis=0)
    ax = _axes(ax)
    _draw_obstacles(ax, obstacles)
    ax.add_collection(LineCollection(pos[links], colors="0.6", linewidths=0.6, zorder=1))
    ax.scatter(pos[:, 0], pos[:, 1], s=6, color="tab:blue", zorder=2)
    try:
        goal = goal_mask(data).cpu().numpy()
    except ValueError:  # no goal to star
        goal = np.zeros(len(pos), dtype=bool)
    if goal.any():
        ax.scatter(*pos[goal].T, s=160, marker="*", color="gold", edgecolors="black", zorder=4)
    if path is not None and len(path):
        nodes = np.asarray([int(node) for node in path])
        if nodes.min() < 0 or nodes.max() >= len(pos):
            raise ValueError(f"path nodes must be in [0, {len(pos)}), got {nodes.min()}..{nodes.max()}")
        ax.plot(*pos[nodes].T, "-", color="tab:red", linewidth=2, zorder=3)
    ax.set_aspect("equal")
    ax.autoscale_view()
    return ax


def plot_arm(arm, angles, obstacles=None, ax=None):
    """Draw a 2-link arm in its workspace among the obstacles.

    Args:
        arm: a :class:`~gvin.Arm`.
        angles: one configuration ``(θ1, θ2)`` in radians, or ``[T, 2]`` of them
            (e.g. ``data.angles[path]``): drawn fading in, with the end effector's trace.
        obstacles: :class:`~gvin.Circle` / :class:`~gvin.Box` list.
        ax: axes to draw on (default: a new figure).

    Returns:
        The axes (a line per configuration, base to elbow to effector; a
        trace line for several; one patch per obstacle).

    Raises:
        TypeError: not an Arm; ValueError: angles not ``(2,)`` / ``[T, 2]`` finite numbers.
    """
    arm = as_arm(arm)
    if hasattr(angles, "detach"):
        angles = angles.detach().cpu().numpy()
    try:
        table = np.asarray(angles, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"angles must be (θ1, θ2) or a [T, 2] array of numbers, got {angles!r}") from None
    table = table[None] if table.shape == (2,) else table
    if table.ndim != 2 or table.shape[1] != 2 or len(table) == 0 or not np.isfinite(table).all():
        raise ValueError(f"angles must be (θ1, θ2) or a non-empty [T, 2] array of finite numbers, got shape {table.shape}")
    elbow, effector = arm.forward_kinematics(table[:, 0], table[:, 1])
    base = np.broadcast_to(np.asarray(arm.base), elbow.shape)
    ax = _axes(ax)
    _draw_obstacles(ax, obstacles)
    for step, joints in enumerate(np.stack([base, elbow, effector], axis=1)):
        alpha = 1.0 if step == len(table) - 1 else 0.15 + 0.5 * step / len(table)
        ax.plot(*joints.T, "-o", color="tab:blue", alpha=alpha, linewidth=3, markersize=5)
    if len(table) > 1:
        ax.plot(*effector.T, "--", color="tab:red", linewidth=1)
    reach = 1.05 * arm.reach
    ax.update_datalim([np.asarray(arm.base) - reach, np.asarray(arm.base) + reach])
    ax.set_aspect("equal")
    ax.autoscale_view()
    return ax


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

    Draws on a Matplotlib ``Figure`` without pyplot: no backend is chosen or changed.

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
    goal = as_cell(goal, maze.shape, "goal")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write the plot to {path}: it is a directory; give a file path")
    if path.suffix and path.suffix.lstrip(".").lower() not in PICTURE_FORMATS:
        raise ValueError(f"path must end in one of {sorted('.' + f for f in PICTURE_FORMATS)}, got {path.name!r}")

    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.8))
    axes = figure.subplots(1, 2)
    plot_values(maze, values, ax=axes[0])
    plot_map(maze, ax=axes[1])
    for axis, cells, label, colour in ((axes[0], planned, "planned (learned values)", "tab:red"),
                                       (axes[1], optimal, "optimal (shortest path)", "tab:green")):
        plot_path(maze, cells, ax=axis, colour=colour, goal=goal, label=f"{label}: {len(cells) - 1} moves")
        if cells:
            axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8, frameon=False)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
