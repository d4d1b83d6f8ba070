"""Deep DT-VIN training step: time and peak memory per memory mode, K up to thousands of layers.

Workloads: batches of random maze graphs (``"SIDExCOUNT"``, e.g. ``35x8`` = eight 35×35
grids, about 30 % walls, one goal each; :func:`gvin.from_grid` with a 3×3 neighbourhood,
8-connected moves). Model: :class:`gvin.models.DTVIN` with 4 latent actions. One training
step = forward + backward of :func:`gvin.train.losses.imitation_loss` (cross-entropy at
every free cell that can reach its goal, ties kept); no optimiser update.

Every configuration (workload, K, memory mode) runs in a fresh process (this script with
``--single``, which prints one JSON line), so peak memory is not polluted by earlier runs:

* time: one warm-up step, then the median of ``--repeats`` steps (one step from K = 5000 on);
* memory, CPU: the peak RSS of the steps (``getrusage(RUSAGE_SELF).ru_maxrss``) above the
  RSS after imports, data and model were built (on Linux the peak is first reset through
  ``/proc/self/clear_refs``, so a transient peak of the data building does not count;
  elsewhere it may);
  the target check also reports the peak above the RSS right after the imports;
* memory, CUDA: ``torch.cuda.max_memory_allocated()`` above ``memory_allocated()`` after
  ``reset_peak_memory_stats()``.

Memory modes (``model.memory``): ``autograd`` (plain autograd through the unrolled layers),
``compact`` (custom backward storing each layer's input values and arg-max action),
``checkpoint`` (compact plus recomputation in ~√K segments). A mode the installed gvin
does not know is printed as ``n/a``. The autograd run at a K whose memory, extrapolated
linearly in K from smaller K of the same workload, exceeds ``--max-gib`` is skipped.

CPU threads: ``--threads`` (default 2, the issue's setting). When the load average shows other
processes on the cores, a warning is printed and (``--omp-wait-policy auto``) the children run
with ``OMP_WAIT_POLICY=PASSIVE``: spinning OpenMP workers would otherwise make every parallel op
wait for a descheduled thread (measured: 20-30× slower steps with 2 threads on 2 busy cores).

Bandwidth model (printed in the header): a forward layer must read the transition weights
``P [N, S, A]``, the gathered neighbour values ``V [N, S]`` and the reward ``R [N, A]``
(float32): ``4·N·(S·A + S + A)`` bytes; forward + backward counts as 3 such passes, so
``GB/s = 3 · bytes / (time per layer)``. The device's copy bandwidth is measured in the
same run (``dst.copy_(src)`` of ``--bandwidth-mib``, best of 5, read + write bytes counted),
and each configuration also times a forward pass alone (no gradients: the plain layer loop,
the same in every memory mode): its time per layer is set against the bound
``bytes / copy bandwidth``.

The issue-11 check (``benchmarks/gpu_check.sh``): 100×100 mazes, ``--batch 32``,
``--actions 10``, K = 1000 and 5000 on CUDA; targets: K = 5000 in ≤ 6 GB of GPU memory,
forward layer time ≤ 2× the bandwidth bound.

Usage::

    python benchmarks/bench_deep_vi.py                                 # full matrix
    python benchmarks/bench_deep_vi.py --modes autograd --depths 100 --quick
    python benchmarks/bench_deep_vi.py --sizes 35x8 --depths 1000      # the target workload
    python benchmarks/bench_deep_vi.py --device cuda --sizes 35x8 100x8
    python benchmarks/bench_deep_vi.py --device cuda --sizes 100 --batch 32 --actions 10 --depths 100 1000 5000
    python benchmarks/bench_deep_vi.py --json out.json ...; ... --report out.json   # re-print
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import (
    GIB,
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
    time_calls,
    timed,
    timings,
)

MODES = ("autograd", "compact", "checkpoint")
ALL_MODES = (*MODES, "auto")  # auto: what gvin chooses for the size
KERNEL_SIZE = 3
CONNECTIVITY = 8
NUM_SLOTS = KERNEL_SIZE**2
WALL_DENSITY = 0.3
TARGET = {"workload": "35x8", "depth": 1000, "seconds": 1.6, "gib": 0.25}
GPU_TARGET = {"workload": "100x32", "depth": 5000, "gb": 6.0, "bound_ratio": 2.0}
"""Issue 11 (CUDA): K = 5000 on 100×100 ×32 in ≤ 6 GB; forward layer time ≤ 2× the bandwidth bound."""
COLUMNS = ("workload", "N", "K", "mode", "time / step", "ms / layer", "fwd ms / layer", "fwd × bound", "peak MiB",
           "× autograd (time, mem)", "bytes / layer", "GB/s", "loss", "‖grad‖")
ALIGN = "lrrlrrrrrrrrrr"  # the report table's columns
ONE_STEP_FROM = 5000  # K from which a single timed step is taken


# ----------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    """``count`` random ``side × side`` mazes."""

    side: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.side}x{self.count}"

    @property
    def label(self) -> str:
        return f"{self.side}×{self.side} ×{self.count}"

    @property
    def num_nodes(self) -> int:
        return self.side * self.side * self.count


def parse_workload(text: str) -> Workload:
    """``"35x8"`` → 8 mazes of 35×35; ``"100"`` → one 100×100 maze."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"workload must look like SIDExCOUNT (e.g. 35x8), got {text!r}") from None
    if len(numbers) == 1:
        numbers.append(1)
    if len(numbers) != 2 or numbers[0] < 3 or numbers[1] < 1:
        raise argparse.ArgumentTypeError(f"workload must be SIDExCOUNT with SIDE >= 3, COUNT >= 1, got {text!r}")
    return Workload(*numbers)


def layer_bytes(num_nodes: int, num_actions: int, num_slots: int = NUM_SLOTS) -> int:
    """Bytes one forward layer must read: ``P [N,S,A]`` + gathered ``V [N,S]`` + ``R [N,A]`` (float32)."""
    return 4 * num_nodes * (num_slots * num_actions + num_slots + num_actions)


# ----------------------------------------------------------------------------- one configuration (child)


def build_batch(workload: Workload, seed: int):
    """The maze graphs with expert labels ``optimal [E]``, as one Batch (CPU)."""
    import numpy as np
    from torch_geometric.data import Batch

    import gvin
    from gvin.datasets.generators import random_gridworlds, sample_goals

    rng = np.random.default_rng(seed)
    mazes = sample_goals(random_gridworlds(workload.count, workload.side, rng, density=WALL_DENSITY), rng)
    graphs = []
    for maze, goal in zip(mazes.mazes, mazes.goals):
        data = gvin.from_grid(maze, int(goal), connectivity=CONNECTIVITY, kernel_size=KERNEL_SIZE)
        data.optimal = gvin.optimal_edges(data)
        graphs.append(data)
    return Batch.from_data_list(graphs)


def known_memory_modes() -> tuple[str, ...]:
    """The memory modes the installed gvin implements (only ``autograd`` before they existed)."""
    try:
        from gvin.nn.value_iteration import MEMORY_MODES
    except ImportError:
        return ("autograd",)
    return tuple(MEMORY_MODES)


def set_memory_mode(model: Any, mode: str) -> bool:
    """Put ``model`` in memory mode ``mode``; ``False`` when this gvin does not know it.

    A gvin without ``model.memory`` only has plain autograd.
    """
    if not hasattr(model, "memory"):
        return mode == "autograd"
    if mode not in known_memory_modes():
        return False
    try:
        model.memory = mode
    except (ValueError, TypeError, AttributeError):
        return False
    return getattr(model, "memory", None) == mode


def run_single(args: argparse.Namespace) -> dict[str, Any]:
    """Build data and model, then time and measure training steps; a JSON-able dict."""
    import torch

    torch.set_num_threads(args.threads)
    import gvin.datasets.generators  # noqa: F401  (used by build_batch; counted in the import baseline)
    from gvin.models import DTVIN
    from gvin.train.losses import imitation_loss

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    release_memory()
    rss_import = current_rss()
    workload, depth, mode = args.sizes[0], args.depths[0], args.modes[0]
    result: dict[str, Any] = {"workload": workload.name, "depth": depth, "mode": mode, "device": str(device),
                              "threads": torch.get_num_threads(), "rss_import": rss_import}
    torch.manual_seed(args.seed)
    model = DTVIN(num_edge_types=NUM_SLOTS, num_actions=args.actions, hidden_channels=args.hidden,
                  num_iterations=depth)
    if not set_memory_mode(model, mode):
        return {**result, "status": "n/a"}
    model = model.to(device)
    batch = build_batch(workload, args.seed).to(device)
    labelled = torch.zeros(batch.num_nodes, dtype=torch.bool, device=device)
    labelled[batch.edge_index[0][batch.optimal]] = True
    result.update(num_nodes=batch.num_nodes, num_edges=batch.num_edges, labelled=int(labelled.sum()))

    def step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        out = model(batch)
        loss = imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)
        loss.backward()
        return loss.detach()

    def grad_norm() -> float:
        return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None)))

    def forward() -> None:
        with torch.no_grad():
            model(batch)

    repeats = 1 if depth >= ONE_STEP_FROM else args.repeats
    measured = measure_steps(step, grad_norm, repeats, device)
    if "peak_rss" in measured:
        measured["cpu_peak_import"] = measured["peak_rss"] - rss_import
    measured["forward_s"] = time_calls(forward, repeats, sync=device_sync(device))  # median after a warm-up
    return {**result, **measured}


def copy_bandwidth(device_name: str, mib: float, threads: int, repeats: int = 5) -> dict[str, Any]:
    """The device's copy bandwidth: ``dst.copy_(src)`` of ``mib`` MiB of float32, best of ``repeats``,
    in bytes per second counting the bytes read and written (``2 · size / time``)."""
    import torch

    torch.set_num_threads(threads)
    device = torch.device(device_name)
    src = torch.ones(max(1, int(mib * MIB) // 4), device=device)
    dst = torch.empty_like(src)
    best = time_calls(lambda: dst.copy_(src), repeats, sync=device_sync(device), reduce=min)
    nbytes = src.numel() * 4
    del src, dst
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"bandwidth": 2 * nbytes / best, "bandwidth_bytes": nbytes, "device": str(device)}


def measure_steps(step: Callable[[], Any], grad_norm: Callable[[], float], repeats: int, device: Any) -> dict[str, Any]:
    """One warm-up ``step()`` then ``repeats`` timed ones: times, loss, gradient norm and peak memory.

    Memory: peak RSS above the RSS now (after data and model), and on CUDA the
    peak allocation above the allocation now.
    """
    import torch

    cuda = device.type == "cuda"
    sync = device_sync(device)
    release_memory()
    if sync is not None:
        sync()
    rss_base = current_rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        cuda_base = torch.cuda.memory_allocated(device)
    reset = reset_peak_rss()
    loss, warmup = timed(lambda: float(step()), sync)
    norm = grad_norm()
    times = timings(step, repeats, sync=sync)
    peak = peak_rss()
    out = {"status": "ok", "loss": loss, "grad_norm": norm, "warmup_s": warmup, "times_s": times,
           "seconds": statistics.median(times), "rss_base": rss_base, "peak_rss": peak, "peak_reset": reset,
           "cpu_peak_step": peak - rss_base}
    if cuda:
        out.update(cuda_peak_step=torch.cuda.max_memory_allocated(device) - cuda_base, cuda_base=cuda_base)
    return out


# ----------------------------------------------------------------------------- driver (parent)


def child_command(args: argparse.Namespace, workload: Workload, depth: int, mode: str) -> list[str]:
    return [
        sys.executable, str(Path(__file__).resolve()), "--single",
        "--device", args.device, "--threads", str(args.threads), "--sizes", workload.name,
        "--depths", str(depth), "--modes", mode, "--repeats", str(args.repeats),
        "--actions", str(args.actions), "--hidden", str(args.hidden), "--seed", str(args.seed),
    ]


def run_child(args: argparse.Namespace, workload: Workload, depth: int, mode: str) -> dict[str, Any]:
    """One configuration in a fresh process (``--in-process``: in this one); its JSON result
    (or ``status: error``)."""
    base = {"workload": workload.name, "depth": depth, "mode": mode}
    if args.in_process:
        single = argparse.Namespace(**{**vars(args), "sizes": [workload], "depths": [depth], "modes": [mode]})
        try:
            return json.loads(json.dumps(run_single(single)))
        except Exception as error:  # noqa: BLE001  (reported in the table, like a failed child)
            return {**base, "status": "error", "error": f"{type(error).__name__}: {error}"[:200]}
    return run_json_child(child_command(args, workload, depth, mode), base, threads=args.threads,
                          timeout=args.timeout, wait_policy=getattr(args, "wait_policy", None))


def memory_of(result: dict[str, Any]) -> float | None:
    """Step peak in bytes (CUDA: allocated; CPU: RSS)."""
    if result.get("status") != "ok":
        return None
    return result.get("cuda_peak_step", result["cpu_peak_step"])


def predict_memory(done: list[dict[str, Any]], depth: int) -> float | None:
    """Memory at ``depth`` extrapolated from finished runs (linear in K through the two deepest)."""
    points = sorted((r["depth"], memory_of(r)) for r in done if memory_of(r) is not None)
    if not points:
        return None
    if len(points) == 1:
        k, m = points[0]
        return m * depth / k
    (k0, m0), (k1, m1) = points[-2:]
    slope = max((m1 - m0) / (k1 - k0), 0.0) if k1 != k0 else m1 / k1
    return m1 + slope * (depth - k1)


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    args.load_warning = load_warning(args.threads) if not args.device.startswith("cuda") else None
    args.wait_policy = resolve_wait_policy(args.omp_wait_policy, args.load_warning is not None and args.threads > 1)
    if args.load_warning:
        print(args.load_warning, file=sys.stderr, flush=True)
    results = []
    for workload in args.sizes:
        for mode in args.modes:
            done: list[dict[str, Any]] = []
            for depth in sorted(args.depths):
                estimate = predict_memory(done, depth) if mode == "autograd" else None
                if estimate is not None and estimate > args.max_gib * GIB:
                    result = {"workload": workload.name, "depth": depth, "mode": mode,
                              "status": f"skipped (est. {estimate / GIB:.1f} GiB)"}
                else:
                    result = run_child(args, workload, depth, mode)
                done.append(result)
                results.append(result)
                print(f"  {workload.name:>8} K={depth:<5} {mode:<10} {summary(result)}", file=sys.stderr, flush=True)
    results.append(copy_bandwidth(args.device, args.bandwidth_mib, args.threads))
    print(f"  copy bandwidth {results[-1]['bandwidth'] / 1e9:.1f} GB/s", file=sys.stderr, flush=True)
    return results


def summary(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return result.get("status", "?") + (f": {result['error']}" if "error" in result else "")
    return f"{result['seconds']:.3f} s, {memory_of(result) / MIB:.0f} MiB"


# ----------------------------------------------------------------------------- report


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    import torch

    bandwidth = next((r["bandwidth"] for r in results if "bandwidth" in r), None)
    results = [r for r in results if "workload" in r]

    device = args.device
    threads = next((r["threads"] for r in results if "threads" in r), args.threads)
    name = (torch.cuda.get_device_name(device) if device.startswith("cuda") and torch.cuda.is_available()
            else f"CPU, torch threads = {threads}")
    memory_kind = ("CUDA max_memory_allocated above the allocation before the step" if device.startswith("cuda")
                   else "peak RSS during the step above the RSS after imports + data + model")
    print(f"## DT-VIN training step (forward + backward), {name}, torch {torch.__version__}\n")
    print(f"DT-VIN: A = {args.actions} latent actions, 3×3 neighbourhood (S = {NUM_SLOTS}), hidden = {args.hidden}, "
          f"float32; mazes: {WALL_DENSITY:.0%} wall density, 8-connected moves, one goal each.")
    print(f"time: median of {args.repeats} step(s) after one warm-up (1 step from K = {ONE_STEP_FROM}); "
          f"memory: {memory_kind}.")
    if getattr(args, "wait_policy", None):
        print(f"OpenMP: OMP_WAIT_POLICY={args.wait_policy} in every configuration.")
    if getattr(args, "load_warning", None):
        print(args.load_warning + ".")
    print("bandwidth model: a forward layer reads P [N,S,A] + gathered V [N,S] + R [N,A] (float32) = "
          "4·N·(S·A+S+A) bytes; forward + backward ≈ 3 such passes; GB/s = 3·bytes / (time per layer).")
    if bandwidth is not None:
        print(f"copy bandwidth measured in this run: {bandwidth / 1e9:.1f} GB/s (dst.copy_(src), bytes read + "
              f"written); the bound of a forward layer is bytes / bandwidth, and 'fwd × bound' is the measured "
              f"forward time per layer (no gradients) over it.")
    print("\n" + markdown_header(COLUMNS, ALIGN, compact=True))
    reference = {(r["workload"], r["depth"]): r for r in results if r["mode"] == "autograd" and r.get("status") == "ok"}
    order = {w.name: i for i, w in enumerate(args.sizes)}
    for r in sorted(results, key=lambda r: (order.get(r["workload"], 0), r["depth"], ALL_MODES.index(r["mode"]))):
        workload = parse_workload(r["workload"])
        nodes = r.get("num_nodes", workload.num_nodes)
        head = [workload.label, nodes, r["depth"], r["mode"]]
        if r.get("status") != "ok":
            status = r["status"] if r["status"] != "error" else f"error: {r.get('error', '')}"
            print(markdown_row([*head, status], len(COLUMNS)))
            continue
        seconds, memory = r["seconds"], memory_of(r)
        per_layer = seconds / r["depth"]
        nbytes = layer_bytes(nodes, args.actions)
        ref = reference.get((r["workload"], r["depth"]))
        ratio = "–"
        if ref is not None:
            ratio = f"{seconds / ref['seconds']:.2f}, {memory / max(memory_of(ref), 1):.2f}"
        forward = r.get("forward_s")
        fwd = f"{forward / r['depth'] * 1e3:.3f}" if forward is not None else "–"
        bound = f"{forward / r['depth'] / (nbytes / bandwidth):.1f}" if forward is not None and bandwidth else "–"
        print(markdown_row([*head, f"{seconds:.3f} s", f"{per_layer * 1e3:.3f}", fwd, bound, f"{memory / MIB:.0f}",
                            ratio, f"{nbytes / 1e6:.2f} MB", f"{3 * nbytes / per_layer / 1e9:.2f}", f"{r['loss']:.4f}",
                            f"{r['grad_norm']:.4g}"]))
    print_marginal(results, args)
    print_gradient_check(results, reference)
    print_targets(results)
    print_gpu_targets(results, args, bandwidth)


def print_marginal(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per-layer cost from the slope between the two deepest K of a (workload, mode): no fixed costs."""
    lines = []
    for workload in args.sizes:
        nbytes = layer_bytes(workload.num_nodes, args.actions)
        for mode in ALL_MODES:
            points = sorted((r["depth"], r["seconds"]) for r in results
                            if r["workload"] == workload.name and r["mode"] == mode and r.get("status") == "ok")
            if len(points) < 2 or points[-1][0] == points[-2][0]:
                continue
            (k0, t0), (k1, t1) = points[-2:]
            per_layer = (t1 - t0) / (k1 - k0)
            if per_layer <= 0:
                continue
            lines.append(f"- {workload.label}, {mode}: {per_layer * 1e3:.3f} ms / layer (K {k0} → {k1}), "
                         f"{3 * nbytes / per_layer / 1e9:.2f} GB/s")
    if lines:
        print("\nmarginal cost per layer (slope of time / step between the two deepest K, without the fixed "
              "costs of encoders, policy head and loss):")
        print("\n".join(lines))


def print_gradient_check(results: list[dict[str, Any]], reference: dict) -> None:
    """Every mode computes the same step: loss and gradient norm must match autograd's."""
    worst = 0.0
    for r in results:
        ref = reference.get((r["workload"], r["depth"]))
        if r.get("status") == "ok" and ref is not None and r is not ref:
            worst = max(worst, abs(r["grad_norm"] - ref["grad_norm"]) / max(abs(ref["grad_norm"]), 1e-30),
                        abs(r["loss"] - ref["loss"]) / max(abs(ref["loss"]), 1e-30))
    if any(r.get("status") == "ok" and r["mode"] != "autograd" for r in results) and reference:
        print(f"\nmodes vs autograd: largest relative difference in loss / ‖grad‖ = {worst:.2e}")


def print_targets(results: list[dict[str, Any]]) -> None:
    """The issue's targets at K = 1000 on 35×35 ×8 (CPU, 2 threads): ≤ 1.6 s and ≤ 0.25 GiB above import."""
    rows = [r for r in results if r["workload"] == TARGET["workload"] and r["depth"] == TARGET["depth"]
            and r.get("status") == "ok"]
    if not rows:
        print(f"\ntargets: not measured (needs --sizes {TARGET['workload']} --depths {TARGET['depth']})")
        return
    print(f"\ntargets (35×35 ×8, K = {TARGET['depth']}: ≤ {TARGET['seconds']} s per step, "
          f"≤ {TARGET['gib']} GiB above import; the issue states them for CPU with 2 threads):")
    for r in rows:
        above_import = r.get("cuda_peak_step", r["cpu_peak_import"])
        fast = r["seconds"] <= TARGET["seconds"]
        small = above_import <= TARGET["gib"] * GIB
        verdict = "MET" if fast and small else "NOT MET"
        print(f"- {r['mode']}: {r['seconds']:.3f} s ({'ok' if fast else 'too slow'}), "
              f"{above_import / GIB:.3f} GiB above import ({'ok' if small else 'too much'}; "
              f"step alone {memory_of(r) / GIB:.3f} GiB) → {verdict}")


def print_gpu_targets(results: list[dict[str, Any]], args: argparse.Namespace, bandwidth: float | None) -> None:
    """Issue 11's targets at K = 5000 on 100×100 ×32 (CUDA): ≤ 6 GB per step, forward layer ≤ 2× the bound."""
    rows = [r for r in results if r["workload"] == GPU_TARGET["workload"] and r["depth"] == GPU_TARGET["depth"]
            and r.get("status") == "ok"]
    if not rows or not args.device.startswith("cuda"):
        return
    nbytes = layer_bytes(parse_workload(GPU_TARGET["workload"]).num_nodes, args.actions)
    print(f"\ntargets (100×100 ×32, K = {GPU_TARGET['depth']}, CUDA: ≤ {GPU_TARGET['gb']:g} GB per training step, "
          f"forward layer ≤ {GPU_TARGET['bound_ratio']:g}× the bandwidth bound):")
    for r in rows:
        small = memory_of(r) <= GPU_TARGET["gb"] * 1e9
        ratio = r["forward_s"] / r["depth"] / (nbytes / bandwidth) if bandwidth and "forward_s" in r else None
        fast = ratio is not None and ratio <= GPU_TARGET["bound_ratio"]
        shown = f"{ratio:.1f}×" if ratio is not None else "not measured"
        print(f"- {r['mode']}: {memory_of(r) / 1e9:.2f} GB ({'ok' if small else 'too much'}), forward layer "
              f"{shown} the bound ({'ok' if fast else 'too slow'}) → {'MET' if small and fast else 'NOT MET'}")


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per configuration")
    parser.add_argument("--sizes", type=parse_workload, nargs="+", default=None,
                        help="workloads SIDExCOUNT (default: 35x8 and 100x2 on CPU, 35x8 and 100x8 on CUDA)")
    parser.add_argument("--depths", type=int, nargs="+", default=None, help="K values (default 100 1000 5000)")
    parser.add_argument("--modes", nargs="+", default=None, choices=ALL_MODES,
                        help="memory modes (default: all three; auto: what gvin chooses for the size)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per configuration (median; default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 35x2, K 10 100, one timed step (explicit options still apply)")
    parser.add_argument("--batch", type=int, default=None,
                        help="mazes per workload: overrides the COUNT of every --sizes entry (e.g. --sizes 100 --batch 32)")
    parser.add_argument("--actions", type=int, default=4, help="latent actions A")
    parser.add_argument("--hidden", type=int, default=32, help="DT-VIN hidden channels")
    parser.add_argument("--max-gib", type=float, default=12.0,
                        help="skip autograd runs whose extrapolated memory exceeds this")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per configuration")
    parser.add_argument("--omp-wait-policy", choices=["auto", "passive", "active", "unset"], default="auto",
                        help="OMP_WAIT_POLICY of the children; auto: PASSIVE when other processes keep the CPUs "
                             "busy and --threads > 1 (spinning workers then stall every op), else unchanged")
    parser.add_argument("--bandwidth-mib", type=float, default=None,
                        help="size of the copy that measures the device's bandwidth (default 1024 on CUDA, 256 on CPU)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every configuration in this process (fast, for smoke tests; memory figures then "
                             "include earlier configurations' leftovers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument("--report", type=Path, default=None,
                        help="print the report of a --json file instead of running")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if args.sizes is None:
        args.sizes = [Workload(35, 2)] if args.quick else [Workload(35, 8), Workload(100, 8 if cuda else 2)]
    if args.depths is None:
        args.depths = [10, 100] if args.quick else [100, 1000, 5000]
    if args.batch is not None:
        if args.batch < 1:
            parser.error("--batch must be >= 1")
        args.sizes = list(dict.fromkeys(Workload(w.side, args.batch) for w in args.sizes))
    if args.bandwidth_mib is None:
        args.bandwidth_mib = 1024.0 if cuda else 256.0
    if args.bandwidth_mib <= 0:
        parser.error("--bandwidth-mib must be > 0")
    if args.modes is None:
        args.modes = list(MODES)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    for name in ("threads", "repeats", "actions", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if min(args.depths) < 1:
        parser.error("--depths must be >= 1")
    if args.single and (len(args.sizes), len(args.depths), len(args.modes)) != (1, 1, 1):
        parser.error("--single runs exactly one workload, depth and mode")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.single:
        print(json.dumps(run_single(args)), flush=True)
        return
    if args.report is not None:
        results = json.loads(args.report.read_text())
        known = {w.name for w in args.sizes}
        args.sizes += [parse_workload(name) for name in dict.fromkeys(r["workload"] for r in results if "workload" in r)
                       if name not in known]
        print_report(results, args)
        return
    results = run_all(args)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    print_report(results, args)


if __name__ == "__main__":
    main()
