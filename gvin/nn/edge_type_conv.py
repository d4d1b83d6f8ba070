"""A convolution whose kernel is indexed by edge type: a grid conv, on graphs."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.stencil import Stencil


class EdgeTypeConv(nn.Module):
    r"""Sum aggregation with one weight matrix per edge type.

    .. math::
        \mathbf{x}'_s = \mathbf{b} + \sum_{e=(s,s')} \mathbf{W}_{\tau(e)}^\top \mathbf{x}_{s'}

    aggregated at the *source* ``s`` (value flows against the transition). On a
    graph from :func:`gvin.from_grid` with ``kernel_size=F``, ``τ(e)`` is the flat
    kernel index, so this equals ``Conv2d``/``Conv3d`` with zero padding and
    ``weight[t] = conv.weight[:, :, *(offset_t + F // 2)].T``.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        num_edge_types: ``T``.
        bias: learn ``b``.
        slots: the edge types the layer reads (default all ``T``); edges of other
            types carry nothing. On a ``kernel_size=F`` grid graph, the slots of
            the inner ``3×3`` offsets make a ``3×3`` conv (GPPN's encoders).
            ``weight`` is then ``[len(slots), C_in, C_out]``.

    Shapes:
        x ``[N, C_in]``, edge_index ``[2, E]``, edge_type ``[E]`` → ``[N, C_out]``.
        With a :class:`~gvin.nn.stencil.Stencil` (``S == T`` slots) the layer
        gathers instead of scattering; the result is the same.
    """

    def __init__(
        self, in_channels: int, out_channels: int, num_edge_types: int, bias: bool = True,
        slots: Sequence[int] | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels = check.positive_int(in_channels, "in_channels")
        self.out_channels = out_channels = check.positive_int(out_channels, "out_channels")
        self.num_edge_types = num_edge_types = check.positive_int(num_edge_types, "num_edge_types")
        self.slots = _check_slots(slots, num_edge_types)
        read = num_edge_types if self.slots is None else len(self.slots)
        self.weight = nn.Parameter(torch.empty(read, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same fan-in scaling as a conv with a kernel of as many cells as slots read.
        bound = 1.0 / math.sqrt(self.in_channels * self.weight.shape[0])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        stencil: Stencil | None = None,
    ) -> Tensor:
        check.features(x, "x", self.in_channels, self.weight)
        if stencil is not None:
            if stencil.num_nodes != x.shape[0]:
                raise ValueError(f"the stencil has {stencil.num_nodes} nodes but x has {x.shape[0]} rows")
            out = self._forward_stencil(x, stencil)
        else:
            num_edges = check.edge_index(edge_index, x.shape[0])
            check.edge_type(edge_type, num_edges, self.num_edge_types)
            out = self._forward_scatter(x, edge_index, edge_type)
        return out if self.bias is None else out + self.bias

    def _forward_stencil(self, x: Tensor, stencil: Stencil) -> Tensor:
        if stencil.num_slots != self.num_edge_types:
            raise ValueError(
                f"stencil has {stencil.num_slots} slots but the layer has "
                f"{self.num_edge_types} edge types"
            )
        slots = self.weight.shape[0]
        if self.out_channels < self.in_channels:
            # Transform, then gather: C_out numbers move per slot instead of C_in (GPPN's
            # 150 → 1 message conv over a 9×9 stencil gathers 150× less).
            sent = x @ self.weight.permute(1, 0, 2).reshape(self.in_channels, slots * self.out_channels)
            received = stencil.gather_per_slot(sent.view(x.shape[0], slots, self.out_channels), self.slots)
            return received.sum(1)
        gathered = stencil.gather(x, slots=self.slots)  # [N, S, C_in], zeros in empty slots
        # One [N, S·C_in] @ [S·C_in, C_out] product (einsum would batch it over the slots).
        return gathered.reshape(x.shape[0], -1) @ self.weight.reshape(-1, self.out_channels)

    def _forward_scatter(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        src, dst = edge_index
        if self.slots is not None:  # keep the edges of the slots read, numbered as the weight's rows
            local = edge_type.new_full((self.num_edge_types,), -1)
            local[list(self.slots)] = torch.arange(len(self.slots), device=edge_type.device)
            edge_type = local[edge_type]
            read = edge_type >= 0
            src, dst, edge_type = src[read], dst[read], edge_type[read]
        # Transform every node once per type, then pick one row per edge: [N, T, C_out].
        transformed = torch.einsum("nc,tco->nto", x, self.weight)
        messages = transformed[dst, edge_type]
        out = x.new_zeros(x.shape[0], self.out_channels)
        return out.index_add_(0, src, messages)

    def extra_repr(self) -> str:
        slots = "" if self.slots is None else f", slots={list(self.slots)}"
        return (
            f"{self.in_channels}, {self.out_channels}, num_edge_types={self.num_edge_types}, "
            f"bias={self.bias is not None}{slots}"
        )


def _check_slots(slots: Sequence[int] | None, num_edge_types: int) -> tuple[int, ...] | None:
    """``slots`` as a sorted tuple of distinct edge types in ``[0, T)`` (``None``: all)."""
    if slots is None:
        return None
    values = tuple(int(s) for s in slots if isinstance(s, numbers.Integral) and not isinstance(s, bool))
    if len(values) != len(slots) or not values or len(set(values)) != len(values) or min(values) < 0 or max(values) >= num_edge_types:
        raise ValueError(f"slots must be distinct edge types in [0, {num_edge_types}), got {list(slots)}")
    return tuple(sorted(values))
