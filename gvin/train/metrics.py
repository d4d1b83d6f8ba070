"""Planning metrics: roll the greedy policy out from every node, as GPPN scores its mazes.

* **%Success**: the fraction of free nodes from which following the arg-max
  policy reaches the goal.
* **%Optimal**: the fraction of free nodes whose rolled-out path is as short as
  the shortest path. Following GPPN, the goal counts as optimal and successful,
  and a node that cannot reach the goal counts as optimal but not successful.

Both are averaged per graph, then over graphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def greedy_successor(log_probs: Tensor, edge_index: Tensor, num_nodes: int, move: Tensor) -> tuple[Tensor, Tensor]:
    """The arg-max out-edge of every node.

    Returns:
        ``(successor [N], valid [N] bool)``: the node the policy moves to, and
        whether its choice is a real move (a choice of a non-move, e.g. into a
        wall, or a node without choices leaves it in place and fails).
    """
    src, dst = edge_index
    finite = torch.isfinite(log_probs)
    scores = log_probs.masked_fill(~finite, float("-inf"))
    best = scores.new_full((num_nodes,), float("-inf")).scatter_reduce(0, src, scores, "amax", include_self=True)
    is_best = finite & (scores == best[src])
    # Lowest edge id among the maxima: a deterministic tie-break.
    edge_ids = torch.arange(src.numel(), device=src.device)
    first = torch.full((num_nodes,), src.numel(), dtype=torch.long, device=src.device)
    first = first.scatter_reduce(0, src[is_best], edge_ids[is_best], "amin", include_self=True)
    has_choice = first < src.numel()
    chosen = first.clamp_max(max(src.numel() - 1, 0))
    nodes = torch.arange(num_nodes, device=src.device)
    valid = has_choice & move[chosen]
    successor = torch.where(valid, dst[chosen], nodes)
    return successor, valid


def rollout_lengths(successor: Tensor, valid: Tensor, goal: Tensor, max_steps: int | None = None) -> Tensor:
    """Steps to reach a goal following ``successor`` from every node (inf if never).

    Computed backwards from the goals, one vectorised step per path length, so a
    cycle or a failed move simply never gets a finite length.
    """
    num_nodes = successor.numel()
    limit = num_nodes if max_steps is None else max_steps
    steps = torch.full((num_nodes,), float("inf"), device=successor.device)
    steps[goal] = 0.0
    for _ in range(limit):
        proposed = torch.where(valid & ~goal, steps[successor] + 1, steps)
        if torch.equal(proposed, steps):
            break
        steps = proposed
    return steps


@dataclass
class PlanningMetrics:
    """Per-graph means, averaged over graphs (fractions in [0, 1])."""

    optimal: float
    success: float
    num_graphs: int

    def as_percent(self) -> dict[str, float]:
        return {"%Optimal": 100 * self.optimal, "%Success": 100 * self.success}


def planning_metrics(
    log_probs: Tensor,
    edge_index: Tensor,
    move: Tensor,
    goal: Tensor,
    dist: Tensor,
    free: Tensor,
    batch: Tensor | None = None,
) -> PlanningMetrics:
    """%Optimal and %Success over every free node of every graph.

    Args:
        log_probs: ``[E]`` policy; edge_index ``[2, E]``; move ``[E]`` bool.
        goal: ``[N]`` bool; dist: ``[N]`` shortest distances (inf unreachable);
        free: ``[N]`` bool, the nodes to score; batch: ``[N]`` graph of each node.
    """
    num_nodes = goal.numel()
    successor, valid = greedy_successor(log_probs.detach(), edge_index, num_nodes, move)
    lengths = rollout_lengths(successor, valid, goal)
    dist = dist.to(lengths)
    reachable = torch.isfinite(dist)
    success = free & torch.isfinite(lengths)
    optimal = free & (~reachable | (torch.isfinite(lengths) & (lengths <= dist + 1e-6)))
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=goal.device)
    num_graphs = int(batch.max()) + 1 if num_nodes else 0

    def per_graph_mean(flag: Tensor) -> float:
        hits = torch.zeros(num_graphs, device=flag.device).index_add_(0, batch, flag.float())
        counts = torch.zeros(num_graphs, device=flag.device).index_add_(0, batch, free.float())
        has_free = counts > 0
        return float((hits[has_free] / counts[has_free]).mean()) if has_free.any() else float("nan")

    return PlanningMetrics(per_graph_mean(optimal), per_graph_mean(success), num_graphs)
