"""Implicit vs unrolled DT-VIN: forward, backward and step time and peak memory as the forward depth grows.

Workload: the maze batches of ``bench_deep_vi.py`` (``SIDExCOUNT``, 3×3 neighbourhood,
8-connected moves), DT-VIN with 4 latent actions and ``γ = 0.99`` in both models, the
same weights. One training step = forward + :func:`gvin.train.losses.imitation_loss` +
backward (no optimiser update); forward and backward are timed separately.

* ``unrolled``: :class:`gvin.models.DTVIN`, ``K`` layers, ``memory="compact"`` (each
  layer's ``V`` and arg-max kept, the best unrolled mode below a few thousand layers).
Both start from the same weights, perturbed away from the zero-initialised tables (at those the
loss does not depend on ``V*`` and the backward solve would be trivial).

* ``implicit``: :class:`gvin.models.ImplicitDTVIN`, forward plain fixed-point iteration
  limited to ``K_fwd = K`` steps (tolerance ``1e-30``, so it runs all ``K`` steps unless it
  reaches the exact fixed point, which the ``fwd steps`` column shows), backward Anderson
  with ``--b-max-iter`` steps at most (``--b-tol``).

Each configuration runs in a fresh process (``--single``); time is the median of
``--repeats`` steps after a warm-up (one step from ``K = 5000`` on); memory is the peak RSS
of the steps above the RSS after data and model were built (CPU), or the peak CUDA
allocation above the allocation before the steps.

Usage::

    python benchmarks/bench_implicit.py                       # 35x8, K = 50 200 1000 5000
    python benchmarks/bench_implicit.py --sizes 15x8 --depths 50 200 --repeats 1
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench_deep_vi import NUM_SLOTS, ONE_STEP_FROM, build_batch, parse_workload
from harness import (
    MIB,
    current_rss,
    device_sync,
    load_warning,
    markdown_header,
    markdown_row,
    peak_rss,
    release_memory,
    reset_peak_rss,
    resolve_wait_policy,
    run_json_child,
    timed,
)

MODELS = ("unrolled", "implicit")
GAMMA = 0.99


def build_model(kind: str, depth: int, args: argparse.Namespace):
    import torch

    from gvin.models import DTVIN, ImplicitDTVIN
    from gvin.nn import FixedPoint

    torch.manual_seed(args.seed)
    common = dict(num_edge_types=NUM_SLOTS, num_actions=args.actions, hidden_channels=args.hidden, gamma=GAMMA)
    if kind == "unrolled":
        model = DTVIN(num_iterations=depth, **common)
        model.memory = "compact"
    else:
        settings = FixedPoint(f_solver="fixed_point", f_tol=1e-30, f_stop_mode="abs", f_max_iter=depth,
                              b_solver="anderson", b_max_iter=args.b_max_iter, b_tol=args.b_tol)
        model = ImplicitDTVIN(fixed_point=settings, **common)
    # Policy-head and kernel tables start at zero, where dℓ/dV* = 0 and the backward solve is
    # trivial: perturb every weight (the same draws for both models) as after some training.
    generator = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model


def run_single(args: argparse.Namespace) -> dict[str, Any]:
    """One (workload, K, model) in this process: a JSON-able dict of times and memory."""
    import warnings

    import torch

    from gvin.nn import ConvergenceWarning
    from gvin.train.losses import imitation_loss

    warnings.simplefilter("ignore", ConvergenceWarning)  # the forward runs to its limit on purpose
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    workload, depth, kind = args.sizes[0], args.depths[0], args.models[0]
    model = build_model(kind, depth, args).to(device)
    batch = build_batch(workload, args.seed).to(device)

    sync = device_sync(device)

    def forward() -> tuple[Any, Any]:
        out = model(batch)
        return out, imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)

    def step() -> dict[str, Any]:
        model.zero_grad(set_to_none=True)
        (out, loss), forward_s = timed(forward, sync)
        _, backward_s = timed(loss.backward, sync)
        info = out.info
        return {"forward_s": forward_s, "backward_s": backward_s, "loss": float(loss),
                "fwd_steps": info.forward.steps if info else depth,
                "bwd_steps": info.backward.steps if info and info.backward else None,
                "bwd_converged": info.backward.converged if info and info.backward else None}

    step()  # warm-up
    release_memory()
    rss_base = current_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        cuda_base = torch.cuda.memory_allocated(device)
    reset_peak_rss()
    runs = [step() for _ in range(1 if depth >= ONE_STEP_FROM else args.repeats)]
    result = {key: statistics.median(run[key] for run in runs) for key in ("forward_s", "backward_s")}
    result.update({key: runs[-1][key] for key in ("loss", "fwd_steps", "bwd_steps", "bwd_converged")})
    result.update(workload=workload.name, depth=depth, model=kind, num_nodes=batch.num_nodes, status="ok",
                  peak_mib=(peak_rss() - rss_base) / MIB)
    if device.type == "cuda":
        result["peak_mib"] = (torch.cuda.max_memory_allocated(device) - cuda_base) / MIB
    return result


def run_child(args: argparse.Namespace, workload, depth: int, kind: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--single", "--device", args.device,
               "--threads", str(args.threads), "--sizes", workload.name, "--depths", str(depth), "--models", kind,
               "--repeats", str(args.repeats), "--actions", str(args.actions), "--hidden", str(args.hidden),
               "--seed", str(args.seed), "--b-max-iter", str(args.b_max_iter), "--b-tol", str(args.b_tol)]
    result = run_json_child(command, {"workload": workload.name, "depth": depth, "model": kind}, threads=args.threads,
                            timeout=args.timeout, wait_policy=args.wait_policy)
    if result.get("status") == "error":
        result["status"] = "error: " + result.pop("error", "")
    return result


def print_report(results: list[dict[str, Any]]) -> None:
    columns = ("workload", "K_fwd", "model", "fwd steps", "bwd steps", "forward s", "backward s", "step s", "peak MiB")
    print(markdown_header(columns, "lrlrrrrrr", compact=True))
    for r in results:
        head = [r["workload"], r["depth"], r["model"]]
        if r.get("status") != "ok":
            print(markdown_row([*head, r["status"]], len(columns)))
            continue
        bwd = "" if r["bwd_steps"] is None else f"{r['bwd_steps']}{'' if r['bwd_converged'] else '*'}"
        print(markdown_row([*head, r["fwd_steps"], bwd, f"{r['forward_s']:.3f}", f"{r['backward_s']:.3f}",
                            f"{r['forward_s'] + r['backward_s']:.3f}", f"{r['peak_mib']:.1f}"]))
    print("(* the backward solve stopped at --b-max-iter above --b-tol)")
    ok = {(r["workload"], r["depth"], r["model"]): r for r in results if r.get("status") == "ok"}
    for workload in dict.fromkeys(r["workload"] for r in results):
        depths = sorted({d for (w, d, m) in ok if w == workload and m == "implicit"})
        if len(depths) >= 2:
            first, last = ok[workload, depths[0], "implicit"], ok[workload, depths[-1], "implicit"]
            print(f"{workload}: implicit backward at K={depths[-1]} / K={depths[0]}: "
                  f"{last['backward_s'] / first['backward_s']:.2f}× (target ≤ 1.2×)")
        for depth in sorted({d for (w, d, m) in ok if w == workload}):
            pair = ok.get((workload, depth, "implicit")), ok.get((workload, depth, "unrolled"))
            if all(pair):
                total = [p["forward_s"] + p["backward_s"] for p in pair]
                print(f"{workload} K={depth}: implicit step / unrolled step = {total[0] / total[1]:.2f}×")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_workload, nargs="+", default=[parse_workload("35x8")])
    parser.add_argument("--depths", type=int, nargs="+", default=[50, 200, 1000, 5000])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--b-max-iter", type=int, default=30)
    parser.add_argument("--b-tol", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.single:
        print(json.dumps(run_single(args)))
        return
    warning = load_warning(args.threads)
    if warning:
        print(warning)
    args.wait_policy = resolve_wait_policy("auto", warning is not None)
    results = []
    for workload in args.sizes:
        for depth in args.depths:
            for kind in args.models:
                results.append(run_child(args, workload, depth, kind))
                print(f"  {workload.name} K={depth} {kind}: {results[-1].get('status')}", file=sys.stderr, flush=True)
    print(f"device {args.device}, {args.threads} threads, γ = {GAMMA}, A = {args.actions}")
    print_report(results)


if __name__ == "__main__":
    main()
