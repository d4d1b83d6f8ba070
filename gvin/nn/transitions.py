"""Transition modules: where ``P[e, a]`` of the value-iteration operator comes from."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.softmax import masked_log_softmax, segment_log_softmax
from gvin.nn.stencil import Stencil
from gvin.nn.value_iteration import EdgeTransition, StencilTransition, Transition


class DynamicTransition(nn.Module):
    r"""DT-VIN's transition: weights predicted per state, normalised over its out-edges.

    .. math::
        z = \mathrm{ReLU}(\mathrm{conv}_\tau(x)), \quad
        \ell_{s,t,a} = (W z_s + b)_{t,a}, \quad
        P[e, a] = \frac{\exp \ell_{s,\tau(e),a}}{\sum_{e'=(s,\cdot)} \exp \ell_{s,\tau(e'),a}}

    Each node predicts one logit per stencil slot and latent action from its
    neighbourhood; the softmax runs over the node's existing out-edges (walls
    included, cells outside the grid excluded). Computed once per forward pass
    and shared by all layers.

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
        self.num_edge_types = num_edge_types
        self.num_actions = num_actions
        self.features = EdgeTypeConv(in_channels, hidden_channels, num_edge_types)
        self.logits = nn.Linear(hidden_channels, num_edge_types * num_actions)

    def reset_parameters(self) -> None:
        self.features.reset_parameters()
        self.logits.reset_parameters()

    def node_logits(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, stencil: Stencil | None) -> Tensor:
        """``[N, T, A]`` unnormalised transition logits per node and slot."""
        z = torch.relu(self.features(x, edge_index, edge_type, stencil))
        return self.logits(z).view(-1, self.num_edge_types, self.num_actions)

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, stencil: Stencil | None = None) -> Transition:
        logits = self.node_logits(x, edge_index, edge_type, stencil)
        if stencil is not None:
            mask = stencil.mask.unsqueeze(-1).expand_as(logits)
            return StencilTransition(masked_log_softmax(logits, mask, dim=1).exp(), stencil)
        edge_logits = logits[edge_index[0], edge_type]
        weight = segment_log_softmax(edge_logits, edge_index[0], x.shape[0]).exp()
        return EdgeTransition(weight, edge_index, x.shape[0])
