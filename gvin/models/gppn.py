"""Gated Path Planning Network (Lee et al., 2018) on planning graphs."""
from __future__ import annotations

import math
import numbers
from typing import Collection

import torch
from torch import Tensor, nn

from gvin._checks import flag, positive_int
from gvin.models.base import GraphInputs, GraphPlanner, LayerHook
from gvin.nn.edge_kernels import DEFAULT_NUM_EDGE_TYPES


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
    With ``edge_dim`` (graphs without edge types) every ``conv_τ`` and ``w_τ``
    becomes a function of ``edge_attr`` (:class:`~gvin.nn.EdgeGeometryConv`,
    :class:`~gvin.nn.GeometricPolicyHead`).

    With ``edge_features=D`` a typed GPPN also reads each edge's features ``f_e``
    (``edge_attr [E, D]`` and the move flag, :mod:`gvin.nn.edge_features`): the
    message gains ``Σ_{e=(s,s')} (U^\top f_e)^\top h_{k-1}[s']``, a per-edge weight
    of the neighbour's state (``U`` starts at zero).

    Args:
        in_channels: node features.
        num_edge_types: ``T`` stencil slots; 9 unless ``edge_dim`` is given.
        hidden_channels: ``l_h``, the recurrent state size.
        num_iterations: default ``K``.
        cell: ``"lstm"`` or ``"gru"``.
        actions: the policy chooses among ``"moves"`` or all ``"directions"``.
        stencil: ``[T, d]`` offsets table (``gvin.grid_stencil(...)``) of the grid
            graphs the planner is built for; sets ``num_edge_types = T`` and makes
            the planner refuse a graph whose ``data.stencil`` differs.
        edge_dim: ``D``: plan on ``data.edge_attr [E, D]`` instead of edge types.
        num_bases: (geometric) kernel matrices mixed per edge in the convs.
        edge_hidden: (geometric) hidden width of the edge MLPs.
        encoder_kernel_size: an odd window narrower than the stencil for the
            encoder and the ``h_0`` / ``c_0`` convs (needs ``stencil``); the
            official GPPN uses ``3×3`` there whatever the message kernel ``F``.
            Default: the whole stencil.
        edge_features: ``D`` of ``data.edge_attr [E, D]`` to read as per-edge
            features (typed planners; ``None``: edge types alone).
        forget_bias: the LSTM's initial forget-gate bias (default 1: see
            :meth:`reset_parameters`); ``None`` keeps PyTorch's initialisation,
            as the official code does. A GRU has no forget gate and ignores it.
        initial_state: learn ``h_0`` / ``c_0`` from the encoding (default, GPPN);
            ``False`` starts the recurrence from zeros (the implicit variant).
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_edge_types: int | None = DEFAULT_NUM_EDGE_TYPES,
        hidden_channels: int = 64,
        num_iterations: int = 20,
        cell: str = "lstm",
        actions: str = "moves",
        edge_dim: int | None = None,
        num_bases: int = 8,
        edge_hidden: int = 32,
        stencil=None,
        encoder_kernel_size: int | None = None,
        forget_bias: float | None = 1.0,
        edge_features: int | None = None,
        initial_state: bool = True,
    ):
        super().__init__(
            in_channels, num_iterations, actions, num_edge_types=num_edge_types, edge_dim=edge_dim, stencil=stencil,
            num_bases=num_bases, edge_hidden=edge_hidden, edge_features=edge_features,
        )
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        edges = self.edge_kernels
        self.cell_type = cell
        if forget_bias is not None and (
            isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real) or not math.isfinite(forget_bias)
        ):
            raise ValueError(f"forget_bias must be a finite number or None, got {forget_bias!r}")
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        hidden_channels = positive_int(hidden_channels, "hidden_channels")
        window = self.window_slots(encoder_kernel_size)
        self.encoder = edges.conv(in_channels, hidden_channels, slots=window)
        initial_state = flag(initial_state, "initial_state")
        self.h0 = edges.conv(hidden_channels, hidden_channels, slots=window) if initial_state else None
        self.c0 = edges.conv(hidden_channels, hidden_channels, slots=window) if initial_state and cell == "lstm" else None
        self.message = edges.conv(hidden_channels, 1)
        self.cell = nn.LSTMCell(1, hidden_channels) if cell == "lstm" else nn.GRUCell(1, hidden_channels)
        self._open_forget_gate()
        self.head = edges.policy_head(hidden_channels, successor_value=False, head="raw")
        self.edge_message = self.edge_term(hidden_channels)

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.h0, self.c0, self.message, self.cell, self.head, self.edge_message):
            if module is not None:
                module.reset_parameters()
        self._open_forget_gate()

    def _open_forget_gate(self) -> None:
        """Forget-gate bias ``forget_bias`` (LSTM gates are ordered i, f, g, o).

        With PyTorch's default the cell halves its memory every step: the maze is
        forgotten after a few dozen steps and training stalls at a flat loss.
        """
        if isinstance(self.cell, nn.LSTMCell) and self.forget_bias is not None:
            hidden = self.cell.hidden_size
            with torch.no_grad():
                self.cell.bias_ih[hidden : 2 * hidden].fill_(float(self.forget_bias))
                self.cell.bias_hh[hidden : 2 * hidden].zero_()

    def plan(self, graph: GraphInputs, depth: int, hook: LayerHook, layers: Collection[int]) -> tuple[Tensor, Tensor]:
        z = self.encoder(graph.x, *graph.conv_args)
        if self.h0 is not None:
            h = self.h0(z, *graph.conv_args)
            c = self.c0(z, *graph.conv_args) if self.c0 is not None else None
        else:
            h = z.new_zeros(z.shape[0], self.cell.hidden_size)
            c = torch.zeros_like(h) if isinstance(self.cell, nn.LSTMCell) else None
        v = h.new_zeros(h.shape[0])
        messages = self.messages(graph)
        for k in range(1, depth + 1):
            u = messages(h)
            if c is not None:
                h, c = self.cell(u, (h, c))
            else:
                h = self.cell(u, h)
            hook(k, h, v)
        return h, v

    def messages(self, graph: GraphInputs):
        """``h [N, C] ↦ u [N, 1]``, the recurrent input; the per-edge weights of an edge-aware
        GPPN are computed once here and shared by every step."""
        if self.edge_message is None:
            return lambda h: self.message(h, *graph.conv_args)
        weight = self.edge_message(graph.edge_features, graph.stencil)  # [N, S, C] or [E, C]
        if graph.stencil is not None:
            stencil = graph.stencil
            return lambda h: self.message(h, *graph.conv_args) + (stencil.gather(h) * weight).sum((1, 2)).unsqueeze(-1)
        src, dst = graph.edge_index

        def edge_messages(h: Tensor) -> Tensor:
            per_edge = (h[dst] * weight).sum(-1)
            return self.message(h, *graph.conv_args) + h.new_zeros(h.shape[0]).index_add(0, src, per_edge).unsqueeze(-1)

        return edge_messages

