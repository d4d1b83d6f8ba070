"""networkx graphs ↔ planning graphs.

:func:`from_networkx` turns any networkx graph (directed or not, multigraphs
included) into a planning graph: every edge of ``G`` is a move (both directions
for undirected graphs), plus optionally one non-move self-loop per node so that
a learned planner can keep a node's own value. :func:`to_networkx` goes back.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gvin._checks import graph_edge_index


# --------------------------------------------------------------------------- from networkx
def _goal_keys(G: nx.Graph, goal) -> list:
    """A node key or a collection of node keys → list of keys (validated)."""
    if isinstance(goal, (bool, np.bool_)):
        # True == 1 in Python: without this, goal=True would silently pick node 1.
        raise ValueError(
            f"goal={goal!r} is a bool, not a node key; pass a node key (or keys), or mark goal nodes "
            "with the boolean node attribute 'goal' and leave goal=None"
        )
    if isinstance(goal, Hashable) and goal in G:
        return [goal]
    if isinstance(goal, (np.ndarray, Tensor)):
        keys = np.asarray(goal.detach().cpu() if isinstance(goal, Tensor) else goal)
        keys = keys.reshape(-1).tolist()
    elif isinstance(goal, (str, bytes)) or not isinstance(goal, Iterable):
        keys = [goal]
    else:
        keys = list(goal)
    if not keys:
        raise ValueError("goal is an empty collection of nodes")
    for key in keys:
        if isinstance(key, (bool, np.bool_)):
            raise ValueError(f"goal holds the bool {key!r}, not a node key (a goal mask is not accepted here)")
        if not isinstance(key, Hashable) or key not in G:
            if len(keys) == 1 and keys[0] is goal:
                raise ValueError(f"goal {key!r} is not a node of the graph")
            raise ValueError(
                f"goal {goal!r} is not a node of the graph, nor a collection of nodes "
                f"(goal {key!r} is not a node)"
            )
    return keys


def _goal_mask(G: nx.Graph, goal, index: dict) -> np.ndarray:
    mask = np.zeros(len(index), dtype=bool)
    if goal is not None:
        mask[[index[key] for key in _goal_keys(G, goal)]] = True
        return mask
    for key, value in G.nodes(data="goal"):
        if value is None:
            continue
        if not isinstance(value, (bool, np.bool_, int, np.integer)) or value not in (0, 1):
            raise ValueError(
                f"node attribute 'goal' must be boolean, got {value!r} on node {key!r}"
            )
        mask[index[key]] = bool(value)
    return mask


def _positions(G: nx.Graph, pos: str | None) -> np.ndarray | None:
    """``[N, d]`` float64 node positions, or None if no node has the attribute."""
    if pos is None:
        return None
    values = [value for _, value in G.nodes(data=pos)]
    present = [value is not None for value in values]
    if not any(present):
        return None
    if not all(present):
        missing = next(key for key, value in G.nodes(data=pos) if value is None)
        raise ValueError(f"node {missing!r} has no {pos!r} attribute while other nodes do")
    try:
        rows = [np.atleast_1d(np.asarray(value, dtype=np.float64)) for value in values]
    except (TypeError, ValueError) as error:
        raise ValueError(f"node attribute {pos!r} must be numeric: {error}") from None
    if any(row.ndim != 1 for row in rows) or len({len(row) for row in rows}) != 1:
        raise ValueError(f"node attribute {pos!r} must be vectors of one length on every node")
    array = np.stack(rows)
    if not np.isfinite(array).all():
        raise ValueError(f"node attribute {pos!r} contains NaN or inf")
    return array


def _edge_weight(value: Any, u, v, weight: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"edge ({u!r}, {v!r}) has a non-numeric {weight!r}: {value!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"edge ({u!r}, {v!r}) has a NaN or infinite {weight!r}")
    if value < 0:
        raise ValueError(f"edge ({u!r}, {v!r}) has a negative {weight!r}: {value}")
    return value


def _edges(G: nx.Graph, index: dict, weight: str | None) -> tuple[np.ndarray, ...]:
    """Source, target and weight of every edge of ``G`` (both directions if undirected)."""
    if weight is None:
        triples = [(index[u], index[v], 1.0) for u, v in G.edges()]
    else:
        triples = [
            (index[u], index[v], _edge_weight(w, u, v, weight))
            for u, v, w in G.edges(data=weight, default=1.0)
        ]
    array = np.array(triples, dtype=np.float64).reshape(-1, 3)
    src, dst, cost = array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2]
    if not G.is_directed():
        back = src != dst
        src, dst = np.concatenate([src, dst[back]]), np.concatenate([dst, src[back]])
        cost = np.concatenate([cost, cost[back]])
    return src, dst, cost


def from_networkx(
    G: nx.Graph,
    goal=None,
    *,
    pos: str | None = "pos",
    weight: str | None = "weight",
    self_loops: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Data:
    """Convert a networkx graph into a planning graph.

    Args:
        G: any networkx graph. Directed edges keep their direction; undirected
            edges become two moves. Nodes keep ``G``'s iteration order.
        goal: a node key or a list of keys; if ``None``, the boolean node
            attribute ``'goal'`` (missing → False), else no goal.
        pos: node attribute with coordinates (``None`` to ignore). If some
            nodes have it, all must, with numeric vectors of one length.
        weight: edge attribute with the move cost (default 1 where missing;
            ``None``: every cost 1).
        self_loops: add a non-move self-loop with cost 0 to every node that has
            none, so that a planner can keep a node's own value. ``G``'s own
            self-loops are kept, as non-moves.
        dtype: floating dtype of ``x``, ``pos``, ``edge_attr``, ``edge_weight``.

    Returns:
        :class:`~torch_geometric.data.Data` with

        * ``x`` ``[N, 1]``: goal flag; ``goal`` ``[N]`` bool;
        * ``edge_index`` ``[2, E]`` long, sorted by source then target;
        * ``edge_weight`` ``[E]``: move cost; ``move`` ``[E]`` bool;
        * ``pos`` ``[N, d]`` (if present) and ``edge_attr`` ``[E, d]`` =
          ``pos[t] - pos[s]``, else ``edge_attr`` ``[E, 1]`` = ``edge_weight``;
        * ``node_keys``: list of ``G``'s node keys, in node order.

    Raises:
        TypeError: ``G`` is not a networkx graph.
        ValueError: empty graph, no edges, a negative/NaN/inf/non-numeric
            weight, a bad ``pos`` attribute, or an unknown goal key.
    """
    if not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a networkx graph, got {type(G).__name__}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch dtype such as torch.float32, got {dtype!r}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating dtype (planners read float features), got {dtype}")
    if G.number_of_nodes() == 0:
        raise ValueError("the networkx graph has no nodes")
    if G.number_of_edges() == 0:
        raise ValueError("the networkx graph has no edges")
    keys = list(G.nodes)
    index = {key: i for i, key in enumerate(keys)}
    num_nodes = len(keys)
    goal_nodes = _goal_mask(G, goal, index)
    coords = _positions(G, pos)
    src, dst, cost = _edges(G, index, weight)
    move = src != dst
    if self_loops:
        lonely = np.setdiff1d(np.arange(num_nodes), src[~move])
        src, dst = np.concatenate([src, lonely]), np.concatenate([dst, lonely])
        cost = np.concatenate([cost, np.zeros(len(lonely))])
        move = np.concatenate([move, np.zeros(len(lonely), dtype=bool)])
    order = np.lexsort((dst, src))  # stable: parallel edges keep G's order
    src, dst, cost, move = src[order], dst[order], cost[order], move[order]

    data = Data(
        x=torch.from_numpy(goal_nodes[:, None]).to(dtype),
        edge_index=torch.from_numpy(np.stack([src, dst])),
        edge_weight=torch.from_numpy(cost).to(dtype),
        move=torch.from_numpy(move),
        goal=torch.from_numpy(goal_nodes),
        num_nodes=num_nodes,
    )
    if coords is not None:
        data.pos = torch.from_numpy(coords).to(dtype)
        data.edge_attr = torch.from_numpy(coords[dst] - coords[src]).to(dtype)
    else:
        data.edge_attr = data.edge_weight[:, None].clone()
    data.node_keys = keys
    return data


# --------------------------------------------------------------------------- to networkx
def _node_labels(data: Data, num_nodes: int, use_node_keys: bool) -> list:
    keys = getattr(data, "node_keys", None) if use_node_keys else None
    if isinstance(keys, (list, tuple)) and len(keys) == num_nodes and getattr(
        data, "batch", None
    ) is None:
        try:
            if len(set(keys)) == num_nodes:
                return list(keys)
        except TypeError:  # unhashable keys
            pass
    return list(range(num_nodes))


def _edge_field(data: Data, name: str, num_edges: int) -> Tensor | None:
    value = getattr(data, name, None)
    if value is not None and (not isinstance(value, Tensor) or value.shape != (num_edges,)):
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"data.{name} must be an [E] = [{num_edges}] tensor, got {shape}")
    return value


def _goal_of(data: Data, num_nodes: int) -> Tensor | None:
    """``data.goal`` as an ``[N]`` bool mask (it may be a mask or integer node indices)."""
    goal = getattr(data, "goal", None)
    if goal is None:
        return None
    goal = torch.as_tensor(goal).detach().cpu()
    if goal.dtype == torch.bool and goal.shape == (num_nodes,):
        return goal
    if goal.dtype in (torch.bool, torch.uint8) or goal.is_floating_point() or goal.is_complex() or goal.dim() > 1:
        raise ValueError(
            f"data.goal must be an [N] = [{num_nodes}] bool mask or integer node indices, "
            f"got {goal.dtype} {tuple(goal.shape)}"
        )
    if goal.numel() and (int(goal.min()) < 0 or int(goal.max()) >= num_nodes):
        raise ValueError(f"data.goal has node indices outside [0, {num_nodes})")
    return torch.zeros(num_nodes, dtype=torch.bool).index_fill_(0, goal.reshape(-1).long(), True)


def _edge_table(data: Data) -> dict[str, np.ndarray]:
    edge_index = graph_edge_index(getattr(data, "edge_index", None), int(data.num_nodes)).detach().cpu().numpy()
    num_edges = edge_index.shape[1]
    move = _edge_field(data, "move", num_edges)
    table = {
        "src": edge_index[0],
        "dst": edge_index[1],
        "move": edge_index[0] != edge_index[1]
        if move is None
        else move.detach().cpu().numpy().astype(bool),
    }
    weight = _edge_field(data, "edge_weight", num_edges)
    table["weight"] = (
        np.ones(num_edges) if weight is None else weight.detach().cpu().double().numpy()
    )
    edge_type = getattr(data, "edge_type", None)
    if edge_type is not None:
        table["edge_type"] = edge_type.detach().cpu().numpy()
    return table


def to_networkx(
    data: Data, moves_only: bool = False, *, use_node_keys: bool = True
) -> nx.DiGraph:
    """Convert a planning graph (or batch) into a :class:`networkx.DiGraph`.

    Args:
        data: a planning graph or a batch of them.
        moves_only: keep only the moves (drop self-loops and other non-moves).
        use_node_keys: label nodes with ``data.node_keys`` (from
            :func:`from_networkx`) when it is a list of ``N`` distinct keys;
            otherwise (and for batches) nodes are ``0..N-1``.

    Returns:
        A ``DiGraph`` with node attributes ``pos`` (tuple of floats, if
        ``data.pos``) and ``goal`` (bool, if ``data.goal``), and edge
        attributes ``move`` (bool), ``weight`` (float: ``edge_weight`` or 1)
        and ``edge_type`` (int, if present). Parallel edges collapse into one:
        a move wins over a non-move, then the lowest weight, then the first.
    """
    if not isinstance(data, Data):
        raise TypeError(f"data must be a torch_geometric Data planning graph, got {type(data).__name__}")
    if not data.num_nodes:
        raise ValueError("the planning graph has no nodes")
    num_nodes = int(data.num_nodes)
    table = _edge_table(data)
    mask = _goal_of(data, num_nodes)
    labels = _node_labels(data, num_nodes, use_node_keys)
    G = nx.DiGraph()
    G.add_nodes_from(labels)
    pos = getattr(data, "pos", None)
    if pos is not None:
        rows = pos.detach().cpu().double().numpy().reshape(num_nodes, -1)
        nx.set_node_attributes(G, {k: tuple(r.tolist()) for k, r in zip(labels, rows)}, "pos")
    if mask is not None:
        nx.set_node_attributes(G, dict(zip(labels, mask.tolist())), "goal")

    keep = table["move"] if moves_only else np.ones(len(table["src"]), dtype=bool)
    # Order so that, per (s, t), the preferred parallel edge comes last and overwrites.
    order = np.lexsort((-np.arange(len(keep)), -table["weight"], table["move"]))
    order = order[keep[order]]
    attributes = [name for name in ("move", "weight", "edge_type") if name in table]
    python = {name: table[name][order].tolist() for name in attributes + ["src", "dst"]}
    G.add_edges_from(
        (labels[s], labels[t], {name: python[name][i] for name in attributes})
        for i, (s, t) in enumerate(zip(python["src"], python["dst"]))
    )
    return G


__all__ = ["from_networkx", "to_networkx"]
