"""CSpaceDataset: 2-link-arm C-space tasks with exact labels and workspace images."""
import math

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import gvin
import gvin.train
from gvin.datasets.cspace import CSpaceDataset

SMALL = dict(size=12, counts=(6, 4, 4), seed=3)


def test_items_equal_from_cspace_and_labels_equal_recomputation():
    dataset = CSpaceDataset("train", **SMALL)
    assert len(dataset) == 6
    for index, data in enumerate(dataset):
        reference = gvin.from_cspace(dataset.arm, dataset.obstacles(index), 12, dataset.goal(index))
        for key in reference.keys():
            value, expected = data[key], reference[key]
            assert (torch.equal(value, expected) if torch.is_tensor(expected) else value == expected), key
        dist = gvin.shortest_path_distances(reference)
        assert data.dist.dtype == torch.float32 and torch.equal(data.dist, dist.to(torch.float32))
        assert torch.equal(data.optimal, gvin.optimal_edges(reference, dist))
        assert np.array_equal(dataset.free(index), ~gvin.cspace_occupancy(dataset.arm, dataset.obstacles(index), 12))


def test_goals_free_and_reachable():
    dataset = CSpaceDataset("valid", size=12, counts=(0, 20, 0), seed=1)
    for data in dataset:
        goal = int(data.goal.nonzero())
        assert data.goal.sum() == 1 and data.x[goal, 0] == 1 and data.x[goal, 1] == 1
        assert data.dist[goal] == 0
        assert int(torch.isfinite(data.dist).sum()) >= 2  # its component has another configuration
        assert bool(data.optimal.any())


def test_workspace_image_and_obstacles():
    dataset = CSpaceDataset("test", **SMALL, workspace_size=40)
    loader = DataLoader(dataset, batch_size=4)
    batch = next(iter(loader))
    assert batch.workspace.shape == (4, 40, 40) and batch.workspace.dtype == torch.bool
    for index in range(len(dataset)):
        data = dataset[index]
        image = gvin.workspace_occupancy(dataset.obstacles(index), 40, (-2.0, -2.0, 2.0, 2.0))
        assert data.workspace.shape == (1, 40, 40) and np.array_equal(data.workspace[0].numpy(), image)
        obstacles = dataset.obstacles(index)
        assert len(obstacles) <= 5 and all(isinstance(o, (gvin.Circle, gvin.Box)) for o in obstacles)
        assert data.obstacles.shape == (1, 5, 5) and int((data.obstacles[0, :, 0] >= 0).sum()) == len(obstacles)
    counts = {len(CSpaceDataset("train", size=6, counts=(40, 0, 0)).obstacles(i)) for i in range(40)}
    assert counts <= set(range(6)) and len(counts) > 2


def test_deterministic_and_prefix_stable():
    first, second = CSpaceDataset("train", **SMALL), CSpaceDataset("train", **SMALL)
    longer = CSpaceDataset("train", size=12, counts=(9, 0, 0), seed=3)
    for index in range(len(first)):
        a, b, c = first[index], second[index], longer[index]
        for key in ("x", "goal", "dist", "optimal", "workspace", "obstacles"):
            assert torch.equal(a[key], b[key]) and torch.equal(a[key], c[key])
    other = CSpaceDataset("train", size=12, counts=(6, 0, 0), seed=4)
    assert any(not torch.equal(first[i].x, other[i].x) for i in range(6))


def test_splits_differ():
    maps = {split: {(CSpaceDataset(split, **SMALL).free(i).tobytes(), CSpaceDataset(split, **SMALL).goal(i))
                    for i in range(4)} for split in ("train", "valid", "test")}
    assert not maps["train"] & maps["valid"] and not maps["train"] & maps["test"]
    assert not maps["valid"] & maps["test"]


def test_bins_36_and_connectivity_4():
    dataset = CSpaceDataset("train", size=36, counts=(2, 0, 0), connectivity=4)
    data = dataset[-1]
    reference = gvin.from_cspace(dataset.arm, dataset.obstacles(1), 36, dataset.goal(1), connectivity=4)
    assert torch.equal(data.edge_index, reference.edge_index) and torch.equal(data.move, reference.move)
    assert torch.equal(data.dist, gvin.shortest_path_distances(reference).float())


def test_trainer_one_epoch_and_evaluate():
    train = CSpaceDataset("train", **SMALL)
    test = CSpaceDataset("test", **SMALL)
    config = gvin.train.TrainConfig(
        model="dtvin",
        model_kwargs=dict(stencil=gvin.grid_stencil(2, 8).tolist(), num_iterations=10, hidden_channels=8),
        epochs=1, batch_size=4,
    )
    trainer = gvin.train.Trainer(config)
    trainer.fit(train)
    assert trainer.epoch == 1 and math.isfinite(trainer.history[-1]["loss"])
    metrics = gvin.train.evaluate(trainer.model, test, num_starts=2)
    for value in metrics.as_percent().values():
        assert 0.0 <= value <= 100.0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(split="dev"), ValueError, "split"),
    (dict(size=2), ValueError, "size"),
    (dict(size=18.0), ValueError, "size"),
    (dict(size=True), ValueError, "size"),
    (dict(counts=(-1, 0, 0)), ValueError, "count"),
    (dict(counts=5), TypeError, "counts"),
    (dict(arm="arm"), TypeError, "arm"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(connectivity=6), ValueError, "connectivity"),
    (dict(workspace_size=0), ValueError, "workspace_size"),
    (dict(num_obstacles=(3, 1)), ValueError, "num_obstacles"),
    (dict(num_obstacles=5), ValueError, "num_obstacles"),
    (dict(extent=(1, 1, 0, 0)), ValueError, "extent"),
    (dict(clearance=-1.0), ValueError, "clearance"),
    (dict(max_tries=0), ValueError, "max_tries"),
])
def test_bad_inputs(kwargs, error, match):
    kwargs = {"split": "train", "size": 6, "counts": (1, 0, 0), **kwargs}
    with pytest.raises(error, match=match):
        CSpaceDataset(**kwargs)


def test_bad_index_and_unplaceable_goal():
    dataset = CSpaceDataset("train", size=6, counts=(2, 0, 0))
    with pytest.raises(IndexError):
        dataset[2]
    with pytest.raises(TypeError):
        dataset[1.0]
    # a disc covering the whole reach around the base is impossible with clearance; a huge clearance
    # that cannot be kept raises from random_obstacles instead of looping forever
    with pytest.raises(ValueError):
        CSpaceDataset("train", size=6, counts=(1, 0, 0), num_obstacles=(1, 1), clearance=100.0)


def test_no_goal_raises_runtime_error(monkeypatch):
    import gvin.datasets.cspace as module
    monkeypatch.setattr(module, "cspace_occupancy", lambda arm, obstacles, bins: np.ones((bins, bins), dtype=bool))
    with pytest.raises(RuntimeError, match="no workspace"):
        CSpaceDataset("train", size=6, counts=(1, 0, 0), max_tries=3)


# -- end-effector goals (goal="point")

POINT = dict(size=12, counts=(6, 3, 3), seed=2, goal="point")


def test_point_goal_set_equals_from_cspace_and_labels_recomputed():
    dataset = CSpaceDataset("train", **POINT)
    several = 0
    for index, data in enumerate(dataset):
        point = data.goal_point[0]
        assert data.goal_point.shape == (1, 2) and data.goal_point.dtype == torch.float64
        assert dataset.goal_point(index) == tuple(point.tolist())
        reference = gvin.from_cspace(dataset.arm, dataset.obstacles(index), 12, goal_point=point,
                                     tolerance=dataset.tolerance)
        for key in reference.keys():
            value, expected = data[key], reference[key]
            assert (torch.equal(value, expected) if torch.is_tensor(expected) else value == expected), key
        mask = gvin.graphs.cspace.goal_point_mask(dataset.arm, point, 12, dataset.free(index),
                                                  tolerance=dataset.tolerance)
        assert np.array_equal(dataset.goal_mask(index), mask)
        dist = gvin.shortest_path_distances(reference)
        assert torch.equal(data.dist, dist.float()) and torch.equal(data.optimal, gvin.optimal_edges(reference, dist))
        assert data.x[:, 1].bool().equal(data.goal) and bool((data.dist[data.goal] == 0).all())
        # another free configuration moves into the goal set; the point is the effector of a free configuration
        assert int(torch.isfinite(data.dist).sum()) > int(data.goal.sum()) and bool(data.optimal.any())
        several += int(data.goal.sum()) > 1
    assert several  # goal sets of several bins occur (the two elbow branches at least)


def test_point_labels_equal_networkx_dijkstra_to_the_goal_set():
    import networkx as nx

    dataset = CSpaceDataset("valid", **POINT)
    data = max(dataset, key=lambda item: int(item.goal.sum()))
    assert int(data.goal.sum()) > 1
    src, dst = data.edge_index[:, data.move].tolist()
    graph = nx.DiGraph()
    graph.add_nodes_from(range(data.num_nodes))
    graph.add_edges_from(zip(dst, src))  # reversed moves: distances *to* the goal set
    goals = data.goal.nonzero().flatten().tolist()
    lengths = nx.multi_source_dijkstra_path_length(graph, goals)
    expected = torch.tensor([lengths.get(node, math.inf) for node in range(data.num_nodes)], dtype=torch.float32)
    assert torch.equal(data.dist, expected)
    source, target = data.edge_index
    optimal = data.move & ~data.goal[source] & torch.isfinite(expected[source]) \
        & (expected[source] == expected[target] + 1)
    assert torch.equal(data.optimal, optimal)


def test_default_goal_mode_keeps_todays_items():
    """The default draw, recomputed from from_cspace and the public draw functions."""
    dataset = CSpaceDataset("valid", size=12, counts=(0, 5, 0), seed=7)
    assert dataset.goal_mode == "angles" and dataset[0].keys() == CSpaceDataset("valid", size=12, counts=(0, 5, 0),
                                                                                 seed=7, goal="angles")[0].keys()
    moves = gvin.graphs.grid.move_offsets(2, 8).tolist()
    for index in range(5):
        rng = np.random.default_rng([7, 1, index, 0xC5FACE])
        while True:
            obstacles = gvin.random_obstacles(rng, int(rng.integers(0, 6)), workspace=(-2.0, -2.0, 2.0, 2.0),
                                              keep_clear=(0.0, 0.0), clearance=0.3)
            free = ~gvin.cspace_occupancy(dataset.arm, obstacles, 12)
            linked = np.zeros_like(free)
            for di, dj in moves:
                linked |= np.roll(free, (di, dj), axis=(0, 1))
            candidates = np.flatnonzero(free & linked)
            if len(candidates):
                goal = int(rng.choice(candidates))
                break
        reference = gvin.from_cspace(dataset.arm, obstacles, 12, goal)
        data = dataset[index]
        assert dataset.goal(index) == goal and "goal_point" not in data
        for key in reference.keys():
            value, expected = data[key], reference[key]
            assert (torch.equal(value, expected) if torch.is_tensor(expected) else value == expected), key
        assert torch.equal(data.dist, gvin.shortest_path_distances(reference).float())


def test_point_mode_deterministic_and_prefix_stable():
    first, again = CSpaceDataset("test", **POINT), CSpaceDataset("test", **POINT)
    longer = CSpaceDataset("test", **{**POINT, "counts": (0, 0, 5)})
    for index in range(3):
        for other in (again, longer):
            assert torch.equal(first[index].goal_point, other[index].goal_point)
            assert torch.equal(first[index].goal, other[index].goal)
    wider = CSpaceDataset("test", **POINT, tolerance=0.9)
    assert wider.tolerance == 0.9 and sum(int(d.goal.sum()) for d in wider) > sum(int(d.goal.sum()) for d in first)


def test_trainer_one_epoch_point_mode():
    train = CSpaceDataset("train", **POINT)
    config = gvin.train.TrainConfig(
        model="dtvin",
        model_kwargs=dict(stencil=gvin.grid_stencil(2, 8).tolist(), num_iterations=10, hidden_channels=8),
        epochs=1, batch_size=3,
    )
    trainer = gvin.train.Trainer(config)
    trainer.fit(train)
    assert trainer.epoch == 1 and math.isfinite(trainer.history[-1]["loss"])
    metrics = gvin.train.evaluate(trainer.model, CSpaceDataset("test", **POINT), num_starts=2)
    for value in metrics.as_percent().values():
        assert 0.0 <= value <= 100.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(goal="pose"), "goal must be one of"),
    (dict(goal=None), "goal must be one of"),
    (dict(tolerance=0.2), "tolerance applies to goal='point' only"),
    (dict(goal="point", tolerance=0.0), "tolerance"),
    (dict(goal="point", tolerance=float("nan")), "tolerance"),
    (dict(goal="point", tolerance="big"), "tolerance"),
    (dict(goal="point", point_tries=0), "point_tries"),
])
def test_bad_goal_mode_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CSpaceDataset("train", size=6, counts=(1, 0, 0), **kwargs)


def test_goal_accessors_per_mode():
    angles = CSpaceDataset("train", size=6, counts=(1, 0, 0))
    assert angles.goal_mask(0).sum() == 1 and angles.goal_mask(0).reshape(-1)[angles.goal(0)]
    with pytest.raises(ValueError, match="goal='point'"):
        angles.goal_point(0)
    point = CSpaceDataset("train", size=12, counts=(1, 0, 0), goal="point")
    with pytest.raises(ValueError, match="goal_mask"):
        point.goal(0)
    assert "goal='point'" in repr(point)


def test_point_mode_gives_up_with_runtime_error(monkeypatch):
    import gvin.datasets.cspace as module
    monkeypatch.setattr(module, "arm_collisions", lambda arm, obstacles, t1, t2: np.ones(np.shape(t1), dtype=bool))
    with pytest.raises(RuntimeError, match="end-effector point"):
        CSpaceDataset("train", size=6, counts=(1, 0, 0), goal="point", max_tries=2)
