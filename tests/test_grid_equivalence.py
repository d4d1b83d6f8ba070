"""Graph planners vs their conv references (gvin.grid): same weights, same numbers.

Every graph model runs on ``from_grid`` graphs (a Batch of different random
mazes, non-square so that a transposition shows), its weights are ported into
the conv reference, and values, Q, action log-probs (with identical ``-inf``
patterns) and intermediate policies must agree, on both graph paths (dense
stencil and edge scatter), for shallow and deep (K = 200) planning, and so must
the gradients of a scalar loss.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.nn import HEAD_INPUTS
import gvin.grid.dtvin as grid_dtvin_module
from gvin.grid import (
    GridDTVIN,
    GridGPPN,
    GridVIN,
    edge_values_to_grid,
    grid_from_graph,
    grid_to_graph_state,
    node_values_to_grid,
)
from gvin.grid.layout import move_slots
from gvin.models import DTVIN, GPPN, VIN

KINDS = ["vin", "dtvin", "gppn-lstm", "gppn-gru"]
STENCILS = [(4, 3), (4, 5), (8, 3), (8, 5), (4, None), (8, None)]


# ------------------------------------------------------------------------------ fixtures


def random_batch(connectivity, kernel_size, shape=(6, 7), num_graphs=3, seed=0, dtype=torch.float64):
    """A Batch of different random mazes (free cells on the border too) with one goal each."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(num_graphs):
        maze = rng.random(shape) > 0.3
        maze.flat[rng.integers(maze.size)] = True
        goal = int(rng.choice(np.flatnonzero(maze)))
        graphs.append(gvin.from_grid(maze, goal, connectivity=connectivity, kernel_size=kernel_size))
    batch = Batch.from_data_list(graphs)
    batch.x = batch.x.to(dtype)
    return batch


def make_model(kind, connectivity, kernel_size, dtype=torch.float64, seed=0, head="centered"):
    """A graph model with random weights; VIN's value kernel is scaled to a contraction so that
    K = 200 stays finite, and the successor-value weight β is non-zero so that it is tested."""
    torch.manual_seed(seed)
    num_types = len(gvin.grid_stencil(2, connectivity, kernel_size))
    if kind == "vin":
        model = VIN(num_edge_types=num_types, num_actions=5, hidden_channels=6, num_iterations=7, gamma=0.95,
                    head=head)
        with torch.no_grad():  # a random contraction (the default init is zero)
            model.value_kernel.uniform_(-1.0, 1.0)
            model.value_kernel.mul_(0.9 / model.value_kernel.abs().sum(0).max())
    elif kind == "dtvin":
        model = DTVIN(num_edge_types=num_types, num_actions=3, hidden_channels=6, num_iterations=7,
                      head=head)
    else:
        model = GPPN(num_edge_types=num_types, hidden_channels=6, num_iterations=7, cell=kind.split("-")[1])
    if model.head.beta is not None:
        with torch.no_grad():
            model.head.beta.fill_(0.5)
    return model.to(dtype)


def to_grid_layout(graph, data, connectivity):
    """A graph PlannerOutput mapped onto the grid layout ``[B, ·, H, W]``."""
    return {
        "log_probs": edge_values_to_grid(data, graph.log_probs, connectivity),
        "q": node_values_to_grid(data, graph.q),
        "v": node_values_to_grid(data, graph.v),
        "intermediate": {k: edge_values_to_grid(data, lp, connectivity) for k, lp in graph.intermediate.items()},
    }


@torch.no_grad()
def check_paths(model, data, connectivity, kernel_size, depth, intermediate, tol, paths=(True, False)):
    """The conv reference against the graph model on each path (stencil, scatter); returns the grid output."""
    reference = grid_from_graph(model, connectivity, kernel_size)
    grid = reference(node_values_to_grid(data, data.x), num_iterations=depth, intermediate=intermediate)
    for use_stencil in paths:
        model.use_stencil = use_stencil
        graph = model(data, num_iterations=depth, intermediate=intermediate)
        assert_equivalent(to_grid_layout(graph, data, connectivity), grid, tol)
    return grid


def assert_policy_close(graph_lp, grid_lp, tol):
    finite = torch.isfinite(graph_lp)
    assert torch.equal(finite, torch.isfinite(grid_lp)), "the -inf patterns differ"
    assert not torch.isnan(grid_lp).any()
    torch.testing.assert_close(graph_lp[finite], grid_lp[finite], atol=tol, rtol=tol)


def assert_equivalent(mapped, grid, tol):
    assert_policy_close(mapped["log_probs"], grid.log_probs, tol)
    torch.testing.assert_close(mapped["q"], grid.q, atol=tol, rtol=tol)
    torch.testing.assert_close(mapped["v"], grid.v, atol=tol, rtol=tol)
    assert mapped["intermediate"].keys() == grid.intermediate.keys()
    for k, lp in grid.intermediate.items():
        assert_policy_close(mapped["intermediate"][k], lp, tol)


# ------------------------------------------------------------------------------ forward equivalence


@pytest.mark.parametrize("connectivity,kernel_size", STENCILS)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_equivalence(kind, connectivity, kernel_size):
    """K = 1 and K = 7 with every intermediate layer, on both graph paths."""
    data = random_batch(connectivity, kernel_size, seed=len(kind) + connectivity)
    model = make_model(kind, connectivity, kernel_size)
    check_paths(model, data, connectivity, kernel_size, 1, (1,), 1e-5)
    grid = check_paths(model, data, connectivity, kernel_size, 7, range(1, 8), 1e-5)
    # the policies are over the real moves only: not into walls, off the grid or out of walls
    free = data.x[:, 0] > 0.5
    real = data.move & free[data.edge_index[0]] & free[data.edge_index[1]]
    assert torch.equal(edge_values_to_grid(data, real.double(), connectivity) == 1, torch.isfinite(grid.log_probs))


@pytest.mark.parametrize("head", ["raw", "advantage"])
@pytest.mark.parametrize("kind", ["vin", "dtvin"])
def test_other_head_equivalence(kind, head):
    """The published head (``head="raw"``) and the advantage head against the reference built the same way."""
    data = random_batch(8, 3, seed=4)
    model = make_model(kind, 8, 3, head=head)
    assert grid_from_graph(model, 8, 3).head.head == head
    check_paths(model, data, 8, 3, 7, (1, 7), 1e-5)


@pytest.mark.parametrize("connectivity,kernel_size", [(4, None), (8, 3), (4, 5)])
def test_absorbing_goal_equivalence(connectivity, kernel_size):
    """DT-VIN with its goal made absorbing against the reference whose goal cells keep their kernel mass."""
    data = random_batch(connectivity, kernel_size, seed=6)
    model = make_model("dtvin", connectivity, kernel_size)
    model.absorbing_goal = True
    assert grid_from_graph(model, connectivity, kernel_size).absorbing_goal
    check_paths(model, data, connectivity, kernel_size, 7, (1, 7), 1e-5)


@pytest.mark.parametrize("connectivity,kernel_size", STENCILS)
@pytest.mark.parametrize("kind", KINDS)
def test_deep_equivalence_float64(kind, connectivity, kernel_size):
    """K = 200 layers (longer than any path of an 8×9 grid), float64, both graph paths."""
    data = random_batch(connectivity, kernel_size, shape=(8, 9), num_graphs=2, seed=3)
    model = make_model(kind, connectivity, kernel_size)
    grid = check_paths(model, data, connectivity, kernel_size, 200, (1, 100, 200), 1e-5)
    assert grid.v.abs().max() < 1e6  # the comparison is meaningful: nothing exploded


@pytest.mark.parametrize("connectivity,kernel_size", [(8, 3), (4, None)])
@pytest.mark.parametrize("kind", KINDS)
def test_equivalence_float32(kind, connectivity, kernel_size):
    """float32 at K = 30: rounding grows with the values' scale, so the tolerance does too
    (observed: <= 5e-6 with |V| <= 7)."""
    data = random_batch(connectivity, kernel_size, shape=(9, 10), seed=5, dtype=torch.float32)
    model = make_model(kind, connectivity, kernel_size, dtype=torch.float32)
    reference = grid_from_graph(model, connectivity, kernel_size)
    with torch.no_grad():
        values = reference(node_values_to_grid(data, data.x), num_iterations=30).v
    check_paths(model, data, connectivity, kernel_size, 30, (10, 30), 2e-5 * max(1.0, float(values.abs().max())))


def check_on_device(kind, use_stencil, device):
    """Graph vs reference on ``device`` (float64, K = 50), and the device against the CPU."""
    cpu_data = random_batch(8, 3, shape=(9, 10), seed=11)
    cpu_model = make_model(kind, 8, 3)
    data, model = cpu_data.clone().to(device), copy.deepcopy(cpu_model).to(device)
    grid = check_paths(model, data, 8, 3, 50, (1, 25), 1e-5, paths=(use_stencil,))
    assert grid.q.device.type == torch.device(device).type
    with torch.no_grad():
        cpu_v = node_values_to_grid(cpu_data, cpu_model(cpu_data, num_iterations=50).v)
    torch.testing.assert_close(grid.v.cpu(), cpu_v, atol=1e-5, rtol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_stencil", [True, False], ids=["stencil", "scatter"])
def test_equivalence_cuda(kind, use_stencil):
    check_on_device(kind, use_stencil, "cuda")


# ------------------------------------------------------------------------------ the oracle itself


def test_vin_reference_is_a_cross_correlation():
    """One VIN layer written out cell by cell: R(i,j) = Σ_{u,v} w[a,u,v] r(i+u-1, j+v-1), zero outside."""
    torch.manual_seed(0)
    model = GridVIN(kernel_size=3, num_actions=2, hidden_channels=3).double()
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64)
    r = model.reward(model.encoder(x))[0, 0]
    w = model.reward_kernel.weight[:, 0]
    expected = torch.zeros(2, 4, 5, dtype=torch.float64)
    for i in range(4):
        for j in range(5):
            for u in range(3):
                for v in range(3):
                    if 0 <= i + u - 1 < 4 and 0 <= j + v - 1 < 5:
                        expected[:, i, j] += w[:, u, v] * r[i + u - 1, j + v - 1]
    torch.testing.assert_close(model.reward_map(x)[0], expected)


def test_dtvin_reference_kernel_is_a_distribution_on_the_grid():
    torch.manual_seed(0)
    model = GridDTVIN(kernel_size=5, num_actions=3, hidden_channels=4).double()
    x = torch.rand(2, 2, 6, 7, dtype=torch.float64)
    kernel = model.kernel(x)  # [B, T, A, H, W]
    torch.testing.assert_close(kernel.sum(1), torch.ones(2, 3, 6, 7, dtype=torch.float64))
    # corner cell (0, 0): only slots with offsets >= 0 on both axes lie on the grid
    offsets = gvin.grid_stencil(2, 8, 5)
    off_grid = (offsets < 0).any(1)
    assert (kernel[:, off_grid, :, 0, 0] == 0).all() and (kernel[:, ~off_grid, :, 0, 0] > 0).all()


def test_dtvin_zero_padded_softmax_is_not_equivalent(monkeypatch):
    """Softmaxing over all F² slots (zero padding) breaks equivalence on border cells only (K = 1)."""
    data = random_batch(4, 5, seed=2)
    model = make_model("dtvin", 4, 5)
    model.move_transitions = False  # the published kernels, which reach every on-grid slot
    all_slots = lambda h, w, f, device=None: torch.ones(f * f, h, w, dtype=torch.bool, device=device)  # noqa: E731
    monkeypatch.setattr(grid_dtvin_module, "slot_mask", all_slots)
    reference = grid_from_graph(model, 4, 5)
    with torch.no_grad():
        grid = reference(node_values_to_grid(data, data.x), num_iterations=1)
        graph = model(data, num_iterations=1)
    diff = (node_values_to_grid(data, graph.q) - grid.q).abs().amax(dim=(0, 1))  # [H, W]
    assert diff[2:-2, 2:-2].max() < 1e-12
    assert diff[0].min() > 1e-6 and diff[:, 0].min() > 1e-6


def test_wrong_port_is_detected():
    """A conv-vs-correlation slip (spatially flipped kernel) is caught by the comparison."""
    data = random_batch(8, 3, seed=4)
    model = make_model("vin", 8, 3)
    reference = grid_from_graph(model, 8, 3)
    with torch.no_grad():
        reference.reward_kernel.weight.copy_(reference.reward_kernel.weight.flip(-1, -2))
    graph_q = node_values_to_grid(data, model(data, num_iterations=3).q)
    grid_q = reference(node_values_to_grid(data, data.x), num_iterations=3).q
    assert (graph_q - grid_q).abs().max() > 1e-3


# ------------------------------------------------------------------------------ porting


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("connectivity,kernel_size", [(4, None), (8, 5)])
def test_port_round_trip(kind, connectivity, kernel_size):
    model = make_model(kind, connectivity, kernel_size)
    reference = grid_from_graph(model, connectivity, kernel_size)
    assert next(reference.parameters()).dtype == torch.float64
    if kernel_size is None:  # the plus stencil: corner entries of the 3×3 kernels are zero
        assert reference.encoder.weight[..., 0, 0].abs().max() == 0
    state = grid_to_graph_state(reference, kernel_size)
    assert state.keys() == model.state_dict().keys()  # parameters and what the head reads
    assert HEAD_INPUTS[int(state["head.head_reads"])] == model.head.head
    moves = move_slots(connectivity, kernel_size)
    for name, param in model.named_parameters():
        expected, got = param.detach(), state[name]
        if name == "head.weight":
            assert (got[:, moves] == expected[:, moves]).all()
            continue
        assert torch.equal(got, expected), name
    fresh = make_model(kind, connectivity, kernel_size, seed=1)
    fresh.load_state_dict(state)
    data = random_batch(connectivity, kernel_size, seed=9)
    torch.testing.assert_close(fresh(data).log_probs, model(data).log_probs)


def test_port_rejects_mismatches():
    with pytest.raises(ValueError, match="num_edge_types"):
        grid_from_graph(make_model("vin", 4, 3), connectivity=4, kernel_size=5)
    with pytest.raises(ValueError, match="num_edge_types"):
        grid_from_graph(make_model("vin", 4, None), connectivity=8, kernel_size=None)
    with pytest.raises(TypeError, match="VIN"):
        grid_from_graph(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="kernel_size"):
        grid_to_graph_state(GridVIN(kernel_size=5), kernel_size=None)
    with pytest.raises(TypeError):
        grid_to_graph_state(torch.nn.Linear(2, 2))


def test_edge_values_to_grid_layout():
    maze = np.ones((2, 3))
    maze[1, 2] = 0
    data = gvin.from_grid(maze, connectivity=4)
    values = torch.arange(data.num_edges, dtype=torch.float64)
    out = edge_values_to_grid(data, values, 4)  # single graph: B = 1
    assert out.shape == (1, 4, 2, 3)
    src, dst = data.edge_index
    for e in range(data.num_edges):
        offset = (data.pos[dst[e]] - data.pos[src[e]]).long().tolist()
        if offset == [0, 0]:
            continue
        m = gvin.move_offsets(2, 4).tolist().index(offset)
        row, col = divmod(int(data.cell[src[e]]), 3)
        assert out[0, m, row, col] == values[e]
    assert torch.isinf(out[0, 0, 0]).all()  # north of the top row: off the grid
    assert torch.isfinite(out[0, 3, 0, :2]).all()  # south of the top row: edges exist (even into the wall)
    # nodes onto the grid, channels first
    assert node_values_to_grid(data, torch.zeros(6, 5)).shape == (1, 5, 2, 3)


def test_edge_values_to_grid_rejects_bad_input():
    data = gvin.from_grid(np.ones((3, 3)))
    with pytest.raises(ValueError, match="edge_values"):
        edge_values_to_grid(data, torch.zeros(data.num_edges + 1))
    del data.cell
    with pytest.raises(ValueError, match="cell"):
        edge_values_to_grid(data, torch.zeros(data.num_edges))
    mixed = Batch.from_data_list([gvin.from_grid(np.ones((3, 3))), gvin.from_grid(np.ones((3, 4)))])
    with pytest.raises(ValueError, match="grid shapes"):
        edge_values_to_grid(mixed, torch.zeros(mixed.num_edges))


@pytest.mark.parametrize("cls", [GridVIN, GridDTVIN, GridGPPN])
def test_reference_rejects_bad_input(cls):
    model = cls(kernel_size=3)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        model(torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="in_channels"):
        model(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(1, 2, 5, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="free"):
        model(torch.zeros(1, 2, 5, 5), free=torch.ones(1, 5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_iterations"):
        model(torch.zeros(1, 2, 5, 5), num_iterations=0)
    with pytest.raises(TypeError, match="Tensor"):
        model(np.zeros((1, 2, 5, 5)))
    for size in (4, 1):
        with pytest.raises(ValueError, match="kernel_size"):
            cls(kernel_size=size)


def test_reference_rejects_bad_options():
    with pytest.raises(ValueError, match="cell"):
        GridGPPN(cell="rnn")
    with pytest.raises(ValueError, match="kernel_mask"):
        GridDTVIN(kernel_size=3, kernel_mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="kernel_size"):
        GridVIN(kernel_size=3.0)
