"""A dataset of probabilistic-roadmap planning tasks in random 2-D workspaces.

Each item is one seeded workspace with :func:`gvin.random_obstacles` circles and
boxes, a :func:`gvin.probabilistic_roadmap` of ``num_samples`` collision-free
samples joined to their ``k`` nearest neighbours (every link that touches an
obstacle removed), one goal node and the exact expert labels:

* ``x`` ``[N, 2]`` float32: free flag (every roadmap node is free: 1) and goal
  flag, the two input channels of the grid worlds; nothing else, so no label
  leaks into the input;
* ``edge_index`` ``[2, E]`` (both directions of every link, sorted by source
  then target), ``move`` ``[E]`` (all ``True``), ``goal`` ``[N]`` bool,
  ``pos`` ``[N, 2]`` workspace coordinates;
* ``edge_weight`` ``[E]`` float32: the Euclidean length of each link (the move
  cost, in workspace units);
* ``edge_attr`` ``[E, 3]`` float32: ``(dx, dy, length) / spacing``, the link's
  offset ``pos[t] - pos[s]`` and length in units of the sample spacing
  ``sqrt(area / num_samples)``, so a geometric planner
  (``DTVIN(edge_dim=3)``) reads features of order 1 whatever the workspace;
* ``dist`` ``[N]`` float32: least-cost distance to the goal
  (:func:`gvin.shortest_path_distances` over ``edge_weight``), ``inf`` where
  the goal cannot be reached;
* ``optimal`` ``[E]`` bool: :func:`gvin.optimal_edges` of the float64
  distances (ties kept), computed before ``dist`` is rounded to float32;
* ``obstacles`` ``[1, K, 5]`` float64 (``K = num_obstacles[1]``): one row per
  obstacle, ``(0, cx, cy, r, 0)`` for a circle, ``(1, x_min, y_min, x_max,
  y_max)`` for a box, padding rows ``-1`` (:meth:`RoadmapDataset.obstacles`
  gives them back as objects).

**Goals.** The goal is drawn uniformly among the nodes of the roadmap's largest
connected component, and the task is kept only if that component holds at
least ``min_reach`` of the nodes (default half): most nodes reach the goal.
Otherwise the workspace is drawn again (up to ``max_tries`` times).

**Splits.** Every item is seeded from ``(seed, split, index)``: the splits are
independent draws, a split's items do not depend on the other splits' counts,
and a larger count keeps a split's first items.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterator

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch_geometric.data import Data

from gvin._checks import count_range, item_index, positive_int
from gvin.datasets.generators import SPLITS, as_counts
from gvin.datasets.labels import label_graph
from gvin.graphs.cspace import WORKSPACE, Box, Circle, random_obstacles, workspace_occupancy
from gvin.graphs.roadmap import probabilistic_roadmap

__all__ = ["RoadmapDataset", "EDGE_DIM", "label_roadmap"]

EDGE_DIM = 3
"""Width of a roadmap item's ``edge_attr``: offset ``(dx, dy)`` and length."""

_SALT = 0x40AD3A9


label_roadmap = label_graph
"""The expert labels ``dist`` and ``optimal`` (:func:`gvin.datasets.labels.label_graph`)."""


def largest_component(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    """``[M]`` the nodes of the largest connected component of a graph (links taken as undirected)."""
    ones = np.ones(edge_index.shape[1], dtype=np.int8)
    graph = coo_matrix((ones, (edge_index[0], edge_index[1])), shape=(num_nodes, num_nodes))
    _, labels = connected_components(graph, directed=False)
    return np.flatnonzero(labels == np.bincount(labels).argmax())


def _obstacle_rows(obstacles: list, width: int) -> np.ndarray:
    """``[width, 5]`` float64 rows of the obstacles (``-1`` padding)."""
    rows = np.full((width, 5), -1.0)
    for row, obstacle in enumerate(obstacles):
        if isinstance(obstacle, Circle):
            rows[row] = (0.0, *obstacle.center, obstacle.radius, 0.0)
        else:
            rows[row] = (1.0, *obstacle.min_xy, *obstacle.max_xy)
    return rows


class RoadmapDataset(torch.utils.data.Dataset):
    """Probabilistic-roadmap planning tasks with one goal each and exact expert labels (built in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        num_samples: roadmap nodes ``N`` per task (``>= 3``).
        count: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built.
        seed: non-negative int.
        k: nearest neighbours each sample links to (``>= 1``; links are
            symmetrised, so a node may have more).
        num_obstacles: ``(low, high)``: each task draws its obstacle count
            uniformly in ``low..high`` (inclusive; default ``(3, 8)``).
        workspace: ``(x_min, y_min, x_max, y_max)`` (default ``(-2, -2, 2, 2)``).
        min_reach: fraction in ``(0, 1]`` of the nodes that the goal's
            component must hold (default 0.5).
        max_tries: workspaces drawn per item before giving up (``RuntimeError``).
        transform: applied to each item on access.

    Items: see the module documentation (``x [N, 2]``, ``edge_attr [E, 3]``,
    ``edge_weight``, ``dist``, ``optimal``, ``obstacles`` ...).

    Raises:
        ValueError: unknown split, bad num_samples / count / seed / k /
            num_obstacles / workspace / min_reach / max_tries.
        RuntimeError: no workspace whose roadmap keeps ``min_reach`` of its
            nodes connected in ``max_tries`` draws.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        num_samples: int = 100,
        count: Any = (2000, 200, 500),
        seed: int = 0,
        k: int = 8,
        num_obstacles: tuple[int, int] = (3, 8),
        workspace: Any = WORKSPACE,
        min_reach: float = 0.5,
        max_tries: int = 100,
        transform=None,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.num_samples = positive_int(num_samples, "num_samples", 3)
        counts = as_counts(count)
        self.seed = positive_int(seed, "seed", 0)
        self.k = positive_int(k, "k", 1)
        low, high = count_range(num_obstacles, "num_obstacles")
        self.num_obstacles = (low, high)
        workspace_occupancy([], 1, workspace)  # validates the extent (ValueError naming it)
        self.workspace = tuple(float(v) for v in workspace)
        if isinstance(min_reach, bool) or not isinstance(min_reach, numbers.Real) \
                or not 0.0 < float(min_reach) <= 1.0:
            raise ValueError(f"min_reach must be a fraction in (0, 1], got {min_reach!r}")
        self.min_reach = float(min_reach)
        self.max_tries = positive_int(max_tries, "max_tries", 1)
        self.split, self.counts, self.transform = split, tuple(counts.values()), transform
        x0, y0, x1, y1 = self.workspace
        self.spacing = math.sqrt((x1 - x0) * (y1 - y0) / self.num_samples)
        """Typical distance between neighbouring samples: the unit of ``edge_attr``."""
        self._items = [self._task(index) for index in range(counts[split])]

    # -- building
    def _task(self, index: int) -> Data:
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index, _SALT])
        low, high = self.num_obstacles
        needed = max(2, math.ceil(self.min_reach * self.num_samples))
        for _ in range(self.max_tries):
            obstacles = random_obstacles(rng, int(rng.integers(low, high + 1)), workspace=self.workspace,
                                         keep_clear=None)
            try:
                data = probabilistic_roadmap(obstacles, self.num_samples, k=self.k, workspace=self.workspace, rng=rng)
            except ValueError:  # no free space, or no collision-free link: draw another workspace
                continue
            component = largest_component(data.edge_index.numpy(), self.num_samples)
            if len(component) >= needed:
                return self._labelled(data, int(rng.choice(component)), obstacles)
        raise RuntimeError(f"item {index}: no workspace in {self.max_tries} draws has a roadmap with "
                           f"{self.min_reach:.0%} of its {self.num_samples} nodes connected; raise num_samples "
                           "or k, or lower num_obstacles or min_reach")

    def _labelled(self, data: Data, goal: int, obstacles: list) -> Data:
        """The roadmap with its goal, planner inputs and expert labels."""
        goal_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        goal_mask[goal] = True
        data.goal = goal_mask
        data.x = torch.stack([torch.ones(data.num_nodes), goal_mask.float()], dim=1)
        length = data.edge_weight[:, None]
        data.edge_attr = torch.cat([data.edge_attr, length], dim=1) / self.spacing
        data.obstacles = torch.from_numpy(_obstacle_rows(obstacles, self.num_obstacles[1]))[None]
        return label_roadmap(data)

    # -- access
    def obstacles(self, index: int) -> list:
        """The :class:`gvin.Circle` / :class:`gvin.Box` obstacles of item ``index``."""
        rows = self._items[self._index(index)].obstacles[0]
        return [Circle((a, b), c) if kind == 0 else Box((a, b), (c, d))
                for kind, a, b, c, d in rows.tolist() if kind >= 0]

    def _index(self, index: Any) -> int:
        return item_index(index, len(self))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Data:
        data = self._items[self._index(index)].clone()
        return self.transform(data) if self.transform is not None else data

    def __iter__(self) -> Iterator[Data]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (f"RoadmapDataset({self.split!r}, num_samples={self.num_samples}, n={len(self)}, k={self.k}, "
                f"seed={self.seed})")
