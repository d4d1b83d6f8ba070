"""Expert labels of a planning graph with a goal, from its exact least-cost distances."""
from __future__ import annotations

import torch
from torch_geometric.data import Data

from gvin.planners.shortest_paths import optimal_edges, shortest_path_distances


def label_graph(data: Data) -> Data:
    """Add the expert labels ``dist`` ``[N]`` (float32) and ``optimal`` ``[E]`` to a graph with a goal (in place).

    Distances follow ``data.edge_weight`` (unit costs without it); ``optimal``
    comes from the float64 distances, then ``dist`` is stored as float32.
    """
    dist = shortest_path_distances(data)
    data.optimal = optimal_edges(data, dist)
    data.dist = dist.to(torch.float32)
    return data
