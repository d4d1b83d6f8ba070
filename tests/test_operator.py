"""The value-iteration operator of gvin.nn, held to the exact planners."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.nn import EdgeTransition, StencilTransition, build_stencil, value_iteration

BIG = 1e6  # a finite "minus infinity": 0 * -inf would be NaN in the sum over edges


def exact_operator(data, stencil: bool):
    """Known transitions: one latent action per stencil slot, P[e, a] = 1[type(e) = a].

    R[s, a] = -1 for a move along slot a, 0 for the goal's self-loop, -BIG otherwise,
    so that max_a Q[s, a] = max over moves of (-1 + V[s']) : Bellman-Ford.
    """
    num_slots = int(data.edge_type.max()) + 1
    src, dst = data.edge_index
    reward = torch.full((data.num_nodes, num_slots), -BIG, dtype=torch.float64)
    reward[src[data.move], data.edge_type[data.move]] = -1.0
    self_loop = (src == dst) & data.goal[src]
    reward[src[self_loop], data.edge_type[self_loop]] = 0.0
    weight = torch.nn.functional.one_hot(data.edge_type, num_slots).double()
    if stencil:
        table = build_stencil(data.edge_index, data.edge_type, data.num_nodes, num_slots)
        return reward, StencilTransition(torch.eye(num_slots, dtype=torch.float64), table)
    return reward, EdgeTransition(weight, data.edge_index, data.num_nodes)


def random_mazes(count, shape, seed):
    rng = np.random.default_rng(seed)
    mazes = []
    for _ in range(count):
        maze = (rng.random(shape) > 0.3).astype(np.float32)
        maze.flat[rng.integers(maze.size)] = 1
        goal = np.unravel_index(rng.choice(np.flatnonzero(maze)), shape)
        mazes.append(gvin.from_grid(maze, goal=tuple(int(g) for g in goal), connectivity=8 if len(shape) == 2 else 26))
    return mazes


@pytest.mark.parametrize("stencil", [True, False])
@pytest.mark.parametrize("shape", [(9, 11), (4, 5, 6)])
def test_operator_with_known_transitions_is_dijkstra(stencil, shape):
    data = Batch.from_data_list(random_mazes(3, shape, seed=len(shape)))
    dist = gvin.shortest_path_distances(data)
    reward, transition = exact_operator(data, stencil)
    start = torch.where(data.goal, 0.0, -BIG).double()
    _, values = value_iteration(reward, transition, num_iterations=data.num_nodes, values=start)
    reachable = torch.isfinite(dist)
    assert torch.equal(values[reachable], -dist[reachable])
    assert (values[~reachable] < -BIG / 2).all()  # unreachable nodes never win a real value


def test_node_without_out_edges_keeps_its_reward():
    """No out-edge means Q = R (the sum is empty), not a filled-in 0 inside a max."""
    edge_index = torch.tensor([[0, 1], [1, 0]])
    reward = torch.tensor([[-3.0, -2.0], [-1.0, -4.0], [-5.0, -7.0]])  # node 2 has no out-edge
    transition = EdgeTransition(torch.ones(2, 2), edge_index, 3)
    q, v = value_iteration(reward, transition, num_iterations=4)
    assert torch.equal(q[2], reward[2]) and v[2] == -5.0
    assert (v < 0).all()


def test_stencil_and_edge_transitions_agree_with_padded_slots():
    data = gvin.from_grid(np.ones((5, 4)), kernel_size=3, connectivity=8)  # border cells miss slots
    table = build_stencil(data.edge_index, data.edge_type, data.num_nodes, 9)
    assert (~table.mask).any()
    weight = torch.randn(9, 3, dtype=torch.float64)
    values = torch.randn(data.num_nodes, dtype=torch.float64) - 10  # padded slots must read 0, not these
    dense = StencilTransition(weight, table)(values)
    sparse = EdgeTransition(weight[data.edge_type], data.edge_index, data.num_nodes)(values)
    torch.testing.assert_close(dense, sparse)


def test_bad_depth_and_reward_shape():
    transition = EdgeTransition(torch.ones(1, 2), torch.tensor([[0], [1]]), 2)
    with pytest.raises(ValueError, match="num_iterations"):
        value_iteration(torch.zeros(2, 2), transition, 0)
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        value_iteration(torch.zeros(2), transition, 3)


def test_slot_major_weights_follow_grad_mode_and_in_place_changes():
    """The per-transition [S, A, N] copy of the weights: made once, remade when stale, never detached by mistake."""
    import numpy as np

    import gvin
    from gvin.nn.stencil import build_stencil
    from gvin.nn.value_iteration import StencilTransition

    data = gvin.from_grid(np.ones((4, 5)), goal=(0, 0), connectivity=8)
    stencil = build_stencil(data.edge_index, data.edge_type, data.num_nodes, 9)
    weight = torch.rand(data.num_nodes, 9, 3, dtype=torch.float64, requires_grad=True)
    transition = StencilTransition(weight, stencil)
    values = torch.randn(data.num_nodes, dtype=torch.float64)
    with torch.no_grad():
        transition(values)  # a solver's forward, without grad
    out = transition(values)
    grad, = torch.autograd.grad(out.sum(), weight)  # would fail if the no-grad copy were reused
    assert torch.equal(grad, stencil.gather(values).unsqueeze(-1).expand_as(weight) * stencil.mask.unsqueeze(-1))
    assert transition.slot_major_weight is transition.slot_major_weight  # made once
    with torch.no_grad():
        weight.mul_(2.0)
    torch.testing.assert_close(transition(values), (stencil.gather(values).unsqueeze(-1) * weight).sum(1))


@pytest.mark.parametrize("need_action", [True, False])
def test_max_over_actions_is_torch_max(need_action):
    """Values, the lowest maximal action on ties, and the gradient routed to it alone, as q.max(dim=0)."""
    from gvin.nn.value_iteration import max_over_actions

    gen = torch.Generator().manual_seed(0)
    q = torch.randint(0, 3, (5, 200), generator=gen).double()  # many ties
    q.requires_grad_()
    values, action = max_over_actions(q, need_action)
    expected_values, expected_action = q.max(dim=0)
    assert torch.equal(values, expected_values) and torch.equal(action, expected_action)
    grad, = torch.autograd.grad((values * torch.arange(200.0, dtype=torch.float64)).sum(), q)
    expected, = torch.autograd.grad((expected_values * torch.arange(200.0, dtype=torch.float64)).sum(), q)
    assert torch.equal(grad, expected)
    with torch.no_grad():
        values, action = max_over_actions(q, need_action)
    assert torch.equal(values, expected_values)
    assert (action is None) != need_action and (action is None or torch.equal(action, expected_action))


def test_stencil_gather_gradients():
    """The row gather and scatter (backward passes that keep only the index) against gradcheck, twice
    differentiable."""
    from gvin.nn.rows import gather_rows, scatter_rows

    table = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 7, (5, 4), generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda t: gather_rows(t, index), (table,))
    assert torch.autograd.gradgradcheck(lambda t: gather_rows(t, index), (table,))
    assert torch.equal(gather_rows(table, index), table[index])
    values = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    flat = torch.randint(0, 4, (9,), generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda v: scatter_rows(v, flat, 4), (values,))
    assert torch.autograd.gradgradcheck(lambda v: scatter_rows(v, flat, 4), (values,))
    torch.testing.assert_close(scatter_rows(values, flat, 4), torch.zeros(4, 3, dtype=torch.float64).index_add(0, flat, values))


def test_row_gathers_and_scatters_name_bad_indices():
    from gvin.nn.rows import gather_rows, scatter_rows

    table = torch.randn(4, 2)
    with pytest.raises(ValueError, match="index must be an integer"):
        gather_rows(table, torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"index has values in \[0, 7\] but table has 4 rows"):
        gather_rows(table, torch.tensor([0, 7]))
    with pytest.raises(ValueError, match=r"index must be \[M\] for values \[M, \*F\]"):
        scatter_rows(torch.randn(3, 2), torch.tensor([0, 1]), 4)
    with pytest.raises(ValueError, match=r"index has values in \[0, 9\] but there are 4 rows"):
        scatter_rows(torch.randn(2, 2), torch.tensor([0, 9]), 4)
