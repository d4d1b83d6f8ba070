"""Seeded maze generators (2-D and 3-D), vectorised across the batch.

Everything is a function of a :class:`numpy.random.Generator` (or an integer seed):
the same seed gives the same arrays.

* :func:`dfs_mazes`: perfect mazes by a randomised depth-first search (recursive
  backtracker) on the odd lattice. All mazes of a batch run in lockstep: a
  backtracker on ``K`` lattice cells takes exactly ``2K - 1`` steps (``K - 1``
  carves, ``K`` pops), so one numpy step advances every maze at once.
* :func:`gppn_mazes`: the GPPN recipe: a depth-first maze, then *decimation*:
  every interior cell is freed with probability ``d``, ``d ~ U(lo, hi)`` drawn
  per maze (GPPN's defaults ``lo = 0``, ``hi = 1``).
* :func:`random_gridworlds`: independent random obstacles of a given density.
* :func:`sample_goals`: one goal per maze, uniform over free cells (``"free"``),
  over free cells with a free axis neighbour (``"connected"``, the 3-D default)
  or, as in GPPN, uniform over interior cells other than the DFS start, the goal
  cell being carved free (``"interior"``, the 2-D default for ``"gppn"``).
* :func:`generate_splits`: train / valid / test sets without duplicates within
  or across splits, topped up until the requested counts are met.

Differences from the GPPN generator (``utils/maze.py`` of the GPPN repository),
by design: the border is always wall, also for even sizes (GPPN's DFS lattice
reaches the last row and column when the size is even); sizes may differ per
axis; and 3-D mazes use the same recipe with 6 lattice directions, but goals
on free cells with a free axis neighbour (``goal_mode="connected"``): in 3-D,
GPPN's interior rule would often pick an isolated cell (a cell with all
coordinates even is never carved, nor are its neighbours), leaving an item
without any optimal move.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from gvin._checks import as_array, as_rng, binary, check_memory, flag

__all__ = [
    "MazeBatch",
    "as_rng",
    "as_shape",
    "as_counts",
    "dfs_mazes",
    "decimate",
    "gppn_mazes",
    "random_gridworlds",
    "sample_goals",
    "generate_mazes",
    "generate_splits",
    "SPLITS",
    "KINDS",
    "GOAL_MODES",
]

SPLITS = ("train", "valid", "test")
GOAL_MODES = ("free", "interior", "connected")
KINDS = ("gppn", "gridworld")


@dataclass(frozen=True)
class MazeBatch:
    """A batch of mazes with one goal each.

    Attributes:
        mazes: ``[n, *shape]`` bool, ``True`` = free.
        goals: ``[n]`` int64 flat (row-major) index of the goal cell (always free).
    """

    mazes: np.ndarray
    goals: np.ndarray

    def __len__(self) -> int:
        return int(self.mazes.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid shape (without the batch axis)."""
        return tuple(int(s) for s in self.mazes.shape[1:])

    def goal_masks(self) -> np.ndarray:
        """``[n, *shape]`` bool one-hot goal maps."""
        masks = np.zeros((len(self), int(np.prod(self.shape))), dtype=bool)
        masks[np.arange(len(self)), self.goals] = True
        return masks.reshape(self.mazes.shape)

    def select(self, index: np.ndarray) -> "MazeBatch":
        """The mazes at ``index`` (an integer or boolean array)."""
        return MazeBatch(self.mazes[index], self.goals[index])

    @staticmethod
    def concatenate(batches: Sequence["MazeBatch"]) -> "MazeBatch":
        """Stack batches of equal grid shape."""
        return MazeBatch(
            np.concatenate([b.mazes for b in batches]), np.concatenate([b.goals for b in batches])
        )


# ----------------------------------------------------------------------------- argument checks


def as_shape(size: Any, ndim: int | None = None, minimum: int = 3) -> tuple[int, ...]:
    """A grid shape from an int (a square / cube) or a tuple; every side ``>= minimum``.

    ``ndim`` (2 or 3) defaults to the tuple's length, or 2 for an int.
    """
    is_int = isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_))
    is_tuple = isinstance(size, (tuple, list)) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in size
    )
    if not (is_int or is_tuple):
        raise TypeError(f"size must be an int or a tuple of ints, got {size!r}")
    if ndim is None:
        ndim = 2 if is_int else len(size)
    if ndim not in (2, 3):
        raise ValueError(f"grids must be 2-D or 3-D, got ndim={ndim!r}")
    shape = (int(size),) * ndim if is_int else tuple(int(s) for s in size)
    if len(shape) != ndim:
        raise ValueError(f"size {shape} has {len(shape)} axes but ndim={ndim}")
    if min(shape) < minimum:
        raise ValueError(f"every side must be >= {minimum}, got size {shape}")
    return shape


def _as_count(num: Any, name: str = "num") -> int:
    if isinstance(num, (bool, np.bool_)) or not isinstance(num, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {num!r}")
    if num < 0:
        raise ValueError(f"{name} must be >= 0, got {num}")
    return int(num)


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def _as_maze_batch(free: Any, name: str = "free") -> np.ndarray:
    """``[n, H, W]`` / ``[n, D, H, W]`` bool or 0/1 mazes → a bool copy (errors name ``name``)."""
    if isinstance(free, (str, bytes)) or not isinstance(free, (np.ndarray, list, tuple)) and not hasattr(
        free, "__array__"
    ):
        raise TypeError(f"{name} must be an array of mazes [n, H, W] or [n, D, H, W], got {type(free).__name__}")
    array = as_array(free, name)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be a batch of mazes [n, H, W] or [n, D, H, W], got shape {array.shape} "
            "(add a leading axis for a single maze)"
        )
    array = binary(array, name, "{name} must be binary (True/1 = free, False/0 = wall)")
    return np.array(array, dtype=bool, copy=True)


def _interior(shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(1, s - 1) for s in shape)


# ----------------------------------------------------------------------------- maze generators


def _axis_offsets(ndim: int) -> np.ndarray:
    """``[2d, d]`` unit offsets: -axis0, +axis0, -axis1, +axis1, ..."""
    eye = np.eye(ndim, dtype=np.int64)
    return np.stack([sign * eye[axis] for axis in range(ndim) for sign in (-1, 1)])


def dfs_mazes(num: int, size: Any, rng: Any, ndim: int | None = None) -> np.ndarray:
    """Perfect mazes from a randomised depth-first search on the odd lattice.

    Lattice cells are the cells with all coordinates odd and ``<= side - 2``; the
    search starts at ``(1, 1[, 1])``, and each step moves from the top of the stack
    to a uniformly random unvisited lattice neighbour (two cells away), carving
    the wall in between, or pops when there is none. The border is always wall.

    Args:
        num: number of mazes.
        size: int (square / cube) or tuple, every side ``>= 3``.
        rng: numpy Generator or integer seed.
        ndim: 2 or 3; default: the tuple's length, or 2 for an int ``size``.

    Returns:
        ``[num, *shape]`` bool, ``True`` = free.
    """
    num = _as_count(num)
    shape = as_shape(size, ndim)
    rng = as_rng(rng)
    lattice = tuple((s - 1) // 2 for s in shape)  # odd coordinates 1, 3, …, <= s - 2
    per_chunk = max(1, _DFS_CHUNK_CELLS // int(np.prod([k + 2 for k in lattice])))
    out = np.empty((num,) + shape, dtype=bool)
    for start in range(0, num, per_chunk):
        stop = min(num, start + per_chunk)
        out[start:stop] = _dfs_chunk(stop - start, shape, lattice, rng)
    return out


# Cells per chunk when sampling goals on free cells.
_GOAL_CHUNK_CELLS = 1 << 22

# Redraws of gridworlds that came out without a free cell.
_MAX_REDRAWS = 100

# Padded lattice cells per lockstep DFS chunk (keeps the working set in cache).
_DFS_CHUNK_CELLS = 1 << 21


def _dfs_chunk(
    num: int, shape: tuple[int, ...], lattice: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Lockstep recursive backtracker for ``num`` mazes (one numpy step per DFS step)."""
    d = len(shape)
    padded = tuple(k + 2 for k in lattice)  # a visited ring avoids bounds checks
    strides = np.array([int(np.prod(padded[a + 1 :])) for a in range(d)], dtype=np.int64)
    unit = _axis_offsets(d)
    flat_offsets = (unit @ strides)[:, None]  # [K, 1]
    cells, block = int(np.prod(lattice)), int(np.prod(padded))

    visited = np.ones((num,) + padded, dtype=bool)
    visited[(slice(None),) + tuple(slice(1, -1) for _ in range(d))] = False
    visited = visited.reshape(-1)
    came_from = np.full(num * block, -1, dtype=np.int8)  # direction of the carving move
    start = np.arange(num, dtype=np.int64) * block + int(np.ravel_multi_index((1,) * d, padded))
    stack = np.empty((cells, num), dtype=np.int64)  # [depth, maze]
    stack[0] = start
    top_index = np.zeros(num, dtype=np.int64)
    visited[start] = True
    columns = np.arange(num)
    for _ in range(2 * cells - 1):  # the same number of steps for every maze
        neighbours = stack[top_index, columns] + flat_offsets  # [K, num]
        open_ = ~visited[neighbours]
        scores = np.where(open_, rng.random(open_.shape, dtype=np.float32), np.float32(-1))
        pick = scores.argmax(0)  # uniform among the open directions
        carve = open_[pick, columns]
        movers = np.flatnonzero(carve)
        direction = pick[movers]
        new = neighbours[direction, movers]
        visited[new] = True
        came_from[new] = direction
        top_index += carve
        stack[top_index[movers], movers] = new
        top_index -= ~carve
    return _carve(came_from.reshape((num,) + padded), shape, unit)


def _carve(came_from: np.ndarray, shape: tuple[int, ...], unit: np.ndarray) -> np.ndarray:
    """Lattice DFS tree (``came_from`` on the padded lattice) → maze cells."""
    num, d = came_from.shape[0], len(shape)
    inner = came_from[(slice(None),) + tuple(slice(1, -1) for _ in range(d))]
    free = np.zeros((num,) + shape, dtype=bool)
    lattice_view = (slice(None),) + tuple(slice(1, 2 * k, 2) for k in inner.shape[1:])
    free[lattice_view] = True  # every lattice cell is reached by the DFS
    moved = np.argwhere(inner >= 0)  # [n_carved, 1 + d]: maze index, lattice coordinates
    step = unit[inner[tuple(moved.T)]]
    wall = 2 * moved[:, 1:] + 1 - step  # the cell between the lattice cell and its parent
    free[(moved[:, 0],) + tuple(wall.T)] = True
    return free


def decimate(free: np.ndarray, rate: Any, rng: Any) -> np.ndarray:
    """Free every interior cell independently with probability ``rate`` (GPPN's decimation).

    Args:
        free: ``[n, *shape]`` bool mazes (not modified).
        rate: scalar or ``[n]`` probabilities in ``[0, 1]``.
        rng: numpy Generator or integer seed.

    Returns:
        ``[n, *shape]`` bool; the border is unchanged.
    """
    rng = as_rng(rng)
    free = _as_maze_batch(free)
    try:
        rate = np.broadcast_to(np.asarray(rate, dtype=np.float64), free.shape[:1])
    except (TypeError, ValueError):
        raise ValueError(
            f"rate must be a number or one per maze [n={len(free)}], got {np.shape(rate)}"
        ) from None
    if ((rate < 0) | (rate > 1)).any() or np.isnan(rate).any():
        raise ValueError("decimation rates must be in [0, 1]")
    view = (slice(None),) + _interior(free.shape[1:])
    draws = rng.random(free[view].shape, dtype=np.float32)
    threshold = rate.astype(np.float32).reshape((-1,) + (1,) * (free.ndim - 1))
    free[view] |= draws < threshold
    return free


def gppn_mazes(
    num: int,
    size: Any,
    rng: Any,
    ndim: int | None = None,
    decimation: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """GPPN-style mazes: a depth-first maze plus decimation ``d ~ U(lo, hi)`` per maze.

    Returns:
        ``[num, *shape]`` bool, ``True`` = free, border walls.
    """
    if not isinstance(decimation, (tuple, list)) or len(decimation) != 2:
        raise TypeError(f"decimation must be a (low, high) pair, got {decimation!r}")
    low, high = (_check_fraction(v, "decimation") for v in decimation)
    if low > high:
        raise ValueError(f"decimation low {low} exceeds high {high}")
    rng = as_rng(rng)
    mazes = dfs_mazes(num, size, rng, ndim)
    return decimate(mazes, rng.uniform(low, high, size=len(mazes)), rng)


def random_gridworlds(
    num: int,
    size: Any,
    rng: Any,
    ndim: int | None = None,
    density: float = 0.3,
    border: bool = True,
) -> np.ndarray:
    """Random-obstacle grids: each cell is a wall with probability ``density``.

    Args:
        border: make the outer ring walls (the density applies to the interior).

    Returns:
        ``[num, *shape]`` bool, ``True`` = free.
    """
    num = _as_count(num)
    density = _check_fraction(density, "density")
    border = flag(border, "border")
    shape = as_shape(size, ndim)
    rng = as_rng(rng)
    allowed = np.zeros(shape, dtype=bool)
    allowed[_interior(shape) if border else ()] = True
    free = np.zeros((num,) + shape, dtype=bool)
    redo = np.arange(num)
    for _ in range(_MAX_REDRAWS):  # grids without any free cell are drawn again
        free[redo] = (rng.random((len(redo),) + shape, dtype=np.float32) >= density) & allowed
        redo = redo[~free[redo].reshape(len(redo), -1).any(1)]
        if not len(redo):
            return free
    raise ValueError(f"density {density} leaves no free cell in {shape} gridworlds")


# ----------------------------------------------------------------------------- goals


def sample_goals(free: np.ndarray, rng: Any, mode: str = "free") -> MazeBatch:
    """One goal per maze.

    Args:
        free: ``[n, *shape]`` bool mazes.
        rng: numpy Generator or integer seed.
        mode: ``"free"``: uniform over the free cells (a maze without free cells
            raises). ``"connected"``: uniform over the free cells that have a
            free axis neighbour (so at least one move, under every connectivity,
            leads into the goal; a maze without such a cell raises). ``"interior"``: GPPN's rule: uniform over interior cells
            except the DFS start ``(1, 1[, 1])``, and the goal cell is made free.

    Returns:
        :class:`MazeBatch` (the mazes are copied; ``"interior"`` may free a cell).
    """
    if mode not in GOAL_MODES:
        raise ValueError(f"goal mode must be 'free' or 'interior' or 'connected', got {mode!r}")
    rng = as_rng(rng)
    free = _as_maze_batch(free)
    num, shape = free.shape[0], free.shape[1:]
    flat = free.reshape(num, -1)
    if mode == "interior":
        inner = np.zeros(shape, dtype=bool)
        inner[_interior(shape)] = True
        inner[(1,) * len(shape)] = False
        candidates = np.flatnonzero(inner)
        if not len(candidates):
            raise ValueError(f"grids of shape {shape} have no interior cell for a goal")
        goals = candidates[rng.integers(0, len(candidates), size=num)]
        flat[np.arange(num), goals] = True
        return MazeBatch(free, goals.astype(np.int64))
    if mode == "connected":
        candidates = np.zeros_like(free)
        for axis in range(1, free.ndim):  # a free neighbour along some axis
            low = [slice(None)] * free.ndim
            high = [slice(None)] * free.ndim
            low[axis], high[axis] = slice(None, -1), slice(1, None)
            both = free[tuple(low)] & free[tuple(high)]
            candidates[tuple(low)] |= both
            candidates[tuple(high)] |= both
        flat = candidates.reshape(num, -1)
    counts = flat.sum(1)
    if (counts == 0).any():
        why = " (no free cell with a free axis neighbour)" if mode == "connected" else ""
        raise ValueError(f"maze {int(np.flatnonzero(counts == 0)[0])} has no cell for a goal{why}")
    rank = np.minimum((rng.random(num) * counts).astype(np.int64), counts - 1)
    goals = np.empty(num, dtype=np.int64)
    per = max(1, _GOAL_CHUNK_CELLS // max(flat.shape[1], 1))
    for start in range(0, num, per):  # the rank-th free cell, via a chunked running count
        running = np.cumsum(flat[start : start + per], axis=1, dtype=np.int32)
        goals[start : start + per] = (running <= rank[start : start + per, None]).sum(1)
    return MazeBatch(free, goals)


# ----------------------------------------------------------------------------- datasets


def _default_goal_mode(kind: str, ndim: int) -> str:
    if ndim == 3:  # GPPN's interior rule often isolates 3-D goals (module docstring)
        return "connected"
    return "interior" if kind == "gppn" else "free"


def generate_mazes(
    kind: str,
    num: int,
    size: Any,
    rng: Any,
    ndim: int | None = None,
    goal_mode: str | None = None,
    **options: Any,
) -> MazeBatch:
    """Mazes of a kind plus goals.

    Args:
        kind: ``"gppn"`` (options: ``decimation=(lo, hi)``) or ``"gridworld"``
            (options: ``density``, ``border``).
        goal_mode: see :func:`sample_goals`; default ``"connected"`` in 3-D, else
            ``"interior"`` for ``"gppn"`` (GPPN's rule) and ``"free"`` otherwise.
    """
    rng = as_rng(rng)
    if kind == "gppn":
        mazes = gppn_mazes(num, size, rng, ndim, **options)
    elif kind == "gridworld":
        mazes = random_gridworlds(num, size, rng, ndim, **options)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return sample_goals(mazes, rng, goal_mode or _default_goal_mode(kind, mazes.ndim - 1))


def _keys(batch: MazeBatch, unique: str) -> list[bytes]:
    """One digest per maze (``"maze"``) or per (maze, goal) pair (``"pair"``)."""
    packed = np.packbits(batch.mazes.reshape(len(batch), -1), axis=1)
    if unique == "pair":
        goal_bytes = batch.goals.astype("<i8").view(np.uint8).reshape(-1, 8)
        packed = np.concatenate([packed, goal_bytes], 1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in packed]


def as_counts(counts: Any) -> dict[str, int]:
    """``(train, valid, test)`` or a mapping with (some of) those keys → ``{split: count}``."""
    if isinstance(counts, Mapping):
        unknown = set(counts) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}; use {SPLITS}")
        values = {name: counts.get(name, 0) for name in SPLITS}
    elif isinstance(counts, (tuple, list)) and len(counts) == 3:
        values = dict(zip(SPLITS, counts))
    else:
        raise TypeError(
            f"counts must be a (train, valid, test) triple or a mapping, got {counts!r}"
        )
    return {name: _as_count(value, f"count of {name!r}") for name, value in values.items()}


def generate_splits(
    kind: str,
    size: Any,
    counts: Any = (10000, 2000, 2000),
    seed: Any = 0,
    ndim: int | None = None,
    unique: str | None = None,
    goal_mode: str | None = None,
    max_stalls: int = 20,
    **options: Any,
) -> dict[str, MazeBatch]:
    """Train / valid / test mazes without duplicates within or across splits.

    Mazes are drawn in rounds from one seeded generator; duplicates (of an
    accepted key or within the round) are dropped and new rounds top up the
    shortfall. The accepted mazes fill train, then valid, then test.

    Args:
        kind: ``"gppn"`` or ``"gridworld"`` (see :func:`generate_mazes`).
        size: int or tuple, every side ``>= 3``.
        counts: ``(train, valid, test)`` or a mapping with those keys.
        seed: integer seed or numpy Generator.
        ndim: 2 or 3 (default: from ``size``, 2 for an int).
        unique: ``"pair"``: no (maze, goal) pair twice; ``"maze"``: no maze twice
            (GPPN's rule). Default ``"maze"`` for ``"gppn"``, ``"pair"`` otherwise.
        goal_mode: see :func:`sample_goals`.
        max_stalls: give up (``ValueError``) after this many rounds in a row
            that add nothing new (too few distinct mazes exist).
        **options: generator options (``decimation``; ``density``, ``border``).

    Returns:
        dict ``{"train", "valid", "test"} -> MazeBatch``.

    Raises:
        ValueError: counts whose mazes cannot fit in this machine's memory (one byte a
            cell and eight a goal: a lower bound), refused before anything is drawn.
    """
    wanted = as_counts(counts)
    shape = as_shape(size, ndim)
    total = sum(wanted.values())
    check_memory(total * (int(np.prod(shape)) + 8),
                 f"counts={tuple(wanted.values())}: {total:,} mazes of {'x'.join(map(str, shape))} would",
                 "reduce counts or size")
    unique = unique or ("maze" if kind == "gppn" else "pair")
    if unique not in ("maze", "pair"):
        raise ValueError(f"unique must be 'maze' or 'pair', got {unique!r}")
    rng = as_rng(seed)
    seen: set[bytes] = set()
    parts: list[MazeBatch] = []
    have, stalls = 0, 0
    while have < total:
        batch = generate_mazes(kind, total - have, size, rng, ndim, goal_mode, **options)
        keep = np.zeros(len(batch), dtype=bool)
        for i, key in enumerate(_keys(batch, unique)):
            if key not in seen:
                seen.add(key)
                keep[i] = True
        stalls = 0 if keep.any() else stalls + 1
        if stalls >= max_stalls:
            raise ValueError(
                f"found only {have} distinct {kind} mazes of size {batch.shape} "
                f"(unique={unique!r}); {total} were requested"
            )
        parts.append(batch.select(keep))
        have += int(keep.sum())
    if not parts:  # every count is zero
        parts.append(generate_mazes(kind, 0, size, rng, ndim, goal_mode, **options))
    everything = MazeBatch.concatenate(parts)
    out, start = {}, 0
    for name in SPLITS:
        out[name] = everything.select(np.arange(start, start + wanted[name]))
        start += wanted[name]
    return out
