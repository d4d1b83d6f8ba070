"""The greedy policy of a planner's edge scores: its arg-max edges, where it moves, and where that leads.

A planner scores the out-edges of every node (``log_probs [E]``); the greedy policy takes the
best one. :func:`greedy_edges` finds it, :func:`greedy_successor` follows it one step,
:func:`rollout_lengths` / :func:`greedy_rollout` follow it to a goal (``inf``: never). These sit
under both the planning metrics (:mod:`gvin.train.metrics`, which re-exports them) and the
planning on a user's map (:mod:`gvin.rollout`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from gvin import _checks as check


def greedy_edges(log_probs: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """The arg-max out-edge of every node.

    Ties go to the lowest edge id (deterministic). Non-finite log-probs
    (``-inf`` on edges the policy does not choose among, NaN) are never chosen.

    Args:
        log_probs: ``[E]``; edge_index: ``[2, E]``; num_nodes: ``N``.

    Returns:
        ``[N]`` long edge ids, ``-1`` for a node without a finite choice.
    """
    num_nodes = check.count(num_nodes, "num_nodes")
    num_edges = check.edge_index(edge_index, num_nodes)
    check.edge_scores(log_probs, num_edges)
    src = edge_index[0]
    finite = torch.isfinite(log_probs)
    scores = log_probs.masked_fill(~finite, float("-inf"))
    best = scores.new_full((num_nodes,), float("-inf")).scatter_reduce(0, src, scores, "amax", include_self=True)
    is_best = finite & (scores == best[src])
    edge_ids = torch.arange(num_edges, device=src.device)
    first = torch.full((num_nodes,), num_edges, dtype=torch.long, device=src.device)
    first = first.scatter_reduce(0, src[is_best], edge_ids[is_best], "amin", include_self=True)
    return torch.where(first < num_edges, first, torch.full_like(first, -1))


def greedy_successor(log_probs: Tensor, edge_index: Tensor, num_nodes: int, move: Tensor) -> tuple[Tensor, Tensor]:
    """Where the arg-max policy moves every node.

    Args:
        log_probs: ``[E]``; edge_index: ``[2, E]``; num_nodes: ``N``;
        move: ``[E]`` bool, the real moves.

    Returns:
        ``(successor [N], valid [N] bool)``: the node the policy moves to, and
        whether its choice is a real move (a choice of a non-move, e.g. into a
        wall, or a node without choices leaves it in place and fails).
    """
    chosen = greedy_edges(log_probs, edge_index, num_nodes)
    return _follow(chosen, edge_index, move)


def _follow(chosen: Tensor, edge_index: Tensor, move: Tensor) -> tuple[Tensor, Tensor]:
    """``chosen [N]`` edge ids (``-1``: none) → ``(successor [N], valid [N])``."""
    nodes = torch.arange(chosen.numel(), device=chosen.device)
    if edge_index.shape[1] == 0:
        return nodes, torch.zeros_like(nodes, dtype=torch.bool)
    safe = chosen.clamp_min(0)
    valid = (chosen >= 0) & move.bool()[safe]
    return torch.where(valid, edge_index[1][safe], nodes), valid


def rollout_lengths(
    successor: Tensor,
    valid: Tensor,
    goal: Tensor,
    max_steps: int | None = None,
    step_cost: Tensor | None = None,
) -> Tensor:
    """Cost of following ``successor`` from every node to a goal (``inf`` if never).

    Pointer doubling: after ``r`` rounds every node knows where it is after
    ``2^r`` steps and what those steps cost, so ``⌈log₂ N⌉`` vectorised rounds
    cover every path that does not repeat a node (cycles never reach a goal).

    Args:
        successor: ``[N]`` long; valid: ``[N]`` bool (a failed choice stays put);
        goal: ``[N]`` bool (absorbing).
        max_steps: only paths of at most this many steps succeed.
        step_cost: ``[N]`` cost of each node's move (default 1).

    Returns:
        ``[N]`` float path costs (``0`` at goals, ``inf`` on failure).
    """
    num_nodes = check.tensor(successor, "successor").numel()
    check.index_vector(successor, "successor", num_nodes, "N", num_nodes, "a node index")
    check.binary_vector(valid, "valid", num_nodes, "N")
    check.binary_vector(goal, "goal", num_nodes, "N")
    if max_steps is not None:
        max_steps = check.count(max_steps, "max_steps")
    if step_cost is not None:
        check.tensor(step_cost, "step_cost")
        if step_cost.shape != (num_nodes,):
            raise ValueError(f"step_cost must be [N]={num_nodes}, got {tuple(step_cost.shape)}")
    device = successor.device
    moving = valid.bool() & ~goal.bool()
    nodes = torch.arange(num_nodes, device=device)
    position = torch.where(moving, successor, nodes)
    steps = moving.long()
    cost_dtype = step_cost.dtype if step_cost is not None and step_cost.is_floating_point() else torch.float32
    cost = (step_cost.to(cost_dtype) if step_cost is not None else moving.to(cost_dtype)) * moving
    for _ in range(max(1, math.ceil(math.log2(max(num_nodes, 2))))):
        cost = cost + cost[position]
        steps = steps + steps[position]
        position = position[position]
    reached = goal.bool()[position]
    if max_steps is not None:
        reached &= steps <= max_steps
    return torch.where(reached, cost, torch.full_like(cost, float("inf")))


def greedy_rollout(
    log_probs: Tensor,
    edge_index: Tensor,
    move: Tensor,
    goal: Tensor,
    edge_weight: Tensor | None = None,
    max_steps: int | None = None,
) -> Tensor:
    """:func:`rollout_lengths` of the arg-max policy: ``[N]`` path costs (``inf`` = failure)."""
    num_nodes = check.tensor(goal, "goal").numel()
    chosen = greedy_edges(check.tensor(log_probs, "log_probs").detach(), edge_index, num_nodes)
    check.binary_vector(move, "move", edge_index.shape[1], "E")
    successor, valid = _follow(chosen, edge_index, move)
    step_cost = None
    if edge_weight is not None and edge_weight.numel():
        if check.tensor(edge_weight, "edge_weight").shape != (edge_index.shape[1],):
            raise ValueError(f"edge_weight must be [E]={edge_index.shape[1]}, got {tuple(edge_weight.shape)}")
        step_cost = edge_weight.detach()[chosen.clamp_min(0)]
    return rollout_lengths(successor, valid, goal, max_steps, step_cost)


__all__ = ["greedy_edges", "greedy_successor", "rollout_lengths", "greedy_rollout"]
