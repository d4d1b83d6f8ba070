"""Batches of different graphs (issue 19): a ``Batch`` of roadmaps of different sizes, with and without
self-loops, or of street graphs and grids, plans as each graph alone (float64): the same values, Q, policy
log-probabilities (last and intermediate layers), and parameter gradients of a loss summed over the graphs
equal to the sum of each graph's. Roadmap batches plan on the padded neighbour table (the gather path).

A grid (``gvin.from_grid``) and a street graph (``gvin.from_networkx``, ``StreetDataset``) do not batch as
built: their ``x`` widths differ (2 against 1 for ``from_networkx``), a street window's ``edge_attr`` has a
length column that a grid's lacks, and each has fields the other has not (``edge_type``, ``stencil`` …
against ``edge_weight``, ``node_keys``), on which ``Batch.from_data_list`` fails. The mixed tests give them
the fields a geometric planner reads first (:class:`gvin.transforms.PlannerFields`), and then batch in
either order with their move costs kept."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

import gvin
from gvin.models import DTVIN, VIN
from gvin.transforms import PlannerFields

pytestmark = pytest.mark.usefixtures("one_thread")

DEPTH = 10


def roadmap(samples: int, seed: int, self_loops: bool) -> Data:
    return gvin.probabilistic_roadmap([gvin.Circle((0.0, 0.0), 0.5)], samples, k=6, goal=(1.5, 1.5), rng=seed,
                                      self_loops=self_loops, dtype=torch.float64)


def roadmaps() -> list[Data]:
    """Three sizes; the middle one without self-loops (its goal cannot absorb in a DT-VIN)."""
    return [roadmap(25, 0, True), roadmap(60, 1, False), roadmap(40, 2, True)]


def planner(cls, in_channels: int, edge_dim: int, **options):
    torch.manual_seed(0)
    return cls(in_channels=in_channels, num_edge_types=None, edge_dim=edge_dim, num_iterations=DEPTH, num_actions=3,
               hidden_channels=6, **options).double()


def assert_plans_as_each_alone(model, graphs: list[Data]) -> Batch:
    """``model`` plans the batch of ``graphs`` as it plans each alone; returns the batch."""
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        together = model(batch, intermediate=(3,))
        alone = [model(graph, intermediate=(3,)) for graph in graphs]
    assert float(together.v.std()) > 0  # a plan, not a constant
    for name in ("v", "q", "log_probs"):
        torch.testing.assert_close(getattr(together, name), torch.cat([getattr(out, name) for out in alone]))
    torch.testing.assert_close(together.intermediate[3], torch.cat([out.intermediate[3] for out in alone]))
    assert bool(torch.isfinite(together.log_probs[batch.move]).all())
    return batch


@pytest.mark.parametrize("cls", [DTVIN, VIN])
def test_roadmaps_of_different_sizes_plan_as_each_alone_on_the_neighbour_table(cls):
    graphs = roadmaps()
    model = planner(cls, 1, graphs[0].edge_attr.shape[1])
    batch = assert_plans_as_each_alone(model, graphs)
    assert model.read_graph(batch).neighbour_table is not None  # the gather path, not the scatter


def per_graph_loss(out, data) -> torch.Tensor:
    """A sum over the graphs of ``data`` of each graph's mean negative log-probability of its moves and
    mean squared value (per-graph means: a loss that couples a graph's nodes, not its neighbours')."""
    graph = getattr(data, "batch", None)
    if graph is None:
        graph = torch.zeros(data.num_nodes, dtype=torch.long)
    count = int(graph.max()) + 1
    edge_graph = graph[data.edge_index[0]][data.move]

    def means(values, index):
        sums = values.new_zeros(count).index_add(0, index, values)
        return sums / torch.bincount(index, minlength=count).to(values)

    return (means(-out.log_probs[data.move], edge_graph) + means(out.v ** 2, graph)).sum()


@pytest.mark.parametrize("cls", [DTVIN, VIN])
def test_a_batch_gradient_is_the_sum_of_each_graphs(cls):
    graphs = roadmaps()
    model = planner(cls, 1, graphs[0].edge_attr.shape[1])
    batch = Batch.from_data_list(graphs)
    assert model.read_graph(batch).neighbour_table is not None
    parameters = [p for p in model.parameters() if p.requires_grad]
    together = torch.autograd.grad(per_graph_loss(model(batch), batch), parameters, allow_unused=True)
    alone = [torch.autograd.grad(per_graph_loss(model(graph), graph), parameters, allow_unused=True)
             for graph in graphs]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in together) > len(parameters) // 2
    for k, gradient in enumerate(together):
        if gradient is None:
            assert all(grads[k] is None for grads in alone)
            continue
        torch.testing.assert_close(gradient, sum(grads[k] for grads in alone))


# ------------------------------------------------------------------------------------------ grids and streets
def planner_fields(data: Data, length: bool = False) -> Data:
    """:class:`gvin.transforms.PlannerFields` in float64."""
    out = PlannerFields(length=length)(data)
    for key in ("x", "edge_attr", "edge_weight"):
        out[key] = out[key].double()
    return out


def street_graph(seed: int) -> Data:
    """A street-like graph from networkx: intersections on a jittered 5×6 lattice, a few blocks closed,
    a few one-way streets, move costs the street lengths (a little longer than straight)."""
    rng = np.random.default_rng(seed)
    lattice = nx.grid_2d_graph(5, 6)
    lattice.remove_edges_from([edge for edge in list(lattice.edges) if rng.random() < 0.15])
    pos = {node: (node[1] + rng.uniform(-0.3, 0.3), node[0] + rng.uniform(-0.3, 0.3)) for node in lattice}
    G = nx.DiGraph()
    G.add_nodes_from((node, {"pos": pos[node]}) for node in lattice)
    for u, v in lattice.edges:
        length = float(np.hypot(*np.subtract(pos[v], pos[u]))) * rng.uniform(1.0, 1.2)
        G.add_edge(u, v, length=length)
        if rng.random() > 0.2:  # else one-way
            G.add_edge(v, u, length=length)
    return gvin.from_networkx(G, goal=(2, 3), weight="length", dtype=torch.float64)


def grids() -> list[Data]:
    maze = np.ones((6, 6))
    maze[2, 1:5] = 0
    return [gvin.from_grid(maze, goal=(5, 0), connectivity=8), gvin.from_grid(np.ones((4, 7)), goal=(0, 6))]


def test_a_grid_and_a_street_graph_as_built_share_the_planners_fields():
    """What :class:`PlannerFields` changes: only ``x``'s width; the edges and their features stay."""
    street, grid = street_graph(0), grids()[0]
    assert street.x.shape[1] == 1 and grid.x.shape[1] == 2  # goal against (free, goal)
    assert street.edge_attr.shape[1] == grid.edge_attr.shape[1] == 2  # offsets
    for data in (street, grid):
        fields = planner_fields(data)
        assert torch.equal(fields.edge_index, data.edge_index) and torch.equal(fields.x[:, -1], data.x[:, -1].double())
        assert torch.equal(fields.edge_attr, data.edge_attr.double())


@pytest.mark.parametrize("use_stencil", [True, False], ids=["table", "scatter"])
@pytest.mark.parametrize("cls", [DTVIN, VIN])
def test_street_graphs_and_grids_plan_as_each_alone(cls, use_stencil):
    square, wide = grids()
    graphs = [planner_fields(g) for g in (square, street_graph(0), wide, street_graph(1))]
    model = planner(cls, 2, 2)
    model.use_stencil = use_stencil
    batch = assert_plans_as_each_alone(model, graphs)
    assert (model.read_graph(batch).neighbour_table is not None) == use_stencil


@pytest.fixture(scope="module")
def street_windows():
    pytest.importorskip("pyrosm", reason="gvin[osm] is not installed")
    from gvin.datasets.streets import StreetDataset

    data = StreetDataset("train", size=40, counts=(2, 0, 0), seed=3)
    return [data[0], data[1]]


def test_helsinki_street_windows_and_grids_plan_as_each_alone(street_windows):
    square, wide = grids()
    windows = [planner_fields(window, length=True) for window in street_windows]  # (dx, dy, length) kept
    graphs = [windows[0], planner_fields(square, length=True), windows[1], planner_fields(wide, length=True)]
    assert all(g.edge_attr.shape[1] == 3 for g in graphs)  # a window's (dx, dy, length) / spacing
    torch.testing.assert_close(windows[0].edge_attr, street_windows[0].edge_attr.double())
    model = planner(DTVIN, 2, 3)
    batch = assert_plans_as_each_alone(model, graphs)
    assert model.read_graph(batch).neighbour_table is not None


def test_mixed_batches_keep_each_graphs_move_costs_for_the_expert():
    """Labels of a mixed batch equal each graph's own: street lengths stay lengths, grid moves cost 1."""
    square, wide = grids()
    graphs = [planner_fields(g) for g in (street_graph(0), square, wide)]
    for order in (graphs, graphs[::-1]):
        batch = Batch.from_data_list(order)
        together = gvin.shortest_path_distances(batch)
        alone = torch.cat([gvin.shortest_path_distances(g) for g in order])
        torch.testing.assert_close(together, alone)
    street = street_graph(0)
    torch.testing.assert_close(gvin.shortest_path_distances(graphs[0]), gvin.shortest_path_distances(street))


def test_planner_fields_names_what_it_cannot_use():
    street = street_graph(0)
    del street.move
    with pytest.raises(ValueError, match="needs \\['move'\\]"):
        PlannerFields()(street)
    window = planner_fields(street_graph(1), length=True)
    with pytest.raises(ValueError, match="length=True"):
        PlannerFields()(window)


def test_planner_fields_keep_or_make_the_expert_labels_and_refuse_3d_grids():
    labelled = gvin.transforms.AddExpertLabels()(grids()[0])
    fields = PlannerFields(labels=True)(labelled)
    assert torch.equal(fields.dist, labelled.dist) and torch.equal(fields.optimal, labelled.optimal)
    assert "dist" not in PlannerFields()(labelled)  # without labels=True they are dropped, never half kept
    street = street_graph(2)
    made = PlannerFields(labels=True)(street)  # none of its own: the expert's, with its street lengths
    torch.testing.assert_close(made.dist, gvin.shortest_path_distances(street).float())
    batch = Batch.from_data_list([made, fields])
    assert batch.dist.shape == (street.num_nodes + labelled.num_nodes,)
    cube = gvin.from_grid(np.ones((3, 3, 3)), goal=(0, 0, 0))
    for length in (False, True):
        with pytest.raises(ValueError, match="2-D graphs"):
            PlannerFields(length=length)(cube)
