"""Terrain datasets: rover planning graphs with exact least-cost expert labels.

:class:`TerrainDataset` cuts ``size × size`` windows out of matplotlib's
Jacksboro DEM (:func:`gvin.jacksboro_dem`) or draws seeded synthetic maps
(:func:`gvin.random_terrain`), turns each into a :func:`gvin.from_terrain`
graph with one goal, and labels it (the labels of :class:`gvin.transforms.AddExpertLabels`):

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

A split's windows and goals are drawn in order from one generator seeded with
``(seed, split)`` (a :attr:`~gvin.datasets.base.PlanningDataset.sequential`
world), so each split's items depend only on ``(source, size, seed, split)``
and the graph / goal settings, not on the other splits' counts; with a larger
count a split's first items stay the same.

Memory: items are stored compactly (the goal, the window's corner, the random
map's heights, ``dist`` as float32 and ``optimal`` as packed bits) and each
graph is rebuilt on access with :func:`gvin.from_terrain` (about 5 KB per item
at ``size=32`` from the DEM, 13 KB from random maps). Goals are picked on
:func:`gvin.graphs.terrain.terrain_moves`' arrays (the cells that reach a goal
are its connected component) and only the kept goal is labelled, in numpy on
the same arrays: exactly the labels of :func:`label_terrain`, without a graph.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components, dijkstra
from torch_geometric.data import Data

from gvin._checks import positive_int
from gvin.datasets.base import PlanningDataset, Record, renamed_keywords
from gvin.datasets.generators import SPLITS
from gvin.graphs.terrain import from_terrain, jacksboro_dem, random_terrain, terrain_moves
from gvin.planners.shortest_paths import reverse_move_matrix, shortest_path_distances
from gvin.transforms import label_graph

__all__ = ["TerrainDataset", "SOURCES", "BANDS", "start_goal_pairs", "label_terrain"]

SOURCES = ("jacksboro", "random")
BANDS = {"train": (0.0, 0.6), "valid": (0.6, 0.8), "test": (0.8, 1.0)}
"""Fractions of the DEM's columns each split's windows are cut from (``source="jacksboro"``)."""

RANDOM_CELL_SIZE = 5.0
"""Default metres per cell of ``source="random"`` maps (``random_terrain``'s default relief is 10 m;
at 5 m per cell about 60 % of the moves are under 20°)."""


label_terrain = label_graph
"""The expert labels ``dist`` and ``optimal`` (:func:`gvin.transforms.label_graph`)."""


def _move_matrix(arrays: dict):
    costs = arrays["weight"].astype(np.float32).astype(np.float64)  # as data.edge_weight is read
    return reverse_move_matrix(arrays["edge_index"], costs, arrays["move"], arrays["finite"].size)


def _distances(matrix, goal: int) -> np.ndarray:
    """``[N]`` float64 least costs to ``goal`` (:func:`gvin.shortest_path_distances` on the arrays)."""
    return np.asarray(dijkstra(matrix, directed=True, indices=[goal], min_only=True), dtype=np.float64)


def _optimal(arrays: dict, dist: np.ndarray, goal: int, rtol: float = 1e-9) -> np.ndarray:
    """:func:`gvin.optimal_edges` (ties within ``rtol`` of ``dist[s]`` kept) in numpy."""
    src, dst = arrays["edge_index"]
    costs = arrays["weight"].astype(np.float32).astype(np.float64)
    start = dist[src]
    with np.errstate(invalid="ignore"):
        close = np.abs(start - (costs + dist[dst])) <= rtol * np.abs(start)
    return arrays["move"] & (src != goal) & np.isfinite(start) & close


def _band(split: str, width: int) -> tuple[int, int]:
    low, high = BANDS[split]
    return int(round(low * width)), int(round(high * width))


class TerrainDataset(PlanningDataset):
    """Terrain planning graphs with one goal each and exact expert labels (built in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        size: window side in cells (``>= 3``; for ``"jacksboro"`` at most the
            narrowest split band, 80 columns, and the DEM height, 344 rows).
            ``patch=`` is a deprecated name of it.
        counts: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built (``count=``: deprecated name).
        seed: non-negative int: windows, maps and goals (``data_seed=``: the same).
        connectivity: 4 or 8 moves.
        transform: applied to each item on access.
        root: optional cache folder (:class:`~gvin.datasets.base.PlanningDataset`).
        source: ``"jacksboro"`` (windows of matplotlib's sample DEM) or
            ``"random"`` (one :func:`gvin.random_terrain` map per item);
            ``terrain_source=`` (the world spec's key) is the same.
        max_slope_deg: steepest move, passed to :func:`gvin.from_terrain`
            (``max_slope=``, the world spec's key, is the same).
        cell_size: metres per cell (number or ``(dy, dx)``); ``None``: the DEM's
            (about 92.8 m × 74.5 m) for ``"jacksboro"``, ``RANDOM_CELL_SIZE``
            (5 m) for ``"random"``.
        min_reach: fraction in ``(0, 1]`` of the window's finite cells that
            must reach the goal (default 0.5).
        slope_cost: passed to :func:`gvin.from_terrain`.
        terrain_kwargs: extra :func:`gvin.random_terrain` options
            (``roughness``, ``relief``, ``craters``, ``ridges``) for ``"random"``.
        goal_tries: goals tried per window before drawing another window.
        max_windows: windows tried per item before giving up (``RuntimeError``).

    Items are :func:`gvin.from_terrain` graphs plus ``dist`` ``[N]``, ``optimal``
    ``[E]`` and ``window`` (``[1, 2]`` int64: the window's top-left ``(row, col)``
    in the DEM; ``(0, 0)`` for random maps).

    Raises:
        ValueError: unknown split or source, a bad ``size`` (``< 3`` or larger
            than the DEM band), negative counts, bad ``seed``, ``min_reach`` or
            other settings.
        FileNotFoundError: ``"jacksboro"`` without matplotlib's sample data.
        RuntimeError: no window with a goal reaching ``min_reach`` found.
    """

    salt = 0x7E44A1
    sequential = True

    @renamed_keywords(deprecated={"patch": "size", "count": "counts"},
                      synonyms={"data_seed": "seed", "terrain_source": "source", "max_slope": "max_slope_deg"})
    def __init__(
        self,
        split: str = "train",
        *,
        size: int = 32,
        counts: Any = (200, 50, 50),
        seed: int = 0,
        connectivity: int = 8,
        transform: Callable[[Data], Data] | None = None,
        root: Any = None,
        source: str = "jacksboro",
        max_slope_deg: float = 20.0,
        cell_size: Any = None,
        min_reach: float = 0.5,
        slope_cost: float = 0.0,
        terrain_kwargs: dict | None = None,
        goal_tries: int = 20,
        max_windows: int = 200,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 3:
            raise ValueError(f"size must be an int >= 3 (cells per side), got {size!r}")
        if isinstance(min_reach, bool) or not isinstance(min_reach, numbers.Real) \
                or not 0.0 < float(min_reach) <= 1.0:
            raise ValueError(f"min_reach must be a fraction in (0, 1], got {min_reach!r}")
        if terrain_kwargs is not None and not isinstance(terrain_kwargs, dict):
            raise TypeError(f"terrain_kwargs must be a dict, got {type(terrain_kwargs).__name__}")
        super().__init__(split, size=int(size), counts=counts, seed=seed, connectivity=connectivity,
                         transform=transform, root=root, source=source, max_slope_deg=max_slope_deg,
                         cell_size=cell_size, min_reach=float(min_reach), slope_cost=slope_cost,
                         terrain_kwargs=dict(terrain_kwargs or {}), goal_tries=positive_int(goal_tries, "goal_tries"),
                         max_windows=positive_int(max_windows, "max_windows"))

    @property
    def patch(self) -> int:
        """The window side: :attr:`size` (its former name)."""
        return self.size

    def setup(self) -> None:
        if self.source == "jacksboro":
            elevation, dem_cell = jacksboro_dem()
            self.cell_size = dem_cell if self.cell_size is None else self.cell_size
            height, width = elevation.shape
            low, high = _band(self.split, width)
            if self.size > height or self.size > high - low:
                raise ValueError(
                    f"size {self.size} is larger than the DEM band of split {self.split!r} "
                    f"({height} rows × {high - low} columns [{low}, {high}) of the {height}×{width} DEM)"
                )
            self._elevation, self._band = elevation, (low, high)
        else:
            self.cell_size = RANDOM_CELL_SIZE if self.cell_size is None else self.cell_size
            self._elevation, self._band = None, None
        # Validate the graph settings once (a clear error before any search).
        from_terrain(np.zeros((3, 3)), self.cell_size, max_slope_deg=self.max_slope_deg,
                     connectivity=self.connectivity, slope_cost=self.slope_cost)
        if self.terrain_kwargs:
            random_terrain((3, 3), 0, **self.terrain_kwargs)

    # -- making
    def _window(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        if self.source == "random":
            child = np.random.default_rng([self.seed, SPLITS.index(self.split), index, int(rng.integers(2**31))])
            return random_terrain((self.size, self.size), child, **self.terrain_kwargs), (0, 0)
        low, high = self._band
        row = int(rng.integers(0, self._elevation.shape[0] - self.size + 1))
        col = int(rng.integers(low, high - self.size + 1))
        return self._elevation[row:row + self.size, col:col + self.size], (row, col)

    def _graph(self, heights: np.ndarray, goal: int) -> Data:
        return from_terrain(heights, self.cell_size, goal, max_slope_deg=self.max_slope_deg,
                            connectivity=self.connectivity, slope_cost=self.slope_cost)

    def _pick_goal(self, heights: np.ndarray, rng: np.random.Generator) -> dict | None:
        """A goal that ``min_reach`` of the window's finite cells reach, labelled:
        ``{"goal", "dist" [N] float64, "optimal" [E]}`` (``None``: none in ``goal_tries``)."""
        arrays = terrain_moves(heights, self.cell_size, max_slope_deg=self.max_slope_deg,
                               connectivity=self.connectivity, slope_cost=self.slope_cost)
        if not arrays["move"].any():
            return None
        finite = np.flatnonzero(arrays["finite"])
        # Moves are symmetric (same stencil both ways, slope from |rise|), so the cells that reach a
        # goal are its connected component.
        matrix = _move_matrix(arrays)
        _, component = connected_components(matrix, directed=False)
        reach = np.bincount(component)[component]
        needed = math.ceil(self.min_reach * len(finite))
        for _ in range(self.goal_tries):
            goal = int(rng.choice(finite))
            if reach[goal] >= max(needed, 2):  # the goal and at least one cell that moves to it
                dist = _distances(matrix, goal)
                return {"goal": goal, "dist": dist, "optimal": _optimal(arrays, dist, goal)}
        return None

    def make_record(self, rng: np.random.Generator, index: int) -> Record:
        """``{"goal", "corner" [2], "dist" [N] float32, "optimal" (packed bits), "heights" [S, S] (random maps)}``."""
        for _ in range(self.max_windows):
            heights, corner = self._window(rng, index)
            found = self._pick_goal(heights, rng)
            if found is not None:
                break
        else:
            raise RuntimeError(
                f"no {self.size}×{self.size} window of {self.source!r} with a goal that "
                f"{self.min_reach:.0%} of the finite cells reach in {self.max_windows} windows "
                f"(max_slope_deg={self.max_slope_deg}); raise max_slope_deg or lower min_reach"
            )
        record = {"goal": found["goal"], "corner": torch.tensor(corner, dtype=torch.int64),
                  "dist": torch.from_numpy(found["dist"].astype(np.float32)),  # as label_terrain rounds it
                  "optimal": torch.from_numpy(np.packbits(found["optimal"]))}
        if self.source == "random":
            record["heights"] = torch.from_numpy(heights)
        return record

    def from_record(self, record: Record, index: int) -> Data:
        if self.source == "random":
            heights = record["heights"].numpy()
        else:
            row, col = record["corner"].tolist()
            heights = self._elevation[row:row + self.size, col:col + self.size]
        data = self._graph(heights, int(record["goal"]))
        num_edges = data.edge_index.shape[1]
        data.optimal = torch.from_numpy(np.unpackbits(record["optimal"].numpy(), count=num_edges).astype(bool))
        data.dist = record["dist"].clone()
        data.window = record["corner"].clone()[None]
        return data

    def describe(self) -> str:
        return f"source={self.source!r}, max_slope_deg={self.max_slope_deg}, seed={self.seed}"


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
