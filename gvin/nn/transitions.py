"""Transition modules: where ``P[e, a]`` of the value-iteration operator comes from."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.edge_geometry_conv import EdgeGeometryConv
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.softmax import masked_log_softmax, segment_log_softmax
from gvin.nn.stencil import Stencil
from gvin.nn.bellman import EdgeTransition, StencilTransition, Transition
from gvin.nn.chunks import over_edge_chunks, recomputed_on_large_graphs


class DynamicTransition(nn.Module):
    r"""DT-VIN's transition: weights predicted per state, normalised over its out-edges.

    .. math::
        z = \mathrm{ReLU}(\mathrm{conv}_\tau(x)), \quad
        \ell_{s,t,a} = (W z_s + b)_{t,a}, \quad
        P[e, a] = \frac{\exp \ell_{s,\tau(e),a}}{\sum_{e'=(s,\cdot)} \exp \ell_{s,\tau(e'),a}}

    Each node predicts one logit per stencil slot and latent action from its
    neighbourhood; the softmax runs over the node's existing out-edges (walls
    included, cells outside the grid excluded). Computed once per forward pass
    and shared by all layers. ``edge_logits [E, A]``, when given, are added to
    each edge's logits before the softmax (an edge-aware planner's term of the
    edge's own features, :mod:`gvin.nn.edge_features`).

    Args:
        in_channels: node features.
        num_edge_types: ``T`` stencil slots.
        num_actions: ``A``.
        hidden_channels: channels of ``z``.

    Shapes:
        x ``[N, C]`` → a :class:`~gvin.nn.value_iteration.Transition` with
        ``P [N, T, A]`` (stencil) or ``[E, A]`` (edge list).
    """

    def __init__(self, in_channels: int, num_edge_types: int, num_actions: int, hidden_channels: int = 32):
        super().__init__()
        self.num_edge_types = num_edge_types = check.positive_int(num_edge_types, "num_edge_types")
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        hidden_channels = check.positive_int(hidden_channels, "hidden_channels")
        self.features = EdgeTypeConv(in_channels, hidden_channels, num_edge_types)
        self.logits = nn.Linear(hidden_channels, num_edge_types * num_actions)

    def reset_parameters(self) -> None:
        self.features.reset_parameters()
        self.logits.reset_parameters()

    def node_logits(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, stencil: Stencil | None) -> Tensor:
        """``[N, T, A]`` unnormalised transition logits per node and slot."""
        z = torch.relu(self.features(x, edge_index, edge_type, stencil))
        return self.logits(z).view(-1, self.num_edge_types, self.num_actions)

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_type: Tensor, stencil: Stencil | None = None,
        edge_logits: Tensor | None = None, support: Tensor | None = None,
    ) -> Transition:
        """``support [E]`` bool, when given, limits the softmax to those edges (see
        :func:`move_support`); the others carry no mass."""
        logits = self.node_logits(x, edge_index, edge_type, stencil)
        if stencil is not None:
            if edge_logits is not None:
                logits = logits + stencil.to_dense(edge_logits)
            mask = stencil.mask if support is None else stencil.to_dense(support, fill=False)
            mask = mask.unsqueeze(-1).expand_as(logits)
            return StencilTransition(masked_log_softmax(logits, mask, dim=1).exp(), stencil)
        per_edge = logits[edge_index[0], edge_type]
        edge_logits = per_edge if edge_logits is None else per_edge + edge_logits
        weight = segment_log_softmax(edge_logits, edge_index[0], x.shape[0], mask=support).exp()
        return EdgeTransition(weight, edge_index, x.shape[0])


def move_support(edge_index: Tensor, move: Tensor, num_nodes: int) -> Tensor:
    """``[E]`` bool: the edges a transition may put mass on when it follows the moves: every
    move and every self-loop. A node with neither keeps all its out-edges, so each node's
    transition stays a distribution.

    With this support a free cell's values never read an obstacle's, whose values grow
    more slowly than the goal's (an obstacle cannot reach it): so the values of the cells
    that can reach the goal settle into a front that moves on unchanged with depth.
    """
    source, target = edge_index
    support = move.bool() | (source == target)
    covered = torch.zeros(num_nodes, dtype=torch.bool, device=support.device).index_fill_(0, source[support], True)
    return support | ~covered[source]


class GeometricDynamicTransition(nn.Module):
    r"""DT-VIN's transition on graphs without edge types: per-edge logits from both ends and the edge's geometry.

    .. math::
        z = \mathrm{ReLU}(\mathrm{conv}_{\mathbf{a}}(x)), \quad
        \ell_{e,a} = \big(W_2\, \mathrm{ReLU}(U z_s + V z_{s'} + W \mathbf{a}_e + \mathbf{b}_1)
                     + \mathbf{b}_2\big)_a, \quad
        P[e, a] = \frac{\exp \ell_{e,a}}{\sum_{e'=(s,\cdot)} \exp \ell_{e',a}}

    for ``e = (s, s')``, with ``conv_a`` an :class:`~gvin.nn.EdgeGeometryConv`
    and ``a_e = edge_attr[e]``: an MLP on ``[z_s, z_{s'}, a_e]`` whose first layer
    is applied per node before the gather (``E × hidden`` memory, not
    ``E × (2C + D)``). The softmax runs over all out-edges of ``s`` (self-loops
    included), as the typed :class:`DynamicTransition` does over its stencil.
    Computed once per forward pass and shared by all layers.

    Args:
        in_channels: node features.
        edge_dim: ``D``, the width of ``edge_attr``.
        num_actions: ``A``.
        hidden_channels: channels of ``z``.
        num_bases: kernel matrices of the feature conv.
        edge_hidden: hidden width of the edge MLPs (the conv's mixture and the logits).

    Shapes:
        x ``[N, C]``, edge_index ``[2, E]``, edge_attr ``[E, D]`` → an
        :class:`~gvin.nn.value_iteration.EdgeTransition` with ``P [E, A]``.
    """

    def __init__(
        self,
        in_channels: int,
        edge_dim: int,
        num_actions: int,
        hidden_channels: int = 32,
        num_bases: int = 8,
        edge_hidden: int = 32,
    ):
        super().__init__()
        self.edge_dim = edge_dim = check.positive_int(edge_dim, "edge_dim")
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        hidden_channels = check.positive_int(hidden_channels, "hidden_channels")
        if isinstance(edge_hidden, int) and not isinstance(edge_hidden, bool) and edge_hidden == 0:
            raise ValueError(
                "edge_hidden must be an int >= 1: the transition logits are an MLP of both ends' features "
                "and edge_attr, and a hidden width of 0 would make them a constant"
            )
        edge_hidden = check.positive_int(edge_hidden, "edge_hidden")
        self.features = EdgeGeometryConv(in_channels, hidden_channels, edge_dim, num_bases, edge_hidden)
        self.source = nn.Linear(hidden_channels, edge_hidden)
        self.target = nn.Linear(hidden_channels, edge_hidden, bias=False)
        self.geometry = nn.Linear(edge_dim, edge_hidden, bias=False)
        self.logits = nn.Linear(edge_hidden, num_actions)

    def reset_parameters(self) -> None:
        for module in (self.features, self.source, self.target, self.geometry, self.logits):
            module.reset_parameters()

    def edge_logits(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """``[E, A]`` unnormalised transition logits per edge."""
        z = torch.relu(self.features(x, edge_index, edge_attr))
        source, target = self.source(z), self.target(z)

        def logits(src: Tensor, dst: Tensor, attr: Tensor) -> Tensor:  # [E'], [E'], [E', D] → [E', A]
            return self.logits((source[src] + target[dst] + self.geometry(attr)).relu_())  # a fresh sum: in place

        return over_edge_chunks(logits, edge_index[0], edge_index[1], edge_attr)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, support: Tensor | None = None) -> EdgeTransition:
        """``support [E]`` bool, when given, limits the softmax to those edges."""
        logits = self.edge_logits(x, edge_index, edge_attr)

        def probabilities(logits: Tensor) -> Tensor:
            return segment_log_softmax(logits, edge_index[0], x.shape[0], mask=support).exp()

        return EdgeTransition(recomputed_on_large_graphs(probabilities, logits), edge_index, x.shape[0])
