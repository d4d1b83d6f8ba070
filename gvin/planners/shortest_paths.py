"""Exact shortest paths to the goal on planning graphs (Dijkstra via scipy).

Conventions (shared by every planner):

* the traversable edges ("moves") are ``data.move`` if present, else every
  edge that is not a self-loop;
* the cost of a move is ``data.edge_weight`` if present, else 1 (see
  :func:`edge_costs` for the other choices);
* the goal is ``data.goal``: an ``[N]`` bool mask or node indices;
* a :class:`~torch_geometric.data.Batch` is a disjoint union, so all of this
  works on batches unchanged (every graph of a batch needs a goal).

Distances are to the *nearest* goal along moves, in ``float64``; ``inf`` where
no goal can be reached.
"""
from __future__ import annotations

import numbers
from typing import Union

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from torch import Tensor
from torch_geometric.data import Data

from gvin._checks import binary, graph_edge_index

WeightSpec = Union[None, str, Tensor, np.ndarray]


# --------------------------------------------------------------------------- inputs
def graph_num_nodes(data: Data) -> int:
    """The number of nodes of a planning graph ``data`` (a :class:`~torch_geometric.data.Data`), at least one."""
    if not isinstance(data, Data):
        raise TypeError(
            f"data must be a torch_geometric Data planning graph, got {type(data).__name__} "
            "(convert networkx graphs with gvin.from_networkx)"
        )
    num_nodes = data.num_nodes
    if num_nodes is None or num_nodes == 0:
        raise ValueError("the graph has no nodes")
    return int(num_nodes)


def _edge_index(data: Data) -> Tensor:
    return graph_edge_index(getattr(data, "edge_index", None), graph_num_nodes(data))


def move_mask(data: Data) -> Tensor:
    """The traversable edges of a planning graph.

    Returns:
        ``[E]`` bool: ``data.move`` if present, else ``edge_index[0] != edge_index[1]``.

    Raises:
        ValueError: no edges, a ``move`` of the wrong shape, or no move at all.
    """
    edge_index = _edge_index(data)
    move = getattr(data, "move", None)
    if move is None:
        move = edge_index[0] != edge_index[1]
    else:
        if move.shape != (edge_index.shape[1],):
            raise ValueError(
                f"move must have shape [E] = [{edge_index.shape[1]}], got {tuple(move.shape)}"
            )
        message = "move must be a bool mask of the traversable edges, got {dtype}"
        if move.is_floating_point() or move.is_complex():  # stricter than binary(): integer 0/1 only
            raise ValueError(message.format(dtype=move.dtype))
        move = binary(move, "move", message).to(edge_index.device)
    if not bool(move.any()):
        raise ValueError("the graph has no moves (no traversable edge)")
    return move


def edge_costs(data: Data, weight: WeightSpec = None) -> Tensor:
    """The cost of every edge, validated on the moves.

    Args:
        data: a planning graph.
        weight: ``None`` (``data.edge_weight`` if present, else 1 per edge),
            ``"euclidean"`` (the norm of ``data.edge_attr``, i.e. the length of
            the displacement on geometric graphs), or an ``[E]`` tensor/array.

    Returns:
        ``[E]`` float64 tensor on the device of ``edge_index``.

    Raises:
        ValueError: wrong shape, or a negative, NaN or infinite cost on a move.
    """
    edge_index = _edge_index(data)
    num_edges = edge_index.shape[1]
    device = edge_index.device
    if weight is None:
        weight = getattr(data, "edge_weight", None)
        if weight is None:
            return torch.ones(num_edges, dtype=torch.float64, device=device)
        name = "data.edge_weight"
    elif isinstance(weight, str):
        if weight != "euclidean":
            raise ValueError(f"unknown weight {weight!r}: use None, 'euclidean' or an [E] tensor")
        edge_attr = getattr(data, "edge_attr", None)
        if edge_attr is None:
            raise ValueError("weight='euclidean' needs data.edge_attr (the edge displacements)")
        edge_attr = edge_attr.to(torch.float64)
        if edge_attr.dim() == 1:
            edge_attr = edge_attr[:, None]
        weight = torch.linalg.vector_norm(edge_attr, dim=-1)
        name = "the norm of data.edge_attr"
    else:
        name = "weight"
    weight = torch.as_tensor(weight)
    if weight.is_complex() or weight.dtype == torch.bool:
        raise ValueError(f"{name} must hold real costs, got {weight.dtype}")
    weight = weight.to(device=device, dtype=torch.float64)
    if weight.shape != (num_edges,):
        raise ValueError(f"{name} must have shape [E] = [{num_edges}], got {tuple(weight.shape)}")
    _check_costs(weight[move_mask(data)], name)
    return weight


def _check_costs(costs: Tensor, name: str) -> None:
    if bool(torch.isnan(costs).any()):
        raise ValueError(f"{name} contains NaN on a move")
    if bool(torch.isinf(costs).any()):
        raise ValueError(f"{name} contains an infinite cost on a move")
    if bool((costs < 0).any()):
        raise ValueError(f"{name} contains a negative cost on a move ({float(costs.min())})")


def goal_mask(data: Data, goal=None) -> Tensor:
    """The goal nodes as a mask, checked per graph of a batch.

    Args:
        data: a planning graph or a batch of them.
        goal: ``None`` (use ``data.goal``), an ``[N]`` bool mask, or node
            indices (an int or a 1-D integer tensor/array/list).

    Returns:
        ``[N]`` bool tensor on the device of ``edge_index``.

    Raises:
        ValueError: no goal, a wrong shape, an index out of range, or a graph
            of the batch without any goal.
    """
    num_nodes = graph_num_nodes(data)
    device = _edge_index(data).device
    if goal is None:
        goal = getattr(data, "goal", None)
        if goal is None:
            raise ValueError("no goal: pass goal= or set data.goal")
    goal = torch.as_tensor(goal, device=device)
    if goal.dtype == torch.uint8:
        raise ValueError(
            "goal has dtype uint8, which is ambiguous: use a bool mask or int64 indices"
        )
    if goal.dtype == torch.bool:
        if goal.shape != (num_nodes,):
            raise ValueError(
                f"a goal mask must have shape [N] = [{num_nodes}], got {tuple(goal.shape)}"
            )
        mask = goal
    elif not goal.dtype.is_floating_point and not goal.dtype.is_complex and goal.dim() <= 1:
        index = goal.reshape(-1).long()
        if num_nodes > 2 and index.numel() == num_nodes and bool(((index == 0) | (index == 1)).all()):
            raise ValueError(
                f"goal is an integer 0/1 vector of length N = {num_nodes}: a mask, not node indices? "
                "Pass a bool mask (goal.bool()) or the goal nodes' indices"
            )
        if index.numel() and bool(((index < 0) | (index >= num_nodes)).any()):
            raise ValueError(f"goal index out of range for a graph of {num_nodes} nodes")
        mask = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        mask[index] = True
    else:
        raise ValueError(
            f"goal must be an [N] bool mask or integer node indices, got dtype {goal.dtype} "
            f"and shape {tuple(goal.shape)}"
        )
    if not bool(mask.any()):
        raise ValueError("the goal is empty (no goal node)")
    _check_goal_per_graph(data, mask)
    return mask


def _check_goal_per_graph(data: Data, mask: Tensor) -> None:
    batch = getattr(data, "batch", None)
    if batch is None:
        return
    batch = batch.to(mask.device)
    num_graphs = int(batch.max()) + 1
    counts = torch.bincount(batch[mask], minlength=num_graphs)
    missing = torch.nonzero(counts == 0).flatten().tolist()
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise ValueError(f"graph(s) {shown} of the batch have no goal node")


# --------------------------------------------------------------------------- distances
def reverse_move_matrix(
    edge_index: np.ndarray, costs: np.ndarray, move: np.ndarray, num_nodes: int
) -> csr_matrix:
    """CSR matrix of the reversed moves ``s' → s``; parallel edges keep their lowest cost."""
    src, dst, cost = edge_index[0][move], edge_index[1][move], costs[move]
    order = np.lexsort((cost, src, dst))  # by row (dst), column (src), then cost
    row, col, cost = dst[order], src[order], cost[order]
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    row, col, cost = row[first], col[first], cost[first]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=num_nodes), out=indptr[1:])
    # Explicit zeros stay edges for csgraph (zero-cost moves are allowed).
    return csr_matrix((cost, col, indptr), shape=(num_nodes, num_nodes))


def shortest_path_distances(data: Data, weight: WeightSpec = None, goal=None) -> Tensor:
    """Distance from every node to the nearest goal along moves (Dijkstra).

    One multi-source Dijkstra on the reversed move graph; a batch is block
    diagonal, so each graph gets the distance to its own goal(s).

    Args:
        data: a planning graph or a batch of them.
        weight: edge costs, see :func:`edge_costs`.
        goal: goal override, see :func:`goal_mask` (default ``data.goal``).

    Returns:
        ``[N]`` float64 tensor on the device of ``edge_index``; ``0`` at the
        goals, ``inf`` where no goal can be reached.
    """
    num_nodes = graph_num_nodes(data)
    move = move_mask(data)
    costs = edge_costs(data, weight)
    goals = goal_mask(data, goal)
    device = costs.device
    matrix = reverse_move_matrix(
        data.edge_index.cpu().numpy(), costs.cpu().numpy(), move.cpu().numpy(), num_nodes
    )
    dist = dijkstra(
        matrix, directed=True, indices=np.flatnonzero(goals.cpu().numpy()), min_only=True
    )
    return torch.from_numpy(np.asarray(dist, dtype=np.float64)).to(device)


def _as_dist(data: Data, dist, weight: WeightSpec) -> Tensor:
    if dist is None:
        return shortest_path_distances(data, weight)
    num_nodes = graph_num_nodes(data)
    try:
        dist = torch.as_tensor(dist, device=data.edge_index.device)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"dist must be an [N] = [{num_nodes}] tensor of distances, got {type(dist).__name__}") from None
    if dist.is_complex() or dist.dtype == torch.bool:
        raise ValueError(f"dist must hold real distances, got {dist.dtype}")
    if dist.shape != (num_nodes,):
        raise ValueError(f"dist must have shape [N] = [{num_nodes}], got {tuple(dist.shape)}")
    if not dist.dtype.is_floating_point:
        dist = dist.to(torch.float64)
    if bool(torch.isnan(dist).any()) or bool((dist < 0).any()):
        raise ValueError("dist must be non-negative (inf where unreachable), found NaN or < 0")
    _check_bellman(data, dist, weight)
    return dist


def _check_bellman(data: Data, dist: Tensor, weight: WeightSpec) -> None:
    """Refuse distances that are not this graph's: ``dist`` must be 0 on the goals and
    ``min_e (w_e + dist[s'])`` over each other node's moves (distances computed for
    another goal, graph or weight are not)."""
    goals = goal_mask(data)
    move = move_mask(data)
    costs = edge_costs(data, weight)
    exact = dist.to(torch.float64)
    src, dst = data.edge_index[:, move]
    best = torch.full_like(exact, float("inf")).scatter_reduce(
        0, src, costs[move] + exact[dst], "amin", include_self=True
    )
    best[goals] = 0.0
    tol = max(1e-9, 8 * torch.finfo(dist.dtype).eps)
    same = (best == exact) | ((best - exact).abs() <= tol * exact.abs())
    if not bool(same.all()):
        node = int(torch.nonzero(~same)[0])
        raise ValueError(
            f"dist does not fit this graph's goal and edge costs at {int((~same).sum())} node(s) "
            f"(node {node}: dist {float(exact[node])}, but its best move gives {float(best[node])}); "
            "it was computed for another goal, graph or weight"
        )


def optimal_edges(
    data: Data, dist: Tensor | None = None, weight: WeightSpec = None, rtol: float = 1e-9
) -> Tensor:
    """The optimal moves (expert labels); ties are kept.

    A move ``e = (s, s')`` is optimal when ``s`` is not a goal, ``dist[s]`` is
    finite and ``dist[s] == w_e + dist[s']`` up to ``rtol`` relative to
    ``dist[s]`` (raised to ``8 * eps`` of ``dist``'s dtype for low-precision
    distances).

    Args:
        data: a planning graph or a batch of them (with ``data.goal``).
        dist: ``[N]`` distances to the goal; computed if ``None``.
        weight: edge costs, see :func:`edge_costs`; must match ``dist``.
        rtol: relative tolerance of the equality.

    Returns:
        ``[E]`` bool tensor.
    """
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 <= rtol < 1:
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    move = move_mask(data)
    costs = edge_costs(data, weight)
    goals = goal_mask(data)
    dist = _as_dist(data, dist, weight)
    tol = max(rtol, 8 * torch.finfo(dist.dtype).eps)
    dist = dist.to(torch.float64)
    src, dst = data.edge_index
    through = costs + dist[dst]
    start = dist[src]
    close = (start - through).abs() <= tol * start.abs()
    return move & ~goals[src] & torch.isfinite(start) & close


def shortest_path(
    data: Data, source: int, dist: Tensor | None = None, weight: WeightSpec = None
) -> list[int]:
    """One shortest path from ``source`` to a goal, as a list of node indices.

    The path follows optimal moves (see :func:`optimal_edges`). Among the
    shortest paths it takes one with the fewest moves; remaining ties go to the
    lowest edge position. This also terminates with zero-cost moves.

    Args:
        data: a planning graph (or batch) with ``data.goal``.
        source: start node index.
        dist: ``[N]`` distances to the goal; computed if ``None``.
        weight: edge costs, see :func:`edge_costs`.

    Returns:
        ``[source, ..., goal]`` (just ``[source]`` if it is a goal).

    Raises:
        ValueError: ``source`` out of range, or it cannot reach the goal.
    """
    num_nodes = graph_num_nodes(data)
    move_mask(data)  # graph errors first
    if isinstance(source, Tensor):
        if source.numel() != 1:
            raise TypeError(f"source must be one integer node index, got a tensor of shape {tuple(source.shape)}")
        source = source.item()
    if isinstance(source, bool) or not isinstance(source, (int, np.integer)):
        raise TypeError(f"source must be an integer node index, got {source!r}")
    source = int(source)
    if not 0 <= source < num_nodes:
        raise ValueError(f"source {source} is out of range for a graph of {num_nodes} nodes")
    dist = _as_dist(data, dist, weight)
    if not bool(torch.isfinite(dist[source])):
        raise ValueError(f"node {source} cannot reach the goal")
    optimal = optimal_edges(data, dist, weight).cpu().numpy()
    edge_index = data.edge_index.cpu().numpy()
    goals = goal_mask(data).cpu().numpy()
    successor = _min_hop_successor(edge_index, optimal, goals, num_nodes)
    if successor[source] < 0 and not goals[source]:
        raise ValueError(f"dist is inconsistent with the graph: node {source} has no optimal move")
    path = [source]
    for _ in range(num_nodes):  # every step is one hop closer: at most N - 1 steps
        if goals[path[-1]]:
            return path
        path.append(int(successor[path[-1]]))
    raise RuntimeError(f"no path from node {source} to the goal along optimal moves (a bug)")


def _min_hop_successor(
    edge_index: np.ndarray, optimal: np.ndarray, goals: np.ndarray, num_nodes: int
) -> np.ndarray:
    """Per node, the target of the lowest-position optimal move that brings it one
    hop closer to the goal within the optimal subgraph (``-1`` if none)."""
    ones = np.ones(len(optimal), dtype=np.float64)
    matrix = reverse_move_matrix(edge_index, ones, optimal, num_nodes)
    hops = dijkstra(matrix, directed=True, indices=np.flatnonzero(goals), min_only=True)
    src, dst = edge_index
    step = optimal & np.isfinite(hops[src]) & (hops[dst] == hops[src] - 1)
    positions = np.flatnonzero(step)  # ascending: the first per source is the lowest
    nodes, first = np.unique(src[positions], return_index=True)
    successor = np.full(num_nodes, -1, dtype=np.int64)
    successor[nodes] = dst[positions[first]]
    return successor


__all__ = [
    "shortest_path_distances",
    "optimal_edges",
    "shortest_path",
    "edge_costs",
    "goal_mask",
    "move_mask",
    "graph_num_nodes",
    "reverse_move_matrix",
]
