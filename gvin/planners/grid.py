"""Exact, batched expert labels on occupancy grids (numpy, no per-cell Python loops).

:func:`grid_distances` runs one breadth-first search per maze, all mazes of a
batch at once: a single frontier of flat cell indices over the whole (chunked)
batch, expanded with a precomputed neighbour table. The work is proportional to
the number of free cells times the number of moves; the number of numpy calls
is proportional to the longest distance in a chunk. On 2 cores this is about
ten times faster than ``scipy.sparse.csgraph.dijkstra(min_only=True)`` on the
block-diagonal graph of the same batch (measured on 1,000 random-obstacle
grids of 100×100: 0.56 s vs 5.9 s).

:func:`optimal_action_maps` turns the distances into the set of optimal moves
of every cell (ties kept).

Conventions (shared with :mod:`gvin.graphs.grid`):

* Moves are ``gvin.move_offsets(ndim, connectivity)`` (4 / 8 in 2-D, 6 / 18 /
  26 in 3-D); a move is legal when both cells are free. Every move costs 1,
  diagonal ones included, and there is no corner-cutting rule: this is the
  convention of the GPPN code (its ``moore`` mechanism relaxes every neighbour
  with ``+1`` and only checks that the target cell is free).
* ``wrap=True`` makes every axis periodic (a torus).
* Distances are to the nearest goal cell, ``inf`` on walls and unreachable
  cells, ``0`` on goals.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gvin._checks import as_array, binary, flag
from gvin.graphs.grid import grid_neighbours, move_offsets

__all__ = [
    "GPPN_ACTIONS_4",
    "GPPN_NEWS_ACTIONS",
    "GPPN_ACTIONS_8",
    "grid_distances",
    "optimal_action_maps",
    "grid_labels",
    "neighbour_table",
]


def _frozen(rows: list[tuple[int, int]]) -> np.ndarray:
    array = np.array(rows, dtype=np.int64)
    array.setflags(write=False)
    return array


#: Action channels of the GPPN ``.npz`` files used with gvin (e.g. the shared
#: ``m15_4abs-cc_10k.npz``): row-1, col-1, row+1, col+1 (north, west, south,
#: east). This is DiffPlan's ``4abs-cc`` mechanism (``FourAbsCounterClockwise``).
#: Note that the original GPPN code's ``news`` mechanism orders the same four
#: moves differently, see :data:`GPPN_NEWS_ACTIONS`.
GPPN_ACTIONS_4 = _frozen([(-1, 0), (0, -1), (1, 0), (0, 1)])

#: Action order of the original GPPN code's ``news`` mechanism
#: (``NorthEastWestSouth.neighbors_func``): north, east, west, south.
GPPN_NEWS_ACTIONS = _frozen([(-1, 0), (0, 1), (0, -1), (1, 0)])

#: Action order of the original GPPN code's ``moore`` mechanism
#: (``Moore.neighbors_func``): N, E, W, S, NE, NW, SE, SW (every move costs 1).
GPPN_ACTIONS_8 = _frozen(
    [(-1, 0), (0, 1), (0, -1), (1, 0), (-1, 1), (-1, -1), (1, 1), (1, -1)]
)

# Cells per BFS chunk (the working arrays cost ~14 bytes per cell).
_CHUNK_CELLS = 1 << 21


# ----------------------------------------------------------------------------- input handling


def _to_numpy(array: Any, name: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, (list, tuple, int, np.integer)):
        return as_array(array, name)
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(array).__name__}")


def _as_free(free: Any, ndim: int | None) -> tuple[np.ndarray, tuple[int, ...], bool]:
    """Validate ``free`` → (``[B, C]`` bool, grid shape, batched?)."""
    array = _to_numpy(free, "free")
    array = binary(array, "free", "free must be binary (0/1 or bool)")
    if ndim is None:
        ndim = {2: 2, 3: 2, 4: 3}.get(array.ndim)
        if ndim is None:
            raise ValueError(
                f"free must be [H, W], [B, H, W] or [B, D, H, W] (pass ndim=3 for a single "
                f"3-D grid), got rank {array.ndim}"
            )
    elif ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    if array.ndim not in (ndim, ndim + 1):
        raise ValueError(
            f"free must have rank {ndim} (one grid) or {ndim + 1} (a batch) for ndim={ndim}, "
            f"got shape {array.shape}"
        )
    batched = array.ndim == ndim + 1
    shape = tuple(int(s) for s in array.shape[-ndim:])
    if min(shape) < 1:
        raise ValueError(f"grids must not be empty, got shape {shape}")
    flat = array.reshape(-1 if batched else 1, int(np.prod(shape)))
    return flat, shape, batched


def _goal_mask(goal: Any, free: np.ndarray, shape: tuple[int, ...], batched: bool) -> np.ndarray:
    """Goal as a mask of the grid shape or flat cell indices → ``[B, C]`` bool mask."""
    num, cells = free.shape
    indices = [goal] if isinstance(goal, (int, np.integer)) else goal if isinstance(goal, (list, tuple)) else []
    for index in indices:  # while still Python ints: numpy holds none past int64 (10**20)
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and not 0 <= int(index) < cells:
            raise ValueError(f"goal index {int(index)} is out of range for {cells} cells")
    array = _to_numpy(goal, "goal")
    if array.dtype == bool or array.shape == ((num,) if batched else ()) + shape:
        if array.shape != ((num,) if batched else ()) + shape:
            raise ValueError(f"a goal mask must have the shape of free, got {array.shape}")
        mask = binary(array, "goal", "a goal mask must be boolean or 0/1").reshape(num, cells)
        empty = ~mask.any(1)
        if empty.any():
            raise ValueError(f"goal mask of maze {int(np.flatnonzero(empty)[0])} marks no cell")
    else:
        expected = (num,) if batched else ()
        if array.shape != expected or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"goal must be a mask of shape {expected + shape} or integer flat cell indices "
                f"of shape {expected}, got {array.dtype} array of shape {array.shape}"
            )
        index = array.reshape(num).astype(np.int64)
        bad = (index < 0) | (index >= cells)
        if bad.any():
            raise ValueError(f"goal index {int(index[bad][0])} is out of range for {cells} cells")
        mask = np.zeros((num, cells), dtype=bool)
        mask[np.arange(num), index] = True
    on_wall = mask & ~free
    if on_wall.any():
        maze, cell = np.argwhere(on_wall)[0]
        where = tuple(int(i) for i in np.unravel_index(cell, shape))
        raise ValueError(f"goal {where} of maze {int(maze)} is on a wall")
    return mask


def _as_actions(actions: Any, ndim: int, connectivity: int | None) -> np.ndarray:
    moves = move_offsets(ndim, connectivity).numpy()
    if actions is None:
        return moves
    array = _to_numpy(actions, "actions")
    if array.ndim != 2 or array.shape[1] != ndim or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"actions must be an integer [M, {ndim}] offset array, got {array.shape}")
    legal = (array[:, None, :] == moves[None, :, :]).all(-1).any(1)
    if not legal.all():
        raise ValueError(
            f"action {tuple(array[~legal][0].tolist())} is not a move of connectivity "
            f"{connectivity or {2: 4, 3: 6}[ndim]} in {ndim}-D"
        )
    if len(np.unique(array, axis=0)) != len(array):
        raise ValueError("actions must not repeat an offset")
    return array.astype(np.int64)


def neighbour_table(shape: tuple[int, ...], offsets: np.ndarray, wrap: bool = False) -> np.ndarray:
    """Flat index of each cell's neighbour along each offset.

    Args:
        shape: grid shape ``(H, W)`` or ``(D, H, W)``.
        offsets: ``[M, d]`` integer offsets.
        wrap: periodic axes. Without it an out-of-bounds neighbour is the cell itself.

    Returns:
        ``[C, M]`` int64, ``C = prod(shape)``.
    """
    wrap = flag(wrap, "wrap")
    shape = tuple(int(s) for s in shape)
    if wrap and min(shape) < 3:
        raise ValueError(f"wrap=True needs every side >= 3, got shape {shape}")
    flat, inside = grid_neighbours(shape, np.asarray(offsets), wrap)
    self_index = np.broadcast_to(np.arange(flat.shape[0])[:, None], flat.shape)
    return np.where(inside, flat, self_index).astype(np.int64)


# ----------------------------------------------------------------------------- BFS core


def _bfs_chunk(
    free: np.ndarray, goal: np.ndarray, table: np.ndarray, seen: np.ndarray, slot: np.ndarray,
    dist: np.ndarray,
) -> None:
    """Multi-source BFS over a chunk of ``b`` grids, all at once.

    ``free``/``goal`` ``[b, C]`` bool; ``seen``/``slot`` are scratch buffers of at
    least ``b * C`` entries; the result goes into ``dist`` (``[b * C]`` int32,
    -1 = unreached).
    """
    num, cells = free.shape
    total = num * cells
    seen = seen[:total]
    np.logical_not(free.reshape(total), out=seen)  # walls count as seen: never entered
    dist.fill(-1)
    frontier = np.flatnonzero(goal.reshape(total))
    seen[frontier] = True
    dist[frontier] = 0
    step = 0
    while frontier.size:
        step += 1
        local = frontier % cells
        candidates = ((frontier - local)[:, None] + table[local]).reshape(-1)
        candidates = candidates[~seen[candidates]]
        seen[candidates] = True
        dist[candidates] = step
        order = np.arange(candidates.size)
        slot[candidates] = order  # keep one copy of each newly reached cell
        frontier = candidates[slot[candidates] == order]


def _bfs(free: np.ndarray, goal: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Chunked :func:`_bfs_chunk` over ``[B, C]`` inputs → int32 ``[B, C]`` (-1 = unreached)."""
    num, cells = free.shape
    per_chunk = max(1, min(num, _CHUNK_CELLS // max(cells, 1)))
    out = np.empty(num * cells, dtype=np.int32)
    seen = np.empty(per_chunk * cells, dtype=bool)
    slot = np.empty(per_chunk * cells, dtype=np.int64)
    for start in range(0, num, per_chunk):
        stop = min(num, start + per_chunk)
        view = out[start * cells : stop * cells]  # a view: results land in ``out``
        _bfs_chunk(free[start:stop], goal[start:stop], table, seen, slot, view)
    return out.reshape(num, cells)


def _to_float(dist: np.ndarray) -> np.ndarray:
    out = dist.astype(np.float64)
    out[dist < 0] = np.inf
    return out


# ----------------------------------------------------------------------------- public API


def grid_distances(
    free: Any,
    goal: Any,
    connectivity: int | None = None,
    wrap: bool = False,
    *,
    ndim: int | None = None,
) -> np.ndarray:
    """Breadth-first distance from every cell to the nearest goal (unit cost per move).

    Args:
        free: ``[*shape]`` or ``[B, *shape]`` bool / 0-1 array or tensor, ``True``
            = free. A rank-3 input is a batch of 2-D grids unless ``ndim=3``.
        goal: a bool mask of ``free``'s shape (one or more goals per grid), or
            integer flat (row-major) cell indices: a scalar for one grid, ``[B]``
            for a batch. Goals must be free cells.
        connectivity: 4 or 8 in 2-D; 6, 18 or 26 in 3-D (default 4 / 6).
        wrap: periodic axes (a torus).
        ndim: grid dimension (2 or 3); inferred from the rank when omitted.

    Returns:
        float64 array of ``free``'s shape: number of moves to the nearest goal,
        ``0`` on goals, ``inf`` on walls and on cells that cannot reach a goal.
    """
    free_flat, shape, batched = _as_free(free, ndim)
    goal_flat = _goal_mask(goal, free_flat, shape, batched)
    table = neighbour_table(shape, move_offsets(len(shape), connectivity).numpy(), wrap)
    dist = _to_float(_bfs(free_flat, goal_flat, table))
    return dist.reshape(((-1,) if batched else ()) + shape)


def _optimal_flat(work: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``work`` ``[B, C]`` distances with -1 for unreachable → ``[B, M, C]`` optimal-move mask."""
    num, cells = work.shape
    out = np.empty((num, table.shape[1], cells), dtype=bool)
    per_chunk = max(1, _CHUNK_CELLS // max(cells, 1))
    for start in range(0, num, per_chunk):  # chunks keep the temporaries in cache
        part = work[start : start + per_chunk]
        source_ok = part > 0
        below = part - 1
        for m in range(table.shape[1]):  # loop over moves (≤ 26), vectorised over all cells
            target = np.take(part, table[:, m], axis=1)
            np.logical_and(source_ok, target == below, out=out[start : start + per_chunk, m])
    return out


def _work_from_dist(
    given: Any, free_flat: np.ndarray, shape: tuple[int, ...], batched: bool
) -> np.ndarray:
    """User distances → ``[B, C]`` working array (-1 = unreachable); int32 when integral."""
    array = _to_numpy(given, "dist")
    expected = ((free_flat.shape[0],) if batched else ()) + shape
    if array.shape != expected:
        raise ValueError(f"dist must have the shape of free {expected}, got {array.shape}")
    array = array.reshape(free_flat.shape).astype(np.float64, copy=False)
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError("dist must be non-negative (inf where unreachable), found NaN or < 0")
    reachable = np.isfinite(array) & free_flat
    values = array[reachable]
    if values.size == 0 or (values.max() < 2**31 - 1 and (values == np.floor(values)).all()):
        work = np.full(array.shape, -1, dtype=np.int32)
        work[reachable] = values.astype(np.int32)
        return work
    return np.where(reachable, array, -1.0)


def optimal_action_maps(
    free: Any,
    goal: Any = None,
    connectivity: int | None = None,
    actions: Any = None,
    wrap: bool = False,
    dist: Any = None,
    *,
    ndim: int | None = None,
) -> np.ndarray:
    """Which moves of each cell lie on a shortest path to the goal (ties kept).

    A move ``a`` is optimal at cell ``s`` when ``s`` is free, not a goal, can reach
    a goal, and ``dist[s + a] == dist[s] - 1`` (so ``s + a`` is free and legal).

    Args:
        free: ``[*shape]`` or ``[B, *shape]`` bool / 0-1 (see :func:`grid_distances`).
        goal: goal mask or flat indices (see :func:`grid_distances`); may be
            omitted when ``dist`` is given.
        connectivity: the move set, default 4 (2-D) / 6 (3-D).
        actions: ``[M, d]`` offsets giving the output channel order (each must
            be a move of ``connectivity``); default ``gvin.move_offsets(d, connectivity)``.
            Use :data:`GPPN_ACTIONS_4` for the GPPN file layout.
        wrap: periodic axes.
        dist: precomputed :func:`grid_distances` output (same shape as ``free``).
        ndim: grid dimension (2 or 3); inferred from the rank when omitted.

    Returns:
        bool array ``[M, *shape]`` (one grid) or ``[B, M, *shape]`` (a batch).
    """
    free_flat, shape, batched = _as_free(free, ndim)
    action_array = _as_actions(actions, len(shape), connectivity)
    if dist is None:
        if goal is None:
            raise ValueError("optimal_action_maps needs a goal or precomputed dist")
        goal_flat = _goal_mask(goal, free_flat, shape, batched)
        move_table = neighbour_table(shape, move_offsets(len(shape), connectivity).numpy(), wrap)
        work = _bfs(free_flat, goal_flat, move_table)
    else:
        work = _work_from_dist(dist, free_flat, shape, batched)
        if goal is not None:
            _check_dist_goal(work, _goal_mask(goal, free_flat, shape, batched))
    out = _optimal_flat(work, neighbour_table(shape, action_array, wrap))
    out = out.reshape((out.shape[0], len(action_array)) + shape)
    return out if batched else out[0]


def _check_dist_goal(work: np.ndarray, goal_flat: np.ndarray) -> None:
    """Distances given with a goal must be 0 exactly on that goal's cells."""
    wrong = np.flatnonzero(((work == 0) != goal_flat).any(axis=-1))
    if len(wrong):
        raise ValueError(
            f"dist was computed for another goal than the one given (maze {int(wrong[0])}: dist is 0 "
            "elsewhere than on its goal cells); pass the matching dist, or only the goal"
        )


def grid_labels(
    free: Any,
    goal: Any,
    connectivity: int | None = None,
    actions: Any = None,
    wrap: bool = False,
    *,
    ndim: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grid_distances` and :func:`optimal_action_maps` from one search.

    Returns:
        ``(dist, optimal)``: float64 ``[B?, *shape]`` and bool ``[B?, M, *shape]``.
    """
    free_flat, shape, batched = _as_free(free, ndim)
    goal_flat = _goal_mask(goal, free_flat, shape, batched)
    action_array = _as_actions(actions, len(shape), connectivity)
    move_table = neighbour_table(shape, move_offsets(len(shape), connectivity).numpy(), wrap)
    work = _bfs(free_flat, goal_flat, move_table)
    optimal = _optimal_flat(work, neighbour_table(shape, action_array, wrap))
    dist = _to_float(work).reshape(((-1,) if batched else ()) + shape)
    optimal = optimal.reshape((optimal.shape[0], len(action_array)) + shape)
    return dist, optimal if batched else optimal[0]
