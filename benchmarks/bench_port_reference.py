"""Side-by-side: one training step of the third-party ``scaling-vin-pytorch`` port next to gvin's DT-VIN.

For comparison only: the port (``scaling_vin_pytorch.ScalableVIN``, lucidrains, MIT) is never a
dependency of gvin. Install it in a throwaway venv outside the repository (see
``benchmarks/README.md``); without it this script prints a skip line and exits 0.

Workload: the mazes of ``bench_deep_vi.py`` (``SIDExCOUNT``, random grids, 30 % walls, one goal
each, same seed). The port gets the free map as its state and the goal map as its reward input,
``num_actions = 8`` (its value-iteration channels are its real actions), its default
dynamic-transition module (3×3 kernel recomputed from the values in every layer), its default
per-layer checkpointing and attention pool over the layers, and one agent cell per maze (a random
free cell that can reach the goal, target = its first optimal move), loss every 4 layers. gvin's line
is ``bench_deep_vi.py``'s step (loss at every labelled cell) in gvin's default memory mode. The models
differ, so the ratio is an order of magnitude, not a like-for-like contest.

Each configuration runs in a fresh process; time = median of ``--repeats`` steps after a warm-up;
memory = peak RSS of the steps above the RSS after data and model were built (as in
``bench_deep_vi.py``).

Usage::

    /tmp/svin/bin/python benchmarks/bench_port_reference.py [--sizes 35x8] [--depths 100 1000] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import bench_deep_vi as deep  # standard library only at import time
from harness import (
    MIB,
    current_rss,
    load_warning,
    markdown_header,
    markdown_row,
    release_memory,
    resolve_wait_policy,
    run_json_child,
)

PORT_PACKAGE = "scaling_vin_pytorch"
PORT_ACTIONS = 8


def port_available() -> str | None:
    """The port's version, or ``None`` when it is not importable."""
    try:
        import scaling_vin_pytorch  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scaling-vin-pytorch")
    except PackageNotFoundError:
        return "unknown"


def port_inputs(workload: deep.Workload, seed: int):
    """``(state, reward, agent_positions, target_actions)`` for the port: ``[B,1,H,W]`` ×2, ``[B,2]``, ``[B]``."""
    import numpy as np
    import torch

    from gvin.datasets.generators import random_gridworlds, sample_goals
    from gvin.graphs.grid import move_offsets
    from gvin.planners.grid import grid_labels

    rng = np.random.default_rng(seed)
    mazes = sample_goals(random_gridworlds(workload.count, workload.side, rng, density=deep.WALL_DENSITY), rng)
    moves = move_offsets(2, deep.CONNECTIVITY).numpy()
    _, optimal = grid_labels(mazes.mazes, mazes.goals, deep.CONNECTIVITY, moves)  # [B, 8, H, W]
    has_move = optimal.any(1).reshape(len(mazes.mazes), -1)  # labelled cells
    pick_rng = np.random.default_rng(seed + 1)
    cells = np.array([pick_rng.choice(np.flatnonzero(row)) for row in has_move])  # one per maze
    rows, cols = np.unravel_index(cells, mazes.mazes.shape[1:])
    flat_optimal = optimal.reshape(len(cells), optimal.shape[1], -1)[np.arange(len(cells)), :, cells]  # [B, 8]
    target = flat_optimal.argmax(1)
    state = torch.from_numpy(mazes.mazes.astype(np.float32)).unsqueeze(1)
    goal = np.zeros(mazes.mazes.shape, dtype=np.float32).reshape(len(cells), -1)
    goal[np.arange(len(cells)), mazes.goals] = 1.0
    reward = torch.from_numpy(goal.reshape(mazes.mazes.shape)).unsqueeze(1)
    positions = torch.from_numpy(np.stack([rows, cols], 1)).long()
    return state, reward, positions, torch.from_numpy(target).long()


def run_single(args: argparse.Namespace) -> dict[str, Any]:
    """Build the port and its inputs, then time and measure steps (CPU); a JSON-able dict."""
    import torch

    torch.set_num_threads(args.threads)
    from scaling_vin_pytorch import ScalableVIN

    import gvin.datasets.generators  # noqa: F401  (counted in the import baseline)

    release_memory()
    rss_import = current_rss()
    workload, depth = args.sizes[0], args.depths[0]
    torch.manual_seed(args.seed)
    model = ScalableVIN(state_dim=1, reward_dim=1, num_actions=PORT_ACTIONS, dim_hidden=args.hidden, depth=depth)
    model.train()
    state, reward, positions, target = port_inputs(workload, args.seed)

    def step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss = model(state, reward, positions, target)
        loss.backward()
        return loss.detach()

    def grad_norm() -> float:
        return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None)))

    repeats = 1 if depth >= deep.ONE_STEP_FROM else args.repeats
    measured = deep.measure_steps(step, grad_norm, repeats, torch.device("cpu"))
    return {"workload": workload.name, "depth": depth, "mode": "port", "threads": torch.get_num_threads(),
            **measured, "cpu_peak_import": measured["peak_rss"] - rss_import}


def run_port_child(args: argparse.Namespace, workload: deep.Workload, depth: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--single", "--sizes", workload.name,
               "--depths", str(depth), "--threads", str(args.threads), "--repeats", str(args.repeats),
               "--hidden", str(args.hidden), "--seed", str(args.seed)]
    return run_json_child(command, {"workload": workload.name, "depth": depth, "mode": "port"}, threads=args.threads,
                          timeout=args.timeout, wait_policy=args.wait_policy)


def gvin_default_mode() -> str:
    from gvin.models import DTVIN

    return getattr(DTVIN(), "memory", "autograd")


def run_gvin_child(args: argparse.Namespace, workload: deep.Workload, depth: int, mode: str) -> dict[str, Any]:
    deep_args = deep.parse_args(["--threads", str(args.threads), "--repeats", str(args.repeats),
                                 "--seed", str(args.seed), "--timeout", str(args.timeout)])
    deep_args.wait_policy = args.wait_policy
    return deep.run_child(deep_args, workload, depth, mode)


def print_report(results: list[dict[str, Any]], args: argparse.Namespace, version: str, mode: str) -> None:
    import torch

    print(f"## scaling-vin-pytorch {version} vs gvin DT-VIN ({mode}): one training step, CPU, "
          f"torch threads = {args.threads}, torch {torch.__version__}\n")
    print(f"port: ScalableVIN(state_dim=1, reward_dim=1, num_actions={PORT_ACTIONS}, dim_hidden={args.hidden}), "
          "its defaults otherwise (per-layer checkpointing, attention over layers, loss every 4 layers, "
          "one agent cell per maze); gvin: bench_deep_vi.py's step (A = 4, hidden 32, loss at every labelled cell).")
    print("memory: peak RSS during the step above the RSS after imports + data + model.")
    if args.wait_policy:
        print(f"OpenMP: OMP_WAIT_POLICY={args.wait_policy} in every configuration.")
    print()
    columns = ("workload", "K", "implementation", "time / step", "ms / layer", "peak MiB", "× gvin (time, mem)")
    print(markdown_header(columns, "lrlrrrr", compact=True))
    ours = {(r["workload"], r["depth"]): r for r in results if r["mode"] != "port" and r.get("status") == "ok"}
    for r in results:
        name = "scaling-vin-pytorch" if r["mode"] == "port" else f"gvin ({r['mode']})"
        head = [deep.parse_workload(r["workload"]).label, r["depth"], name]
        if r.get("status") != "ok":
            print(markdown_row([*head, f"{r.get('status')} {r.get('error', '')}"], len(columns)))
            continue
        ref = ours.get((r["workload"], r["depth"]))
        ratio = "–" if ref is None else (f"{r['seconds'] / ref['seconds']:.2f}, "
                                          f"{r['cpu_peak_step'] / max(ref['cpu_peak_step'], 1):.2f}")
        print(markdown_row([*head, f"{r['seconds']:.3f} s", f"{r['seconds'] / r['depth'] * 1e3:.3f}",
                            f"{r['cpu_peak_step'] / MIB:.0f}", ratio]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=deep.parse_workload, nargs="+", default=[deep.Workload(35, 8)],
                        help="workloads SIDExCOUNT (default 35x8)")
    parser.add_argument("--depths", type=int, nargs="+", default=[100, 1000], help="K values")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per configuration (median)")
    parser.add_argument("--hidden", type=int, default=150, help="the port's dim_hidden (its default 150)")
    parser.add_argument("--no-gvin", action="store_true", help="time only the port")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("threads", "repeats", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if min(args.depths) < 1:
        parser.error("--depths must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    version = port_available()
    if version is None:
        print(f"skipped: {PORT_PACKAGE} is not importable here (install scaling-vin-pytorch==0.0.12 in a "
              "throwaway venv, see benchmarks/README.md)")
        return
    if args.single:
        print(json.dumps(run_single(args)), flush=True)
        return
    warning = load_warning(args.threads)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    args.wait_policy = resolve_wait_policy("auto", warning is not None and args.threads > 1)
    mode = gvin_default_mode()
    results = []
    for workload in args.sizes:
        for depth in sorted(args.depths):
            runs = [run_port_child(args, workload, depth)]
            if not args.no_gvin:
                runs.append(run_gvin_child(args, workload, depth, mode))
            for r in runs:
                print(f"  {workload.name:>8} K={depth:<5} {r['mode']:<10} {deep.summary(r)}", file=sys.stderr, flush=True)
            results += runs
    print_report(results, args, version, mode)
    if warning:
        print(f"\n{warning}.")


if __name__ == "__main__":
    main()
