"""Padded neighbour tables: any bounded-degree graph's out-edges as a dense ``[D, N]`` table.

A stencil graph (a grid) has at most one edge per (node, slot), and its operators gather over
a dense slot table (:mod:`gvin.nn.stencil`). Roadmaps, k-NN graphs, street networks and meshes have
no slots, but their degrees are bounded: node ``s``'s ``j``-th out-edge can sit in column ``s`` of row
``j`` of a table ``D`` rows deep. A layer then sweeps ``D`` rows of ``N`` contiguous numbers (one
gather and one multiply-add a row) instead of scattering ``E`` messages.

The depth ``D`` is chosen by cost, not set to the largest degree: a few high-degree nodes would make
every column as deep as theirs. Edges past row ``D`` (the *overflow*) are summed by a small scatter.
On a k-NN roadmap (degrees k+1 … 2k, mean ≈ 1.15 k) ``D`` is about the median degree and a few percent
of the edges overflow; on a graph with a hub the hub's edges overflow; a graph whose table would
hold less than half of its edges gets no table (:func:`neighbour_table` returns ``None``) and
keeps the scatter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from gvin import _checks as check
from gvin.nn.rows import gather_rows

OVERFLOW_COST = 4.0
"""Time to scatter one edge ÷ time to sweep one table slot (CPU, one thread, ``A`` = 4 actions,
measured with ``benchmarks/bench_large_graphs.py``): the table grows by a row while more than
``N / OVERFLOW_COST`` nodes would overflow it."""

MIN_TABLE_SHARE = 0.5
"""A graph gets a table only when the table holds at least this share of its edges."""


@dataclass(frozen=True)
class NeighbourTable:
    """The out-edges of an edge list as a ``[D, N]`` table, and those that do not fit.

    Attributes:
        neighbour: ``[D, N]`` long: row ``j``, column ``s`` is the target of node ``s``'s ``j``-th
            out-edge (in edge order); ``N`` (a zero pad) where ``s`` has fewer than ``j + 1``.
        edge: ``[D, N]`` long: that edge's id; ``E`` where empty.
        overflow: ``[E_o]`` long: ids of the edges past row ``D``, in edge order.
        overflow_edge_index: ``[2, E_o]``: those edges.
        num_nodes: ``N``.
        num_edges: ``E``.
    """

    neighbour: Tensor
    edge: Tensor
    overflow: Tensor
    overflow_edge_index: Tensor
    num_nodes: int
    num_edges: int

    @property
    def depth(self) -> int:
        """``D``, the rows of the table."""
        return self.neighbour.shape[0]

    def row_gatherer(self, values: Tensor) -> Callable[[int], Tensor]:
        """``j ↦`` slot row ``j``'s neighbour values ``[N]`` (0 in empty slots), made when called: a layer
        that sweeps the rows one at a time never holds all ``D`` of them."""
        if values.shape != (self.num_nodes,):
            raise ValueError(f"values must be [N]={self.num_nodes}, got {tuple(values.shape)}")
        padded = torch.cat([values, values.new_zeros(1)])
        return lambda slot: padded.index_select(0, self.neighbour[slot])

    def lay_out(self, edge_values: Tensor) -> Tensor:
        """``[E, A]`` per-edge values → ``[D, A, N]`` in table order (0 in empty slots); differentiable."""
        if edge_values.dim() != 2 or edge_values.shape[0] != self.num_edges:
            raise ValueError(f"edge_values must be [E, A] = [{self.num_edges}, A], got {tuple(edge_values.shape)}")
        padded = torch.cat([edge_values, edge_values.new_zeros(1, edge_values.shape[1])])
        dense = gather_rows(padded, self.edge, fixed_index=True)  # [D, N, A]
        return dense.permute(0, 2, 1).contiguous()

    def overflow_rows(self, edge_values: Tensor) -> Tensor:
        """``[E, A]`` per-edge values → ``[A, E_o]``: those of the overflow edges; differentiable."""
        return gather_rows(edge_values, self.overflow, fixed_index=True).T.contiguous()


def table_depth(degree: Tensor, overflow_cost: float = OVERFLOW_COST) -> int:
    """The cheapest depth ``D`` for out-degrees ``degree [N]``: the smallest with at most
    ``N / overflow_cost`` nodes of degree above it (one more row would cost ``N`` slot sweeps and
    save fewer than that many scatters' worth of overflow)."""
    num_nodes = degree.numel()
    counts = torch.bincount(degree)
    above = num_nodes - torch.cumsum(counts, 0)  # [d]: nodes of degree > d
    return int(torch.nonzero(above * overflow_cost <= num_nodes)[0])


def neighbour_table(
    edge_index: Tensor, num_nodes: int, overflow_cost: float = OVERFLOW_COST
) -> NeighbourTable | None:
    """The padded out-neighbour table of any graph (:class:`NeighbourTable`), or ``None`` when its
    degrees are too uneven for one to pay (the table would hold less than half of the edges).

    Args:
        edge_index: ``[2, E]``.
        num_nodes: ``N``.
        overflow_cost: see :data:`OVERFLOW_COST`.
    """
    num_nodes = check.positive_int(num_nodes, "num_nodes", minimum=0)
    num_edges = check.edge_index(edge_index, num_nodes)
    overflow_cost = check.real(overflow_cost, "overflow_cost")
    if overflow_cost <= 0:
        raise ValueError(f"overflow_cost must be > 0, got {overflow_cost!r}")
    if num_edges == 0 or num_nodes == 0:
        return None
    src = edge_index[0]
    degree = torch.bincount(src, minlength=num_nodes)
    depth = table_depth(degree, overflow_cost)
    order = torch.argsort(src, stable=True)
    first = torch.cumsum(degree, 0) - degree  # [N] position of each node's first edge in sorted order
    rank = torch.empty_like(src)
    rank[order] = torch.arange(num_edges, device=src.device) - first[src[order]]
    inside = rank < depth
    if int(inside.sum()) < MIN_TABLE_SHARE * num_edges:
        return None
    ids = torch.arange(num_edges, device=src.device)
    slot = rank[inside] * num_nodes + src[inside]
    edge = torch.full((depth * num_nodes,), num_edges, dtype=torch.long, device=src.device)
    edge[slot] = ids[inside]
    neighbour = torch.full((depth * num_nodes,), num_nodes, dtype=torch.long, device=src.device)
    neighbour[slot] = edge_index[1, inside]
    shape = (depth, num_nodes)
    outside = ~inside
    return NeighbourTable(neighbour.view(shape), edge.view(shape), ids[outside], edge_index[:, outside], num_nodes,
                          num_edges)
