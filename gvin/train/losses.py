r"""Imitation losses on planning graphs: a policy over out-edges against the set of optimal moves.

Every loss reads the expert labels of the planning-graph conventions: ``optimal``
``[E]`` bool (all optimal moves, ties kept) and, for the highway loss, ``dist``
``[N]`` (shortest-path length, ``inf`` where unreachable).
"""
from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import torch
from torch import Tensor

from gvin import _checks as check
from gvin._checks import graph_edge_index, positive_int


def segment_logsumexp(values: Tensor, index: Tensor, num_segments: int) -> Tensor:
    """``log Σ exp(values)`` per segment.

    Args:
        values: ``[E]`` (``-inf`` entries contribute nothing).
        index: ``[E]`` segment of each entry.
        num_segments: ``N``.

    Returns:
        ``[N]``; ``-inf`` for empty segments or segments of only ``-inf``
        entries. Gradients stay finite (zero) for such segments.
    """
    seg_max = values.new_full((num_segments,), float("-inf")).scatter_reduce(
        0, index, values.detach(), "amax", include_self=True
    )
    empty = seg_max == float("-inf")  # NaN is not empty: it propagates, so a diverged policy gives a NaN loss
    safe_max = seg_max.masked_fill(empty, 0.0)
    total = values.new_zeros(num_segments).index_add_(0, index, (values - safe_max[index]).exp())
    # log(0) has an infinite derivative: take the log of 1 on empty segments
    # and put the -inf back afterwards, so no NaN reaches the backward pass.
    log_total = total.masked_fill(empty, 1.0).log() + safe_max
    return log_total.masked_fill(empty, float("-inf"))


def optimal_set_nll(log_probs: Tensor, optimal: Tensor, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    r"""Per-node negative log-probability of taking *some* optimal move.

    .. math:: \ell_s = -\log \sum_{e=(s,\cdot)\ \text{optimal}} \pi(e \mid s)

    Ties are kept: the policy may spread its mass over all optimal moves.

    Args:
        log_probs: ``[E]`` policy log-probabilities over out-edges.
        optimal: ``[E]`` bool expert labels.
        edge_index: ``[2, E]``.
        num_nodes: ``N``.

    Returns:
        ``(loss [N], labelled [N] bool)``: the loss is 0 (with zero gradient)
        where a node has no optimal move (walls, goals, unreachable cells);
        ``labelled`` marks the rest.
    """
    optimal = _check_edge_labels(log_probs, optimal, edge_index, num_nodes)
    src = edge_index[0]
    masked = log_probs.masked_fill(~optimal, float("-inf"))
    log_mass = segment_logsumexp(masked, src, num_nodes)
    labelled = torch.zeros(num_nodes, dtype=torch.bool, device=src.device)
    labelled[src[optimal]] = True
    loss = (-log_mass).masked_fill(~labelled, 0.0)
    return loss, labelled


def imitation_loss(log_probs: Tensor, optimal: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """Mean :func:`optimal_set_nll` over the labelled nodes (a scalar; 0 if none).

    Labels on edges the policy cannot take are refused (:func:`check_labels_choosable`).
    """
    loss, labelled = optimal_set_nll(log_probs, optimal, edge_index, num_nodes)
    check_labels_choosable(log_probs, _check_edge_labels(log_probs, optimal, edge_index, num_nodes), edge_index)
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
              \mathcal{T} = \{(n, s) : s \text{ labelled},\ n \ge l(s)\}

    over the layers given (pick them with :func:`highway_layers`, ``n mod J = 0``),
    where ``l(s)`` is the shortest-path length from ``s`` (``dist``) and
    :math:`\ell^{(n)}` is :func:`optimal_set_nll` of layer ``n``'s policy.

    Args:
        layer_log_probs: ``{n: log_probs [E]}``.
        optimal: ``[E]`` bool labels.
        dist: ``[N]`` distances (``inf`` = unreachable).
        edge_index: ``[2, E]``.
        num_nodes: ``N``.

    Returns:
        A scalar; 0 (still attached to the graph) when no pair qualifies.
    """
    if not isinstance(layer_log_probs, Mapping):
        raise TypeError(f"layer_log_probs must be a mapping {{layer: log_probs [E]}}, got {type(layer_log_probs).__name__}")
    if not layer_log_probs:
        raise ValueError("highway_loss needs the log-probs of at least one layer")
    _check_dist(dist, num_nodes)
    terms = [
        highway_terms(layer, log_probs, optimal, dist, edge_index, num_nodes)
        for layer, log_probs in layer_log_probs.items()
    ]
    for log_probs in layer_log_probs.values():
        check_labels_choosable(log_probs, _check_edge_labels(log_probs, optimal, edge_index, num_nodes), edge_index)
    return reduce_highway_terms(terms)


def highway_terms(
    layer: int, log_probs: Tensor, optimal: Tensor, dist: Tensor, edge_index: Tensor, num_nodes: int
) -> Tensor:
    """Layer ``n``'s share of :func:`highway_loss`: ``[2]`` = (sum of losses, number of terms).

    Reducing each layer on the spot (see ``layer_loss`` of
    :meth:`gvin.models.GraphPlanner.forward`) keeps no layer's policy alive. It runs
    once per layer, so it checks only shapes (no host sync): the values of ``dist``
    and ``optimal`` are checked by :func:`highway_loss`, or once per batch by the trainer.
    """
    positive_int(layer, "layer")
    if not isinstance(dist, Tensor) or dist.shape != (num_nodes,):
        raise ValueError(f"dist must be [N]={num_nodes}, got {_shape(dist)}")
    loss, labelled = optimal_set_nll(log_probs, optimal, edge_index, num_nodes)
    active = labelled & (dist <= layer)
    return torch.stack([loss.masked_fill(~active, 0.0).sum(), active.sum().to(loss.dtype)])


def reduce_highway_terms(terms: Sequence[Tensor]) -> Tensor:
    """The mean over all (layer, node) terms; 0 (still attached) when there are none."""
    total = torch.stack(list(terms)).sum(0)
    return total[0] / total[1].clamp_min(1)


def highway_layers(depth: int, every: int) -> list[int]:
    """Layers ``n ≤ depth`` with ``n mod every = 0``, and always the last one (``depth``)."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise ValueError(f"the depth must be an int >= 1, got {depth!r}")
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"the highway interval must be an int >= 1, got {every!r}")
    layers = list(range(every, depth + 1, every))
    if not layers or layers[-1] != depth:
        layers.append(depth)
    return layers


def _check_edge_labels(log_probs: Tensor, optimal: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """Shapes and dtypes of a policy and its labels (``ValueError`` naming the field); ``optimal`` as bool."""
    graph_edge_index(edge_index, positive_int(num_nodes, "num_nodes"))
    num_edges = edge_index.shape[1]
    if not isinstance(log_probs, Tensor) or log_probs.shape != (num_edges,):
        raise ValueError(f"log_probs must be [E]={num_edges}, got {_shape(log_probs)}")
    if not isinstance(optimal, Tensor) or optimal.shape != (num_edges,):
        raise ValueError(f"optimal must be [E]={num_edges}, got {_shape(optimal)}")
    return check.binary(optimal, "optimal", "optimal must be a bool (or 0/1) mask of the optimal edges, got {dtype} "
                        "values {values}")


def check_labels_choosable(log_probs: Tensor, optimal: Tensor, edge_index: Tensor) -> None:
    """Refuse optimal labels on edges the policy cannot take (log-prob ``-inf``): not moves, or
    outside its action set. Such a label would make the loss infinite, or be silently ignored
    next to a node's real optimal moves."""
    blocked = optimal & (log_probs == float("-inf"))
    if bool(blocked.any()):
        edge = int(torch.nonzero(blocked)[0])
        source, target = (int(v) for v in edge_index[:, edge])
        raise ValueError(
            f"the optimal labels mark {int(blocked.sum())} edge(s) the policy cannot take (e.g. edge {edge}: "
            f"{source} → {target} has probability 0, so it is not a move or not in the policy's action set); "
            "labels must mark moves only (gvin.optimal_edges)"
        )


def _check_dist(dist: Tensor, num_nodes: int) -> None:
    if not isinstance(dist, Tensor) or dist.shape != (num_nodes,):
        raise ValueError(f"dist must be [N]={num_nodes}, got {_shape(dist)}")
    if bool(torch.isnan(dist).any()) or bool((dist < 0).any()):
        raise ValueError("dist must be non-negative distances (inf where unreachable), found NaN or < 0")


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__
