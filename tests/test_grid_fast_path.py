"""The grid fast paths give the numbers of the general graph paths they replace.

* A stencil learns its dense grid layout only when its slot table is exactly that of
  whole zero-padded grids (:meth:`Stencil.with_grid`); shared-weight backups then run
  as one grid convolution.
* ``EdgeTypeConv`` reads a subset of slots (3×3 encoders on wider stencils) and, when it
  narrows the channels, transforms before it gathers.
* The arg-max VJP of shared weights touches one weight column per node.
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.grid import edge_values_to_grid, grid_from_graph, grid_to_graph_state, node_values_to_grid
from gvin.models import GPPN, VIN
from gvin.models.base import graph_inputs
from gvin.nn import EdgeTypeConv, StencilTransition, build_stencil
from gvin.nn.deep import CompactValueIteration

bellman_module = sys.modules["gvin.nn.bellman"]  # where StencilTransition looks up grid_conv


def maze_batch(shape=(6, 7), num_graphs=3, seed=0, wrap=False, **grid_args) -> Batch:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(num_graphs):
        maze = rng.random(shape) > 0.3
        maze.flat[0] = True
        graphs.append(gvin.from_grid(maze, 0, wrap=wrap, **grid_args))
    return Batch.from_data_list(graphs)


def stencil_of(batch: Batch, num_slots: int):
    return graph_inputs(batch, num_slots).stencil


GRIDS = [((6, 7), dict(kernel_size=3)), ((6, 7), dict(connectivity=4)), ((5, 6), dict(kernel_size=5)),
         ((3, 4, 5), dict(kernel_size=3))]


@pytest.mark.parametrize("shape,grid_args", GRIDS)
def test_from_grid_batches_carry_their_grid_layout(shape, grid_args):
    batch = maze_batch(shape, **grid_args)
    offsets = gvin.grid_stencil(len(shape), grid_args.get("connectivity"), grid_args.get("kernel_size"))
    layout = stencil_of(batch, len(offsets)).layout
    assert layout is not None
    assert (layout.batch, layout.shape) == (3, shape)
    assert layout.offsets == tuple(tuple(int(o) for o in row) for row in offsets)


def test_graphs_that_are_not_whole_zero_padded_grids_keep_the_general_path():
    # a torus: border slots wrap around
    assert stencil_of(maze_batch(wrap=True, kernel_size=3), 9).layout is None
    # only free cells as nodes
    maze = np.ones((5, 5), dtype=bool)
    maze[2, 2] = False
    data = gvin.from_grid(maze, 0, kernel_size=3, free_only=True)
    assert stencil_of(data, 9).layout is None
    # nodes renumbered: same edges, another order
    data = gvin.from_grid(np.ones((4, 5), dtype=bool), 0, kernel_size=3)
    order = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(0))
    table = build_stencil(order[data.edge_index], data.edge_type, data.num_nodes, 9)
    assert table.with_grid((4, 5), data.stencil).layout is None
    # a claimed shape that does not fit the nodes, or offsets of another stencil
    table = build_stencil(data.edge_index, data.edge_type, data.num_nodes, 9)
    assert table.with_grid((5, 4), data.stencil).layout is None
    assert table.with_grid((4, 5), list(reversed(data.stencil))).layout is None
    assert table.with_grid((4, 5), data.stencil).layout is not None
    # graphs of different shapes in one batch
    mixed = Batch.from_data_list([gvin.from_grid(np.ones((4, 5), bool), 0, kernel_size=3),
                                  gvin.from_grid(np.ones((5, 4), bool), 0, kernel_size=3)])
    assert stencil_of(mixed, 9).layout is None


@pytest.mark.parametrize("shape,grid_args", GRIDS)
def test_stencil_gathers_on_the_grid_layout_equal_the_index_gathers(shape, grid_args):
    """Shifted windows of the padded grids give the index gathers' numbers and gradients."""
    batch = maze_batch(shape, **grid_args)
    num_slots = len(batch[0].stencil)
    grid = stencil_of(batch, num_slots)
    plain = replace(grid, layout=None)
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(batch.num_nodes, generator=gen, dtype=torch.float64, requires_grad=True)
    features = torch.randn(batch.num_nodes, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    subset = (0, num_slots - 1)
    per_slot = torch.randn(batch.num_nodes, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    cases = [
        lambda s: s.gather_slot_major(values), lambda s: s.gather(values), lambda s: s.gather(features),
        lambda s: s.gather(features, fill=-2.0), lambda s: s.gather(features, slots=subset),
        lambda s: s.gather_per_slot(per_slot, subset),
    ]
    for case in cases:
        expected, got = case(plain), case(grid)
        assert torch.equal(got, expected)
        weight = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
        inputs = (values, features, per_slot)
        expected_grads = torch.autograd.grad((expected * weight).sum(), inputs, allow_unused=True)
        got_grads = torch.autograd.grad((got * weight).sum(), inputs, allow_unused=True)
        for a, b in zip(got_grads, expected_grads):
            assert (a is None) == (b is None) and (a is None or torch.allclose(a, b))


def strip_layout(batch: Batch) -> Batch:
    stripped = batch.clone()
    del stripped.grid_shape
    return stripped


@pytest.mark.parametrize("shape,grid_args", GRIDS)
@pytest.mark.parametrize("num_actions", [5, 40])
def test_vin_on_the_grid_path_equals_the_gather_path(shape, grid_args, num_actions, monkeypatch):
    """Values, policies and gradients, with the conv used (few actions) or not (many)."""
    batch = maze_batch(shape, **grid_args)
    batch.x = batch.x.double()
    offsets = gvin.grid_stencil(len(shape), grid_args.get("connectivity"), grid_args.get("kernel_size"))
    torch.manual_seed(0)
    model = VIN(stencil=offsets, num_actions=num_actions, hidden_channels=6, num_iterations=6, gamma=0.9).double()
    with torch.no_grad():
        model.value_kernel.uniform_(-0.3, 0.3)
    calls = []
    grid_conv = bellman_module.grid_conv
    monkeypatch.setattr(bellman_module, "grid_conv", lambda *a: calls.append(1) or grid_conv(*a))
    outputs, grads = [], []
    for data in (batch, strip_layout(batch)):
        for memory in ("autograd", "compact"):
            model.memory = memory
            model.zero_grad()
            out = model(data)
            out.log_probs.nan_to_num(neginf=0.0).mul(torch.linspace(0, 1, out.log_probs.numel(),
                                                                    dtype=torch.float64)).sum().backward()
            outputs.append(out)
            grads.append([p.grad.clone() for p in model.parameters()])
    assert bool(calls) == (num_actions <= bellman_module.GRID_CONV_MAX_ACTIONS)
    for out, grad in zip(outputs[1:], grads[1:]):
        assert torch.equal(torch.isfinite(out.log_probs), torch.isfinite(outputs[0].log_probs))
        finite = torch.isfinite(out.log_probs)
        torch.testing.assert_close(out.log_probs[finite], outputs[0].log_probs[finite])
        torch.testing.assert_close(out.v, outputs[0].v)
        for a, b in zip(grad, grads[0]):
            torch.testing.assert_close(a, b)


def test_arg_max_vjp_of_shared_weights_is_the_dense_vjp():
    batch = maze_batch((5, 6), kernel_size=5)
    stencil = stencil_of(batch, 25)
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(25, 50, generator=gen, dtype=torch.float64)
    values = torch.randn(batch.num_nodes, generator=gen, dtype=torch.float64)
    grad = torch.randn(batch.num_nodes, generator=gen, dtype=torch.float64)
    action = torch.randint(0, 50, (batch.num_nodes,), generator=gen)
    transition = StencilTransition(weight, stencil)
    sparse_weight = torch.zeros_like(weight)
    sparse_values = transition.vjp_argmax(values, grad, action, sparse_weight)
    dense = torch.zeros(batch.num_nodes, 50, dtype=torch.float64).scatter_(1, action[:, None], grad[:, None])
    dense_values, dense_weight = transition.vjp(values, dense)
    torch.testing.assert_close(sparse_values, dense_values)
    torch.testing.assert_close(sparse_weight, dense_weight)


def test_compact_backups_with_many_actions_match_autograd():
    """Above the sweep's action count the max is torch.max; gradients still match autograd."""
    batch = maze_batch((5, 6), kernel_size=3)
    stencil = stencil_of(batch, 9)
    gen = torch.Generator().manual_seed(1)
    weight = (torch.rand(9, 70, generator=gen, dtype=torch.float64) * 0.2 - 0.1).requires_grad_()
    reward = torch.randn(batch.num_nodes, 70, generator=gen, dtype=torch.float64).requires_grad_()
    values = torch.zeros(batch.num_nodes, dtype=torch.float64)
    transition = StencilTransition(weight, stencil)
    q, v = CompactValueIteration.apply(reward, weight, values, transition, 8, 0.9)
    compact = torch.autograd.grad((q.sum(1) + 2 * v).sum(), (reward, weight))
    q_ref, v_ref = values.new_zeros(batch.num_nodes, 70), values
    for _ in range(8):
        q_ref = reward + 0.9 * (stencil.gather(v_ref) @ weight)
        v_ref = q_ref.max(1).values
    reference = torch.autograd.grad((q_ref.sum(1) + 2 * v_ref).sum(), (reward, weight))
    torch.testing.assert_close(q, q_ref)
    for a, b in zip(compact, reference):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------------------ EdgeTypeConv


WINDOW = (6, 7, 8, 11, 12, 13, 16, 17, 18)  # the inner 3×3 of the 5×5 stencil


@pytest.mark.parametrize("in_channels,out_channels", [(6, 2), (2, 6), (4, 4)])
@pytest.mark.parametrize("slots", [None, WINDOW])
def test_edge_type_conv_paths_and_slot_subsets_agree(in_channels, out_channels, slots):
    """Stencil (gather-first or transform-first) and scatter paths agree, and a slot subset
    is the full conv with zero weights outside it; gradients too."""
    batch = maze_batch((5, 6), kernel_size=5)
    stencil = stencil_of(batch, 25)
    torch.manual_seed(0)
    conv = EdgeTypeConv(in_channels, out_channels, 25, slots=slots).double()
    full = EdgeTypeConv(in_channels, out_channels, 25).double()
    with torch.no_grad():
        full.weight.zero_()
        full.weight[list(slots or range(25))] = conv.weight
        full.bias.copy_(conv.bias)
    x = torch.randn(batch.num_nodes, in_channels, dtype=torch.float64, requires_grad=True)
    reference = full(x, batch.edge_index, batch.edge_type)
    for table in (stencil, None):
        torch.testing.assert_close(conv(x, batch.edge_index, batch.edge_type, table), reference)
    assert torch.autograd.gradcheck(lambda t: conv(t, batch.edge_index, batch.edge_type, stencil), (x,))


def test_edge_type_conv_rejects_bad_slots():
    for slots in ([], [0, 0], [-1], [9], [1.5, 2]):
        with pytest.raises(ValueError, match="slots must be distinct edge types"):
            EdgeTypeConv(2, 3, 9, slots=slots)
    conv = EdgeTypeConv(2, 3, 9, slots=[4, 1])
    assert conv.slots == (1, 4) and conv.weight.shape == (2, 2, 3)


@pytest.mark.parametrize("model_class", [VIN, GPPN])
def test_encoder_window_is_a_narrower_conv(model_class):
    """``encoder_kernel_size=3`` on a 5×5 stencil equals the full-stencil model whose
    encoder weights are zero outside the 3×3 window."""
    stencil = gvin.grid_stencil(2, None, 5)
    torch.manual_seed(0)
    windowed = model_class(stencil=stencil, hidden_channels=6, num_iterations=4, encoder_kernel_size=3).double()
    full = model_class(stencil=stencil, hidden_channels=6, num_iterations=4).double()
    state = windowed.state_dict()
    for name in ("encoder", "h0", "c0"):
        key = f"{name}.weight"
        if key in state:
            assert getattr(windowed, name).slots == WINDOW
            weight = torch.zeros(25, *state[key].shape[1:], dtype=torch.float64)
            weight[list(WINDOW)] = state[key]
            state[key] = weight
    full.load_state_dict(state)
    batch = maze_batch((5, 6), kernel_size=5)
    batch.x = batch.x.double()
    a, b = windowed(batch), full(batch)
    finite_graph = torch.isfinite(a.log_probs)
    torch.testing.assert_close(a.log_probs[finite_graph], b.log_probs[finite_graph])
    # the conv reference of the windowed model: a 5×5 conv, zero outside the window
    reference = grid_from_graph(windowed, 4, 5)
    grid = reference(node_values_to_grid(batch, batch.x))
    torch.testing.assert_close(node_values_to_grid(batch, a.v), grid.v)
    mapped = edge_values_to_grid(batch, a.log_probs, 4)
    finite = torch.isfinite(grid.log_probs)
    assert torch.equal(torch.isfinite(mapped), finite)
    torch.testing.assert_close(mapped[finite], grid.log_probs[finite])
    # and back: the windowed model's own weights
    back = grid_to_graph_state(reference, 5, encoder_kernel_size=3)
    fresh = model_class(stencil=stencil, hidden_channels=6, num_iterations=4, encoder_kernel_size=3).double()
    fresh.load_state_dict(back)  # head columns of non-move edge types come back as zeros: never scored
    for name in ("encoder.weight", "h0.weight", "c0.weight"):
        if name in back:
            torch.testing.assert_close(back[name], windowed.state_dict()[name])
    again = fresh(batch)
    torch.testing.assert_close(again.log_probs[finite_graph], a.log_probs[finite_graph])


def test_encoder_window_needs_an_odd_size_and_the_stencil():
    with pytest.raises(ValueError, match="needs stencil="):
        VIN(num_edge_types=25, encoder_kernel_size=3)
    with pytest.raises(ValueError, match="must be odd"):
        VIN(stencil=gvin.grid_stencil(2, None, 5), encoder_kernel_size=2)
    with pytest.raises(ValueError, match="needs stencil="):  # a geometric planner has no edge types
        GPPN(edge_dim=2, encoder_kernel_size=3)


def test_published_head_and_lstm_initialisation_options():
    stencil = gvin.grid_stencil(2, 4, None)
    assert VIN(stencil=stencil, successor_value=False).head.beta is None
    assert VIN(stencil=stencil).head.beta is not None
    torch.manual_seed(0)
    hidden = 8
    opened = GPPN(stencil=stencil, hidden_channels=hidden).cell.bias_ih[hidden:2 * hidden]
    assert torch.equal(opened, torch.ones(hidden))
    default = GPPN(stencil=stencil, hidden_channels=hidden, forget_bias=None).cell.bias_ih[hidden:2 * hidden]
    assert default.abs().max() <= 1 / hidden**0.5 and not torch.equal(default, torch.ones(hidden))
    with pytest.raises(ValueError, match="forget_bias"):
        GPPN(stencil=stencil, forget_bias="open")


def model_of(kind: str, offsets, dtype: torch.dtype):
    from gvin.models import DTVIN

    torch.manual_seed(0)
    if kind == "vin":
        model = VIN(stencil=offsets, num_actions=6, hidden_channels=6, num_iterations=12, gamma=0.9)
        with torch.no_grad():
            model.value_kernel.uniform_(-0.3, 0.3)
    elif kind == "dtvin":
        model = DTVIN(stencil=offsets, num_actions=4, hidden_channels=6, num_iterations=12)
    else:
        model = GPPN(stencil=offsets, hidden_channels=6, num_iterations=6)
    return model.to(dtype)


@pytest.mark.parametrize("kind", ["vin", "dtvin", "gppn"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_every_planner_gives_the_general_paths_numbers_on_the_grid_path(kind, dtype):
    batch = maze_batch((7, 8), kernel_size=3)
    batch.x = batch.x.to(dtype)
    model = model_of(kind, gvin.grid_stencil(2, None, 3), dtype)
    fast, general = model(batch), model(strip_layout(batch))
    finite = torch.isfinite(general.log_probs)
    assert torch.equal(torch.isfinite(fast.log_probs), finite)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(fast.log_probs[finite], general.log_probs[finite], atol=tol, rtol=tol)
    torch.testing.assert_close(fast.v, general.v, atol=tol, rtol=tol)


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["vin", "dtvin"])
def test_the_grid_path_on_cuda_float32_gives_the_general_paths_numbers(kind):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    batch = maze_batch((15, 15), num_graphs=4, kernel_size=3).to("cuda")
    model = model_of(kind, gvin.grid_stencil(2, None, 3), torch.float32).to("cuda")
    fast, general = model(batch, num_iterations=60), model(strip_layout(batch), num_iterations=60)
    finite = torch.isfinite(general.log_probs)
    assert torch.equal(torch.isfinite(fast.log_probs), finite)
    torch.testing.assert_close(fast.log_probs[finite], general.log_probs[finite], atol=1e-5, rtol=1e-5)


def test_a_transition_of_the_users_needs_only_actions_first_of_values():
    """``backup_actions_first`` adds the reward itself for transitions outside gvin."""
    from gvin.nn import backup_actions_first

    class Doubling:
        weight = torch.ones(1)

        def actions_first(self, values):
            return torch.stack([2 * values, values])

    values, reward_t = torch.tensor([1.0, 3.0]), torch.tensor([[0.5, 0.0], [0.0, 4.0]])
    q, best, _ = backup_actions_first(values, reward_t, Doubling(), 0.5)
    torch.testing.assert_close(q, torch.tensor([[1.5, 3.0], [0.5, 5.5]]))
    torch.testing.assert_close(best, torch.tensor([1.5, 5.5]))
