"""DT-VIN with an absorbing goal: the goal keeps its transition mass on itself, so its value grows by
exactly its reward each layer (γ = 1), on both graph paths; the choice is saved with the weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN
from gvin.models.implicit import ImplicitDTVIN
from conftest import assert_gather_paths_agree


def maze(kernel_size=3):
    grid = np.ones((6, 7))
    grid[2, 1:5] = 0
    data = gvin.from_grid(grid, goal=(0, 6), connectivity=4, kernel_size=kernel_size)
    data.x = data.x.double()
    return data


@pytest.mark.parametrize("use_stencil", [True, False])
def test_goal_value_grows_by_its_reward(use_stencil):
    data = maze()
    torch.manual_seed(0)
    model = DTVIN(stencil=data.stencil, num_iterations=10, absorbing_goal=True).double()
    model.use_stencil = use_stencil
    with torch.no_grad():
        reward = model.node_reward(model.read_graph(data))[data.goal]
        for depth in (1, 10, 37):
            torch.testing.assert_close(model(data, num_iterations=depth).v[data.goal], depth * reward)
        _, transition = model.mdp(model.read_graph(data))
    goal = int(data.goal.nonzero())
    if use_stencil:
        slots = transition.weight[goal]  # [S, A]
        loop = transition.stencil.neighbour[goal] == goal
        torch.testing.assert_close(slots[loop], torch.ones_like(slots[loop]))
        assert float(slots[~loop].abs().max()) == 0.0
    else:
        out = transition.edge_index[0] == goal
        loop = out & (transition.edge_index[1] == goal)
        assert bool((transition.weight[loop] == 1).all()) and bool((transition.weight[out & ~loop] == 0).all())


def test_paths_agree_and_gradients_flow():
    data = maze(kernel_size=5)
    torch.manual_seed(1)
    assert_gather_paths_agree(DTVIN(stencil=data.stencil, num_iterations=12, absorbing_goal=True).double(), data)


def test_on_by_default_and_saved_with_the_weights():
    data = maze()
    assert DTVIN(stencil=data.stencil).absorbing_goal is True
    model = DTVIN(stencil=data.stencil, absorbing_goal=False)
    state = model.state_dict()
    fresh = DTVIN(stencil=data.stencil)
    fresh.load_state_dict(state)
    assert fresh.absorbing_goal is False
    fresh.load_state_dict(DTVIN(stencil=data.stencil).state_dict())
    assert fresh.absorbing_goal is True
    del state["goal_absorbs"]  # as gvin saved DT-VINs before
    fresh.load_state_dict(state)
    assert fresh.absorbing_goal is False
    with pytest.raises(TypeError, match="absorbing_goal must be True or False"):
        DTVIN(absorbing_goal=1)


def test_implicit_dtvin_keeps_its_goal_absorbing():
    data = maze()
    torch.manual_seed(2)
    model = ImplicitDTVIN(stencil=data.stencil, gamma=0.9, absorbing_goal=True).double()
    with torch.no_grad():
        reward = model.node_reward(model.read_graph(data))[data.goal]
        out = model(data)
    torch.testing.assert_close(out.v[data.goal], reward / (1 - 0.9), rtol=1e-3, atol=1e-3)
