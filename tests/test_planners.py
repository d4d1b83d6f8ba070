"""Exact planners: Dijkstra distances, exact VI, optimal edges, shortest paths."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

import gvin
from gvin.graphs.networkx import from_networkx
from gvin.planners import (
    ValueIterationResult,
    optimal_edges,
    shortest_path,
    shortest_path_distances,
    value_iteration,
)


# --------------------------------------------------------------------------- helpers
def random_maze(seed: int, shape: tuple[int, ...], wall_prob: float = 0.3):
    """A random 0/1 maze (1 = free) and a free goal cell (flat index)."""
    rng = np.random.default_rng(seed)
    maze = (rng.random(shape) >= wall_prob).astype(np.int64)
    goal = int(rng.choice(np.flatnonzero(maze)))
    return maze, goal


def move_costs(data: Data, weight=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, cost) of the moves, computed independently of gvin.planners."""
    src, dst = data.edge_index.numpy()
    move = data.move.numpy() if "move" in data else src != dst
    if weight == "euclidean":
        cost = np.linalg.norm(data.edge_attr.double().numpy(), axis=1)
    elif weight is None and "edge_weight" in data:
        cost = data.edge_weight.double().numpy()
    else:
        cost = np.ones(len(src))
    return src[move], dst[move], cost[move]


def nx_oracle(data: Data, weight=None) -> np.ndarray:
    """Distances to the goal(s) by networkx Dijkstra on the reversed move graph."""
    reverse = nx.DiGraph()
    reverse.add_nodes_from(range(data.num_nodes))
    for s, t, w in zip(*move_costs(data, weight)):
        s, t = int(s), int(t)
        if not reverse.has_edge(t, s) or reverse[t][s]["w"] > w:
            reverse.add_edge(t, s, w=float(w))
    goals = torch.nonzero(data.goal).flatten().tolist()
    if len(goals) == 1:
        lengths = nx.single_source_dijkstra_path_length(reverse, goals[0], weight="w")
    else:
        lengths = nx.multi_source_dijkstra_path_length(reverse, set(goals), weight="w")
    out = np.full(data.num_nodes, np.inf)
    out[list(lengths)] = list(lengths.values())
    return out


def assert_vi_matches_dijkstra(data: Data, weight=None) -> torch.Tensor:
    """VI == -Dijkstra exactly; Dijkstra == networkx; unreachable handled."""
    dist = shortest_path_distances(data, weight)
    assert dist.dtype == torch.float64 and dist.shape == (data.num_nodes,)
    np.testing.assert_allclose(dist.numpy(), nx_oracle(data, weight), rtol=1e-12)
    result = value_iteration(data, weight=weight)
    assert isinstance(result, ValueIterationResult)
    assert result.converged and result.residual == 0.0
    finite = torch.isfinite(dist)
    assert torch.equal(result.reachable, finite)
    assert torch.equal(result.values[finite], -dist[finite])
    assert bool((result.values[~finite] == -math.inf).all())
    return dist


# --------------------------------------------------------------------------- VI == Dijkstra
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "connectivity,weight", [(4, None), (8, None), (8, "euclidean")]
)
def test_vi_equals_dijkstra_2d(seed, connectivity, weight):
    maze, goal = random_maze(seed, (13, 17))
    data = gvin.from_grid(maze, goal, connectivity=connectivity)
    dist = assert_vi_matches_dijkstra(data, weight)
    walls = torch.from_numpy(maze.reshape(-1) == 0)
    assert bool(torch.isinf(dist[walls]).all())  # walls have no moves


@pytest.mark.parametrize("connectivity", [6, 26])
def test_vi_equals_dijkstra_3d(connectivity):
    for seed in range(2):
        maze, goal = random_maze(10 + seed, (6, 7, 5))
        data = gvin.from_grid(maze, goal, connectivity=connectivity)
        assert_vi_matches_dijkstra(data)
        assert_vi_matches_dijkstra(data, "euclidean")


@pytest.mark.parametrize("connectivity", [4, 8])
def test_vi_equals_dijkstra_torus(connectivity):
    maze, goal = random_maze(20, (9, 11), wall_prob=0.2)
    data = gvin.from_grid(maze, goal, connectivity=connectivity, wrap=True)
    dist = assert_vi_matches_dijkstra(data)
    flat = gvin.from_grid(maze, goal, connectivity=connectivity)
    flat_dist = shortest_path_distances(flat)
    assert bool((dist <= flat_dist).all())  # wrapping only adds moves
    assert bool((dist < flat_dist).any())  # ... and here it shortens some paths


def test_vi_ignores_non_move_edges_of_a_kernel_window():
    maze, goal = random_maze(30, (11, 11))
    windowed = gvin.from_grid(maze, goal, kernel_size=5)
    plain = gvin.from_grid(maze, goal)
    assert windowed.num_edges > plain.num_edges
    assert torch.equal(assert_vi_matches_dijkstra(windowed), shortest_path_distances(plain))


def test_vi_equals_dijkstra_free_only_3d_torus():
    maze, goal = random_maze(31, (5, 5, 6))
    data = gvin.from_grid(maze, goal, connectivity=26, wrap=True, free_only=True)
    assert_vi_matches_dijkstra(data)


@pytest.mark.parametrize("directed", [False, True])
def test_vi_equals_dijkstra_random_networkx(directed):
    rng = np.random.default_rng(3)
    unreachable = 0
    for seed in range(3):
        G = nx.gnp_random_graph(40, 0.05, seed=seed, directed=directed)
        for u, v in G.edges:
            G.edges[u, v]["weight"] = float(rng.uniform(0.1, 5.0))
        data = from_networkx(G, goal=0, dtype=torch.float64)
        dist = assert_vi_matches_dijkstra(data)
        # Independent oracle straight on G (no conversion involved).
        reverse = G.reverse() if directed else G
        lengths = nx.single_source_dijkstra_path_length(reverse, 0, weight="weight")
        expected = np.full(G.number_of_nodes(), np.inf)
        expected[list(lengths)] = list(lengths.values())
        np.testing.assert_allclose(dist.numpy(), expected, rtol=1e-12)
        unreachable += int(torch.isinf(dist).sum())
    assert unreachable > 0  # sparse random graphs leave some nodes unreachable


def test_batch_of_mixed_grids():
    graphs = []
    for seed, (shape, conn) in enumerate([((9, 9), 4), ((7, 12), 8), ((10, 6), 4), ((5, 5), 8)]):
        maze, goal = random_maze(40 + seed, shape)
        graphs.append(gvin.from_grid(maze, goal, connectivity=conn))
    batch = Batch.from_data_list(graphs)
    dist = assert_vi_matches_dijkstra(batch)
    expected = torch.cat([shortest_path_distances(g) for g in graphs])
    assert torch.equal(dist, expected)
    expected_optimal = torch.cat([optimal_edges(g) for g in graphs])
    assert torch.equal(optimal_edges(batch), expected_optimal)


def test_batch_of_3d_grids_with_several_goals():
    graphs = []
    for seed in range(3):
        maze, _ = random_maze(50 + seed, (4, 5, 6), wall_prob=0.25)
        goals = np.zeros(maze.shape, dtype=bool)
        free = np.argwhere(maze == 1)
        for cell in free[[0, len(free) // 2, -1]]:
            goals[tuple(cell)] = True
        graphs.append(gvin.from_grid(maze, goals, connectivity=26))
    batch = Batch.from_data_list(graphs)
    assert_vi_matches_dijkstra(batch, "euclidean")


# --------------------------------------------------------------------------- unreachable
def test_unreachable_nodes_and_nodes_without_out_edges():
    # 0 → 1 → 2 (goal); 3 is a sink with no out-edge; 4 → 3; 5 is isolated.
    G = nx.DiGraph([(0, 1), (1, 2), (4, 3)])
    G.add_node(5)
    for self_loops in (False, True):
        data = from_networkx(G, goal=2, self_loops=self_loops)
        dist = shortest_path_distances(data)
        assert dist.tolist() == [2.0, 1.0, 0.0, math.inf, math.inf, math.inf]
        result = value_iteration(data)
        assert result.values.tolist() == [-2.0, -1.0, 0.0, -math.inf, -math.inf, -math.inf]
        assert result.reachable.tolist() == [True, True, True, False, False, False]
        assert result.converged


def test_walled_off_region_is_unreachable():
    maze = np.ones((5, 7), dtype=int)
    maze[:, 3] = 0  # a wall column splits the grid
    data = gvin.from_grid(maze, (2, 1))
    dist = shortest_path_distances(data)
    grid = gvin.to_grid(data, dist)
    assert bool(torch.isinf(grid[:, 3:]).all()) and bool(torch.isfinite(grid[:, :3]).all())
    result = value_iteration(data, gamma=0.9)
    assert not bool(result.reachable.view(5, 7)[:, 3:].any())
    assert bool((result.values.view(5, 7)[:, 3:] == -math.inf).all())


# --------------------------------------------------------------------------- gamma, convergence
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_discounted_closed_form(gamma):
    maze, goal = random_maze(60, (12, 12))
    data = gvin.from_grid(maze, goal, connectivity=8)
    d = shortest_path_distances(data)
    result = value_iteration(data, gamma=gamma)
    assert result.converged
    finite = torch.isfinite(d)
    expected = -(1 - gamma ** d[finite]) / (1 - gamma)
    torch.testing.assert_close(result.values[finite], expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(result.reachable, finite)


def test_iteration_count_on_a_path():
    G = nx.path_graph(12, create_using=nx.DiGraph).reverse()  # i → i-1, goal 0
    data = from_networkx(G, goal=0)
    result = value_iteration(data)
    # 11 backups reach the far end; one more confirms the fixed point.
    assert result.converged and result.iterations == 12
    assert result.values.tolist() == [-float(i) for i in range(12)]


def test_not_converged_is_reported():
    maze, goal = random_maze(61, (15, 15), wall_prob=0.1)
    data = gvin.from_grid(maze, goal)
    result = value_iteration(data, max_iters=3)
    assert not result.converged and result.iterations == 3 and result.residual > 0
    assert result.values.shape == (data.num_nodes,)


def test_geometric_convergence_with_discount():
    # Looping over the cheap 1 ↔ 2 cycle postpones the expensive move 1 → 0:
    # with gamma < 1 the values only converge geometrically.
    G = nx.DiGraph()
    G.add_nodes_from([0, 1, 2])
    G.add_edge(1, 0, weight=10.0)
    G.add_edge(1, 2, weight=0.01)
    G.add_edge(2, 1, weight=0.01)
    data = from_networkx(G, goal=0, dtype=torch.float64)
    short = value_iteration(data, gamma=0.9, max_iters=8)
    assert not short.converged and 0 < short.residual < math.inf
    full = value_iteration(data, gamma=0.9)  # default max_iters accounts for the contraction
    assert full.converged and full.residual <= 1e-9
    torch.testing.assert_close(full.values[1:], torch.full((2,), -0.01 / 0.1, dtype=torch.float64))


@pytest.mark.parametrize("check_every", [2, 5, 16, 1000])
def test_batched_convergence_checks_give_the_first_converged_sweep(check_every):
    # Checking on the host every few sweeps (what an accelerator does) changes nothing reported.
    maze, goal = random_maze(62, (12, 12), wall_prob=0.2)
    data = gvin.from_grid(maze, goal, connectivity=8)
    for kwargs in (dict(), dict(gamma=0.9, weight="euclidean"), dict(max_iters=7), dict(max_iters=0)):
        every = value_iteration(data, check_every=1, **kwargs)
        batched = value_iteration(data, check_every=check_every, **kwargs)
        assert torch.equal(batched.values, every.values), kwargs
        assert (batched.iterations, batched.converged, batched.residual) == (
            every.iterations, every.converged, every.residual
        ), kwargs


def test_batched_checks_read_the_host_once_per_chunk(monkeypatch):
    reads = []
    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "nonzero", "cpu", "equal"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda *a, __o=original, __n=name, **k: reads.append(__n) or __o(*a, **k))
    monkeypatch.setattr(torch, "equal", torch.Tensor.equal)
    data = from_networkx(nx.path_graph(48, create_using=nx.DiGraph).reverse(), goal=0)  # 48 sweeps
    value_iteration(data, check_every=16)
    batched, reads[:] = len(reads), []
    value_iteration(data, check_every=1)
    assert 4 * batched < len(reads)  # 3 chunks against 48 checks


@pytest.mark.parametrize("check_every", [0, -1, 1.5, True])
def test_bad_check_every(check_every):
    with pytest.raises(ValueError, match="check_every"):
        value_iteration(small_graph(), check_every=check_every)


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.5, float("nan")])
def test_bad_gamma(gamma):
    data = gvin.from_grid(np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(data, gamma=gamma)


# --------------------------------------------------------------------------- optimal edges, paths
def test_optimal_edges_keep_ties_on_open_grid():
    maze = np.ones((3, 3))
    count = {}
    for conn, weight in [(4, None), (8, None), (8, "euclidean")]:
        data = gvin.from_grid(maze, (1, 1), connectivity=conn)
        optimal = optimal_edges(data, weight=weight)
        per_node = torch.bincount(data.edge_index[0][optimal], minlength=9).view(3, 3)
        count[conn, weight] = per_node.tolist()
    assert count[4, None] == [[2, 1, 2], [1, 0, 1], [2, 1, 2]]
    assert count[8, None] == [[1, 1, 1], [1, 0, 1], [1, 1, 1]]
    assert count[8, "euclidean"] == [[1, 1, 1], [1, 0, 1], [1, 1, 1]]
    # Goal in a corner, 8-connected, unit costs: cells at Chebyshev distance 2
    # off the diagonal have two optimal moves, the far corner only the diagonal.
    data = gvin.from_grid(maze, (0, 0), connectivity=8)
    per_node = torch.bincount(data.edge_index[0][optimal_edges(data)], minlength=9)
    assert per_node.view(3, 3).tolist() == [[0, 1, 2], [1, 1, 2], [2, 2, 1]]


@pytest.mark.parametrize("connectivity,weight", [(4, None), (8, None), (8, "euclidean")])
def test_optimal_edge_properties(connectivity, weight):
    maze, goal = random_maze(70, (14, 14))
    data = gvin.from_grid(maze, goal, connectivity=connectivity)
    dist = shortest_path_distances(data, weight)
    optimal = optimal_edges(data, weight=weight)
    assert optimal.dtype == torch.bool and optimal.shape == (data.num_edges,)
    src, dst = data.edge_index
    cost = torch.linalg.vector_norm(data.edge_attr.double(), dim=1) if weight else 1.0
    drop = dist[src] - dist[dst]
    assert bool(data.move[optimal].all())
    torch.testing.assert_close(drop[optimal], (cost * torch.ones_like(drop))[optimal])
    # Ties kept: every move with the exact drop is optimal.
    exact = data.move & torch.isfinite(dist[src]) & ~data.goal[src]
    exact &= torch.isclose(dist[src], cost + dist[dst], rtol=1e-9, atol=0)
    assert torch.equal(optimal, exact)
    has_optimal = torch.zeros(data.num_nodes, dtype=torch.bool)
    has_optimal[src[optimal]] = True
    needs = torch.isfinite(dist) & (dist > 0)
    assert torch.equal(has_optimal, needs)
    # Passing dist gives the same answer; float32 labels are handled too.
    assert torch.equal(optimal_edges(data, dist, weight), optimal)
    assert torch.equal(optimal_edges(data, dist.float(), weight), optimal)


@pytest.mark.parametrize("connectivity,weight", [(4, None), (8, "euclidean")])
def test_shortest_path(connectivity, weight):
    maze, goal = random_maze(80, (12, 16))
    data = gvin.from_grid(maze, goal, connectivity=connectivity)
    dist = shortest_path_distances(data, weight)
    costs = {}
    for s, t, w in zip(*move_costs(data, weight)):
        costs[int(s), int(t)] = float(w)
    sources = torch.nonzero(torch.isfinite(dist)).flatten().tolist()
    for source in sources[::5]:
        path = shortest_path(data, source, weight=weight)
        assert path[0] == source and bool(data.goal[path[-1]])
        length = sum(costs[s, t] for s, t in zip(path[:-1], path[1:]))  # KeyError: not a move
        assert length == pytest.approx(float(dist[source]), rel=1e-12)
        assert shortest_path(data, source, dist=dist, weight=weight) == path
    assert shortest_path(data, goal) == [goal]


def test_shortest_path_tie_break_and_zero_cost_cycle():
    data = gvin.from_grid(np.ones((3, 3)), (0, 0))
    # From (2, 2): lowest edge position among the moves, (1, 2) before (2, 1).
    assert shortest_path(data, 8) == [8, 5, 2, 1, 0]
    G = nx.DiGraph()
    G.add_edge(1, 2, weight=0.0)
    G.add_edge(2, 1, weight=0.0)
    G.add_edge(2, 0, weight=1.0)
    G.add_edge(3, 1, weight=1.0)
    data = from_networkx(G, goal=0)
    optimal = optimal_edges(data)
    src, dst = data.edge_index
    keys = data.node_keys
    pairs = {(keys[s], keys[t]) for s, t in zip(src[optimal].tolist(), dst[optimal].tolist())}
    assert pairs == {(1, 2), (2, 1), (2, 0), (3, 1)}  # the zero-cost cycle is all optimal
    index = {key: i for i, key in enumerate(data.node_keys)}
    path = shortest_path(data, index[3])
    assert [data.node_keys[i] for i in path] == [3, 1, 2, 0]
    assert value_iteration(data).values.tolist() == (-shortest_path_distances(data)).tolist()
    # Here the lowest-position optimal move of "b" goes back into the zero-cost
    # cycle ("a" sorts before "goal"); the path must still reach the goal.
    G = nx.DiGraph()
    G.add_nodes_from(["a", "b", "goal", "start"])
    G.add_weighted_edges_from(
        [("a", "b", 0.0), ("b", "a", 0.0), ("b", "goal", 1.0), ("start", "a", 1.0)]
    )
    data = from_networkx(G, goal="goal")
    path = shortest_path(data, data.node_keys.index("start"))
    assert [data.node_keys[i] for i in path] == ["start", "a", "b", "goal"]


def test_shortest_path_errors():
    maze = np.ones((3, 5), dtype=int)
    maze[:, 2] = 0
    data = gvin.from_grid(maze, 0)
    with pytest.raises(ValueError, match="node 4 cannot reach the goal"):
        shortest_path(data, 4)
    with pytest.raises(ValueError, match="node 2 cannot reach the goal"):
        shortest_path(data, 2)  # a wall
    with pytest.raises(ValueError, match="out of range"):
        shortest_path(data, 15)
    with pytest.raises(ValueError, match="out of range"):
        shortest_path(data, -1)
    with pytest.raises(TypeError, match="integer"):
        shortest_path(data, 1.5)
    with pytest.raises(ValueError, match="dist must have shape"):
        shortest_path(data, 0, dist=torch.zeros(3))


# --------------------------------------------------------------------------- bad inputs
def small_graph() -> Data:
    return gvin.from_grid(np.ones((3, 4)), (0, 0))


ALL_PLANNERS = [
    pytest.param(lambda d, **kw: shortest_path_distances(d, **kw), id="dijkstra"),
    pytest.param(lambda d, **kw: value_iteration(d, **kw), id="vi"),
    pytest.param(lambda d, **kw: optimal_edges(d, **kw), id="optimal"),
    pytest.param(lambda d, **kw: shortest_path(d, 5, **kw), id="path"),
]


@pytest.mark.parametrize("planner", ALL_PLANNERS)
def test_missing_or_empty_goal(planner):
    data = small_graph()
    del data.goal
    with pytest.raises(ValueError, match="no goal"):
        planner(data)
    data.goal = torch.zeros(data.num_nodes, dtype=torch.bool)
    with pytest.raises(ValueError, match="goal is empty"):
        planner(data)
    data.goal = torch.zeros(data.num_nodes + 1, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"goal mask must have shape \[N\] = \[12\]"):
        planner(data)
    data.goal = torch.zeros(data.num_nodes)
    with pytest.raises(ValueError, match="goal must be an \\[N\\] bool mask or integer"):
        planner(data)
    data.goal = torch.tensor([40])
    with pytest.raises(ValueError, match="goal index out of range"):
        planner(data)
    data.goal = torch.zeros(data.num_nodes, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8, which is ambiguous"):
        planner(data)


def test_goal_as_indices_and_override():
    data = small_graph()
    data.goal = torch.tensor([0])
    mask_dist = shortest_path_distances(small_graph())
    assert torch.equal(shortest_path_distances(data), mask_dist)
    assert torch.equal(value_iteration(data).values, -mask_dist)
    other = shortest_path_distances(small_graph(), goal=11)
    assert other[11] == 0 and other[0] == mask_dist[11]


@pytest.mark.parametrize("planner", ALL_PLANNERS[:3])
def test_batch_graph_without_goal(planner):
    with_goal = small_graph()
    without = small_graph()
    without.goal = torch.zeros(without.num_nodes, dtype=torch.bool)
    batch = Batch.from_data_list([with_goal, with_goal, without, with_goal])
    with pytest.raises(ValueError, match=r"graph\(s\) 2 of the batch have no goal"):
        planner(batch)


@pytest.mark.parametrize("planner", ALL_PLANNERS)
@pytest.mark.parametrize(
    "value,match", [(-1.0, "negative cost"), (float("nan"), "NaN"), (float("inf"), "infinite")]
)
def test_bad_weights(planner, value, match):
    data = small_graph()
    weight = torch.ones(data.num_edges, dtype=torch.float64)
    weight[torch.nonzero(data.move)[3]] = value
    with pytest.raises(ValueError, match=match):
        planner(data, weight=weight)
    data.edge_weight = weight.float()
    with pytest.raises(ValueError, match="data.edge_weight contains"):
        planner(data)


def test_bad_weights_on_non_moves_are_ignored():
    data = small_graph()
    weight = torch.ones(data.num_edges)
    weight[~data.move] = float("nan")  # self-loops carry no cost
    assert torch.equal(shortest_path_distances(data, weight), shortest_path_distances(data))


@pytest.mark.parametrize("planner", ALL_PLANNERS)
def test_weight_shape_and_kind(planner):
    data = small_graph()
    with pytest.raises(ValueError, match=r"weight must have shape \[E\]"):
        planner(data, weight=torch.ones(data.num_edges + 1))
    with pytest.raises(ValueError, match=r"weight must have shape \[E\]"):
        planner(data, weight=torch.ones(data.num_edges, 1))
    with pytest.raises(ValueError, match="unknown weight 'manhattan'"):
        planner(data, weight="manhattan")
    del data.edge_attr
    with pytest.raises(ValueError, match="euclidean' needs data.edge_attr"):
        planner(data, weight="euclidean")


@pytest.mark.parametrize("planner", ALL_PLANNERS)
def test_degenerate_graphs(planner):
    empty = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=0)
    with pytest.raises(ValueError, match="no nodes"):
        planner(empty)
    no_edges = Data(
        edge_index=torch.empty(2, 0, dtype=torch.long),
        goal=torch.tensor([True, False]),
        num_nodes=2,
    )
    with pytest.raises(ValueError, match="no edges"):
        planner(no_edges)
    one_cell = gvin.from_grid(np.array([[1, 0], [0, 0]]), 0)  # only self-loops
    with pytest.raises(ValueError, match="no moves"):
        planner(one_cell)
    bad_move = small_graph()
    bad_move.move = bad_move.move[:-1]
    with pytest.raises(ValueError, match=r"move must have shape \[E\]"):
        planner(bad_move)


def test_moves_default_to_non_self_loops():
    data = small_graph()
    del data.move
    assert torch.equal(shortest_path_distances(data), shortest_path_distances(small_graph()))


def test_bad_tol_and_max_iters():
    with pytest.raises(ValueError, match="tol"):
        value_iteration(small_graph(), tol=-1.0)
    with pytest.raises(ValueError, match="max_iters"):
        value_iteration(small_graph(), max_iters=-1)


# --------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_value_iteration_on_cuda():
    graphs = []
    for seed in range(3):
        maze, goal = random_maze(90 + seed, (16, 16))
        graphs.append(gvin.from_grid(maze, goal, connectivity=8))
    batch = Batch.from_data_list(graphs)
    cpu = value_iteration(batch, weight="euclidean")
    gpu_batch = batch.to("cuda")
    gpu = value_iteration(gpu_batch, weight="euclidean")
    assert gpu.values.is_cuda and gpu.reachable.is_cuda
    assert gpu.converged and gpu.iterations == cpu.iterations
    assert torch.equal(gpu.values.cpu(), cpu.values)
    dist = shortest_path_distances(gpu_batch, "euclidean")
    assert dist.is_cuda and torch.equal(dist.cpu(), -cpu.values)
    assert optimal_edges(gpu_batch, weight="euclidean").is_cuda
    discounted = value_iteration(gpu_batch, gamma=0.9)
    torch.testing.assert_close(discounted.values.cpu(), value_iteration(batch, gamma=0.9).values)
    every = value_iteration(gpu_batch, weight="euclidean", check_every=1)  # the default checks every 16 sweeps
    assert (every.iterations, every.residual) == (gpu.iterations, gpu.residual)
    assert torch.equal(every.values, gpu.values)
