"""Probabilistic roadmaps (PRM) in a 2-D workspace as planning graphs.

:func:`probabilistic_roadmap` samples collision-free points uniformly in the
workspace, joins each to its ``k`` nearest neighbours (or to every point within
``radius``), drops every edge whose segment touches an obstacle (exact tests of
:func:`gvin.graphs.cspace.segment_hits`) and returns the graph with
:func:`gvin.from_networkx`'s fields, so geometric planners built with
``in_channels=1, edge_dim=2`` run on it.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch_geometric.data import Data

from gvin import _checks
from gvin.graphs.cspace import WORKSPACE, as_extent, as_obstacles, as_point, segment_hits
from gvin.graphs.ordering import z_order

DEFAULT_K = 8
"""Neighbours per sample when neither ``k`` nor ``radius`` is given."""

NODE_ORDERS = ("z", "sampled")
"""How :func:`probabilistic_roadmap` numbers its samples: along a Z-order curve, or as drawn."""

MAX_DRAWS_PER_SAMPLE = 100
"""Sampling gives up after ``MAX_DRAWS_PER_SAMPLE · num_samples + 1000`` uniform draws."""


def _inside(obstacles: list, points: np.ndarray) -> np.ndarray:
    """``[M]`` bool: the points ``[M, 2]`` that lie in a (closed) obstacle."""
    hit = np.zeros(len(points), dtype=bool)
    for obstacle in obstacles:
        hit |= segment_hits(obstacle, points, points)
    return hit


def _sample_free(obstacles: list, extent, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = extent
    low, high = np.array([x0, y0]), np.array([x1, y1])
    budget = MAX_DRAWS_PER_SAMPLE * num_samples + 1000
    drawn = 0
    kept: list[np.ndarray] = []
    have = 0
    while have < num_samples:
        if drawn >= budget:
            raise ValueError(
                f"could only place {have} of num_samples={num_samples} collision-free samples in {drawn} "
                f"uniform draws: the workspace {tuple(extent)} has (almost) no free space"
            )
        size = min(2 * (num_samples - have) + 16, budget - drawn)
        points = rng.uniform(low, high, size=(size, 2))
        drawn += size
        points = points[~_inside(obstacles, points)]
        kept.append(points)
        have += len(points)
    return np.concatenate(kept)[:num_samples]


def _extra_points(add, obstacles: list) -> np.ndarray:
    if add is None:
        return np.zeros((0, 2))
    if isinstance(add, torch.Tensor):
        add = add.detach().cpu().numpy()
    if isinstance(add, np.ndarray) and add.ndim == 2:
        add = list(add)
    try:
        items = list(add)
    except TypeError:
        raise ValueError(f"add must be a list of (x, y) points, got {add!r}") from None
    if len(items) == 2 and all(isinstance(v, numbers.Real) for v in items):
        raise ValueError(f"add must be a list of (x, y) points; for one point write add=[{tuple(items)!r}]")
    points = np.array([as_point(item, "add") for item in items], dtype=np.float64).reshape(-1, 2)
    blocked = _inside(obstacles, points)
    if blocked.any():
        raise ValueError(f"add point {tuple(points[np.argmax(blocked)].tolist())} lies inside an obstacle")
    return points


def _neighbour_pairs(points: np.ndarray, k: int | None, radius: float | None) -> np.ndarray:
    """``[P, 2]`` undirected pairs ``i < j`` (unique): k-NN symmetrised, or all pairs within ``radius``."""
    tree = cKDTree(points)
    n = len(points)
    if radius is not None:
        pairs = tree.query_pairs(radius, output_type="ndarray").astype(np.int64).reshape(-1, 2)
    else:
        kk = min(k, n - 1)
        _, idx = tree.query(points, k=kk + 1)
        idx = np.asarray(idx, dtype=np.int64).reshape(n, kk + 1)
        # Drop each point's own entry (usually column 0, not always with duplicate points); keep the first kk others.
        others = idx != np.arange(n)[:, None]
        others &= np.cumsum(others, axis=1) <= kk
        rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)[others]
        pairs = np.stack([rows, idx[others]], axis=1)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def _goal_node(goal, points: np.ndarray) -> int | None:
    if goal is None:
        return None
    n = len(points)
    if isinstance(goal, (numbers.Integral, np.integer)) and not isinstance(goal, (bool, np.bool_)):
        if not 0 <= int(goal) < n:
            raise ValueError(f"goal node {int(goal)} is outside [0, {n})")
        return int(goal)
    if isinstance(goal, (bool, np.bool_)):
        raise ValueError(f"goal={goal!r} is a bool; pass a node index or an (x, y) point")
    point = np.asarray(as_point(goal, "goal"))
    return int(np.argmin(((points - point) ** 2).sum(-1)))


def probabilistic_roadmap(
    obstacles,
    num_samples: int,
    *,
    k: int | None = None,
    radius: float | None = None,
    workspace=WORKSPACE,
    goal=None,
    rng=0,
    add=(),
    self_loops: bool = False,
    node_order: str = "z",
    dtype: torch.dtype = torch.float32,
) -> Data:
    """A probabilistic roadmap (PRM) of a 2-D workspace as a planning graph.

    Nodes are the ``add`` points (nodes ``0 .. len(add) - 1``, e.g. a start)
    followed by ``num_samples`` uniform samples of the workspace outside every
    obstacle (closed obstacles: a sample on a boundary is rejected and redrawn),
    numbered along a Z-order curve (``node_order="z"``, :func:`gvin.graphs.ordering.z_order`:
    value iteration's gathers then read memory nearby) or as drawn (``"sampled"``).
    Each node is joined to its ``k`` nearest nodes (symmetrised: an edge in both
    directions if either end picks the other) or, with ``radius``, to every node
    within ``radius``; an edge whose segment touches an obstacle is removed.

    Args:
        obstacles: a list of :class:`~gvin.Circle` / :class:`~gvin.Box` (``None`` or ``[]``: none).
        num_samples: free samples (``>= 2``).
        k: nearest neighbours per node (``>= 1``; default 8 when ``radius`` is not given).
        radius: connect all pairs within this distance (``> 0``) instead of k-NN.
        workspace: ``(x_min, y_min, x_max, y_max)``.
        goal: ``None`` (no goal), a node index, or an ``(x, y)`` point: the
            nearest node (sample or ``add`` point) becomes the goal.
        rng: seed (int ``>= 0``) or :class:`numpy.random.Generator`.
        add: extra collision-free ``(x, y)`` points, placed first.
        self_loops: add a zero-cost non-move self-loop per node (as
            :func:`gvin.from_networkx` does by default).
        node_order: ``"z"`` (default) or ``"sampled"``: how the samples are numbered.
        dtype: floating dtype of ``x``, ``pos``, ``edge_attr``, ``edge_weight``.

    Returns:
        :class:`~torch_geometric.data.Data` with ``x`` ``[N, 1]`` (goal flag),
        ``goal`` ``[N]`` bool, ``edge_index`` ``[2, E]`` sorted by source then
        target, ``edge_weight`` ``[E]`` (Euclidean length), ``move`` ``[E]``
        bool, ``pos`` ``[N, 2]``, ``edge_attr`` ``[E, 2]`` = ``pos[t] - pos[s]``.

    Raises:
        TypeError: an obstacle of unknown type, a bad ``rng``.
        ValueError: ``num_samples < 2``, ``k < 1``, ``radius <= 0``, both ``k``
            and ``radius``, a bad workspace / goal / ``add`` point, a workspace
            without free space (after a bounded number of draws), or a roadmap
            left with no edge.
    """
    obstacles = as_obstacles(obstacles)
    num_samples = _checks.positive_int(num_samples, "num_samples", minimum=2)
    if k is not None and radius is not None:
        raise ValueError(f"give k or radius, not both (got k={k!r}, radius={radius!r})")
    if radius is not None:
        radius = _checks.real(radius, "radius")
        if radius <= 0:
            raise ValueError(f"radius must be > 0, got {radius!r}")
    else:
        k = DEFAULT_K if k is None else _checks.positive_int(k, "k")
    extent = as_extent(workspace, "workspace")
    generator = _checks.as_rng(rng, "rng")
    if not isinstance(self_loops, (bool, np.bool_)):
        raise TypeError(f"self_loops must be a bool, got {self_loops!r}")
    if node_order not in NODE_ORDERS:
        raise ValueError(f"node_order must be one of {NODE_ORDERS}, got {node_order!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")

    extra = _extra_points(add, obstacles)
    samples = _sample_free(obstacles, extent, num_samples, generator)
    if node_order == "z":
        samples = samples[z_order(samples)]
    points = np.concatenate([extra, samples])
    n = len(points)
    goal_index = _goal_node(goal, points)

    pairs = _neighbour_pairs(points, k, radius)
    if len(pairs):
        start, end = points[pairs[:, 0]], points[pairs[:, 1]]
        blocked = np.zeros(len(pairs), dtype=bool)
        for obstacle in obstacles:
            blocked |= segment_hits(obstacle, start, end)
        pairs = pairs[~blocked]
    if not len(pairs):
        raise ValueError("the roadmap has no collision-free edge; add samples or raise k / radius")
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    move = np.ones(len(src), dtype=bool)
    if self_loops:
        loops = np.arange(n)
        src, dst = np.concatenate([src, loops]), np.concatenate([dst, loops])
        move = np.concatenate([move, np.zeros(n, dtype=bool)])
    order = np.lexsort((dst, src))
    src, dst, move = src[order], dst[order], move[order]
    offset = points[dst] - points[src]
    cost = np.sqrt((offset ** 2).sum(-1))

    goal_mask = np.zeros(n, dtype=bool)
    if goal_index is not None:
        goal_mask[goal_index] = True
    return Data(
        x=torch.from_numpy(goal_mask[:, None]).to(dtype),
        edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        edge_weight=torch.from_numpy(cost).to(dtype),
        move=torch.from_numpy(move),
        goal=torch.from_numpy(goal_mask),
        pos=torch.from_numpy(points).to(dtype),
        edge_attr=torch.from_numpy(offset).to(dtype),
        num_nodes=n,
    )


__all__ = ["probabilistic_roadmap"]
