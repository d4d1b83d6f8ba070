"""Time one value-iteration layer: graph operator (stencil / scatter path) vs the conv reference.

Workload: a batch of GPPN-style maze graphs (``from_grid``, 3×3 kernel, walls kept), for
``A`` latent actions. Rows:

* ``VIN backup``: ``Q = R + γ Σ_e W[τ(e), a] V[s']``, ``V = max_a Q`` (shared kernel);
  conv reference: one ``conv2d`` (the value kernel). Graph paths: ``grid`` (what a
  ``from_grid`` batch gets: its stencil knows the grid layout, and few actions run as one
  grid conv), ``stencil`` (the general gather over the slot table), ``scatter`` (edges).
  The DT-VIN and GPPN rows' ``grid`` / ``stencil`` paths read neighbours through shifted
  windows of the padded grids / through the slot table's index.
* ``DT-VIN backup``: the same with per-state weights ``P [N, T, A]``;
  conv reference: ``F.unfold`` of ``V`` times the per-cell kernel.
* ``DT-VIN forward``: the whole model (encoders, kernel softmax, ``K`` layers, policy
  head) divided by ``K``; conv reference: :class:`gvin.grid.GridDTVIN` with the
  same weights.
* ``GPPN step``: one training step of :class:`gvin.models.GPPN` (LSTM, ``--gppn-hidden``
  channels, ``--gppn-layers`` K): forward, a loss on every real move's log-probability,
  backward; per step, not per layer; conv reference: :class:`gvin.grid.GridGPPN` with
  the same weights (``--skip-gppn`` leaves it out).

Every row reports the median time per layer over ``--repeats`` timings (each the mean
of ``--inner`` calls) and the ratio to the conv reference. All paths are checked to
give the same numbers before they are timed. Inference mode (no autograd), except the GPPN step.

Usage::

    python benchmarks/bench_vi_layer.py [--device cuda] [--mazes 16] [--size 35] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Batch

import gvin
from gvin.datasets.generators import gppn_mazes, sample_goals
from gvin.grid import GridDTVIN, grid_from_graph, node_values_to_grid
from gvin.models import DTVIN, GPPN
from gvin.nn import EdgeTransition, StencilTransition, backup_actions_first, build_stencil
from harness import device_sync, time_each

KERNEL_SIZE = 3
CONNECTIVITY = 4


def maze_batch(num: int, size: int, seed: int, device: torch.device) -> Batch:
    """``num`` GPPN mazes of ``size × size`` as one Batch of from_grid graphs (3×3 kernel)."""
    rng = np.random.default_rng(seed)
    mazes = sample_goals(gppn_mazes(num, size, rng), rng)
    graphs = [
        gvin.from_grid(maze, int(goal), connectivity=CONNECTIVITY, kernel_size=KERNEL_SIZE)
        for maze, goal in zip(mazes.mazes, mazes.goals)
    ]
    return Batch.from_data_list(graphs).to(device)


def without_layout(data: Batch) -> Batch:
    """``data`` without ``grid_shape``: its stencil keeps the general slot-table gathers."""
    stripped = copy.copy(data)  # new stores sharing the tensors (a clone would copy inference tensors)
    del stripped.grid_shape
    assert data.grid_shape is not None
    return stripped


def timed(paths: dict[str, Callable[[], object]], device: torch.device, repeats: int, inner: int) -> dict[str, float]:
    """Median seconds per call of each path; each timing averages ``inner`` calls.

    The paths are timed in turn within every repeat, so that a change in machine
    load affects all of them alike and the ratios stay meaningful.
    """
    return time_each(paths, repeats, inner=inner, warmup=2, sync=device_sync(device))


def check_same(reference: Tensor, *others: Tensor, what: str) -> None:
    for other in others:
        if not torch.allclose(reference, other, atol=1e-4, rtol=1e-4):
            raise AssertionError(f"{what}: paths disagree by {(reference - other).abs().max():.3g}")


def backup_rows(data: Batch, x: Tensor, num_actions: int, args: argparse.Namespace) -> list[tuple]:
    """VIN and DT-VIN Bellman backups on the three paths; rows (op, A, path, seconds)."""
    device, gen = x.device, torch.Generator(device="cpu").manual_seed(args.seed)
    num_nodes, num_slots = data.num_nodes, KERNEL_SIZE**2
    batch, _, height, width = x.shape
    stencil = build_stencil(data.edge_index, data.edge_type, num_nodes, num_slots)
    on_grid = stencil.with_grid((height, width), data.stencil[0])
    assert on_grid.layout is not None, "from_grid batches carry a grid layout"
    values = torch.randn(num_nodes, generator=gen).to(device)
    reward = torch.randn(num_nodes, num_actions, generator=gen).to(device)
    grid_values = node_values_to_grid(data, values).unsqueeze(1).contiguous()  # [B, 1, H, W]
    grid_reward = node_values_to_grid(data, reward).contiguous()  # [B, A, H, W]
    rows = []

    # VIN: one kernel [T, A] shared by all states.
    kernel = (torch.rand(num_slots, num_actions, generator=gen) * 0.2 - 0.1).to(device)
    conv_kernel = kernel.T.reshape(num_actions, 1, KERNEL_SIZE, KERNEL_SIZE)
    # One layer as the value-iteration loop runs it: transition and R^T [A, N] are made once per forward.
    reward_t = reward.T.contiguous()
    vin_grid = StencilTransition(kernel, on_grid)
    vin_stencil = StencilTransition(kernel, stencil)
    vin_edges = EdgeTransition(kernel[data.edge_type], data.edge_index, num_nodes)
    paths = {
        "grid": lambda: backup_actions_first(values, reward_t, vin_grid, 1.0)[1],
        "stencil": lambda: backup_actions_first(values, reward_t, vin_stencil, 1.0)[1],
        "scatter": lambda: backup_actions_first(values, reward_t, vin_edges, 1.0)[1],
        "conv2d": lambda: (grid_reward + F.conv2d(grid_values, conv_kernel, padding=1)).amax(1),
    }
    check_same(node_values_to_grid(data, paths["grid"]()), node_values_to_grid(data, paths["stencil"]()),
               node_values_to_grid(data, paths["scatter"]()), paths["conv2d"](), what="VIN backup")
    rows += [("VIN backup", num_actions, name, t) for name, t in timed(paths, device, args.repeats, args.inner).items()]

    # DT-VIN: per-state weights P [N, T, A], a distribution over the in-grid slots.
    logits = torch.randn(num_nodes, num_slots, num_actions, generator=gen).to(device)
    probs = logits.masked_fill(~stencil.mask[..., None], float("-inf")).softmax(1)
    edge_probs = probs[data.edge_index[0], data.edge_type]
    grid_probs = node_values_to_grid(data, probs).contiguous()  # [B, T, A, H, W]

    def unfold_backup() -> Tensor:
        patches = F.unfold(grid_values, KERNEL_SIZE, padding=1).view(batch, num_slots, 1, height, width)
        return (grid_reward + (grid_probs * patches).sum(1)).amax(1)

    dtvin_grid = StencilTransition(probs, on_grid)
    dtvin_stencil = StencilTransition(probs, stencil)
    for transition in (dtvin_grid, dtvin_stencil):
        transition.slot_major_weight  # laid out once per forward, as in the model
    dtvin_edges = EdgeTransition(edge_probs, data.edge_index, num_nodes)
    paths = {
        "grid": lambda: backup_actions_first(values, reward_t, dtvin_grid, 1.0)[1],
        "stencil": lambda: backup_actions_first(values, reward_t, dtvin_stencil, 1.0)[1],
        "scatter": lambda: backup_actions_first(values, reward_t, dtvin_edges, 1.0)[1],
        "unfold": unfold_backup,
    }
    check_same(node_values_to_grid(data, paths["grid"]()), node_values_to_grid(data, paths["stencil"]()),
               node_values_to_grid(data, paths["scatter"]()), paths["unfold"](), what="DT-VIN backup")
    rows += [("DT-VIN backup", num_actions, name, t)
             for name, t in timed(paths, device, args.repeats, args.inner).items()]
    return rows


def forward_rows(data: Batch, x: Tensor, num_actions: int, args: argparse.Namespace) -> list[tuple]:
    """The full DT-VIN model, K layers, per layer; rows (op, A, path, seconds)."""
    torch.manual_seed(args.seed)
    model = DTVIN(num_edge_types=KERNEL_SIZE**2, num_actions=num_actions, hidden_channels=args.hidden,
                  num_iterations=args.layers).to(x.device)
    reference: GridDTVIN = grid_from_graph(model, CONNECTIVITY, KERNEL_SIZE)

    def graph_path(use_stencil: bool, layout: bool = True) -> Callable[[], Tensor]:
        graphs = data if layout else without_layout(data)

        def run() -> Tensor:
            model.use_stencil = use_stencil
            return model(graphs).v
        return run

    paths = {"grid": graph_path(True), "stencil": graph_path(True, layout=False), "scatter": graph_path(False),
             "unfold": lambda: reference(x).v}
    check_same(node_values_to_grid(data, paths["grid"]()), node_values_to_grid(data, paths["stencil"]()),
               node_values_to_grid(data, paths["scatter"]()), paths["unfold"](), what="DT-VIN forward")
    times = timed(paths, x.device, max(3, args.repeats // 4), 1)
    return [(f"DT-VIN forward K={args.layers}", num_actions, name, t / args.layers) for name, t in times.items()]


def gppn_step_rows(data: Batch, x: Tensor, args: argparse.Namespace) -> list[tuple]:
    """One GPPN training step (forward, loss, backward), graph paths vs the conv reference; rows (op, hidden, path, s)."""
    torch.manual_seed(args.seed)
    model = GPPN(num_edge_types=KERNEL_SIZE**2, hidden_channels=args.gppn_hidden,
                 num_iterations=args.gppn_layers).to(x.device)
    reference = grid_from_graph(model, CONNECTIVITY, KERNEL_SIZE)

    def step(run: Callable[[], Tensor]) -> Callable[[], Tensor]:
        def go() -> Tensor:
            log_probs = run()
            loss = -log_probs[torch.isfinite(log_probs)].mean()  # every real move: the same terms on both sides
            loss.backward()
            return loss.detach()
        return go

    def graph_path(use_stencil: bool, layout: bool = True) -> Callable[[], Tensor]:
        graphs = data if layout else without_layout(data)

        def run() -> Tensor:
            model.use_stencil = use_stencil
            return model(graphs).log_probs
        return run

    paths = {"grid": step(graph_path(True)), "stencil": step(graph_path(True, layout=False)),
             "scatter": step(graph_path(False)),
             "conv": step(lambda: reference(x).log_probs)}
    losses = {name: float(path()) for name, path in paths.items()}
    if max(losses.values()) - min(losses.values()) > 1e-4 * max(1.0, abs(losses["conv"])):
        raise SystemExit(f"GPPN step: the paths disagree on the loss: {losses}")
    times = timed(paths, x.device, max(3, args.repeats // 6), 1)
    return [(f"GPPN step K={args.gppn_layers}", args.gppn_hidden, name, t) for name, t in times.items()]


def print_table(rows: list[tuple], header: str) -> None:
    print(header)
    print(f"| {'operator':<22} | {'A':>3} | {'path':<8} | {'ms / layer':>10} | {'× conv ref':>10} |")  # GPPN: A = hidden, ms per step
    print(f"|{'-' * 24}|{'-' * 5}|{'-' * 10}|{'-' * 12}|{'-' * 12}|")
    reference = {(op, a): t for op, a, path, t in rows if path in ("conv2d", "unfold", "conv")}
    for op, a, path, seconds in rows:
        ratio = seconds / reference[(op, a)]
        print(f"| {op:<22} | {a:>3} | {path:<8} | {seconds * 1e3:>10.3f} | {ratio:>10.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--mazes", type=int, default=16, help="graphs in the batch")
    parser.add_argument("--size", type=int, default=35, help="maze side")
    parser.add_argument("--actions", type=int, nargs="+", default=[4, 16], help="latent actions A")
    parser.add_argument("--layers", type=int, default=35, help="K of the full DT-VIN forward")
    parser.add_argument("--hidden", type=int, default=32, help="DT-VIN hidden channels")
    parser.add_argument("--repeats", type=int, default=30, help="timings per row (median)")
    parser.add_argument("--inner", type=int, default=5, help="calls per timing (backup rows)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gppn-hidden", type=int, default=32, help="GPPN hidden channels (GPPN step row)")
    parser.add_argument("--gppn-layers", type=int, default=20, help="GPPN K (GPPN step row)")
    parser.add_argument("--skip-gppn", action="store_true", help="leave out the GPPN training-step row")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")

    data = maze_batch(args.mazes, args.size, args.seed, device)
    x = node_values_to_grid(data, data.x).contiguous()
    rows = []
    with torch.inference_mode():
        for num_actions in args.actions:
            rows += backup_rows(data, x, num_actions, args)
            rows += forward_rows(data, x, num_actions, args)
    if not args.skip_gppn:
        rows += gppn_step_rows(data, x, args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print_table(rows, f"VI layer, {args.mazes} mazes {args.size}x{args.size} ({data.num_nodes} nodes, "
                      f"{data.num_edges} edges), 3x3 kernel, float32, {name}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
