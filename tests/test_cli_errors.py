"""Mistakes a careless user makes with the gvin command: one ``error:`` line, a non-zero exit, no traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gvin.cli import main
from gvin.datasets import MazeDataset
from gvin.graphs.grid import grid_stencil
from gvin.train import TrainConfig, Trainer

TINY = ["--size", "7", "--counts", "24", "8", "8", "--depth", "4", "--hidden", "8", "--batch-size", "8"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``gvin argv`` in-process: (exit status, stdout, stderr); any other exception fails the test."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A trained tiny run, its cached data, a GPPN file, and broken copies of the run's files."""
    base = tmp_path_factory.mktemp("cli_errors")
    run = base / "run"
    code = main(["train", *TINY, "--epochs", "1", "--root", str(base / "data"), "--out", str(run)])
    assert code == 0
    assert main(["generate", str(base / "mazes.npz"), "--size", "7", "--counts", "8", "2", "2"]) == 0
    MazeDataset(base / "data", split="valid", size=7, counts=(8, 0, 8), connectivity=4, kernel_size=3, log=False)
    (base / "afile").write_text("not a folder, not a checkpoint, not an archive\n")
    (base / "folder").mkdir()
    (base / "garbage.pt").write_bytes(b"this is not a checkpoint")
    payload = torch.load(run / "checkpoint.pt", weights_only=True)

    def variant(name: str, checkpoint, run_json: str | None = "copy") -> None:
        folder = base / name
        folder.mkdir()
        torch.save(checkpoint, folder / "checkpoint.pt")
        if run_json == "copy":
            shutil.copy(run / "run.json", folder / "run.json")
        elif run_json is not None:
            (folder / "run.json").write_text(run_json)

    variant("handmade", {"model": payload["model"]})
    variant("bare", payload["model"])
    variant("no_model_name", {**payload, "config": {"epochs": 3}})
    wrong = json.loads(json.dumps(payload["config"]))
    wrong["model_kwargs"]["hidden_channels"] = 16
    variant("mismatch", {**payload, "config": wrong})
    unknown = json.loads(json.dumps(payload["config"]))
    unknown["model_kwargs"]["colour"] = "red"
    variant("unknown_kwarg", {**payload, "config": unknown})
    old = json.loads(json.dumps(payload["config"]))
    del old["data"]
    variant("old_no_run", {**payload, "config": old}, run_json=None)
    variant("json_truncated", payload, run_json='{"data": ')
    variant("json_list", payload, run_json="[1, 2]")
    variant("json_empty", {**payload, "config": old}, run_json="{}")
    variant("bad_record", {**payload, "config": {**old, "data": {"kind": "gppn", "size": "big"}}})
    partial = {"kind": "gppn", "connectivity": 4, "kernel_size": 3}
    variant("partial_record", {**payload, "config": {**old, "data": partial}})
    variant("string_record", {**payload, "config": {**old, "data": "mazes.npz"}})
    variant("json_no_data_keys", {**payload, "config": old}, run_json='{"data": {"root": "/tmp"}, "kernel_size": 3}')
    strict = json.loads(json.dumps(payload["config"]))  # DT-VIN's weights, solved as a fixed point, strictly
    strict["model"] = "implicit_dtvin"
    strict["model_kwargs"].update(gamma=0.99, fixed_point={"strict": True})
    variant("strict_implicit", {**payload, "config": strict})
    for name, kwargs in (("geometric", {"edge_dim": 3}), ("grid3d", {"stencil": grid_stencil(3, 6).tolist()})):
        config = TrainConfig(model="dtvin", model_kwargs={**kwargs, "hidden_channels": 8, "num_iterations": 4})
        Trainer(config, checkpoint=base / name / "checkpoint.pt").save()
    (base / "map.txt").write_text("# # # #\n# S . #\n# . G #\n# # # #\n")
    (base / "unmarked.txt").write_text("....\n.#..\n....\n")
    (base / "map.csv").write_text("1,1\n1,1\n")
    (base / "garbage_run").mkdir()
    (base / "garbage_run" / "checkpoint.pt").write_bytes(b"half a checkpoint")
    names = ("run", "afile", "folder", "data", "handmade", "bare", "no_model_name", "mismatch", "unknown_kwarg",
             "old_no_run", "json_truncated", "json_list", "json_empty", "bad_record", "garbage_run",
             "partial_record", "string_record", "json_no_data_keys", "strict_implicit", "geometric", "grid3d")
    return {name: str(base / name) for name in names} | {
        "base": str(base), "garbage": str(base / "garbage.pt"), "npz": str(base / "mazes.npz"),
        "map_txt": str(base / "map.txt"), "unmarked": str(base / "unmarked.txt"), "map_csv": str(base / "map.csv"),
    }


HUGE = str(10**12)
OUT = ["--out", "{base}/new"]

# (argv with {placeholders}, a piece of the error message that names the problem)
CASES = [
    # generate
    (["generate", "{folder}", "--size", "7", "--counts", "2", "1", "1"], "is a folder"),
    (["generate", "{afile}/x.npz", "--size", "7", "--counts", "2", "1", "1"], "afile"),
    (["generate", "{base}/x.npz", "--counts", "0", "0", "0"], "--counts"),
    (["generate", "{base}/x.npz", "--counts", "2", "1"], "--counts"),
    (["generate", "{base}/x.npz", "--size", "7", "--counts", HUGE, "1", "1"], "GiB"),
    (["generate", "{base}/x.npz", "--size", HUGE, "--counts", "1", "1", "1"], "GiB"),
    (["generate", "{base}/x.npz", "--size", "2"], "--size"),
    (["generate", "{base}/x.npz", "--size", "seven"], "--size"),
    (["generate", "{base}/x.npz", "--seed", "-1"], "--seed"),
    (["generate", "{base}/x.npz", "--kind", "forest"], "--kind"),
    # train: numbers
    (["train", *TINY, "--depth", "0", *OUT], "--depth"),
    (["train", *TINY, "--epochs", "0", *OUT], "--epochs"),
    (["train", *TINY, "--lr", "inf", *OUT], "--lr"),
    (["train", *TINY, "--lr", "nan", *OUT], "--lr"),
    (["train", *TINY, "--lr", "-0.1", *OUT], "--lr"),
    (["train", *TINY, "--lr", "fast", *OUT], "--lr"),
    (["train", *TINY, "--batch-size", "0", *OUT], "--batch-size"),
    (["train", *TINY, "--highway", "-1", *OUT], "--highway"),
    (["train", *TINY, "--threads", "-1", *OUT], "--threads"),
    (["train", *TINY, "--threads", "0", *OUT], "--threads"),
    (["train", *TINY, "--threads", "100000", *OUT], "--threads"),
    (["train", *TINY, "--counts", "0", "0", "0", *OUT], "--counts"),
    (["train", *TINY, "--counts", "-1", "8", "8", *OUT], "--counts"),
    (["train", *TINY, "--counts", "8", "8", "0", *OUT], "--counts"),
    (["train", *TINY, "--counts", HUGE, "1", "1", *OUT], "GiB"),
    (["train", *TINY, "--depth", HUGE, *OUT], "--depth"),
    (["train", *TINY, "--size", "1", *OUT], "--size"),
    (["train", *TINY, "--kernel-size", "4", *OUT], "--kernel-size"),
    (["train", *TINY, "--kernel-size", "1", *OUT], "--kernel-size"),
    (["train", *TINY, "--seed", "-1", *OUT], "--seed"),
    (["train", *TINY, "--data-seed", "-1", *OUT], "--data-seed"),
    (["train", *TINY, "--hidden", "0", *OUT], "--hidden"),
    (["train", *TINY, "--latent-actions", "0", *OUT], "--latent-actions"),
    (["train", *TINY, "--model", "gppn", "--latent-actions", "4", *OUT], "--latent-actions"),
    (["train", *TINY, "--device", "tpu", *OUT], "--device"),
    (["train", *TINY, "--device", "cuda:99", *OUT], "cuda:99"),
    (["train", *TINY], "--out"),
    # train: implicit models and their fixed-point solver
    (["train", *TINY, "--model", "implicit_dtvin", "--f-tol", "0", *OUT], "--f-tol"),
    (["train", *TINY, "--model", "implicit_dtvin", "--f-tol", "nan", *OUT], "--f-tol"),
    (["train", *TINY, "--model", "implicit_dtvin", "--b-tol", "-1e-3", *OUT], "--b-tol"),
    (["train", *TINY, "--model", "implicit_dtvin", "--b-solver", "newton", *OUT], "--b-solver"),
    (["train", *TINY, "--model", "implicit_dtvin", "--f-solver", "phantom", *OUT], "--f-solver"),
    (["train", *TINY, "--model", "implicit_dtvin", "--f-stop-mode", "max", *OUT], "--f-stop-mode"),
    (["train", *TINY, "--model", "implicit_dtvin", "--b-max-iter", "0", *OUT], "--b-max-iter"),
    (["train", *TINY, "--model", "implicit_vin", "--phantom-steps", "0", *OUT], "--phantom-steps"),
    (["train", *TINY, "--model", "implicit_vin", "--phantom-steps", "3", *OUT], "--phantom-steps"),
    (["train", *TINY, "--model", "implicit_vin", "--b-solver", "phantom", "--b-max-iter", "9", *OUT], "--b-max-iter"),
    (["train", *TINY, "--model", "implicit_dtvin", "--gamma", "1", *OUT], "--gamma 1:"),
    (["train", *TINY, "--model", "implicit_dtvin", "--highway", "2", *OUT], "--highway"),
    (["train", *TINY, "--model", "implicit_solver", *OUT], "--model"),
    (["train", *TINY, "--gamma", "1.5", *OUT], "--gamma"),
    (["train", *TINY, "--model", "gppn", "--gamma", "0.9", *OUT], "--gamma"),
    (["train", *TINY, "--model", "implicit_gppn", "--gamma", "0.9", *OUT], "implicit_gppn has none"),
    (["train", *TINY, "--model", "implicit_gppn", "--latent-actions", "3", *OUT], "--latent-actions"),
    (["train", *TINY, "--model", "dtvin", "--f-tol", "1e-3", *OUT], "--f-tol"),
    (["train", *TINY, "--model", "vin", "--b-solver", "phantom", "--phantom-steps", "2", *OUT],
     "--b-solver, --phantom-steps"),
    (["train", *TINY, "--model", "implicit_dtvin", "--root", "{data}", "--out", "{run}"],
     "--model: saved 'dtvin' vs now 'implicit_dtvin'"),
    (["train", *TINY, "--gamma", "0.9", "--root", "{data}", "--out", "{run}"], "--gamma: saved not set vs now 0.9"),
    # train: files and data
    (["train", *TINY, "--out", "{afile}"], "afile"),
    (["train", *TINY, "--out", "{afile}/run"], "afile"),
    (["train", *TINY, "--root", "{afile}", *OUT], "afile"),
    (["train", "--npz", "{folder}", *OUT], "folder"),
    (["train", "--npz", "{afile}", *OUT], "afile"),
    (["train", "--npz", "{base}/absent.npz", *OUT], "absent.npz"),
    (["train", "--npz", "{npz}", "--size", "9", *OUT], "--size"),
    (["train", "--npz", "{npz}", "--counts", "1", "1", "1", "--data-seed", "3", *OUT], "--counts, --data-seed"),
    (["train", "--npz", "{npz}", "--root", "{folder}", *OUT], "--root"),
    (["train", *TINY, "--data-seed", "5", "--root", "{data}", "--out", "{run}"], "other data"),
    (["train", *TINY, "--kernel-size", "5", "--root", "{data}", "--out", "{run}"], "kernel_size"),
    (["train", *TINY, "--root", "{data}", "--out", "{old_no_run}"], "run.json"),
    (["train", *TINY, "--root", "{data}", "--out", "{garbage_run}"], "checkpoint.pt"),
    # train: worlds (issue 9)
    (["train", *TINY, "--world", "mars", *OUT], "--world"),
    (["train", "--world", "terrain", "--npz", "{npz}", *OUT], "--npz: not a setting of --world terrain"),
    (["train", *TINY, "--world", "terrain", "--kind", "gppn", *OUT], "--kind: not a setting of --world terrain"),
    (["train", *TINY, "--world", "cspace", "--root", "{folder}", *OUT], "--root: not a setting of --world cspace"),
    (["train", *TINY, "--world", "cspace", "--terrain-source", "random", *OUT], "--terrain-source"),
    (["train", *TINY, "--max-slope", "10", *OUT], "--max-slope: not a setting of --world maze"),
    (["train", *TINY, "--world", "terrain", "--max-slope", "0", *OUT], "--max-slope"),
    (["train", *TINY, "--world", "maze3d", "--connectivity", "4", *OUT], "--connectivity 4: --world maze3d takes 6"),
    (["train", *TINY, "--connectivity", "26", *OUT], "--connectivity 26: --world maze takes 4 or 8"),
    (["train", *TINY, "--world", "maze3d", "--kernel-size", "5", *OUT], "--kernel-size 5"),
    (["train", *TINY, "--world", "cspace", "--out", "{run}"], "world: saved None vs now 'cspace'"),
    (["evaluate", "{run}/checkpoint.pt", "--world", "terrain", "--kind", "gridworld"], "--kind"),
    # roadmaps (issue 9)
    (["train", *TINY, "--world", "roadmap", "--connectivity", "8", *OUT],
     "--connectivity: not a setting of --world roadmap (its data settings: --size, --counts, --data-seed, --neighbours, --self-loops)"),
    (["train", *TINY, "--world", "roadmap", "--kind", "gppn", *OUT], "--kind: not a setting of --world roadmap"),
    (["train", *TINY, "--world", "roadmap", "--root", "{folder}", *OUT], "--root: not a setting of --world roadmap"),
    (["train", "--world", "roadmap", "--npz", "{npz}", *OUT], "--npz: not a setting of --world roadmap"),
    (["train", *TINY, "--neighbours", "4", *OUT], "--neighbours: not a setting of --world maze"),
    (["train", *TINY, "--world", "roadmap", "--neighbours", "0", *OUT], "--neighbours"),
    (["train", *TINY, "--world", "roadmap", "--kernel-size", "5", *OUT],
     "--kernel-size 5: --world roadmap builds its graphs without a stencil"),
    (["train", *TINY, "--world", "roadmap", "--actions", "directions", *OUT],
     "--actions directions: --world roadmap has no grid of move directions"),
    (["train", *TINY, "--world", "roadmap", "--counts", HUGE, "1", "1", *OUT], "roadmaps of 7 samples in batches of 8"),
    (["train", *TINY, "--world", "roadmap", "--size", HUGE, *OUT], "reduce --counts, --size, --batch-size or --neighbours"),
    (["train", *TINY, "--world", "roadmap", "--out", "{run}"], "world: saved None vs now 'roadmap'"),
    (["evaluate", "{run}/checkpoint.pt", "--world", "roadmap"],
     "holds a planner of --world maze graphs (edge_dim: saved None vs now 3); plan with it on maze data"),
    (["plan", "{run}/checkpoint.pt", "--neighbours", "3"], "--neighbours: not a setting of --world maze"),
    (["generate", "{base}/x.npz", "--world", "roadmap"], "--world roadmap: gvin generate writes GPPN .npz files"),
    (["plan", "{run}/checkpoint.pt", "--max-slope", "30"], "--max-slope"),
    # evaluate
    (["evaluate", "{folder}"], "is a folder"),
    (["evaluate", "{base}/missing.pt"], "missing.pt"),
    (["evaluate", "{garbage}"], "garbage.pt"),
    (["evaluate", "{run}/run.json"], "run.json"),
    (["evaluate", "{handmade}/checkpoint.pt"], "no gvin training config"),
    (["evaluate", "{bare}/checkpoint.pt"], "bare state_dict"),
    (["evaluate", "{no_model_name}/checkpoint.pt"], "no gvin training config"),
    (["evaluate", "{mismatch}/checkpoint.pt"], "do not fit"),
    (["evaluate", "{unknown_kwarg}/checkpoint.pt"], "colour"),
    (["evaluate", "{old_no_run}/checkpoint.pt"], "run.json"),
    (["evaluate", "{json_truncated}/checkpoint.pt"], "json_truncated/run.json"),
    (["evaluate", "{json_list}/checkpoint.pt"], "json_list/run.json"),
    (["evaluate", "{json_empty}/checkpoint.pt"], "json_empty/run.json"),
    (["evaluate", "{bad_record}/checkpoint.pt"], "bad_record/checkpoint.pt"),
    (["evaluate", "{partial_record}/checkpoint.pt"], "size, counts, data_seed"),
    (["plan", "{string_record}/checkpoint.pt"], "string_record/checkpoint.pt holds a broken data record"),
    (["plan", "{json_no_data_keys}/checkpoint.pt"], "json_no_data_keys/run.json holds a broken data record"),
    (["evaluate", "{run}/checkpoint.pt", "--depth", "0"], "--depth"),
    (["evaluate", "{run}/checkpoint.pt", "--depth", HUGE], "--depth"),
    (["evaluate", "{run}/checkpoint.pt", "--device", "cuda:99"], "cuda:99"),
    (["evaluate", "{run}/checkpoint.pt", "--npz", "{afile}"], "afile"),
    (["evaluate", "{run}/checkpoint.pt", "--npz", "{npz}", "--kind", "gridworld"], "--kind"),
    (["evaluate", "{run}/checkpoint.pt", "--root", "{afile}"], "afile"),
    (["evaluate", "{run}/checkpoint.pt", "--counts", "8", "0", "8", "--split", "valid", "--root", "{data}"],
     "no mazes"),
    # plan
    (["plan", "{strict_implicit}/checkpoint.pt", "--depth", "1"], "stopped after 1 steps"),
    (["evaluate", "{strict_implicit}/checkpoint.pt", "--depth", "2"], "strict=True); try a larger --depth"),
    (["plan", "{run}/checkpoint.pt", "--index", "99"], "--index"),
    (["plan", "{run}/checkpoint.pt", "--index", "-1"], "--index"),
    (["plan", "{run}/checkpoint.pt", "--depth", "0"], "--depth"),
    (["plan", "{run}/checkpoint.pt", "--png", "{folder}"], "--png"),
    (["plan", "{run}/checkpoint.pt", "--png", "{base}/picture.txt"], "--png"),
    (["plan", "{run}/checkpoint.pt", "--png", "{afile}/x.png"], "afile"),
    (["plan", "{run}/checkpoint.pt", "--split", "dev"], "--split"),
    (["plan", "{run}"], "is a folder"),
    # plan on a map file of the user's (issue 12)
    (["plan", "{run}/checkpoint.pt", "--map", "{base}/absent.txt"], "absent.txt: no such file"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_csv}"], "expected a map file ending in .npy, .txt or .png"),
    (["plan", "{run}/checkpoint.pt", "--map", "{folder}.png"], "no such file"),
    (["plan", "{run}/checkpoint.pt", "--map", "{folder}"], "is a folder; expected a map file"),
    (["plan", "{run}/checkpoint.pt", "--map", "{afile}"], "(it has no extension)"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--start", "0", "0"], "--start (0, 0) is on a wall"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--goal", "9", "1"], "--goal (9, 1) is outside"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--goal", "1"], "--goal"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--start", "-1", "1"], "--start"),
    (["plan", "{run}/checkpoint.pt", "--map", "{unmarked}"], "marks no start cell (S); give --start ROW COL"),
    (["plan", "{run}/checkpoint.pt", "--map", "{unmarked}", "--start", "0", "0"], "marks no goal cell (G)"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--index", "2"], "--index: choose a maze of the data"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--size", "9"], "--size: choose a maze of the data"),
    (["plan", "{run}/checkpoint.pt", "--start", "1", "1"], "--start: cells of your own map"),
    (["plan", "{run}/checkpoint.pt", "--map", "{map_txt}", "--png", "{folder}"], "--png"),
    (["plan", "{geometric}/checkpoint.pt", "--map", "{map_txt}"], "a geometric planner (edge_dim=3)"),
    (["plan", "{grid3d}/checkpoint.pt", "--map", "{map_txt}"], "plans on 2-D maps"),
    (["plan", "{base}/missing.pt", "--map", "{map_txt}"], "missing.pt"),
    # demo and the command itself
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--out", "{afile}"], "afile"),
    (["launch"], "launch"),
    ([], "command"),
]


def _fill(argv: list[str], files: dict[str, str]) -> list[str]:
    return [arg.format(**files) for arg in argv]


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a[:1] + a[-4:]) for a, _ in CASES])
def test_a_user_mistake_is_one_error_line(argv, names, files, capsys):
    before = sorted(p.name for p in Path(files["base"]).iterdir())
    code, out, err = run_cli(_fill(argv, files), capsys)
    assert code not in (0, None), out
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert names in lines[0], lines[0]
    assert sorted(p.name for p in Path(files["base"]).iterdir()) == before  # nothing written ('new' never appears)


def test_the_cases_are_many_and_distinct():
    assert len({tuple(argv) for argv, _ in CASES}) == len(CASES) >= 30
    assert {argv[0] for argv, _ in CASES if argv} >= {"generate", "train", "evaluate", "plan", "demo"}


def test_the_installed_command_exits_non_zero_without_a_traceback(files):
    for argv, names in [(["train", *TINY, "--threads", "-1", "--out", "x"], "--threads"),
                        (["evaluate", os.path.join(files["base"], "bare", "checkpoint.pt")], "bare state_dict")]:
        done = subprocess.run([sys.executable, "-m", "gvin.cli", *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and names in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_named_not_a_damaged_checkpoint(files, capsys):
    code, _, err = run_cli(["evaluate", files["run"] + "/checkpoint.pt", "--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in err and "damaged" not in err
    from gvin.train import load_checkpoint

    with pytest.raises(ValueError, match="CUDA is not available"):
        load_checkpoint(Path(files["run"]) / "checkpoint.pt", map_location="cuda")
