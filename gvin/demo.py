"""``gvin demo``: a small tour of what gvin does, on built-in defaults."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

import gvin
from gvin.viz import render_ascii


def _random_maze(size: int, seed: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    rng = np.random.default_rng(seed)
    while True:
        maze = (rng.random((size, size)) > 0.3).astype(np.float32)
        maze[0, :] = maze[-1, :] = maze[:, 0] = maze[:, -1] = 0
        free = np.argwhere(maze > 0)
        goal, start = (tuple(int(i) for i in free[j]) for j in rng.choice(len(free), 2, replace=False))
        data = gvin.from_grid(maze, goal=goal)
        dist = gvin.to_grid(data, gvin.shortest_path_distances(data)).numpy()
        if np.isfinite(dist[start]) and dist[start] >= size:
            return maze, goal, start


def exact_planning_tour(size: int = 15, seed: int = 0) -> bool:
    """Plan exactly on a random maze; show that exact VI equals Dijkstra."""
    maze, goal, start = _random_maze(size, seed)
    data = gvin.from_grid(maze, goal=goal, connectivity=4)
    print(f"planning graph of a {size}x{size} maze: {data}")
    tic = time.perf_counter()
    dist = gvin.shortest_path_distances(data)
    vi = gvin.value_iteration(data)
    elapsed = time.perf_counter() - tic
    same = torch.equal(vi.values[vi.reachable], -dist[vi.reachable])
    print(f"exact value iteration: {vi.iterations} sweeps, converged={vi.converged}; "
          f"equals Dijkstra on all {int(vi.reachable.sum())} reachable nodes: {same} ({elapsed * 1e3:.1f} ms)")
    start_node = int(np.ravel_multi_index(start, maze.shape))
    path = gvin.shortest_path(data, start_node)
    cells = [tuple(int(c) for c in data.pos[node].tolist()) for node in path]
    print(f"shortest path from {start} to {goal}: {len(path) - 1} moves\n")
    print(render_ascii(maze, goal=goal, path=cells, start=start))
    return same


def run_demo(out: Path = Path("runs/demo"), epochs: int = 10) -> int:
    """The main job on built-in defaults: exact planning, then DT-VIN trained on small mazes."""
    from gvin.train.run import train_run

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")

    print("== 1. exact planning on a planning graph ==")
    if not exact_planning_tour():
        return 1
    print("\n== 2. DT-VIN trained by imitation on generated 11x11 GPPN mazes (CPU) ==")
    train_run(out, model="dtvin", kind="gppn", size=11, counts=(2000, 200, 500), epochs=epochs,
              log=lambda line: print(line, flush=True))
    return 0
