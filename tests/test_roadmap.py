"""Probabilistic roadmaps (gvin.graphs.roadmap)."""
import networkx as nx
import numpy as np
import pytest
import torch

import gvin
from gvin.graphs.roadmap import probabilistic_roadmap
from gvin.models import DTVIN

OBSTACLES = [
    gvin.Circle((0.0, 0.0), 0.6),
    gvin.Box((-1.5, 0.8), (1.2, 1.1)),
    gvin.Box((0.9, -1.6), (1.2, -0.3)),
]


def _inside(obstacle, points):
    if isinstance(obstacle, gvin.Circle):
        return np.linalg.norm(points - np.asarray(obstacle.center), axis=-1) <= obstacle.radius
    return ((points >= np.asarray(obstacle.min_xy)) & (points <= np.asarray(obstacle.max_xy))).all(-1)


def _edges(data):
    return data.edge_index.numpy().T, data.pos.double().numpy()


@pytest.mark.parametrize("options", [{"k": 6}, {"radius": 0.6}])
def test_no_node_or_edge_touches_an_obstacle(options):
    data = probabilistic_roadmap(OBSTACLES, 300, rng=1, **options)
    edges, pos = _edges(data)
    t = np.linspace(0.0, 1.0, 201)[None, :, None]
    dense = pos[edges[:, 0]][:, None] + t * (pos[edges[:, 1]] - pos[edges[:, 0]])[:, None]  # [E, 201, 2]
    for obstacle in OBSTACLES:
        assert not _inside(obstacle, pos).any()
        assert not _inside(obstacle, dense).any()
    low, high = np.array(gvin.graphs.cspace.WORKSPACE[:2]), np.array(gvin.graphs.cspace.WORKSPACE[2:])
    assert ((pos >= low) & (pos <= high)).all()
    assert len(pos) == 300 and data.num_edges > 300
    # pruning really happened: an obstacle-free roadmap on the same samples has more edges
    free = probabilistic_roadmap([], 300, rng=1, **options)
    assert free.num_edges > data.num_edges


def test_fields_like_from_networkx():
    data = probabilistic_roadmap(OBSTACLES, 120, k=5, goal=(1.5, 1.5), rng=3)
    n, e = data.num_nodes, data.num_edges
    assert data.x.shape == (n, 1) and data.x.dtype == torch.float32
    assert data.pos.shape == (n, 2) and data.edge_attr.shape == (e, 2)
    assert data.edge_weight.shape == (e,) and data.move.shape == (e,) and data.move.all()
    assert data.goal.dtype == torch.bool and data.goal.sum() == 1
    assert torch.equal(data.x[:, 0].bool(), data.goal)
    src, dst = data.edge_index
    assert (src != dst).all()
    key = src * n + dst
    assert (key[1:] > key[:-1]).all()  # sorted by source then target, no duplicates
    torch.testing.assert_close(data.edge_attr, data.pos[dst] - data.pos[src])
    # costs are the segment lengths (float64 graph: exact up to rounding)
    exact = probabilistic_roadmap(OBSTACLES, 120, k=5, goal=(1.5, 1.5), rng=3, dtype=torch.float64)
    assert torch.equal(exact.edge_index, data.edge_index)
    edges, pos = _edges(exact)
    np.testing.assert_allclose(
        exact.edge_weight.numpy(), np.linalg.norm(pos[edges[:, 1]] - pos[edges[:, 0]], axis=1), rtol=1e-12
    )
    torch.testing.assert_close(data.edge_weight, exact.edge_weight.float())
    loops = probabilistic_roadmap(OBSTACLES, 120, k=5, rng=3, self_loops=True)
    assert (loops.edge_index[0] == loops.edge_index[1]).sum() == n
    assert (~loops.move).sum() == n and (loops.edge_weight[~loops.move] == 0).all()


def test_knn_degree_and_symmetry():
    k = 7
    data = probabilistic_roadmap([], 200, k=k, rng=4)
    src, dst = data.edge_index.numpy()
    assert (np.bincount(src, minlength=200) >= k).all()
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert all((t, s) in pairs for s, t in pairs)
    # each node's k nearest neighbours are among its out-neighbours
    pos = data.pos.double().numpy()
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    assert all((i, int(j)) in pairs for i in range(200) for j in nearest[i])
    # with obstacles the graph stays symmetric
    blocked = probabilistic_roadmap(OBSTACLES, 200, k=k, rng=4)
    s, t = blocked.edge_index.numpy()
    pairs = set(zip(s.tolist(), t.tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    # k >= num_samples: complete graph
    small = probabilistic_roadmap([], 5, k=50, rng=0)
    assert small.num_edges == 5 * 4


def test_radius_connects_exactly_the_close_pairs():
    data = probabilistic_roadmap([], 150, radius=0.5, rng=6)
    pos = data.pos.double().numpy()
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    expected = (d <= 0.5) & ~np.eye(150, dtype=bool)
    got = np.zeros_like(expected)
    got[tuple(data.edge_index.numpy())] = True
    # float32 positions: ignore pairs within rounding of the radius
    close = np.abs(d - 0.5) < 1e-5
    assert (got == expected)[~close].all()


def test_deterministic_per_seed():
    a = probabilistic_roadmap(OBSTACLES, 100, rng=11, goal=(0.0, 1.8))
    b = probabilistic_roadmap(OBSTACLES, 100, rng=11, goal=(0.0, 1.8))
    c = probabilistic_roadmap(OBSTACLES, 100, rng=12, goal=(0.0, 1.8))
    for name in ("x", "pos", "edge_index", "edge_weight", "edge_attr", "move", "goal"):
        assert torch.equal(a[name], b[name])
    assert not torch.equal(a.pos, c.pos)
    d = probabilistic_roadmap(OBSTACLES, 100, rng=np.random.default_rng(11), goal=(0.0, 1.8))
    assert torch.equal(a.pos, d.pos)


def test_goal_and_added_points():
    goal_point = np.array([1.7, -1.7])
    data = probabilistic_roadmap(OBSTACLES, 80, rng=2, goal=tuple(goal_point))
    pos = data.pos.double().numpy()
    nearest = np.argmin(np.linalg.norm(pos - goal_point, axis=1))
    assert data.goal.nonzero().flatten().tolist() == [nearest]
    assert probabilistic_roadmap(OBSTACLES, 80, rng=2, goal=5).goal.nonzero().flatten().tolist() == [5]
    assert not probabilistic_roadmap(OBSTACLES, 80, rng=2).goal.any()
    # add: start and goal become nodes 0 and 1, the samples follow
    start, target = (-1.8, -1.8), (1.8, 1.8)
    added = probabilistic_roadmap(OBSTACLES, 80, rng=2, add=[start, target], goal=target)
    assert added.num_nodes == 82
    np.testing.assert_allclose(added.pos[:2].numpy(), [start, target])
    assert added.goal.nonzero().flatten().tolist() == [1]
    np.testing.assert_allclose(added.pos[2:].numpy(), data.pos.numpy())  # same samples for the seed
    assert np.isfinite(gvin.shortest_path_distances(added)[0].item())


def test_shortest_paths_match_networkx():
    data = probabilistic_roadmap(OBSTACLES, 200, k=6, rng=5, goal=(1.8, 1.8), dtype=torch.float64)
    dist = gvin.shortest_path_distances(data).numpy()
    G = nx.DiGraph()
    G.add_nodes_from(range(data.num_nodes))
    for (s, t), w in zip(data.edge_index.numpy().T.tolist(), data.edge_weight.tolist()):
        G.add_edge(s, t, weight=w)
    goal = int(data.goal.nonzero())
    reference = nx.single_source_dijkstra_path_length(G.reverse(copy=True), goal, weight="weight")
    expected = np.full(data.num_nodes, np.inf)
    for node, value in reference.items():
        expected[node] = value
    np.testing.assert_allclose(dist, expected, rtol=1e-12)
    assert np.isfinite(dist).mean() > 0.9


def test_geometric_dtvin_runs():
    data = probabilistic_roadmap(OBSTACLES, 60, k=5, rng=7, goal=(1.8, 1.8))
    torch.manual_seed(0)
    model = DTVIN(in_channels=1, edge_dim=2, num_iterations=5)
    out = model(data)
    assert out.log_probs.shape == (data.num_edges,)
    assert torch.isfinite(out.v).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="num_samples"):
        probabilistic_roadmap([], 1)
    with pytest.raises(ValueError, match="num_samples"):
        probabilistic_roadmap([], 10.0)
    with pytest.raises(ValueError, match="k must"):
        probabilistic_roadmap([], 10, k=0)
    with pytest.raises(ValueError, match="not both"):
        probabilistic_roadmap([], 10, k=3, radius=0.5)
    with pytest.raises(ValueError, match="radius"):
        probabilistic_roadmap([], 10, radius=0.0)
    with pytest.raises(ValueError, match="workspace"):
        probabilistic_roadmap([], 10, workspace=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="no free space"):
        probabilistic_roadmap([gvin.Box((-3, -3), (3, 3))], 10)
    with pytest.raises(ValueError, match="no free space"):  # a sliver of free space: bounded tries too
        probabilistic_roadmap([gvin.Box((-2, -2), (2, 1.99999))], 1000)
    with pytest.raises(ValueError, match="goal node"):
        probabilistic_roadmap([], 10, goal=10)
    with pytest.raises(ValueError, match="bool"):
        probabilistic_roadmap([], 10, goal=True)
    with pytest.raises(ValueError, match="inside an obstacle"):
        probabilistic_roadmap(OBSTACLES, 10, add=[(0.0, 0.0)])
    with pytest.raises(ValueError, match="list of"):
        probabilistic_roadmap([], 10, add=(0.5, 0.5))
    with pytest.raises(TypeError):
        probabilistic_roadmap(["wall"], 10)
    with pytest.raises(TypeError, match="rng"):
        probabilistic_roadmap([], 10, rng=1.5)


def test_all_edges_pruned_is_an_error():
    # two samples, a full-height wall: on opposite sides their only edge is pruned
    wall = gvin.Box((-0.1, -3.0), (0.1, 3.0))
    outcomes = []
    for seed in range(20):
        try:
            data = probabilistic_roadmap([wall], 2, k=1, rng=seed, workspace=(-1, -1, 1, 1))
            assert data.num_edges == 2
            outcomes.append(True)
        except ValueError as error:
            assert "no collision-free edge" in str(error)
            outcomes.append(False)
    assert any(outcomes) and not all(outcomes)


def test_exported():
    assert gvin.probabilistic_roadmap is probabilistic_roadmap
    assert "probabilistic_roadmap" in gvin.__all__ and "probabilistic_roadmap" in gvin.graphs.__all__


def test_z_order_numbers_near_samples_nearby_and_keeps_the_graph():
    obstacles = [gvin.Circle((0.0, 0.0), 0.5)]
    z = gvin.probabilistic_roadmap(obstacles, 400, k=6, goal=(1.5, 1.5), add=[(-1.8, -1.8)], rng=3)
    drawn = gvin.probabilistic_roadmap(obstacles, 400, k=6, goal=(1.5, 1.5), add=[(-1.8, -1.8)], rng=3,
                                       node_order="sampled")
    assert torch.equal(z.pos[0], drawn.pos[0])  # the add points stay first
    key = lambda data: sorted(map(tuple, data.pos.tolist()))
    assert key(z) == key(drawn)  # the same samples, renumbered
    assert sorted(gvin.shortest_path_distances(z).tolist()) == sorted(gvin.shortest_path_distances(drawn).tolist())
    gap = lambda data: (data.edge_index[0] - data.edge_index[1]).abs().float().mean()
    assert gap(z) < 0.5 * gap(drawn)  # neighbours are near in number
    with pytest.raises(ValueError, match="node_order"):
        gvin.probabilistic_roadmap(obstacles, 50, rng=0, node_order="hilbert")


def test_z_order_sorts_along_the_curve():
    from gvin.graphs.ordering import z_order

    points = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert z_order(points).tolist() == [1, 2, 3, 0]  # (0,0), (1,0), (0,1), (1,1): x is the low bit
    assert z_order(np.zeros((0, 2))).tolist() == []
    with pytest.raises(ValueError, match=r"\[M, 2\]"):
        z_order(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        z_order(np.array([[np.nan, 0.0], [1.0, 1.0]]))
