"""Plan with a trained planner: greedy paths from a start node, next to the optimal ones."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from gvin.models import GraphPlanner
from gvin.planners import move_mask, shortest_path, shortest_path_distances
from gvin.train.metrics import greedy_successor


@dataclass
class PlannedPath:
    """A greedy rollout of the learned policy and a shortest path, as node lists.

    Attributes:
        planned: nodes visited by the policy, start first (stops at the goal, a
            failed move, or a revisited node).
        optimal: a shortest path from the same start (empty if unreachable).
        reached: the policy reached the goal.
        values: ``[N]`` the planner's values.
    """

    planned: list[int]
    optimal: list[int]
    reached: bool
    values: Tensor


def follow_policy(log_probs: Tensor, data: Data, start: int) -> tuple[list[int], bool]:
    """Follow the arg-max policy from ``start``; returns ``(nodes, reached_goal)``."""
    successor, valid = greedy_successor(log_probs, data.edge_index, data.num_nodes, move_mask(data))
    goal = data.goal.bool()
    nodes, seen, node = [start], {start}, start
    while not bool(goal[node]):
        if not bool(valid[node]):
            return nodes, False
        node = int(successor[node])
        if node in seen:
            return nodes + [node], False
        nodes.append(node)
        seen.add(node)
    return nodes, True


@torch.no_grad()
def plan_path(model: GraphPlanner, data: Data, start: int, num_iterations: int | None = None) -> PlannedPath:
    """Run ``model`` on one planning graph and roll its policy out from ``start``."""
    if not 0 <= start < data.num_nodes:
        raise ValueError(f"start node {start} is out of range for a graph of {data.num_nodes} nodes")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = model(data.clone().to(device), num_iterations=num_iterations)
    finally:
        model.train(was_training)
    planned, reached = follow_policy(out.log_probs.cpu(), data, start)
    dist = shortest_path_distances(data)
    optimal = shortest_path(data, start, dist=dist) if torch.isfinite(dist[start]) else []
    return PlannedPath(planned, optimal, reached, out.v.cpu())
