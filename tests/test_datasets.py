"""Maze generators and PyG maze datasets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import gvin
import gvin.datasets.maze_dataset as maze_dataset_module
from gvin.datasets import (
    GPPNDataset,
    MazeDataset,
    decimate,
    dfs_mazes,
    generate_mazes,
    generate_splits,
    gppn_mazes,
    random_gridworlds,
    sample_goals,
    write_gppn_dataset,
)
from gvin.datasets._io import atomic_savez
from gvin.planners.grid import grid_distances


def _border(shape):
    mask = np.ones(shape, dtype=bool)
    mask[tuple(slice(1, s - 1) for s in shape)] = False
    return mask


def _keys(batch, pair=True):
    return {m.tobytes() + (g.tobytes() if pair else b"") for m, g in zip(batch.mazes, batch.goals)}


# ----------------------------------------------------------------------------- generators


@pytest.mark.parametrize("size", [(11, 11), (12, 12), (9, 14), (7, 8, 9), (5, 5, 5)])
def test_dfs_mazes_are_perfect_with_border_walls(size):
    mazes = dfs_mazes(30, size, 1)
    assert mazes.shape == (30,) + size and mazes.dtype == bool
    assert not mazes[:, _border(size)].any()
    lattice = np.prod([(s - 1) // 2 for s in size])
    # a spanning tree of the lattice: 2K - 1 free cells, all connected
    assert (mazes.reshape(30, -1).sum(1) == 2 * lattice - 1).all()
    start = np.full(30, np.ravel_multi_index((1,) * len(size), size))
    dist = grid_distances(mazes, start, ndim=len(size))
    assert np.isfinite(dist[mazes]).all()


def test_seed_determinism():
    a = generate_splits("gppn", 13, (30, 10, 10), seed=5)
    b = generate_splits("gppn", 13, (30, 10, 10), seed=5)
    c = generate_splits("gppn", 13, (30, 10, 10), seed=6)
    for name in a:
        np.testing.assert_array_equal(a[name].mazes, b[name].mazes)
        np.testing.assert_array_equal(a[name].goals, b[name].goals)
    assert not np.array_equal(a["train"].mazes, c["train"].mazes)
    g1 = random_gridworlds(5, 8, np.random.default_rng(2))
    np.testing.assert_array_equal(g1, random_gridworlds(5, 8, 2))
    assert not np.array_equal(g1, random_gridworlds(5, 8, 3))


@pytest.mark.parametrize(
    "kind,size,ndim,options",
    [
        ("gppn", 15, 2, {}),
        ("gppn", 16, 2, {}),
        ("gppn", (7, 9, 8), 3, {}),
        ("gridworld", 8, 2, {"density": 0.4}),
        ("gridworld", 6, 3, {}),
    ],
)
def test_splits_unique_border_goals(kind, size, ndim, options):
    splits = generate_splits(kind, size, (60, 20, 20), seed=0, ndim=ndim, **options)
    shape = splits["train"].shape
    assert len(shape) == ndim
    assert [len(splits[k]) for k in ("train", "valid", "test")] == [60, 20, 20]
    everything = [k for split in splits.values() for k in _keys(split)]
    assert len(set(everything)) == 100  # no (maze, goal) pair twice, within or across splits
    if kind == "gppn":  # GPPN's rule: no maze twice
        assert len({k for split in splits.values() for k in _keys(split, pair=False)}) == 100
    for split in splits.values():
        assert not split.mazes[:, _border(shape)].any()
        flat = split.mazes.reshape(len(split), -1)
        assert flat[np.arange(len(split)), split.goals].all()  # goals on free cells


def test_duplicates_are_topped_up():
    # 4x4 gridworlds: 2x2 interior, at most 16 mazes x 4 goals distinct pairs
    splits = generate_splits("gridworld", 4, (20, 5, 5), seed=1, density=0.3)
    pairs = [k for split in splits.values() for k in _keys(split)]
    assert len(pairs) == len(set(pairs)) == 30
    with pytest.raises(ValueError, match="found only"):
        generate_splits("gridworld", 4, (60, 20, 20), seed=1, max_stalls=5)
    with pytest.raises(ValueError, match="found only"):
        # one lattice cell, goals carved on 3 interior cells: 3 distinct mazes
        generate_splits("gppn", 4, (4, 0, 0), seed=1, decimation=(0.0, 0.0), max_stalls=3)


def test_decimation_and_gppn_statistics():
    base = dfs_mazes(50, 15, 0)
    np.testing.assert_array_equal(decimate(base, 0.0, 1), base)
    opened = decimate(base, 1.0, 1)
    assert opened[:, 1:-1, 1:-1].all() and not opened[:, _border((15, 15))].any()
    mazes = gppn_mazes(2000, 15, 0)
    free = mazes[:, 1:-1, 1:-1].reshape(2000, -1).sum(1)
    # 97 DFS cells + Binomial(72, d), d ~ U(0, 1): mean 133 (the public 15x15 file: 132.3)
    assert 129 < free.mean() < 137 and free.min() >= 97 and free.max() <= 169
    narrow = gppn_mazes(200, 15, 0, decimation=(0.2, 0.2))
    assert abs(narrow[:, 1:-1, 1:-1].reshape(200, -1).sum(1).mean() - (97 + 0.2 * 72)) < 2


def test_goal_modes():
    rng = np.random.default_rng(0)
    maze = np.zeros((1, 5, 5), dtype=bool)
    maze[0, 1, 1:4] = True
    mazes = np.repeat(maze, 6000, axis=0)
    batch = sample_goals(mazes, rng, "free")
    counts = np.bincount(batch.goals, minlength=25)[[6, 7, 8]]
    assert counts.sum() == 6000 and counts.min() > 1800  # uniform over the 3 free cells
    interior = sample_goals(mazes, rng, "interior")
    assert interior.mazes.reshape(6000, -1)[np.arange(6000), interior.goals].all()  # carved free
    rows, cols = np.unravel_index(interior.goals, (5, 5))
    assert rows.min() >= 1 and rows.max() <= 3 and cols.min() >= 1 and cols.max() <= 3
    assert not ((rows == 1) & (cols == 1)).any()  # GPPN never puts the goal on the DFS start
    assert len(np.unique(interior.goals)) == 8
    with pytest.raises(ValueError, match="no cell"):
        sample_goals(np.zeros((2, 4, 4), dtype=bool), rng, "free")


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: generate_mazes("spiral", 3, 9, 0), ValueError),
        (lambda: dfs_mazes(3, 2, 0), ValueError),
        (lambda: dfs_mazes(3, (9, 9), 0, ndim=4), ValueError),
        (lambda: dfs_mazes(-1, 9, 0), ValueError),
        (lambda: dfs_mazes(2.5, 9, 0), TypeError),
        (lambda: dfs_mazes(3, 9.0, 0), TypeError),
        (lambda: dfs_mazes(3, 9, -1), ValueError),
        (lambda: dfs_mazes(3, 9, 1.5), TypeError),
        (lambda: gppn_mazes(3, 9, 0, decimation=(0.6, 0.2)), ValueError),
        (lambda: gppn_mazes(3, 9, 0, decimation=(0.0, 1.5)), ValueError),
        (lambda: gppn_mazes(3, 9, 0, decimation=0.5), TypeError),
        (lambda: random_gridworlds(3, 9, 0, density=-0.1), ValueError),
        (lambda: sample_goals(np.ones((2, 5, 5), bool), 0, "corner"), ValueError),
        (lambda: generate_splits("gppn", 9, (3, 1), 0), TypeError),
        (lambda: generate_splits("gppn", 9, {"train": 3, "dev": 1}, 0), ValueError),
        (lambda: generate_splits("gppn", 9, (3, -1, 1), 0), ValueError),
        (lambda: generate_splits("gppn", 9, (3, 1, 1), 0, unique="cells"), ValueError),
    ],
)
def test_bad_generator_parameters(call, error):
    with pytest.raises(error):
        call()


# ----------------------------------------------------------------------------- datasets


def _assert_labels_consistent(data):
    src, dst = data.edge_index
    dist = data.dist
    finite = torch.isfinite(dist)
    free = data.x[:, 0] > 0.5
    assert torch.isinf(dist[~free]).all()
    assert (dist[data.goal] == 0).all()
    # every optimal edge goes one step down the distance field
    opt = data.optimal
    assert data.move[opt].all() and (dist[src[opt]] == dist[dst[opt]] + 1).all()
    # every free, reachable, non-goal node has at least one optimal edge
    has = torch.zeros_like(free)
    has[src[opt]] = True
    assert torch.equal(has, free & finite & ~data.goal)
    # and every move that goes one step down is optimal (ties kept)
    down = data.move & finite[src] & ~data.goal[src] & (dist[src] == dist[dst] + 1)
    assert torch.equal(down, opt)


def test_maze_dataset_items_equal_from_grid_and_batch(tmp_path):
    ds = MazeDataset(tmp_path, "train", size=12, counts=(24, 6, 6), seed=3, log=False)
    assert len(ds) == 24 and ds.grid_shape == (12, 12)
    for i in (0, 5, 23):
        item = ds[i]
        ref = gvin.from_grid(ds.mazes[i], int(ds.goals[i]))
        for key in ref.keys():
            same = item[key] == ref[key] if key == "stencil" else torch.equal(item[key], ref[key])
            assert same, key
        np.testing.assert_array_equal(
            item.dist.numpy(), grid_distances(ds.mazes[i], int(ds.goals[i])).reshape(-1)
        )
        assert item.dist.dtype == torch.float32 and item.optimal.dtype == torch.bool
        _assert_labels_consistent(item)
    loader = DataLoader(ds, batch_size=5, shuffle=True)
    batch = next(iter(loader))
    assert batch.num_graphs == 5 and batch.grid_shape.shape == (5, 2)
    assert batch.dist.shape == (5 * 144,) and batch.optimal.shape == batch.move.shape
    _assert_labels_consistent(batch)
    assert sum(b.num_graphs for b in loader) == 24


def test_labels_match_graph_planner(tmp_path):
    shortest_paths = pytest.importorskip("gvin.planners.shortest_paths")
    ds = MazeDataset(tmp_path, "test", kind="gridworld", size=9, counts=(4, 4, 6), seed=0,
                     connectivity=8, log=False)
    for item in ds:
        dist = shortest_paths.shortest_path_distances(item)
        assert torch.equal(dist.to(torch.float32), item.dist)
        assert torch.equal(shortest_paths.optimal_edges(item), item.optimal)


def test_cache_is_reused_and_named_by_parameters(tmp_path, monkeypatch):
    first = MazeDataset(tmp_path, "valid", size=11, counts=(10, 8, 3), seed=2, log=False)
    files = sorted(p.name for p in (tmp_path / "mazes").iterdir())
    assert len(files) == 1 and files[0].startswith("gppn_11x11_c4_n10-8-3_seed2_")

    def boom(*args, **kwargs):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(maze_dataset_module, "generate_splits", boom)
    again = MazeDataset(tmp_path, "valid", size=11, counts=(10, 8, 3), seed=2, log=False)
    np.testing.assert_array_equal(first.mazes, again.mazes)
    np.testing.assert_array_equal(first.distances, again.distances)
    with pytest.raises(AssertionError, match="regenerated"):
        MazeDataset(tmp_path, "valid", size=11, counts=(10, 8, 3), seed=3, log=False)
    monkeypatch.undo()
    other = MazeDataset(
        tmp_path, "valid", size=11, counts=(10, 8, 3), seed=2, connectivity=8, log=False
    )
    assert len(list((tmp_path / "mazes").iterdir())) == 2
    assert not np.array_equal(other.distances, first.distances)  # labels depend on moves
    # the splits of one cache file do not overlap
    train = MazeDataset(tmp_path, "train", size=11, counts=(10, 8, 3), seed=2, log=False)
    keys = {m.tobytes() for m in train.mazes}
    assert not keys & {m.tobytes() for m in first.mazes}


def test_corrupt_cache_raises(tmp_path):
    ds = MazeDataset(tmp_path, "test", size=7, counts=(3, 3, 3), seed=0, log=False)
    ds.path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="force_reload"):
        MazeDataset(tmp_path, "test", size=7, counts=(3, 3, 3), seed=0, log=False)
    fresh = MazeDataset(
        tmp_path, "test", size=7, counts=(3, 3, 3), seed=0, log=False, force_reload=True
    )
    np.testing.assert_array_equal(fresh.mazes, ds.mazes)


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = atomic_savez(tmp_path / "a.npz", {"x": np.arange(3)})

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(RuntimeError):
        atomic_savez(path, {"x": np.arange(5)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    with np.load(path) as archive:
        assert archive["x"].tolist() == [0, 1, 2]


def test_3d_gridworld_dataset_and_kernel_size(tmp_path):
    ds = MazeDataset(tmp_path, "train", kind="gridworld", size=(5, 6, 7), ndim=3, counts=(6, 2, 2),
                     seed=1, connectivity=26, log=False)
    item = ds[2]
    assert item.grid_shape.tolist() == [[5, 6, 7]] and item.pos.shape == (210, 3)
    ref = gvin.from_grid(ds.mazes[2], int(ds.goals[2]), connectivity=26)
    assert torch.equal(item.edge_index, ref.edge_index) and torch.equal(item.move, ref.move)
    _assert_labels_consistent(item)
    wide = MazeDataset(
        tmp_path, "train", size=9, counts=(4, 2, 2), seed=1, kernel_size=5, log=False
    )
    ref = gvin.from_grid(wide.mazes[1], int(wide.goals[1]), kernel_size=5)
    assert torch.equal(wide[1].edge_type, ref.edge_type) and torch.equal(wide[1].move, ref.move)
    _assert_labels_consistent(wide[1])


def test_index_select_copy_and_arrays(tmp_path):
    ds = MazeDataset(tmp_path, "train", size=9, counts=(10, 2, 2), seed=4, log=False)
    sub = ds[[7, 2, 5]]
    assert len(sub) == 3 and torch.equal(sub[0].x, ds[7].x)
    np.testing.assert_array_equal(sub.goals, ds.goals[[7, 2, 5]])
    assert sub.goal_maps.shape == (3, 9, 9)
    assert sub.goal_maps.reshape(3, -1).sum(1).tolist() == [1, 1, 1]
    clone = ds.copy([1, 3])
    assert len(clone) == 2 and torch.equal(clone[1].dist, ds[3].dist)
    assert np.isinf(ds.distances[~ds.mazes]).all()


def test_gppn_dataset(tmp_path):
    path = tmp_path / "m9.npz"
    write_gppn_dataset(path, size=9, counts=(12, 4, 4), seed=0)
    ds = GPPNDataset(path, "valid")
    assert len(ds) == 4 and ds.connectivity == 4
    for item in ds:
        _assert_labels_consistent(item)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.num_graphs == 4
    with pytest.raises(ValueError, match="not optimal"):
        GPPNDataset(path, "train", connectivity=8)  # 4-move labels are not all 8-move optimal
    with pytest.raises(ValueError, match="split"):
        GPPNDataset(path, "dev")
    with pytest.raises(ValueError, match="does not exist"):
        GPPNDataset(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"kind": "spiral"}, ValueError),
        ({"split": "dev"}, ValueError),
        ({"size": 2}, ValueError),
        ({"size": (9, 9), "ndim": 3}, ValueError),
        ({"counts": (5, 5)}, TypeError),
        ({"counts": (5, -1, 5)}, ValueError),
        ({"seed": -3}, ValueError),
        ({"seed": 1.5}, ValueError),
        ({"connectivity": 6}, ValueError),
        ({"kernel_size": 4}, ValueError),
        ({"decimation": (0.9, 0.1)}, ValueError),
    ],
)
def test_bad_dataset_parameters(tmp_path, kwargs, error):
    params = {"root": tmp_path, "size": 7, "counts": (2, 1, 1), "log": False, **kwargs}
    with pytest.raises(error):
        MazeDataset(**params)


def test_empty_split_loads(tmp_path):
    valid = MazeDataset(root=tmp_path, split="valid", size=7, counts=(20, 0, 5), log=False)
    assert len(valid) == 0
    train = MazeDataset(root=tmp_path, split="train", size=7, counts=(20, 0, 5), log=False)
    assert len(train) == 20 and train[0].num_nodes == 49
