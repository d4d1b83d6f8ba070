"""Fixed-degree (stencil) layout of a planning graph.

A graph built by :func:`gvin.from_grid` has at most one edge per (source node,
stencil slot): its edges are a dense ``[N, S]`` table with holes at the border.
Operators on such a graph can gather instead of scatter. The table is derived
from ``edge_index`` and ``edge_type``, so it works on batches too.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from gvin import _checks as check


@dataclass(frozen=True)
class Stencil:
    """Dense slot table of a stencil graph.

    Attributes:
        neighbour: ``[N, S]`` long, the target node of each slot; ``N`` (one past
            the last node: a zero-valued pad) where the slot has no edge.
        edge: ``[N, S]`` long, the edge id of each slot; ``E`` where absent.
        mask: ``[N, S]`` bool, the slot has an edge.
    """

    neighbour: Tensor
    edge: Tensor
    mask: Tensor

    @property
    def num_nodes(self) -> int:
        return self.neighbour.shape[0]

    @property
    def num_slots(self) -> int:
        return self.neighbour.shape[1]

    def to_dense(self, edge_values: Tensor, fill: float = 0.0) -> Tensor:
        """``[E, *F]`` per-edge values → ``[N, S, *F]``, ``fill`` in empty slots."""
        check.tensor(edge_values, "edge_values")
        num_edges = int(self.mask.sum())
        if edge_values.dim() == 0 or edge_values.shape[0] != num_edges:
            raise ValueError(f"edge_values must have one row per edge ({num_edges}), got {tuple(edge_values.shape)}")
        padded = torch.cat(
            [edge_values, edge_values.new_full((1, *edge_values.shape[1:]), fill)]
        )
        return padded[self.edge]

    def gather(self, node_values: Tensor, fill: float = 0.0, slots: tuple[int, ...] | None = None) -> Tensor:
        """``[N, *F]`` node values → ``[N, S, *F]`` values of each slot's neighbour
        (``[N, len(slots), *F]`` for the given slots only)."""
        check.tensor(node_values, "node_values")
        if node_values.dim() == 0 or node_values.shape[0] != self.num_nodes:
            raise ValueError(
                f"node_values must have one row per node ({self.num_nodes}), got {tuple(node_values.shape)}"
            )
        padded = torch.cat(
            [node_values, node_values.new_full((1, *node_values.shape[1:]), fill)]
        )
        return _RowGather.apply(padded, self.neighbour if slots is None else self._columns(slots))

    def _columns(self, slots: tuple[int, ...]) -> Tensor:
        """``neighbour[:, slots]``, contiguous, built once per slot subset."""
        cache = self.__dict__.setdefault("_column_cache", {})
        if slots not in cache:
            cache[slots] = self.neighbour[:, list(slots)].contiguous()
        return cache[slots]

    @cached_property
    def neighbour_slot_major(self) -> Tensor:
        """``[S, N]``: :attr:`neighbour` transposed, contiguous (built once, on first use)."""
        return self.neighbour.T.contiguous()

    def gather_slot_major(self, node_values: Tensor) -> Tensor:
        """``[N]`` node values → ``[S, N]``: row ``s`` holds slot ``s``'s neighbour value of every node
        (0 in empty slots); :meth:`gather` transposed, laid out for per-slot sweeps over long rows."""
        if node_values.shape != (self.num_nodes,):
            raise ValueError(f"node_values must be [N]={self.num_nodes}, got {tuple(node_values.shape)}")
        return _RowGather.apply(torch.cat([node_values, node_values.new_zeros(1)]), self.neighbour_slot_major)

    def scatter(self, slot_values: Tensor) -> Tensor:
        """The transpose of :meth:`gather`: ``[N, S]`` → ``[N]``, summing each
        slot's value into its neighbour (empty slots are dropped)."""
        check.tensor(slot_values, "slot_values")
        if tuple(slot_values.shape) != tuple(self.neighbour.shape):
            raise ValueError(f"slot_values must be [N, S] = {list(self.neighbour.shape)}, got {tuple(slot_values.shape)}")
        out = slot_values.new_zeros(self.num_nodes + 1)
        out.index_add_(0, self.neighbour.reshape(-1), slot_values.reshape(-1))
        return out[: self.num_nodes]


class _RowGather(torch.autograd.Function):
    """``table[index]`` (rows of ``table`` picked by an integer ``index`` of any shape), whose
    backward sums the gradient rows with ``index_add_``: on CPU about twice as fast as the
    ``index_put_(accumulate=True)`` autograd uses for advanced indexing."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor) -> Tensor:
        ctx.save_for_backward(index)
        ctx.rows = table.shape[0]
        return table[index]

    @staticmethod
    def backward(ctx, grad: Tensor):
        (index,) = ctx.saved_tensors
        features = grad.shape[index.dim():]
        out = grad.new_zeros(ctx.rows, *features)
        return out.index_add_(0, index.reshape(-1), grad.reshape(-1, *features)), None


def build_stencil(
    edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_slots: int | None = None
) -> Stencil | None:
    """The slot table, or ``None`` when some (source, type) pair has several edges.

    Args:
        edge_index: ``[2, E]``.
        edge_type: ``[E]`` slot of each edge, in ``[0, S)``.
        num_nodes: ``N``.
        num_slots: ``S`` (default ``edge_type.max() + 1``).
    """
    num_nodes = check.positive_int(num_nodes, "num_nodes", minimum=0)
    num_edges = check.edge_index(edge_index, num_nodes)
    check.edge_type(edge_type, num_edges, None)
    if num_edges and int(edge_type.min()) < 0:
        raise ValueError(f"edge_type must be >= 0 (a slot), got {int(edge_type.min())}")
    device = edge_index.device
    if num_slots is None:
        num_slots = int(edge_type.max()) + 1 if num_edges else 1
    num_slots = check.positive_int(num_slots, "num_slots")
    if num_edges and int(edge_type.max()) >= num_slots:
        raise ValueError(f"edge_type has values up to {int(edge_type.max())} but num_slots={num_slots}")
    src, dst = edge_index
    flat = src * num_slots + edge_type
    if num_edges and torch.unique(flat).numel() != num_edges:
        return None
    edge = torch.full((num_nodes * num_slots,), num_edges, dtype=torch.long, device=device)
    edge[flat] = torch.arange(num_edges, device=device)
    neighbour = torch.full((num_nodes * num_slots,), num_nodes, dtype=torch.long, device=device)
    neighbour[flat] = dst
    shape = (num_nodes, num_slots)
    return Stencil(neighbour.view(shape), edge.view(shape), (edge != num_edges).view(shape))
