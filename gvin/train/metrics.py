"""Planning metrics: roll the greedy policy out from every node, as GPPN scores its mazes.

* **%Success**: the fraction of the free nodes that can reach the goal from
  which following the arg-max policy reaches it.
* **%Optimal**: the fraction of those nodes whose rolled-out path is as short as
  the shortest path (a path of optimal length counts even if it differs from
  the label).
* Following GPPN, the goal counts as optimal and successful. A free node that
  cannot reach the goal is not counted: no policy can succeed there, so it
  measures the map, not the planner (GPPN's mazes are connected, where this
  changes nothing; on random terrain about a quarter of the cells are cut off).
  A move that is not a real move (into a wall, off the map) leaves the agent in
  place and fails; so does a cycle. There is no step cap (a successful greedy
  path never repeats a node).
* **Weighted worlds** (edge costs: terrain, roadmaps, streets), beside the strict
  %Optimal (cost equal to the least cost within ``1e-5`` relative):
  **%Optimal(1%)**, the same count with paths up to ``1 %`` dearer than the least
  cost, and the **cost ratio**, the mean of path cost / least cost over the free,
  reachable, non-goal nodes whose path succeeds.
* **Success from random starts**: the success rate of ``num_starts`` starts
  drawn uniformly (with replacement) from the free, reachable, non-goal nodes
  of each graph: unlike %Success, it ignores the goal and the nodes no policy
  can bring home.

All rates are averaged per graph, then over graphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gvin import _checks as check
from gvin.planners.greedy import (  # re-exported: gvin.train.metrics.greedy_edges etc. keep working
    greedy_edges,
    greedy_rollout,
    greedy_successor,
    rollout_lengths,
)


# ----------------------------------------------------------------------------- per-graph scores

NEAR_OPTIMAL = 1.01
"""A path counts in %Optimal(1%) when its cost is at most this multiple of the least cost."""


@dataclass
class GraphScores:
    """Per-graph rates of one batch (``[B]`` float tensors).

    ``optimal`` / ``success`` / ``near_optimal`` are NaN on graphs without a free
    node that reaches the goal, ``cost_ratio`` on graphs without a successful path from a free,
    reachable, non-goal node, ``random_success`` on graphs without a possible
    start (or when no starts were drawn).
    """

    optimal: Tensor
    success: Tensor
    random_success: Tensor
    near_optimal: Tensor
    cost_ratio: Tensor

    FIELDS = ("optimal", "success", "random_success", "near_optimal", "cost_ratio")


@dataclass
class PlanningMetrics:
    """Per-graph rates averaged over graphs (fractions in ``[0, 1]``).

    Attributes:
        optimal: %Optimal / 100.
        success: %Success / 100.
        num_graphs: graphs scored (those with at least one free node).
        random_success: success rate from random free, reachable, non-goal
            starts (``None`` when not computed or no graph has such a start).
        near_optimal: %Optimal(1%) / 100: paths at most 1 % dearer than the least cost.
        cost_ratio: mean path cost / least cost of the successful paths
            (``None`` when none succeeded).
        weighted: the graphs carry edge costs (``edge_weight``), so the two
            tolerant figures say more than %Optimal; they are reported then.
    """

    optimal: float
    success: float
    num_graphs: int
    random_success: float | None = None
    near_optimal: float | None = None
    cost_ratio: float | None = None
    weighted: bool = False

    def as_percent(self) -> dict[str, float]:
        """The figures a report prints: percentages, and the cost ratio as a plain number."""
        out = {"%Optimal": 100 * self.optimal, "%Success": 100 * self.success}
        if self.weighted and self.near_optimal is not None:
            out["%Optimal(1%)"] = 100 * self.near_optimal
        if self.weighted and self.cost_ratio is not None:
            out["cost ratio"] = self.cost_ratio
        if self.random_success is not None:
            out["%Success(random starts)"] = 100 * self.random_success
        return out

    def as_record(self, prefix: str = "") -> dict[str, float]:
        """The figures as fractions under ``prefix + name`` (e.g. ``valid_optimal``), for logs and JSON."""
        fields = {"optimal": self.optimal, "success": self.success, "random_success": self.random_success}
        if self.weighted:
            fields.update(near_optimal=self.near_optimal, cost_ratio=self.cost_ratio)
        return {prefix + name: value for name, value in fields.items() if value is not None}

    @classmethod
    def from_scores(cls, scores: GraphScores, weighted: bool = False) -> "PlanningMetrics":
        """Average the per-graph rates over the graphs that have them."""
        scored = ~torch.isnan(scores.optimal)
        num_graphs = int(scored.sum())
        if num_graphs == 0:
            return cls(float("nan"), float("nan"), 0, None, weighted=weighted)

        def mean(rates: Tensor) -> float | None:
            present = ~torch.isnan(rates)
            return float(rates[present].mean()) if present.any() else None

        return cls(
            float(scores.optimal[scored].mean()), float(scores.success[scored].mean()), num_graphs,
            mean(scores.random_success), mean(scores.near_optimal), mean(scores.cost_ratio), weighted,
        )


def sample_starts(
    eligible: Tensor, batch: Tensor, num_graphs: int, num_starts: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw ``num_starts`` nodes per graph uniformly (with replacement) among ``eligible``.

    Args:
        eligible: ``[N]`` bool; batch: ``[N]`` graph of each node;
        num_graphs: ``B``; generator: a CPU ``torch.Generator`` (or ``None``
            for the global one).

    Returns:
        ``(starts [B, num_starts] long, has_start [B] bool)``; rows of graphs
        without an eligible node hold ``0`` and must be ignored.
    """
    num_nodes = check.tensor(eligible, "eligible").numel()
    check.binary_vector(eligible, "eligible", num_nodes, "N")
    num_graphs = check.count(num_graphs, "num_graphs")
    num_starts = check.count(num_starts, "num_starts")
    check.index_vector(batch, "batch", num_nodes, "N", num_graphs, f"num_graphs={num_graphs}")
    eligible, batch = eligible.bool(), batch.long()
    device = eligible.device
    nodes = eligible.nonzero().flatten()
    graphs = batch[nodes]
    order = torch.argsort(graphs, stable=True)
    nodes, graphs = nodes[order], graphs[order]
    counts = torch.bincount(graphs, minlength=num_graphs)
    offsets = torch.cumsum(counts, 0) - counts
    uniform = torch.rand(num_graphs, num_starts, generator=generator).to(device)
    pick = (uniform * counts.unsqueeze(1)).long().minimum((counts - 1).clamp_min(0).unsqueeze(1))
    index = (offsets.unsqueeze(1) + pick).clamp_max(max(nodes.numel() - 1, 0))
    starts = nodes[index] if nodes.numel() else torch.zeros_like(index)
    return starts, counts > 0


def graph_scores(
    log_probs: Tensor,
    edge_index: Tensor,
    move: Tensor,
    goal: Tensor,
    dist: Tensor,
    free: Tensor,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
    edge_weight: Tensor | None = None,
    num_starts: int = 0,
    generator: torch.Generator | None = None,
) -> GraphScores:
    """Per-graph %Optimal, %Success and random-start success (see the module doc).

    Args:
        log_probs: ``[E]`` policy; edge_index: ``[2, E]``; move: ``[E]`` bool.
        goal: ``[N]`` bool; dist: ``[N]`` shortest distances (``inf`` = unreachable);
        free: ``[N]`` bool, the nodes scored as starts (those that can reach the goal count).
        batch: ``[N]`` graph of each node (default: one graph).
        num_graphs: ``B`` (default ``batch.max() + 1``).
        edge_weight: ``[E]`` move costs (default 1; ``dist`` must use the same costs).
        num_starts: random starts per graph (0: skip).
        generator: for the random starts.
    """
    num_nodes = _check_node_fields(log_probs, edge_index, move, goal, dist, free, batch)
    num_starts = check.count(num_starts, "num_starts")
    if edge_weight is not None:
        check.tensor(edge_weight, "edge_weight")
        if edge_weight.numel() and edge_weight.shape != (edge_index.shape[1],):
            raise ValueError(f"edge_weight must be [E]={edge_index.shape[1]}, got {tuple(edge_weight.shape)}")
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=goal.device)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if num_nodes else 0
    num_graphs = check.count(num_graphs, "num_graphs")
    check.index_vector(batch, "batch", num_nodes, "N", num_graphs, f"num_graphs={num_graphs}")
    batch = batch.long()
    has_goal = _per_graph_sum(goal.bool(), batch, num_graphs) > 0
    if not bool(has_goal.all()):
        missing = torch.nonzero(~has_goal).flatten().tolist()
        raise ValueError(
            f"goal marks no node in graph(s) {', '.join(map(str, missing[:10]))}: every graph needs a goal "
            "to be scored"
        )
    lengths = greedy_rollout(log_probs, edge_index, move, goal, edge_weight)
    dist = dist.to(lengths.dtype)
    free, goal = free.bool(), goal.bool()
    reachable = torch.isfinite(dist)
    counted = free & reachable
    success = counted & torch.isfinite(lengths)
    tolerance = 1e-5 * dist.abs().clamp_min(1.0)
    optimal = success & (lengths <= dist + tolerance)
    near_optimal = success & (lengths <= NEAR_OPTIMAL * dist + tolerance)
    ratio_counted = success & reachable & ~goal & (dist > 0)
    ratio = torch.where(ratio_counted, lengths / dist.where(ratio_counted, torch.ones_like(dist)), 0.0)
    ratio_sum = torch.zeros(num_graphs, dtype=ratio.dtype, device=ratio.device).index_add_(0, batch, ratio)
    cost_ratio = ratio_sum / _per_graph_sum(ratio_counted, batch, num_graphs)  # NaN where none counted

    counts = _per_graph_sum(counted, batch, num_graphs)

    def rate(flag: Tensor) -> Tensor:
        return _per_graph_sum(flag, batch, num_graphs) / counts  # NaN where no free node reaches the goal

    random = torch.full((num_graphs,), float("nan"), dtype=torch.float64, device=goal.device)
    if num_starts > 0:
        eligible = free & reachable & ~goal
        starts, has_start = sample_starts(eligible, batch, num_graphs, num_starts, generator)
        hits = torch.isfinite(lengths[starts]).double().mean(1)
        random = torch.where(has_start, hits, random)
    return GraphScores(rate(optimal), rate(success), random, rate(near_optimal), cost_ratio.double())


def planning_metrics(
    log_probs: Tensor,
    edge_index: Tensor,
    move: Tensor,
    goal: Tensor,
    dist: Tensor,
    free: Tensor,
    batch: Tensor | None = None,
    edge_weight: Tensor | None = None,
    num_starts: int = 0,
    generator: torch.Generator | None = None,
) -> PlanningMetrics:
    """%Optimal and %Success over every free node of every graph, averaged per graph.

    Arguments as in :func:`graph_scores`; ``random_success`` is filled when
    ``num_starts > 0``. Graphs without a free node are not counted; with none
    at all the rates are NaN and ``num_graphs`` is 0.
    """
    scores = graph_scores(
        log_probs, edge_index, move, goal, dist, free, batch,
        edge_weight=edge_weight, num_starts=num_starts, generator=generator,
    )
    return PlanningMetrics.from_scores(scores, weighted=edge_weight is not None and edge_weight.numel() > 0)


def random_start_success(
    log_probs: Tensor,
    edge_index: Tensor,
    move: Tensor,
    goal: Tensor,
    dist: Tensor,
    free: Tensor,
    batch: Tensor | None = None,
    num_starts: int = 10,
    generator: torch.Generator | None = None,
    edge_weight: Tensor | None = None,
) -> float | None:
    """Success rate of the greedy policy from ``num_starts`` random starts per graph.

    Starts are drawn uniformly with replacement from each graph's free,
    reachable, non-goal nodes; the rate is averaged per graph, then over the
    graphs that have such a node (``None`` if none has).
    """
    check.count(num_starts, "num_starts", minimum=1)
    return planning_metrics(
        log_probs, edge_index, move, goal, dist, free, batch, edge_weight, num_starts, generator
    ).random_success


# ----------------------------------------------------------------------------- helpers


def _per_graph_sum(flag: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    out = torch.zeros(num_graphs, device=flag.device, dtype=torch.float64)
    return out.index_add_(0, batch, flag.to(torch.float64))


def _check_node_fields(
    log_probs: Tensor, edge_index: Tensor, move: Tensor, goal: Tensor, dist: Tensor, free: Tensor, batch: Tensor | None
) -> int:
    """Check the inputs of :func:`graph_scores`; returns ``N``."""
    node_fields = [("goal", goal), ("dist", dist), ("free", free)] + ([("batch", batch)] if batch is not None else [])
    for name, value in node_fields:
        check.tensor(value, name)
        if value.dim() != 1:
            raise ValueError(f"{name} must be [N] (one entry per node), got {tuple(value.shape)}")
    sizes = [value.numel() for _, value in node_fields]
    num_nodes = max(set(sizes), key=lambda size: (sizes.count(size), size == sizes[0]))
    for name, value in node_fields:
        if value.numel() != num_nodes:
            others = " and ".join(n for n, v in node_fields if v.numel() == num_nodes)
            raise ValueError(f"{name} must be [N]={num_nodes} (one entry per node, as {others}), got {tuple(value.shape)}")
    num_edges = check.edge_index(edge_index, num_nodes)
    check.edge_scores(log_probs, num_edges)
    check.binary_vector(move, "move", num_edges, "E")
    check.binary_vector(goal, "goal", num_nodes, "N")
    check.binary_vector(free, "free", num_nodes, "N")
    if not dist.is_floating_point():
        raise ValueError(f"dist must be a float tensor (inf where unreachable), got {dist.dtype}")
    if bool(torch.isnan(dist).any()) or bool((dist < 0).any()):
        raise ValueError("dist must be non-negative (inf where unreachable), found NaN or < 0")
    return num_nodes


__all__ = [
    "greedy_edges",
    "greedy_successor",
    "rollout_lengths",
    "greedy_rollout",
    "NEAR_OPTIMAL",
    "GraphScores",
    "PlanningMetrics",
    "sample_starts",
    "graph_scores",
    "planning_metrics",
    "random_start_success",
]
