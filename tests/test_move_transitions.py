"""DT-VIN transitions that follow the moves: no mass on obstacles, the same on both graph paths and on
the conv reference, saved with the weights; and the policy it gives holds when planning deeper."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gvin
from gvin.grid import grid_from_graph
from gvin.models import DTVIN
from gvin.nn.transitions import move_support
from conftest import assert_gather_paths_agree


def maze(kernel_size=3, connectivity=4):
    grid = np.ones((7, 8))
    grid[2, 1:6] = 0
    grid[4:, 3] = 0
    data = gvin.from_grid(grid, goal=(0, 7), connectivity=connectivity, kernel_size=kernel_size)
    data.x = data.x.double()
    return data


def test_support_is_the_moves_and_the_self_loops():
    data = maze()
    support = move_support(data.edge_index, data.move, data.num_nodes)
    source, target = data.edge_index
    loop = source == target
    torch.testing.assert_close(support, data.move | loop)
    free = data.x[:, 0] > 0.5
    assert not bool(support[~free[source] & ~loop].any())  # an obstacle keeps only its self-loop
    assert not bool(support[~free[target] & ~loop].any())  # nothing flows into an obstacle


def test_a_node_without_moves_or_self_loop_keeps_its_edges():
    edge_index = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
    move = torch.tensor([False, False, True, True])
    support = move_support(edge_index, move, 3)
    assert support.tolist() == [True, True, True, True]


@pytest.mark.parametrize("use_stencil", [True, False])
def test_no_mass_leaves_the_support(use_stencil):
    data = maze()
    torch.manual_seed(0)
    model = DTVIN(stencil=data.stencil, num_iterations=10, move_transitions=True).double()
    model.use_stencil = use_stencil
    with torch.no_grad():
        _, transition = model.mdp(model.read_graph(data))
    support = move_support(data.edge_index, data.move, data.num_nodes)
    if use_stencil:
        dense = transition.stencil.to_dense(support, fill=False)  # [N, S]
        weight = transition.weight  # [N, S, A]
        assert float(weight[~dense].abs().max()) == 0.0
        torch.testing.assert_close(weight.sum(1), torch.ones_like(weight.sum(1)))
    else:
        assert float(transition.weight[~support].abs().max()) == 0.0
        totals = torch.zeros(data.num_nodes, transition.weight.shape[1], dtype=torch.float64)
        totals.index_add_(0, data.edge_index[0], transition.weight)
        torch.testing.assert_close(totals, torch.ones_like(totals))


def test_paths_agree_in_values_and_gradients():
    data = maze(kernel_size=5)
    torch.manual_seed(1)
    assert_gather_paths_agree(DTVIN(stencil=data.stencil, num_iterations=12, move_transitions=True).double(), data)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_the_conv_reference_agrees(connectivity):
    data = maze(connectivity=connectivity)
    torch.manual_seed(2)
    model = DTVIN(stencil=data.stencil, num_iterations=9, move_transitions=True).double()
    reference = grid_from_graph(model, connectivity=connectivity, kernel_size=3).double()
    assert reference.move_transitions
    with torch.no_grad():
        graph_v = model(data).v
        x = data.x.T.reshape(1, 2, 7, 8)
        grid_v = reference(x).v
    torch.testing.assert_close(graph_v.view(7, 8), grid_v[0])


def test_saved_with_the_weights_and_older_weights_load_without_it():
    data = maze()
    model = DTVIN(stencil=data.stencil, move_transitions=True)
    state = model.state_dict()
    assert bool(state["moves_only"]) is True
    fresh = DTVIN(stencil=data.stencil, move_transitions=False)
    fresh.load_state_dict(state)
    assert fresh.move_transitions is True
    del state["moves_only"]  # as gvin saved DT-VINs before
    fresh.load_state_dict(state)
    assert fresh.move_transitions is False
    with pytest.raises(TypeError, match="move_transitions must be True or False"):
        DTVIN(move_transitions="yes")


@pytest.mark.parametrize("use_stencil", [True, False])
def test_free_cells_never_read_an_obstacle(use_stencil):
    """What obstacles earn changes nothing for the free cells: their values, and so the policy,
    depend only on cells they can move to (with the published kernels they do not)."""
    data = maze()
    free = data.x[:, 0] > 0.5
    outs = {}
    for move_transitions in (True, False):
        torch.manual_seed(3)
        model = DTVIN(stencil=data.stencil, num_iterations=30, move_transitions=move_transitions).double()
        model.use_stencil = use_stencil
        reward = model.node_reward
        with torch.no_grad():
            before = model(data).v[free]
            model.node_reward = lambda graph: torch.where(free, reward(graph), torch.full_like(reward(graph), 50.0))
            after = model(data).v[free]
        outs[move_transitions] = float((before - after).abs().max())
    assert outs[True] == 0.0
    assert outs[False] > 1.0
