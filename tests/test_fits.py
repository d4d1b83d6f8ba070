"""Planners and exact planners refuse data they were not built for, instead of a silent wrong answer."""
import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.models import DTVIN, GPPN, VIN
from gvin.train.losses import imitation_loss

MAZE = np.ones((6, 6))
MAZE[2, 1:5] = 0


def grid(**kwargs):
    return gvin.from_grid(MAZE, goal=(0, 0), **kwargs)


def test_from_grid_graphs_carry_their_stencil_and_still_batch():
    plain, window = grid(), grid(kernel_size=3)
    assert torch.equal(torch.tensor(plain.stencil), gvin.grid_stencil(2, 4))
    assert torch.equal(torch.tensor(window.stencil), gvin.grid_stencil(2, 4, 3))
    batch = Batch.from_data_list([plain, window])  # mixed stencils batch for exact planners and metrics
    assert batch.stencil == [plain.stencil, window.stencil]
    assert gvin.shortest_path_distances(batch).shape == (2 * 36,)


@pytest.mark.parametrize("cls", [VIN, DTVIN, GPPN])
def test_a_planner_refuses_a_graph_of_another_stencil(cls):
    model = cls(stencil=gvin.grid_stencil(2, 4, 3), num_iterations=3)
    assert model.num_edge_types == 9
    assert model(grid(kernel_size=3)).log_probs.shape == (grid(kernel_size=3).num_edges,)
    with pytest.raises(ValueError, match=r"self-loop \+ 4 moves.*planner was built for the 3×3 window"):
        model(grid())
    with pytest.raises(ValueError, match="num_edge_types=9"):
        cls(num_iterations=3)(grid())  # no recorded stencil: the number of edge types still decides
    with pytest.raises(ValueError, match=r"3×3 window \(kernel_size=3\), 9 edge types.*num_edge_types=5"):
        cls(num_edge_types=5, num_iterations=3)(grid(kernel_size=3))


def test_stencil_checks_batches_and_graphs_without_a_stencil_field():
    model = DTVIN(stencil=gvin.grid_stencil(2, 8), num_iterations=3)  # 8-connected = the 3×3 window
    window = grid(kernel_size=3)
    assert model(Batch.from_data_list([window, window])).log_probs.shape == (2 * window.num_edges,)
    with pytest.raises(ValueError, match="mixes graphs built with different stencils"):
        model(Batch.from_data_list([window, grid()]))
    legacy = grid()
    del legacy.stencil  # graphs saved before the field existed: only the edge types are checked
    assert DTVIN(num_edge_types=5, num_iterations=3)(legacy).v.shape == (36,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(stencil=[[0, 0], [0, 0]]), "repeated offsets"),
        (dict(stencil=[[0.5, 0.0]]), "integer offsets"),
        (dict(stencil=[0, 1]), r"\[T, d\]"),
        (dict(stencil=[[0, 0]], edge_dim=2), "edge_dim"),
        (dict(stencil=gvin.grid_stencil(2), num_edge_types=9), "disagrees"),
        (dict(hidden_channels=0), "hidden_channels must be a positive int, got 0"),
        (dict(num_iterations=2.9), "num_iterations must be a positive int, got 2.9"),
        (dict(num_iterations=True), "num_iterations"),
        (dict(num_actions=0), "num_actions"),
        (dict(in_channels=0), "in_channels"),
        (dict(gamma=1.5), "gamma"),
        (dict(actions="walls"), "actions"),
    ],
)
def test_constructor_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DTVIN(**kwargs)


def test_forward_depth_must_be_a_positive_int():
    model = VIN(num_edge_types=5, num_iterations=3)
    with pytest.raises(ValueError, match="num_iterations must be a positive int, got 2.9"):
        model(grid(), num_iterations=2.9)
    assert model(grid(), num_iterations=np.int64(2)).v.shape == (36,)


def test_a_planner_refuses_a_graph_without_a_goal_or_of_another_width_dtype():
    model = DTVIN(num_edge_types=5, num_iterations=3)
    with pytest.raises(ValueError, match="cannot plan without a goal"):
        model(gvin.from_grid(MAZE))
    no_goal = Batch.from_data_list([grid(), gvin.from_grid(MAZE)])
    with pytest.raises(ValueError, match=r"graph\(s\) 1 of the batch have no goal"):
        model(no_goal)
    double = grid()
    double.x = double.x.double()
    with pytest.raises(ValueError, match="float64.*parameters are torch.float32"):
        model(double)
    graph = gvin.from_networkx(nx.grid_2d_graph(3, 3), goal=(0, 0))
    with pytest.raises(ValueError, match=r"1 feature column\(s\).*in_channels=2.*from_networkx graphs 1"):
        DTVIN(edge_dim=graph.edge_attr.shape[1], num_iterations=3)(graph)
    assert DTVIN(in_channels=1, edge_dim=graph.edge_attr.shape[1], num_iterations=3)(graph).v.shape == (9,)


def test_optimal_edges_refuse_distances_of_another_goal():
    data = grid()
    other = gvin.shortest_path_distances(grid().update({"goal": torch.arange(36) == 35}))
    with pytest.raises(ValueError, match="computed for another goal"):
        gvin.optimal_edges(data, dist=other)
    with pytest.raises(ValueError, match="computed for another goal"):
        gvin.shortest_path(data, 30, dist=other)
    own = gvin.shortest_path_distances(data)
    assert torch.equal(gvin.optimal_edges(data, dist=own), gvin.optimal_edges(data))
    assert torch.equal(gvin.optimal_edges(data, dist=own.float()), gvin.optimal_edges(data))


@pytest.mark.parametrize(
    "edge_index, message",
    [
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), "int64"),
        (torch.tensor([[0, 1], [1, 7]]), r"nodes in \[0, 7\] but the graph has 3 nodes"),
        (torch.tensor([[0, -1], [1, 0]]), "nodes in"),
        (torch.tensor([0, 1]), r"\[2, E\]"),
    ],
)
def test_exact_planners_check_a_hand_built_edge_index(edge_index, message):
    from torch_geometric.data import Data

    data = Data(edge_index=edge_index, num_nodes=3, goal=torch.tensor([True, False, False]))
    for planner in (gvin.shortest_path_distances, gvin.optimal_edges, gvin.value_iteration):
        with pytest.raises(ValueError, match=message):
            planner(data)


def test_bool_goals_are_not_node_keys():
    graph = nx.path_graph(3)
    with pytest.raises(ValueError, match="goal=True is a bool, not a node key"):
        gvin.from_networkx(graph, goal=True)
    with pytest.raises(ValueError, match="bool"):
        gvin.from_networkx(graph, goal=[False, True])
    assert gvin.from_networkx(graph, goal=1).goal.tolist() == [False, True, False]


def test_to_grid_refuses_a_fill_its_values_cannot_hold():
    data = gvin.from_grid(MAZE, goal=(0, 0), free_only=True)
    ints = torch.arange(data.num_nodes)
    with pytest.raises(ValueError, match=r"fill=-1.5 cannot be stored in the integer values"):
        gvin.to_grid(data, ints, fill=-1.5)
    assert gvin.to_grid(data, ints, fill=-1)[2, 1].item() == -1
    assert gvin.to_grid(data, ints.double(), fill=-1.5)[2, 1].item() == -1.5


def test_labels_the_policy_cannot_take_are_named_not_an_inf_loss():
    edge_index = torch.tensor([[0, 0, 1], [1, 2, 0]])
    log_probs = torch.tensor([0.0, float("-inf"), 0.0])  # edge 1 is not a move
    for labels in ([False, True, False], [True, True, False]):  # alone, or next to a real move
        with pytest.raises(ValueError, match=r"edge 1: 0 → 2 has probability 0"):
            imitation_loss(log_probs, torch.tensor(labels), edge_index, 3)
    assert imitation_loss(log_probs, torch.tensor([True, False, False]), edge_index, 3).item() == 0.0


def test_the_stencil_check_survives_clone_and_to():
    model = DTVIN(stencil=gvin.grid_stencil(2, 4), num_iterations=3)
    data = grid().clone().to("cpu")  # PyG turns the stencil's tuples into lists
    assert model(data).v.shape == (36,)
    assert model(Batch.from_data_list([grid(), grid()]).clone()).v.shape == (72,)
    with pytest.raises(ValueError, match="planner was built for"):
        model(grid(kernel_size=3).clone())
