"""TerrainDataset: deterministic disjoint splits of terrain graphs with exact expert labels."""
import math

import numpy as np
import pytest
import torch

import gvin
import gvin.datasets
import gvin.train
from gvin.datasets.terrain import BANDS, TerrainDataset, label_terrain, start_goal_pairs
from gvin.graphs.terrain import jacksboro_dem

try:
    jacksboro_dem()
    HAVE_DEM = True
except FileNotFoundError:
    HAVE_DEM = False

needs_dem = pytest.mark.skipif(not HAVE_DEM, reason="matplotlib's sample data (jacksboro_fault_dem.npz) is missing")
SOURCES = [pytest.param("jacksboro", marks=needs_dem), "random"]
SMALL = dict(size=12, counts=(8, 4, 4))


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a.keys():
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), key
        else:
            assert x == y, key


@pytest.mark.parametrize("source", SOURCES)
def test_deterministic_per_seed(source):
    first = TerrainDataset("train", source=source, **SMALL)
    again = TerrainDataset("train", source=source, **SMALL)
    other = TerrainDataset("train", source=source, seed=1, **SMALL)
    assert len(first) == 8
    for a, b in zip(first, again):
        _same(a, b)
    assert any(not torch.equal(a.elevation, b.elevation) or not torch.equal(a.goal, b.goal)
               for a, b in zip(first, other))
    # A split's items do not depend on the other splits' counts; a longer split extends it.
    longer = TerrainDataset("train", source=source, size=12, counts=(10, 0, 0))
    for a, b in zip(first, longer):
        _same(a, b)


@pytest.mark.parametrize("source", SOURCES)
def test_labels_goal_and_reach(source):
    for split in ("train", "valid", "test"):
        data_set = TerrainDataset(split, source=source, **SMALL)
        assert len(data_set) == dict(zip(("train", "valid", "test"), SMALL["counts"]))[split]
        for data in data_set:
            assert int(data.goal.sum()) == 1 and bool(data.x[data.goal, 1].eq(1).all())
            dist = gvin.shortest_path_distances(data)
            assert data.dist.dtype == torch.float32
            assert torch.equal(data.dist, dist.float())
            assert torch.equal(data.optimal, gvin.optimal_edges(data, dist))
            assert bool(data.optimal.any())
            assert not bool((data.optimal & ~data.move).any())
            finite = torch.isfinite(data.elevation)
            reach = int(torch.isfinite(data.dist).sum())
            assert reach >= math.ceil(0.5 * int(finite.sum()))
            # Labels are least-cost (edge_weight) distances, not hop counts.
            assert not torch.equal(data.dist, gvin.shortest_path_distances(data, weight=torch.ones_like(data.edge_weight)).float())


def test_min_reach_is_honoured():
    strict = TerrainDataset("train", source="random", size=12, counts=(6, 0, 0), min_reach=0.9,
                            terrain_kwargs=dict(relief=3.0))
    for data in strict:
        finite = int(torch.isfinite(data.elevation).sum())
        assert int(torch.isfinite(data.dist).sum()) >= math.ceil(0.9 * finite)


@needs_dem
def test_jacksboro_splits_are_disjoint_column_bands():
    elevation, cell = jacksboro_dem()
    width = elevation.shape[1]
    spans = {}
    for split in ("train", "valid", "test"):
        data_set = TerrainDataset(split, size=12, counts=(6, 6, 6))
        low, high = round(BANDS[split][0] * width), round(BANDS[split][1] * width)
        cols = set()
        for data in data_set:
            row, col = data.window[0].tolist()
            assert low <= col and col + 12 <= high
            window = elevation[row:row + 12, col:col + 12]
            assert np.array_equal(data.elevation.numpy(), window.reshape(-1).astype(np.float32))
            assert torch.allclose(data.cell_size[0].double(), torch.tensor(cell, dtype=torch.float64))
            cols |= set(range(col, col + 12))
        spans[split] = cols
    assert not spans["train"] & spans["valid"]
    assert not spans["train"] & spans["test"]
    assert not spans["valid"] & spans["test"]


def test_random_splits_differ():
    maps = {split: {tuple(d.elevation.tolist()) for d in TerrainDataset(split, source="random", **SMALL)}
            for split in ("train", "valid", "test")}
    assert not maps["train"] & maps["valid"] and not maps["train"] & maps["test"] and not maps["valid"] & maps["test"]


@pytest.mark.parametrize("source", SOURCES)
def test_trainer_one_epoch_and_evaluate(source):
    train = TerrainDataset("train", source=source, **SMALL)
    test = TerrainDataset("test", source=source, **SMALL)
    config = gvin.train.TrainConfig(
        model="dtvin",
        model_kwargs=dict(stencil=gvin.grid_stencil(2, 8).tolist(), in_channels=4, num_iterations=10,
                          hidden_channels=8),
        epochs=1, batch_size=4,
    )
    trainer = gvin.train.Trainer(config)
    trainer.fit(train)
    assert trainer.epoch == 1 and math.isfinite(trainer.history[-1]["loss"])
    metrics = gvin.train.evaluate(trainer.model, test, num_starts=2)
    for value in metrics.as_percent().values():
        assert 0.0 <= value <= 100.0


def test_start_goal_pairs():
    data = TerrainDataset("valid", source="random", **SMALL)[0]
    pairs = start_goal_pairs(data, 7, 3)
    assert pairs.shape == (7, 2) and pairs.dtype == torch.int64
    assert torch.equal(pairs, start_goal_pairs(data, 7, np.random.default_rng(3)))
    for start, goal in pairs.tolist():
        assert start != goal
        assert math.isfinite(float(gvin.shortest_path_distances(data, goal=goal)[start]))
    assert start_goal_pairs(data, 0).shape == (0, 2)
    with pytest.raises(ValueError, match="count"):
        start_goal_pairs(data, -1)


def test_label_terrain_matches_planners():
    data = gvin.from_terrain(gvin.random_terrain((8, 8), 0), 5.0, goal=(4, 4), max_slope_deg=30)
    label_terrain(data)
    dist = gvin.shortest_path_distances(data)
    assert torch.equal(data.dist, dist.float()) and torch.equal(data.optimal, gvin.optimal_edges(data, dist))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(source="moon"), ValueError, "source"),
    (dict(split="training"), ValueError, "split"),
    (dict(size=2), ValueError, "size"),
    (dict(size=3.0), ValueError, "size"),
    (dict(counts=(1, -1, 1)), ValueError, "count"),
    (dict(counts=(1, 1)), TypeError, "counts"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(min_reach=0.0), ValueError, "min_reach"),
    (dict(max_slope_deg=95), ValueError, "max_slope_deg"),
    (dict(connectivity=6), ValueError, "connectivity"),
    (dict(cell_size=-1.0), ValueError, "cell_size"),
    (dict(terrain_kwargs=dict(relief=-1.0)), ValueError, "relief"),
])
def test_bad_inputs(kwargs, error, match):
    kwargs = dict(dict(source="random", size=12, counts=(1, 1, 1)), **kwargs)
    split = kwargs.pop("split", "train")
    with pytest.raises(error, match=match):
        TerrainDataset(split, **kwargs)


@needs_dem
def test_patch_larger_than_dem_band():
    with pytest.raises(ValueError, match="larger than the DEM"):
        TerrainDataset("valid", size=100, counts=(0, 1, 0))
    with pytest.raises(ValueError, match="larger than the DEM"):
        TerrainDataset("train", size=400, counts=(1, 0, 0))


def test_impossible_goal_share_raises():
    with pytest.raises(RuntimeError, match="no 12×12 window"):
        TerrainDataset("train", source="random", size=12, counts=(1, 0, 0), max_slope_deg=1,
                       cell_size=1.0, min_reach=1.0, goal_tries=2, max_windows=3)


def test_exported():
    assert gvin.datasets.TerrainDataset is TerrainDataset
    assert gvin.datasets.start_goal_pairs is start_goal_pairs


def _reference_items(source, split, patch, count, seed=0, min_reach=0.5, **kwargs):
    """The items as the first TerrainDataset built them: a from_terrain graph per window, one
    shortest_path_distances per tried goal, label_terrain on the kept one (the same draws)."""
    from gvin.datasets.generators import SPLITS
    from gvin.datasets.terrain import RANDOM_CELL_SIZE, _band

    rng = np.random.default_rng([seed, SPLITS.index(split), 0x7E44A1])
    if source == "jacksboro":
        elevation, cell_size = jacksboro_dem()
        low, high = _band(split, elevation.shape[1])
    else:
        cell_size = RANDOM_CELL_SIZE
    items = []
    for index in range(count):
        while True:
            if source == "random":
                child = np.random.default_rng([seed, SPLITS.index(split), index, int(rng.integers(2**31))])
                heights, corner = gvin.random_terrain((patch, patch), child), (0, 0)
            else:
                row = int(rng.integers(0, elevation.shape[0] - patch + 1))
                col = int(rng.integers(low, high - patch + 1))
                heights, corner = elevation[row:row + patch, col:col + patch], (row, col)
            plain = gvin.from_terrain(heights, cell_size, max_slope_deg=20.0, **kwargs)
            finite = np.flatnonzero(np.isfinite(heights).reshape(-1))
            needed, kept = math.ceil(min_reach * len(finite)), None
            for _ in range(20 if plain.move.any() else 0):
                goal = int(rng.choice(finite))
                if int(torch.isfinite(gvin.shortest_path_distances(plain, goal=goal)).sum()) >= max(needed, 2):
                    kept = goal
                    break
            if kept is not None:
                data = label_terrain(gvin.from_terrain(heights, cell_size, kept, max_slope_deg=20.0, **kwargs))
                data.window = torch.tensor([corner], dtype=torch.long)
                items.append(data)
                break
    return items


@pytest.mark.parametrize("source, patch", [pytest.param("jacksboro", 10, marks=needs_dem), ("random", 10),
                                           ("random", 16)])
def test_fast_generation_gives_the_reference_items(source, patch):
    """Goals picked by connected components and labels in numpy: the same items, bit for bit."""
    dataset = TerrainDataset("valid", source=source, size=patch, counts=(0, 12, 0), seed=3)
    reference = _reference_items(source, "valid", patch, 12, seed=3)
    for a, b in zip(dataset, reference):
        assert sorted(a.keys()) == sorted(b.keys())
        for key in b.keys():
            x, y = a[key], b[key]
            if torch.is_tensor(y):
                assert x.dtype == y.dtype and torch.equal(x.nan_to_num(), y.nan_to_num()), key
            else:
                assert x == y, key


def test_terrain_moves_is_from_terrains_core():
    heights = gvin.random_terrain((9, 7), 4)
    heights[2, 3] = np.nan
    arrays = gvin.graphs.terrain.terrain_moves(heights, (2.0, 3.0), max_slope_deg=25.0, slope_cost=0.5)
    data = gvin.from_terrain(heights, (2.0, 3.0), max_slope_deg=25.0, slope_cost=0.5)
    assert np.array_equal(arrays["edge_index"], data.edge_index.numpy())
    assert np.array_equal(arrays["move"], data.move.numpy())
    assert np.array_equal(arrays["weight"].astype(np.float32), data.edge_weight.numpy())
    assert np.array_equal(arrays["finite"], data.x[:, 0].bool().numpy())
    # the graph is cached per shape and settings but every call returns fresh tensors
    again = gvin.from_terrain(heights, (2.0, 3.0), max_slope_deg=25.0, slope_cost=0.5)
    again.edge_index[0, 0] = -5
    assert int(gvin.from_terrain(heights, 1.0).edge_index[0, 0]) != -5
