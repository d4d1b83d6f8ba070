"""3-D GPPN-style mazes and 3-D gridworlds as datasets (issue 9, item 4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import gvin
from gvin.datasets import MazeDataset, dfs_mazes, generate_splits, sample_goals
from gvin.models.dtvin import DTVIN
from gvin.train import Trainer, TrainConfig, evaluate


def _free_moves(free: np.ndarray) -> int:
    """Unordered pairs of free axis-neighbours (6-connected moves / 2)."""
    total = 0
    for axis in range(free.ndim):
        low = [slice(None)] * free.ndim
        high = [slice(None)] * free.ndim
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        total += int((free[tuple(low)] & free[tuple(high)]).sum())
    return total


@pytest.mark.parametrize("size", [(7, 7, 7), (8, 8, 8), (5, 9, 6)])
def test_3d_dfs_mazes_are_perfect(size):
    mazes = dfs_mazes(20, size, 0)
    assert mazes.shape == (20,) + size
    for maze in mazes:
        n_free = int(maze.sum())
        # a tree: connected (all at finite distance from the start) and #edges = #cells - 1
        dist = gvin.shortest_path_distances(gvin.from_grid(maze, (1, 1, 1), connectivity=6))
        assert torch.isfinite(dist).sum() == n_free
        assert _free_moves(maze) == n_free - 1


def test_3d_generation_is_seeded_and_both_size_spellings_agree():
    a = generate_splits("gppn", (8, 8, 8), (30, 5, 5), seed=4)
    b = generate_splits("gppn", 8, (30, 5, 5), seed=4, ndim=3)
    for split in a:
        np.testing.assert_array_equal(a[split].mazes, b[split].mazes)
        np.testing.assert_array_equal(a[split].goals, b[split].goals)
    assert a["train"].shape == (8, 8, 8)


def test_connected_goal_mode():
    maze = np.zeros((1, 5, 5, 5), dtype=bool)
    maze[0, 2, 2, 2] = True  # an isolated free cell
    maze[0, 1, 1, 1:3] = True  # two neighbouring free cells
    batch = sample_goals(np.repeat(maze, 200, 0), 0, "connected")
    assert set(np.unique(batch.goals)) == {31, 32}  # flat (1, 1, 1), (1, 1, 2)
    with pytest.raises(ValueError, match="no cell for a goal"):
        sample_goals(maze[:, :, :, :] & (np.arange(5) == 2), 0, "connected")


@pytest.mark.parametrize(
    "kind,options,connectivity",
    [("gppn", {}, 6), ("gppn", {"decimation": (0.0, 0.0)}, 6), ("gridworld", {}, 26)],
)
def test_3d_dataset_labels_equal_recomputation(tmp_path, kind, options, connectivity):
    ds = MazeDataset(tmp_path, "train", kind=kind, size=8, ndim=3, counts=(40, 4, 4), seed=1,
                     connectivity=connectivity, log=False, **options)
    assert ds.grid_shape == (8, 8, 8) and ds.path.name.startswith(f"{kind}_8x8x8_c{connectivity}_")
    mazes, goals = ds.mazes, ds.goals
    for i in range(len(ds)):
        item = ds[i]
        ref = gvin.from_grid(mazes[i], int(goals[i]), connectivity=connectivity)
        assert torch.equal(item.edge_index, ref.edge_index) and torch.equal(item.move, ref.move)
        assert torch.equal(item.goal, ref.goal) and int(item.goal.sum()) == 1
        assert torch.equal(gvin.shortest_path_distances(ref).to(torch.float32), item.dist)
        assert torch.equal(gvin.optimal_edges(ref), item.optimal)
        assert item.optimal.any()  # every item has at least one optimal move


def test_3d_cache_does_not_collide_with_2d(tmp_path):
    three = MazeDataset(tmp_path, "train", kind="gppn", size=(8, 8, 8), counts=(6, 2, 2), log=False)
    two = MazeDataset(tmp_path, "train", kind="gppn", size=8, counts=(6, 2, 2), log=False)
    assert three.path != two.path and two.grid_shape == (8, 8)
    again = MazeDataset(tmp_path, "train", kind="gppn", size=8, ndim=3, counts=(6, 2, 2), log=False)
    assert again.path == three.path
    np.testing.assert_array_equal(again.mazes, three.mazes)


def test_bad_3d_connectivity(tmp_path):
    with pytest.raises(ValueError, match="connectivity"):
        MazeDataset(tmp_path, "train", size=(8, 8, 8), connectivity=8, counts=(2, 1, 1), log=False)
    with pytest.raises(ValueError, match="connectivity"):
        MazeDataset(tmp_path, "train", size=8, ndim=3, connectivity=4, counts=(2, 1, 1), log=False)
    with pytest.raises(ValueError, match="connectivity"):
        MazeDataset(tmp_path, "train", size=8, connectivity=6, counts=(2, 1, 1), log=False)
    with pytest.raises(ValueError, match="ndim"):
        MazeDataset(tmp_path, "train", size=(8, 8), ndim=3, counts=(2, 1, 1), log=False)


def test_dtvin_trains_and_evaluates_on_3d_mazes(tmp_path):
    train = MazeDataset(tmp_path, "train", kind="gppn", size=(6, 6, 6), counts=(8, 4, 0),
                        seed=0, connectivity=6, log=False)
    valid = MazeDataset(tmp_path, "valid", kind="gppn", size=(6, 6, 6), counts=(8, 4, 0),
                        seed=0, connectivity=6, log=False)
    batch = next(iter(DataLoader(train, batch_size=4)))
    assert batch.num_graphs == 4 and batch.grid_shape.shape == (4, 3)
    stencil = gvin.grid_stencil(3, 6)
    config = TrainConfig(model="dtvin", model_kwargs=dict(stencil=stencil, num_iterations=10,
                                                          hidden_channels=8),
                         epochs=1, batch_size=4)
    trainer = Trainer(config)
    assert isinstance(trainer.model, DTVIN)
    history = trainer.fit(train, valid, progress=False)
    assert len(history) == 1
    metrics = evaluate(trainer.model, valid)
    assert metrics.num_graphs == len(valid)
    assert 0.0 <= metrics.optimal <= 1.0 and 0.0 <= metrics.success <= 1.0
    assert metrics.random_success is None or 0.0 <= metrics.random_success <= 1.0
    assert all(math.isfinite(v) for v in metrics.as_percent().values())


def test_the_metrics_score_3d_policies_right(tmp_path):
    """On 3-D mazes the expert's policy scores 100 / 100, and a policy that takes a wrong move
    from every cell next to the goal fails from those cells."""
    from gvin.train.metrics import planning_metrics

    data = MazeDataset(tmp_path, "train", kind="gppn", size=(6, 6, 6), counts=(4, 0, 0), seed=1, connectivity=6,
                       log=False)
    batch = next(iter(DataLoader(data, batch_size=4)))
    free = batch.x[:, 0] > 0.5
    expert = torch.where(batch.optimal, 0.0, float("-inf"))
    args = (batch.edge_index, batch.move, batch.goal, batch.dist, free, batch.batch)
    scores = planning_metrics(expert, *args)
    assert scores.optimal == 1.0 and scores.success == 1.0
    source, target = batch.edge_index
    near_goal = batch.move & (batch.dist[source] == 1)  # from a cell one move from the goal ...
    wrong = near_goal & ~batch.optimal  # ... a move elsewhere
    has_wrong = torch.zeros(batch.num_nodes, dtype=torch.bool).index_fill_(0, source[wrong], True)
    astray = torch.where(has_wrong[source], torch.where(wrong, 0.0, float("-inf")), expert)
    worse = planning_metrics(astray, *args)
    assert worse.optimal < 1.0 and worse.success < 1.0
