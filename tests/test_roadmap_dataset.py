"""RoadmapDataset: seeded roadmap tasks with exact labels that a geometric DT-VIN trains on."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch

from gvin import Box, Circle
from gvin.datasets import RoadmapDataset
from gvin.datasets.roadmap import EDGE_DIM
from gvin.train import TrainConfig, Trainer

SMALL = dict(size=40, counts=(4, 3, 3), seed=1)


@pytest.fixture(scope="module")
def train() -> RoadmapDataset:
    return RoadmapDataset("train", **SMALL)


def _same(a, b) -> bool:
    keys = ("x", "edge_index", "edge_attr", "edge_weight", "pos", "goal", "dist", "optimal", "obstacles")
    return all(torch.equal(a[key], b[key]) for key in keys)


def test_items_are_seeded_and_splits_differ(train):
    again = RoadmapDataset("train", **SMALL)
    assert len(train) == 4 and all(_same(a, b) for a, b in zip(train, again))
    more = RoadmapDataset("train", **{**SMALL, "counts": (6, 0, 0)})  # a larger count keeps the first items
    assert all(_same(train[i], more[i]) for i in range(4))
    valid, test = RoadmapDataset("valid", **SMALL), RoadmapDataset("test", **SMALL)
    assert len(valid) == 3 and len(test) == 3
    firsts = [train[0].pos, valid[0].pos, test[0].pos]
    assert not any(torch.equal(firsts[i], firsts[j]) for i in range(3) for j in range(i + 1, 3))
    other_seed = RoadmapDataset("train", **{**SMALL, "seed": 2})
    assert not torch.equal(other_seed[0].pos, train[0].pos)


def test_items_hold_inputs_geometry_and_a_well_connected_goal(train):
    for data in train:
        n, e = data.num_nodes, data.edge_index.shape[1]
        assert n == 40 and data.x.shape == (n, 2) and data.x.dtype == torch.float32
        assert bool((data.x[:, 0] == 1).all()) and torch.equal(data.x[:, 1].bool(), data.goal)
        assert int(data.goal.sum()) == 1 and bool(data.move.all())
        src, dst = data.edge_index
        assert data.edge_attr.shape == (e, EDGE_DIM)
        offset = (data.pos[dst] - data.pos[src]).double()
        torch.testing.assert_close(data.edge_attr[:, :2].double() * train.spacing, offset, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(data.edge_attr[:, 2].double() * train.spacing, offset.norm(dim=1),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(data.edge_weight.double(), offset.norm(dim=1), atol=1e-5, rtol=1e-5)
        assert float(torch.isfinite(data.dist).float().mean()) >= 0.5  # min_reach
        assert set(map(tuple, data.edge_index.t().tolist())) == set(map(tuple, data.edge_index.flip(0).t().tolist()))
    assert math.isclose(train.spacing, 4.0 / math.sqrt(40))


def test_labels_equal_networkx_dijkstra(train):
    data = train[0]
    graph = nx.Graph()
    graph.add_nodes_from(range(data.num_nodes))
    for (s, t), w in zip(data.edge_index.t().tolist(), data.edge_weight.double().tolist()):
        graph.add_edge(s, t, weight=w)
    goal = int(data.goal.nonzero())
    lengths = nx.single_source_dijkstra_path_length(graph, goal)
    expected = torch.tensor([lengths.get(v, math.inf) for v in range(data.num_nodes)], dtype=torch.float64)
    torch.testing.assert_close(data.dist.double(), expected, rtol=1e-6, atol=1e-6)
    src, dst = data.edge_index
    w = data.edge_weight.double()
    tight = (expected[src] - w - expected[dst]).abs() <= 1e-6 * expected[src].clamp_min(1)
    want = torch.isfinite(expected[src]) & (src != goal) & tight
    assert torch.equal(data.optimal, want) and bool(data.optimal.any())


def _inside(obstacle, points: np.ndarray) -> np.ndarray:
    if isinstance(obstacle, Circle):
        return np.hypot(*(points - np.asarray(obstacle.center)).T) <= obstacle.radius
    low, high = np.asarray(obstacle.min_xy), np.asarray(obstacle.max_xy)
    return ((points >= low) & (points <= high)).all(-1)


def test_no_node_or_link_touches_an_obstacle(train):
    fractions = np.linspace(0.0, 1.0, 101)[:, None, None]
    for index, data in enumerate(train):
        obstacles = train.obstacles(index)
        assert 3 <= len(obstacles) <= 8 and all(isinstance(o, (Circle, Box)) for o in obstacles)
        pos = data.pos.double().numpy()
        src, dst = data.edge_index.numpy()
        along = pos[src][None] + fractions * (pos[dst] - pos[src])[None]  # [101, E, 2] points on every link
        for obstacle in obstacles:
            assert not _inside(obstacle, pos).any()
            assert not _inside(obstacle, along.reshape(-1, 2)).any()


def test_a_geometric_dtvin_trains_an_epoch(train):
    valid = RoadmapDataset("valid", **SMALL)
    config = TrainConfig(model="dtvin", model_kwargs={"edge_dim": EDGE_DIM, "hidden_channels": 8,
                                                      "num_iterations": 8},
                         epochs=1, batch_size=2, device="cpu")
    trainer = Trainer(config)
    history = trainer.fit(train, valid, progress=False)
    assert len(history) == 1 and math.isfinite(history[0]["loss"])
    assert 0.0 <= history[0]["valid_optimal"] <= 1.0 and 0.0 <= history[0]["valid_success"] <= 1.0


def test_items_are_copies_and_indices_are_checked(train):
    data = train[-1]
    data.x.zero_()
    assert bool(train[-1].x[:, 0].all())
    with pytest.raises(IndexError, match="index 4 out of range for 4 items"):
        train[4]
    with pytest.raises(TypeError, match="index must be an int"):
        train["0"]
    assert "RoadmapDataset('train', size=40, n=4" in repr(train)


@pytest.mark.parametrize("options, message", [
    (dict(split="dev"), "split must be one of"),
    (dict(size=2), "size must be an int >= 3, got 2"),
    (dict(size=10.0), "size must be an int >= 3, got 10.0"),
    (dict(neighbours=0), "neighbours must be a positive int, got 0"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
    (dict(counts=(1, 2)), "counts must be a"),
    (dict(counts=(1, -1, 0)), "valid"),
    (dict(num_obstacles=(5, 2)), "num_obstacles must have low <= high"),
    (dict(num_obstacles=3), "num_obstacles must be a \\(low, high\\) pair"),
    (dict(workspace=(1, 0, 0, 1)), "extent|workspace"),
    (dict(min_reach=0), "min_reach must be a fraction in \\(0, 1\\], got 0"),
    (dict(min_reach=1.5), "min_reach must be a fraction"),
    (dict(max_tries=0), "max_tries must be a positive int, got 0"),
])
def test_bad_arguments_name_the_problem(options, message):
    options = {"size": 20, "counts": (1, 0, 0), **options}
    split = options.pop("split", "train")
    with pytest.raises((ValueError, TypeError), match=message):
        RoadmapDataset(split, **options)


def test_an_impossible_reach_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="100% of its 30 nodes connected"):
        RoadmapDataset("train", size=30, neighbours=1, counts=(1, 0, 0), min_reach=1.0, max_tries=3)
