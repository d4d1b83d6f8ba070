"""Issue 9's figures: one trained planner per world, %Optimal / %Success on its test split, plus transfer rows.

Runs a fixed list of ``gvin train`` / ``gvin evaluate --json`` commands (the
installed ``gvin`` next to ``sys.executable``, one at a time, each in a fresh
process through :func:`harness.run_child`, ``--threads 1`` and
``OMP_NUM_THREADS=1``), reads each one's figures as data (a training run's
``<out>/test.json``, the JSON object ``gvin evaluate --json`` prints: the split,
the depth, the graphs scored and the rates as fractions), and prints a markdown
table: world, data (size, counts), model, K, epochs, wall time, test %Optimal,
%Success and the exact command.

Rows (DT-VIN, the CLI's default K = 3 × side unless said):

* ``maze15``: 2-D GPPN mazes 15×15, 2000/200/500 (the reference);
* ``maze3d8``: 3-D mazes 8×8×8, 1000/200/200;
* ``terrain-jacksboro16`` / ``terrain-random16``: 16×16 rover windows of the
  Jacksboro DEM / of random synthetic terrain, 1000/200/200;
* ``cspace18`` / ``cspace36``: 2-link-arm C-spaces, 2000/200/500;
* ``roadmap100``: probabilistic roadmaps of 100 samples (geometric DT-VIN,
  ``edge_dim`` 3), 1000/200/200, lr 0.01;
* transfer (``gvin evaluate`` of a checkpoint on other data): maze 15 → 31×31
  (K 93) and → 63×63 (K 189); maze 15 ↔ C-space 18 (every 2-D grid graph has
  the 3×3 stencil, so the CLI allows it although the moves differ: 4- vs
  8-connected); and with matching moves, an 8-connected maze-15 run
  (``maze15-c8``) → C-space 18 and C-space 18 → 8-connected mazes 15. An
  evaluation the CLI refuses (exit status 2, one ``error: ...`` line on
  stderr) is reported as "refused" with that message;
* ``grid-roadmap``: a geometric DT-VIN (``edge_dim=3``) trained in Python on
  8-connected *grid* graphs with roadmap-style edge features (this script's
  ``grid-roadmap`` mode, :func:`grid_item`), evaluated on the roadmap row's
  test split (``RoadmapDataset("test", ...)``): read it next to ``roadmap100``;
  it writes ``test.json`` and ``metrics.jsonl`` as ``gvin train`` does.

Runs write into ``--out-root`` (default ``runs/world_figures``; ``--quick``:
``runs/world_figures_quick``), one folder per row: the run's checkpoint, its
log (``log.txt``) and ``result.json``. A row whose ``result.json`` holds the
same command is not run again; an interrupted training run resumes from its
checkpoint (``gvin train`` does that), and its time is then the sum over its
attempts, interrupted ones included (``attempts.json``, kept up to date while
a command runs). Time is the whole ``gvin train`` process (data generation,
epochs with validation, test evaluation): wall time, and the CPU seconds of
the process (user + system), which is what a shared machine cannot inflate.
``result.json`` also records the commit the command ran on (and whether
``gvin/`` had uncommitted changes then), the run's figures as it wrote them
(``record``) and its peak RSS.

Usage::

    python benchmarks/world_figures.py                     # every row (about an hour of one core)
    python benchmarks/world_figures.py --quick             # tiny settings, a smoke run
    python benchmarks/world_figures.py --rows cspace18 maze15-to-cspace18
    python benchmarks/world_figures.py --report            # print the table of finished rows only
    python benchmarks/world_figures.py --epochs 1 --out-root /tmp/wf1   # time one epoch of each run
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import MIB, Running, child_env, git_commit, markdown_table, run_child

REPO = Path(__file__).resolve().parent.parent
GVIN = str(Path(sys.executable).with_name("gvin"))
SCRIPT = Path(__file__).resolve()
TEST_FILE = "test.json"  # what gvin train (and this script's grid-roadmap mode) writes: the test split's figures
METRICS_FILE = "metrics.jsonl"  # one JSON line per finished epoch
CHECKPOINT = "checkpoint.pt"


# ----------------------------------------------------------------------------- rows
@dataclass
class Row:
    """One line of the table.

    Attributes:
        key: the run folder's name (``--rows`` picks rows by it).
        world, data, model: table cells.
        kind: ``"train"`` (``gvin train``), ``"evaluate"`` (``gvin evaluate`` of
            ``source``'s checkpoint) or ``"script"`` (this script's grid-roadmap mode).
        args: the command's arguments after ``gvin <command>`` (or after the script).
        epochs: epochs of a training run (``None`` for evaluations).
        source: the row whose checkpoint an evaluation reads.
        depth: K of an evaluation (``None``: as trained).
        note: shown after the data cell.
    """

    key: str
    world: str
    data: str
    model: str
    kind: str
    args: list[str]
    epochs: int | None = None
    source: str | None = None
    depth: int | None = None
    note: str = ""


# Settings per row: full, and --quick (tiny counts, one epoch, shallow K: a smoke run, not a figure).
FULL = {
    # epochs: about 5 minutes of one core each (cspace36 about 18), measured with --epochs 1 on 2 shared cores
    # (one epoch with validation: maze15 8 s, maze3d8 5 s, terrain 5 s, cspace18 12 s, cspace36 81 s, roadmap 3 s)
    "maze15": dict(counts=(2000, 200, 500), epochs=35),
    "maze3d8": dict(counts=(1000, 200, 200), epochs=50),
    "terrain-jacksboro16": dict(counts=(1000, 200, 200), epochs=50),
    "terrain-random16": dict(counts=(1000, 200, 200), epochs=50),
    "cspace18": dict(counts=(2000, 200, 500), epochs=24),
    "cspace36": dict(counts=(2000, 200, 500), epochs=13),
    "roadmap100": dict(counts=(1000, 200, 200), epochs=60, lr=0.01),
    "maze15-c8": dict(counts=(2000, 200, 500), epochs=20),
    "grid-roadmap": dict(counts=(1000, 200, 200), epochs=60, lr=0.01),
    "transfer-counts": (2000, 200, 500),
}
QUICK_COUNTS = (16, 4, 8)


def rows(quick: bool, out: Path, epochs_override: int | None = None) -> list[Row]:
    """Every row, in table order, with its command arguments (run folders under ``out``)."""
    root = out / "datasets"  # the maze worlds' cache (the other worlds are built in memory)

    def counts(key: str) -> tuple[int, int, int]:
        return QUICK_COUNTS if quick else FULL[key]["counts"]

    def epochs(key: str) -> int:
        if epochs_override is not None:
            return epochs_override
        return 1 if quick else FULL[key]["epochs"]

    def data(size: str, key: str) -> str:
        return f"{size}, {'/'.join(map(str, counts(key)))}"

    def train(key: str, world: str, size_text: str, data_args: list[str], model: str = "DT-VIN",
              cached: bool = False, note: str = "") -> Row:
        args = [*data_args, "--counts", *map(str, counts(key))]
        if cached:
            args += ["--root", str(root)]
        if quick:
            args += ["--depth", "6"]
        lr = FULL[key].get("lr")
        if lr is not None:
            args += ["--lr", f"{lr:g}"]
        args += ["--epochs", str(epochs(key)), "--threads", "1", "--out", str(out / key)]
        return Row(key, world, data(size_text, key), model, "train", args, epochs=epochs(key), note=note)

    def evaluate(key: str, source: str, world: str, size_text: str, data_args: list[str], depth: int | None,
                 counted: bool = True, cached: bool = False, note: str = "") -> Row:
        transfer = QUICK_COUNTS if quick else FULL["transfer-counts"]
        args = [str(out / source / CHECKPOINT), *data_args]
        if counted:
            args += ["--counts", *map(str, transfer)]
        if cached:
            args += ["--root", str(root)]
        if depth is not None:
            depth = 6 if quick else depth
            args += ["--depth", str(depth)]
        args += ["--device", "cpu", "--json"]
        text = f"{size_text}, {'/'.join(map(str, transfer))}" if counted else size_text
        return Row(key, world, text, f"DT-VIN ({source})", "evaluate", args, source=source, depth=depth,
                   note=note)

    grid = FULL["grid-roadmap"]
    grid_counts = counts("grid-roadmap")
    grid_args = ["grid-roadmap", "--counts", *map(str, grid_counts), "--test-count", str(counts("roadmap100")[2]),
                 "--epochs", str(epochs("grid-roadmap")), "--lr", f"{grid['lr']:g}",
                 *(["--depth", "6"] if quick else []), "--out", str(out / "grid-roadmap")]
    return [
        train("maze15", "maze", "15×15", ["--size", "15"], cached=True),
        train("maze3d8", "maze3d", "8×8×8", ["--world", "maze3d", "--size", "8"], cached=True),
        train("terrain-jacksboro16", "terrain (Jacksboro DEM)", "16×16 windows",
              ["--world", "terrain", "--size", "16"]),
        train("terrain-random16", "terrain (random synthetic)", "16×16 maps",
              ["--world", "terrain", "--terrain-source", "random", "--size", "16"]),
        train("cspace18", "cspace", "18×18 bins", ["--world", "cspace", "--size", "18"]),
        train("cspace36", "cspace", "36×36 bins", ["--world", "cspace", "--size", "36"],
              note="IDP paper: 10k/2k/2k"),
        train("roadmap100", "roadmap", "100 samples, k 8", ["--world", "roadmap", "--size", "100"],
              model="DT-VIN geometric (edge_dim 3)"),
        Row("grid-roadmap", "roadmap (trained on grids)",
            f"train: 10×10 grid graphs of roadmap workspaces, {grid_counts[0]}/{grid_counts[1]}; "
            f"test: the roadmap100 test split ({counts('roadmap100')[2]})",
            "DT-VIN geometric (edge_dim 3)", "script", grid_args, epochs=epochs("grid-roadmap")),
        evaluate("maze15-to-31", "maze15", "maze transfer", "15 → 31×31", ["--size", "31"], 93),
        evaluate("maze15-to-63", "maze15", "maze transfer", "15 → 63×63", ["--size", "63"], 189),
        evaluate("maze15-to-cspace18", "maze15", "maze → cspace", "cspace 18×18 (8-connected; trained 4)",
                 ["--world", "cspace", "--size", "18"], 54),
        evaluate("cspace18-to-maze15", "cspace18", "cspace → maze", "maze 15×15 (4-connected; trained 8)",
                 ["--world", "maze", "--size", "15"], 45, cached=True),
        train("maze15-c8", "maze (8-connected)", "15×15", ["--size", "15", "--connectivity", "8"], cached=True,
              note="for the C-space transfer"),
        evaluate("maze15-c8-to-cspace18", "maze15-c8", "maze → cspace", "cspace 18×18",
                 ["--world", "cspace", "--size", "18"], 54),
        evaluate("cspace18-to-maze15-c8", "cspace18", "cspace → maze", "maze 15×15, 8-connected",
                 ["--world", "maze", "--size", "15", "--connectivity", "8"], 45, cached=True),
    ]


# ----------------------------------------------------------------------------- running
def command_of(row: Row) -> list[str]:
    if row.kind == "script":
        return [sys.executable, str(SCRIPT), *row.args]
    return [GVIN, row.kind, *row.args]


def shown(command: list[str]) -> str:
    """The command as a shell line, with the repository's paths made relative."""
    parts = []
    for index, part in enumerate(command):
        if index == 0 and part == GVIN:
            part = "gvin"
        elif index == 0 and part == sys.executable:
            part = "python"
        elif part.startswith(str(REPO) + os.sep):
            part = os.path.relpath(part, REPO)
        parts.append(shlex.quote(part))
    return " ".join(parts)


def run_row(row: Row, out: Path, known: dict[str, dict]) -> dict:
    """Run one row (unless its result is stored with the same command); returns its result."""
    folder = out / row.key
    folder.mkdir(parents=True, exist_ok=True)
    command = command_of(row)
    text = shown(command)
    result_file = folder / "result.json"
    if result_file.exists():
        stored = json.loads(result_file.read_text())
        if stored.get("command") == text:
            print(f"[{row.key}] done before: {stored.get('status')}", file=sys.stderr, flush=True)
            return stored
    if row.source is not None and known.get(row.source, {}).get("status") != "ok":
        return {"command": text, "status": "skipped", "error": f"{row.source} has no checkpoint"}
    env = child_env(extra={"PYTHONUNBUFFERED": "1"})  # one thread: run_child sets the libraries' variables
    print(f"[{row.key}] {text}", file=sys.stderr, flush=True)
    attempts_file = folder / "attempts.json"
    attempts = json.loads(attempts_file.read_text()) if attempts_file.exists() else []
    attempt = {"command": text, "wall_s": 0.0, "cpu_s": 0.0, "status": "running"}
    attempts.append(attempt)  # kept up to date while it runs, so an interrupted attempt still counts

    def record() -> None:
        attempts_file.write_text(json.dumps(attempts, indent=2))

    attempt["library"] = _library_state()
    record()
    resumed_after = _epochs_done(folder) if row.kind != "evaluate" else None
    started = time.time()
    with open(folder / "log.txt", "a") as log:
        log.write(f"\n$ {text}\n")

        def on_line(line: str, running: Running) -> None:
            stamp = running.elapsed
            log.write(f"[{stamp:7.1f}s] {line}\n")
            log.flush()
            if not line.startswith("evaluate"):  # evaluate's progress bar, if any
                print(f"[{row.key} {stamp:6.0f}s] {line.rstrip()}", file=sys.stderr, flush=True)
            cpu = running.cpu_s()
            attempt.update(wall_s=stamp, cpu_s=attempt["cpu_s"] if cpu is None else cpu)
            record()

        run = run_child(command, threads=1, env=env, cwd=REPO, on_line=on_line, merge_stderr=True)
    code = run.returncode
    result: dict = {}
    figures = _figures(row, folder, run.json_line() if row.kind == "evaluate" else None, started) if code == 0 else None
    if figures is not None:
        result.update(optimal=100 * figures["optimal"], success=100 * figures["success"],
                      num_graphs=figures["num_graphs"], depth=figures["depth"], record=figures)
    if resumed_after:
        result["resumed_after"] = resumed_after
    error = run.last_line("error: ")
    if error is not None:
        result["error"] = error[len("error: "):]
    result.update(command=text, returncode=code, wall_s=run.wall_s, cpu_s=run.cpu_s,
                  peak_rss_mib=None if run.peak_rss is None else round(run.peak_rss / MIB, 1),
                  library=attempt["library"])
    if code == 0 and figures is not None:
        result["status"] = "ok"
    elif row.kind == "evaluate" and code == 2 and result.get("error"):  # the CLI refused: that is the result
        result["status"] = "refused"
    else:
        result["status"] = "failed"
        lines = run.stdout.splitlines()
        result.setdefault("error", (lines[-1] if lines else f"exit status {code}") if code != 0
                          else f"exit status 0 but no figures ({TEST_FILE} or --json output)")
    attempt.update(wall_s=run.wall_s, cpu_s=run.cpu_s, resumed_after=result.get("resumed_after"),
                   status=result["status"])
    record()
    if row.kind != "evaluate":  # a resumed run's time: every attempt of the same run, interrupted ones too
        same = [a for a in attempts if _same_run(a["command"], text)]
        result["train_wall_s"] = sum(a["wall_s"] for a in same)
        cpus = [a.get("cpu_s") for a in same]
        result["train_cpu_s"] = sum(cpus) if None not in cpus else None
        result["attempts"] = len(same)
    if result["status"] in ("ok", "refused"):
        result_file.write_text(json.dumps(result, indent=2))
    return result


def _figures(row: Row, folder: Path, printed: dict | None, started: float) -> dict | None:
    """The test figures of a finished command: ``gvin evaluate --json``'s object, or the ``test.json``
    a training run (or the grid-roadmap mode) wrote in ``folder`` since ``started`` (a ``time.time()``)."""
    if row.kind == "evaluate":
        return printed if printed is not None and "optimal" in printed else None
    path = folder / TEST_FILE
    try:
        if path.stat().st_mtime < started - 1:  # left by an earlier run
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _epochs_done(folder: Path) -> int | None:
    """The epochs a run folder's checkpoint holds before a (resumed) training run: the last epoch of
    its ``metrics.jsonl``; ``None`` without a checkpoint."""
    if not (folder / CHECKPOINT).exists():
        return None
    try:
        lines = (folder / METRICS_FILE).read_text().splitlines()
        return max((int(json.loads(line)["epoch"]) for line in lines if line.strip()), default=None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _library_state() -> str | None:
    """The repository's commit, and whether ``gvin/`` had uncommitted changes, when a command started."""
    state = git_commit(paths=["gvin"], untracked=True)
    if state is None:
        return None
    head, dirty = state
    return head + (" + uncommitted changes in gvin/" if dirty else "")


def _same_run(a: str, b: str) -> bool:
    """The same run but for ``--epochs`` (a resume that trains further)."""
    def strip(command: str) -> list[str]:
        words = shlex.split(command)
        return [w for i, w in enumerate(words) if w != "--epochs" and (i == 0 or words[i - 1] != "--epochs")]

    return strip(a) == strip(b)


# ----------------------------------------------------------------------------- table
def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


COLUMNS = ("world", "data (size, train/valid/test)", "model", "K", "epochs", "wall time (CPU)", "test %Optimal",
           "test %Success", "command")


def table(all_rows: list[Row], results: dict[str, dict]) -> str:
    cells_of = []
    for row in all_rows:
        result = results.get(row.key)
        if result is None:
            continue
        status = result.get("status")
        depth = result.get("depth") or row.depth
        if depth is None and row.source is not None:
            depth = results.get(row.source, {}).get("depth")
        if row.kind == "evaluate":
            wall, cpu = f"eval {_minutes(result.get('wall_s'))}", result.get("cpu_s")
        else:
            wall = _minutes(result.get("train_wall_s", result.get("wall_s")))
            cpu = result.get("train_cpu_s", result.get("cpu_s"))
        wall += f" ({_minutes(cpu)} CPU)" if cpu is not None else " (CPU –)"
        if result.get("attempts", 1) > 1:
            wall += f", {result['attempts']} attempts"
        data = row.data + (f" ({row.note})" if row.note else "")
        if status == "ok":
            optimal, success = f"{result['optimal']:.1f}", f"{result['success']:.1f}"
        elif status == "refused":
            optimal = success = "refused"
            data += f"; refused: {result.get('error', '')}"
        else:
            optimal = success = status or "not run"
            if result.get("error"):
                data += f"; {status}: {result['error']}"
        cells = [row.world, data.replace("|", "\\|"), row.model, str(depth or ""),
                 str(row.epochs) if row.epochs is not None else "", wall, optimal, success,
                 f"`{result['command']}`"]
        cells_of.append(cells)
    return markdown_table(COLUMNS, cells_of)


# ----------------------------------------------------------------------------- grid graphs for roadmap planners
def grid_item(free, goal: int, spacing: float = 1.0):
    """An 8-connected grid as a roadmap-style planning graph (what ``RoadmapDataset`` items hold).

    Args:
        free: ``[H, W]`` bool, ``True`` = free (row ``r`` is ``y``, column ``c`` is ``x``).
        goal: flat (row-major) index of a free goal cell.
        spacing: the length of one cell side in the unit of ``edge_attr``
            (1: one cell, as a roadmap's sample spacing is one unit there).

    Returns:
        ``Data`` with ``x [N, 2]`` (free = 1, goal flag), ``edge_index`` (free
        cells only, self-loops dropped, sorted by source), ``edge_attr [E, 3]``
        ``(dx, dy, length) / spacing`` in workspace order (``x`` = column, ``y`` =
        row, as a roadmap's ``(dx, dy, length)``), ``edge_weight`` (the length),
        ``move`` (all ``True``), ``goal``, ``pos [N, 2]`` ``(x, y)``, and the labels
        ``dist`` / ``optimal`` of :func:`gvin.datasets.roadmap.label_roadmap`
        (Euclidean move costs, exact Dijkstra).
    """
    import numpy as np
    import torch
    from torch_geometric.data import Data

    import gvin
    from gvin.datasets.roadmap import label_roadmap

    free = np.asarray(free, dtype=bool)
    graph = gvin.from_grid(free.astype(np.float32), goal=np.unravel_index(goal, free.shape), free_only=True,
                           connectivity=8)
    keep = graph.edge_index[0] != graph.edge_index[1]
    edge_index = graph.edge_index[:, keep]
    pos = graph.pos[:, [1, 0]].to(torch.float32)  # (row, col) -> (x, y)
    offset = pos[edge_index[1]] - pos[edge_index[0]]
    length = offset.norm(dim=1)
    data = Data(
        x=torch.stack([torch.ones(graph.num_nodes), graph.goal.float()], dim=1),
        edge_index=edge_index,
        edge_attr=torch.cat([offset, length[:, None]], dim=1) / spacing,
        edge_weight=length,
        move=torch.ones(edge_index.shape[1], dtype=torch.bool),
        goal=graph.goal.clone(),
        pos=pos,
        num_nodes=graph.num_nodes,
    )
    return label_roadmap(data)


def grid_workspaces(count: int, seed: int, split: int, cells: int = 10, min_reach: float = 0.5) -> list:
    """``count`` grid items of the roadmap world's workspaces, rasterised at ``cells × cells``.

    Each item: seeded :func:`gvin.random_obstacles` (3–8 circles and boxes in the
    roadmap world's workspace, as ``RoadmapDataset`` draws them), rasterised with
    :func:`gvin.workspace_occupancy` (10 × 10 cells over the 4 × 4 workspace: a
    cell side equals a 100-sample roadmap's sample spacing), a goal drawn in the
    largest connected component (redrawn until it holds ``min_reach`` of the
    free cells), then :func:`grid_item`.
    """
    import numpy as np

    import gvin
    from gvin.datasets.roadmap import largest_component

    items = []
    for index in range(count):
        rng = np.random.default_rng([seed, split, index, 0x6A1D])
        while True:
            obstacles = gvin.random_obstacles(rng, int(rng.integers(3, 9)), keep_clear=None)
            free = ~gvin.workspace_occupancy(obstacles, size=cells)
            if free.sum() < 2:
                continue
            links = gvin.from_grid(free.astype(np.float32), free_only=True, connectivity=8)
            component = largest_component(links.edge_index.numpy(), links.num_nodes)
            if len(component) < max(2, math.ceil(min_reach * links.num_nodes)):
                continue
            items.append(grid_item(free, int(links.cell[int(rng.choice(component))])))
            break
    return items


def grid_roadmap_main(argv: list[str]) -> int:
    """Train a geometric DT-VIN on grid graphs, evaluate it on the roadmap world's test split (``<out>/test.json``)."""
    parser = argparse.ArgumentParser(prog="world_figures.py grid-roadmap",
                                     description=grid_roadmap_main.__doc__)
    parser.add_argument("--counts", type=int, nargs=3, default=(1000, 200, 200), metavar=("TRAIN", "VALID", "TEST"),
                        help="grid graphs (the test count: grid graphs scored after training)")
    parser.add_argument("--test-count", type=int, default=200, help="roadmaps of the roadmap test split")
    parser.add_argument("--samples", type=int, default=100, help="roadmap samples (the roadmap row's --size)")
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--cells", type=int, default=10, help="grid cells a side")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--depth", type=int, default=None, help="K (default 3 × ⌈√samples⌉, the roadmap CLI's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from gvin.datasets.roadmap import RoadmapDataset
    from gvin.train.run import evaluation_record
    from gvin.train.run_files import MetricsLog, write_json
    from gvin.train.trainer import Trainer, TrainConfig, evaluate

    depth = args.depth or 3 * math.ceil(math.sqrt(args.samples))
    train, valid, test = (grid_workspaces(n, args.seed, split, args.cells) for split, n in enumerate(args.counts))
    config = TrainConfig(model="dtvin", model_kwargs={"edge_dim": 3, "num_iterations": depth},
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         data={"grid-roadmap": [args.cells, *args.counts], "seed": args.seed})
    args.out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(config, checkpoint=args.out / CHECKPOINT, resume=True)
    if trainer.epoch:
        print(f"resuming {args.out / CHECKPOINT} after epoch {trainer.epoch}", flush=True)
    metrics_log = MetricsLog(args.out / METRICS_FILE)  # as gvin train keeps it
    metrics_log.start(trainer.history)
    params = sum(p.numel() for p in trainer.model.parameters())
    print(f"grid-roadmap dtvin(edge_dim=3): {params} parameters, K={depth}, {len(train)} training grid graphs "
          f"({args.cells}x{args.cells}, mean {sum(d.num_nodes for d in train) / len(train):.0f} free cells)",
          flush=True)

    def report(record: dict) -> None:
        metrics_log.append(record)
        print(f"epoch {int(record['epoch'])}/{args.epochs}  loss {record['loss']:.4f}  grid valid %Optimal "
              f"{100 * record['valid_optimal']:.1f}  %Success {100 * record['valid_success']:.1f}", flush=True)

    trainer.fit(train, valid or None, progress=False, on_epoch=report)
    if test:
        grids = evaluate(trainer.model, test, "cpu")
        print(f"grid test ({grids.num_graphs} grids): %Optimal {100 * grids.optimal:.1f}  "
              f"%Success {100 * grids.success:.1f}", flush=True)
    roadmaps = RoadmapDataset("test", size=args.samples, counts=(0, 0, args.test_count), seed=0,
                              neighbours=args.neighbours)
    metrics = evaluate(trainer.model, roadmaps, "cpu")
    parts = "  ".join(f"{name} {value:.1f}" for name, value in metrics.as_percent().items())
    print(f"test ({metrics.num_graphs} roadmaps, policy over moves): {parts}", flush=True)
    write_json(args.out / TEST_FILE, evaluation_record(metrics, "test", trainer.model, trainer.epoch))
    return 0


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["grid-roadmap"]:
        return grid_roadmap_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-root", type=Path, default=None,
                        help="run folders (default runs/world_figures; --quick: runs/world_figures_quick)")
    parser.add_argument("--quick", action="store_true", help="tiny counts, one epoch, K 6: a smoke run")
    parser.add_argument("--rows", nargs="+", default=None,
                        help="run these rows only (and the rows whose checkpoints they read)")
    parser.add_argument("--epochs", type=int, default=None, help="every training row trains this many epochs")
    parser.add_argument("--report", action="store_true", help="run nothing; print the finished rows")
    args = parser.parse_args(argv)

    out = args.out_root or Path("runs/world_figures_quick" if args.quick else "runs/world_figures")
    out = (REPO / out).resolve() if not out.is_absolute() else out
    every = rows(args.quick, out, args.epochs)
    by_key = {row.key: row for row in every}
    wanted = set(args.rows or by_key)
    unknown = wanted - set(by_key)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; rows: {', '.join(by_key)}")
    for key in list(wanted):  # an evaluation needs its source's checkpoint
        if by_key[key].source:
            wanted.add(by_key[key].source)
    chosen = [row for row in every if row.key in wanted]

    results: dict[str, dict] = {}
    start = time.perf_counter()
    for row in chosen:
        if args.report:
            stored = out / row.key / "result.json"
            if stored.exists():
                results[row.key] = json.loads(stored.read_text())
            continue
        results[row.key] = run_row(row, out, results)
    total = time.perf_counter() - start
    print(table(chosen, results))
    if not args.report:
        where = os.path.relpath(out, REPO) if out.is_relative_to(REPO) else str(out)
        print(f"\n{len(chosen)} rows in {_minutes(total)} (this invocation); runs in {where}")
    failed = [key for key, result in results.items() if result.get("status") not in ("ok", "refused")]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
