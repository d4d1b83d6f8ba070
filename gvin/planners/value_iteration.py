"""Exact value iteration on planning graphs, as max-aggregation message passing.

The Bellman backup of node ``s`` reads the values of its move targets ``s'``:

.. math::
    V_{k+1}(s) = \\max_{e = (s, s') \\text{ move}} \\big(-w_e + \\gamma V_k(s')\\big),
    \\qquad V_{k+1}(g) = 0 \\text{ at goals},

starting from ``V_0 = 0`` at the goals and ``-inf`` elsewhere. Messages are
aggregated at ``edge_index[0]`` with ``scatter_reduce('amax')`` into a
``-inf`` buffer, so a node without moves keeps ``-inf`` (a zero-filling max
aggregation would let such nodes look as good as the goal). With ``gamma = 1``
the fixed point is ``-dist`` (:func:`~gvin.planners.shortest_path_distances`).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from gvin.planners.shortest_paths import WeightSpec, edge_costs, goal_mask, graph_num_nodes, move_mask


@dataclass
class ValueIterationResult:
    """Outcome of :func:`value_iteration`.

    Attributes:
        values: ``[N]`` float64 state values (``-inf`` where no goal is reachable).
        reachable: ``[N]`` bool, ``values`` is finite.
        iterations: number of Bellman backups applied.
        converged: the finite set was stable and the last change ``<= tol``.
        residual: ``max |V_k - V_{k-1}|`` over the finite entries of the last
            backup (``inf`` if the set of finite entries still changed).
    """

    values: Tensor
    reachable: Tensor
    iterations: int
    converged: bool
    residual: float


def bellman_backup(
    values: Tensor, src: Tensor, dst: Tensor, costs: Tensor, goals: Tensor, gamma: float
) -> Tensor:
    """One exact Bellman backup over the moves ``(src[i], dst[i])``.

    Args:
        values: ``[N]`` current values.
        src, dst: ``[M]`` long, the moves' sources and targets.
        costs: ``[M]`` move costs.
        goals: ``[N]`` bool, absorbing nodes with value 0.
        gamma: discount in ``(0, 1]``.

    Returns:
        ``[N]`` new values; ``-inf`` for non-goal nodes without a move.
    """
    messages = gamma * values[dst] - costs
    out = torch.full_like(values, -math.inf)
    out.scatter_reduce_(0, src, messages, reduce="amax", include_self=False)
    return out.masked_fill_(goals, 0.0)


def _default_max_iters(num_nodes: int, gamma: float, tol: float, max_cost: float) -> int:
    """``N + 1`` backups make every walk length seen; with ``gamma < 1`` add the
    contraction's ``log(tol (1 - gamma) / max_cost) / log(gamma)`` steps."""
    extra = 0
    if gamma < 1 and max_cost > 0 and tol > 0:
        extra = max(0, math.ceil(math.log(tol * (1 - gamma) / max_cost) / math.log(gamma)))
    return num_nodes + 1 + extra


def value_iteration(
    data: Data,
    gamma: float = 1.0,
    weight: WeightSpec = None,
    tol: float = 1e-9,
    max_iters: int | None = None,
    check_every: int | None = None,
) -> ValueIterationResult:
    """Exact value iteration to the goal(s) of a planning graph (or batch).

    Rewards are ``-cost`` per move; goals are absorbing with value 0. Runs on
    the device of ``data.edge_index`` (CPU or CUDA), in float64.

    Args:
        data: planning graph with ``goal`` (see the conventions in
            :mod:`gvin.planners.shortest_paths`).
        gamma: discount in ``(0, 1]``.
        weight: edge costs, see :func:`~gvin.planners.edge_costs`.
        tol: convergence threshold on ``max |ΔV|`` over the finite entries.
        max_iters: backup limit; default ``N + 1`` for ``gamma = 1`` (enough
            for exact convergence), plus the steps the ``gamma``-contraction
            needs to reach ``tol`` when ``gamma < 1``.
        check_every: sweeps between convergence checks on the host (default:
            1 on CPU, :data:`CHECK_EVERY` on an accelerator, where each check is
            a device-to-host sync). Every sweep's residual is still computed, on
            the device, and the result is that of the first converged sweep
            whatever ``check_every`` is: the same values, ``iterations`` and
            ``residual`` (up to ``check_every - 1`` sweeps past it are computed
            and dropped).

    Returns:
        :class:`ValueIterationResult`; not converging within ``max_iters`` is
        reported (``converged=False``, ``residual``), not raised. With
        ``gamma = 1``, ``values == -shortest_path_distances(data)``; with
        ``gamma < 1`` and unit costs, ``values == -(1 - gamma**d) / (1 - gamma)``.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0.0 < float(gamma) <= 1.0:
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}")
    gamma = float(gamma)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not float(tol) >= 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if max_iters is not None and (isinstance(max_iters, bool) or not isinstance(max_iters, numbers.Integral) or max_iters < 0):
        raise ValueError(f"max_iters must be an int >= 0 (or None), got {max_iters!r}")
    num_nodes = graph_num_nodes(data)
    move = move_mask(data)
    costs = edge_costs(data, weight)
    goals = goal_mask(data)
    src, dst = data.edge_index[:, move & ~goals[data.edge_index[0]]]
    costs = costs[move & ~goals[data.edge_index[0]]]
    if max_iters is None:
        max_cost = float(costs.max()) if costs.numel() else 0.0
        max_iters = _default_max_iters(num_nodes, gamma, tol, max_cost)
    if max_iters < 0:
        raise ValueError(f"max_iters must be >= 0, got {max_iters}")

    values = torch.full((num_nodes,), -math.inf, dtype=torch.float64, device=costs.device)
    values.masked_fill_(goals, 0.0)
    check_every = _check_interval(check_every, values.device)
    residual, converged, iterations = math.inf, False, 0
    while iterations < max_iters and not converged:
        sweeps, residuals = [], []
        for _ in range(min(check_every, max_iters - iterations)):
            new = bellman_backup(values, src, dst, costs, goals, gamma)
            residuals.append(_residual(values, new))
            sweeps.append(new)
            values = new
        found = torch.stack(residuals).cpu()  # the only host sync of the chunk
        done = torch.nonzero(found <= tol)
        last = int(done[0, 0]) if done.numel() else len(sweeps) - 1
        values, residual = sweeps[last], float(found[last])
        iterations += last + 1
        converged = residual <= tol
    reachable = torch.isfinite(values)
    return ValueIterationResult(values, reachable, iterations, converged, residual)


CHECK_EVERY = 16
"""Sweeps between the host-side convergence checks of :func:`value_iteration` on an accelerator."""


def _check_interval(check_every: int | None, device: torch.device) -> int:
    if check_every is None:
        return 1 if device.type == "cpu" else CHECK_EVERY
    if isinstance(check_every, bool) or not isinstance(check_every, numbers.Integral) or check_every < 1:
        raise ValueError(f"check_every must be an int >= 1 (or None), got {check_every!r}")
    return int(check_every)


def _residual(old: Tensor, new: Tensor) -> Tensor:
    """``max |new - old|`` over finite entries as a 0-d float64 tensor on their device (no host sync):
    ``inf`` if the finite set changed, 0 if nothing is finite."""
    finite = torch.isfinite(new)
    moved = torch.where(finite, new - old, 0.0).abs()
    largest = torch.cat([moved, moved.new_zeros(1)]).amax()
    changed = (finite != torch.isfinite(old)).any()
    return torch.where(changed, math.inf, largest)


__all__ = ["value_iteration", "ValueIterationResult", "bellman_backup"]
