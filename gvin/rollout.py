"""Plan with a trained planner: greedy paths from a start node, next to the optimal ones."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gvin.models import GraphPlanner
from gvin.planners import goal_mask, move_mask, shortest_path, shortest_path_distances
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


def _check_graph(data: Data) -> None:
    if not isinstance(data, Data):
        raise TypeError(f"data must be a torch_geometric Data planning graph, got {type(data).__name__}")


def _check_start(start, num_nodes: int) -> int:
    """``start`` as a node index in ``[0, N)``: an int, a numpy integer or a one-element integer tensor."""
    value = start
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.is_floating_point() or value.dtype == torch.bool:
            raise TypeError(f"start must be an integer node index, got a {value.dtype} tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"start must be an integer node index, got {start!r}")
    if not 0 <= value < num_nodes:
        raise ValueError(f"start node {int(value)} is out of range for a graph of {num_nodes} nodes")
    return int(value)


def follow_policy(log_probs: Tensor, data: Data, start: int) -> tuple[list[int], bool]:
    """Follow the arg-max policy from ``start``; returns ``(nodes, reached_goal)``.

    Raises:
        TypeError: ``data`` is not a planning graph, ``start`` not an integer.
        ValueError: ``log_probs`` is not ``[E]``, ``start`` is out of range, or
            the graph has no goal.
    """
    _check_graph(data)
    start = _check_start(start, data.num_nodes)
    num_edges = data.edge_index.shape[1]
    if not isinstance(log_probs, Tensor) or log_probs.shape != (num_edges,):
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise ValueError(f"log_probs must be an [E] = [{num_edges}] tensor, got {shape}")
    goal = goal_mask(data).cpu()
    successor, valid = greedy_successor(log_probs, data.edge_index, data.num_nodes, move_mask(data))
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
    """Run ``model`` on one planning graph and roll its policy out from ``start``.

    Raises:
        TypeError: ``model`` is not a planner, ``data`` not a planning graph,
            ``start`` not an integer node index.
        ValueError: ``start`` out of range, a graph without a goal, or a graph
            the model refuses.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a planner (gvin.models), got {type(model).__name__}")
    _check_graph(data)
    start = _check_start(start, data.num_nodes)
    try:
        goal_mask(data)
    except ValueError as error:
        raise ValueError(f"cannot plan without a goal: {error}") from None
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
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
