r"""Deep value iteration with memory that grows far slower than depth.

Autograd through ``K`` unrolled layers keeps every layer's ``[N, S, A]``
messages. The backward pass of a layer needs much less: with
``Q_k = R + γ T(V_{k-1})`` and ``V_k = Q_k[a^*_k]``,

.. math::
    \bar Q_k = \bar V_k \, e_{a^*_k} \;(+\,\text{external}\ \bar Q_k),\qquad
    \bar R \mathrel{+}= \bar Q_k,\qquad
    (\bar V_{k-1}, \bar P) \mathrel{+}= \gamma\, T^\top_{V_{k-1}}(\bar Q_k),

so only ``V_{k-1}`` (``N`` floats) and the arg-max ``a^*_k`` (``N`` bytes) are
stored per layer. :class:`CompactValueIteration` runs a block of layers that
way; :func:`compact_value_iteration` chains blocks, splits them where a hook
reads a layer, and optionally recomputes each block in the backward pass
(``torch.utils.checkpoint``), keeping one ``V`` per block: ``O(√K · N)``.
"""
from __future__ import annotations

import math
from typing import Collection

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from gvin.nn.bellman import LayerHook, Transition, backup_actions_first, gradient_tensor, new_weight_gradient


def _action_dtype(num_actions: int) -> torch.dtype:
    return torch.uint8 if num_actions <= 255 else torch.int32


class CompactValueIteration(torch.autograd.Function):
    """``depth`` Bellman backups storing only ``V_{k-1}`` and ``a^*_k`` per layer.

    ``apply(reward [N, A], weight, values [N], transition, depth, gamma)`` →
    ``(Q_depth [N, A], V_depth [N])``; ``weight`` is ``transition.weight`` (passed
    separately so that autograd sees it). Ties in the max go to the index
    ``torch.max`` returns, as in the plain autograd path.
    """

    @staticmethod
    def forward(ctx, reward: Tensor, weight: Tensor, values: Tensor, transition: Transition, depth: int, gamma: float):
        transition = transition.with_weight(weight)
        history = values.new_empty(depth, values.shape[0])
        actions = torch.empty(depth, values.shape[0], dtype=_action_dtype(reward.shape[1]), device=values.device)
        q, reward_t = reward.T, reward.T.contiguous()
        for k in range(depth):
            history[k] = values
            q, values, action = backup_actions_first(values, reward_t, transition, gamma, need_action=True)
            actions[k] = action
        q = q.T
        ctx.save_for_backward(weight, history, actions)
        # A fresh copy: the one that ran holds its weights laid out for the layers ([S, A, N], 144 MB
        # on a 1M-node grid), which every checkpointed block would otherwise keep until its backward.
        ctx.transition = transition.with_weight(weight)
        ctx.gamma, ctx.reward_shape = gamma, reward.shape
        return q, values

    @staticmethod
    def backward(ctx, grad_q: Tensor | None, grad_values: Tensor | None):
        if torch.is_grad_enabled():  # create_graph=True: the stored arg-max history has no graph
            raise RuntimeError(
                "second-order gradients through compact value iteration are not supported; "
                "set memory='autograd' on the planner (or in value_iteration)"
            )
        weight, history, actions = ctx.saved_tensors
        transition, gamma = ctx.transition.with_weight(weight), ctx.gamma
        grad_reward = weight.new_zeros(ctx.reward_shape)
        grad_weight = new_weight_gradient(transition, weight)  # [E, A], or summed in a table's layout
        grad = grad_values if grad_values is not None else history.new_zeros(history.shape[1])
        for k in reversed(range(history.shape[0])):
            action = actions[k].long()
            if k == history.shape[0] - 1 and grad_q is not None:
                dense = grad_q.scatter_add(1, action.unsqueeze(-1), grad.unsqueeze(-1))
                grad_reward += dense
                grad, update = transition.vjp(history[k], gamma * dense)
                grad_weight += update
            else:
                grad_reward.scatter_add_(1, action.unsqueeze(-1), grad.unsqueeze(-1))
                grad = transition.vjp_argmax(history[k], gamma * grad, action, grad_weight)
        return grad_reward, gradient_tensor(grad_weight), grad, None, None, None


def _block(reward: Tensor, weight: Tensor, values: Tensor, transition: Transition, depth: int, gamma: float):
    return CompactValueIteration.apply(reward, weight, values, transition, depth, gamma)


def block_ends(depth: int, layers: Collection[int], segment: int | None) -> list[int]:
    """Where blocks end: at every hooked layer, every ``segment`` layers, and at ``depth``."""
    ends = {k for k in layers if 1 <= k <= depth} | {depth}
    if segment is not None:
        ends |= set(range(segment, depth, segment))
    return sorted(ends)


def compact_value_iteration(
    reward: Tensor,
    transition: Transition,
    depth: int,
    gamma: float,
    values: Tensor,
    hook: LayerHook | None,
    layers: Collection[int],
    recompute: bool,
    segment: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``"compact"`` / ``"checkpoint"`` modes of :func:`gvin.nn.value_iteration`."""
    if recompute and segment is None:
        segment = max(1, math.isqrt(depth - 1) + 1)  # ⌈√K⌉
    if segment is not None and segment < 1:
        raise ValueError(f"segment must be >= 1, got {segment}")
    wanted = set(layers)
    recompute = recompute and torch.is_grad_enabled()
    start, q = 0, reward
    for end in block_ends(depth, wanted, segment if recompute else None):
        args = (reward, transition.weight, values, transition, end - start, gamma)
        q, values = checkpoint(_block, *args, use_reentrant=False) if recompute else _block(*args)
        if hook is not None and end in wanted:
            hook(end, q, values)
        start = end
    return q, values
