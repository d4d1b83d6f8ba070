"""Fixed-degree (stencil) layout of a planning graph.

A graph built by :func:`gvin.from_grid` has at most one edge per (source node,
stencil slot): its edges are a dense ``[N, S]`` table with holes at the border.
Operators on such a graph can gather instead of scatter. The table is derived
from ``edge_index`` and ``edge_type``, so it works on batches too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Callable

import torch
from torch import Tensor

from gvin import _checks as check
from gvin.nn.rows import gather_rows


@dataclass(frozen=True)
class GridLayout:
    """Nodes that are the cells of ``batch`` zero-padded grids of ``shape``, row-major,
    grid after grid, whose slot ``j`` joins a cell to the cell ``offsets[j]`` away.

    Such a graph's stencil operators are grid convolutions, and layers may run them as such
    (:meth:`gvin.nn.StencilTransition.actions_first`).
    """

    batch: int
    shape: tuple[int, ...]
    offsets: tuple[tuple[int, ...], ...]

    @property
    def radius(self) -> int:
        return max(abs(o) for offset in self.offsets for o in offset)

    @cached_property
    def kernel_positions(self) -> tuple[int, ...]:
        """The flat position of each slot's offset in the ``(2r+1)^d`` conv kernel (row-major)."""
        side, ndim = 2 * self.radius + 1, len(self.shape)
        strides = [side ** (ndim - 1 - axis) for axis in range(ndim)]
        return tuple(sum((o + self.radius) * s for o, s in zip(offset, strides)) for offset in self.offsets)


@dataclass(frozen=True)
class Stencil:
    """Dense slot table of a stencil graph.

    Attributes:
        neighbour: ``[N, S]`` long, the target node of each slot; ``N`` (one past
            the last node: a zero-valued pad) where the slot has no edge.
        edge: ``[N, S]`` long, the edge id of each slot; ``E`` where absent.
        mask: ``[N, S]`` bool, the slot has an edge.
        layout: the dense grid layout of the nodes, when :meth:`with_grid` found
            the table to be exactly that of whole grids (``None``: a general graph).
    """

    neighbour: Tensor
    edge: Tensor
    mask: Tensor
    layout: GridLayout | None = None

    def with_grid(self, shape, offsets) -> "Stencil":
        """This stencil with its :class:`GridLayout` if its slot table is exactly that of whole,
        zero-padded grids of ``shape`` with the slot offsets ``offsets [S, d]`` (one grid after
        another); else this stencil unchanged. The check compares the whole table, so a
        layer that uses the layout gives the same numbers as the gather it replaces.
        """
        shape = tuple(int(s) for s in shape)
        offsets = tuple(tuple(int(o) for o in offset) for offset in offsets)
        cells = math.prod(shape)
        if (
            not shape or cells == 0 or self.num_nodes % cells or len(offsets) != self.num_slots
            or any(len(offset) != len(shape) for offset in offsets)
        ):
            return self
        layout = GridLayout(self.num_nodes // cells, shape, offsets)
        one = _one_grid_table(shape, offsets, str(self.neighbour.device))
        first = torch.arange(layout.batch, device=one.device).view(-1, 1, 1) * cells
        expected = torch.where(one >= 0, one + first, self.num_nodes)  # [B, C, S]
        same = torch.equal(self.neighbour.view(layout.batch, cells, len(offsets)), expected)
        return replace(self, layout=layout) if same else self

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
        if self.layout is not None and node_values.dim() == 1:  # rows of features: the index is as fast
            return self._grid_shifts(node_values, slots, slot_axis=1, fill=fill)
        padded = torch.cat(
            [node_values, node_values.new_full((1, *node_values.shape[1:]), fill)]
        )
        return gather_rows(padded, self.neighbour if slots is None else self._columns(slots))

    def _grid_shifts(self, node_values: Tensor, slots: tuple[int, ...] | None, slot_axis: int, fill: float = 0.0) -> Tensor:
        """:meth:`gather` (``slot_axis=1``) or :meth:`gather_slot_major` (``slot_axis=0``) of node
        values on a :class:`GridLayout`: each slot is a shifted window of the padded grids, read
        with strides instead of an index (CPU: ~4× faster for one value per node, the value
        iteration's gathers; for rows of features no faster, so those keep the index)."""
        window = self.grid_windows(node_values, fill)
        windows = [window(j) for j in (range(self.num_slots) if slots is None else slots)]
        features = node_values.shape[1:]
        if slot_axis == 0:
            return torch.stack(windows).reshape(len(windows), self.num_nodes, *features)
        return torch.stack(windows, dim=1 + len(self.layout.shape)).reshape(self.num_nodes, len(windows), *features)

    def grid_windows(self, node_values: Tensor, fill: float = 0.0) -> Callable[[int], Tensor]:
        """On a :class:`GridLayout`: ``j ↦`` slot ``j``'s neighbour values as a ``[B, *shape, *F]`` view
        of the ``fill``-padded grids (a window shifted by the slot's offset; no copy)."""
        layout = self.layout
        radius, shape = layout.radius, layout.shape
        features = node_values.shape[1:]
        grid = node_values.reshape(layout.batch, *shape, *features)
        padded = torch.nn.functional.pad(grid, [0, 0] * len(features) + [radius, radius] * len(shape), value=fill)

        def window(slot: int) -> Tensor:
            offset = layout.offsets[slot]
            return padded[(slice(None), *(slice(radius + o, radius + o + n) for o, n in zip(offset, shape)))]

        return window

    def _columns(self, slots: tuple[int, ...]) -> Tensor:
        """``neighbour[:, slots]``, contiguous, built once per slot subset."""
        cache = self.__dict__.setdefault("_column_cache", {})
        if slots not in cache:
            cache[slots] = self.neighbour[:, list(slots)].contiguous()
        return cache[slots]

    def gather_per_slot(self, slot_values: Tensor, slots: tuple[int, ...] | None = None) -> Tensor:
        """``[N, S, *F]`` values each node sends through each slot → ``[N, S, *F]`` received:
        entry ``[s, j]`` is ``slot_values[neighbour[s, j], j]`` (0 in empty slots).

        With ``slots``, ``slot_values`` holds those slots only (``[N, len(slots), *F]``).
        A layer that transforms before it gathers (``x @ W_j`` for every slot ``j``)
        moves ``C_out`` numbers per slot instead of ``C_in``.
        """
        width = self.num_slots if slots is None else len(slots)
        if slot_values.shape[:2] != (self.num_nodes, width):
            raise ValueError(f"slot_values must be [N, S, ...] = {[self.num_nodes, width]}, got {tuple(slot_values.shape)}")
        features = slot_values.shape[2:]
        index = self._flat_rows(slots)
        flat = torch.cat([slot_values.reshape(-1, *features), slot_values.new_zeros(1, *features)])
        return gather_rows(flat, index)

    def _flat_rows(self, slots: tuple[int, ...] | None) -> Tensor:
        """``[N, S']`` rows of a flattened ``[N·S', ...]`` table: ``neighbour·S' + j``, the pad row
        ``N·S'`` in empty slots; built once per slot subset."""
        cache = self.__dict__.setdefault("_flat_row_cache", {})
        if slots not in cache:
            neighbour = self.neighbour if slots is None else self._columns(slots)
            width = neighbour.shape[1]
            rows = neighbour * width + torch.arange(width, device=neighbour.device)
            cache[slots] = torch.where(neighbour == self.num_nodes, self.num_nodes * width, rows)
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
        if self.layout is not None:
            return self._grid_shifts(node_values, None, slot_axis=0)
        return gather_rows(torch.cat([node_values, node_values.new_zeros(1)]), self.neighbour_slot_major)

    def scatter(self, slot_values: Tensor) -> Tensor:
        """The transpose of :meth:`gather`: ``[N, S]`` → ``[N]``, summing each
        slot's value into its neighbour (empty slots are dropped)."""
        check.tensor(slot_values, "slot_values")
        if tuple(slot_values.shape) != tuple(self.neighbour.shape):
            raise ValueError(f"slot_values must be [N, S] = {list(self.neighbour.shape)}, got {tuple(slot_values.shape)}")
        out = slot_values.new_zeros(self.num_nodes + 1)
        out.index_add_(0, self.neighbour.reshape(-1), slot_values.reshape(-1))
        return out[: self.num_nodes]


@lru_cache(maxsize=8)
def _one_grid_table(shape: tuple[int, ...], offsets: tuple[tuple[int, ...], ...], device: str) -> Tensor:
    """``[C, S]``: the cell each offset leads to from each cell of one grid of ``shape``, ``-1``
    where it leaves the grid (the tables of a batch are this plus ``b · C`` per grid)."""
    coords = torch.cartesian_prod(*(torch.arange(s) for s in shape)).view(-1, len(shape))
    target = coords.unsqueeze(1) + torch.tensor(offsets).unsqueeze(0)  # [C, S, d]
    inside = ((target >= 0) & (target < torch.tensor(shape))).all(-1)
    strides = torch.tensor([math.prod(shape[axis + 1:]) for axis in range(len(shape))])
    return torch.where(inside, (target * strides).sum(-1), -1).to(device)


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
