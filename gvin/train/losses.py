r"""Imitation losses on planning graphs: a policy over out-edges against the set of optimal moves."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor


def segment_logsumexp(values: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """``log Σ exp(values)`` per segment; ``-inf`` for empty segments or all ``-inf`` entries."""
    seg_max = values.new_full((num_segments,), float("-inf")).scatter_reduce(
        0, index, values.detach(), "amax", include_self=True
    )
    safe_max = torch.where(torch.isfinite(seg_max), seg_max, torch.zeros_like(seg_max))
    total = values.new_zeros(num_segments).index_add_(0, index, (values - safe_max[index]).exp())
    return total.log() + safe_max


def optimal_set_nll(log_probs: Tensor, optimal: Tensor, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    r"""Per-node negative log-probability of taking *some* optimal move.

    .. math:: \ell_s = -\log \sum_{e=(s,\cdot)\ \text{optimal}} \pi(e \mid s)

    Ties are kept: the policy may spread its mass over all optimal moves.

    Args:
        log_probs: ``[E]`` policy log-probabilities over out-edges.
        optimal: ``[E]`` bool expert labels.
        edge_index: ``[2, E]``.

    Returns:
        ``(loss [N], labelled [N] bool)``: the loss is 0 where a node has no
        optimal move (walls, goals, unreachable cells); ``labelled`` marks the rest.
    """
    src = edge_index[0]
    masked = log_probs.masked_fill(~optimal, float("-inf"))
    log_mass = segment_logsumexp(masked, src, num_nodes)
    labelled = torch.zeros(num_nodes, dtype=torch.bool, device=src.device)
    labelled[src[optimal]] = True
    loss = torch.where(labelled, -log_mass, torch.zeros_like(log_mass))
    return loss, labelled


def imitation_loss(log_probs: Tensor, optimal: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """Mean :func:`optimal_set_nll` over the labelled nodes."""
    loss, labelled = optimal_set_nll(log_probs, optimal, edge_index, num_nodes)
    return loss.sum() / labelled.sum().clamp_min(1)


def highway_loss(
    layer_log_probs: Mapping[int, Tensor],
    optimal: Tensor,
    dist: Tensor,
    edge_index: Tensor,
    num_nodes: int,
) -> Tensor:
    r"""Adaptive highway loss (DT-VIN): supervise layer ``n`` only where it can already know.

    .. math:: L = \frac{1}{|\mathcal{T}|} \sum_{(n, s) \in \mathcal{T}} \ell_s^{(n)},\qquad
              \mathcal{T} = \{(n, s) : n \ge l(s)\}

    over the layers given (pick them with :func:`highway_layers`, ``n mod J = 0``),
    where ``l(s)`` is the shortest-path length from ``s`` (``dist``).

    Args:
        layer_log_probs: ``{n: log_probs [E]}``.
        optimal: ``[E]`` bool labels; ``dist``: ``[N]`` distances (inf = unreachable).
    """
    total = dist.new_zeros(())
    count = 0
    for layer, log_probs in layer_log_probs.items():
        loss, labelled = optimal_set_nll(log_probs, optimal, edge_index, num_nodes)
        active = labelled & (dist <= layer)
        total = total + loss[active].sum()
        count += int(active.sum())
    return total / max(count, 1)


def highway_layers(depth: int, every: int) -> list[int]:
    """Layers ``n ≤ depth`` with ``n mod every = 0``, and always the last one."""
    if every < 1:
        raise ValueError(f"the highway interval must be >= 1, got {every}")
    layers = list(range(every, depth + 1, every))
    if not layers or layers[-1] != depth:
        layers.append(depth)
    return layers
