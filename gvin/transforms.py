"""Graph-to-graph steps as PyG transforms (:class:`torch_geometric.transforms.BaseTransform`).

>>> from gvin.transforms import AddExpertLabels
>>> data = AddExpertLabels()(gvin.from_grid(maze, goal))   # data.dist [N], data.optimal [E]

A transform returns a shallow copy (PyG's ``BaseTransform.__call__``); the
functions (:func:`label_graph`) change their graph in place.
"""
from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from gvin.planners.shortest_paths import optimal_edges, shortest_path_distances

__all__ = ["AddExpertLabels", "PlannerFields", "label_graph"]


def label_graph(data: Data) -> Data:
    """Add the expert labels ``dist`` ``[N]`` (float32) and ``optimal`` ``[E]`` to a graph with a goal (in place).

    Distances follow ``data.edge_weight`` (unit costs without it); ``optimal``
    comes from the float64 distances, then ``dist`` is stored as float32.
    """
    dist = shortest_path_distances(data)
    data.optimal = optimal_edges(data, dist)
    data.dist = dist.to(torch.float32)
    return data


class AddExpertLabels(BaseTransform):
    """Add exact expert labels to a planning graph with a goal (``data.goal`` ``[N]``, ``data.move`` ``[E]``).

    * ``dist`` ``[N]`` float32: least-cost distance to the goal along moves
      (:func:`gvin.shortest_path_distances`, ``data.edge_weight`` costs or
      unit costs), ``inf`` where the goal cannot be reached;
    * ``optimal`` ``[E]`` bool: :func:`gvin.optimal_edges` of the float64
      distances (ties kept), computed before ``dist`` is rounded to float32.

    Works on one graph or a batch (each graph gets the distance to its own goal).
    """

    def forward(self, data: Data) -> Data:
        return label_graph(data)


class PlannerFields(BaseTransform):
    """Keep only the fields a geometric planner and the expert labels read, in one shape for every
    builder, so that graphs of different kinds (grids, roadmaps, networkx and street graphs) batch together.

    PyG batches on the fields of the first graph, and the builders' extra fields differ (a grid's
    ``edge_type``, ``stencil``, ``cell``; a networkx graph's ``node_keys``), so
    ``Batch.from_data_list([grid, streets])`` fails, and dropping fields by hand can drop ``edge_weight``,
    which turns the expert's costs into unit costs without a word. After this transform each graph has:

    * ``x`` ``[N, 2]``: (free, goal); a one-column ``x`` (:func:`gvin.from_networkx`'s goal flag)
      gets a free column of ones;
    * ``edge_index``, ``move``, ``goal``, ``pos`` (when present);
    * with ``labels=True``, the expert labels ``dist`` and ``optimal``: the graph's own, or computed
      (:func:`label_graph`) where it has none, so that every graph of a batch has them (without it
      they are dropped: a batch of labelled and unlabelled graphs would not build);
    * ``edge_attr`` ``[E, 2]`` (the offsets), with ``length=True`` its norm appended (``[E, 3]``, a
      street window's ``(dx, dy, length)``; a ``[E, 3]`` one is kept as it is);
    * ``edge_weight`` ``[E]``: the move costs, 1 per edge where the graph had none (a grid's unit moves).

    Offsets keep their units (cells for a grid, metres for :func:`gvin.from_osm`): rescale them
    before mixing worlds whose scales differ.

    >>> batch = Batch.from_data_list([PlannerFields()(g) for g in (gvin.from_grid(maze, goal), roadmap)])
    """

    def __init__(self, length: bool = False, labels: bool = False) -> None:
        for name, value in (("length", length), ("labels", labels)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        self.length, self.labels = length, labels

    def forward(self, data: Data) -> Data:
        missing = [key for key in ("x", "edge_index", "edge_attr", "move", "goal") if getattr(data, key, None) is None]
        if missing:
            raise ValueError(f"a planning graph needs {missing} for PlannerFields (build it with gvin.from_grid, "
                             "gvin.from_networkx, gvin.probabilistic_roadmap or gvin.from_osm)")
        x, edge_attr, pos = data.x, data.edge_attr, getattr(data, "pos", None)
        if pos is not None and (pos.dim() != 2 or pos.shape[1] != 2):
            raise ValueError(f"PlannerFields takes 2-D graphs; pos is {tuple(pos.shape)} (a 3-D grid's offsets "
                             "are not a 2-D graph's)")
        if x.dim() != 2 or x.shape[1] not in (1, 2):
            raise ValueError(f"x must be [N, 1] (goal) or [N, 2] (free, goal), got {tuple(x.shape)}")
        if edge_attr.dim() != 2 or edge_attr.shape[1] not in (2, 3):
            raise ValueError(f"edge_attr must be [E, 2] offsets or [E, 3] offsets and length, got {tuple(edge_attr.shape)}")
        if edge_attr.shape[1] == 3 and not self.length:
            raise ValueError("edge_attr has 3 columns (offsets and length, a street window's): use PlannerFields(length=True)")
        if x.shape[1] == 1:
            x = torch.cat([torch.ones_like(x), x], dim=1)
        if self.length and edge_attr.shape[1] == 2:
            edge_attr = torch.cat([edge_attr, edge_attr.norm(dim=1, keepdim=True)], dim=1)
        weight = getattr(data, "edge_weight", None)
        if weight is None:
            weight = edge_attr.new_ones(edge_attr.shape[0])
        out = Data(x=x, edge_index=data.edge_index, edge_attr=edge_attr, edge_weight=weight, move=data.move,
                   goal=data.goal, num_nodes=data.num_nodes)
        if getattr(data, "pos", None) is not None:
            out.pos = data.pos
        if self.labels:  # the graph's own labels, or the expert's (with these fields' move costs)
            labelled = all(getattr(data, key, None) is not None for key in ("dist", "optimal"))
            if labelled:
                out.dist, out.optimal = data.dist, data.optimal
            else:
                label_graph(out)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(length={self.length}, labels={self.labels})"
