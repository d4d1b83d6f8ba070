"""The ``gvin`` command: generate, train, evaluate, plan, demo.

A training run writes into its ``--out`` folder: ``checkpoint.pt`` (every epoch,
atomically; ``train`` resumes from it), ``run.json`` (the data and model
settings, so ``evaluate`` and ``plan`` need only the checkpoint), and
``plan.png`` (values and a planned path next to the optimal one).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from gvin.graphs.grid import grid_stencil
from gvin.io import atomic_write

RUN_FILE = "run.json"


# ----------------------------------------------------------------------------- arguments
def _add_data_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("data (a GPPN .npz file, or generated mazes)")
    group.add_argument("--npz", type=Path, help="a GPPN-format .npz maze file")
    group.add_argument("--kind", choices=("gppn", "gridworld"), help="generated maze kind (default gppn)")
    group.add_argument("--size", type=int, help="generated maze side (default 11)")
    group.add_argument("--counts", type=int, nargs=3, metavar=("TRAIN", "VALID", "TEST"),
                       help="generated maze counts (default 2000 200 500)")
    group.add_argument("--data-seed", type=int, help="seed of the generated mazes (default 0)")
    group.add_argument("--root", type=Path, help="data root for generated mazes (default datasets/)")
    group.add_argument("--connectivity", type=int, choices=(4, 8), help="moves (default 4)")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="dtvin", choices=("vin", "dtvin", "gppn"))
    group.add_argument("--depth", type=int, default=None, help="layers K (default 3 × maze side)")
    group.add_argument("--kernel-size", type=int, default=3, help="stencil F×F (odd, default 3)")
    group.add_argument("--hidden", type=int, default=None, help="hidden channels")
    group.add_argument("--latent-actions", type=int, default=None, help="latent actions A (VIN/DT-VIN)")
    group.add_argument("--actions", choices=("moves", "directions"), default="moves",
                       help="policy over real moves, or over every direction as GPPN (into walls fails)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gvin", description="Differentiable planners on graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train DT-VIN on small generated mazes (a few CPU minutes)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=int, default=10)

    generate = sub.add_parser("generate", help="generate mazes with expert labels as a GPPN .npz")
    generate.add_argument("out", type=Path)
    generate.add_argument("--kind", choices=("gppn", "gridworld"), default="gppn")
    generate.add_argument("--size", type=int, default=15)
    generate.add_argument("--counts", type=int, nargs=3, default=(10000, 2000, 2000))
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--connectivity", type=int, choices=(4, 8), default=4)

    train = sub.add_parser("train", help="train a planner by imitation of exact plans")
    _add_data_arguments(train)
    _add_model_arguments(train)
    group = train.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=10)
    group.add_argument("--batch-size", type=int, default=32)
    group.add_argument("--lr", type=float, default=3e-3)
    group.add_argument("--highway", type=int, default=0, metavar="J",
                       help="adaptive highway loss every J layers (0: last layer only)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    group.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, run.json, plan.png)")
    group.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")

    evaluate = sub.add_parser("evaluate", help="%%Optimal / %%Success of a trained planner")
    evaluate.add_argument("checkpoint", type=Path)
    _add_data_arguments(evaluate)
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--depth", type=int, default=None, help="plan with K layers (default: as trained)")
    evaluate.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")

    plan = sub.add_parser("plan", help="plan one maze with a trained planner; print it and write a PNG")
    plan.add_argument("checkpoint", type=Path)
    _add_data_arguments(plan)
    plan.add_argument("--split", default="test", choices=("train", "valid", "test"))
    plan.add_argument("--index", type=int, default=0, help="which maze of the split")
    plan.add_argument("--depth", type=int, default=None)
    plan.add_argument("--png", type=Path, default=None, help="where to write the picture")
    return parser


# ----------------------------------------------------------------------------- data
DATA_DEFAULTS: dict[str, Any] = {
    "npz": None, "kind": "gppn", "size": 11, "counts": [2000, 200, 500],
    "data_seed": 0, "root": str(Path("datasets").resolve()), "connectivity": 4,
}


def data_spec(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data settings: command line, else the run's saved ones, else defaults."""
    spec = dict(DATA_DEFAULTS if saved is None else saved)
    for key in DATA_DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            spec[key] = str(value.resolve()) if isinstance(value, Path) else (list(value) if isinstance(value, tuple) else value)
    if getattr(args, "npz", None) is not None:
        spec["kind"] = spec["size"] = None
    return spec


def load_split(spec: dict[str, Any], split: str, kernel_size: int):
    """One split of the data as a dataset of labelled planning graphs."""
    from gvin.datasets import GPPNDataset, MazeDataset

    if spec["npz"]:
        return GPPNDataset(spec["npz"], split=split, connectivity=spec["connectivity"], kernel_size=kernel_size)
    return MazeDataset(
        root=spec["root"], split=split, kind=spec["kind"], size=spec["size"], counts=tuple(spec["counts"]),
        seed=spec["data_seed"], connectivity=spec["connectivity"], kernel_size=kernel_size,
    )


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_write(path, "w") as file:
        json.dump(payload, file, indent=2)


def _read_run(checkpoint: Path) -> dict[str, Any]:
    if not checkpoint.is_file():
        raise SystemExit(f"error: no checkpoint at {checkpoint}")
    run_file = checkpoint.parent / RUN_FILE
    if not run_file.exists():
        raise SystemExit(f"error: {run_file} not found next to the checkpoint (written by 'gvin train')")
    return json.loads(run_file.read_text())


# ----------------------------------------------------------------------------- commands
def model_kwargs(args: argparse.Namespace, spec: dict[str, Any], side: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "num_edge_types": len(grid_stencil(2, spec["connectivity"], args.kernel_size)),
        "num_iterations": args.depth or 3 * side,
        "actions": args.actions,
    }
    if args.hidden is not None:
        kwargs["hidden_channels"] = args.hidden
    if args.latent_actions is not None and args.model != "gppn":
        kwargs["num_actions"] = args.latent_actions
    return kwargs


def cmd_train(args: argparse.Namespace) -> int:
    from gvin.train import TrainConfig, Trainer, evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = data_spec(args)
    train_set = load_split(spec, "train", args.kernel_size)
    valid_set = load_split(spec, "valid", args.kernel_size)
    side = int(train_set[0].grid_shape.max())
    config = TrainConfig(
        model=args.model, model_kwargs=model_kwargs(args, spec, side), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, highway_every=args.highway, seed=args.seed, device=args.device,
    )
    run = {"data": spec, "kernel_size": args.kernel_size, "train": config.__dict__}
    if not args.no_resume and (args.out / "checkpoint.pt").exists() and (args.out / RUN_FILE).exists():
        saved = json.loads((args.out / RUN_FILE).read_text())
        changed = [key for key in ("data", "kernel_size") if saved.get(key) != run[key]]
        if changed:
            raise ValueError(
                f"{args.out} holds a run trained on other data ({', '.join(changed)} differ: "
                f"saved {[saved.get(k) for k in changed]}); use another --out or --no-resume"
            )
    trainer = Trainer(config, checkpoint=args.out / "checkpoint.pt", resume=not args.no_resume)
    _write_json(args.out / RUN_FILE, run)
    if trainer.epoch:
        print(f"resuming {args.out / 'checkpoint.pt'} after epoch {trainer.epoch}")
    print(f"{args.model}: {sum(p.numel() for p in trainer.model.parameters())} parameters, "
          f"K={config.model_kwargs['num_iterations']}, {len(train_set)} training graphs")

    def report(record: dict[str, float]) -> None:
        line = f"epoch {int(record['epoch'])}/{config.epochs}  loss {record['loss']:.4f}"
        if "valid_optimal" in record:
            line += f"  valid %Optimal {100 * record['valid_optimal']:.1f}  %Success {100 * record['valid_success']:.1f}"
        print(line, flush=True)

    trainer.fit(train_set, valid_set if len(valid_set) else None, on_epoch=report)
    test_set = load_split(spec, "test", args.kernel_size)
    metrics = evaluate(trainer.model, test_set, args.device)
    print(_format_metrics("test", metrics, args.actions))
    png = _plot_example(trainer.model, test_set, 0, args.out / "plan.png")
    print(f"wrote {args.out / 'checkpoint.pt'} and {png}")
    return 0


def _format_metrics(split: str, metrics, actions: str) -> str:
    parts = "  ".join(f"{name} {value:.1f}" for name, value in metrics.as_percent().items())
    return f"{split} ({metrics.num_graphs} mazes, policy over {actions}): {parts}"


def _load_model(checkpoint: Path, device: str):
    from gvin.models import build_model
    from gvin.train import load_checkpoint

    payload = load_checkpoint(checkpoint, map_location=device)
    config = payload["config"]
    model = build_model(config["model"], **config["model_kwargs"]).to(device)
    model.load_state_dict(payload["model"])
    return model


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gvin.train import evaluate

    run = _read_run(args.checkpoint)
    spec = data_spec(args, run["data"])
    model = _load_model(args.checkpoint, args.device)
    dataset = load_split(spec, args.split, run["kernel_size"])
    metrics = evaluate(model, dataset, args.device, num_iterations=args.depth, progress=True)
    print(_format_metrics(args.split, metrics, model.actions))
    return 0


def _plot_example(model, dataset, index: int, png: Path) -> Path:
    from gvin.graphs.grid import to_grid
    from gvin.rollout import plan_path
    from gvin.viz import plot_plan, render_ascii

    data = dataset[index]
    dist = data.dist
    start = int(torch.where(torch.isfinite(dist), dist, torch.tensor(-1.0)).argmax())  # the farthest cell
    result = plan_path(model, data, start)
    cells = lambda nodes: [tuple(int(c) for c in data.pos[n].tolist()) for n in nodes]  # noqa: E731
    maze = to_grid(data, data.x[:, 0]).numpy()
    goal = cells([int(data.goal.nonzero()[0])])[0]
    values = to_grid(data, result.values).numpy()
    status = "reached the goal" if result.reached else "failed"
    print(f"maze {index}: policy {status} in {len(result.planned) - 1} moves; shortest path {len(result.optimal) - 1}")
    print(render_ascii(maze, goal=goal, path=cells(result.planned), start=cells([start])[0]))
    return plot_plan(maze, values, cells(result.planned), cells(result.optimal), goal, png,
                     title=f"maze {index}: planned {len(result.planned) - 1} moves ({status}), "
                           f"optimal {len(result.optimal) - 1}")


def cmd_plan(args: argparse.Namespace) -> int:
    run = _read_run(args.checkpoint)
    spec = data_spec(args, run["data"])
    model = _load_model(args.checkpoint, "cpu")
    dataset = load_split(spec, args.split, run["kernel_size"])
    if not 0 <= args.index < len(dataset):
        raise SystemExit(f"error: --index {args.index} is out of range for {len(dataset)} mazes")
    png = args.png or args.checkpoint.parent / f"plan_{args.split}_{args.index}.png"
    print(f"wrote {_plot_example(model, dataset, args.index, png)}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from gvin.datasets import write_gppn_dataset

    path = write_gppn_dataset(args.out, size=args.size, counts=tuple(args.counts), seed=args.seed,
                              connectivity=args.connectivity, kind=args.kind)
    print(f"wrote {path} ({args.kind}, {args.size}x{args.size}, counts {tuple(args.counts)})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gvin.demo import run_demo

    return run_demo(args.out, args.epochs)


COMMANDS = {"demo": cmd_demo, "generate": cmd_generate, "train": cmd_train,
            "evaluate": cmd_evaluate, "plan": cmd_plan}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
