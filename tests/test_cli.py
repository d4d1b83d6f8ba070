"""The gvin command, run as a user would (tiny data, CPU)."""
from __future__ import annotations

import json

import pytest
import torch

from gvin.cli import main
from gvin.datasets import load_gppn_npz

TINY = ["--size", "7", "--counts", "24", "8", "8", "--depth", "8", "--hidden", "8", "--batch-size", "8"]


@pytest.fixture()
def run(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", "dtvin", *TINY, "--epochs", "1", "--root", str(tmp_path / "data"), "--out", str(out)]
    assert main(args) == 0
    return out, args


def test_generate_writes_gppn_file(tmp_path, capsys):
    path = tmp_path / "mazes.npz"
    assert main(["generate", str(path), "--size", "9", "--counts", "20", "5", "5", "--seed", "3"]) == 0
    splits = load_gppn_npz(path)
    assert {name: len(split) for name, split in splits.items()} == {"train": 20, "valid": 5, "test": 5}
    assert "wrote" in capsys.readouterr().out


def test_train_writes_checkpoint_run_and_picture(run, capsys):
    out, _ = run
    text = capsys.readouterr().out
    assert "%Optimal" in text and "%Success" in text
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] == 1
    assert json.loads((out / "run.json").read_text())["train"]["model"] == "dtvin"
    assert (out / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_resumes_and_refuses_another_model(run, capsys):
    out, args = run
    assert main([*args[:-2], "--out", str(out), "--epochs", "2"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    other = [a if a != "dtvin" else "vin" for a in args]
    assert main(other) == 2
    assert "different run" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["train"]["model"] == "dtvin"


def test_evaluate_and_plan_from_checkpoint_alone(run, capsys):
    out, _ = run
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--depth", "12"]) == 0
    assert "test (8 mazes" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt"), "--index", "2", "--split", "valid"]) == 0
    assert (out / "plan_valid_2.png").exists()


def test_errors_are_clear(tmp_path, run, capsys):
    with pytest.raises(SystemExit, match="no checkpoint"):
        main(["evaluate", str(tmp_path / "missing.pt")])
    out, _ = run
    with pytest.raises(SystemExit, match="out of range"):
        main(["plan", str(out / "checkpoint.pt"), "--index", "99"])
    assert main(["train", "--npz", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "absent.npz" in capsys.readouterr().err


def test_resume_refuses_other_data(run, capsys):
    out, args = run
    other = [*args, "--data-seed", "5"]
    assert main(other) == 2
    assert "other data" in capsys.readouterr().err
    saved = json.loads((out / "run.json").read_text())
    assert saved["data"]["data_seed"] == 0 and saved["data"]["root"].startswith("/")
