"""One planner base: the shared constructor, the shared policy, value iteration for VIN and DT-VIN
alike (unrolled or implicit), and GPPN without its learned initial state."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN, GPPN, VIN, GraphPlanner, ImplicitDTVIN, ImplicitGPPN, ImplicitVIN, ValueIterationPlanner


def maze():
    grid = np.ones((5, 6))
    grid[2, 1:4] = 0
    return gvin.from_grid(grid, goal=(0, 5))


def test_value_iteration_planners_share_plan_and_mdp():
    for cls in (VIN, DTVIN, ImplicitVIN, ImplicitDTVIN):
        assert issubclass(cls, ValueIterationPlanner)
    assert not issubclass(GPPN, ValueIterationPlanner) and issubclass(GPPN, GraphPlanner)
    data = maze()
    torch.manual_seed(0)
    model = DTVIN(stencil=data.stencil, num_iterations=7)
    reward, transition = model.mdp(model.read_graph(data))
    v = torch.zeros(data.num_nodes)
    for _ in range(7):  # the unrolled planner is value iteration on its own latent MDP
        v = (reward + transition(v)).max(dim=1).values
    torch.testing.assert_close(model(data).v, v)


def test_the_base_checks_the_shared_arguments_by_name():
    with pytest.raises(ValueError, match="actions must be one of"):
        VIN(actions="jump")
    with pytest.raises(ValueError, match="num_iterations"):
        GPPN(num_iterations=0)
    with pytest.raises(ValueError, match="edge_features is for typed planners"):
        DTVIN(num_edge_types=None, edge_dim=3, edge_features=2)


def test_implicit_value_iteration_needs_a_discount_below_one():
    with pytest.raises(ValueError, match="gamma in \\[0, 1\\)"):
        ImplicitDTVIN(gamma=1.0)
    ImplicitGPPN()  # no discount to check


def test_gppn_without_a_learned_initial_state_starts_from_zeros():
    data = maze()
    torch.manual_seed(0)
    model = GPPN(stencil=data.stencil, num_iterations=1, initial_state=False)
    assert model.h0 is None and model.c0 is None
    assert not any(name.startswith(("h0.", "c0.")) for name in model.state_dict())
    with torch.no_grad():
        graph = model.read_graph(data)
        u = model.messages(graph)(torch.zeros(data.num_nodes, model.cell.hidden_size))
        h, _ = model.cell(u, (torch.zeros(data.num_nodes, 64), torch.zeros(data.num_nodes, 64)))
        torch.testing.assert_close(model(data).q, h)
    assert not any(name.startswith(("h0.", "c0.")) for name in ImplicitGPPN().state_dict())
    with pytest.raises(TypeError, match="initial_state must be True or False"):
        GPPN(initial_state=0)
