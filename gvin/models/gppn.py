"""Gated Path Planning Network (Lee et al., 2018) on planning graphs."""
from __future__ import annotations

from torch import Tensor, nn

from gvin.models.base import GraphInputs, GraphPlanner, LayerHook
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.policy import EdgePolicyHead


class GPPN(GraphPlanner):
    r"""GPPN: a gated recurrent update of a hidden state per node.

    .. math::
        z = \mathrm{conv}_\tau(x),\quad h_0 = \mathrm{conv}^h_\tau(z),\quad c_0 = \mathrm{conv}^c_\tau(z),\quad
        u_k[s] = b + \sum_{e=(s,s')} w_{\tau(e)}^\top h_{k-1}[s'],\quad
        (h_k, c_k) = \mathrm{LSTMCell}(u_k, (h_{k-1}, c_{k-1}))

    as in the official GPPN: the recurrent input is one message channel per node,
    summed per edge type, and the cell is shared by all nodes. ``cell="gru"``
    uses a GRU (no ``c``). After ``K`` updates the policy head scores the
    out-edges from ``h_K`` (GPPN's ``k = K + 1``). ``q`` in the output is ``h``.

    Args:
        in_channels: node features.
        num_edge_types: ``T`` stencil slots.
        hidden_channels: ``l_h``, the recurrent state size.
        num_iterations: default ``K``.
        cell: ``"lstm"`` or ``"gru"``.
        actions: the policy chooses among ``"moves"`` or all ``"directions"``.
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_edge_types: int = 9,
        hidden_channels: int = 64,
        num_iterations: int = 20,
        cell: str = "lstm",
        actions: str = "moves",
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.num_edge_types = num_edge_types
        self.num_iterations = num_iterations
        self.actions = actions
        self.cell_type = cell
        self.encoder = EdgeTypeConv(in_channels, hidden_channels, num_edge_types)
        self.h0 = EdgeTypeConv(hidden_channels, hidden_channels, num_edge_types)
        self.c0 = EdgeTypeConv(hidden_channels, hidden_channels, num_edge_types) if cell == "lstm" else None
        self.message = EdgeTypeConv(hidden_channels, 1, num_edge_types)
        self.cell = nn.LSTMCell(1, hidden_channels) if cell == "lstm" else nn.GRUCell(1, hidden_channels)
        self.head = EdgePolicyHead(hidden_channels, num_edge_types, successor_value=False)

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.h0, self.c0, self.message, self.cell, self.head):
            if module is not None:
                module.reset_parameters()

    def plan(self, graph: GraphInputs, depth: int, hook: LayerHook) -> tuple[Tensor, Tensor]:
        z = self.encoder(graph.x, *graph.conv_args)
        h = self.h0(z, *graph.conv_args)
        c = self.c0(z, *graph.conv_args) if self.c0 is not None else None
        v = h.new_zeros(h.shape[0])
        for k in range(1, depth + 1):
            u = self.message(h, *graph.conv_args)
            if c is not None:
                h, c = self.cell(u, (h, c))
            else:
                h = self.cell(u, h)
            hook(k, h, v)
        return h, v

    def policy(self, graph: GraphInputs, q: Tensor, v: Tensor) -> Tensor:
        return self.head(q, v, graph.edge_index, graph.edge_type, graph.choice)
