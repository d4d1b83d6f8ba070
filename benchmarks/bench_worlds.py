"""C-space and terrain task generation speed: tasks with exact labels per second, peak memory.

Builds ``--count`` tasks (default 10,000) of each world with the library's
datasets, labels included, and times the constructor:

* ``cspace B``: :class:`gvin.datasets.CSpaceDataset` at ``B`` bins per joint
  (36 and 18; ``goal="angles"``, and ``goal="point"`` at 36): random workspaces,
  exact C-space maps, goals, BFS distances;
* ``terrain SOURCE P``: :class:`gvin.datasets.TerrainDataset` with ``P × P``
  patches (16 and 32) of the Jacksboro DEM or of random maps: windows, goals
  that half the window reaches, Dijkstra distances, optimal moves.

Every world runs in a fresh process (:func:`harness.run_function`):
imports → RSS recorded (the baseline) → the dataset built and timed → peak RSS
(``ru_maxrss``). Prints a markdown table with seconds, tasks/s, peak RSS and the
RSS above the baseline, and the issue-9 target: 10,000 tasks in under 60 s on
2 cores (MET / NOT MET; with another ``--count`` the time is scaled to 10,000,
marked "est.").

Usage::

    python benchmarks/bench_worlds.py                 # 10,000 tasks per world
    python benchmarks/bench_worlds.py --quick         # 200 per world, a smoke run
    python benchmarks/bench_worlds.py --worlds cspace36 terrain-random32 --count 2000
"""
from __future__ import annotations

import argparse
import os
import sys

from harness import MIB, current_rss, markdown_header, markdown_row, peak_rss, run_function, timed

TARGET_SECONDS = 60.0
TARGET_COUNT = 10000
COLUMNS = ("world", "tasks", "nodes / edges per task", "seconds", "tasks/s", "peak RSS (MiB)", "above imports (MiB)",
           "10k in < 60 s")

WORLDS = {
    "cspace36": ("cspace", dict(size=36)),
    "cspace18": ("cspace", dict(size=18)),
    "cspace36-point": ("cspace", dict(size=36, goal="point")),
    "terrain-jacksboro16": ("terrain", dict(source="jacksboro", size=16)),
    "terrain-jacksboro32": ("terrain", dict(source="jacksboro", size=32)),
    "terrain-random16": ("terrain", dict(source="random", size=16)),
    "terrain-random32": ("terrain", dict(source="random", size=32)),
}


def run_single(world: str, count: int, seed: int) -> dict:
    """Build one world's dataset in this process; returns timing and memory."""
    from gvin.datasets.cspace import CSpaceDataset
    from gvin.datasets.terrain import TerrainDataset

    kind, kwargs = WORLDS[world]
    cls = CSpaceDataset if kind == "cspace" else TerrainDataset
    if kind == "terrain" and kwargs["source"] == "jacksboro":
        from gvin.graphs.terrain import jacksboro_dem

        jacksboro_dem()  # the DEM file (and matplotlib) load before the clock starts
    baseline = current_rss() / MIB
    dataset, seconds = timed(lambda: cls("train", counts=(count, 0, 0), seed=seed, **kwargs))
    item = dataset[0]
    return {
        "world": world, "count": len(dataset), "seconds": seconds, "peak_mib": peak_rss() / MIB,
        "baseline_mib": baseline, "nodes": int(item.num_nodes), "edges": int(item.edge_index.shape[1]),
    }


def run_child(world: str, count: int, seed: int) -> dict:
    """:func:`run_single` in a fresh process (so each world's peak RSS is its own)."""
    done = run_function(run_single, world, count, seed)
    if done.result is None:
        return {"world": world, "error": done.last_line() or "failed"}
    return done.result


def _row(result: dict, count: int) -> str:
    world = result["world"]
    if "error" in result:
        return markdown_row([world, count, f"error: {result['error']}"], len(COLUMNS))
    seconds, built = result["seconds"], result["count"]
    per_target = seconds * TARGET_COUNT / max(built, 1)
    verdict = "MET" if per_target < TARGET_SECONDS else "NOT MET"
    if built != TARGET_COUNT:
        verdict += f" (est. {per_target:.1f} s per 10k)"
    return markdown_row([world, built, f"{result['nodes']} / {result['edges']}", f"{seconds:.2f}",
                         f"{built / seconds:.0f}", f"{result['peak_mib']:.0f}",
                         f"{result['peak_mib'] - result['baseline_mib']:.0f}", verdict])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--count", type=int, default=None, help=f"tasks per world (default {TARGET_COUNT})")
    parser.add_argument("--quick", action="store_true", help="200 tasks per world: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    count = args.count if args.count is not None else (200 if args.quick else TARGET_COUNT)
    if count < 1:
        parser.error(f"--count must be >= 1, got {count}")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"tasks per world={count} seed={args.seed} cpus={cpus} load average (1 min)={load:.2f}; "
          f"target: {TARGET_COUNT} tasks with labels in < {TARGET_SECONDS:.0f} s on 2 cores")
    if load > 1.5:
        print(f"warning: load average {load:.2f} > 1.5: other processes compete for the CPUs; "
              "times are pessimistic", file=sys.stderr)
    print()
    print(markdown_header(COLUMNS, "lrrrrrrl"))
    for world in args.worlds:
        print(_row(run_child(world, count, args.seed), count), flush=True)


if __name__ == "__main__":
    main()
