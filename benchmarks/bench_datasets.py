"""Maze dataset generation speed: mazes (seeded, duplicate-free) and exact labels.

For each size, generates ``count`` mazes with
:func:`gvin.datasets.generators.generate_splits` (depth-first maze + decimation
for ``--kind gppn``; goals; duplicate rejection) and then their full labels with
:func:`gvin.planners.grid.grid_labels` (BFS distances + optimal-action maps in
GPPN channel order), in chunks to bound memory. Prints a markdown table.

Usage::

    python benchmarks/bench_datasets.py                    # 15, 28, 100; 10,000 each
    python benchmarks/bench_datasets.py --sizes 100 --count 2000
    python benchmarks/bench_datasets.py --kind gridworld --connectivity 8
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from gvin.datasets.generators import generate_splits
from gvin.planners.grid import GPPN_ACTIONS_4, GPPN_ACTIONS_8, grid_labels

LABEL_CHUNK_CELLS = 1 << 23


def run(kind: str, size: int, count: int, seed: int, connectivity: int) -> dict[str, float]:
    """Time generation and labelling of ``count`` mazes of ``size``×``size``."""
    start = time.perf_counter()
    batch = generate_splits(kind, size, (count, 0, 0), seed)["train"]
    generated = time.perf_counter()
    actions = GPPN_ACTIONS_4 if connectivity == 4 else GPPN_ACTIONS_8
    per = max(1, LABEL_CHUNK_CELLS // (size * size))
    longest, optimal_moves = 0.0, 0
    for i in range(0, count, per):
        dist, optimal = grid_labels(
            batch.mazes[i : i + per], batch.goals[i : i + per], connectivity, actions
        )
        longest = max(longest, float(dist[np.isfinite(dist)].max()))
        optimal_moves += int(optimal.sum())
    labelled = time.perf_counter()
    return {
        "gen": generated - start,
        "labels": labelled - generated,
        "total": labelled - start,
        "rate": count / (labelled - start),
        "longest": longest,
        "optimal": optimal_moves / count,
        "free": float(batch.mazes.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 28, 100])
    parser.add_argument("--count", type=int, default=10000, help="mazes per size")
    parser.add_argument("--kind", choices=["gppn", "gridworld"], default="gppn")
    parser.add_argument("--connectivity", type=int, choices=[4, 8], default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(
        f"kind={args.kind} connectivity={args.connectivity} seed={args.seed} "
        f"cpus={os.cpu_count()}"
    )
    print()
    print(
        "| size | count | gen (s) | labels (s) | total (s) | mazes/s | free frac "
        "| longest path |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        r = run(args.kind, size, args.count, args.seed, args.connectivity)
        print(
            f"| {size}×{size} | {args.count} | {r['gen']:.2f} | {r['labels']:.2f} | "
            f"{r['total']:.2f} | {r['rate']:.0f} | {r['free']:.3f} | {r['longest']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
