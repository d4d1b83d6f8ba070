"""Planning deeper than trained: a DT-VIN trained on small mazes, evaluated on larger ones at larger K.

Trains one DT-VIN per ``--heads`` entry on ``--train-size`` GPPN mazes (gvin's generator,
or ``--npz`` for a GPPN-format file) at depth ``--depth``, with the same seed, data and
recipe, then evaluates each on fresh test mazes of every ``--sizes`` side at every depth
in ``--depths-per-side`` × side (and the training depth on the training side). The heads:

* ``centered``: the policy head reads ``Q - mean_a Q`` (gvin's default), so a constant added
  to every value, which is what each extra layer adds once values have settled when
  ``γ = 1``, does not change the policy;
* ``advantage``: the head reads ``Q - V``, shift-invariant too;
* ``raw``: the head reads ``Q`` (the published DT-VIN / VIN head, ``head="raw"``).

Prints a markdown table of %Optimal / %Success (greedy rollouts from every free cell)
per head, maze side and depth, and the training time. Everything is seeded: a rerun prints
the same numbers on the same machine.

Usage::

    python benchmarks/depth_transfer.py                               # 15 -> 15, 31, 63
    python benchmarks/depth_transfer.py --train-count 500 --epochs 2 --sizes 15 31 --test-count 20
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
warnings.filterwarnings("ignore", message=".*torch.jit.*")
warnings.filterwarnings("ignore", message=".*fixed-point solve.*")

HEADS = ("centered", "advantage", "raw")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", help="train on a GPPN-format .npz file instead of generated mazes")
    parser.add_argument("--train-size", type=int, default=15, help="side of the generated training mazes")
    parser.add_argument("--train-count", type=int, default=2000, help="generated training mazes")
    parser.add_argument("--depth", type=int, default=45, help="training depth K")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--highway", type=int, default=0, help="J of the adaptive highway loss (0: off)")
    parser.add_argument("--model", choices=("dtvin", "implicit_dtvin"), default="dtvin",
                        help="implicit_dtvin: K is the forward solver's iteration limit")
    parser.add_argument("--gamma", type=float, default=None, help="discount (default: the model's)")
    parser.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 31, 63], help="test maze sides")
    parser.add_argument("--depths-per-side", type=float, nargs="+", default=[3.0, 6.0],
                        help="test depths as multiples of the side (K = factor × side)")
    parser.add_argument("--test-count", type=int, default=100, help="test mazes per side")
    parser.add_argument("--root", default="datasets", help="cache folder of generated mazes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def maze_split(args: argparse.Namespace, size: int, counts: tuple[int, int, int], split: str):
    from gvin.datasets import MazeDataset

    return MazeDataset(root=args.root, split=split, kind="gppn", size=size, counts=counts, seed=args.seed,
                       connectivity=4, kernel_size=3)


def training_set(args: argparse.Namespace):
    if args.npz:
        from gvin.datasets import GPPNDataset

        return GPPNDataset(args.npz, split="train", connectivity=4, kernel_size=3)
    return maze_split(args, args.train_size, (args.train_count, 0, 0), "train")


def train(args: argparse.Namespace, head: str, data) -> tuple[object, float]:
    import gvin
    from gvin.train.trainer import TrainConfig, Trainer

    kwargs = {"stencil": gvin.grid_stencil(2, 4, 3).tolist(), "num_iterations": args.depth,
              "head": head}
    if args.gamma is not None:
        kwargs["gamma"] = args.gamma
    config = TrainConfig(model=args.model, model_kwargs=kwargs, epochs=args.epochs, batch_size=args.batch_size,
                         lr=args.lr, highway_every=args.highway, seed=args.seed)
    trainer = Trainer(config)
    start = time.perf_counter()
    trainer.fit(data, progress=False)
    return trainer.model, time.perf_counter() - start


def depths(args: argparse.Namespace, side: int) -> list[int]:
    chosen = {round(factor * side) for factor in args.depths_per_side}
    if side == args.train_size:
        chosen.add(args.depth)
    return sorted(chosen)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from gvin.train.trainer import evaluate

    torch.set_num_threads(args.threads)
    data = training_set(args)
    tests = {side: maze_split(args, side, (0, 0, args.test_count), "test") for side in args.sizes}
    rows, times = [], {}
    for head in args.heads:
        model, seconds = train(args, head, data)
        times[head] = seconds
        print(f"trained the {head} head in {seconds:.0f} s", file=sys.stderr, flush=True)
        for side, test in tests.items():
            for depth in depths(args, side):
                metrics = evaluate(model, test, num_iterations=depth, batch_size=8)
                rows.append((head, side, depth, 100 * metrics.optimal, 100 * metrics.success))
                print(f"  {side}x{side} K={depth}: {rows[-1][3]:.1f} / {rows[-1][4]:.1f}", file=sys.stderr, flush=True)
    source = args.npz or f"{len(data)} generated {args.train_size}x{args.train_size} GPPN mazes"
    gamma = "" if args.gamma is None else f", gamma {args.gamma}"
    print(f"{args.model} trained on {source}, K = {args.depth}{gamma}, {args.epochs} epochs, batch {args.batch_size}, "
          f"lr {args.lr}, highway J = {args.highway}, seed {args.seed}; {args.test_count} test mazes per side\n")
    print("| head | test side | K | %Optimal | %Success |")
    print("| --- | --- | --- | --- | --- |")
    for head, side, depth, optimal, success in rows:
        print(f"| {head} | {side} | {depth} | {optimal:.1f} | {success:.1f} |")
    print("\ntraining time: " + ", ".join(f"{head} {seconds:.0f} s" for head, seconds in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
