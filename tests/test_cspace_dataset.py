"""CSpaceDataset: 2-link-arm C-space tasks with exact labels and workspace images."""
import math

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import gvin
import gvin.train
from gvin.datasets.cspace import CSpaceDataset

SMALL = dict(bins=12, count=(6, 4, 4), seed=3)


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
    dataset = CSpaceDataset("valid", bins=12, count=(0, 20, 0), seed=1)
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
    counts = {len(CSpaceDataset("train", bins=6, count=(40, 0, 0)).obstacles(i)) for i in range(40)}
    assert counts <= set(range(6)) and len(counts) > 2


def test_deterministic_and_prefix_stable():
    first, second = CSpaceDataset("train", **SMALL), CSpaceDataset("train", **SMALL)
    longer = CSpaceDataset("train", bins=12, count=(9, 0, 0), seed=3)
    for index in range(len(first)):
        a, b, c = first[index], second[index], longer[index]
        for key in ("x", "goal", "dist", "optimal", "workspace", "obstacles"):
            assert torch.equal(a[key], b[key]) and torch.equal(a[key], c[key])
    other = CSpaceDataset("train", bins=12, count=(6, 0, 0), seed=4)
    assert any(not torch.equal(first[i].x, other[i].x) for i in range(6))


def test_splits_differ():
    maps = {split: {(CSpaceDataset(split, **SMALL).free(i).tobytes(), CSpaceDataset(split, **SMALL).goal(i))
                    for i in range(4)} for split in ("train", "valid", "test")}
    assert not maps["train"] & maps["valid"] and not maps["train"] & maps["test"]
    assert not maps["valid"] & maps["test"]


def test_bins_36_and_connectivity_4():
    dataset = CSpaceDataset("train", bins=36, count=(2, 0, 0), connectivity=4)
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
    (dict(bins=2), ValueError, "bins"),
    (dict(bins=18.0), ValueError, "bins"),
    (dict(bins=True), ValueError, "bins"),
    (dict(count=(-1, 0, 0)), ValueError, "count"),
    (dict(count=5), TypeError, "counts"),
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
    kwargs = {"split": "train", "bins": 6, "count": (1, 0, 0), **kwargs}
    with pytest.raises(error, match=match):
        CSpaceDataset(**kwargs)


def test_bad_index_and_unplaceable_goal():
    dataset = CSpaceDataset("train", bins=6, count=(2, 0, 0))
    with pytest.raises(IndexError):
        dataset[2]
    with pytest.raises(TypeError):
        dataset[1.0]
    # a disc covering the whole reach around the base is impossible with clearance; a huge clearance
    # that cannot be kept raises from random_obstacles instead of looping forever
    with pytest.raises(ValueError):
        CSpaceDataset("train", bins=6, count=(1, 0, 0), num_obstacles=(1, 1), clearance=100.0)


def test_no_goal_raises_runtime_error(monkeypatch):
    import gvin.datasets.cspace as module
    monkeypatch.setattr(module, "cspace_occupancy", lambda arm, obstacles, bins: np.ones((bins, bins), dtype=bool))
    with pytest.raises(RuntimeError, match="no workspace"):
        CSpaceDataset("train", bins=6, count=(1, 0, 0), max_tries=3)
