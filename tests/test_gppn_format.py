"""The GPPN .npz format: the shared public file, round trips, and bad files."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import pytest

from gvin.datasets.gppn import (
    GPPNSplit,
    gppn_label_errors,
    gppn_policy,
    load_gppn_npz,
    save_gppn_npz,
    write_gppn_dataset,
)
from gvin.planners.grid import GPPN_ACTIONS_4, GPPN_NEWS_ACTIONS, optimal_action_maps

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m15_4abs-cc_10k.npz"


@pytest.fixture(scope="module")
def shared():
    if not SHARED.exists():
        pytest.skip(f"public GPPN file not found at {SHARED} (see shared/data/README.md)")
    return load_gppn_npz(SHARED)


def test_shared_file_shapes(shared):
    assert {k: len(v) for k, v in shared.items()} == {"train": 10000, "valid": 2000, "test": 2000}
    for split in shared.values():
        n = len(split)
        assert split.mazes.shape == (n, 15, 15) and split.mazes.dtype == bool
        assert split.goals.shape == (n, 15, 15) and (split.goals.reshape(n, -1).sum(1) == 1).all()
        assert split.policy.shape == (n, 4, 15, 15)
        assert not split.mazes[:, [0, -1]].any() and not split.mazes[:, :, [0, -1]].any()


def test_shared_file_labels_are_optimal_on_every_cell(shared):
    total = 0
    for split in shared.values():
        optimal = optimal_action_maps(split.mazes, split.goals, 4, GPPN_ACTIONS_4)
        labelled = optimal.any(1)  # free, non-goal, reachable cells
        label = split.policy.argmax(1)
        assert (split.policy.sum(1) == 1).all()  # the file labels every cell once
        chosen = np.take_along_axis(optimal, label[:, None], 1)[:, 0]
        assert chosen[labelled].all()
        total += int(labelled.sum())
        assert (gppn_label_errors(split) == 0).all()
    assert total > 1_500_000  # all 14,000 mazes were checked


def test_wrong_channel_order_is_detected(shared):
    assert gppn_label_errors(shared["valid"], actions=GPPN_NEWS_ACTIONS).sum() > 1000


def test_round_trip_shared_file(shared, tmp_path):
    path = save_gppn_npz(tmp_path / "copy.npz", shared, compressed=False)
    with np.load(path) as raw:
        assert raw["arr_1"].shape == (10000, 1, 15, 15) and raw["arr_1"].dtype == np.float64
        assert raw["arr_8"].shape == (2000, 4, 1, 15, 15) and raw["arr_8"].dtype == np.float64
        original = np.load(SHARED)
        for key in (f"arr_{i}" for i in range(9)):
            np.testing.assert_array_equal(raw[key], original[key])
    back = load_gppn_npz(path)
    for name in shared:
        for field in ("mazes", "goals", "policy"):
            np.testing.assert_array_equal(getattr(back[name], field), getattr(shared[name], field))
    assert [p.name for p in tmp_path.iterdir()] == ["copy.npz"]  # no temporary file left


def test_generated_file_round_trip_and_overwrite(tmp_path):
    path = tmp_path / "m9.npz"
    write_gppn_dataset(path, size=9, counts=(40, 10, 10), seed=3)
    first = load_gppn_npz(path)
    assert {k: len(v) for k, v in first.items()} == {"train": 40, "valid": 10, "test": 10}
    for split in first.values():
        assert (gppn_label_errors(split) == 0).all()
        labelled = optimal_action_maps(split.mazes, split.goals, actions=GPPN_ACTIONS_4).any(1)
        assert (split.policy.sum(1) == labelled).all()  # one-hot exactly on labelled cells
    write_gppn_dataset(path, size=9, counts=(40, 10, 10), seed=4)  # atomic overwrite
    second = load_gppn_npz(path)
    assert not np.array_equal(first["train"].mazes, second["train"].mazes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m9.npz"]


def test_gppn_policy_tie_breaking():
    mazes = np.ones((1, 5, 5), dtype=bool)
    mazes[0, [0, -1]] = mazes[0, :, [0, -1]] = False
    goals = np.array([6])  # (1, 1)
    first = gppn_policy(mazes, goals)  # ties -> first channel in GPPN order (up, left, down, right)
    assert first[0, :, 3, 3].tolist() == [True, False, False, False]
    counts = sum(gppn_policy(mazes, goals, rng=seed)[0, :, 3, 3] for seed in range(200))
    assert counts[0] > 60 and counts[1] > 60 and counts[2] == counts[3] == 0


def _good_arrays(n=3, size=7):
    mazes = np.ones((n, size, size))
    mazes[:, [0, -1]] = 0
    mazes[:, :, [0, -1]] = 0
    goals = np.zeros((n, 1, size, size))
    goals[:, 0, 2, 3] = 1
    policy = np.zeros((n, 4, 1, size, size))
    policy[:, 0] = 1
    return [mazes, goals, policy] * 3


def _write(path, arrays, drop=()):
    np.savez(path, **{f"arr_{i}": a for i, a in enumerate(arrays) if f"arr_{i}" not in drop})
    return path


def _corrupt_member(path, member="arr_0.npy"):
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    return path


def _bad_files(tmp: Path):
    good = _write(tmp / "good.npz", _good_arrays())
    compressed = tmp / "compressed.npz"
    arrays = _good_arrays()
    np.savez_compressed(compressed, *arrays)
    cases = {}
    cases["missing"] = (tmp / "nope.npz", "does not exist")
    cases["directory"] = (tmp, "not a regular file")
    (tmp / "text.npz").write_text("hello, not a zip")
    cases["not zip"] = (tmp / "text.npz", "not a zip")
    (tmp / "trunc.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = (tmp / "trunc.npz", "truncated or corrupted")
    corrupt = tmp / "corrupt.npz"
    corrupt.write_bytes(compressed.read_bytes())
    cases["corrupted compressed"] = (_corrupt_member(corrupt), "truncated or corrupted")
    corrupt_raw = tmp / "corrupt_raw.npz"
    corrupt_raw.write_bytes(good.read_bytes())
    cases["corrupted stored"] = (_corrupt_member(corrupt_raw), "truncated or corrupted")
    keys = _write(tmp / "keys.npz", _good_arrays(), drop=("arr_8",))
    cases["missing keys"] = (keys, "lacks arrays")
    arrays = _good_arrays()
    arrays[4] = arrays[4][:, :, :5]
    cases["goal shape"] = (_write(tmp / "gshape.npz", arrays), "goal maps must be")
    arrays = _good_arrays()
    arrays[2] = arrays[2][:2]
    cases["policy count"] = (_write(tmp / "pshape.npz", arrays), "policy must be")
    arrays = _good_arrays()
    arrays[0] = arrays[0][:, :, :, None]
    cases["maze rank"] = (_write(tmp / "mrank.npz", arrays), "mazes must be")
    arrays = _good_arrays()
    arrays[3] = arrays[3] * 2
    cases["non-binary"] = (_write(tmp / "binary.npz", arrays), "binary")
    arrays = _good_arrays()
    arrays[5] = arrays[5] * 0.5
    cases["non-binary policy"] = (_write(tmp / "binpol.npz", arrays), "binary")
    arrays = _good_arrays()
    arrays[7] = arrays[7].copy()
    arrays[7][1, 0, 4, 4] = 1
    cases["two goals"] = (_write(tmp / "two.npz", arrays), "goal map 1 marks 2 cells")
    arrays = _good_arrays()
    arrays[1] = np.zeros_like(arrays[1])
    cases["no goal"] = (_write(tmp / "zero.npz", arrays), "marks 0 cells")
    arrays = _good_arrays()
    arrays[1] = arrays[1].copy()
    arrays[1][:, 0, 2, 3] = 0
    arrays[1][:, 0, 0, 0] = 1
    cases["goal on wall"] = (_write(tmp / "wall.npz", arrays), "on a wall")
    arrays = _good_arrays()
    arrays[6] = np.ones((3, 9, 9))
    arrays[7] = np.zeros((3, 1, 9, 9))
    arrays[7][:, 0, 4, 4] = 1
    arrays[8] = np.zeros((3, 4, 1, 9, 9))
    cases["split sizes"] = (_write(tmp / "sizes.npz", arrays), "different maze sizes")
    arrays = _good_arrays()
    arrays[0] = np.array([[None]], dtype=object)
    cases["pickled"] = (_write(tmp / "pickle.npz", arrays), "pickled objects")
    arrays = _good_arrays()
    arrays[0] = np.full((3, 7, 7), "a")
    cases["strings"] = (_write(tmp / "strings.npz", arrays), "numeric")
    return cases


def test_good_file_loads(tmp_path):
    data = load_gppn_npz(_write(tmp_path / "good.npz", _good_arrays()))
    assert isinstance(data["test"], GPPNSplit)
    assert data["test"].goal_index.tolist() == [2 * 7 + 3] * 3


def test_every_bad_file_raises_naming_file_and_problem(tmp_path):
    for name, (path, message) in _bad_files(tmp_path).items():
        with pytest.raises(ValueError, match=message) as info:
            load_gppn_npz(path)
        assert str(path) in str(info.value), name


def test_save_rejects_bad_splits(tmp_path):
    good = _good_arrays()
    triple = (good[0], good[1], good[2])
    with pytest.raises(ValueError, match="exactly the keys"):
        save_gppn_npz(tmp_path / "x.npz", {"train": triple})
    bad_goal = (good[0], np.zeros_like(good[1]), good[2])
    with pytest.raises(ValueError, match="marks 0 cells"):
        save_gppn_npz(tmp_path / "x.npz", {"train": triple, "valid": triple, "test": bad_goal})
    with pytest.raises(ValueError, match="binary"):
        bad_maze = (good[0] + 3, good[1], good[2])
        save_gppn_npz(tmp_path / "x.npz", {"train": triple, "valid": triple, "test": bad_maze})
    with pytest.raises(TypeError):
        save_gppn_npz(tmp_path / "x.npz", {"train": triple, "valid": triple, "test": "nope"})
    assert list(tmp_path.iterdir()) == []
    # flat goal indices and squeezed policies are accepted
    flat = (good[0], np.full(3, 17), good[2][:, :, 0])
    path = save_gppn_npz(tmp_path / "x.npz", {"train": flat, "valid": triple, "test": triple})
    assert load_gppn_npz(path)["train"].goal_index.tolist() == [17] * 3


def test_a_split_may_be_empty(tmp_path):
    from gvin.datasets import GPPNDataset, write_gppn_dataset

    path = write_gppn_dataset(tmp_path / "m.npz", size=7, counts=(3, 0, 1), kind="gridworld")
    splits = load_gppn_npz(path)
    assert {name: len(split) for name, split in splits.items()} == {"train": 3, "valid": 0, "test": 1}
    assert splits["valid"].goal_index.shape == (0,)
    assert len(GPPNDataset(path, split="valid")) == 0 and len(GPPNDataset(path, split="train")) == 3


@pytest.mark.parametrize("kernel_size", [None, 5])
def test_file_labels_are_one_expert_move_per_labelled_cell(tmp_path, kernel_size):
    """``GPPNDataset(file_labels=True)``: ``data.expert`` marks, on every free, reachable,
    non-goal cell, exactly the move of the file's own (tie-broken) action, and nothing elsewhere."""
    from gvin.datasets import GPPNDataset

    path = tmp_path / "m9.npz"
    write_gppn_dataset(path, size=9, counts=(12, 2, 2), seed=5)
    split = load_gppn_npz(path)["train"]
    dataset = GPPNDataset(path, "train", kernel_size=kernel_size, file_labels=True)
    assert GPPNDataset(path, "train").get(0).get("expert") is None
    for index in (0, 7):
        data = dataset[index]
        src, dst = data.edge_index
        labelled = np.isfinite(data.dist.numpy()) & (data.dist.numpy() > 0)
        per_node = np.bincount(src[data.expert].numpy(), minlength=data.num_nodes)
        assert (per_node == labelled).all()
        assert not (data.expert & ~data.optimal).any()
        action = split.policy[index].reshape(4, -1).argmax(0)
        width = split.mazes.shape[2]
        for edge in np.flatnonzero(data.expert.numpy()):
            cell, target = int(src[edge]), int(dst[edge])
            offset = (target // width - cell // width, target % width - cell % width)
            assert offset == tuple(int(o) for o in GPPN_ACTIONS_4[action[cell]])
    subset = dataset[[7, 0]]
    assert torch.equal(subset[0].expert, dataset[7].expert)
    assert torch.equal(dataset.copy([7])[0].expert, dataset[7].expert)


def test_file_labels_on_a_wide_stencil(tmp_path):
    """Stencil slots beyond 127 (a 17×17 kernel has 289) keep their labels."""
    from gvin.datasets import GPPNDataset

    path = tmp_path / "m9.npz"
    write_gppn_dataset(path, size=9, counts=(2, 1, 1), seed=5)
    data = GPPNDataset(path, "train", kernel_size=17, file_labels=True)[0]
    labelled = np.isfinite(data.dist.numpy()) & (data.dist.numpy() > 0)
    per_node = np.bincount(data.edge_index[0][data.expert].numpy(), minlength=data.num_nodes)
    assert (per_node == labelled).all() and labelled.any()
