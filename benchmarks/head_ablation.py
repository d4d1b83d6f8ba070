"""What the DT-VIN default is made of: the policy head, the successor-value init, the absorbing goal, depth draws.

Trains one DT-VIN per setting on the shared 15×15 file, with the README command's model (the 3×3
stencil, K = 45, policy over directions) and Adam at lr 3e-3, batch 32, one thread, then scores
``--test`` mazes of the file's test split at K = 45, 90, 180 and 360, and 100 mazes each of 31×31 and
63×63 from gvin's own generator (other code and seeds than the file's) at K = 3 × side. A setting is
``head:beta:absorbing:depth_factor[:move_transitions]``, e.g. ``centered:1:1:3`` or ``raw:0:0:1`` (the
published head, as gvin trained before); a fifth field ``1`` limits the transitions to the moves. Prints one JSON line per run and a markdown table at the end.

Usage::

    python benchmarks/head_ablation.py --train 2000 --epochs 4 --settings raw:0:0:1 centered:0:0:1 centered:1:0:1
    python benchmarks/head_ablation.py --settings centered:1:1:3 centered:1:0:1 --seeds 0 1     # full file, ~15 min a run
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_FILE = ROOT.parent / "shared" / "data" / "m15_4abs-cc_10k.npz"
DEPTHS = (45, 90, 180, 360)
SIDES = (31, 63)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["centered:1:1:3", "raw:0:0:1"],
                        help="head:beta:absorbing:depth_factor, e.g. centered:1:1:3")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--train", type=int, default=10000, help="training mazes (the file's first N)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--test", type=int, default=500, help="test mazes of the file")
    parser.add_argument("--npz", type=Path, default=SHARED_FILE)
    parser.add_argument("--root", default=str(ROOT / "datasets"), help="cache of the generated transfer mazes")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, setting: str, seed: int) -> dict:
    import gvin
    from gvin.datasets import GPPNDataset, MazeDataset
    from gvin.train import TrainConfig, Trainer, evaluate

    head, beta, absorbing, factor, *rest = setting.split(":")
    moves_only = bool(int(rest[0])) if rest else False
    train = GPPNDataset(args.npz, "train", kernel_size=3)[: args.train]
    valid = GPPNDataset(args.npz, "valid", kernel_size=3)[:300]
    test = GPPNDataset(args.npz, "test", kernel_size=3)[: args.test]
    kwargs = dict(stencil=gvin.grid_stencil(2, 4, 3), num_iterations=45, actions="directions", head=head,
                  successor_init=float(beta), absorbing_goal=bool(int(absorbing)),
                  move_transitions=moves_only)
    config = TrainConfig(model="dtvin", model_kwargs=kwargs, epochs=args.epochs, seed=seed, depth_factor=float(factor))
    trainer = Trainer(config)
    start = time.perf_counter()
    trainer.fit(train, valid, progress=False)
    result = {"setting": setting, "seed": seed, "train_s": round(time.perf_counter() - start),
              "valid_optimal": [round(100 * r["valid_optimal"], 1) for r in trainer.history]}
    for depth in DEPTHS:
        result[f"K{depth}"] = round(100 * evaluate(trainer.model, test, num_iterations=depth, num_starts=0).success, 1)
    for side in SIDES:
        data = MazeDataset(args.root, "test", kind="gppn", size=side, counts=(0, 0, 100), seed=7, connectivity=4,
                           kernel_size=3, log=False)
        result[f"gppn{side}"] = round(100 * evaluate(trainer.model, data, num_iterations=3 * side,
                                                     num_starts=0).success, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for setting in args.settings:
        for seed in args.seeds:
            rows.append(run(args, setting, seed))
            print(json.dumps(rows[-1]), flush=True)
    columns = [f"K{d}" for d in DEPTHS] + [f"gppn{s}" for s in SIDES]
    print(f"\n%Success, median (worst) over seeds; train {args.train} mazes × {args.epochs} epochs\n")
    print("| head:beta:absorbing:depth_factor | valid %Opt by epoch (seed 0) | " + " | ".join(columns) + " |")
    print("| --- | --- |" + " --- |" * len(columns))
    for setting in args.settings:
        mine = [r for r in rows if r["setting"] == setting]
        cells = [f"{statistics.median(r[c] for r in mine):.1f} ({min(r[c] for r in mine):.1f})" for c in columns]
        print(f"| {setting} | {' '.join(map(str, mine[0]['valid_optimal']))} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
