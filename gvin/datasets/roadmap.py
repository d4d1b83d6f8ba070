"""A dataset of probabilistic-roadmap planning tasks in random 2-D workspaces.

Each item is one seeded workspace with :func:`gvin.random_obstacles` circles and
boxes, a :func:`gvin.probabilistic_roadmap` of ``size`` collision-free
samples joined to their ``neighbours`` nearest neighbours (every link that touches an
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
  ``sqrt(area / size)``, so a geometric planner
  (``DTVIN(edge_dim=3)``) reads features of order 1 whatever the workspace;
* ``dist`` ``[N]`` float32 (:class:`gvin.transforms.AddExpertLabels`): least-cost distance to the goal
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

**Splits.** Every item is seeded from ``(seed, split, index)``
(:class:`~gvin.datasets.base.PlanningDataset`): the splits are
independent draws, a split's items do not depend on the other splits' counts,
and a larger count keeps a split's first items.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch_geometric.data import Data

from gvin._checks import count_range, flag, positive_int
from gvin.datasets._obstacles import obstacle_rows, rows_to_obstacles
from gvin.datasets.base import PlanningDataset, renamed_keywords
from gvin.graphs.cspace import WORKSPACE, random_obstacles, workspace_occupancy
from gvin.graphs.roadmap import probabilistic_roadmap
from gvin.transforms import AddExpertLabels, label_graph

__all__ = ["RoadmapDataset", "EDGE_DIM", "label_roadmap"]

EDGE_DIM = 3
"""Width of a roadmap item's ``edge_attr``: offset ``(dx, dy)`` and length."""


label_roadmap = label_graph
"""The expert labels ``dist`` and ``optimal`` (:func:`gvin.transforms.label_graph`)."""


def largest_component(edge_index: np.ndarray, num_nodes: int, strong: bool = False) -> np.ndarray:
    """``[M]`` the nodes of the largest connected component of a graph (links taken as undirected), or
    with ``strong`` of its largest strongly connected part (every node reaches every other)."""
    ones = np.ones(edge_index.shape[1], dtype=np.int8)
    graph = coo_matrix((ones, (edge_index[0], edge_index[1])), shape=(num_nodes, num_nodes))
    _, labels = connected_components(graph, directed=strong, connection="strong")
    return np.flatnonzero(labels == np.bincount(labels).argmax())


class RoadmapDataset(PlanningDataset):
    """Probabilistic-roadmap planning tasks with one goal each and exact expert labels (built in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        size: roadmap nodes ``N`` per task (``>= 3``); ``num_samples=`` is a deprecated name of it.
        counts: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built (``count=``: deprecated name).
        seed: non-negative int (``data_seed=``: the same).
        connectivity: roadmaps have none (``None``).
        transform: applied to each item on access.
        root: optional cache folder (:class:`~gvin.datasets.base.PlanningDataset`).
        neighbours: nearest neighbours each sample links to (``>= 1``; links are
            symmetrised, so a node may have more); ``k=`` is a deprecated name of it.
        num_obstacles: ``(low, high)``: each task draws its obstacle count
            uniformly in ``low..high`` (inclusive; default ``(3, 8)``).
        workspace: ``(x_min, y_min, x_max, y_max)`` (default ``(-2, -2, 2, 2)``).
        min_reach: fraction in ``(0, 1]`` of the nodes that the goal's
            component must hold (default 0.5).
        max_tries: workspaces drawn per item before giving up (``RuntimeError``).
        self_loops: give every node a self-loop (a non-move of cost 0 and zero features), so a
            DT-VIN's goal can absorb (``absorbing_goal``). ``gvin train --world roadmap`` sets it:
            measured on seed 0, test %Success 98.7 → 100.0 and paths within 1 % of the least cost
            48.8 → 61.6 %. Default ``False``: the items as they were before it existed.

    Items: see the module documentation (``x [N, 2]``, ``edge_attr [E, 3]``,
    ``edge_weight``, ``dist``, ``optimal``, ``obstacles`` ...).

    Raises:
        ValueError: unknown split, bad size / counts / seed / neighbours /
            num_obstacles / workspace / min_reach / max_tries.
        RuntimeError: no workspace whose roadmap keeps ``min_reach`` of its
            nodes connected in ``max_tries`` draws.
    """

    salt = 0x40AD3A9
    later = {"self_loops": False}  # the items (and caches) from before self-loops existed

    @renamed_keywords(deprecated={"num_samples": "size", "k": "neighbours", "count": "counts"},
                      synonyms={"data_seed": "seed"})
    def __init__(
        self,
        split: str = "train",
        *,
        size: int = 100,
        counts: Any = (2000, 200, 500),
        seed: int = 0,
        connectivity: None = None,
        transform: Callable[[Data], Data] | None = None,
        root: Any = None,
        neighbours: int = 8,
        num_obstacles: tuple[int, int] = (3, 8),
        workspace: Any = WORKSPACE,
        min_reach: float = 0.5,
        max_tries: int = 100,
        self_loops: bool = False,
    ) -> None:
        if connectivity is not None:
            raise ValueError(f"roadmaps have no connectivity (their links are the neighbours), got {connectivity!r}")
        workspace_occupancy([], 1, workspace)  # validates the extent (ValueError naming it)
        if isinstance(min_reach, bool) or not isinstance(min_reach, numbers.Real) \
                or not 0.0 < float(min_reach) <= 1.0:
            raise ValueError(f"min_reach must be a fraction in (0, 1], got {min_reach!r}")
        super().__init__(
            split, size=positive_int(size, "size", 3), counts=counts, seed=seed, transform=transform, root=root,
            neighbours=positive_int(neighbours, "neighbours", 1),
            num_obstacles=count_range(num_obstacles, "num_obstacles"),
            workspace=tuple(float(v) for v in workspace), min_reach=float(min_reach),
            max_tries=positive_int(max_tries, "max_tries", 1),
            self_loops=flag(self_loops, "self_loops"),
        )

    @property
    def num_samples(self) -> int:
        """Roadmap nodes: :attr:`size` (its former name)."""
        return self.size

    @property
    def k(self) -> int:
        """:attr:`neighbours` (its former name)."""
        return self.neighbours

    def setup(self) -> None:
        x0, y0, x1, y1 = self.workspace
        self.spacing = math.sqrt((x1 - x0) * (y1 - y0) / self.size)
        """Typical distance between neighbouring samples: the unit of ``edge_attr``."""

    # -- making
    def make_item(self, rng: np.random.Generator, index: int) -> Data:
        low, high = self.num_obstacles
        needed = max(2, math.ceil(self.min_reach * self.size))
        for _ in range(self.max_tries):
            obstacles = random_obstacles(rng, int(rng.integers(low, high + 1)), workspace=self.workspace,
                                         keep_clear=None)
            try:
                data = probabilistic_roadmap(obstacles, self.size, k=self.neighbours, workspace=self.workspace,
                                             rng=rng, self_loops=self.self_loops,
                                             node_order="sampled")  # small graphs: the items as before Z-order
            except ValueError:  # no free space, or no collision-free link: draw another workspace
                continue
            component = largest_component(data.edge_index.numpy(), self.size)
            if len(component) >= needed:
                return self._labelled(data, int(rng.choice(component)), obstacles)
        raise RuntimeError(f"item {index}: no workspace in {self.max_tries} draws has a roadmap with "
                           f"{self.min_reach:.0%} of its {self.size} nodes connected; raise size "
                           "or neighbours, or lower num_obstacles or min_reach")

    def _labelled(self, data: Data, goal: int, obstacles: list) -> Data:
        """The roadmap with its goal, planner inputs and expert labels."""
        goal_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        goal_mask[goal] = True
        data.goal = goal_mask
        data.x = torch.stack([torch.ones(data.num_nodes), goal_mask.float()], dim=1)
        length = data.edge_weight[:, None]
        data.edge_attr = torch.cat([data.edge_attr, length], dim=1) / self.spacing
        data.obstacles = torch.from_numpy(obstacle_rows(obstacles, self.num_obstacles[1]))[None]
        return AddExpertLabels()(data)

    # -- access
    def obstacles(self, index: int) -> list:
        """The :class:`gvin.Circle` / :class:`gvin.Box` obstacles of item ``index``."""
        return rows_to_obstacles(self.record(index)["obstacles"][0].numpy())

    def describe(self) -> str:
        return f"neighbours={self.neighbours}, seed={self.seed}"
