"""Policies over the out-edges of each node: the agent's real actions are moves along edges."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.edge_geometry_conv import EdgeMLP
from gvin.nn.softmax import segment_log_softmax


class EdgePolicyHead(nn.Module):
    r"""Scores every out-edge ``e = (s, s')`` and normalises over the moves of ``s``.

    .. math::
        \ell_e = Q_s^\top \mathbf{w}_{\tau(e)} + \beta\, V_{s'}, \qquad
        \log \pi(e \mid s) = \ell_e - \log \sum_{e' = (s, \cdot),\ \mathrm{move}(e')} e^{\ell_{e'}}

    On a grid graph with one edge type per direction this is the usual linear
    (1×1 conv) head over ``Q`` plus a learned multiple of the successor's value.

    Args:
        num_actions: ``A``, latent actions in ``Q``.
        num_edge_types: ``T``, one weight vector per edge type.
        successor_value: learn ``β`` (initialised 0) for the ``V[s']`` term.

    Shapes:
        q ``[N, A]``, v ``[N]``, edge_index ``[2, E]``, edge_type ``[E]``,
        move ``[E]`` bool → log-probabilities ``[E]`` (``-inf`` on non-moves).
    """

    def __init__(self, num_actions: int, num_edge_types: int, successor_value: bool = True):
        super().__init__()
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        self.num_edge_types = num_edge_types = check.positive_int(num_edge_types, "num_edge_types")
        self.weight = nn.Parameter(torch.empty(num_actions, num_edge_types))
        self.beta = nn.Parameter(torch.zeros(())) if successor_value else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.num_actions)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.beta is not None:
            nn.init.zeros_(self.beta)

    def logits(self, q: Tensor, v: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        """Unnormalised scores ``[E]``."""
        src, dst = edge_index
        scores = (q @ self.weight)[src, edge_type]
        if self.beta is not None:
            scores = scores + self.beta * v[dst]
        return scores

    def forward(
        self, q: Tensor, v: Tensor, edge_index: Tensor, edge_type: Tensor, move: Tensor
    ) -> Tensor:
        num_edges = _check_head_inputs(q, v, edge_index, move, self.num_actions, self.weight)
        check.edge_type(edge_type, num_edges, self.num_edge_types)
        scores = self.logits(q, v, edge_index, edge_type)
        return segment_log_softmax(scores, edge_index[0], q.shape[0], mask=move)


class GeometricPolicyHead(nn.Module):
    r""":class:`EdgePolicyHead` for graphs without edge types: the weight vector of an edge comes from its geometry.

    .. math::
        \ell_e = Q_s^\top \mathbf{w}(\mathbf{a}_e) + \beta\, V_{s'}, \qquad
        \log \pi(e \mid s) = \ell_e - \log \sum_{e' = (s, \cdot),\ \mathrm{move}(e')} e^{\ell_{e'}}

    with ``a_e = edge_attr[e]`` and ``w`` an :class:`~gvin.nn.EdgeMLP` (linear when
    ``hidden`` is ``None``/``0``). With ``w(a_e) = W[:, τ(e)]`` it is :class:`EdgePolicyHead`.

    Args:
        num_actions: ``A``, latent actions in ``Q``.
        edge_dim: ``D``, the width of ``edge_attr``.
        hidden: hidden width of ``w`` (``None``/``0``: linear).
        successor_value: learn ``β`` (initialised 0) for the ``V[s']`` term.

    Shapes:
        q ``[N, A]``, v ``[N]``, edge_index ``[2, E]``, edge_attr ``[E, D]``,
        move ``[E]`` bool → log-probabilities ``[E]`` (``-inf`` on non-moves).
    """

    def __init__(self, num_actions: int, edge_dim: int, hidden: int | None = 32, successor_value: bool = True):
        super().__init__()
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        self.edge_dim = edge_dim = check.positive_int(edge_dim, "edge_dim")
        self.weight = EdgeMLP(edge_dim, num_actions, hidden)
        self.beta = nn.Parameter(torch.zeros(())) if successor_value else None

    def reset_parameters(self) -> None:
        self.weight.reset_parameters()
        if self.beta is not None:
            nn.init.zeros_(self.beta)

    def logits(self, q: Tensor, v: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Unnormalised scores ``[E]``."""
        src, dst = edge_index
        scores = (q[src] * self.weight(edge_attr)).sum(-1)
        if self.beta is not None:
            scores = scores + self.beta * v[dst]
        return scores

    def forward(
        self, q: Tensor, v: Tensor, edge_index: Tensor, edge_attr: Tensor, move: Tensor
    ) -> Tensor:
        _check_head_inputs(q, v, edge_index, move, self.num_actions, next(self.parameters(), q))
        scores = self.logits(q, v, edge_index, edge_attr)
        return segment_log_softmax(scores, edge_index[0], q.shape[0], mask=move)


def _check_head_inputs(q: Tensor, v: Tensor, edge_index: Tensor, move: Tensor, num_actions: int, weight: Tensor) -> int:
    """``q [N, A]``, ``v [N]``, ``edge_index [2, E]``, ``move [E]`` bool; returns ``E``."""
    check.features(q, "q", num_actions, weight)
    check.tensor(v, "v")
    if v.shape != (q.shape[0],):
        raise ValueError(f"v must be [N]={q.shape[0]} (one value per row of q), got {tuple(v.shape)}")
    num_edges = check.edge_index(edge_index, q.shape[0])
    check.mask(move, "move", (num_edges,))
    return num_edges
