"""Padded neighbour tables: any graph with even enough degrees plans by gathers, with the values and
gradients of the scatter path (float64), in batches of different graphs too."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.models import DTVIN, VIN
from gvin.nn.stencil import neighbour_table

from conftest import assert_gather_paths_agree


def roadmap(samples: int, seed: int):
    data = gvin.probabilistic_roadmap([gvin.Circle((0.0, 0.0), 0.5)], samples, k=6, goal=(1.5, 1.5), rng=seed,
                                      self_loops=True)
    data.x = data.x.double()
    data.edge_attr = data.edge_attr.double()
    return data


def test_the_table_lists_each_nodes_out_edges():
    edge_index = torch.tensor([[0, 2, 0, 1, 2, 2], [1, 0, 2, 2, 1, 2]])
    table = neighbour_table(edge_index, 3)
    assert table.neighbour.tolist() == [[1, 2, 3], [2, 3, 3], [0, 1, 2]]  # 3 = no edge (the pad)
    assert table.edge.tolist() == [[0, 2, 6], [3, 6, 6], [1, 4, 5]]
    hub = torch.tensor([[0] * 9 + [1, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0]])
    assert neighbour_table(hub, 10) is None  # a hub: 10 rows of 9 slots for 11 edges


@pytest.mark.parametrize("cls", [DTVIN, VIN])
def test_gathers_equal_scatters_in_values_and_gradients(cls):
    batch = Batch.from_data_list([roadmap(40, 0), roadmap(25, 1), roadmap(60, 2)])
    torch.manual_seed(0)
    model = cls(in_channels=1, num_edge_types=None, edge_dim=batch.edge_attr.shape[1], num_iterations=15, num_actions=3,
                hidden_channels=6).double()
    assert model.read_graph(batch).neighbour_table is not None
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
