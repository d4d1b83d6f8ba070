"""A convolution whose kernel is indexed by edge type: a grid conv, on graphs."""
from __future__ import annotations

import math

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

    Shapes:
        x ``[N, C_in]``, edge_index ``[2, E]``, edge_type ``[E]`` → ``[N, C_out]``.
        With a :class:`~gvin.nn.stencil.Stencil` (``S == T`` slots) the layer
        gathers instead of scattering; the result is the same.
    """

    def __init__(self, in_channels: int, out_channels: int, num_edge_types: int, bias: bool = True):
        super().__init__()
        self.in_channels = in_channels = check.positive_int(in_channels, "in_channels")
        self.out_channels = out_channels = check.positive_int(out_channels, "out_channels")
        self.num_edge_types = num_edge_types = check.positive_int(num_edge_types, "num_edge_types")
        self.weight = nn.Parameter(torch.empty(num_edge_types, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same fan-in scaling as a conv with a T-cell kernel.
        bound = 1.0 / math.sqrt(self.in_channels * self.num_edge_types)
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
        gathered = stencil.gather(x)  # [N, S, C_in], zeros in empty slots
        # One [N, S·C_in] @ [S·C_in, C_out] product (einsum would batch it over the slots).
        return gathered.reshape(x.shape[0], -1) @ self.weight.reshape(-1, self.out_channels)

    def _forward_scatter(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        src, dst = edge_index
        # Transform every node once per type, then pick one row per edge: [N, T, C_out].
        transformed = torch.einsum("nc,tco->nto", x, self.weight)
        messages = transformed[dst, edge_type]
        out = x.new_zeros(x.shape[0], self.out_channels)
        return out.index_add_(0, src, messages)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, num_edge_types={self.num_edge_types}, "
            f"bias={self.bias is not None}"
        )
