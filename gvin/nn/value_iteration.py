r"""Value iteration as message passing.

One layer (a Bellman backup in a latent MDP with ``A`` actions):

.. math::
    Q_k[s, a] = R[s, a] + \gamma \sum_{e=(s,s')} P[e, a]\, V_{k-1}[s'], \qquad
    V_k[s] = \max_a Q_k[s, a].

The sum runs over the out-edges of ``s`` (aggregation at ``edge_index[0]``): a
node without out-edges gets ``Q = R``, exactly as a zero-padded conv treats the
border, never a filled-in 0 inside a max. The max is over actions, not edges.

A *transition* is the linear map ``V ↦ Σ_e P[e, a] V[s']``: :class:`EdgeTransition`
scatters over an edge list, :class:`StencilTransition` gathers over the dense
slot table of a grid graph. Both give the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import Tensor

from gvin.nn.stencil import Stencil


class Transition(Protocol):
    """``V [N] → Σ_{e=(s,s')} P[e, a] V[s']  [N, A]``."""

    def __call__(self, values: Tensor) -> Tensor: ...


@dataclass
class EdgeTransition:
    """Transition weights per edge: ``weight [E, A]`` on ``edge_index [2, E]``."""

    weight: Tensor
    edge_index: Tensor
    num_nodes: int

    def __call__(self, values: Tensor) -> Tensor:
        src, dst = self.edge_index
        messages = self.weight * values[dst].unsqueeze(-1)
        out = values.new_zeros(self.num_nodes, self.weight.shape[-1])
        return out.index_add_(0, src, messages)


@dataclass
class StencilTransition:
    """Transition weights on a stencil: ``weight [N, S, A]`` per node, or ``[S, A]`` shared.

    Empty slots read a zero value, so their weight does not matter; shared
    weights (VIN) turn a layer into one ``[N, S] @ [S, A]`` matrix product.
    """

    weight: Tensor
    stencil: Stencil

    def __call__(self, values: Tensor) -> Tensor:
        neighbour_values = self.stencil.gather(values)  # [N, S]
        if self.weight.dim() == 2:
            return neighbour_values @ self.weight
        # A broadcast product beats einsum's batched 1×S @ S×A matmuls here.
        return (neighbour_values.unsqueeze(-1) * self.weight).sum(1)


def bellman_backup(
    values: Tensor, reward: Tensor, transition: Transition, gamma: float = 1.0
) -> tuple[Tensor, Tensor]:
    """One layer: ``values [N]`` → ``(Q [N, A], V [N])``."""
    q = reward + gamma * transition(values)
    return q, q.max(dim=-1).values


LayerHook = Callable[[int, Tensor, Tensor], None]


def value_iteration(
    reward: Tensor,
    transition: Transition,
    num_iterations: int,
    gamma: float = 1.0,
    values: Tensor | None = None,
    hook: LayerHook | None = None,
) -> tuple[Tensor, Tensor]:
    """Run ``K`` Bellman backups from ``V_0`` (zeros by default).

    Args:
        reward: ``[N, A]``.
        transition: see :class:`Transition`.
        num_iterations: ``K >= 1``.
        gamma: discount.
        values: ``V_0`` ``[N]``.
        hook: called as ``hook(k, Q_k, V_k)`` after every layer ``k = 1..K``
            (e.g. for a loss on intermediate layers) without keeping them.

    Returns:
        ``(Q_K [N, A], V_K [N])``.
    """
    if num_iterations < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    if reward.dim() != 2:
        raise ValueError(f"reward must be [N, A], got shape {tuple(reward.shape)}")
    if values is None:
        values = reward.new_zeros(reward.shape[0])
    q = reward
    for k in range(1, num_iterations + 1):
        q, values = bellman_backup(values, reward, transition, gamma)
        if hook is not None:
            hook(k, q, values)
    return q, values
