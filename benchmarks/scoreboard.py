"""The scoreboard: every world's planner trained with the default recipe, over seeds, beside its target.

Each row is a ``gvin train`` command (or a published-recipe script) run once per seed, one
thread each; some rows add ``gvin evaluate --json`` runs on the trained checkpoints
(planning 8× deeper, transfer to larger mazes generated independently of the training
data). Every run leaves a record in ``benchmarks/results/scoreboard/<row>-s<seed>.json``
(commit, seed, command, wall time, metrics); a run whose record holds the same command is
not run again, and an interrupted ``gvin train`` resumes from its checkpoint (run folders
under ``--runs``, git-ignored). ``benchmarks/results/scoreboard.md`` is rewritten after every
run: per row and figure the median and range over the seeds done, the target and the
published figure, and whether the target is met; unfinished rows say so.

Usage::

    python benchmarks/scoreboard.py --list                     # the rows, their cost
    python benchmarks/scoreboard.py --rows maze15 terrain-random16 --jobs 2
    nohup python benchmarks/scoreboard.py --slow --jobs 2 > scoreboard.log 2>&1 &   # everything
    python benchmarks/scoreboard.py --report                   # rewrite scoreboard.md from the records
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import results_store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_FILE = ROOT.parent / "shared" / "data" / "m15_4abs-cc_10k.npz"
RECORDS = results_store.RESULTS / "scoreboard"
TABLE = results_store.RESULTS / "scoreboard.md"
FIGURES = {  # metric key -> (column label, shown as a percentage)
    "optimal": ("%Optimal", True), "success": ("%Success", True), "near_optimal": ("%Optimal(1%)", True),
    "cost_ratio": ("cost ratio", False),
}


@dataclass(frozen=True)
class Evaluation:
    """A ``gvin evaluate --json`` run on each seed's checkpoint: its name and extra arguments."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """One line of the scoreboard.

    Attributes:
        name: the row's key (``--rows``).
        title: what it measures.
        train: ``gvin train`` arguments (without ``--seed``, ``--threads``, ``--out``), or a
            script's arguments when ``script`` is set.
        targets: ``{"<evaluation>:<figure>": minimum}`` (``"test:success"`` is the training run's test split).
        published: the published figures to beat, as text.
        seeds: seeds to run.
        slow: hours of CPU per seed: run only with ``--slow`` (or named in ``--rows``).
        cost: a rough CPU cost per seed, for ``--list``.
        evaluations: ``gvin evaluate`` runs on each checkpoint.
        script: a benchmarks/ script that trains and writes ``result.json`` into ``--out``.
    """

    name: str
    title: str
    train: tuple[str, ...]
    targets: dict[str, float]
    published: str = ""
    seeds: tuple[int, ...] = (0, 1, 2)
    slow: bool = False
    cost: str = ""
    evaluations: tuple[Evaluation, ...] = ()
    script: str | None = None
    shown: tuple[str, ...] = field(default=("test:optimal", "test:success"))


def _transfer(side: int) -> Evaluation:
    """Mazes of ``side`` from gvin's own generator (another implementation, other seeds than the file's)."""
    return Evaluation(f"gppn{side}", ("--kind", "gppn", "--size", str(side), "--counts", "0", "0", "100",
                                      "--data-seed", "7", "--depth", str(3 * side)))


MAZE_FILE = ("--npz", str(SHARED_FILE), "--model", "dtvin", "--actions", "directions", "--epochs", "10")
WEIGHTED = ("test:optimal", "test:success", "test:near_optimal", "test:cost_ratio")


def maze15_row(head: str | None = None, successor_init: float | None = None) -> Row:
    """The README's default command on the shared 15×15 file (with ``--head`` / ``--successor-init`` when
    given), planning 8× deeper, and transfer to 31×31 and 63×63 mazes of another generator."""
    options = (("--head", head) if head else ()) + (
        ("--successor-init", f"{successor_init:g}") if successor_init is not None else ())
    suffix = (f"-{head}" if head else "") + (f"-beta{successor_init:g}" if successor_init is not None else "")
    return Row(
        "maze15" + suffix,
        "DT-VIN, shared 15×15 file (the README's default command" + (f" {' '.join(options)}" if options else "")
        + "); 8× deeper; 15 → 31, 63 transfer",
        MAZE_FILE + options,
        {"test:optimal": 99.5, "test:success": 99.8, "deep:success": 99.8, "gppn63:success": 90.0},
        published="DT-VIN paper: 99.9 %Suc on 15×15 (own generator)" if head is None else "",
        cost="~6 min", evaluations=(Evaluation("deep", ("--depth", "360")), _transfer(31), _transfer(63)),
        shown=("test:optimal", "test:success", "deep:optimal", "deep:success", "gppn31:success", "gppn63:success"))


ROWS = [
    maze15_row(),
    Row("terrain-random16", "DT-VIN, random synthetic terrain 16×16 (edge features)",
        ("--world", "terrain", "--terrain-source", "random", "--size", "16", "--counts", "1000", "200", "200",
         "--epochs", "50"), {"test:success": 95.0}, cost="~5 min", shown=WEIGHTED),
    Row("terrain-jacksboro16", "DT-VIN, Jacksboro DEM windows 16×16 (edge features)",
        ("--world", "terrain", "--size", "16", "--counts", "1000", "200", "200", "--epochs", "50"),
        {"test:success": 99.0, "test:near_optimal": 90.0}, cost="~5 min", shown=WEIGHTED),
    Row("roadmap100", "geometric DT-VIN, probabilistic roadmaps of 100 samples",
        ("--world", "roadmap", "--size", "100", "--counts", "1000", "200", "200", "--epochs", "60", "--lr", "0.01"),
        {"test:success": 99.0, "test:near_optimal": 90.0}, cost="~5 min", shown=WEIGHTED),
    Row("maze3d8", "DT-VIN, 3-D mazes 8×8×8", ("--world", "maze3d", "--size", "8", "--counts", "2000", "200", "500",
                                              "--epochs", "30"), {"test:success": 99.0}, cost="~5 min"),
    Row("cspace18-10k", "DT-VIN, 2-link arm C-space 18×18, IDP scale 10k/2k/2k",
        ("--world", "cspace", "--size", "18", "--counts", "10000", "2000", "2000", "--epochs", "15"),
        {"test:success": 99.7}, published="ID-SymVIN 99.63 %Suc (IDP Table 1)", cost="~90 min", slow=True),
    Row("cspace36-10k", "DT-VIN, 2-link arm C-space 36×36, IDP scale 10k/2k/2k",
        ("--world", "cspace", "--size", "36", "--counts", "10000", "2000", "2000", "--epochs", "30"),
        {"test:success": 98.6}, published="ID-SymVIN 98.53 %Suc (IDP Table 1)", seeds=(0,), cost="~6 h", slow=True),
    Row("maze28-25k", "DT-VIN, 28×28 mazes, GPPN's 25k/5k/5k task",
        ("--size", "28", "--counts", "25000", "5000", "5000", "--actions", "directions", "--epochs", "10"),
        {"test:optimal": 98.0, "test:success": 99.0}, published="GPPN README: GPPN 96.5 / 97.8", seeds=(0,),
        cost="~2 h", slow=True),
    Row("vin-published", "VIN (K 30, F 5) at the GPPN code's recipe, shared 15×15 file",
        ("--model", "vin"), {"test:optimal": 77.4, "test:success": 79.0},
        published="GPPN README: 77.4 / 79.0", seeds=(0,), cost="~95 min", slow=True, script="reproduce_gppn.py"),
    Row("gppn-published", "GPPN (K 20, F 9) at the GPPN code's recipe, shared 15×15 file",
        ("--model", "gppn"), {"test:optimal": 95.8, "test:success": 96.8},
        published="GPPN README: 96.8 / 97.8 (target: within 1 point)", seeds=(0,), cost="~7 h", slow=True,
        script="reproduce_gppn.py"),
]


def gvin_command() -> list[str]:
    return [str(Path(sys.executable).with_name("gvin"))]


def run_logged(argv: list[str], log: Path) -> str:
    """Run ``argv`` with one thread; append its output to ``log``; return its stdout (raises on failure)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    done = harness.run_child(argv, threads=1, cwd=ROOT)
    with open(log, "a") as file:
        file.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}); see {log}")
    return done.stdout


def run_seed(row: Row, seed: int, runs: Path, records: Path = RECORDS) -> dict[str, Any]:
    """Train (or resume) one seed of ``row``, evaluate it, and record it under ``records``."""
    out = runs / row.name / f"s{seed}"
    log = out.parent / f"s{seed}.log"
    if row.script:
        train = [sys.executable, str(ROOT / "benchmarks" / row.script), *row.train, "--seed", str(seed),
                 "--threads", "1", "--out", str(out)]
    else:
        train = [*gvin_command(), "train", *row.train, "--seed", str(seed), "--threads", "1", "--out", str(out)]
    command = [*train[1:], *(f"evaluate:{e.name}:{' '.join(e.args)}" for e in row.evaluations)]
    command = [arg.replace(str(ROOT.parent), "..") for arg in command]  # the same record on every checkout

    def work() -> dict[str, Any]:
        run_logged(train, log)
        if row.script:
            return {"test": json.loads((out / "result.json").read_text())}
        metrics = {"test": json.loads((out / "test.json").read_text())}
        for evaluation in row.evaluations:
            stdout = run_logged([*gvin_command(), "evaluate", str(out / "checkpoint.pt"), *evaluation.args,
                                 "--json"], log)
            metrics[evaluation.name] = json.loads(stdout.strip().splitlines()[-1])
        return metrics

    return results_store.run_once(records / f"{row.name}-s{seed}.json", command, seed, work)


def figure(record: dict[str, Any], key: str) -> float | None:
    evaluation, name = key.split(":")
    value = record.get("metrics", {}).get(evaluation, {}).get(name)
    if value is None:
        return None
    return 100 * value if FIGURES[name][1] else value


INTRO = """# Scoreboard

Written by `benchmarks/scoreboard.py` from the records in `benchmarks/results/scoreboard/`. Each figure is
the median over the seeds done, with the worst and best seed in brackets; every planner is trained with
gvin's default recipe for its world, one CPU thread per run. `deep`: the same checkpoints planning 8× deeper
than trained; `gppnN`: 100 N×N mazes from gvin's own generator (other code and seeds than the file's)."""


def report(rows: list[Row] = ROWS, records_dir: Path = RECORDS, table: Path = TABLE, intro: str = INTRO) -> str:
    """Rewrite ``table`` from the records of ``rows``; return its text."""
    lines = [
        intro,
        "",
        "| row | figure | median (worst – best) | seeds | target | met | published |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        records = [r for seed in row.seeds if (r := results_store.load(records_dir / f"{row.name}-s{seed}.json"))]
        if not records:
            status = "background (slow)" if row.slow else "not run yet"
            lines.append(f"| {row.name} | {row.title} | — | 0 / {len(row.seeds)} | "
                         f"{_targets(row)} | {status} | {row.published} |")
            continue
        for index, key in enumerate(row.shown):
            values = [v for r in records if (v := figure(r, key)) is not None]
            summary = results_store.median_and_worst(values, higher_is_better=not key.endswith("cost_ratio"))
            digits = 3 if key.endswith("cost_ratio") else 1
            shown = "—" if summary is None else (
                f"{summary[0]:.{digits}f} ({min(values):.{digits}f} – {max(values):.{digits}f})")
            target = row.targets.get(key)
            met = "" if target is None or summary is None else ("yes" if summary[1] >= target else "**no**")
            if target is not None and len(records) < len(row.seeds):
                met += f" ({len(records)} of {len(row.seeds)} seeds)"
            first = index == 0
            lines.append(
                f"| {row.name if first else ''} | {key} | {shown} | {len(values)} / {len(row.seeds)} | "
                f"{'' if target is None else f'≥ {target:g}'} | {met} | {row.published if first else ''} |")
    lines += ["", "A target is met when the worst seed reaches it.", ""]
    text = "\n".join(lines)
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(text)
    return text


def _targets(row: Row) -> str:
    return ", ".join(f"{key} ≥ {value:g}" for key, value in row.targets.items())


def parse_args(argv: list[str] | None = None, rows: list[Row] = ROWS, doc: str = __doc__) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=sorted(r.name for r in rows),
                        help="rows to run (default: the fast ones)")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these of each row's seeds")
    parser.add_argument("--slow", action="store_true", help="also run the slow rows (hours each)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one thread each")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "scoreboard", help="run folders (git-ignored)")
    parser.add_argument("--report", action="store_true", help="only rewrite scoreboard.md from the records")
    parser.add_argument("--list", action="store_true", help="list the rows and their cost")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, board: list[Row] = ROWS, records_dir: Path = RECORDS, table: Path = TABLE,
         intro: str = INTRO, doc: str = __doc__) -> int:
    """Run the rows asked for (two at a time with ``--jobs 2``), rewriting ``table`` after each run."""
    args = parse_args(argv, board, doc)
    by_name = {row.name: row for row in board}

    def write() -> str:
        return report(board, records_dir, table, intro)

    if args.list:
        for row in board:
            print(f"{row.name:20s} {len(row.seeds)} seed(s), {row.cost} each{' (slow)' if row.slow else ''}: {row.title}")
        return 0
    if args.report:
        print(write())
        return 0
    rows = [by_name[name] for name in args.rows] if args.rows else [r for r in board if args.slow or not r.slow]
    jobs = [(row, seed) for row in rows for seed in row.seeds if args.seeds is None or seed in args.seeds]
    failures = 0

    def one(job: tuple[Row, int]) -> None:
        nonlocal failures
        row, seed = job
        try:
            record = run_seed(row, seed, args.runs, records_dir)
            print(f"{row.name} seed {seed}: {record['wall_s']} s", file=sys.stderr, flush=True)
        except (RuntimeError, OSError, ValueError) as error:
            failures += 1
            print(f"{row.name} seed {seed}: {error}", file=sys.stderr, flush=True)
        write()

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, jobs))
    print(write())
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
