"""The run layer (gvin.train.run): a notebook trains, resumes, evaluates and plans a run folder as the
command does, with the same checks, files and figures, and gets the results as data."""
from __future__ import annotations

import json

import pytest

from gvin.cli import main
from gvin.train.run import TrainSettings, evaluate_run, train_run
from gvin.train.run_files import CHECKPOINT, METRICS_FILE, RUN_FILE, TEST_FILE, RunError
from gvin.train.run_plan import plan_run

TINY = dict(size=7, counts=(8, 2, 4), depth=6)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_layer")
    lines: list[str] = []
    result = train_run(root / "run", root=root / "data", epochs=1, log=lines.append, **TINY)
    return result, lines, root


def test_train_run_writes_the_commands_files_and_returns_the_figures(run):
    result, lines, root = run
    out = root / "run"
    for name in (CHECKPOINT, RUN_FILE, METRICS_FILE, TEST_FILE, "learning_curve.png", "plan.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / TEST_FILE).read_text()) == result.test
    assert result.test["split"] == "test" and result.test["epoch"] == 1 and result.test["depth"] == 6
    assert result.history == result.trainer.history and len(result.history) == 1
    assert [json.loads(line)["epoch"] for line in (out / METRICS_FILE).read_text().splitlines()] == [1]
    assert any(line.startswith("epoch 1/1") for line in lines)
    assert any(line.startswith("test (4 mazes") for line in lines)


def test_resuming_from_python_goes_on_and_refuses_other_settings(run, tmp_path):
    result, _, root = run
    more = train_run(root / "run", root=root / "data", epochs=2, log=None, **TINY)
    assert more.trainer.epoch == 2 and [r["epoch"] for r in more.history] == [1, 2]
    with pytest.raises(RunError, match="--lr"):
        train_run(root / "run", root=root / "data", epochs=3, lr=0.1, log=None, **TINY)
    with pytest.raises(RunError, match="other data"):
        train_run(root / "run", root=root / "data", epochs=3, log=None, size=9, counts=(8, 2, 4), depth=6)


def test_evaluate_run_equals_the_commands_json(run, capsys):
    _, _, root = run
    checkpoint = root / "run" / CHECKPOINT
    result = evaluate_run(checkpoint, depth=12, log=None)
    capsys.readouterr()
    assert main(["evaluate", str(checkpoint), "--depth", "12", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result.record
    assert result.record["depth"] == 12 and 0 <= result.record["success"] <= 1
    assert result.line.startswith("test (4 mazes, policy over moves)")


def test_plan_run_tells_and_draws(run, tmp_path):
    _, _, root = run
    example = plan_run(root / "run" / CHECKPOINT, index=1,
                       png=tmp_path / "p.png", log=None)
    assert example.png == tmp_path / "p.png" and example.png.stat().st_size > 1000
    assert example.lines[0].startswith("maze 1, K=6 layers: policy")
    assert example.result.planned[0] == example.result.optimal[0]


def test_settings_are_the_commands_options():
    settings = TrainSettings(out="runs/x", npz="m.npz", batch_size=8)
    assert settings.out.name == "x" and settings.npz.name == "m.npz" and settings.resume
    with pytest.raises(RunError, match="--latent-actions sets"):
        train_run("unused", model="gppn", latent_actions=3, log=None)
    with pytest.raises(RunError, match="--counts 0 0 0: training needs"):
        train_run("unused", counts=(0, 0, 0), log=None)
    with pytest.raises(TypeError):
        train_run("unused", no_such_option=1)


def test_one_writer_per_run_folder(tmp_path, capsys):
    from gvin.train.run_lock import RunFolderInUse, RunLock

    out = tmp_path / "busy"
    with RunLock(out):  # another writer holds the folder
        with pytest.raises(RunFolderInUse, match="in use"):
            train_run(out, root=tmp_path / "data", epochs=1, log=None, **TINY)
        assert main(["train", "--size", "7", "--counts", "8", "2", "4", "--depth", "6", "--epochs", "1",
                     "--root", str(tmp_path / "data"), "--out", str(out)]) == 2
        assert "is in use by" in capsys.readouterr().err
        assert not (out / CHECKPOINT).exists()
    train_run(out, root=tmp_path / "data", epochs=1, log=None, **TINY)  # free again
    assert (out / CHECKPOINT).is_file()
