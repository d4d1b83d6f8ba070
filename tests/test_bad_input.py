"""Bad input over the whole public Python API: every wrong or odd input raises an error of
the right type whose message names the argument (or field) and what is wrong with it.

Each case gives ONE bad input to ONE public function or class. ``case(..., open=reason)``
marks a case whose defect is known and being fixed elsewhere (strict xfail: the mark turns
red as soon as the fix lands, and is then removed). A few good inputs check that the checks do not
refuse what must work, and a couple of property tests (hypothesis) hold the grid graphs
to a plain breadth-first search.
"""
from __future__ import annotations

from collections import deque

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

import gvin
from gvin import datasets as gds
from gvin import nn as gnn
from gvin.grid import (
    GridDTVIN,
    GridGPPN,
    GridPolicyHead,
    GridVIN,
    edge_values_to_grid,
    grid_from_graph,
    grid_to_graph_state,
    node_values_to_grid,
)
from gvin.io import atomic_write
from gvin.models import DTVIN, GPPN, VIN, build_model
from gvin.planners import grid_distances, optimal_action_maps
from gvin.rollout import follow_policy, plan_path
from gvin.train import (
    TrainConfig,
    Trainer,
    evaluate,
    greedy_edges,
    highway_layers,
    highway_loss,
    imitation_loss,
    load_checkpoint,
    planning_metrics,
    random_start_success,
    rollout_lengths,
    sample_starts,
    save_checkpoint,
)
from gvin.viz import plot_plan, render_ascii


def case(name, call, error, match, open=None, marks=()):
    """One bad input: ``call(tmp_path)`` must raise ``error`` with a message matching ``match``.

    ``open``: a known defect being fixed elsewhere (strict xfail with that reason).
    """
    marks = list(marks) + ([pytest.mark.xfail(strict=True, reason=f"open: {open}")] if open else [])
    return pytest.param(call, error, match, id=name, marks=marks)


def run_case(call, error, match, tmp_path):
    with pytest.raises(error, match=match):
        call(tmp_path)


# ----------------------------------------------------------------------------- tiny inputs


def grid(maze=None, goal=(0, 0), **kwargs) -> Data:
    """A 3×3 open grid graph (default stencil: self-loop + 4 moves), goal at (0, 0)."""
    return gvin.from_grid(np.ones((3, 3)) if maze is None else maze, goal=goal, **kwargs)


def labelled(**kwargs) -> Data:
    data = grid(**kwargs)
    data.dist = gvin.shortest_path_distances(data).float()
    data.optimal = gvin.optimal_edges(data)
    return data


def path3(**fields) -> Data:
    """A hand-built path 0 - 1 - 2 with goal 0 (no self-loops); ``fields`` override."""
    data = Data(
        edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]),
        goal=torch.tensor([True, False, False]),
        num_nodes=3,
    )
    for key, value in fields.items():
        setattr(data, key, value)
    return data


def nx_graph() -> Data:
    """A from_networkx path graph: ``x`` has 1 column, ``edge_attr`` is ``[E, 1]`` (the weight)."""
    return gvin.from_networkx(nx.path_graph(4), goal=0)


def small(cls, **kwargs):
    """A tiny planner (typed on the default 5-slot stencil unless told otherwise)."""
    options = dict(num_edge_types=5, hidden_channels=3, num_iterations=2)
    if cls is not GPPN:
        options["num_actions"] = 2
    options.update(kwargs)
    return cls(**options)


def with_field(data: Data, **fields) -> Data:
    for key, value in fields.items():
        setattr(data, key, value)
    return data


def without(data: Data, *keys: str) -> Data:
    for key in keys:
        delattr(data, key)
    return data


def non_move_label(only: bool = True) -> Data:
    """Labels that mark node 0's self-loop (edge 0: not a move), instead of (``only``) or
    next to its real optimal moves."""
    data = labelled(goal=(2, 2))
    assert not data.move[0] and data.edge_index[0, 0] == 0
    data.optimal = data.optimal.clone()
    if only:
        data.optimal[data.edge_index[0] == 0] = False
    data.optimal[0] = True
    return data


def no_optimal_label() -> Data:
    data = labelled()
    data.optimal = torch.zeros_like(data.optimal)
    return data


def trainer() -> Trainer:
    return Trainer(TrainConfig(model="dtvin", model_kwargs=dict(num_edge_types=5, hidden_channels=3, num_actions=2,
                                                              num_iterations=2), epochs=1, batch_size=2))


def metrics_args(**changes):
    data = labelled()
    args = dict(log_probs=torch.zeros(data.num_edges), edge_index=data.edge_index, move=data.move,
                goal=data.goal, dist=data.dist, free=data.x[:, 0] > 0.5)
    args.update(changes)
    return args


def gppn_arrays(n: int = 2, size: int = 5):
    mazes = np.ones((n, size, size))
    goals = np.zeros((n, 1, size, size))
    goals[:, 0, 1, 1] = 1
    policy = gds.gppn_policy(mazes.astype(bool), np.full(n, size + 1))[:, :, None]
    return mazes, goals, policy.astype(np.float64)


def gppn_file(tmp_path, name="ok.npz", **replace):
    """A valid GPPN .npz (4 actions, 5×5), with ``arr_i`` replaced as given."""
    mazes, goals, policy = gppn_arrays()
    arrays = {f"arr_{3 * i + j}": a for i in range(3) for j, a in enumerate((mazes, goals, policy))}
    arrays.update(replace)
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def gppn_splits(**replace):
    splits = {name: gppn_arrays() for name in gds.SPLITS}
    splits.update(replace)
    return splits


def write(path, content):
    path.write_text(content) if isinstance(content, str) else path.write_bytes(content)
    return path


def mkdir(path):
    path.mkdir()
    return path


def maze_dataset(tmp_path, **changes):
    options = dict(root=tmp_path, size=5, counts=(1, 1, 1), log=False)
    options.update(changes)
    return gds.MazeDataset(**options)


def corrupt_cache(tmp_path):
    maze_dataset(tmp_path).path.write_bytes(b"garbage")
    return maze_dataset(tmp_path)


def stencil_of(data: Data):
    return gnn.build_stencil(data.edge_index, data.edge_type, data.num_nodes, 5)


def vi_inputs(num_actions=2, dtype=torch.float32):
    data = grid()
    return torch.zeros(data.num_nodes, 2), gnn.StencilTransition(torch.zeros(5, num_actions, dtype=dtype), stencil_of(data))


def plot(tmp_path, maze=None, values=None, planned=((0, 0),), optimal=((0, 0),), goal=(0, 0), path="a.png"):
    maze = np.ones((3, 3)) if maze is None else maze
    values = np.zeros((3, 3)) if values is None else values
    return plot_plan(maze, values, list(planned), list(optimal), goal, tmp_path / path)


def atomic(path, mode="wb"):
    with atomic_write(path, mode) as file:
        file.write(b"x" if "b" in mode else "x")


# ----------------------------------------------------------------------------- graphs

RAGGED = r"rows have different lengths: \w+\[0\] has 2 entries but \w+\[1\] has 1 \(row lengths \[2, 1\]\)"
"""The message of a ragged 2-D nested list ``[[1, 1], [1]]``, after its name."""

GRAPH_CASES = [
    # from_grid
    case("from_grid-maze-None", lambda t: gvin.from_grid(None), TypeError, r"maze must be a numpy array"),
    case("from_grid-maze-strings", lambda t: gvin.from_grid([["a", "b"]]), TypeError, r"maze must hold numbers"),
    case("from_grid-maze-1d", lambda t: gvin.from_grid(np.ones(4)), ValueError, r"maze must be 2-D .* rank 1"),
    case("from_grid-maze-4d", lambda t: gvin.from_grid(np.ones((2, 2, 2, 2))), ValueError, r"maze must be 2-D .* rank 4"),
    case("from_grid-maze-value-2", lambda t: gvin.from_grid(np.full((3, 3), 2)), ValueError, r"maze must be binary"),
    case("from_grid-maze-nan", lambda t: gvin.from_grid(np.full((3, 3), np.nan)), ValueError, r"maze contains NaN"),
    case("from_grid-maze-all-walls", lambda t: gvin.from_grid(np.zeros((3, 3))), ValueError, r"maze has no free cell"),
    case("from_grid-maze-empty", lambda t: gvin.from_grid(np.zeros((0, 3))), ValueError, r"maze is empty"),
    case("from_grid-goal-on-wall", lambda t: grid(np.array([[1, 0], [1, 1]]), goal=(0, 1)), ValueError, r"goal .* on a wall"),
    case("from_grid-goal-outside", lambda t: grid(goal=(5, 0)), ValueError, r"goal \(5, 0\) is outside the grid"),
    case("from_grid-goal-negative", lambda t: grid(goal=(-1, 0)), ValueError, r"goal \(-1, 0\) is outside"),
    case("from_grid-goal-float-coords", lambda t: grid(goal=(0.5, 0)), TypeError, r"goal coordinates must be integers"),
    case("from_grid-goal-True", lambda t: grid(goal=True), TypeError, r"goal index must be an integer, got True"),
    case("from_grid-goal-index-9-of-9", lambda t: grid(goal=9), ValueError, r"goal index 9 is out of range"),
    case("from_grid-goal-3-coords", lambda t: grid(goal=(0, 0, 0)), ValueError, r"goal must be a flat index, a coordinate of length 2"),
    case("from_grid-goal-empty-mask", lambda t: grid(goal=np.zeros((3, 3), bool)), ValueError, r"goal mask marks no cell"),
    case("from_grid-goal-mask-value-2", lambda t: grid(goal=np.full((3, 3), 2)), ValueError, r"goal mask must be boolean or 0/1"),
    # past int64: numpy cannot hold the index, which must not be called "not an integer"
    case("from_grid-goal-index-1e20", lambda t: grid(goal=10**20), ValueError,
         r"goal index 100000000000000000000 is out of range for a grid of 9 cells"),
    case("from_grid-goal-index-minus-1e20", lambda t: grid(goal=-10**20), ValueError,
         r"goal index -100000000000000000000 is out of range for a grid of 9 cells"),
    case("from_grid-goal-coords-1e20", lambda t: grid(goal=(10**20, 0)), ValueError,
         r"goal \(100000000000000000000, 0\) is outside the grid of shape \(3, 3\)"),
    case("from_grid-goal-coords-minus-1e20-list", lambda t: grid(goal=[0, -10**20]), ValueError,
         r"goal \(0, -100000000000000000000\) is outside the grid"),
    case("from_grid-maze-ragged", lambda t: gvin.from_grid([[1, 1], [1]], goal=0), ValueError,
         r"maze rows have different lengths: maze\[0\] has 2 entries but maze\[1\] has 1 \(row lengths \[2, 1\]\)"),
    case("from_grid-maze-ragged-3d", lambda t: gvin.from_grid([[[1, 1], [1, 1]], [[1, 1], [1]]], goal=0), ValueError,
         r"maze rows have different lengths: maze\[0\]\[0\] has 2 entries but maze\[1\]\[1\] has 1"),
    case("from_grid-maze-row-and-number", lambda t: gvin.from_grid([[1, [1]], [1, 1]], goal=0), ValueError,
         r"maze is ragged: maze\[0\]\[0\] is a single value but maze\[0\]\[1\] is a row"),
    case("from_grid-connectivity-6-in-2d", lambda t: grid(connectivity=6), ValueError, r"connectivity=6 is not valid in 2-D"),
    case("from_grid-kernel_size-4", lambda t: grid(kernel_size=4), ValueError, r"kernel_size must be an odd integer"),
    case("from_grid-kernel_size-3.0", lambda t: grid(kernel_size=3.0), ValueError, r"kernel_size must be an odd integer .* 3\.0"),
    case("from_grid-wrap-too-small", lambda t: gvin.from_grid(np.ones((2, 5)), wrap=True), ValueError, r"wrap=True needs every side >= 3"),
    case("from_grid-free_value-2", lambda t: grid(free_value=2), ValueError, r"free_value must be 0 or 1"),
    case("from_grid-wrap-string", lambda t: grid(wrap="no"), TypeError, r"wrap"),
    case("from_grid-free_only-string", lambda t: grid(free_only="no"), TypeError, r"free_only"),
    # to_grid
    case("to_grid-int-values-fill-1.5", lambda t: gvin.to_grid(grid(np.array([[1, 0], [1, 1]]), free_only=True),
                                                               torch.arange(3), fill=-1.5),
         ValueError, r"fill"),
    case("to_grid-bool-values-fill-2", lambda t: gvin.to_grid(grid(np.array([[1, 0], [1, 1]]), free_only=True),
                                                              np.ones(3, bool), fill=2),
         ValueError, r"fill"),
    case("to_grid-int-values-fill-nan", lambda t: gvin.to_grid(grid(np.array([[1, 0], [1, 1]]), free_only=True),
                                                               np.arange(3), fill=float("nan")),
         ValueError, r"fill"),
    case("to_grid-values-None", lambda t: gvin.to_grid(grid(), None), TypeError, r"values"),
    case("to_grid-values-8-rows-for-9-nodes", lambda t: gvin.to_grid(grid(), torch.arange(8)), ValueError,
         r"values must have one row per node \(9\)"),
    case("to_grid-networkx-graph", lambda t: gvin.to_grid(nx_graph(), torch.arange(4)), ValueError, r"from_grid .*'cell'"),
    case("to_grid-batch-of-other-shapes", lambda t: gvin.to_grid(Batch.from_data_list([grid(), gvin.from_grid(np.ones((2, 2)), goal=0)]),
                                                                  torch.arange(13.0)),
         ValueError, r"equal grid shapes"),
    # grid_stencil / move_offsets
    case("move_offsets-ndim-1", lambda t: gvin.move_offsets(1), ValueError, r"2-D or 3-D, got ndim=1"),
    case("move_offsets-ndim-2.0", lambda t: gvin.move_offsets(2.0), ValueError, r"ndim"),
    case("move_offsets-connectivity-8-in-3d", lambda t: gvin.move_offsets(3, 8), ValueError, r"connectivity=8 is not valid in 3-D"),
    case("grid_stencil-kernel_size-2", lambda t: gvin.grid_stencil(2, kernel_size=2), ValueError, r"kernel_size must be an odd integer"),
    case("grid_stencil-kernel_size-True", lambda t: gvin.grid_stencil(2, kernel_size=True), ValueError, r"kernel_size .* got True"),
    case("grid_stencil-ndim-4", lambda t: gvin.grid_stencil(4), ValueError, r"ndim=4"),
    # from_networkx
    case("from_networkx-not-a-graph", lambda t: gvin.from_networkx({0: [1]}), TypeError, r"G must be a networkx graph"),
    case("from_networkx-no-nodes", lambda t: gvin.from_networkx(nx.Graph()), ValueError, r"has no nodes"),
    case("from_networkx-no-edges", lambda t: gvin.from_networkx(nx.empty_graph(3)), ValueError, r"has no edges"),
    case("from_networkx-goal-True", lambda t: gvin.from_networkx(nx.path_graph(3), goal=True), ValueError, r"goal"),
    case("from_networkx-goal-False", lambda t: gvin.from_networkx(nx.path_graph(3), goal=False), ValueError, r"goal"),
    case("from_networkx-goal-bool-mask", lambda t: gvin.from_networkx(nx.path_graph(3), goal=torch.tensor([True, False, False])),
         ValueError, r"goal"),
    case("from_networkx-goal-empty-list", lambda t: gvin.from_networkx(nx.path_graph(3), goal=[]), ValueError, r"goal is an empty collection"),
    case("from_networkx-goal-unknown-node", lambda t: gvin.from_networkx(nx.path_graph(3), goal=7), ValueError, r"goal 7 is not a node"),
    case("from_networkx-negative-weight", lambda t: gvin.from_networkx(_weighted(-1.0)), ValueError, r"negative 'weight'"),
    case("from_networkx-string-weight", lambda t: gvin.from_networkx(_weighted("a")), ValueError, r"non-numeric 'weight'"),
    case("from_networkx-nan-weight", lambda t: gvin.from_networkx(_weighted(float("nan"))), ValueError, r"NaN or infinite 'weight'"),
    case("from_networkx-bool-weight", lambda t: gvin.from_networkx(_weighted(True)), ValueError, r"non-numeric 'weight': True"),
    case("from_networkx-pos-on-some-nodes", lambda t: gvin.from_networkx(_with_pos({0: (0, 0)})), ValueError, r"no 'pos' attribute"),
    case("from_networkx-ragged-pos", lambda t: gvin.from_networkx(_with_pos({0: (0, 0), 1: (1,), 2: (2, 2)})), ValueError,
         r"'pos' must be vectors of one length"),
    case("from_networkx-goal-attribute-2", lambda t: gvin.from_networkx(_with_goal_attr({0: 2, 1: 0, 2: 0})), ValueError,
         r"attribute 'goal' must be boolean"),
    case("from_networkx-dtype-int64", lambda t: gvin.from_networkx(nx.path_graph(3), goal=0, dtype=torch.int64), ValueError,
         r"dtype"),
    case("from_networkx-dtype-string", lambda t: gvin.from_networkx(nx.path_graph(3), goal=0, dtype="float32"), TypeError,
         r"dtype"),
    # to_networkx
    case("to_networkx-networkx-graph", lambda t: gvin.to_networkx(nx.path_graph(3)), TypeError, r"data"),
    case("to_networkx-None", lambda t: gvin.to_networkx(None), TypeError, r"data"),
    case("to_networkx-edge_index-out-of-range", lambda t: gvin.to_networkx(_bad_edge_index(grid())), ValueError, r"edge_index"),
    case("to_networkx-short-move", lambda t: gvin.to_networkx(with_field(grid(), move=torch.ones(3, dtype=torch.bool))),
         ValueError, r"move"),
    case("to_networkx-float-goal", lambda t: gvin.to_networkx(with_field(grid(), goal=torch.zeros(9))), ValueError, r"goal"),
]


def _weighted(weight) -> nx.Graph:
    G = nx.path_graph(3)
    G.edges[0, 1]["weight"] = weight
    return G


def _with_pos(pos: dict) -> nx.Graph:
    G = nx.path_graph(3)
    nx.set_node_attributes(G, pos, "pos")
    return G


def _with_goal_attr(goal: dict) -> nx.Graph:
    G = nx.path_graph(3)
    nx.set_node_attributes(G, goal, "goal")
    return G


def _bad_edge_index(data: Data) -> Data:
    data.edge_index = data.edge_index.clone()
    data.edge_index[0, 0] = 100
    return data


@pytest.mark.parametrize("call, error, match", GRAPH_CASES)
def test_graphs(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- exact planners

EXACT = {
    "distances": gvin.shortest_path_distances,
    "optimal_edges": gvin.optimal_edges,
    "value_iteration": gvin.value_iteration,
}

# Each exact planner on each hand-built malformed edge_index.
BAD_EDGE_INDEX = {
    "node-out-of-range": (torch.tensor([[0, 1, 1, 5], [1, 0, 2, 1]]), r"edge_index refers to nodes in \[0, 5\]"),
    "negative-node": (torch.tensor([[0, 1, 1, -1], [1, 0, 2, 1]]), r"edge_index refers to nodes in \[-1, 2\]"),
    "float-dtype": (torch.tensor([[0.0, 1, 1, 2], [1, 0, 2, 1]]), r"edge_index must be int64"),
    "shape-E-by-2": (torch.tensor([[0, 1], [1, 0], [1, 2], [2, 1]]), r"edge_index must be \[2, E\]"),
    "numpy-array": (np.array([[0, 1, 1, 2], [1, 0, 2, 1]]), r"edge_index must be a torch tensor"),
}

PLANNER_CASES = [
    case(f"{fname}-edge_index-{bad}", lambda t, f=f, ei=ei: f(path3(edge_index=ei)),
         TypeError if bad == "numpy-array" else ValueError, match)
    for fname, f in EXACT.items()
    for bad, (ei, match) in BAD_EDGE_INDEX.items()
] + [
    case(f"{fname}-no-goal", lambda t, f=f: f(path3(goal=None)), ValueError, r"no goal")
    for fname, f in EXACT.items()
] + [
    case(f"{fname}-data-networkx-graph", lambda t, f=f: f(nx.path_graph(3)), TypeError, r"data")
    for fname, f in EXACT.items()
] + [
    case("distances-empty-goal-mask", lambda t: gvin.shortest_path_distances(path3(goal=torch.zeros(3, dtype=torch.bool))),
         ValueError, r"goal is empty"),
    case("distances-float-goal", lambda t: gvin.shortest_path_distances(path3(goal=torch.tensor([1.0, 0, 0]))), ValueError,
         r"goal must be an \[N\] bool mask or integer node indices"),
    case("distances-goal-index-7", lambda t: gvin.shortest_path_distances(path3(goal=torch.tensor([7]))), ValueError,
         r"goal index out of range"),
    case("distances-goal-uint8", lambda t: gvin.shortest_path_distances(path3(goal=torch.tensor([1, 0, 0], dtype=torch.uint8))),
         ValueError, r"goal has dtype uint8"),
    case("distances-goal-int-0-1-mask", lambda t: gvin.shortest_path_distances(path3(goal=torch.tensor([1, 0, 0]))),
         ValueError, r"goal"),
    case("distances-goal-override-True", lambda t: gvin.shortest_path_distances(path3(), goal=True), ValueError,
         r"goal mask must have shape \[N\]"),
    case("distances-negative-weight", lambda t: gvin.shortest_path_distances(path3(edge_weight=torch.tensor([1.0, -1, 1, 1]))),
         ValueError, r"edge_weight contains a negative cost"),
    case("distances-nan-weight", lambda t: gvin.shortest_path_distances(path3(edge_weight=torch.tensor([1.0, float("nan"), 1, 1]))),
         ValueError, r"edge_weight contains NaN"),
    case("distances-inf-weight", lambda t: gvin.shortest_path_distances(path3(edge_weight=torch.tensor([1.0, float("inf"), 1, 1]))),
         ValueError, r"edge_weight contains an infinite cost"),
    case("distances-weight-E-by-1", lambda t: gvin.shortest_path_distances(path3(edge_weight=torch.ones(4, 1))), ValueError,
         r"edge_weight must have shape \[E\] = \[4\]"),
    case("distances-weight-unknown-name", lambda t: gvin.shortest_path_distances(path3(), weight="manhattan"), ValueError,
         r"unknown weight 'manhattan'"),
    case("distances-euclidean-without-edge_attr", lambda t: gvin.shortest_path_distances(path3(), weight="euclidean"), ValueError,
         r"weight='euclidean' needs data.edge_attr"),
    case("distances-complex-weight", lambda t: gvin.shortest_path_distances(path3(), weight=torch.ones(4, dtype=torch.complex64)),
         ValueError, r"weight",
         marks=[pytest.mark.filterwarnings("ignore:Casting complex values")]),
    case("distances-no-edges", lambda t: gvin.shortest_path_distances(path3(edge_index=torch.zeros(2, 0, dtype=torch.long))),
         ValueError, r"no edges"),
    case("distances-move-wrong-length", lambda t: gvin.shortest_path_distances(path3(move=torch.tensor([True, True]))),
         ValueError, r"move must have shape \[E\] = \[4\]"),
    case("distances-move-float-0.5", lambda t: gvin.shortest_path_distances(path3(move=torch.tensor([1.0, 0.5, 1, 1]))),
         ValueError, r"move"),
    case("distances-no-moves", lambda t: gvin.shortest_path_distances(path3(move=torch.zeros(4, dtype=torch.bool))),
         ValueError, r"no moves"),
    case("distances-no-nodes", lambda t: gvin.shortest_path_distances(Data(edge_index=torch.tensor([[0], [0]]), num_nodes=0)),
         ValueError, r"no nodes"),
    case("optimal_edges-dist-for-another-goal", lambda t: gvin.optimal_edges(path3(), dist=torch.tensor([2.0, 1, 0])),
         ValueError, r"dist does not fit this graph's goal"),
    case("optimal_edges-dist-wrong-shape", lambda t: gvin.optimal_edges(path3(), dist=torch.tensor([0.0, 1])), ValueError,
         r"dist must have shape \[N\] = \[3\]"),
    case("optimal_edges-dist-negative", lambda t: gvin.optimal_edges(path3(), dist=torch.tensor([0.0, -1, 2])), ValueError,
         r"dist must be non-negative"),
    case("optimal_edges-dist-string", lambda t: gvin.optimal_edges(path3(), dist="abc"), ValueError,
         r"dist must be an \[N\] = \[3\] tensor .* got str"),
    case("optimal_edges-rtol-nan", lambda t: gvin.optimal_edges(path3(), rtol=float("nan")), ValueError, r"rtol"),
    case("optimal_edges-rtol-negative", lambda t: gvin.optimal_edges(path3(), rtol=-1.0), ValueError, r"rtol"),
    case("shortest_path-source-out-of-range", lambda t: gvin.shortest_path(path3(), 5), ValueError, r"source 5 is out of range"),
    case("shortest_path-source-float", lambda t: gvin.shortest_path(path3(), 1.0), TypeError, r"source must be an integer"),
    case("shortest_path-source-bool", lambda t: gvin.shortest_path(path3(), True), TypeError, r"source must be an integer"),
    case("shortest_path-source-2-element-tensor", lambda t: gvin.shortest_path(path3(), torch.tensor([1, 2])), TypeError,
         r"source"),
    case("shortest_path-dist-inconsistent", lambda t: gvin.shortest_path(path3(), 2, dist=torch.tensor([0.0, 5, 7])), ValueError,
         r"dist does not fit"),
    case("optimal_edges-batch-with-a-goalless-graph", lambda t: gvin.optimal_edges(Batch.from_data_list([grid(), grid(goal=None)])),
         ValueError, r"graph\(s\) 1 of the batch have no goal node"),
    case("grid_distances-goal-on-wall", lambda t: grid_distances(np.array([[0, 1], [1, 1]]), 0), ValueError,
         r"goal \(0, 0\) of maze 0 is on a wall"),
    case("grid_distances-goal-float", lambda t: grid_distances(np.ones((3, 3)), 1.5), TypeError,
         r"goal must be a numpy array"),
    case("grid_distances-goal-count-for-batch", lambda t: grid_distances(np.ones((2, 3, 3)), np.array([0])), ValueError,
         r"goal must be a mask of shape \(2, 3, 3\) or integer flat cell indices of shape \(2,\)"),
    case("grid_distances-free-value-2", lambda t: grid_distances(np.full((3, 3), 2), 0), ValueError, r"free must be binary"),
    case("grid_distances-free-ragged", lambda t: grid_distances([[1, 1], [1]], 0), ValueError,
         r"free " + RAGGED),
    case("grid_distances-goal-index-1e20", lambda t: grid_distances(np.ones((3, 3)), 10**20), ValueError,
         r"goal index 100000000000000000000 is out of range for 9 cells"),
    case("grid_distances-goal-indices-minus-1e20", lambda t: grid_distances(np.ones((2, 3, 3)), [0, -10**20]), ValueError,
         r"goal index -100000000000000000000 is out of range for 9 cells"),
    case("grid_distances-wrap-string", lambda t: grid_distances(np.ones((3, 3)), 0, wrap="no"), TypeError, r"wrap"),
    case("optimal_action_maps-no-goal-no-dist", lambda t: optimal_action_maps(np.ones((3, 3))), ValueError,
         r"needs a goal or precomputed dist"),
    case("optimal_action_maps-action-not-a-move", lambda t: optimal_action_maps(np.ones((3, 3)), 0, actions=[[1, 1]]),
         ValueError, r"action \(1, 1\) is not a move of connectivity 4"),
    case("optimal_action_maps-dist-for-another-goal", lambda t: optimal_action_maps(np.ones((1, 3)), goal=0,
                                                                                    dist=np.array([[2.0, 1, 0]])),
         ValueError, r"dist"),
    case("value_iteration-gamma-0", lambda t: gvin.value_iteration(path3(), gamma=0), ValueError, r"gamma must be .*in \(0, 1\]"),
    case("value_iteration-gamma-1.5", lambda t: gvin.value_iteration(path3(), gamma=1.5), ValueError, r"gamma must be .*in \(0, 1\]"),
    case("value_iteration-gamma-string", lambda t: gvin.value_iteration(path3(), gamma="a"), ValueError, r"gamma"),
    case("value_iteration-tol-negative", lambda t: gvin.value_iteration(path3(), tol=-1), ValueError, r"tol must be .*>= 0"),
    case("value_iteration-tol-string", lambda t: gvin.value_iteration(path3(), tol="a"), ValueError, r"tol must be a number"),
    case("value_iteration-max_iters-negative", lambda t: gvin.value_iteration(path3(), max_iters=-1), ValueError,
         r"max_iters must be .*>= 0"),
    case("value_iteration-max_iters-2.5", lambda t: gvin.value_iteration(path3(), max_iters=2.5), ValueError, r"max_iters"),
    case("value_iteration-max_iters-nan", lambda t: gvin.value_iteration(path3(), max_iters=float("nan")), ValueError,
         r"max_iters"),
]


@pytest.mark.parametrize("call, error, match", PLANNER_CASES)
def test_exact_planners(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- datasets

DATASET_CASES = [
    # generators
    case("dfs_mazes-num-negative", lambda t: gds.dfs_mazes(-1, 5, 0), ValueError, r"num must be >= 0"),
    case("dfs_mazes-num-1.5", lambda t: gds.dfs_mazes(1.5, 5, 0), TypeError, r"num must be an integer"),
    case("dfs_mazes-size-2", lambda t: gds.dfs_mazes(1, 2, 0), ValueError, r"every side must be >= 3"),
    case("dfs_mazes-size-5.0", lambda t: gds.dfs_mazes(1, 5.0, 0), TypeError, r"size must be an int or a tuple"),
    case("dfs_mazes-size-4-axes", lambda t: gds.dfs_mazes(1, (5, 5, 5, 5), 0), ValueError, r"2-D or 3-D, got ndim=4"),
    case("dfs_mazes-seed-negative", lambda t: gds.dfs_mazes(1, 5, -1), ValueError, r"seed must be non-negative"),
    case("dfs_mazes-seed-None", lambda t: gds.dfs_mazes(1, 5, None), TypeError, r"seed must be a non-negative integer"),
    case("decimate-rate-2", lambda t: gds.decimate(np.ones((1, 5, 5), bool), 2.0, 0), ValueError, r"rates must be in \[0, 1\]"),
    case("decimate-rate-per-maze-wrong-count", lambda t: gds.decimate(np.ones((2, 5, 5), bool), [0.1, 0.2, 0.3], 0),
         ValueError, r"rate must be a number or one per maze \[n=2\]"),
    case("decimate-single-2d-maze", lambda t: gds.decimate(np.ones((5, 5), bool), 0.5, 0), ValueError,
         r"free must be a batch of mazes"),
    case("decimate-free-ragged", lambda t: gds.decimate([[[1, 1], [1]]], 0.5, 0), ValueError,
         r"free rows have different lengths: free\[0\]\[0\] has 2 entries but free\[0\]\[1\] has 1"),
    case("decimate-free-string", lambda t: gds.decimate("abc", 0.5, 0), TypeError, r"free must be an array of mazes"),
    case("decimate-free-value-2", lambda t: gds.decimate(np.full((1, 5, 5), 2), 0.5, 0), ValueError, r"free must be binary"),
    case("gppn_mazes-decimation-low-above-high", lambda t: gds.gppn_mazes(1, 5, 0, decimation=(0.5, 0.1)), ValueError,
         r"decimation low 0.5 exceeds high 0.1"),
    case("gppn_mazes-decimation-scalar", lambda t: gds.gppn_mazes(1, 5, 0, decimation=0.5), TypeError,
         r"decimation must be a \(low, high\) pair"),
    case("random_gridworlds-density-1.5", lambda t: gds.random_gridworlds(1, 5, 0, density=1.5), ValueError,
         r"density must be in \[0, 1\]"),
    case("random_gridworlds-density-1", lambda t: gds.random_gridworlds(1, 5, 0, density=1.0), ValueError,
         r"density 1.0 leaves no free cell"),
    case("random_gridworlds-border-string", lambda t: gds.random_gridworlds(1, 5, 0, border="no"), TypeError,
         r"border must be True or False"),
    case("sample_goals-mode-unknown", lambda t: gds.sample_goals(np.ones((1, 5, 5), bool), 0, mode="corner"), ValueError,
         r"goal mode must be 'free' or 'interior'"),
    case("sample_goals-no-free-cell", lambda t: gds.sample_goals(np.zeros((1, 5, 5), bool), 0), ValueError,
         r"maze 0 has no cell for a goal"),
    case("sample_goals-single-2d-maze", lambda t: gds.sample_goals(np.ones((5, 5), bool), 0), ValueError,
         r"free must be a batch of mazes"),
    case("generate_mazes-kind-unknown", lambda t: gds.generate_mazes("cave", 1, 5, 0), ValueError, r"kind must be one of"),
    case("generate_mazes-option-of-another-kind", lambda t: gds.generate_mazes("gppn", 1, 5, 0, density=0.3), TypeError,
         r"density"),
    case("generate_splits-counts-pair", lambda t: gds.generate_splits("gppn", 5, (1, 1)), TypeError,
         r"counts must be a \(train, valid, test\) triple"),
    case("generate_splits-count-negative", lambda t: gds.generate_splits("gppn", 5, (1, 1, -1)), ValueError,
         r"count of 'test' must be >= 0"),
    case("generate_splits-unknown-split-name", lambda t: gds.generate_splits("gppn", 5, {"training": 1}), ValueError,
         r"unknown split names \['training'\]"),
    case("generate_splits-unique-unknown", lambda t: gds.generate_splits("gppn", 5, (1, 1, 1), unique="cell"), ValueError,
         r"unique must be 'maze' or 'pair'"),
    # the GPPN .npz format
    case("load_gppn_npz-missing-file", lambda t: gds.load_gppn_npz(t / "nope.npz"), ValueError, r"nope.npz does not exist"),
    case("load_gppn_npz-directory", lambda t: gds.load_gppn_npz(mkdir(t / "dir.npz")), ValueError, r"is not a regular file"),
    case("load_gppn_npz-text-file", lambda t: gds.load_gppn_npz(write(t / "t.npz", "hello")), ValueError,
         r"is not a zip/.npz archive"),
    case("load_gppn_npz-path-None", lambda t: gds.load_gppn_npz(None), TypeError, r"path must be a str or os.PathLike"),
    case("load_gppn_npz-too-few-arrays", lambda t: gds.load_gppn_npz(_npz(t / "few.npz", np.zeros(3))), ValueError,
         r"lacks arrays \['arr_1'"),
    case("load_gppn_npz-two-goals", lambda t: gds.load_gppn_npz(gppn_file(t, arr_1=np.ones((2, 1, 5, 5)))), ValueError,
         r"train split: goal map 0 marks 25 cells; exactly 1 expected"),
    case("load_gppn_npz-maze-value-2", lambda t: gds.load_gppn_npz(gppn_file(t, arr_3=np.full((2, 5, 5), 2.0))), ValueError,
         r"valid split: mazes must be binary"),
    case("load_gppn_npz-goal-maps-wrong-shape", lambda t: gds.load_gppn_npz(gppn_file(t, arr_7=np.zeros((2, 1, 4, 5)))),
         ValueError, r"test split: goal maps must be \[n, 1, H, W\]"),
    case("load_gppn_npz-truncated", lambda t: gds.load_gppn_npz(write(t / "cut.npz", gppn_file(t).read_bytes()[:400])),
         ValueError, r"truncated or corrupted"),
    case("load_gppn_npz-pickled-objects", lambda t: gds.load_gppn_npz(gppn_file(t, arr_0=np.array([None, 1], dtype=object))),
         ValueError, r"arr_0 cannot be read as a numeric array"),
    case("save_gppn_npz-missing-splits", lambda t: gds.save_gppn_npz(t / "o.npz", {"train": gppn_arrays()}), ValueError,
         r"splits must be a mapping with exactly the keys"),
    case("save_gppn_npz-pair-not-triple", lambda t: gds.save_gppn_npz(t / "o.npz", gppn_splits(valid=gppn_arrays()[:2])),
         TypeError, r"split 'valid' must be a GPPNSplit or a \(mazes, goals, policy\) triple"),
    case("save_gppn_npz-goal-on-wall", lambda t: gds.save_gppn_npz(t / "o.npz", gppn_splits(test=(np.zeros((2, 5, 5)), *gppn_arrays()[1:]))),
         ValueError, r"split 'test': the goal of maze 0 is on a wall"),
    case("save_gppn_npz-to-a-directory", lambda t: gds.save_gppn_npz(t, gppn_splits()), IsADirectoryError,
         r"it is a directory"),
    case("gppn_policy-single-2d-maze", lambda t: gds.gppn_policy(np.ones((5, 5), bool), np.array(6)), ValueError,
         r"mazes must be a batch \[n, H, W\]"),
    case("gppn_label_errors-tuple", lambda t: gds.gppn_label_errors(gppn_arrays()), TypeError, r"split must be a GPPNSplit"),
    case("gppn_label_errors-3-actions-for-4-channels",
         lambda t: gds.gppn_label_errors(gds.load_gppn_npz(gppn_file(t))["train"], actions=[[0, 1], [1, 0], [0, -1]]),
         ValueError, r"actions has 3 offsets but the policy has 4 action channels"),
    # datasets
    case("MazeDataset-split-training", lambda t: maze_dataset(t, split="training"), ValueError, r"split must be one of"),
    case("MazeDataset-kind-unknown", lambda t: maze_dataset(t, kind="cave"), ValueError, r"kind must be one of"),
    case("MazeDataset-seed-negative", lambda t: maze_dataset(t, seed=-1), ValueError, r"seed must be a non-negative integer"),
    case("MazeDataset-connectivity-6", lambda t: maze_dataset(t, connectivity=6), ValueError, r"connectivity=6 is not valid"),
    case("MazeDataset-kernel_size-4", lambda t: maze_dataset(t, kernel_size=4), ValueError, r"kernel_size must be an odd"),
    case("MazeDataset-counts-pair", lambda t: maze_dataset(t, counts=(2, 1)), TypeError, r"counts must be a"),
    case("MazeDataset-counts-1e12", lambda t: maze_dataset(t, counts=(10**12, 0, 0)), ValueError,
         r"MazeDataset\(counts=\(1000000000000, 0, 0\)\): generating 1,000,000,000,000 mazes of 5x5 .*need at least "
         r"[\d.,]+ TiB of memory, more than this machine's [\d.,]+ [KMGT]iB; reduce counts or size"),
    case("generate_splits-counts-1e12", lambda t: gds.generate_splits("gppn", 5, (0, 10**12, 0)), ValueError,
         r"1,000,000,000,000 mazes of 5x5 would need at least [\d.,]+ TiB of memory"),
    case("write_gppn_dataset-counts-1e12", lambda t: gds.write_gppn_dataset(t / "g.npz", 5, (0, 0, 10**12)), ValueError,
         r"1,000,000,000,000 mazes of 5x5 with their goal and 4 action maps would need at least [\d.,]+ TiB"),
    case("MazeDataset-corrupt-cache", corrupt_cache, ValueError, r"cannot read the maze cache .* force_reload=True"),
    case("GPPNDataset-split-val", lambda t: gds.GPPNDataset(gppn_file(t), split="val"), ValueError, r"split must be one of"),
    case("GPPNDataset-connectivity-6", lambda t: gds.GPPNDataset(gppn_file(t), connectivity=6), ValueError,
         r"connectivity must be 4 or 8"),
    case("GPPNDataset-connectivity-8-on-4-channels", lambda t: gds.GPPNDataset(gppn_file(t), connectivity=8), ValueError,
         r"labels are not optimal under connectivity=8"),
    case("GPPNDataset-3-actions", lambda t: gds.GPPNDataset(gppn_file(t), actions=[[0, 1], [1, 0], [0, -1]]), ValueError,
         r"actions has 3 offsets"),
    case("GPPNDataset-path-None", lambda t: gds.GPPNDataset(None), TypeError, r"path must be a str or os.PathLike"),
    case("GridGraphBuilder-goal-out-of-range", lambda t: gds.GridGraphBuilder((3, 3)).build(np.ones(9, bool), 9), ValueError,
         r"goal 9 is out of range"),
    case("GridGraphBuilder-goal-on-wall", lambda t: gds.GridGraphBuilder((3, 3)).build(np.arange(9) > 0, 0), ValueError,
         r"goal 0 \(cell \(0, 0\)\) is on a wall"),
    case("GridGraphBuilder-free-8-of-9-cells", lambda t: gds.GridGraphBuilder((3, 3)).build(np.ones(8, bool), 0), ValueError,
         r"free must have one entry per cell \(9"),
    case("GridGraphBuilder-free-ragged", lambda t: gds.GridGraphBuilder((3, 3)).build([[1, 1, 1], [1]], 0), ValueError,
         r"free rows have different lengths: free\[0\] has 3 entries but free\[1\] has 1"),
    case("GridGraphBuilder-goal-index-1e20", lambda t: gds.GridGraphBuilder((3, 3)).build(np.ones(9, bool), 10**20),
         ValueError, r"goal 100000000000000000000 is out of range for a grid of 9 cells"),
    case("GridGraphBuilder-free-value-2", lambda t: gds.GridGraphBuilder((3, 3)).build(np.full(9, 2), 0), ValueError,
         r"free must be binary"),
    case("GridGraphBuilder-dist-8-of-9-cells", lambda t: gds.GridGraphBuilder((3, 3)).build(np.ones(9, bool), 0, np.zeros(8)),
         ValueError, r"dist must have one entry per cell"),
]


def _npz(path, *arrays):
    np.savez(path, *arrays)
    return path


@pytest.mark.parametrize("call, error, match", DATASET_CASES)
def test_datasets(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- models

MODEL_CASES = [
    # constructors
    case("VIN-hidden_channels-0", lambda t: small(VIN, hidden_channels=0), ValueError, r"hidden_channels"),
    case("DTVIN-hidden_channels-0", lambda t: small(DTVIN, hidden_channels=0), ValueError, r"hidden_channels"),
    case("GPPN-hidden_channels-0", lambda t: small(GPPN, hidden_channels=0), ValueError, r"hidden_channels"),
    case("VIN-num_actions-0", lambda t: small(VIN, num_actions=0), ValueError, r"num_actions"),
    case("DTVIN-num_actions-0", lambda t: small(DTVIN, num_actions=0), ValueError, r"num_actions"),
    case("VIN-num_iterations-2.9", lambda t: small(VIN, num_iterations=2.9), ValueError, r"num_iterations.*2\.9"),
    case("DTVIN-num_iterations-0", lambda t: small(DTVIN, num_iterations=0), ValueError, r"num_iterations"),
    case("GPPN-num_iterations-True", lambda t: small(GPPN, num_iterations=True), ValueError, r"num_iterations.*True"),
    case("VIN-in_channels-0", lambda t: small(VIN, in_channels=0), ValueError, r"in_channels"),
    case("VIN-actions-unknown", lambda t: small(VIN, actions="diagonals"), ValueError, r"actions must be one of"),
    case("GPPN-cell-rnn", lambda t: small(GPPN, cell="rnn"), ValueError, r"cell must be 'lstm' or 'gru'"),
    case("VIN-gamma-2", lambda t: small(VIN, gamma=2.0), ValueError, r"gamma"),
    case("DTVIN-gamma-nan", lambda t: small(DTVIN, gamma=float("nan")), ValueError, r"gamma"),
    case("VIN-num_edge_types-and-edge_dim", lambda t: VIN(num_edge_types=None, edge_dim=None), ValueError,
         r"exactly one of num_edge_types .* and edge_dim"),
    case("build_model-unknown-name", lambda t: build_model("resnet"), ValueError, r"unknown model 'resnet'"),
    case("build_model-name-not-a-string", lambda t: build_model(3), TypeError, r"name"),
    case("build_model-unknown-argument", lambda t: build_model("vin", depth=3), TypeError, r"depth"),
    # forward on graphs the planner was not built for
    case("VIN-9-types-on-5-slot-graph", lambda t: small(VIN, num_edge_types=9)(grid()), ValueError, r"stencil|edge types"),
    case("DTVIN-9-types-on-5-slot-graph", lambda t: small(DTVIN, num_edge_types=9)(grid()), ValueError, r"stencil|edge types"),
    case("GPPN-9-types-on-5-slot-graph", lambda t: small(GPPN, num_edge_types=9)(grid()), ValueError, r"stencil|edge types"),
    case("VIN-5-types-on-kernel_size-3-graph", lambda t: small(VIN)(grid(kernel_size=3)), ValueError,
         r"num_edge_types=5"),
    case("VIN-graph-without-goal", lambda t: small(VIN)(grid(goal=None)), ValueError, r"goal"),
    case("DTVIN-graph-with-empty-goal-mask", lambda t: small(DTVIN)(with_field(grid(), goal=torch.zeros(9, dtype=torch.bool))),
         ValueError, r"goal"),
    case("GPPN-batch-with-a-goalless-graph", lambda t: small(GPPN)(Batch.from_data_list([grid(), grid(goal=None)])),
         ValueError, r"goal"),
    case("VIN-geometric-in_channels-2-on-networkx-x", lambda t: VIN(edge_dim=1, hidden_channels=3, num_actions=2,
                                                                      num_iterations=2)(nx_graph()),
         ValueError, r"in_channels=2"),
    case("DTVIN-geometric-in_channels-2-on-networkx-x", lambda t: DTVIN(edge_dim=1, hidden_channels=3, num_actions=2,
                                                                          num_iterations=2)(nx_graph()),
         ValueError, r"in_channels=2"),
    case("GPPN-geometric-in_channels-2-on-networkx-x", lambda t: GPPN(edge_dim=1, hidden_channels=3, num_iterations=2)(nx_graph()),
         ValueError, r"in_channels=2"),
    case("VIN-x-width-4", lambda t: small(VIN)(with_field(grid(), x=torch.ones(9, 4))), ValueError, r"in_channels"),
    case("VIN-x-float64", lambda t: small(VIN)(with_field(grid(), x=grid().x.double())), ValueError, r"float64"),
    case("DTVIN-x-int64", lambda t: small(DTVIN)(with_field(grid(), x=grid().x.long())), ValueError, r"data.x must be a float"),
    case("VIN-x-nan", lambda t: small(VIN)(with_field(grid(), x=torch.full((9, 2), float("nan")))), ValueError,
         r"data.x contains NaN"),
    case("VIN-missing-edge_type", lambda t: small(VIN)(without(grid(), "edge_type")), ValueError, r"no 'edge_type' field"),
    case("VIN-float-edge_type", lambda t: small(VIN)(with_field(grid(), edge_type=grid().edge_type.float())), ValueError,
         r"edge_type must be int64"),
    case("VIN-geometric-missing-edge_attr", lambda t: VIN(edge_dim=1, in_channels=1, hidden_channels=3, num_actions=2,
                                                           num_iterations=2)(without(nx_graph(), "edge_attr")),
         ValueError, r"no 'edge_attr' field"),
    case("VIN-directions-without-action", lambda t: small(VIN, actions="directions")(grid_without_action()), ValueError,
         r"actions='directions' needs data.action"),
    case("VIN-forward-num_iterations-2.9", lambda t: small(VIN)(grid(), num_iterations=2.9), ValueError, r"num_iterations"),
    case("VIN-memory-unknown", lambda t: _with_memory(small(VIN), "cheap")(grid()), ValueError, r"memory must be one of"),
    case("DTVIN-batch-of-two-stencils", lambda t: small(DTVIN, num_edge_types=9)(Batch.from_data_list([grid(kernel_size=3), grid()])),
         ValueError, r"mixes graphs built with different stencils"),
    case("DTVIN-3d-grid-graph", lambda t: small(DTVIN)(gvin.from_grid(np.ones((3, 3, 3)), goal=0)), ValueError,
         r"7 edge types, but the planner was built for num_edge_types=5"),
    case("VIN-typed-on-networkx-graph", lambda t: small(VIN, in_channels=1)(nx_graph()), ValueError, r"no 'edge_type' field"),
    case("VIN-edge_dim-2-on-1-d-edge_attr", lambda t: VIN(edge_dim=2, in_channels=1, hidden_channels=3, num_actions=2,
                                                           num_iterations=2)(nx_graph()),
         ValueError, r"edge_attr must be \[E, edge_dim\] = \[10, 2\]"),
    case("VIN-intermediate-layer-beyond-depth", lambda t: small(VIN)(grid(), intermediate=[5]), ValueError, r"intermediate"),
    case("VIN-intermediate-int", lambda t: small(VIN)(grid(), intermediate=2), TypeError, r"intermediate"),
    case("VIN-edge_index-out-of-range", lambda t: small(VIN)(_bad_edge_index(grid())), ValueError, r"edge_index refers to nodes"),
]


def grid_without_action() -> Data:
    """A graph with edge types but no 'action' field."""
    return without(grid(), "action")


def _with_memory(model, memory):
    model.memory = memory
    return model


@pytest.mark.parametrize("call, error, match", MODEL_CASES)
def test_models(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- nn layers

NN_CASES = [
    case("EdgeTypeConv-in_channels-0", lambda t: gnn.EdgeTypeConv(0, 3, 5), ValueError, r"in_channels must be a positive int"),
    case("EdgeTypeConv-out_channels-0", lambda t: gnn.EdgeTypeConv(2, 0, 5), ValueError, r"out_channels must be a positive int"),
    case("EdgeTypeConv-num_edge_types-0", lambda t: gnn.EdgeTypeConv(2, 3, 0), ValueError, r"num_edge_types must be a positive int"),
    case("EdgeTypeConv-in_channels-2.5", lambda t: gnn.EdgeTypeConv(2.5, 3, 5), ValueError, r"in_channels .* 2\.5"),
    case("EdgeTypeConv-x-width-4", lambda t: gnn.EdgeTypeConv(2, 3, 5)(torch.ones(9, 4), grid().edge_index, grid().edge_type),
         ValueError, r"x has 4 channels but the layer was built for 2"),
    case("EdgeTypeConv-x-float64", lambda t: gnn.EdgeTypeConv(2, 3, 5)(grid().x.double(), grid().edge_index, grid().edge_type),
         ValueError, r"x is torch.float64 but the layer's weights are torch.float32"),
    case("EdgeTypeConv-x-1d", lambda t: gnn.EdgeTypeConv(2, 3, 5)(grid().x[:, 0], grid().edge_index, grid().edge_type),
         ValueError, r"x must be a float \[N, C\] tensor"),
    case("EdgeTypeConv-edge_type-out-of-range", lambda t: gnn.EdgeTypeConv(2, 3, 5)(grid().x, grid().edge_index, grid().edge_type + 5),
         ValueError, r"edge_type has values in \[5, 9\] .* num_edge_types=5"),
    case("EdgeTypeConv-edge_index-float", lambda t: gnn.EdgeTypeConv(2, 3, 5)(grid().x, grid().edge_index.float(), grid().edge_type),
         ValueError, r"edge_index must be an integer"),
    case("EdgeTypeConv-stencil-of-another-size", lambda t: gnn.EdgeTypeConv(2, 3, 9)(grid().x, None, None, stencil_of(grid())),
         ValueError, r"stencil has 5 slots but the layer has 9 edge types"),
    case("EdgeGeometryConv-edge_dim-0", lambda t: gnn.EdgeGeometryConv(2, 3, 0), ValueError, r"edge_dim must be a positive int"),
    case("EdgeGeometryConv-num_bases-0", lambda t: gnn.EdgeGeometryConv(2, 3, 2, num_bases=0), ValueError, r"num_bases"),
    case("EdgeGeometryConv-edge_attr-width-1", lambda t: gnn.EdgeGeometryConv(2, 3, 2)(grid().x, grid().edge_index, grid().edge_attr[:, :1]),
         ValueError, r"edge_attr must be \[E, edge_dim=2\]"),
    case("EdgeGeometryConv-edge_attr-list", lambda t: gnn.EdgeGeometryConv(2, 3, 2)(grid().x, grid().edge_index, grid().edge_attr.tolist()),
         TypeError, r"edge_attr must be a Tensor"),
    case("EdgeGeometryConv-x-float64", lambda t: gnn.EdgeGeometryConv(2, 3, 2)(grid().x.double(), grid().edge_index, grid().edge_attr),
         ValueError, r"x is torch.float64"),
    case("EdgeMLP-hidden-negative", lambda t: gnn.EdgeMLP(2, 3, hidden=-1), ValueError, r"hidden must be an int >= 0"),
    case("EdgeMLP-edge_attr-float64", lambda t: gnn.EdgeMLP(2, 3)(torch.zeros(4, 2, dtype=torch.float64)), ValueError,
         r"edge_attr is torch.float64"),
    case("EdgePolicyHead-num_actions-0", lambda t: gnn.EdgePolicyHead(0, 5), ValueError, r"num_actions must be a positive int"),
    case("EdgePolicyHead-move-float", lambda t: gnn.EdgePolicyHead(2, 5)(torch.zeros(9, 2), torch.zeros(9), grid().edge_index,
                                                                         grid().edge_type, grid().move.float()),
         ValueError, r"move must be a bool mask"),
    case("EdgePolicyHead-v-8-for-9-nodes", lambda t: gnn.EdgePolicyHead(2, 5)(torch.zeros(9, 2), torch.zeros(8), grid().edge_index,
                                                                              grid().edge_type, grid().move),
         ValueError, r"v must be \[N\]=9"),
    case("EdgePolicyHead-q-width-3", lambda t: gnn.EdgePolicyHead(2, 5)(torch.zeros(9, 3), torch.zeros(9), grid().edge_index,
                                                                        grid().edge_type, grid().move),
         ValueError, r"q has 3 channels"),
    case("GeometricPolicyHead-edge_dim-0", lambda t: gnn.GeometricPolicyHead(2, 0), ValueError, r"edge_dim must be a positive int"),
    case("DynamicTransition-x-width-3", lambda t: gnn.DynamicTransition(2, 5, 2, 4)(torch.zeros(9, 3), grid().edge_index, grid().edge_type),
         ValueError, r"x has 3 channels"),
    case("GeometricDynamicTransition-edge_hidden-0", lambda t: gnn.GeometricDynamicTransition(2, 2, 2, edge_hidden=0), ValueError,
         r"edge_hidden must be an int >= 1"),
    case("masked_log_softmax-float-mask", lambda t: gnn.masked_log_softmax(torch.zeros(3, 4), torch.ones(3, 4)), ValueError,
         r"mask must be a bool tensor"),
    case("masked_log_softmax-mask-shape", lambda t: gnn.masked_log_softmax(torch.zeros(3, 4), torch.ones(3, 3, dtype=torch.bool)),
         ValueError, r"mask \(3, 3\) does not fit logits \(3, 4\)"),
    case("segment_log_softmax-index-out-of-range", lambda t: gnn.segment_log_softmax(torch.zeros(5), torch.full((5,), 7), 2),
         ValueError, r"index has values in \[7, 7\] but num_segments=2"),
    case("segment_log_softmax-index-float", lambda t: gnn.segment_log_softmax(torch.zeros(5), torch.zeros(5), 2), ValueError,
         r"index must be an integer"),
    case("segment_log_softmax-mask-4-for-5", lambda t: gnn.segment_log_softmax(torch.zeros(5), torch.zeros(5, dtype=torch.long), 2,
                                                                               mask=torch.ones(4, dtype=torch.bool)),
         ValueError, r"mask must be \[5\]"),
    case("build_stencil-negative-edge_type", lambda t: gnn.build_stencil(grid().edge_index, grid().edge_type - 1, 9, 5),
         ValueError, r"edge_type must be >= 0"),
    case("build_stencil-edge_type-beyond-num_slots", lambda t: gnn.build_stencil(grid().edge_index, grid().edge_type + 5, 9, 5),
         ValueError, r"edge_type has values up to 9 but num_slots=5"),
    case("build_stencil-num_nodes-too-small", lambda t: gnn.build_stencil(grid().edge_index, grid().edge_type, 3, 5), ValueError,
         r"edge_index refers to nodes in \[0, 8\] but the graph has 3 nodes"),
    case("Stencil-gather-8-rows-for-9-nodes", lambda t: stencil_of(grid()).gather(torch.zeros(8)), ValueError,
         r"node_values must have one row per node \(9\)"),
    case("Stencil-to_dense-8-rows-for-33-edges", lambda t: stencil_of(grid()).to_dense(torch.zeros(8)), ValueError,
         r"edge_values must have one row per edge \(33\)"),
    case("EdgeTransition-values-8-for-9-nodes", lambda t: gnn.EdgeTransition(torch.zeros(33, 2), grid().edge_index, 9)(torch.zeros(8)),
         ValueError, r"values must be \[N\]=9"),
    case("value_iteration-num_iterations-2.5", lambda t: gnn.value_iteration(*vi_inputs(), 2.5), ValueError,
         r"num_iterations must be a positive int, got 2\.5"),
    case("value_iteration-num_iterations-True", lambda t: gnn.value_iteration(*vi_inputs(), True), ValueError,
         r"num_iterations .* got True"),
    case("value_iteration-reward-rows", lambda t: gnn.value_iteration(torch.zeros(8, 2), vi_inputs()[1], 2), ValueError,
         r"reward has 8 rows but the transition acts on 9 nodes"),
    case("value_iteration-actions-mismatch", lambda t: gnn.value_iteration(vi_inputs()[0], vi_inputs(num_actions=3)[1], 2),
         ValueError, r"reward has 2 actions but the transition weight has 3"),
    case("value_iteration-dtype-mismatch", lambda t: gnn.value_iteration(vi_inputs()[0], vi_inputs(dtype=torch.float64)[1], 2),
         ValueError, r"transition weight is torch.float64"),
    case("value_iteration-gamma-nan", lambda t: gnn.value_iteration(*vi_inputs(), 2, gamma=float("nan")), ValueError,
         r"gamma must be a finite number"),
    case("value_iteration-values-8-for-9", lambda t: gnn.value_iteration(*vi_inputs(), 2, values=torch.zeros(8)), ValueError,
         r"values \(V_0\) must be"),
    case("value_iteration-float16", lambda t: gnn.value_iteration(vi_inputs()[0].half(), vi_inputs()[1], 2), TypeError,
         r"float32 or float64, got torch.float16"),
    case("value_iteration-memory-unknown", lambda t: gnn.value_iteration(*vi_inputs(), 2, memory="cheap"), ValueError,
         r"memory must be one of"),
    case("EdgeTransition-weight-rows", lambda t: gnn.value_iteration(torch.zeros(9, 2), gnn.EdgeTransition(torch.zeros(5, 2),
                                                                                                      grid().edge_index, 9), 2),
         ValueError, r"transition weight must be \[E, A\] = \[33, A\]"),
]


@pytest.mark.parametrize("call, error, match", NN_CASES)
def test_nn_layers(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- conv references

X = torch.ones(1, 2, 3, 3)

GRID_CASES = [
    case("GridVIN-kernel_size-4", lambda t: GridVIN(kernel_size=4), ValueError, r"kernel_size must be an odd integer"),
    case("GridVIN-kernel_size-3.0", lambda t: GridVIN(kernel_size=3.0), TypeError, r"kernel_size must be an int"),
    case("GridVIN-hidden_channels-0", lambda t: GridVIN(hidden_channels=0), ValueError, r"hidden_channels must be a positive int"),
    case("GridVIN-num_actions-0", lambda t: GridVIN(num_actions=0), ValueError, r"num_actions must be a positive int"),
    case("GridVIN-num_iterations-2.5", lambda t: GridVIN(num_iterations=2.5), ValueError, r"num_iterations .* 2\.5"),
    case("GridVIN-gamma-1.5", lambda t: GridVIN(gamma=1.5), ValueError, r"gamma must be a number in \[0, 1\]"),
    case("GridVIN-connectivity-6", lambda t: GridVIN(connectivity=6), ValueError, r"connectivity=6 is not valid"),
    case("GridVIN-forward-num_iterations-2.5", lambda t: GridVIN(hidden_channels=2)(X, num_iterations=2.5), ValueError,
         r"num_iterations must be a positive int, got 2\.5"),
    case("GridVIN-x-float64", lambda t: GridVIN(hidden_channels=2)(X.double()), ValueError,
         r"x is torch.float64 .* parameters are torch.float32"),
    case("GridVIN-x-nan", lambda t: GridVIN(hidden_channels=2)(torch.full((1, 2, 3, 3), float("nan"))), ValueError,
         r"x contains NaN"),
    case("GridVIN-free-0.3", lambda t: GridVIN(hidden_channels=2)(X, free=torch.full((1, 3, 3), 0.3)), ValueError,
         r"free must be a bool \(or 0/1\) mask"),
    case("GridVIN-empty-batch", lambda t: GridVIN(hidden_channels=2)(torch.ones(0, 2, 3, 3)), ValueError, r"x is empty"),
    case("GridDTVIN-kernel_mask-empty", lambda t: GridDTVIN(kernel_mask=torch.zeros(3, 3, dtype=torch.bool)), ValueError,
         r"kernel_mask selects no kernel slot"),
    case("GridDTVIN-kernel_mask-shape", lambda t: GridDTVIN(kernel_mask=torch.ones(2, 2)), ValueError, r"kernel_mask must be \[3, 3\]"),
    case("GridGPPN-cell-rnn", lambda t: GridGPPN(cell="rnn"), ValueError, r"cell must be 'lstm' or 'gru'"),
    case("GridGPPN-hidden_channels-0", lambda t: GridGPPN(hidden_channels=0), ValueError, r"hidden_channels"),
    case("GridPolicyHead-q-3-channels-for-2", lambda t: GridPolicyHead(2)(torch.zeros(1, 3, 3, 3), torch.zeros(1, 3, 3),
                                                                            torch.ones(1, 3, 3, dtype=torch.bool)),
         ValueError, r"q must be \[B, A=2, H, W\]"),
    case("GridPolicyHead-free-float", lambda t: GridPolicyHead(2)(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3), torch.ones(1, 3, 3)),
         ValueError, r"free must be a bool mask"),
    case("GridPolicyHead-num_actions-0", lambda t: GridPolicyHead(0), ValueError, r"num_actions must be a positive int"),
    case("grid_from_graph-not-a-model", lambda t: grid_from_graph("vin"), TypeError, r"expected one of VIN, DTVIN, GPPN"),
    case("grid_from_graph-geometric-model", lambda t: grid_from_graph(VIN(edge_dim=2, hidden_channels=2, num_actions=2)),
         ValueError, r"edge geometry \(edge_dim=2\)"),
    case("grid_from_graph-directions-model", lambda t: grid_from_graph(small(VIN, actions="directions")), ValueError,
         r"actions='directions'"),
    case("grid_from_graph-connectivity-8-for-5-types", lambda t: grid_from_graph(small(VIN), connectivity=8), ValueError,
         r"num_edge_types=5 .* connectivity=8"),
    case("grid_to_graph_state-kernel_size-5-for-3", lambda t: grid_to_graph_state(GridVIN(hidden_channels=2), kernel_size=5),
         ValueError, r"kernel_size=5 does not fit a reference with kernel_size=3"),
    case("node_values_to_grid-networkx-graph", lambda t: node_values_to_grid(nx_graph(), torch.zeros(4)), ValueError,
         r"no 'cell' field"),
    case("edge_values_to_grid-8-for-33-edges", lambda t: edge_values_to_grid(grid(), torch.zeros(8)), ValueError,
         r"edge_values must be \[E\] = \[33\]"),
    case("edge_values_to_grid-string", lambda t: edge_values_to_grid(grid(), "abc"), TypeError, r"edge_values must be"),
]


@pytest.mark.parametrize("call, error, match", GRID_CASES)
def test_conv_references(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- training

E, N = grid().num_edges, grid().num_nodes
LP = torch.full((E,), -1.0)


def policy_of(data: Data):
    return small(DTVIN)(data).log_probs


TRAIN_CASES = [
    # losses
    case("imitation_loss-log_probs-wrong-length", lambda t: imitation_loss(LP[:-1], labelled().optimal, grid().edge_index, N),
         ValueError, r"log_probs must be \[E\]=33"),
    case("imitation_loss-optimal-wrong-length", lambda t: imitation_loss(LP, labelled().optimal[:-1], grid().edge_index, N),
         ValueError, r"optimal must be \[E\]=33"),
    case("imitation_loss-edge_index-E-by-2", lambda t: imitation_loss(LP, labelled().optimal, grid().edge_index.T, N),
         ValueError, r"edge_index must .*\[2, E\]"),
    case("imitation_loss-only-label-on-a-non-move", lambda t: imitation_loss(policy_of(non_move_label()), non_move_label().optimal,
                                                                               grid().edge_index, N),
         ValueError, r"labels mark .* the policy cannot take"),
    case("imitation_loss-extra-label-on-a-non-move", lambda t: imitation_loss(policy_of(non_move_label(only=False)),
                                                                                non_move_label(only=False).optimal,
                                                                                grid().edge_index, N),
         ValueError, r"optimal|label"),
    case("imitation_loss-num_nodes-too-small", lambda t: imitation_loss(LP, labelled().optimal, grid().edge_index, 3),
         ValueError, r"edge_index refers to nodes in \[0, 8\] but the graph has 3 nodes"),
    case("imitation_loss-optimal-float-0.5", lambda t: imitation_loss(LP, labelled().optimal.float() * 0.5, grid().edge_index, N),
         ValueError, r"optimal"),
    case("highway_loss-no-layer", lambda t: highway_loss({}, labelled().optimal, labelled().dist, grid().edge_index, N),
         ValueError, r"at least one layer"),
    case("highway_loss-dist-wrong-length", lambda t: highway_loss({1: LP}, labelled().optimal, labelled().dist[:-1],
                                                                   grid().edge_index, N),
         ValueError, r"dist must be \[N\]=9"),
    case("highway_loss-log_probs-wrong-length", lambda t: highway_loss({1: LP[:-1]}, labelled().optimal, labelled().dist,
                                                                        grid().edge_index, N),
         ValueError, r"log_probs must be \[E\]=33"),
    case("highway_loss-layer-0", lambda t: highway_loss({0: LP}, labelled().optimal, labelled().dist, grid().edge_index, N),
         ValueError, r"layer"),
    case("highway_loss-list-not-mapping", lambda t: highway_loss([LP], labelled().optimal, labelled().dist, grid().edge_index, N),
         TypeError, r"layer_log_probs"),
    case("highway_loss-dist-nan", lambda t: highway_loss({1: LP}, labelled().optimal, torch.full((N,), float("nan")),
                                                         grid().edge_index, N),
         ValueError, r"dist"),
    case("highway_layers-depth-0", lambda t: highway_layers(0, 1), ValueError, r"depth must be .*>= 1"),
    case("highway_layers-every-0", lambda t: highway_layers(5, 0), ValueError, r"highway interval must be .*>= 1"),
    case("highway_layers-depth-5.5", lambda t: highway_layers(5.5, 2), ValueError, r"depth"),
    # metrics
    case("planning_metrics-goal-8-for-9-nodes", lambda t: planning_metrics(**metrics_args(goal=labelled().goal[:-1])),
         ValueError, r"goal must be \[N\]=9"),
    case("planning_metrics-dist-8-for-9-nodes", lambda t: planning_metrics(**metrics_args(dist=labelled().dist[:-1])),
         ValueError, r"dist must be \[N\]=9"),
    case("planning_metrics-goal-as-indices", lambda t: planning_metrics(**metrics_args(goal=torch.tensor([0]))), ValueError,
         r"goal must be \[N\]=9"),
    case("planning_metrics-edge_index-out-of-range", lambda t: planning_metrics(**metrics_args(edge_index=grid().edge_index + 100)),
         ValueError, r"edge_index refers to nodes in \[100, 108\]"),
    case("planning_metrics-edge_index-float", lambda t: planning_metrics(**metrics_args(edge_index=grid().edge_index.float())),
         ValueError, r"edge_index must be an integer"),
    case("planning_metrics-no-goal", lambda t: planning_metrics(**metrics_args(goal=torch.zeros(N, dtype=torch.bool))),
         ValueError, r"goal marks no node in graph\(s\) 0"),
    case("planning_metrics-batch-negative", lambda t: planning_metrics(**metrics_args(), batch=torch.full((N,), -1)), ValueError,
         r"batch has values in \[-1, -1\]"),
    case("planning_metrics-num_starts-negative", lambda t: planning_metrics(**metrics_args(), num_starts=-1), ValueError,
         r"num_starts must be an int >= 0"),
    case("planning_metrics-edge_weight-wrong-length", lambda t: planning_metrics(**metrics_args(), edge_weight=torch.ones(3)),
         ValueError, r"edge_weight must be \[E\]=33"),
    case("planning_metrics-log_probs-list", lambda t: planning_metrics(**metrics_args(log_probs=[0.0] * E)), TypeError,
         r"log_probs must be a torch tensor"),
    case("planning_metrics-move-value-2", lambda t: planning_metrics(**metrics_args(move=grid().move.long() * 2)), ValueError,
         r"move must be a bool mask"),
    case("random_start_success-num_starts-0", lambda t: random_start_success(**metrics_args(), num_starts=0), ValueError,
         r"num_starts must be a positive int"),
    case("greedy_edges-num_nodes-too-small", lambda t: greedy_edges(LP, grid().edge_index, 2), ValueError,
         r"edge_index refers to nodes in \[0, 8\]"),
    case("greedy_edges-log_probs-int", lambda t: greedy_edges(torch.zeros(E, dtype=torch.long), grid().edge_index, N),
         ValueError, r"log_probs must be a float tensor"),
    case("rollout_lengths-successor-out-of-range", lambda t: rollout_lengths(torch.full((N,), 99), torch.ones(N, dtype=torch.bool),
                                                                             grid().goal),
         ValueError, r"successor has values in \[99, 99\]"),
    case("rollout_lengths-valid-wrong-length", lambda t: rollout_lengths(torch.arange(N), torch.ones(N - 1, dtype=torch.bool),
                                                                         grid().goal),
         ValueError, r"valid must be \[N\]=9"),
    case("rollout_lengths-max_steps-negative", lambda t: rollout_lengths(torch.arange(N), torch.ones(N, dtype=torch.bool),
                                                                         grid().goal, max_steps=-1),
         ValueError, r"max_steps must be an int >= 0"),
    case("sample_starts-batch-beyond-num_graphs", lambda t: sample_starts(torch.ones(N, dtype=torch.bool), torch.arange(N), 1, 3),
         ValueError, r"batch has values in \[0, 8\] but must be in \[0, 1\)"),
    case("sample_starts-num_starts-negative", lambda t: sample_starts(torch.ones(N, dtype=torch.bool),
                                                                      torch.zeros(N, dtype=torch.long), 1, -1),
         ValueError, r"num_starts must be an int >= 0"),
    # TrainConfig
    case("TrainConfig-epochs-negative", lambda t: TrainConfig(epochs=-1), ValueError, r"epochs=-1"),
    case("TrainConfig-epochs-1.5", lambda t: TrainConfig(epochs=1.5), ValueError, r"epochs"),
    case("TrainConfig-epochs-string", lambda t: TrainConfig(epochs="3"), ValueError, r"epochs"),
    case("TrainConfig-batch_size-0", lambda t: TrainConfig(batch_size=0), ValueError, r"batch_size=0"),
    case("TrainConfig-batch_size-2.5", lambda t: TrainConfig(batch_size=2.5), ValueError, r"batch_size"),
    case("TrainConfig-lr-nan", lambda t: TrainConfig(lr=float("nan")), ValueError, r"lr=nan"),
    case("TrainConfig-lr-inf", lambda t: TrainConfig(lr=float("inf")), ValueError, r"lr"),
    case("TrainConfig-model-unknown", lambda t: TrainConfig(model="resnet"), ValueError, r"model"),
    case("TrainConfig-device-unknown", lambda t: TrainConfig(device="tpu9"), ValueError, r"device"),
    case("TrainConfig-device-gpu", lambda t: TrainConfig(device="gpu"), ValueError,
         r"device must be a torch device such as 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
    case("TrainConfig-seed-True", lambda t: TrainConfig(seed=True), ValueError, r"seed"),
    case("TrainConfig-highway_every-1.5", lambda t: TrainConfig(highway_every=1.5), ValueError, r"highway_every"),
    case("TrainConfig-model_kwargs-list", lambda t: TrainConfig(model_kwargs=[1]), TypeError, r"model_kwargs must be a dict"),
    # Trainer and evaluate
    case("Trainer-config-dict", lambda t: Trainer({"model": "vin"}), TypeError, r"config must be a TrainConfig"),
    case("Trainer-unknown-model-argument", lambda t: Trainer(TrainConfig(model="vin", model_kwargs={"depth": 3})), TypeError,
         r"depth"),
    case("Trainer-fit-unlabelled", lambda t: trainer().fit([grid()], progress=False), ValueError, r"lack expert labels"),
    case("Trainer-fit-empty-list", lambda t: trainer().fit([], progress=False), ValueError, r"the dataset is empty"),
    case("Trainer-fit-string", lambda t: trainer().fit("mazes", progress=False), TypeError, r"got str"),
    case("Trainer-fit-labels-mark-no-optimal-edge", lambda t: trainer().fit([no_optimal_label()], progress=False), ValueError,
         r"optimal"),
    case("Trainer-fit-label-on-a-non-move", lambda t: trainer().fit([non_move_label()], progress=False), ValueError,
         r"labels mark edge 0 as optimal although it is not a move"),
    case("Trainer-fit-graph-of-another-stencil", lambda t: trainer().fit([labelled(kernel_size=3)], progress=False), ValueError,
         r"stencil|edge types"),
    case("Trainer-fit-epochs-negative", lambda t: trainer().fit([labelled()], epochs=-1, progress=False), ValueError, r"epochs"),
    case("Trainer-fit-epochs-1.5", lambda t: trainer().fit([labelled()], epochs=1.5, progress=False), ValueError, r"epochs"),
    case("evaluate-device-gpu", lambda t: evaluate(small(DTVIN), [labelled()], device="gpu"), ValueError,
         r"device must be a torch device such as 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
    case("evaluate-device-unknown", lambda t: evaluate(small(DTVIN), [labelled()], device="tpu"), ValueError, r"device"),
    case("evaluate-model-string", lambda t: evaluate("dtvin", [labelled()]), TypeError, r"model"),
    case("evaluate-unlabelled", lambda t: evaluate(small(DTVIN), [grid()]), ValueError, r"lack expert labels"),
    case("evaluate-num_starts-negative", lambda t: evaluate(small(DTVIN), [labelled()], num_starts=-1), ValueError,
         r"num_starts must be an int >= 0"),
    case("evaluate-num_iterations-2.5", lambda t: evaluate(small(DTVIN), [labelled()], num_iterations=2.5), ValueError,
         r"num_iterations"),
    # checkpoints
    case("load_checkpoint-directory", lambda t: load_checkpoint(t), ValueError, r"is a folder; expected a checkpoint file"),
    case("load_checkpoint-missing", lambda t: load_checkpoint(t / "nope.pt"), FileNotFoundError, r"no checkpoint at .*nope.pt"),
    case("load_checkpoint-text-file", lambda t: load_checkpoint(write(t / "c.pt", "hello")), ValueError,
         r"c.pt is damaged or not a gvin checkpoint"),
    case("load_checkpoint-bare-state_dict", lambda t: load_checkpoint(_saved(t / "sd.pt", small(DTVIN).state_dict())), ValueError,
         r"sd.pt has no model state"),
    case("load_checkpoint-None", lambda t: load_checkpoint(None), TypeError, r"path"),
    case("save_checkpoint-list-payload", lambda t: save_checkpoint(t / "c.pt", [1]), TypeError, r"payload must be a dict"),
    case("save_checkpoint-numpy-array-in-payload", lambda t: save_checkpoint(t / "c.pt", {"model": {}, "extra": np.zeros(3)}),
         TypeError, r"extra|ndarray|numpy"),
    case("save_checkpoint-to-a-directory", lambda t: save_checkpoint(t, {"model": {}}), IsADirectoryError, r"it is a directory"),
    case("Trainer-from_checkpoint-without-config", lambda t: Trainer.from_checkpoint(_saved(t / "m.pt", {"model": {}})),
         ValueError, r"has no (gvin )?training config"),
]


def _saved(path, payload):
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("call, error, match", TRAIN_CASES)
def test_training(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


@pytest.fixture
def one_process(monkeypatch):
    """No torchrun environment: the devices are checked for this one process."""
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_on_a_machine_without_cuda(device, monkeypatch, one_process, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text = str(device)
    message = rf"device='{text}': CUDA is not available on this machine \(.*\); use device='cpu'"
    config = TrainConfig(model="dtvin", model_kwargs={"num_iterations": 2}, device=device)  # a config may be for elsewhere
    with pytest.raises(ValueError, match=message):
        Trainer(config)
    with pytest.raises(ValueError, match=message):
        evaluate(small(DTVIN), [labelled()], device=device)
    path = save_checkpoint(tmp_path / "c.pt", {"model": {}})
    with pytest.raises(ValueError, match=rf"cannot load checkpoint .*c.pt onto '{text}': map_location='{text}': CUDA is not "
                                         r"available on this machine .*; use map_location='cpu'"):
        load_checkpoint(path, map_location=device)


def test_a_gpu_index_past_the_machines_gpus(monkeypatch, one_process):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    message = r"device='cuda:3': this machine has 1 CUDA device\(s\) \(cuda:0\); use device='cuda' \(cuda:0\)"
    with pytest.raises(ValueError, match=message):
        Trainer(TrainConfig(model="dtvin", model_kwargs={"num_iterations": 2}, device="cuda:3"))
    with pytest.raises(ValueError, match=message):
        evaluate(small(DTVIN), [labelled()], device="cuda:3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        gvin._checks.as_device("cuda:2")


def test_mps_on_a_machine_without_mps(monkeypatch, one_process):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='mps': MPS \(Apple's GPU\) is not available on this machine; use device='cpu'"):
        Trainer(TrainConfig(model="dtvin", model_kwargs={"num_iterations": 2}, device="mps"))


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", None, 1.5])
def test_a_device_torch_does_not_know(device, one_process):
    with pytest.raises(ValueError, match=r"device must be a torch device such as 'cpu', 'cuda', 'cuda:N' or 'mps', got "):
        TrainConfig(device=device)
    with pytest.raises(ValueError, match=r"device must be a torch device"):
        evaluate(small(DTVIN), [labelled()], device=device) if device is not None else gvin._checks.as_device(None)


def test_cpu_devices_still_work(one_process):
    assert gvin._checks.as_device("cpu") == torch.device("cpu")
    assert gvin._checks.as_device(torch.device("cpu")) == torch.device("cpu")
    assert Trainer(TrainConfig(model="dtvin", model_kwargs={"num_iterations": 2})).device == torch.device("cpu")


def test_maze_counts_past_the_machines_memory(monkeypatch, tmp_path):
    from gvin import _checks
    from gvin.datasets.maze_dataset import maze_dataset_bytes

    per_maze = 25 * 3 + 8  # 5x5: a bool maze, uint16 distances and an int64 goal
    assert maze_dataset_bytes(5, (2, 1, 1)) == 4 * per_maze
    assert maze_dataset_bytes(5, (2, 1, 1), split="valid") == per_maze
    assert maze_dataset_bytes(5, (10**12, 0, 0)) == 10**12 * per_maze  # a Python int: no overflow
    maze_dataset(tmp_path, counts=(2, 1, 1))  # generated and cached
    monkeypatch.setattr(_checks, "memory_bytes", lambda: 3 * per_maze // 2)
    assert len(maze_dataset(tmp_path, counts=(2, 1, 1), split="valid")) == 1  # loading one split fits
    with pytest.raises(ValueError, match=r"MazeDataset\(counts=\(2, 1, 1\)\): generating 4 mazes of 5x5 with their "
                                         r"labels would need at least 332 bytes of memory, more than this machine's "
                                         r"124 bytes; reduce counts or size"):
        maze_dataset(tmp_path, counts=(2, 1, 1), force_reload=True)
    with pytest.raises(ValueError, match=r"loading the train split of 2 mazes"):
        maze_dataset(tmp_path, counts=(2, 1, 1), split="train")
    monkeypatch.setattr(_checks, "memory_bytes", lambda: None)  # an OS that does not say: nothing is refused
    assert len(maze_dataset(tmp_path, counts=(2, 1, 1), force_reload=True)) == 2


# ----------------------------------------------------------------------------- rollout, viz, io

OTHER_CASES = [
    case("plan_path-start-out-of-range", lambda t: plan_path(small(DTVIN), grid(), 9), ValueError, r"start node 9 is out of range"),
    case("plan_path-start-float", lambda t: plan_path(small(DTVIN), grid(), 1.5), TypeError, r"start must be an integer"),
    case("plan_path-start-bool", lambda t: plan_path(small(DTVIN), grid(), True), TypeError, r"start must be an integer"),
    case("plan_path-start-string", lambda t: plan_path(small(DTVIN), grid(), "3"), TypeError, r"start must be an integer"),
    case("plan_path-start-2-element-tensor", lambda t: plan_path(small(DTVIN), grid(), torch.tensor([1, 2])), TypeError,
         r"start must be an integer"),
    case("plan_path-graph-without-goal", lambda t: plan_path(small(DTVIN), grid(goal=None), 3), ValueError,
         r"cannot plan without a goal"),
    case("plan_path-model-string", lambda t: plan_path("dtvin", grid(), 3), TypeError, r"model must be a planner"),
    case("plan_path-maze-array-not-graph", lambda t: plan_path(small(DTVIN), np.ones((3, 3)), 3), TypeError,
         r"data must be a torch_geometric Data"),
    case("follow_policy-log_probs-wrong-length", lambda t: follow_policy(torch.zeros(3), grid(), 3), ValueError,
         r"log_probs must be an \[E\] = \[33\]"),
    case("follow_policy-start-out-of-range", lambda t: follow_policy(LP, grid(), 30), ValueError, r"start node 30 is out of range"),
    case("follow_policy-graph-without-goal", lambda t: follow_policy(LP, with_field(grid(), goal=torch.zeros(9, dtype=torch.bool)), 3),
         ValueError, r"goal is empty"),
    case("render_ascii-3d-maze", lambda t: render_ascii(np.ones((2, 2, 2))), ValueError, r"maze must be a 2-D"),
    case("render_ascii-goal-outside", lambda t: render_ascii(np.ones((2, 2)), goal=(5, 5)), ValueError,
         r"goal \(5, 5\) is outside the maze"),
    case("render_ascii-goal-negative", lambda t: render_ascii(np.ones((2, 2)), goal=(-1, 0)), ValueError,
         r"goal \(-1, 0\) is outside the maze"),
    case("render_ascii-goal-flat-index", lambda t: render_ascii(np.ones((2, 2)), goal=1), ValueError,
         r"goal must be a \(row, col\) pair"),
    case("render_ascii-path-cell-outside", lambda t: render_ascii(np.ones((2, 2)), path=[(0, 0), (9, 9)]), ValueError,
         r"path cell 1 \(9, 9\) is outside"),
    case("render_ascii-start-float", lambda t: render_ascii(np.ones((2, 2)), start=(0.5, 0)), TypeError,
         r"start must be a \(row, col\) pair of integers"),
    case("render_ascii-maze-nan", lambda t: render_ascii(np.array([[np.nan, 1.0]])), ValueError, r"maze contains NaN"),
    case("render_ascii-maze-empty", lambda t: render_ascii(np.zeros((0, 3))), ValueError, r"maze is empty"),
    case("render_ascii-maze-ragged", lambda t: render_ascii([[1, 1], [1]]), ValueError,
         r"maze " + RAGGED),
    case("as_free_mask-ragged", lambda t: gvin.maps.as_free_mask([[1, 1], [1]]), ValueError,
         r"map " + RAGGED),
    case("render_ascii-maze-string", lambda t: render_ascii("..#"), TypeError, r"maze must be a 2-D array"),
    case("plot_plan-values-other-shape", lambda t: plot(t, values=np.zeros((2, 2))), ValueError,
         r"values must have the maze's shape \(3, 3\)"),
    case("plot_plan-3d-maze", lambda t: plot(t, maze=np.ones((2, 3, 3))), ValueError, r"maze must be a 2-D"),
    case("plot_plan-planned-cell-outside", lambda t: plot(t, planned=[(0, 0), (7, 7)]), ValueError,
         r"planned cell 1 \(7, 7\) is outside"),
    case("plot_plan-goal-outside", lambda t: plot(t, goal=(7, 7)), ValueError, r"goal \(7, 7\) is outside"),
    case("plot_plan-unknown-format", lambda t: plot(t, path="a.xyz"), ValueError, r"path must end in one of"),
    case("plot_plan-path-directory", lambda t: plot(t, path="."), IsADirectoryError, r"is a directory"),
    case("atomic_write-directory", lambda t: atomic(t), IsADirectoryError, r"it is a directory"),
    case("atomic_write-append-mode", lambda t: atomic(t / "f", "ab"), ValueError, r"mode must be a write mode .* 'ab'"),
    case("atomic_write-read-mode", lambda t: atomic(t / "f", "r"), ValueError, r"mode must be a write mode .* 'r'"),
    case("atomic_write-path-None", lambda t: atomic(None), TypeError, r"path must be a str or os.PathLike"),
    case("atomic_write-parent-is-a-file", lambda t: atomic(write(t / "file", "x") / "child"), NotADirectoryError,
         r"file is a file, not a directory"),
]


@pytest.mark.parametrize("call, error, match", OTHER_CASES)
def test_rollout_viz_io(call, error, match, tmp_path):
    run_case(call, error, match, tmp_path)


# ----------------------------------------------------------------------------- the suite itself

ALL_CASES = GRAPH_CASES + PLANNER_CASES + DATASET_CASES + MODEL_CASES + NN_CASES + GRID_CASES + TRAIN_CASES + OTHER_CASES


def test_cases_are_many_and_distinct():
    ids = [param.id for param in ALL_CASES]
    assert len(ids) >= 110
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})


# ----------------------------------------------------------------------------- good inputs still work


def test_good_inputs_still_work(tmp_path):
    data = labelled()
    assert len(gvin.shortest_path(data, 8)) == 5  # 4 moves from the far corner
    assert gvin.to_grid(data, data.x[:, 0]).tolist() == np.ones((3, 3)).tolist()
    result = plan_path(small(DTVIN), data, torch.tensor(8))  # a one-element integer tensor is a node index
    assert result.planned[0] == 8 and all(isinstance(n, int) for n in result.planned)
    assert len(result.optimal) == 5
    out = small(VIN)(data)
    assert out.log_probs.shape == (data.num_edges,)
    assert render_ascii(np.ones((2, 2)), goal=(0, 0), path=[(1, 1)], start=(1, 0)) == "G .\nS *"
    with atomic_write(tmp_path / "run.json", "w") as file:
        file.write("{}")
    assert (tmp_path / "run.json").read_text() == "{}"
    assert plot(tmp_path, values=np.full((3, 3), -np.inf), path="inf.png").exists()  # -inf values are drawn blank
    metrics = planning_metrics(**metrics_args(goal=data.goal.long()))  # a 0/1 goal mask is fine
    assert metrics.num_graphs == 1
    assert gds.decimate(np.ones((2, 5, 5), int), [0.0, 1.0], 0).shape == (2, 5, 5)
    nan_policy = torch.full((data.num_edges,), float("nan"))  # NaN in, NaN out (the trainer stops on it), never inf
    assert torch.isnan(imitation_loss(nan_policy, data.optimal, data.edge_index, data.num_nodes))


# ----------------------------------------------------------------------------- properties


def bfs(maze: np.ndarray, goal: tuple[int, int], connectivity: int) -> np.ndarray:
    """Plain breadth-first search from the goal over free cells."""
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        moves += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    dist = np.full(maze.shape, np.inf)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in moves:
            nr, nc = r + dr, c + dc
            if 0 <= nr < maze.shape[0] and 0 <= nc < maze.shape[1] and maze[nr, nc] and dist[nr, nc] == np.inf:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


@st.composite
def mazes_with_goal(draw):
    height = draw(st.integers(1, 6))
    width = draw(st.integers(1, 6))
    cells = draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width))
    maze = np.array(cells, dtype=bool).reshape(height, width)
    goal = draw(st.tuples(st.integers(0, height - 1), st.integers(0, width - 1)))
    maze[goal] = True
    return maze, goal


PROPERTY = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(mazes_with_goal(), st.sampled_from([4, 8]), st.booleans())
def test_grid_distances_equal_plain_bfs(maze_goal, connectivity, free_only):
    maze, goal = maze_goal
    data = gvin.from_grid(maze.astype(np.float32), goal=goal, connectivity=connectivity, free_only=free_only)
    assume(bool(data.move.any()))  # a graph without any move is refused (see test_exact_planners)
    dist = gvin.shortest_path_distances(data)
    grid_dist = gvin.to_grid(data, dist.numpy(), fill=np.inf)
    np.testing.assert_array_equal(np.where(maze, grid_dist, np.inf), bfs(maze, goal, connectivity))
    vi = gvin.value_iteration(data)
    assert torch.equal(vi.values[vi.reachable], -dist[vi.reachable])


@PROPERTY
@given(mazes_with_goal(), st.sampled_from([None, 3, 5]), st.booleans())
def test_to_grid_inverts_from_grid(maze_goal, kernel_size, free_only):
    maze, goal = maze_goal
    data = gvin.from_grid(maze, goal=goal, kernel_size=kernel_size, free_only=free_only)
    assert np.array_equal(gvin.to_grid(data, data.x[:, 0].numpy(), fill=0.0), maze.astype(np.float32))
    goal_map = gvin.to_grid(data, data.goal, fill=False)
    assert goal_map.sum() == 1 and bool(goal_map[goal])
    cells = gvin.to_grid(data, torch.arange(data.num_nodes), fill=-1)
    assert (cells >= 0).sum() == data.num_nodes
