"""What a run leaves as data: test.json, ``gvin evaluate --json``, and the weighted figures in the epoch lines."""
from __future__ import annotations

import json

import pytest

from gvin.cli import main

TERRAIN = ["--world", "terrain", "--terrain-source", "random", "--size", "8", "--counts", "6", "2", "3",
           "--epochs", "1", "--depth", "6"]


@pytest.fixture(scope="module")
def terrain_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "terrain"
    assert main(["train", *TERRAIN, "--out", str(out)]) == 0
    return out


def test_weighted_run_records_the_tolerant_figures(terrain_run):
    test = json.loads((terrain_run / "test.json").read_text())
    assert test["split"] == "test" and test["depth"] == 6 and test["num_graphs"] == 3 and test["epoch"] == 1
    for key in ("optimal", "success", "near_optimal"):
        assert 0.0 <= test[key] <= 1.0
    assert test["near_optimal"] >= test["optimal"]
    if "cost_ratio" in test:  # absent only when no path succeeded
        assert test["cost_ratio"] >= 1.0 - 1e-6
    epoch = json.loads((terrain_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"valid_near_optimal", "valid_optimal"} <= set(epoch)


def test_evaluate_json(terrain_run, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(terrain_run / "checkpoint.pt"), "--depth", "9", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["depth"] == 9 and record["split"] == "test"
    assert main(["evaluate", str(terrain_run / "checkpoint.pt")]) == 0
    line = capsys.readouterr().out
    assert "%Optimal(1%)" in line


def test_unweighted_worlds_leave_the_tolerant_figures_out(tmp_path, capsys):
    out = tmp_path / "maze"
    args = ["train", "--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data"), "--depth", "6",
            "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "%Optimal(1%)" not in printed and "cost ratio" not in printed
    assert "near_optimal" not in json.loads((out / "test.json").read_text())


def test_training_depth_factor_follows_the_world(terrain_run, tmp_path):
    """VIN / DT-VIN train at depths drawn from [K, 3K] on mazes, at K on terrain; other models at K;
    --depth-factor overrides, and a resume keeps the run's own."""
    from gvin.train.checkpoint import load_checkpoint, training_config

    def factor(out):
        return training_config(load_checkpoint(out / "checkpoint.pt"), out)["depth_factor"]

    assert factor(terrain_run) == 1.0
    maze = ["train", "--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data"), "--depth", "6",
            "--epochs", "1"]
    assert main([*maze, "--out", str(tmp_path / "dtvin")]) == 0
    assert factor(tmp_path / "dtvin") == 3.0
    assert main([*maze, "--model", "gppn", "--out", str(tmp_path / "gppn")]) == 0
    assert factor(tmp_path / "gppn") == 1.0
    assert main([*maze, "--depth-factor", "1.5", "--out", str(tmp_path / "set")]) == 0
    assert factor(tmp_path / "set") == 1.5
    assert main([*maze[:-1], "2", "--out", str(tmp_path / "set")]) == 0  # resumed without the option
    assert factor(tmp_path / "set") == 1.5
