r"""Value iteration as message passing: ``K`` Bellman backups, and how their backward pass is paid for.

One layer (a Bellman backup in a latent MDP with ``A`` actions):

.. math::
    Q_k[s, a] = R[s, a] + \gamma \sum_{e=(s,s')} P[e, a]\, V_{k-1}[s'], \qquad
    V_k[s] = \max_a Q_k[s, a].

The layer and the transitions ``T: V ↦ Σ_e P[e, a] V[s']`` it runs on
(:class:`EdgeTransition`, :class:`StencilTransition`) live in :mod:`gvin.nn.bellman`
and are re-exported here; the memory-compact modes in :mod:`gvin.nn.deep`.
:func:`value_iteration` chooses between the plain unrolled loop and those modes.
"""
from __future__ import annotations

from typing import Collection

import torch
from torch import Tensor

from gvin import _checks as check
from gvin.nn.bellman import (  # the layer's names, re-exported: gvin.nn.value_iteration.EdgeTransition etc.
    GRID_CONV_MAX_ACTIONS,
    SWEEP_MAX_ACTIONS,
    EdgeTransition,
    LayerHook,
    StencilTransition,
    Transition,
    backup_actions_first,
    bellman_backup,
    check_transition,
    grid_conv,
    max_over_actions,
)
from gvin.nn.deep import compact_value_iteration

MEMORY_MODES = ("auto", "autograd", "compact", "checkpoint")
COMPACT_BUDGET_BYTES = 128 * 2**20
"""``memory="auto"`` runs ``"compact"`` while its per-layer history (``V`` and
arg-max: 5 bytes per node and layer in float32) fits this budget, else ``"checkpoint"``."""


def resolve_memory(memory: str, num_nodes: int, num_iterations: int, dtype: torch.dtype = torch.float32) -> str:
    """The memory mode ``memory="auto"`` stands for on this problem size."""
    if memory != "auto":
        return memory
    history = num_nodes * num_iterations * (torch.finfo(dtype).bits // 8 + 1)
    return "compact" if history <= COMPACT_BUDGET_BYTES else "checkpoint"


def value_iteration(
    reward: Tensor,
    transition: Transition,
    num_iterations: int,
    gamma: float = 1.0,
    values: Tensor | None = None,
    hook: LayerHook | None = None,
    layers: Collection[int] | None = None,
    memory: str = "autograd",
    segment: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Run ``K`` Bellman backups from ``V_0`` (zeros by default).

    Args:
        reward: ``[N, A]``.
        transition: see :class:`Transition`.
        num_iterations: ``K >= 1``.
        gamma: discount.
        values: ``V_0`` ``[N]``.
        hook: called as ``hook(k, Q_k, V_k)`` after the layers in ``layers``
            (every layer if ``None``; only with ``memory="autograd"``), e.g. for
            a loss on intermediate layers.
        layers: the layers ``k`` to call ``hook`` at.
        memory: how the backward pass is paid for:

            * ``"auto"``: ``"compact"`` while its history fits
              :data:`COMPACT_BUDGET_BYTES`, else ``"checkpoint"``;
            * ``"autograd"``: plain autograd through the unrolled layers
              (keeps ``O(K·N·S·A)`` activations);
            * ``"compact"``: :class:`gvin.nn.deep.CompactValueIteration`, which keeps
              only each layer's input ``V`` and arg-max action (``O(K·N)``);
            * ``"checkpoint"``: compact, and only every ``segment``-th layer's
              ``V`` is kept; segments are recomputed in the backward pass
              (``O(√K·N)`` with the default ``segment = ⌈√K⌉``).

        segment: layers per recomputed segment (``"checkpoint"`` only).

    Returns:
        ``(Q_K [N, A], V_K [N])``. All modes give the same values and gradients;
        second-order gradients (``create_graph=True``) need ``memory="autograd"``
        (the other modes raise).
    """
    num_iterations = check.positive_int(num_iterations, "num_iterations")
    gamma = check.real(gamma, "gamma")
    check.tensor(reward, "reward")
    if reward.dim() != 2:
        raise ValueError(f"reward must be [N, A], got shape {tuple(reward.shape)}")
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory must be one of {MEMORY_MODES}, got {memory!r}")
    if reward.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"value iteration runs in float32 or float64, got {reward.dtype}: over hundreds of layers "
            "values grow while 16-bit floats keep ~3 significant digits, so the max over actions "
            "would be decided by rounding. Cast the model with .float(), or keep value iteration "
            "outside torch.autocast."
        )
    check_transition(reward, transition)
    if values is None:
        values = reward.new_zeros(reward.shape[0])
    check.tensor(values, "values")
    if values.shape != reward.shape[:1] or values.dtype != reward.dtype:
        raise ValueError(
            f"values (V_0) must be a {reward.dtype} [N]={reward.shape[0]} tensor like reward's rows, "
            f"got {values.dtype} {tuple(values.shape)}"
        )
    memory = resolve_memory(memory, reward.shape[0], num_iterations, reward.dtype)
    differentiable = torch.is_grad_enabled() and any(
        t.requires_grad for t in (reward, transition.weight, values)
    )
    if memory != "autograd" and hook is not None and layers is None:
        raise ValueError(f"memory={memory!r} calls the hook only at given layers: pass layers=")
    if memory != "autograd" and differentiable:  # without a backward pass, the plain loop stores nothing
        return compact_value_iteration(
            reward, transition, num_iterations, gamma, values, hook, layers or (), memory == "checkpoint", segment
        )
    q, reward_t = reward.T, reward.T.contiguous()
    for k in range(1, num_iterations + 1):
        q, values, _ = backup_actions_first(values, reward_t, transition, gamma)
        if hook is not None and (layers is None or k in layers):
            hook(k, q.T, values)
    return q.T, values


__all__ = [
    "value_iteration",
    "resolve_memory",
    "MEMORY_MODES",
    "COMPACT_BUDGET_BYTES",
    "Transition",
    "EdgeTransition",
    "StencilTransition",
    "GRID_CONV_MAX_ACTIONS",
    "grid_conv",
    "bellman_backup",
    "backup_actions_first",
    "SWEEP_MAX_ACTIONS",
    "max_over_actions",
    "LayerHook",
    "check_transition",
]
