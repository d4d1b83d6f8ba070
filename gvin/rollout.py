"""Plan with a trained planner: load it from a checkpoint, roll out greedy paths next to the optimal ones,
on planning graphs or on a 2-D map of your own."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gvin.graphs.grid import describe_stencil, from_grid, grid_stencil, to_grid
from gvin.maps import Cell, GridMap, as_free_mask, free_cell
from gvin.models import GraphPlanner
from gvin.planners import goal_mask, move_mask, shortest_path, shortest_path_distances
from gvin.planners.greedy import greedy_successor


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


# ----------------------------------------------------------------------------- a trained planner
@dataclass(frozen=True, repr=False)
class TrainedPlanner:
    """A planner loaded from a checkpoint, with the settings it was trained with.

    Attributes:
        model: the planner (a :class:`~gvin.models.GraphPlanner`), in eval mode.
        config: the training config saved with it (``model`` name,
            ``model_kwargs``, ``epochs``, ``batch_size``, ``lr``, ``seed``, ...).
        data: the record of its training data (``world``, ``size``,
            ``connectivity``, ``kernel_size``, ...; ``{}`` if the checkpoint has none).
        epoch: epochs trained.
        history: one dict per epoch: ``epoch``, ``loss`` and, when it was
            validated, ``valid_optimal`` and ``valid_success`` (fractions).
        path: the checkpoint file.

    ``planner(data)`` runs the model; ``planner.plan(free, start, goal)`` is
    :func:`plan_on_map` with this planner.
    """

    model: GraphPlanner
    config: dict[str, Any]
    data: dict[str, Any]
    epoch: int
    history: list[dict[str, float]]
    path: Path

    @property
    def name(self) -> str:
        """The model's name in the config (``"dtvin"``, ``"vin"``, ``"gppn"``, ``"implicit_dtvin"``, ...)."""
        return self.config["model"]

    def __call__(self, data: Data, **kwargs: Any):
        return self.model(data, **kwargs)

    def plan(self, free, start=None, goal=None, depth: int | None = None,
             connectivity: int | None = None) -> "MapPlan":
        """:func:`plan_on_map` with this planner."""
        return plan_on_map(self, free, start, goal, depth=depth, connectivity=connectivity)

    def __repr__(self) -> str:
        model = self.model
        graph = (f"edge_dim={model.edge_dim}" if model.edge_dim is not None
                 else describe_stencil(model.stencil) if model.stencil is not None
                 else f"{model.num_edge_types} edge types")
        return (f"TrainedPlanner({self.name}, K={model.num_iterations}, {graph}, epoch {self.epoch}, "
                f"data={self.data}, path='{self.path}')")


def load_planner(path: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedPlanner:
    """Load the planner of a checkpoint written by ``gvin train`` or the :class:`~gvin.train.Trainer`.

    >>> planner = gvin.load_planner("runs/demo/checkpoint.pt")   # doctest: +SKIP
    >>> planner.model, planner.config["model_kwargs"], planner.history[-1]   # doctest: +SKIP

    Args:
        path: the checkpoint file.
        device: where the model goes (``"cpu"``, ``"cuda"``, ...).

    Returns:
        A :class:`TrainedPlanner`: the model in eval mode, its config, data
        record, epochs and per-epoch history.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a folder, a damaged file or one that is not a gvin
            checkpoint, a config that builds no model or weights that do not fit
            it, a CUDA device on a machine without CUDA.
    """
    from gvin.train.checkpoint import load_model as load_checkpointed, training_config

    model, payload = load_checkpointed(path, device)
    config = training_config(payload, path)
    model.eval()
    return TrainedPlanner(
        model=model,
        config=dict(config),
        data=dict(config.get("data") or {}),
        epoch=int(payload.get("epoch", 0)),
        history=[dict(record) for record in payload.get("history", [])],
        path=Path(path),
    )


# ----------------------------------------------------------------------------- planning on a map
@dataclass(frozen=True, repr=False)
class MapPlan:
    """What a planner does on a 2-D map, next to the optimum.

    Attributes:
        planned: ``(row, col)`` cells the greedy policy visits, start first (it
            stops at the goal, a failed move or a revisited cell).
        optimal: a shortest path's cells (``[]`` if the goal is unreachable).
        reached: the policy reached the goal.
        optimal_length: moves on a shortest path (``inf`` if unreachable).
        values: ``[H, W]`` float64, the planner's values (NaN on walls).
        start, goal: the ``(row, col)`` cells planned between.
        free: ``[H, W]`` bool, the map.
        graph: the :func:`gvin.from_grid` planning graph the planner ran on.
    """

    planned: list[Cell]
    optimal: list[Cell]
    reached: bool
    optimal_length: float
    values: np.ndarray
    start: Cell
    goal: Cell
    free: np.ndarray
    graph: Data

    @property
    def planned_length(self) -> int:
        """Moves the policy made."""
        return len(self.planned) - 1

    @property
    def is_optimal(self) -> bool:
        """The policy reached the goal in as few moves as a shortest path."""
        return self.reached and self.planned_length == self.optimal_length

    def __repr__(self) -> str:
        height, width = self.free.shape
        status = "reached the goal" if self.reached else "failed"
        return (f"MapPlan({height}x{width}, {self.start} -> {self.goal}: policy {status} in "
                f"{self.planned_length} moves, shortest path {self.optimal_length:g})")


def _stencil_table(model: GraphPlanner) -> Tensor:
    """The ``[T, d]`` offsets the planner was built for (older planners record only their number)."""
    if model.edge_dim is not None:
        raise ValueError(
            f"a geometric planner (edge_dim={model.edge_dim}) reads edge geometry and plans on roadmaps and "
            "networkx graphs, not on grid maps; plan with gvin.rollout.plan_path on such a graph"
        )
    if model.stencil is not None:
        return model.stencil.cpu()
    count = model.num_edge_types
    side = math.isqrt(count)
    if count == 5:
        return grid_stencil(2, 4)
    if side * side == count and side % 2 == 1 and side >= 3:
        return grid_stencil(2, 8, side)
    raise ValueError(f"the planner has {count} edge types and no stencil table: it was not made for "
                     "2-D gvin.from_grid graphs")


def grid_settings(model: GraphPlanner, connectivity: int | None = None,
                  record: dict[str, Any] | None = None) -> tuple[int, int | None]:
    """``(connectivity, kernel_size)`` of the 2-D :func:`gvin.from_grid` graphs ``model`` was built for.

    The stencil decides the kernel size; a window stencil (``3×3``, ``5×5``, ...)
    fits 4 and 8 moves alike, so ``connectivity`` comes from the argument, else
    from the training data ``record``, else the stencil must decide it.

    Raises:
        ValueError: a geometric planner, one for other node features or 3-D
            grids, a ``connectivity`` the stencil does not fit, or an undecided one.
    """
    table = _stencil_table(model)
    if model.in_channels != 2:
        raise ValueError(
            f"the planner reads {model.in_channels} node features per cell (a terrain planner reads elevation "
            "and slope); plan_on_map builds gvin.from_grid graphs of 2 (free, goal)"
        )
    if table.dim() != 2 or table.shape[1] != 2:
        raise ValueError(f"the planner's stencil is {table.shape[-1]}-D ({describe_stencil(table)}); "
                         "plan_on_map plans on 2-D maps")
    side = 2 * int(table.abs().max()) + 1
    fits = {}
    for moves in (4, 8):
        for kernel in (None, side):
            if moves not in fits and torch.equal(grid_stencil(2, moves, kernel), table):
                fits[moves] = kernel
    if not fits:
        raise ValueError(f"the planner's stencil ({describe_stencil(table)}) is not a gvin.grid_stencil "
                         "of 2-D grids; plan_on_map cannot build its graphs")
    if connectivity is None and record and record.get("connectivity") in fits:
        connectivity = record["connectivity"]
    if connectivity is None and len(fits) == 1:
        connectivity = next(iter(fits))
    if connectivity is None:
        raise ValueError(
            f"the planner's stencil, {describe_stencil(table)}, fits connectivity 4 and 8: pass connectivity= "
            "(the moves it was trained with), or plan with gvin.load_planner's result, whose data record says"
        )
    if connectivity not in fits:
        raise ValueError(f"connectivity={connectivity!r} does not fit the planner's stencil "
                         f"({describe_stencil(table)}); it fits connectivity {' or '.join(map(str, fits))}")
    return connectivity, fits[connectivity]


def plan_on_map(
    model: GraphPlanner | TrainedPlanner,
    free,
    start=None,
    goal=None,
    depth: int | None = None,
    connectivity: int | None = None,
) -> MapPlan:
    """Plan with a trained planner on a 2-D map of your own, from ``start`` to ``goal``.

    Builds the :func:`gvin.from_grid` graph the planner was made for (its stencil;
    the connectivity of its training data), runs it, follows its greedy policy
    and finds a shortest path (:func:`plan_path`).

    >>> planner = gvin.load_planner("runs/demo/checkpoint.pt")                        # doctest: +SKIP
    >>> result = gvin.plan_on_map(planner, gvin.read_map("maze.png"), (1, 1), (9, 9))   # doctest: +SKIP
    >>> result.planned, result.reached, result.optimal_length, result.values           # doctest: +SKIP

    Args:
        model: a planner, or :func:`load_planner`'s result.
        free: ``[H, W]`` map (a :class:`~gvin.maps.GridMap` or an array; non-zero = free).
        start, goal: ``(row, col)`` free cells; default: the cells the
            :class:`~gvin.maps.GridMap` marks.
        depth: layers (or forward solver steps) to plan with; default the planner's.
        connectivity: 4 or 8 moves; default: what the planner was trained with,
            when its stencil or its checkpoint says.

    Returns:
        A :class:`MapPlan`: planned and optimal cells, ``reached``,
        ``optimal_length`` and the ``[H, W]`` values (NaN on walls).

    Raises:
        TypeError: not a planner; cells that are not integer pairs.
        ValueError: start or goal missing, outside the map or on a wall; a
            planner not made for 2-D grid graphs (see :func:`grid_settings`).
    """
    record = None
    if isinstance(model, TrainedPlanner):
        model, record = model.model, model.data
    if not isinstance(model, GraphPlanner):
        raise TypeError(f"model must be a gvin planner or gvin.load_planner's result, got {type(model).__name__}")
    grid = free if isinstance(free, GridMap) else None
    free = as_free_mask(free)
    cells = {}
    for name, cell in (("start", start), ("goal", goal)):
        cell = getattr(grid, name) if cell is None and grid is not None else cell
        if cell is None:
            raise ValueError(f"give the {name} cell, {name}=(row, col) (the map marks none)")
        cells[name] = free_cell(cell, free, name)
    moves, kernel_size = grid_settings(model, connectivity, record)
    data = from_grid(free, goal=cells["goal"], connectivity=moves, kernel_size=kernel_size)
    width = free.shape[1]
    result = plan_path(model, data, cells["start"][0] * width + cells["start"][1], num_iterations=depth)
    as_cells = lambda nodes: [divmod(int(node), width) for node in nodes]  # noqa: E731
    values = to_grid(data, result.values.double()).numpy()
    values[~free] = np.nan
    return MapPlan(
        planned=as_cells(result.planned),
        optimal=as_cells(result.optimal),
        reached=result.reached,
        optimal_length=float(len(result.optimal) - 1) if result.optimal else math.inf,
        values=values,
        start=cells["start"],
        goal=cells["goal"],
        free=free,
        graph=data,
    )
