"""One dataset pattern for every world: PlanningDataset, its seeds and cache, renamed settings,
the registry's dataset classes, user-registered worlds, the expert-label transform, pinned items."""
from __future__ import annotations

import hashlib
import math
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

import gvin
from gvin.datasets import (
    WORLDS,
    CSpaceDataset,
    GridGraphBuilder,
    Maze3DDataset,
    MazeDataset,
    PlanningDataset,
    RoadmapDataset,
    TerrainDataset,
    World,
    register_world,
    unregister_world,
)
from gvin.datasets.streets import StreetDataset
from gvin.graphs.grid import grid_template
from gvin.transforms import AddExpertLabels, label_graph

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest



def _digest(data: Data, keys=("edge_index", "goal", "move", "optimal", "dist")) -> str:
    """A hash of an item's structure and labels (integer, boolean and float32 fields)."""
    h = hashlib.sha1()
    for key in keys:
        value = data[key]
        h.update(f"{key}:{value.dtype}:{tuple(value.shape)}".encode())
        h.update(value.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


# ----------------------------------------------------------------------------- pinned items
PINNED = {
    ("maze", 9): ["1811ecd1e21c", "749234dc402c"],
    ("maze3d", 5): ["85e5813577b5", "6f150b3823bc"],
    ("terrain", 12): ["cb63dd857d7d", "a0fcc2091239"],
    ("cspace", 12): ["7be1b0008171", "6c97f8d37828"],
    ("roadmap", 30): ["b4a847cdcb46", "c4732413b613"],
}
"""``_digest`` of the first two train items of each world (default settings, ``size`` as keyed,
``counts=[2, 1, 1]``): the items the datasets made before they shared one base class."""


@pytest.mark.parametrize("name, size", list(PINNED))
def test_items_are_the_pinned_ones(name, size, tmp_path):
    world = WORLDS[name]
    spec = {"world": name, **world.default_settings(), **world.later, "size": size, "counts": [2, 1, 1]}
    dataset = world.load(spec, tmp_path, "train")  # the settings older records mean: their items, unchanged
    assert [_digest(item) for item in dataset] == PINNED[name, size]


# ----------------------------------------------------------------------------- one constructor
GENERATED = {
    TerrainDataset: dict(source="random", size=8),
    CSpaceDataset: dict(size=6),
    RoadmapDataset: dict(size=16),
}


@pytest.mark.parametrize("cls", list(GENERATED))
def test_one_signature_seeds_and_indices(cls):
    settings = GENERATED[cls]
    data_set = cls("valid", counts=(0, 3, 0), seed=2, **settings)
    assert isinstance(data_set, PlanningDataset) and len(data_set) == 3 and data_set.counts == (0, 3, 0)
    assert data_set.seed == 2 and data_set.size == settings["size"] and data_set.split == "valid"
    longer = cls("valid", counts={"valid": 5}, seed=2, **settings)  # a mapping; a larger count keeps the first items
    assert [_digest(a) for a in data_set] == [_digest(b) for b in list(longer)[:3]]
    assert _digest(data_set[-1]) == _digest(data_set[2])
    with pytest.raises(IndexError, match="index 3 out of range for 3 items"):
        data_set[3]
    with pytest.raises(TypeError, match="index must be an int"):
        data_set["0"]
    # the item is a fresh copy, and made exactly as make_item makes it
    item = data_set[0]
    item.x.zero_()
    assert bool(data_set[0].x[:, 0].any())
    rng = data_set.split_rng() if data_set.sequential else data_set.item_rng(0)
    assert _digest(data_set.make_item(rng, 0)) == _digest(data_set[0])
    # the transform runs on access
    marked = cls("valid", counts=(0, 1, 0), seed=2, transform=lambda d: setattr(d, "seen", True) or d, **settings)
    assert marked[0].seen is True
    assert repr(data_set).startswith(f"{cls.__name__}('valid', size={settings['size']}, n=3, ")


@pytest.mark.parametrize("cls, old, new, value", [
    (TerrainDataset, "patch", "size", 8), (CSpaceDataset, "bins", "size", 6),
    (RoadmapDataset, "num_samples", "size", 16),
    (RoadmapDataset, "k", "neighbours", 5), (CSpaceDataset, "count", "counts", (1, 0, 0)),
])
def test_old_setting_names_still_work_with_a_warning(cls, old, new, value):
    settings = {**GENERATED[cls], "counts": (1, 0, 0)}
    settings[new] = value
    with pytest.warns(DeprecationWarning, match=f"{old}=.*deprecated; use {new}="):
        before = cls("train", **{key: v for key, v in settings.items() if key != new}, **{old: value})
    assert _digest(before[0]) == _digest(cls("train", **settings)[0])
    with pytest.raises(TypeError, match=f"both {new}= and {old}="):
        cls("train", **settings, **{old: value})


def test_the_spec_keys_are_accepted_without_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        terrain = TerrainDataset("train", terrain_source="random", size=8, counts=[1, 0, 0], data_seed=3,
                                 max_slope=25.0)
        cspace = CSpaceDataset("train", size=6, counts=[1, 0, 0], data_seed=3, goal_mode="angles")
        maze = MazeDataset(tmp_path, "train", size=5, counts=(1, 1, 1), data_seed=3, log=False)
    assert (terrain.source, terrain.seed, terrain.max_slope_deg) == ("random", 3, 25.0)
    assert (cspace.seed, cspace.goal_mode, maze.seed) == (3, "angles", 3)
    assert terrain.patch == 8 and cspace.bins == 6 and RoadmapDataset("train", size=16, counts=(1, 0, 0)).k == 8


def test_a_world_must_make_items():
    class Empty(PlanningDataset):
        pass

    with pytest.raises(TypeError, match="must implement make_item"):
        Empty("train", size=3, counts=(1, 0, 0))


# ----------------------------------------------------------------------------- the cache
def test_root_caches_each_split_once(tmp_path, monkeypatch):
    first = CSpaceDataset("train", size=6, counts=(3, 2, 0), seed=1, root=tmp_path)
    assert first.path.exists() and first.path.parent.parent == tmp_path and first.path.name == "train_3.pt"
    assert first.path.parent.name.startswith("cspacedataset_")

    def refuse(self, rng, index):
        raise AssertionError("the cached split was made again")

    monkeypatch.setattr(CSpaceDataset, "make_record", refuse)
    again = CSpaceDataset("train", size=6, counts=(3, 2, 0), seed=1, root=tmp_path)
    assert [_digest(a) for a in again] == [_digest(b) for b in first]
    assert again.obstacles(1) == first.obstacles(1) and again.goal(2) == first.goal(2)
    monkeypatch.undo()
    other = CSpaceDataset("train", size=6, counts=(3, 0, 0), seed=2, root=tmp_path)
    assert other.path.parent != first.path.parent  # other settings, another folder
    assert CSpaceDataset("valid", size=6, counts=(3, 2, 0), seed=1, root=tmp_path).path.name == "valid_2.pt"
    first.path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read the dataset cache .*delete it"):
        CSpaceDataset("train", size=6, counts=(3, 2, 0), seed=1, root=tmp_path)


# ----------------------------------------------------------------------------- registry and transforms
def test_the_registry_points_at_the_dataset_classes():
    assert [WORLDS[name].dataset for name in WORLDS] == [MazeDataset, Maze3DDataset, TerrainDataset, CSpaceDataset,
                                                         RoadmapDataset, StreetDataset]
    spec = {"world": "cspace", "size": 6, "counts": [2, 0, 1], "data_seed": 4, "connectivity": 4}  # no goal_mode:
    test = WORLDS["cspace"].load(spec, None, "test")  # an older record, angles
    assert isinstance(test, CSpaceDataset) and len(test) == 1
    assert (test.seed, test.connectivity, test.goal_mode) == (4, 4, "angles")


def test_add_expert_labels_is_label_graph_on_a_copy():
    data = gvin.from_grid(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32), goal=(2, 2))
    labelled = AddExpertLabels()(data)
    assert not hasattr(data, "dist") and labelled.dist.dtype == torch.float32
    reference = label_graph(data.clone())
    assert torch.equal(labelled.dist, reference.dist) and torch.equal(labelled.optimal, reference.optimal)
    assert float(labelled.dist[0]) == 4.0


def test_grids_share_one_template():
    builder = GridGraphBuilder((6, 6), 8)
    terrain = gvin.from_terrain(np.zeros((6, 6)), 1.0, connectivity=8)
    template = grid_template((6, 6), 8)
    assert builder._stencil is template["stencil"] and terrain.stencil is template["stencil"]
    assert np.array_equal(terrain.edge_index.numpy(), template["edge_index"])
    assert not template["edge_index"].flags.writeable


# ----------------------------------------------------------------------------- a world of one's own
class LineDataset(PlanningDataset):
    """``size`` nodes on a line, moves both ways (unit cost), a random goal."""

    salt = 0x11E

    def __init__(self, split="train", *, size=6, counts=(8, 2, 4), seed=0, transform=None, root=None, **settings):
        super().__init__(split, size=size, counts=counts, seed=seed, transform=transform, root=root, **settings)

    def make_item(self, rng, index):
        n = self.size
        src = torch.cat([torch.arange(n - 1), torch.arange(1, n)])
        dst = torch.cat([torch.arange(1, n), torch.arange(n - 1)])
        goal = torch.zeros(n, dtype=torch.bool)
        goal[int(rng.integers(n))] = True
        data = Data(x=torch.stack([torch.ones(n), goal.float()], 1), edge_index=torch.stack([src, dst]),
                    edge_attr=(dst - src).float()[:, None],
                    pos=torch.stack([torch.arange(n).float(), torch.zeros(n)], 1),
                    goal=goal, move=torch.ones(2 * (n - 1), dtype=torch.bool), num_nodes=n)
        return AddExpertLabels()(data)


LINE = World("line", "points on a line", "lines", "points", {"size": 6, "counts": [8, 2, 4], "data_seed": 0},
             LineDataset, edge_dim=1, noun="line")


@pytest.fixture()
def line_world():
    register_world(LINE)
    yield LINE
    unregister_world("line")


def test_register_world_refuses_duplicates_and_bad_worlds(line_world):
    assert WORLDS["line"] is LINE
    with pytest.raises(ValueError, match="a world named 'line' is already registered"):
        register_world(LINE)
    with pytest.raises(ValueError, match="already registered"):
        register_world(WORLDS["maze"])
    with pytest.raises(TypeError, match="World"):
        register_world("line2")
    with pytest.raises(ValueError, match="need counts"):
        register_world(World("line2", "", "", "", {"size": 3}, LineDataset, edge_dim=1))
    with pytest.raises(ValueError, match="no check for setting.*wiggle"):
        register_world(World("line2", "", "", "", {"size": 3, "counts": [1, 1, 1], "wiggle": 2}, LineDataset,
                             edge_dim=1))
    with pytest.raises(ValueError, match="built-in"):
        unregister_world("maze")


def test_a_registered_world_trains_from_python_and_the_command(line_world, tmp_path):
    from gvin.cli import main
    from gvin.train.run import train_run

    run = train_run(tmp_path / "run", world="line", counts=(8, 2, 4), epochs=1, log=None, device="cpu")
    assert run.trainer.epoch == 1 and math.isfinite(run.history[-1]["loss"])
    assert 0.0 <= run.test["optimal"] <= 1.0
    again = train_run(tmp_path / "run", world="line", counts=(8, 2, 4), epochs=2, log=None, device="cpu")  # resumes
    assert again.trainer.epoch == 2
    # the command builds its --world choices when it runs, so a world registered before main() is one of them
    assert main(["train", "--world", "line", "--counts", "8", "2", "4", "--epochs", "1", "--device", "cpu",
                 "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "checkpoint.pt").exists()
