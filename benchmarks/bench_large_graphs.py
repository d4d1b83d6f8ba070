"""Planning on large graphs: an 8-connected grid and a probabilistic roadmap (k = 8) of N nodes.

For each N and graph, in a fresh child process (its own peak RSS), one thread unless ``--threads``:
build time, exact shortest-path distances (Dijkstra to the goal), then a DT-VIN (typed on the grid,
geometric on the roadmap; gvin's defaults) planning ``--depth`` layers forward without gradients:
ms per layer (best of 3), ns per edge and which path ran (``grid``: the grid convs; ``table``: the padded
neighbour table; ``scatter``: the edge list), and one training step at ``--train-depth`` layers
(memory-bounded backward) with the process's peak RSS during that step (graph and labels included;
on CUDA, the peak allocated GPU memory) and over the whole run. The ratio column compares the roadmap's ns per edge with the grid's of the
same N, in the same run.

Usage::

    python benchmarks/bench_large_graphs.py --nodes 10000 100000            # minutes
    python benchmarks/bench_large_graphs.py --nodes 1000000 --depth 1000 --train-depth 1000  # ~30 min
    python benchmarks/bench_large_graphs.py --device cuda --nodes 10000 100000 1000000 --depth 1000 --train-depth 1000
"""
from __future__ import annotations

import argparse
import math
import sys
import time

from harness import MIB, PeakMemory, device_sync, markdown_table, run_function, timings


def vi_path(graph, transition) -> str:
    """Which value-iteration path runs: ``grid`` (grid convs / strided windows), ``table D=…`` (the padded
    neighbour table, its depth and the share of edges that overflow it), ``stencil`` or ``scatter``."""
    if graph.stencil is not None:
        return "grid" if graph.stencil.layout is not None else "stencil"
    table = getattr(transition, "table", None)
    if table is None:
        return "scatter"
    return f"table D={table.depth}, {100 * table.overflow.numel() / table.num_edges:.1f} % over"


def forward_layer(model, data, depth: int, sync) -> tuple[str, float]:
    """The value-iteration path and seconds per layer of ``depth`` layers without gradients (best of 3,
    or of 1 when a run is long)."""
    import torch

    from gvin.nn import value_iteration

    with torch.no_grad():
        graph = model.read_graph(data)
        reward, transition = model.mdp(graph)
        value_iteration(reward, transition, 2, 1.0)
        repeats = 3 if depth * data.edge_index.shape[1] < 2e9 else 1
        best = min(timings(lambda: value_iteration(reward, transition, depth, 1.0), repeats, sync=sync))
        return vi_path(graph, transition), best / depth


def measure(kind: str, nodes: int, depth: int, train_depth: int, device: str = "cpu", seed: int = 0) -> dict:
    """One graph's row (runs in a child process)."""
    import numpy as np
    import torch

    import gvin
    from gvin.models import DTVIN
    from gvin.train.losses import imitation_loss

    started = time.perf_counter()
    if kind == "grid":
        side = math.isqrt(nodes)
        data = gvin.from_grid(np.ones((side, side), dtype=np.float32), goal=(0, 0), connectivity=8)
        model = DTVIN(stencil=data.stencil, num_iterations=depth)
    else:
        data = gvin.probabilistic_roadmap([gvin.Circle((0.0, 0.0), 0.5)], nodes, k=8, goal=(1.5, 1.5), rng=seed)
        model = DTVIN(in_channels=data.x.shape[1], num_edge_types=None, edge_dim=data.edge_attr.shape[1],
                      num_iterations=depth)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    data.dist = gvin.shortest_path_distances(data)
    data.optimal = gvin.optimal_edges(data, data.dist)
    exact_s = time.perf_counter() - started
    edges = data.edge_index.shape[1]
    device = torch.device(device)
    data, model = data.to(device), model.to(device)
    path, layer_s = forward_layer(model, data, depth, device_sync(device))
    memory = PeakMemory(device)
    before_step = memory.start()
    started = time.perf_counter()
    out = model(data, num_iterations=train_depth)
    imitation_loss(out.log_probs, data.optimal, data.edge_index, data.num_nodes).backward()
    step_peak = memory.peak()
    step_s = time.perf_counter() - started
    return {"kind": kind, "nodes": data.num_nodes, "edges": edges, "build_s": build_s, "exact_s": exact_s,
            "layer_ms": 1e3 * layer_s, "edge_ns": 1e9 * layer_s / edges, "path": path, "step_s": step_s,
            "train_depth": train_depth, "step_peak": step_peak, "before_step": before_step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--depth", type=int, default=50, help="layers timed forward (default 50)")
    parser.add_argument("--train-depth", type=int, default=50, help="layers of the training step (default 50)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--graphs", nargs="+", choices=("grid", "roadmap"), default=["grid", "roadmap"])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the planner runs")
    parser.add_argument("--timeout", type=float, default=None, help="seconds a row may take (default: no limit)")
    args = parser.parse_args(argv)
    rows = []
    for nodes in args.nodes:
        grid_ns = None
        for kind in args.graphs:
            run = run_function(measure, kind, nodes, args.depth, args.train_depth, args.device, threads=args.threads,
                               timeout=args.timeout)
            if not run.ok:
                print(f"{kind} N={nodes} failed:\n{run.stderr[-2000:]}", file=sys.stderr)
                continue
            r = run.result
            grid_ns = r["edge_ns"] if kind == "grid" else grid_ns
            ratio = f"{r['edge_ns'] / grid_ns:.2f}×" if kind == "roadmap" and grid_ns else "–"
            rows.append([kind, f"{r['nodes']:,}", f"{r['edges']:,}", f"{r['build_s']:.2f} s", f"{r['exact_s']:.2f} s",
                         r["path"], f"{r['layer_ms']:.2f}", f"{r['edge_ns']:.1f}", ratio,
                         f"{r['step_s']:.2f} s (K = {r['train_depth']})", f"{r['step_peak'] / MIB:,.0f}",
                         f"{run.peak_rss / MIB:,.0f}"])
            print(f"{kind} N={nodes}: done", file=sys.stderr, flush=True)
    step_memory = "step peak GPU MiB" if args.device.startswith("cuda") else "step peak RSS MiB"
    columns = ["graph", "nodes", "edges", "build", "exact planner", "VI path", "ms / layer", "ns / edge",
               "× grid per edge", "training step", step_memory, "run peak RSS MiB"]
    print(f"\nDT-VIN on {args.device}, {args.threads} CPU thread(s), forward K = {args.depth}\n")
    print(markdown_table(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
