"""Padded neighbour tables: any graph with even enough degrees plans by gathers, with the values and
gradients of the scatter path (float64), in batches of different graphs too."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.models import DTVIN, VIN
from gvin.nn import value_iteration
from gvin.nn.bellman import EdgeTransition
from gvin.nn.neighbour_table import neighbour_table, table_depth

from conftest import assert_gather_paths_agree


def roadmap(samples: int, seed: int):
    data = gvin.probabilistic_roadmap([gvin.Circle((0.0, 0.0), 0.5)], samples, k=6, goal=(1.5, 1.5), rng=seed,
                                      self_loops=True)
    data.x = data.x.double()
    data.edge_attr = data.edge_attr.double()
    return data


def test_the_table_lists_each_nodes_out_edges():
    edge_index = torch.tensor([[0, 2, 0, 1, 2, 2], [1, 0, 2, 2, 1, 2]])
    table = neighbour_table(edge_index, 3, overflow_cost=1e9)  # no overflow: as deep as the largest degree
    assert table.neighbour.tolist() == [[1, 2, 0], [2, 3, 1], [3, 3, 2]]  # row j: each node's j-th edge; 3 = the pad
    assert table.edge.tolist() == [[0, 3, 1], [2, 6, 4], [6, 6, 5]]
    assert table.overflow.numel() == 0


def test_rare_high_degrees_overflow_instead_of_deepening_the_table():
    edge_index = torch.tensor([[0, 2, 0, 1, 2, 2], [1, 0, 2, 2, 1, 2]])
    table = neighbour_table(edge_index, 3, overflow_cost=2.0)  # node 2 alone has a third edge
    assert table.depth == 2 and table.overflow.tolist() == [5]
    assert table.overflow_edge_index.tolist() == [[2], [2]]
    degrees = torch.tensor([9] * 90 + [30] * 10)
    assert table_depth(degrees, overflow_cost=4.0) == 9  # 10 % of the nodes overflow: cheaper than 21 more rows
    assert table_depth(degrees, overflow_cost=20.0) == 30


def test_graphs_whose_table_would_hold_under_half_the_edges_keep_the_scatter():
    hub = torch.tensor([[0] * 9 + [1, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0]])
    assert neighbour_table(hub, 10) is None  # depth 1 would hold 3 of the 11 edges


@pytest.mark.parametrize("overflow_cost", [2.0, 1e9], ids=["overflow", "no-overflow"])
@pytest.mark.parametrize("memory", ["autograd", "compact", "checkpoint"])
def test_a_transition_on_its_table_gives_the_edge_lists_values_and_gradients(memory, overflow_cost):
    data = roadmap(80, 5)
    table = neighbour_table(data.edge_index, data.num_nodes, overflow_cost=overflow_cost)
    assert (table.overflow.numel() > 0) == (overflow_cost == 2.0)  # both halves run: the table and the overflow
    weight = (torch.rand(data.edge_index.shape[1], 3, dtype=torch.float64) / 6).requires_grad_()  # ~1 a node
    reward = torch.randn(data.num_nodes, 3, dtype=torch.float64, requires_grad=True)
    results = []
    for with_table in (True, False):
        transition = EdgeTransition(weight, data.edge_index, data.num_nodes).on_table(table if with_table else None)
        q, values = value_iteration(reward, transition, 12, 0.9, memory=memory)
        loss = values.square().sum() + q[:, 1].sin().sum()  # a loss on Q too: the last layer's dense vjp
        results.append((q, values, *torch.autograd.grad(loss, (weight, reward))))
    for on_table, on_edges in zip(*results):
        torch.testing.assert_close(on_table, on_edges)


def test_implicit_value_iteration_on_a_table_gives_the_edge_lists_values_and_gradients():
    from gvin.nn.implicit import implicit_value_iteration

    data = roadmap(60, 8)
    table = neighbour_table(data.edge_index, data.num_nodes, overflow_cost=2.0)
    weight = torch.softmax(torch.randn(data.edge_index.shape[1], 2, dtype=torch.float64), 0).requires_grad_()
    reward = -torch.rand(data.num_nodes, 2, dtype=torch.float64).requires_grad_()
    results = []
    for with_table in (True, False):
        transition = EdgeTransition(weight, data.edge_index, data.num_nodes).on_table(table if with_table else None)
        q, values, _ = implicit_value_iteration(reward, transition, gamma=0.9, max_iter=400)
        results.append((q, values, *torch.autograd.grad(values.sum() + q[:, 0].sum(), (weight, reward))))
    for on_table, on_edges in zip(*results):
        torch.testing.assert_close(on_table, on_edges)


def test_a_transition_on_a_table_serves_several_backward_passes_and_a_new_weight():
    data = roadmap(50, 9)
    table = neighbour_table(data.edge_index, data.num_nodes, overflow_cost=2.0)
    weight = torch.rand(data.edge_index.shape[1], 2, dtype=torch.float64, requires_grad=True)
    reward = torch.randn(data.num_nodes, 2, dtype=torch.float64)
    transition = EdgeTransition(weight, data.edge_index, data.num_nodes).on_table(table)
    first = torch.autograd.grad(value_iteration(reward, transition, 5, 0.9)[1].sum(), weight)[0]
    again = torch.autograd.grad(value_iteration(reward, transition, 5, 0.9)[1].sum(), weight)[0]  # the cached layout
    torch.testing.assert_close(first, again)
    transition.weight = 2 * weight.detach()  # a reassigned weight is laid out anew
    expected = EdgeTransition(2 * weight.detach(), data.edge_index, data.num_nodes)
    with torch.no_grad():
        torch.testing.assert_close(value_iteration(reward, transition, 5, 0.9)[1],
                                   value_iteration(reward, expected, 5, 0.9)[1])
        torch.testing.assert_close(transition.actions_first(reward[:, 0], None, 0.5), expected.actions_first(reward[:, 0]))


def test_bad_overflow_costs_are_named():
    edge_index = torch.tensor([[0, 1], [1, 0]])
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="overflow_cost"):
            neighbour_table(edge_index, 2, overflow_cost=bad)


def test_a_table_of_another_graph_is_refused():
    data = roadmap(30, 6)
    transition = EdgeTransition(torch.rand(data.edge_index.shape[1], 2), data.edge_index, data.num_nodes)
    with pytest.raises(ValueError, match="table is for"):
        transition.on_table(neighbour_table(roadmap(31, 6).edge_index, 31))
    with pytest.raises(TypeError, match="table must be a NeighbourTable"):
        transition.on_table(gvin.from_grid(torch.ones(3, 3), goal=(0, 0)).stencil)


@pytest.mark.parametrize("cls", [DTVIN, VIN])
def test_gathers_equal_scatters_in_values_and_gradients(cls):
    batch = Batch.from_data_list([roadmap(40, 0), roadmap(25, 1), roadmap(60, 2)])
    torch.manual_seed(0)
    model = cls(in_channels=1, num_edge_types=None, edge_dim=batch.edge_attr.shape[1], num_iterations=15, num_actions=3,
                hidden_channels=6).double()
    table = model.read_graph(batch).neighbour_table
    assert table is not None and table.overflow.numel() > 0
    assert_gather_paths_agree(model, batch)


def test_a_batch_plans_as_each_graph_alone():
    graphs = [roadmap(30, 3), roadmap(50, 4)]
    torch.manual_seed(1)
    model = DTVIN(in_channels=1, num_edge_types=None, edge_dim=graphs[0].edge_attr.shape[1], num_iterations=12,
                  hidden_channels=6).double()
    with torch.no_grad():
        together = model(Batch.from_data_list(graphs)).v
        alone = torch.cat([model(g).v for g in graphs])
    torch.testing.assert_close(together, alone)


@pytest.mark.cuda
def test_the_table_path_on_cuda_gives_the_cpu_values_and_gradients():
    data = roadmap(300, 7)
    torch.manual_seed(0)
    model = DTVIN(in_channels=1, num_edge_types=None, edge_dim=2, num_iterations=20, hidden_channels=6).double()
    results = []
    for device in ("cpu", "cuda"):
        model.to(device).zero_grad()
        graph = data.to(device)
        assert model.read_graph(graph).neighbour_table is not None
        out = model(graph)
        out.log_probs[graph.move].sum().backward()
        results.append((out.v.detach().cpu(), *[p.grad.cpu() for p in model.parameters() if p.grad is not None]))
    for on_cpu, on_cuda in zip(*results):
        torch.testing.assert_close(on_cpu, on_cuda)
