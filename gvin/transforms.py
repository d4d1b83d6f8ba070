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

__all__ = ["AddExpertLabels", "label_graph"]


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
