"""networkx ↔ planning graph conversion."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.graphs.networkx import from_networkx, to_networkx
from gvin.planners import shortest_path_distances, value_iteration


def edge_list(data) -> list[tuple[int, int]]:
    return [tuple(e) for e in data.edge_index.t().tolist()]


def weighted_digraph() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("c", pos=(2.0, 0.0))
    G.add_node("a", pos=(0.0, 0.0))
    G.add_node("b", pos=(1.0, 1.0))
    G.add_edge("a", "b", weight=2.5)
    G.add_edge("b", "c")  # default weight 1
    G.add_edge("c", "a", weight=0.5)
    G.add_edge("a", "c", weight=4.0)
    return G


# --------------------------------------------------------------------------- from_networkx
def test_directed_graph_fields():
    data = from_networkx(weighted_digraph(), goal="c")
    assert data.node_keys == ["c", "a", "b"]  # G's node order
    # c=0, a=1, b=2; sorted by source then target, one self-loop per node.
    assert edge_list(data) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 2)]
    assert data.move.tolist() == [False, True, True, False, True, True, False]
    assert data.edge_weight.tolist() == [0.0, 0.5, 4.0, 0.0, 2.5, 1.0, 0.0]
    assert data.goal.tolist() == [True, False, False]
    assert data.x.tolist() == [[1.0], [0.0], [0.0]]
    assert data.pos.tolist() == [[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    expected = (data.pos[data.edge_index[1]] - data.pos[data.edge_index[0]]).tolist()
    assert data.edge_attr.tolist() == expected
    assert data.x.dtype == data.pos.dtype == data.edge_weight.dtype == torch.float32
    assert data.edge_index.dtype == torch.long and data.move.dtype == torch.bool
    data.validate(raise_on_error=True)
    # a → c costs min(4, 2.5 + 1) = 3.5.
    assert shortest_path_distances(data).tolist() == [0.0, 3.5, 1.0]


def test_undirected_graph_gets_both_directions():
    G = nx.Graph()
    G.add_edge(0, 1, weight=3.0)
    G.add_edge(1, 2)
    data = from_networkx(G, goal=0, self_loops=False)
    assert edge_list(data) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert data.edge_weight.tolist() == [3.0, 3.0, 1.0, 1.0]
    assert data.move.all()
    assert data.edge_attr.tolist() == [[3.0], [3.0], [1.0], [1.0]]  # no pos: the weight
    assert not hasattr(data, "pos") or data.pos is None


def test_own_self_loops_are_non_moves_and_not_duplicated():
    G = nx.DiGraph([(0, 1), (1, 1), (1, 2)])
    G.edges[1, 1]["weight"] = 7.0
    data = from_networkx(G, goal=2)
    loops = data.edge_index[0] == data.edge_index[1]
    assert torch.bincount(data.edge_index[0][loops], minlength=3).tolist() == [1, 1, 1]
    assert not data.move[loops].any() and data.move[~loops].all()
    assert data.edge_weight[loops].tolist() == [0.0, 7.0, 0.0]
    plain = from_networkx(G, goal=2, self_loops=False)
    assert edge_list(plain) == [(0, 1), (1, 1), (1, 2)]
    assert plain.move.tolist() == [True, False, True]


def test_multigraph_keeps_parallel_edges_and_planners_take_the_cheapest():
    G = nx.MultiDiGraph()
    G.add_edge(0, 1, weight=5.0)
    G.add_edge(0, 1, weight=2.0)
    G.add_edge(1, 2, weight=1.0)
    data = from_networkx(G, goal=2, self_loops=False)
    assert edge_list(data) == [(0, 1), (0, 1), (1, 2)]
    assert data.edge_weight.tolist() == [5.0, 2.0, 1.0]  # stable: G's order
    assert shortest_path_distances(data).tolist() == [3.0, 1.0, 0.0]
    assert value_iteration(data).values.tolist() == [-3.0, -1.0, 0.0]
    H = to_networkx(data)
    assert H[0][1]["weight"] == 2.0  # parallel edges collapse to the cheapest


def test_goal_forms():
    G = nx.grid_2d_graph(3, 4)  # tuple node keys
    data = from_networkx(G, goal=(1, 2))
    assert data.goal.sum() == 1 and data.node_keys[int(data.goal.nonzero())] == (1, 2)
    data = from_networkx(G, goal=[(0, 0), (2, 3)])
    assert [data.node_keys[i] for i in data.goal.nonzero().flatten().tolist()] == [(0, 0), (2, 3)]
    nx.set_node_attributes(G, {(2, 1): True, (0, 1): False}, "goal")
    data = from_networkx(G)
    assert [data.node_keys[i] for i in data.goal.nonzero().flatten().tolist()] == [(2, 1)]
    assert data.x[:, 0].tolist() == data.goal.float().tolist()
    assert not from_networkx(nx.path_graph(3)).goal.any()  # no goal at all
    strings = nx.relabel_nodes(nx.path_graph(3), {0: "start", 1: "mid", 2: "end"})
    assert from_networkx(strings, goal="end").goal.tolist() == [False, False, True]
    assert from_networkx(nx.path_graph(4), goal=torch.tensor([1, 3])).goal.tolist() == [
        False, True, False, True,
    ]


@pytest.mark.parametrize(
    "goal,match",
    [((5, 5), r"goal \(5, 5\) is not a node"), ([(0, 0), 7], "goal 7 is not a node"),
     ("x", "goal 'x' is not a node"), ([], "empty")],
)
def test_unknown_goal(goal, match):
    with pytest.raises(ValueError, match=match):
        from_networkx(nx.grid_2d_graph(2, 2), goal=goal)


def test_bad_goal_attribute():
    G = nx.path_graph(3)
    G.nodes[1]["goal"] = "yes"
    with pytest.raises(ValueError, match="node attribute 'goal' must be boolean"):
        from_networkx(G)


def test_pos_errors():
    G = nx.path_graph(3)
    G.nodes[0]["pos"] = (0.0, 1.0)
    with pytest.raises(ValueError, match="node 1 has no 'pos' attribute while other nodes do"):
        from_networkx(G)
    nx.set_node_attributes(G, {0: (0, 0), 1: (1, 0), 2: (2, 0, 0)}, "pos")
    with pytest.raises(ValueError, match="one length"):
        from_networkx(G)
    nx.set_node_attributes(G, {0: (0, 0), 1: (1, 0), 2: ("a", "b")}, "pos")
    with pytest.raises(ValueError, match="must be numeric"):
        from_networkx(G)
    nx.set_node_attributes(G, {0: (0, 0), 1: (1, 0), 2: (2, math.nan)}, "pos")
    with pytest.raises(ValueError, match="NaN or inf"):
        from_networkx(G)
    assert from_networkx(G, pos=None).edge_attr.shape[1] == 1  # ignoring pos is allowed


def test_pos_from_a_custom_attribute_and_float64():
    G = nx.path_graph(3)
    nx.set_node_attributes(G, {i: [float(i), 0.0, 2.0 * i] for i in G}, "xyz")
    data = from_networkx(G, goal=0, pos="xyz", dtype=torch.float64)
    assert data.pos.dtype == torch.float64 and data.pos.shape == (3, 3)
    moves = data.edge_attr[data.move]
    assert torch.allclose(moves.norm(dim=1), torch.full((4,), math.sqrt(5.0), dtype=torch.float64))
    dist = shortest_path_distances(data, "euclidean")
    torch.testing.assert_close(dist, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64) * 5**0.5)


@pytest.mark.parametrize(
    "value,match",
    [(-1.0, "negative 'weight'"), (math.nan, "NaN or infinite"), (math.inf, "NaN or infinite"),
     ("heavy", "non-numeric 'weight'"), (None, "non-numeric 'weight'")],
)
def test_bad_weights(value, match):
    G = nx.path_graph(3)
    G.edges[1, 2]["weight"] = value
    with pytest.raises(ValueError, match=match):
        from_networkx(G)
    assert from_networkx(G, weight=None).edge_weight.max() == 1.0  # weights ignored


def test_custom_weight_attribute():
    G = nx.path_graph(3)
    nx.set_edge_attributes(G, {(0, 1): 2.0, (1, 2): 3.0}, "length")
    data = from_networkx(G, goal=0, weight="length")
    assert shortest_path_distances(data).tolist() == [0.0, 2.0, 5.0]


def test_structural_errors():
    with pytest.raises(TypeError, match="must be a networkx graph"):
        from_networkx([(0, 1)])
    with pytest.raises(ValueError, match="has no nodes"):
        from_networkx(nx.Graph())
    G = nx.Graph()
    G.add_nodes_from(range(3))
    with pytest.raises(ValueError, match="has no edges"):
        from_networkx(G)


def test_batching():
    graphs = [from_networkx(nx.path_graph(n), goal=0) for n in (3, 5, 4)]
    batch = Batch.from_data_list(graphs)
    assert batch.num_nodes == 12
    assert shortest_path_distances(batch).tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3]


# ------------------------------------------------------------------ to_networkx, round trips
def assert_same_graph(H: nx.DiGraph, G: nx.DiGraph, default_weight: float = 1.0):
    assert list(H.nodes) == list(G.nodes)
    assert set(H.edges) == set(G.edges)
    for u, v in G.edges:
        assert H[u][v]["weight"] == G[u][v].get("weight", default_weight)
        assert H[u][v]["move"] is True
    for node, attrs in G.nodes(data=True):
        if "pos" in attrs:
            assert H.nodes[node]["pos"] == tuple(float(c) for c in attrs["pos"])


@pytest.mark.parametrize("directed", [True, False])
def test_round_trip_networkx_to_data_to_networkx(directed):
    rng = np.random.default_rng(0)
    G = nx.gnp_random_graph(25, 0.15, seed=1, directed=directed)
    for u, v in G.edges:
        G.edges[u, v]["weight"] = float(rng.integers(1, 9)) / 4  # exact in float32
    for node in G:
        G.nodes[node]["pos"] = tuple(float(c) for c in rng.integers(0, 10, size=2))
    data = from_networkx(G, goal=[3, 4])
    H = to_networkx(data, moves_only=True)
    assert_same_graph(H, G if directed else G.to_directed())
    assert [n for n, g in H.nodes(data="goal") if g] == [3, 4]
    full = to_networkx(data)
    assert full.number_of_edges() == H.number_of_edges() + G.number_of_nodes()
    assert all(not full[n][n]["move"] and full[n][n]["weight"] == 0.0 for n in G)


def test_round_trip_data_to_networkx_to_data():
    G = weighted_digraph()
    nx.set_node_attributes(G, {"b": True}, "goal")
    data = from_networkx(G)
    again = from_networkx(to_networkx(data))  # goal read back from the node attribute
    for name in ("edge_index", "edge_weight", "move", "goal", "x", "pos", "edge_attr"):
        assert torch.equal(getattr(again, name), getattr(data, name)), name
    assert again.node_keys == data.node_keys


def test_grid_graph_to_networkx_and_back():
    rng = np.random.default_rng(5)
    maze = (rng.random((8, 9)) > 0.3).astype(int)
    goal = int(np.flatnonzero(maze)[0])
    data = gvin.from_grid(maze, goal, connectivity=8)
    H = to_networkx(data)
    assert H.number_of_nodes() == data.num_nodes and H.number_of_edges() == data.num_edges
    s, t = data.edge_index[:, 7].tolist()
    assert H[s][t]["edge_type"] == int(data.edge_type[7])
    assert H[s][t]["move"] == bool(data.move[7])
    moves = to_networkx(data, moves_only=True)
    assert moves.number_of_edges() == int(data.move.sum())
    back = from_networkx(moves, self_loops=False, dtype=torch.float64)
    expected = shortest_path_distances(data)
    assert torch.equal(shortest_path_distances(back), expected)
    assert torch.equal(shortest_path_distances(back, "euclidean"),
                       shortest_path_distances(data, "euclidean"))


def test_to_networkx_of_a_batch_uses_integer_labels():
    graphs = [from_networkx(nx.path_graph(n), goal=0) for n in (3, 4)]
    H = to_networkx(Batch.from_data_list(graphs), moves_only=True)
    assert list(H.nodes) == list(range(7))
    assert sorted(H.edges) == [(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3), (4, 5), (5, 4),
                               (5, 6), (6, 5)]
    assert [g for _, g in H.nodes(data="goal")] == [True, False, False, True, False, False, False]


def test_to_networkx_without_optional_fields():
    data = from_networkx(nx.path_graph(3), goal=0)
    for name in ("move", "edge_weight", "pos", "goal"):
        if name in data:
            del data[name]
    H = to_networkx(data, use_node_keys=False)
    assert H[0][1] == {"move": True, "weight": 1.0}
    assert H[1][1] == {"move": False, "weight": 1.0}
    assert dict(H.nodes(data=True))[0] == {}
