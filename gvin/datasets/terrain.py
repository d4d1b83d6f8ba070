"""Terrain datasets: rover planning graphs with exact least-cost expert labels.

:class:`TerrainDataset` cuts ``patch × patch`` windows out of matplotlib's
Jacksboro DEM (:func:`gvin.jacksboro_dem`) or draws seeded synthetic maps
(:func:`gvin.random_terrain`), turns each into a :func:`gvin.from_terrain`
graph with one goal, and labels it:

* ``dist`` ``[N]`` float32: least-cost (3-D length, ``data.edge_weight``)
  distance to the goal from :func:`gvin.shortest_path_distances`, ``inf``
  where the goal cannot be reached;
* ``optimal`` ``[E]`` bool: :func:`gvin.optimal_edges` computed from the
  float64 distances (ties within ``rtol=1e-9`` kept), before ``dist`` is
  rounded to float32.

Goals: a goal is drawn uniformly among the window's finite cells and kept only
if at least ``min_reach`` (default 50 %) of the window's finite cells can
reach it along moves (``dist`` finite, the goal itself included); otherwise
another goal is drawn (up to ``goal_tries`` per window) and then another
window.

Splits (``"train"``, ``"valid"``, ``"test"``) are disjoint and deterministic:

* ``source="jacksboro"``: the DEM's columns are cut into three disjoint bands,
  the first 60 % for train, the next 20 % for valid, the last 20 % for test
  (``[0, 242)``, ``[242, 322)``, ``[322, 403)`` on the 403-column DEM). Every
  window of a split lies inside its band, so no cell is shared between
  splits; windows *within* a split are drawn independently and may overlap
  each other (with different goals).
* ``source="random"``: every item is its own ``random_terrain`` map, seeded
  from ``(seed, split, index)``: the splits hold different random maps
  (independent draws, no shared map).

Each split's items depend only on ``(source, patch, seed, split)`` and the
graph / goal settings, not on the other splits' counts; with a larger count a
split's first items stay the same.

Memory: items are stored compactly (the goal, the window's corner, the random
map's heights, ``dist`` as float32 and ``optimal`` as packed bits) and each
graph is rebuilt on access with :func:`gvin.from_terrain` (about 5 KB per item
at ``patch=32`` from the DEM, 13 KB from random maps). Goals are picked and
labelled on :func:`gvin.graphs.terrain.terrain_moves`' arrays with one
Dijkstra per tried goal, which gives exactly the labels of :func:`label_terrain`.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from gvin._checks import item_index
from gvin.datasets.generators import SPLITS, as_counts
from gvin.datasets.labels import label_graph
from scipy.sparse.csgraph import connected_components, dijkstra

from gvin.graphs.terrain import from_terrain, jacksboro_dem, random_terrain, terrain_moves
from gvin.planners.shortest_paths import _reverse_move_matrix, shortest_path_distances

__all__ = ["TerrainDataset", "SOURCES", "BANDS", "start_goal_pairs", "label_terrain"]

SOURCES = ("jacksboro", "random")
BANDS = {"train": (0.0, 0.6), "valid": (0.6, 0.8), "test": (0.8, 1.0)}
"""Fractions of the DEM's columns each split's windows are cut from (``source="jacksboro"``)."""

RANDOM_CELL_SIZE = 5.0
"""Default metres per cell of ``source="random"`` maps (``random_terrain``'s default relief is 10 m;
at 5 m per cell about 60 % of the moves are under 20°)."""


label_terrain = label_graph
"""The expert labels ``dist`` and ``optimal`` (:func:`gvin.datasets.labels.label_graph`)."""


def _move_matrix(arrays: dict):
    costs = arrays["weight"].astype(np.float32).astype(np.float64)  # as data.edge_weight is read
    return _reverse_move_matrix(arrays["edge_index"], costs, arrays["move"], arrays["finite"].size)


def _distances(arrays: dict, matrix, goal: int) -> np.ndarray:
    return np.asarray(dijkstra(matrix, directed=True, indices=[goal], min_only=True), dtype=np.float64)


def _optimal(arrays: dict, dist: np.ndarray, goal: int, rtol: float = 1e-9) -> np.ndarray:
    """:func:`gvin.optimal_edges` (ties within ``rtol`` of ``dist[s]`` kept) in numpy."""
    src, dst = arrays["edge_index"]
    costs = arrays["weight"].astype(np.float32).astype(np.float64)
    start = dist[src]
    with np.errstate(invalid="ignore"):
        close = np.abs(start - (costs + dist[dst])) <= rtol * np.abs(start)
    return arrays["move"] & (src != goal) & np.isfinite(start) & close


def _split_seed(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), SPLITS.index(split), 0x7E44A1])


def _band(split: str, width: int) -> tuple[int, int]:
    low, high = BANDS[split]
    return int(round(low * width)), int(round(high * width))


class TerrainDataset(torch.utils.data.Dataset):
    """Terrain planning graphs with one goal each and exact expert labels (built in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        source: ``"jacksboro"`` (windows of matplotlib's sample DEM) or
            ``"random"`` (one :func:`gvin.random_terrain` map per item).
        patch: window side in cells (``>= 3``; for ``"jacksboro"`` at most the
            narrowest split band, 80 columns, and the DEM height, 344 rows).
        count: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built.
        max_slope_deg: steepest move, passed to :func:`gvin.from_terrain`.
        cell_size: metres per cell (number or ``(dy, dx)``); ``None``: the DEM's
            (about 92.8 m × 74.5 m) for ``"jacksboro"``, ``RANDOM_CELL_SIZE``
            (5 m) for ``"random"``.
        seed: non-negative int: windows, maps and goals.
        connectivity: 4 or 8 moves.
        min_reach: fraction in ``(0, 1]`` of the window's finite cells that
            must reach the goal (default 0.5).
        slope_cost: passed to :func:`gvin.from_terrain`.
        terrain_kwargs: extra :func:`gvin.random_terrain` options
            (``roughness``, ``relief``, ``craters``, ``ridges``) for ``"random"``.
        goal_tries: goals tried per window before drawing another window.
        max_windows: windows tried per item before giving up (``RuntimeError``).
        transform: applied to each item on access.

    Items are :func:`gvin.from_terrain` graphs plus ``dist``, ``optimal`` and
    ``window`` (``[1, 2]`` int64: the window's top-left ``(row, col)`` in the DEM;
    ``(0, 0)`` for random maps).

    Raises:
        ValueError: unknown split or source, a bad ``patch`` (``< 3`` or larger
            than the DEM band), negative counts, bad ``seed``, ``min_reach`` or
            other settings.
        FileNotFoundError: ``"jacksboro"`` without matplotlib's sample data.
        RuntimeError: no window with a goal reaching ``min_reach`` found.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        source: str = "jacksboro",
        patch: int = 32,
        count: Any = (200, 50, 50),
        max_slope_deg: float = 20.0,
        cell_size: Any = None,
        seed: int = 0,
        connectivity: int = 8,
        min_reach: float = 0.5,
        slope_cost: float = 0.0,
        terrain_kwargs: dict | None = None,
        goal_tries: int = 20,
        max_windows: int = 200,
        transform=None,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if isinstance(patch, bool) or not isinstance(patch, numbers.Integral) or patch < 3:
            raise ValueError(f"patch must be an int >= 3 (cells per side), got {patch!r}")
        counts = as_counts(count)
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"count[{name!r}] must be a non-negative int, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if isinstance(min_reach, bool) or not isinstance(min_reach, numbers.Real) \
                or not 0.0 < float(min_reach) <= 1.0:
            raise ValueError(f"min_reach must be a fraction in (0, 1], got {min_reach!r}")
        for name, value in (("goal_tries", goal_tries), ("max_windows", max_windows)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if terrain_kwargs is not None and not isinstance(terrain_kwargs, dict):
            raise TypeError(f"terrain_kwargs must be a dict, got {type(terrain_kwargs).__name__}")
        self.split, self.source, self.patch = split, source, int(patch)
        self.counts = tuple(int(v) for v in counts.values())
        self.max_slope_deg, self.seed, self.connectivity = max_slope_deg, int(seed), connectivity
        self.min_reach, self.slope_cost = float(min_reach), slope_cost
        self.terrain_kwargs = dict(terrain_kwargs or {})
        self.goal_tries, self.max_windows = int(goal_tries), int(max_windows)
        self.transform = transform

        if source == "jacksboro":
            elevation, dem_cell = jacksboro_dem()
            self.cell_size = dem_cell if cell_size is None else cell_size
            height, width = elevation.shape
            low, high = _band(split, width)
            if self.patch > height or self.patch > high - low:
                raise ValueError(
                    f"patch {self.patch} is larger than the DEM band of split {split!r} "
                    f"({height} rows × {high - low} columns [{low}, {high}) of the {height}×{width} DEM)"
                )
            self._elevation, self._band = elevation, (low, high)
        else:
            self.cell_size = RANDOM_CELL_SIZE if cell_size is None else cell_size
            self._elevation, self._band = None, None
        # Validate the graph settings once (a clear error before any search).
        from_terrain(np.zeros((3, 3)), self.cell_size, max_slope_deg=max_slope_deg,
                     connectivity=connectivity, slope_cost=slope_cost)
        if self.terrain_kwargs:
            random_terrain((3, 3), 0, **self.terrain_kwargs)
        self._build(counts[split])

    # -- building
    def _window(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        if self.source == "random":
            child = np.random.default_rng([self.seed, SPLITS.index(self.split), index, int(rng.integers(2**31))])
            return random_terrain((self.patch, self.patch), child, **self.terrain_kwargs), (0, 0)
        low, high = self._band
        row = int(rng.integers(0, self._elevation.shape[0] - self.patch + 1))
        col = int(rng.integers(low, high - self.patch + 1))
        return self._elevation[row:row + self.patch, col:col + self.patch], (row, col)

    def _graph(self, heights: np.ndarray, goal) -> Data:
        return from_terrain(heights, self.cell_size, goal, max_slope_deg=self.max_slope_deg,
                            connectivity=self.connectivity, slope_cost=self.slope_cost)

    def _build(self, count: int) -> None:
        rng = _split_seed(self.seed, self.split)
        cells = self.patch * self.patch
        self._goals = np.zeros(count, dtype=np.int64)
        self._corners = np.zeros((count, 2), dtype=np.int64)
        self._heights = np.zeros((count if self.source == "random" else 0, self.patch, self.patch))
        self._dist = np.zeros((count, cells), dtype=np.float32)
        self._optimal: list[np.ndarray] = []
        for index in range(count):
            for _ in range(self.max_windows):
                heights, corner = self._window(rng, index)
                found = self._pick_goal(heights, rng)
                if found is not None:
                    break
            else:
                raise RuntimeError(
                    f"no {self.patch}×{self.patch} window of {self.source!r} with a goal that "
                    f"{self.min_reach:.0%} of the finite cells reach in {self.max_windows} windows "
                    f"(max_slope_deg={self.max_slope_deg}); raise max_slope_deg or lower min_reach"
                )
            goal, dist, optimal = found
            self._goals[index], self._corners[index] = goal, corner
            if self.source == "random":
                self._heights[index] = heights
            self._dist[index] = dist  # float32, as label_terrain stores it
            self._optimal.append(np.packbits(optimal))

    def _pick_goal(self, heights: np.ndarray, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray] | None:
        """``(goal, dist [N] float64, optimal [E])`` of a goal that ``min_reach`` of the window reaches."""
        arrays = terrain_moves(heights, self.cell_size, max_slope_deg=self.max_slope_deg,
                               connectivity=self.connectivity, slope_cost=self.slope_cost)
        if not arrays["move"].any():
            return None
        finite = np.flatnonzero(arrays["finite"])
        matrix = _move_matrix(arrays)
        # Moves are symmetric (same stencil both ways, slope from |rise|), so the cells that reach a
        # goal are its connected component: one labelling per window, one Dijkstra for the kept goal.
        _, component = connected_components(matrix, directed=False)
        reach = np.bincount(component)[component]
        needed = math.ceil(self.min_reach * len(finite))
        for _ in range(self.goal_tries):
            goal = int(rng.choice(finite))
            if reach[goal] >= max(needed, 2):  # the goal and at least one cell that moves to it
                dist = _distances(arrays, matrix, goal)
                return goal, dist, _optimal(arrays, dist, goal)
        return None

    def _heights_of(self, index: int) -> np.ndarray:
        if self.source == "random":
            return self._heights[index]
        row, col = self._corners[index].tolist()
        return self._elevation[row:row + self.patch, col:col + self.patch]

    # -- dataset interface
    def __len__(self) -> int:
        return len(self._goals)

    def __getitem__(self, index: int) -> Data:
        index = item_index(index, len(self))
        data = self._graph(self._heights_of(index), int(self._goals[index]))
        num_edges = data.edge_index.shape[1]
        data.optimal = torch.from_numpy(np.unpackbits(self._optimal[index], count=num_edges).astype(bool))
        data.dist = torch.from_numpy(self._dist[index].copy())
        data.window = torch.from_numpy(self._corners[index].copy())[None]
        return self.transform(data) if self.transform is not None else data

    def __iter__(self) -> Iterator[Data]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (f"TerrainDataset({self.split!r}, source={self.source!r}, patch={self.patch}, "
                f"n={len(self)}, max_slope_deg={self.max_slope_deg}, seed={self.seed})")


def start_goal_pairs(data: Data, count: int, rng=None, *, tries: int = 100) -> torch.Tensor:
    """Random ``(start, goal)`` node pairs of a planning graph where the start reaches the goal.

    Each pair draws a goal uniformly among the nodes some move enters, then a
    start uniformly among the other nodes with a finite
    :func:`gvin.shortest_path_distances` to it (``data.edge_weight`` costs);
    a goal nothing reaches is redrawn (up to ``tries`` times per pair).

    Args:
        data: one planning graph (its ``goal`` is ignored).
        count: number of pairs (``>= 0``).
        rng: ``None``, a non-negative int seed or a ``numpy.random.Generator``.

    Returns:
        ``[count, 2]`` int64 tensor of ``(start, goal)`` node indices.

    Raises:
        ValueError: bad ``count`` / ``tries``, or no reachable pair found.
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if isinstance(tries, bool) or not isinstance(tries, numbers.Integral) or tries < 1:
        raise ValueError(f"tries must be a positive int, got {tries!r}")
    if isinstance(rng, np.random.Generator):
        gen = rng
    elif rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0):
        gen = np.random.default_rng(rng)
    else:
        raise TypeError(f"rng must be None, a non-negative int seed or a numpy Generator, got {rng!r}")
    edge_index = data.edge_index.cpu().numpy()
    move = getattr(data, "move", None)
    move = (edge_index[0] != edge_index[1]) if move is None else move.cpu().numpy().astype(bool)
    entered = np.unique(edge_index[1][move & (edge_index[0] != edge_index[1])])
    if len(entered) == 0:
        raise ValueError("the graph has no move between two different nodes: no start can reach a goal")
    pairs = np.zeros((int(count), 2), dtype=np.int64)
    for row in range(int(count)):
        for _ in range(tries):
            goal = int(gen.choice(entered))
            dist = shortest_path_distances(data, goal=goal).cpu().numpy()
            starts = np.flatnonzero(np.isfinite(dist) & (np.arange(len(dist)) != goal))
            if len(starts):
                pairs[row] = (int(gen.choice(starts)), goal)
                break
        else:
            raise ValueError(f"no start reaching a random goal in {tries} tries")
    return torch.from_numpy(pairs)
