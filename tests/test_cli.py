"""The gvin command, run as a user would (tiny data, CPU)."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from gvin import rollout
from gvin.cli import main
from gvin.datasets import load_gppn_npz
from gvin.graphs.grid import grid_stencil

from conftest import CLI_TINY as TINY


@pytest.fixture()
def run(trained_cli_run, tmp_path, capsys):
    """A copy of the session's trained run (``conftest.trained_cli_run``), its output printed again."""
    base, printed = trained_cli_run
    shutil.copytree(base, tmp_path, dirs_exist_ok=True)
    out = tmp_path / "run"
    args = ["train", "--model", "dtvin", *TINY, "--epochs", "1", "--root", str(tmp_path / "data"), "--out", str(out)]
    print(printed, end="")
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


def test_train_takes_gppns_optimizer_and_a_resume_keeps_it(run, capsys):
    out, args = run
    assert main([*args, "--optimizer", "rmsprop", "--epochs", "2"]) == 2
    assert "--optimizer: saved 'adam' vs now 'rmsprop'" in capsys.readouterr().err
    assert main([*args, "--optimizer", "rmsprop", "--no-resume"]) == 0
    assert json.loads((out / "run.json").read_text())["train"]["optimizer"] == "rmsprop"
    assert "exp_avg" not in str(torch.load(out / "checkpoint.pt", weights_only=True)["optimizer"]["state"])


def test_evaluate_and_plan_from_checkpoint_alone(run, capsys):
    out, _ = run
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--depth", "12"]) == 0
    assert "test (8 mazes" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt"), "--index", "2", "--split", "valid"]) == 0
    assert (out / "plan_valid_2.png").exists()


def test_errors_are_clear(tmp_path, run, capsys):
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    out, _ = run
    assert main(["plan", str(out / "checkpoint.pt"), "--index", "99"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["train", "--npz", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "absent.npz" in capsys.readouterr().err


def test_resume_refuses_other_data(run, capsys):
    out, args = run
    other = [*args, "--data-seed", "5"]
    assert main(other) == 2
    assert "other data" in capsys.readouterr().err
    saved = json.loads((out / "run.json").read_text())
    assert saved["data"]["data_seed"] == 0 and saved["data"]["root"].startswith("/")


# ----------------------------------------------------------------------------- issue 7: what the CLI records and uses
def _payload(out):
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_the_checkpoint_records_its_data_and_stencil(run):
    out, _ = run
    config = _payload(out)["config"]
    record = {"kind": "gppn", "size": 7, "counts": [24, 8, 8], "data_seed": 0, "connectivity": 4, "kernel_size": 3}
    assert config["data"] == record  # no world: a maze, as in checkpoints from before worlds
    assert config["model_kwargs"]["stencil"] == grid_stencil(2, 4, 3).tolist()
    assert "num_edge_types" not in config["model_kwargs"]


def test_plan_uses_its_depth(run, capsys, monkeypatch):
    out, _ = run
    real, seen = rollout.plan_path, []

    def spy(model, data, start, num_iterations=None):
        result = real(model, data, start, num_iterations)
        seen.append((num_iterations, result.values))
        return result

    monkeypatch.setattr(rollout, "plan_path", spy)
    capsys.readouterr()
    assert main(["plan", str(out / "checkpoint.pt"), "--depth", "1"]) == 0
    assert "K=1 layers" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt")]) == 0
    assert "K=8 layers" in capsys.readouterr().out  # as trained
    assert [depth for depth, _ in seen] == [1, None]
    assert not torch.equal(seen[0][1], seen[1][1])  # one layer of value iteration is not eight


def test_resume_claims_no_file_it_did_not_write(run, capsys):
    out, args = run
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(args) == 0  # --epochs 1 again: the checkpoint holds epoch 1 already
    text = capsys.readouterr().out
    assert "nothing to train" in text and "holds epoch 1" in text
    assert (out / "checkpoint.pt").read_bytes() == before


def test_resume_without_run_json_still_refuses_other_data(run, capsys):
    out, args = run
    (out / "run.json").unlink()
    assert main([*args, "--data-seed", "5"]) == 2
    err = capsys.readouterr().err
    assert "other data" in err and "data_seed" in err and "checkpoint.pt" in err
    assert main([*args, "--counts", "24", "8", "9"]) == 2
    assert "counts" in capsys.readouterr().err
    assert _payload(out)["epoch"] == 1 and not (out / "run.json").exists()
    assert main([*args, "--epochs", "2"]) == 0  # the same data resumes
    assert "resuming" in capsys.readouterr().out and _payload(out)["epoch"] == 2


def _make_old_style(out) -> None:
    """Rewrite a run as gvin wrote it before data records: num_edge_types, no data in checkpoint or config."""
    payload = _payload(out)
    del payload["config"]["data"]
    kwargs = payload["config"]["model_kwargs"]
    kwargs["num_edge_types"] = len(kwargs.pop("stencil"))
    torch.save(payload, out / "checkpoint.pt")
    saved = json.loads((out / "run.json").read_text())
    saved["data"]["npz"] = None
    del saved["train"]["data"]
    saved["train"]["model_kwargs"] = kwargs
    (out / "run.json").write_text(json.dumps(saved))


def test_an_old_checkpoint_without_a_data_record_still_evaluates_plans_and_resumes(run, capsys):
    out, args = run
    _make_old_style(out)
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt")]) == 0
    assert "test (8 mazes" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt"), "--index", "1"]) == 0
    assert main([*args, "--data-seed", "5"]) == 2  # run.json vouches for the data
    assert "run.json" in capsys.readouterr().err
    assert main([*args, "--epochs", "2"]) == 0
    payload = _payload(out)
    assert payload["epoch"] == 2 and payload["config"]["data"]["kernel_size"] == 3  # recorded from now on
    assert payload["config"]["model_kwargs"]["num_edge_types"] == 9  # built as it was


def test_an_old_checkpoint_without_run_json_is_not_resumed_blindly(run, capsys):
    out, args = run
    _make_old_style(out)
    (out / "run.json").unlink()
    capsys.readouterr()
    assert main(args) == 2
    assert "run.json" in capsys.readouterr().err
    assert main([*args, "--no-resume"]) == 0


def test_evaluate_and_plan_build_graphs_with_the_trained_kernel_size(tmp_path, capsys):
    out = tmp_path / "k5"
    args = ["train", "--size", "7", "--counts", "16", "4", "4", "--hidden", "8", "--batch-size", "8",
            "--kernel-size", "5", "--epochs", "1", "--root", str(tmp_path / "data"), "--out", str(out)]
    assert main(args) == 0
    assert "K=21" in capsys.readouterr().out  # default depth: 3 × side
    assert _payload(out)["config"]["model_kwargs"]["stencil"] == grid_stencil(2, 4, 5).tolist()
    (out / "run.json").unlink()  # the checkpoint alone says how its graphs are built
    assert main(["evaluate", str(out / "checkpoint.pt"), "--root", str(tmp_path / "data")]) == 0
    assert main(["plan", str(out / "checkpoint.pt"), "--root", str(tmp_path / "data")]) == 0


def test_npz_runs_record_only_the_file(tmp_path, capsys):
    npz, out = tmp_path / "mazes.npz", tmp_path / "run"
    assert main(["generate", str(npz), "--size", "7", "--counts", "16", "4", "4"]) == 0
    assert main(["train", "--npz", str(npz), "--size", "9", "--data-seed", "2", "--out", str(out)]) == 2
    assert "--size, --data-seed" in capsys.readouterr().err and not out.exists()
    args = ["train", "--npz", str(npz), "--depth", "4", "--hidden", "8", "--batch-size", "8", "--epochs", "1"]
    assert main([*args, "--out", str(out)]) == 0
    record = {"npz": str(npz.resolve()), "connectivity": 4}
    assert json.loads((out / "run.json").read_text())["data"] == record
    assert _payload(out)["config"]["data"] == {**record, "kernel_size": 3}
    other = tmp_path / "other.npz"
    assert main(["generate", str(other), "--size", "7", "--counts", "16", "4", "4", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["train", "--npz", str(other), "--depth", "4", "--hidden", "8", "--batch-size", "8",
                 "--out", str(out)]) == 2
    assert "other data" in capsys.readouterr().err


# ----------------------------------------------------------------------------- issue 8: implicit planners
IMPLICIT = ["--model", "implicit_dtvin", "--size", "7", "--counts", "24", "8", "8", "--hidden", "8", "--batch-size",
            "8", "--gamma", "0.95", "--f-tol", "1e-3", "--b-solver", "phantom", "--phantom-steps", "3"]


def test_an_implicit_run_trains_evaluates_and_plans_deeper_than_trained(tmp_path, capsys):
    from dataclasses import asdict

    from gvin.nn import FixedPoint

    out = tmp_path / "implicit"
    args = ["train", *IMPLICIT, "--epochs", "1", "--root", str(tmp_path / "data"), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "K=100 forward solver steps at most (anderson" in text  # default depth: 10 × 7, at least 100
    assert "(forward anderson: 4 solves" in text  # the epoch line: 3 training batches and the validation set
    kwargs = _payload(out)["config"]["model_kwargs"]  # weights_only: the settings are plain values
    assert kwargs["fixed_point"] == asdict(FixedPoint(f_tol=1e-3, b_solver="phantom", phantom_steps=3))
    assert kwargs["fixed_point"]["f_max_iter"] is None and kwargs["num_iterations"] == 100
    assert kwargs["gamma"] == 0.95
    checkpoint = str(out / "checkpoint.pt")
    assert main(["evaluate", checkpoint, "--depth", "300"]) == 0
    assert "test (8 mazes" in capsys.readouterr().out
    assert main(["evaluate", checkpoint, "--depth", "2"]) == 0  # the depth reaches the solver
    assert "up to 2 steps, 1 missed the tolerance" in capsys.readouterr().out
    assert main(["plan", checkpoint, "--depth", "300", "--index", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("maze 1, K=300 solver steps at most: policy")
    assert "forward anderson solve converged after" in line
    assert main(["plan", checkpoint, "--depth", "2"]) == 0
    assert "did not converge in 2 steps" in capsys.readouterr().out.splitlines()[0]
    # resume: the same options continue the run; other solver settings are another run
    assert main([*args[:-2], "--out", str(out), "--epochs", "2"]) == 0
    assert "resuming" in capsys.readouterr().out and _payload(out)["epoch"] == 2
    assert main([*args, "--epochs", "3", "--f-tol", "1e-2"]) == 2
    err = capsys.readouterr().err
    assert "different run (--f-tol: saved 0.001 vs now 0.01)" in err and "--no-resume" in err
    assert _payload(out)["epoch"] == 2


# ----------------------------------------------------------------------------- issue 9: other worlds
WORLDS = {"maze3d": ("5", grid_stencil(3, 6).tolist(), 2), "terrain": ("8", grid_stencil(2, 8).tolist(), 4),
          "cspace": ("6", grid_stencil(2, 8).tolist(), 2)}


@pytest.mark.parametrize("world", sorted(WORLDS))
def test_every_world_trains_evaluates_and_plans(world, tmp_path, capsys):
    size, stencil, channels = WORLDS[world]
    out = tmp_path / world
    args = ["train", "--world", world, "--size", size, "--counts", "8", "4", "4", "--hidden", "8", "--depth", "8",
            "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--out", str(out)]
    if world == "maze3d":
        args += ["--root", str(tmp_path / "data")]
    assert main(args) == 0
    config = _payload(out)["config"]
    assert config["data"]["world"] == world and config["model_kwargs"]["stencil"] == stencil
    assert config["model_kwargs"].get("in_channels", 2) == channels
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--device", "cpu"]) == 0
    noun = {"maze3d": "mazes", "terrain": "terrain windows", "cspace": "C-spaces"}[world]
    assert f"test (4 {noun}" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt")]) == 0
    text = capsys.readouterr().out
    assert "shortest path" in text
    assert ("no picture" in text) == (world == "maze3d") and (out / "plan_test_0.png").exists() != (world == "maze3d")
    assert main([*args, "--world", "maze"]) == 2  # another world is other data
    assert "other data" in capsys.readouterr().err


def test_the_roadmap_world_trains_a_geometric_planner_evaluates_and_plans(tmp_path, capsys):
    out = tmp_path / "roadmap"
    args = ["train", "--world", "roadmap", "--size", "20", "--neighbours", "5", "--counts", "8", "4", "4",
            "--hidden", "8", "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test (4 roadmaps, policy over moves): %Optimal" in text and "%Success" in text
    config = _payload(out)["config"]
    assert config["data"] == {"world": "roadmap", "size": 20, "counts": [8, 4, 4], "data_seed": 0, "neighbours": 5,
                              "self_loops": True, "kernel_size": 3}
    kwargs = config["model_kwargs"]
    assert kwargs["edge_dim"] == 3 and "stencil" not in kwargs and kwargs["num_iterations"] == 3 * 5  # 3 ⌈√20⌉
    assert "root" not in json.loads((out / "run.json").read_text())["data"]  # made in memory, not cached
    assert main(["evaluate", str(out / "checkpoint.pt"), "--device", "cpu", "--split", "valid"]) == 0
    assert "valid (4 roadmaps" in capsys.readouterr().out
    assert main(["plan", str(out / "checkpoint.pt"), "--index", "1"]) == 0
    text = capsys.readouterr().out
    assert "roadmap 1, K=15 layers: policy" in text and "no picture" in text
    assert main([*args, "--neighbours", "6"]) == 2  # other data: no resume
    assert "neighbours: saved 5 vs now 6" in capsys.readouterr().err


# ----------------------------------------------------------------------------- issue 12: maps and metrics
def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_plan_on_a_map_file_prints_the_path_and_draws_it(run, tmp_path, capsys):
    import numpy as np

    out, _ = run
    drawn = tmp_path / "mine.txt"
    drawn.write_text("# # # # # #\n# S . . . #\n# # # # . #\n# G . . . #\n# # # # # #\n")
    capsys.readouterr()
    assert main(["plan", str(out / "checkpoint.pt"), "--map", str(drawn), "--depth", "20"]) == 0
    text = capsys.readouterr().out
    assert "# S" in text and "G" in text  # the ASCII picture
    assert "from (1, 1) to (3, 1), policy" in text and "shortest path 8" in text and "K=20 layers" in text
    assert text.splitlines()[-2].startswith("planned: 1,1 ")
    assert (out / "plan_mine.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    free = np.ones((4, 5), dtype=bool)
    free[1, :4] = False
    np.save(tmp_path / "mine.npy", free)
    png = tmp_path / "picture.png"
    assert main(["plan", str(out / "checkpoint.pt"), "--map", str(tmp_path / "mine.npy"), "--start", "0", "0",
                 "--goal", "2", "0", "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "from (0, 0) to (2, 0)" in text and "shortest path 10" in text and png.exists()


def test_train_appends_metrics_per_epoch_and_draws_the_learning_curve(run, capsys):
    out, args = run
    records = _metrics(out)
    assert [r["epoch"] for r in records] == [1] and {"loss", "valid_optimal", "valid_success", "seconds"} <= set(records[0])
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*args, "--epochs", "2"]) == 0  # resumed: epoch 1's line kept, epoch 2 appended
    assert [r["epoch"] for r in _metrics(out)] == [1, 2] and _metrics(out)[0] == records[0]
    assert main([*args, "--epochs", "2"]) == 0  # nothing to train: no line twice
    assert [r["epoch"] for r in _metrics(out)] == [1, 2]
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert [r["loss"] for r in _metrics(out)] == [r["loss"] for r in payload["history"]]
    assert main([*args, "--epochs", "1", "--no-resume"]) == 0  # afresh
    assert [r["epoch"] for r in _metrics(out)] == [1]
    assert "metrics.jsonl" in capsys.readouterr().out
