"""Does ``torch.compile`` pay for one value-iteration layer? Eager vs compiled, same run.

One DT-VIN Bellman backup on the stencil path (per-node weights ``[N, S, A]``),
``Q = R + γ Σ_s P[:, s, :] V[nbr[:, s]]``, ``V = max_a Q``, on a batch of maze
graphs; prints compile time and ms/layer for eager and ``torch.compile``d.
The issue asks to compile one step where that pays; this measures whether it does.

    python benchmarks/bench_compile_layer.py --mazes 8 --size 35 --threads 2
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from torch_geometric.data import Batch

import gvin
from gvin.nn import build_stencil
from harness import device_sync, markdown_header, markdown_row, time_calls, timed


def layer(values: torch.Tensor, reward: torch.Tensor, weight: torch.Tensor, neighbour: torch.Tensor, gamma: float):
    padded = torch.cat([values, values.new_zeros(1)])
    q = reward + gamma * (padded[neighbour].unsqueeze(-1) * weight).sum(1)
    v, action = q.max(-1)
    return q, v, action


def per_layer_ms(fn, args, repeats: int, device: str) -> float:
    """Mean milliseconds of ``repeats`` calls in a row after 3 warm-up calls."""
    return time_calls(lambda: fn(*args), 1, inner=repeats, warmup=3, sync=device_sync(torch.device(device))) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mazes", type=int, default=8)
    parser.add_argument("--size", type=int, default=35)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    graphs = [gvin.from_grid((rng.random((args.size,) * 2) > 0.3).astype(np.float32), kernel_size=3, connectivity=8)
              for _ in range(args.mazes)]
    batch = Batch.from_data_list(graphs).to(args.device)
    stencil = build_stencil(batch.edge_index, batch.edge_type, batch.num_nodes, 9)
    weight = torch.softmax(torch.randn(batch.num_nodes, 9, args.actions, device=args.device), 1)
    reward = torch.randn(batch.num_nodes, args.actions, device=args.device)
    values = torch.randn(batch.num_nodes, device=args.device)
    inputs = (values, reward, weight, stencil.neighbour, 1.0)
    eager = per_layer_ms(layer, inputs, args.repeats, args.device)
    compiled_layer = torch.compile(layer, dynamic=False)
    _, compile_s = timed(lambda: compiled_layer(*inputs), device_sync(torch.device(args.device)))
    compiled = per_layer_ms(compiled_layer, inputs, args.repeats, args.device)
    for got, want in zip(compiled_layer(*inputs)[:2], layer(*inputs)[:2]):
        torch.testing.assert_close(got, want)
    print(f"## one DT-VIN layer, {args.mazes} mazes of {args.size}x{args.size} (N={batch.num_nodes}, S=9, "
          f"A={args.actions}), {args.device}, threads={args.threads}\n")
    print(markdown_header(("variant", "ms / layer", "× eager"), "lrr", compact=True))
    print(markdown_row(["eager", f"{eager:.3f}", "1.00"]))
    print(markdown_row([f"torch.compile (first call {compile_s:.1f} s)", f"{compiled:.3f}", f"{compiled / eager:.2f}"]))


if __name__ == "__main__":
    main()
