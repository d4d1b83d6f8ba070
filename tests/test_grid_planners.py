"""Grid expert labels (gvin.planners.grid) against graph planners and a plain BFS."""
from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

import gvin
from gvin.planners.grid import (
    GPPN_ACTIONS_4,
    GPPN_ACTIONS_8,
    GPPN_NEWS_ACTIONS,
    grid_distances,
    grid_labels,
    neighbour_table,
    optimal_action_maps,
)

shortest_paths = pytest.importorskip(
    "gvin.planners.shortest_paths", reason="graph planners (gvin.planners.shortest_paths) missing"
)


def random_grids(rng, num, shape, density=0.3):
    free = rng.random((num,) + shape) >= density
    flat = free.reshape(num, -1)
    flat[:, 0] = True  # at least one free cell
    goals = np.array([rng.choice(np.flatnonzero(row)) for row in flat])
    return free, goals


def bfs_reference(free, goal, moves, wrap=False):
    """Textbook queue BFS from the goal (moves are symmetric)."""
    shape = free.shape
    dist = np.full(shape, np.inf)
    start = np.unravel_index(goal, shape)
    dist[start] = 0
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for move in moves:
            nxt = np.add(cell, move)
            if wrap:
                nxt = nxt % shape
            elif (nxt < 0).any() or (nxt >= shape).any():
                continue
            nxt = tuple(int(i) for i in nxt)
            if free[nxt] and dist[nxt] == np.inf:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist


CASES = [
    ((7, 9), 4, False),
    ((7, 9), 8, False),
    ((5, 4, 6), 6, False),
    ((5, 4, 6), 18, False),
    ((4, 5, 3), 26, False),
    ((6, 7), 4, True),
    ((6, 5), 8, True),
    ((3, 4, 5), 6, True),
]


@pytest.mark.parametrize("shape,connectivity,wrap", CASES)
def test_distances_match_graph_dijkstra_and_queue_bfs(shape, connectivity, wrap):
    rng = np.random.default_rng(len(shape) * 100 + connectivity + wrap)
    free, goals = random_grids(rng, 6, shape)
    dist = grid_distances(free, goals, connectivity, wrap)
    assert dist.shape == free.shape and dist.dtype == np.float64
    moves = gvin.move_offsets(len(shape), connectivity).numpy()
    for i in range(len(free)):
        graph = gvin.from_grid(free[i], int(goals[i]), connectivity=connectivity, wrap=wrap)
        expected = shortest_paths.shortest_path_distances(graph).numpy().reshape(shape)
        np.testing.assert_array_equal(dist[i], expected)
        np.testing.assert_array_equal(dist[i], bfs_reference(free[i], goals[i], moves, wrap))
    assert np.isinf(dist[~free]).all()
    assert (dist.reshape(len(free), -1)[np.arange(len(free)), goals] == 0).all()


@pytest.mark.parametrize("shape,connectivity,wrap", CASES)
def test_action_maps_match_graph_optimal_edges(shape, connectivity, wrap):
    rng = np.random.default_rng(7 + connectivity + wrap)
    free, goals = random_grids(rng, 5, shape, density=0.25)
    moves = gvin.move_offsets(len(shape), connectivity).numpy()
    maps = optimal_action_maps(free, goals, connectivity, wrap=wrap)
    assert maps.shape == (len(free), len(moves)) + shape and maps.dtype == bool
    stencil = gvin.grid_stencil(len(shape), connectivity).numpy()
    slot_to_move = np.array([
        np.flatnonzero((moves == offset).all(1))[0] if (moves == offset).all(1).any() else -1
        for offset in stencil
    ])
    for i in range(len(free)):
        graph = gvin.from_grid(free[i], int(goals[i]), connectivity=connectivity, wrap=wrap)
        optimal = shortest_paths.optimal_edges(graph).numpy()
        src = graph.edge_index[0].numpy()
        action = slot_to_move[graph.edge_type.numpy()]
        expected = np.zeros((len(moves), free[i].size), dtype=bool)
        expected[action[optimal], src[optimal]] = True
        np.testing.assert_array_equal(maps[i].reshape(len(moves), -1), expected)
        assert not (action[optimal] < 0).any()


def test_multi_goal_mask_single_grid_and_unreachable():
    free = np.array(
        [
            [1, 1, 1, 0, 1],
            [1, 0, 1, 0, 1],
            [1, 1, 1, 0, 1],
        ],
        dtype=bool,
    )
    goal = np.zeros_like(free)
    goal[0, 0] = goal[2, 2] = True
    dist = grid_distances(free, goal)
    expected = np.array(
        [
            [0, 1, 2, np.inf, np.inf],
            [1, np.inf, 1, np.inf, np.inf],
            [2, 1, 0, np.inf, np.inf],
        ]
    )
    np.testing.assert_array_equal(dist, expected)
    maps = optimal_action_maps(free, goal)  # moves: up, left, right, down
    assert maps.shape == (4, 3, 5)
    assert maps[:, 0, 2].tolist() == [False, True, False, True]  # tie: left or down
    assert not maps[:, 0, 0].any() and not maps[:, 2, 2].any()  # goals
    assert not maps[..., 4].any()  # unreachable column
    assert not maps[:, 1, 1].any()  # wall


def test_single_grid_equals_batch_and_3d_single_needs_ndim():
    rng = np.random.default_rng(3)
    free, goals = random_grids(rng, 4, (6, 6))
    batch = grid_distances(free, goals)
    for i in range(4):
        np.testing.assert_array_equal(grid_distances(free[i], int(goals[i])), batch[i])
    cube, goal3 = random_grids(rng, 1, (4, 5, 6))
    single = grid_distances(cube[0], int(goal3[0]), ndim=3)
    assert single.shape == (4, 5, 6)
    np.testing.assert_array_equal(single, grid_distances(cube, goal3)[0])
    # rank 3 without ndim means a batch of 2-D grids
    first_free = np.array([np.flatnonzero(c)[0] for c in cube[0].reshape(4, -1)])
    assert grid_distances(cube[0], first_free).shape == (4, 5, 6)


def test_torch_inputs_and_precomputed_dist():
    rng = np.random.default_rng(4)
    free, goals = random_grids(rng, 3, (8, 8))
    dist, maps = grid_labels(free, goals, 8, GPPN_ACTIONS_8)
    from_torch = grid_distances(torch.from_numpy(free), torch.from_numpy(goals), 8)
    np.testing.assert_array_equal(from_torch, dist)
    np.testing.assert_array_equal(
        optimal_action_maps(free, None, 8, GPPN_ACTIONS_8, dist=torch.from_numpy(dist)), maps
    )
    np.testing.assert_array_equal(optimal_action_maps(free, goals, 8, GPPN_ACTIONS_8), maps)
    # non-integer distances take the float path: shift every non-goal distance by 0.5,
    # then only moves into the goal stop being optimal
    shifted = np.where(np.isfinite(dist) & (dist > 0), dist + 0.5, dist)
    expected = maps & (dist != 1)[:, None]
    np.testing.assert_array_equal(
        optimal_action_maps(
            free.astype(np.float32), connectivity=8, actions=GPPN_ACTIONS_8, dist=shifted
        ),
        expected,
    )


def test_action_orders():
    assert GPPN_ACTIONS_4.tolist() == [[-1, 0], [0, -1], [1, 0], [0, 1]]
    assert GPPN_NEWS_ACTIONS.tolist() == [[-1, 0], [0, 1], [0, -1], [1, 0]]
    assert sorted(map(tuple, GPPN_ACTIONS_8.tolist())) == sorted(
        map(tuple, gvin.move_offsets(2, 8).tolist())
    )
    with pytest.raises(ValueError):
        GPPN_ACTIONS_4[0, 0] = 5  # read-only constant
    rng = np.random.default_rng(5)
    free, goals = random_grids(rng, 3, (7, 7))
    default = optimal_action_maps(free, goals)  # row-major: up, left, right, down
    gppn = optimal_action_maps(free, goals, actions=GPPN_ACTIONS_4)
    np.testing.assert_array_equal(gppn, default[:, [0, 1, 3, 2]])


def test_neighbour_table_out_of_bounds_is_self():
    table = neighbour_table((2, 3), np.array([[-1, 0], [0, 1]]))
    assert table.tolist() == [[0, 1], [1, 2], [2, 2], [0, 4], [1, 5], [2, 5]]
    wrapped = neighbour_table((3, 3), np.array([[-1, 0]]), wrap=True)
    assert wrapped[:3, 0].tolist() == [6, 7, 8]


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda f, g: grid_distances(f, np.array([0, 1])), "on a wall"),
        (lambda f, g: grid_distances(f, np.array([1, 99])), "out of range"),
        (lambda f, g: grid_distances(f, np.zeros_like(f)), "marks no cell"),
        (lambda f, g: grid_distances(f, g.astype(np.float64)), "integer flat cell indices"),
        (lambda f, g: grid_distances(f * 2.0, g), "binary"),
        (lambda f, g: grid_distances(f[None, None], g), "rank"),
        (lambda f, g: grid_distances(f, g, connectivity=5), "connectivity"),
        (lambda f, g: grid_distances(f, g, ndim=4), "ndim"),
        (lambda f, g: grid_distances(f[:, :2], g, wrap=True), "wrap"),
        (lambda f, g: optimal_action_maps(f, g, actions=[[1, 1]]), "not a move"),
        (lambda f, g: optimal_action_maps(f, g, actions=[[1, 0], [1, 0]]), "repeat"),
        (lambda f, g: optimal_action_maps(f, g, actions=[1, 0]), "offset array"),
        (lambda f, g: optimal_action_maps(f), "goal or precomputed dist"),
        (lambda f, g: optimal_action_maps(f, dist=np.zeros((2, 3))), "shape of free"),
        (lambda f, g: optimal_action_maps(f, dist=np.full(f.shape, np.nan)), "NaN"),
    ],
)
def test_bad_input(call, match):
    free = np.ones((2, 4, 4), dtype=bool)
    free[:, 0, 0] = False
    goals = np.array([1, 2])
    with pytest.raises(ValueError, match=match):
        call(free, goals)


def test_bad_types():
    with pytest.raises(TypeError):
        grid_distances("maze", 0)
    with pytest.raises(TypeError):
        grid_distances(np.array([["a", "b"], ["c", "d"]]), 0)
