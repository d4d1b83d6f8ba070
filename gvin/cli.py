"""The ``gvin`` command: generate, train, evaluate, plan, demo.

A training run writes into its ``--out`` folder: ``checkpoint.pt`` (every epoch,
atomically; ``train`` resumes from it), ``run.json`` (the data and model
settings, for people and older checkpoints) and ``plan.png`` (values and a
planned path next to the optimal one). The checkpoint itself records the data
it was trained on and its stencil, so ``evaluate`` and ``plan`` need only it,
and a resume on other data is refused.

A user error ends in one ``error: ...`` line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, NoReturn

import torch

from gvin.graphs.grid import grid_stencil
from gvin.io import atomic_write

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.pt"


class CLIError(Exception):
    """A mistake in the command line or its files: reported as one ``error:`` line."""


# ----------------------------------------------------------------------------- argument types
def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer ``>= low`` (and ``<= high``)."""
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


MAX_DEPTH = 1_000_000  # layers: a million sweeps plan paths far longer than any maze gvin generates


def _positive_float(text: str) -> float:
    """An argparse type: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _kernel_size(text: str) -> int:
    """An argparse type: an odd stencil size ``>= 3``."""
    value = _integer(3)(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"expected an odd integer >= 3, got {value}")
    return value


def _device(text: str) -> str:
    """An argparse type: a torch device this machine has."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available on this machine; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------- arguments
def _add_data_arguments(parser: argparse.ArgumentParser, trained: bool = False) -> None:
    title = "a GPPN .npz file, or generated mazes"
    if trained:
        title += "; the defaults are what the checkpoint was trained on"
    group = parser.add_argument_group(f"data ({title})")
    group.add_argument("--npz", type=Path, help="a GPPN-format .npz maze file")
    group.add_argument("--kind", choices=("gppn", "gridworld"), help="generated maze kind (default gppn)")
    group.add_argument("--size", type=_integer(3), help="generated maze side (default 11)")
    group.add_argument("--counts", type=_integer(0), nargs=3, metavar=("TRAIN", "VALID", "TEST"),
                       help="generated maze counts (default 2000 200 500)")
    group.add_argument("--data-seed", type=_integer(0), help="seed of the generated mazes (default 0)")
    group.add_argument("--root", type=Path, help="cache folder of generated mazes (default datasets/)")
    group.add_argument("--connectivity", type=int, choices=(4, 8), help="moves (default 4)")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="dtvin", choices=("vin", "dtvin", "gppn"))
    group.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None, help="layers K (default 3 × maze side)")
    group.add_argument("--kernel-size", type=_kernel_size, default=3, help="stencil F×F (odd, default 3)")
    group.add_argument("--hidden", type=_integer(1), default=None, help="hidden channels")
    group.add_argument("--latent-actions", type=_integer(1), default=None, help="latent actions A (VIN/DT-VIN)")
    group.add_argument("--actions", choices=("moves", "directions"), default="moves",
                       help="policy over real moves, or over every direction as GPPN (into walls fails)")


def build_parser() -> argparse.ArgumentParser:
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser = _Parser(prog="gvin", description="Differentiable planners on graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train DT-VIN on small generated mazes (a few CPU minutes)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=_integer(1), default=10)

    generate = sub.add_parser("generate", help="generate mazes with expert labels as a GPPN .npz")
    generate.add_argument("out", type=Path)
    generate.add_argument("--kind", choices=("gppn", "gridworld"), default="gppn")
    generate.add_argument("--size", type=_integer(3), default=15)
    generate.add_argument("--counts", type=_integer(1), nargs=3, default=(10000, 2000, 2000),
                          metavar=("TRAIN", "VALID", "TEST"))
    generate.add_argument("--seed", type=_integer(0), default=0)
    generate.add_argument("--connectivity", type=int, choices=(4, 8), default=4)

    train = sub.add_parser("train", help="train a planner by imitation of exact plans")
    _add_data_arguments(train)
    _add_model_arguments(train)
    group = train.add_argument_group("training")
    group.add_argument("--epochs", type=_integer(1), default=10)
    group.add_argument("--batch-size", type=_integer(1), default=32)
    group.add_argument("--lr", type=_positive_float, default=3e-3)
    group.add_argument("--highway", type=_integer(0), default=0, metavar="J",
                       help="adaptive highway loss every J layers (0: last layer only)")
    group.add_argument("--seed", type=_integer(0), default=0)
    group.add_argument("--device", type=_device, default=default_device)
    group.add_argument("--threads", type=_integer(1, os.cpu_count() or 1), default=None, help="torch CPU threads")
    group.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, run.json, plan.png)")
    group.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")

    evaluate = sub.add_parser("evaluate", help="%%Optimal / %%Success of a trained planner")
    evaluate.add_argument("checkpoint", type=Path)
    _add_data_arguments(evaluate, trained=True)
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                          help="plan with K layers (default: as trained)")
    evaluate.add_argument("--device", type=_device, default=default_device)

    plan = sub.add_parser("plan", help="plan one maze with a trained planner; print it and write a PNG")
    plan.add_argument("checkpoint", type=Path)
    _add_data_arguments(plan, trained=True)
    plan.add_argument("--split", default="test", choices=("train", "valid", "test"))
    plan.add_argument("--index", type=_integer(0), default=0, help="which maze of the split")
    plan.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                      help="plan with K layers (default: as trained)")
    plan.add_argument("--png", type=Path, default=None, help="where to write the picture")
    return parser


# ----------------------------------------------------------------------------- files
def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` if it is a file (so nothing can be created there)."""
    for part in path.parents:
        if part.exists():
            return None if part.is_dir() else part
    return None


def _check_folder(path: Path, option: str) -> None:
    """Refuse a folder argument that is a file, or lies under one."""
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path} is a file; expected a folder")
    blocker = _file_above(path)
    if blocker is not None:
        raise CLIError(f"{option} {path} lies under the file {blocker}, not a folder")


def _check_file_target(path: Path, option: str) -> None:
    """Refuse a file to be written that is a folder, or lies under a file."""
    if path.is_dir():
        raise CLIError(f"{option} {path} is a folder; expected a file name")
    blocker = _file_above(path)
    if blocker is not None:
        raise CLIError(f"{option} {path} lies under the file {blocker}, not a folder")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with atomic_write(path, "w") as file:
        json.dump(payload, file, indent=2)


def _read_run_file(path: Path) -> dict[str, Any] | None:
    """A run's ``run.json`` (``None`` if absent); a broken one is an error naming it."""
    if not path.exists():
        return None
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CLIError(f"{path} is broken ({' '.join(str(error).split())}); fix or delete it") from None
    if not isinstance(run, dict) or not isinstance(run.get("data"), dict) or "kernel_size" not in run:
        raise CLIError(f"{path} is broken: expected the 'data' and 'kernel_size' entries gvin train writes; "
                       "fix or delete it")
    return run


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(side: int, mazes: int, batch: int = 0, kernel_size: int = 3) -> None:
    """Refuse data or batches that cannot fit in memory, before allocating anything.

    A lower bound: 2 bytes a cell for stored mazes, 32 bytes an edge of a batch.
    """
    cells = side * side
    need = cells * (2 * mazes + batch * 32 * kernel_size**2)
    have = _memory_bytes()
    if have and need > have:
        steps = f" in batches of {batch} with a {kernel_size}x{kernel_size} stencil" if batch else ""
        options = "--counts, --size, --batch-size or --kernel-size" if batch else "--counts or --size"
        raise CLIError(
            f"{mazes} mazes of {side}x{side}{steps} need at least {need / 2**30:,.0f} GiB of memory, "
            f"more than this machine's {have / 2**30:,.0f} GiB; reduce {options}"
        )


# ----------------------------------------------------------------------------- data
GENERATED = ("kind", "size", "counts", "data_seed")
DATA_DEFAULTS: dict[str, Any] = {"kind": "gppn", "size": 11, "counts": [2000, 200, 500], "data_seed": 0,
                                 "connectivity": 4}
_SPEC_CHECKS: dict[str, Callable[[Any], bool]] = {
    "npz": lambda v: isinstance(v, str),
    "kind": lambda v: v in ("gppn", "gridworld"),
    "size": lambda v: isinstance(v, int) and v >= 3,
    "counts": lambda v: isinstance(v, list) and len(v) == 3 and all(isinstance(c, int) and c >= 0 for c in v),
    "data_seed": lambda v: isinstance(v, int) and v >= 0,
    "connectivity": lambda v: v in (4, 8),
    "kernel_size": lambda v: isinstance(v, int) and v >= 3 and v % 2 == 1,
}


def data_identity(spec: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide which mazes a spec means: the file, or the generator's settings."""
    if spec.get("npz"):
        return {"npz": spec["npz"], "connectivity": spec.get("connectivity")}
    return {key: spec.get(key) for key in (*GENERATED, "connectivity")}


def _checked_record(record: Any, source: Path) -> dict[str, Any]:
    """A data record (identity and ``kernel_size``) read from ``source``, validated."""
    if not isinstance(record, dict):
        raise CLIError(f"{source} holds a broken data record (a {type(record).__name__}, not a mapping)")
    keys = ("npz",) if record.get("npz") else GENERATED
    bad = [key for key in (*keys, "connectivity", "kernel_size")
           if key not in record or not _SPEC_CHECKS[key](record[key])]
    if bad:
        raise CLIError(f"{source} holds a broken data record (missing or bad: {', '.join(bad)}); fix or delete it")
    return record


def data_spec(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data settings: command line, else the run's saved ones, else defaults.

    A ``--npz`` file is not combined with generator settings (``CLIError``).
    """
    given = {key: getattr(args, key) for key in ("npz", *DATA_DEFAULTS) if getattr(args, key, None) is not None}
    if "npz" in given:
        given["npz"] = str(given["npz"].resolve())
    if "counts" in given:
        given["counts"] = list(given["counts"])
    generated = [f"--{key.replace('_', '-')}" for key in GENERATED if key in given]
    if "npz" in given and generated:
        raise CLIError(f"--npz reads its mazes from a file; it cannot be combined with {', '.join(generated)} "
                       "(settings of generated mazes)")
    base = dict(saved or DATA_DEFAULTS)
    if generated and base.get("npz"):  # from the run's file to generated mazes
        base = {**DATA_DEFAULTS, "connectivity": base.get("connectivity", 4)}
    spec = data_identity({**base, **given})
    if getattr(args, "root", None) is not None and "npz" in spec:
        raise CLIError(f"--root is the cache folder of generated mazes; the data here is the file {spec['npz']}")
    return spec


def data_root(args: argparse.Namespace, run: dict[str, Any] | None = None) -> Path:
    """Where generated mazes are cached: ``--root``, else the run's, else ``datasets/``."""
    if getattr(args, "root", None) is not None:
        return args.root.resolve()
    saved = (run or {}).get("data", {}).get("root")
    return Path(saved) if isinstance(saved, str) else Path("datasets").resolve()


def load_split(spec: dict[str, Any], root: Path, split: str, kernel_size: int):
    """One split of the data as a dataset of labelled planning graphs."""
    from gvin.datasets import GPPNDataset, MazeDataset

    if "npz" in spec:
        return GPPNDataset(spec["npz"], split=split, connectivity=spec["connectivity"], kernel_size=kernel_size)
    _check_folder(root, "--root")
    return MazeDataset(
        root=root, split=split, kind=spec["kind"], size=spec["size"], counts=tuple(spec["counts"]),
        seed=spec["data_seed"], connectivity=spec["connectivity"], kernel_size=kernel_size,
    )


def _load_evaluation_split(args: argparse.Namespace):
    """The checkpoint's planner and the split to plan on (the checkpoint's data unless overridden)."""
    from gvin.train.checkpoint import load_planner, training_config

    device = getattr(args, "device", "cpu")
    model, payload = load_planner(args.checkpoint, device)
    run_file = args.checkpoint.parent / RUN_FILE
    run = _read_run_file(run_file)
    record = training_config(payload, args.checkpoint).get("data")
    if record:
        record = _checked_record(record, args.checkpoint)
    elif run is not None:  # a checkpoint from before data records
        record = _checked_record({**data_identity(run["data"]), "kernel_size": run["kernel_size"]}, run_file)
    else:
        raise CLIError(f"{args.checkpoint} does not record its training data (an older gvin wrote it) and "
                       f"{run_file} is missing; put the run's {RUN_FILE} back next to it")
    spec = data_spec(args, data_identity(record))
    if "npz" not in spec:
        _check_memory(spec["size"], sum(spec["counts"]))
    dataset = load_split(spec, data_root(args, run), args.split, record["kernel_size"])
    if len(dataset) == 0:
        source = spec.get("npz") or f"the generated mazes (--counts {' '.join(map(str, spec['counts']))})"
        raise CLIError(f"the {args.split} split of {source} has no mazes")
    return model, dataset, device


# ----------------------------------------------------------------------------- commands
def model_kwargs(args: argparse.Namespace, spec: dict[str, Any], side: int) -> dict[str, Any]:
    """The planner's constructor arguments; its ``stencil`` is the one the graphs are built with."""
    kwargs: dict[str, Any] = {
        "stencil": grid_stencil(2, spec["connectivity"], args.kernel_size).tolist(),
        "num_iterations": args.depth if args.depth is not None else 3 * side,
        "actions": args.actions,
    }
    if args.hidden is not None:
        kwargs["hidden_channels"] = args.hidden
    if args.latent_actions is not None:
        kwargs["num_actions"] = args.latent_actions
    return kwargs


def _check_resume(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Refuse to resume ``out``'s checkpoint unless it was trained on ``record``'s data; returns its config."""
    from gvin.train.checkpoint import load_checkpoint, training_config

    checkpoint, run_file = out / CHECKPOINT, out / RUN_FILE
    config = training_config(load_checkpoint(checkpoint), checkpoint)
    saved, source = config.get("data"), checkpoint
    if not saved:  # a checkpoint from before data records: run.json must vouch for it
        run = _read_run_file(run_file)
        if run is None:
            raise CLIError(f"{checkpoint} does not record its training data (an older gvin wrote it) and "
                           f"{run_file} is missing, so it cannot be resumed safely; use --no-resume or another --out")
        saved, source = {**data_identity(run["data"]), "kernel_size": run["kernel_size"]}, run_file
    changed = [key for key in sorted(set(saved) | set(record)) if saved.get(key) != record.get(key)]
    if changed:
        details = ", ".join(f"{key}: saved {saved.get(key)!r} vs now {record.get(key)!r}" for key in changed)
        raise CLIError(f"{out} holds a run trained on other data ({details}; from {source}); "
                       "use another --out, or --no-resume to start afresh")
    return config


def _as_saved(kwargs: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """Resume a planner from before stencil records as it was built: ``num_edge_types``, not ``stencil``."""
    if "stencil" not in saved and saved.get("num_edge_types") == len(kwargs["stencil"]):
        kwargs = {key: value for key, value in kwargs.items() if key != "stencil"}
        kwargs["num_edge_types"] = saved["num_edge_types"]
    return kwargs


def _training_data(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """The data spec and cache root of ``gvin train``, checked before anything is loaded or written."""
    if args.latent_actions is not None and args.model == "gppn":
        raise CLIError("--latent-actions sets the latent actions of vin and dtvin; gppn has none")
    _check_folder(args.out, "--out")
    if (args.out / CHECKPOINT).is_dir():
        raise CLIError(f"{args.out / CHECKPOINT} is a folder; expected the run's checkpoint file")
    spec, root = data_spec(args), data_root(args)
    if "npz" not in spec:
        if spec["counts"][0] < 1 or spec["counts"][2] < 1:
            raise CLIError(f"--counts {' '.join(map(str, spec['counts']))}: training needs at least one "
                           "training maze and one test maze")
        batch = min(args.batch_size, spec["counts"][0])
        _check_memory(spec["size"], sum(spec["counts"]), batch, args.kernel_size)
    return spec, root


def _report(epochs: int) -> Callable[[dict[str, float]], None]:
    def report(record: dict[str, float]) -> None:
        line = f"epoch {int(record['epoch'])}/{epochs}  loss {record['loss']:.4f}"
        if "valid_optimal" in record:
            line += (f"  valid %Optimal {100 * record['valid_optimal']:.1f}"
                     f"  %Success {100 * record['valid_success']:.1f}")
        print(line, flush=True)

    return report


def cmd_train(args: argparse.Namespace) -> int:
    from gvin.train import TrainConfig, Trainer, evaluate

    spec, root = _training_data(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint, record = args.out / CHECKPOINT, {**spec, "kernel_size": args.kernel_size}
    resume = not args.no_resume and checkpoint.exists()
    saved = _check_resume(args.out, record) if resume else {}
    train_set = load_split(spec, root, "train", args.kernel_size)
    valid_set = load_split(spec, root, "valid", args.kernel_size)
    side = int(train_set[0].grid_shape.max())
    if "npz" in spec:
        _check_memory(side, 0, min(args.batch_size, len(train_set)), args.kernel_size)
    config = TrainConfig(
        model=args.model, model_kwargs=_as_saved(model_kwargs(args, spec, side), saved.get("model_kwargs", {})),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, highway_every=args.highway, seed=args.seed,
        device=args.device, data=record,
    )
    trainer = Trainer(config, checkpoint=checkpoint, resume=resume)
    saved_data = spec if "npz" in spec else {**spec, "root": str(root)}
    _write_json(args.out / RUN_FILE, {"data": saved_data, "kernel_size": args.kernel_size, "train": asdict(config)})
    if trainer.epoch:
        done = "; nothing to train" if trainer.epoch >= args.epochs else ""
        print(f"resuming {checkpoint} after epoch {trainer.epoch} (--epochs {args.epochs}){done}")
    print(f"{args.model}: {sum(p.numel() for p in trainer.model.parameters())} parameters, "
          f"K={config.model_kwargs['num_iterations']}, {len(train_set)} training graphs")
    trainer.fit(train_set, valid_set if len(valid_set) else None, on_epoch=_report(config.epochs))
    test_set = load_split(spec, root, "test", args.kernel_size)
    print(_format_metrics("test", evaluate(trainer.model, test_set, args.device), args.actions))
    png = _plot_example(trainer.model, test_set, 0, args.out / "plan.png")
    print(f"wrote {png}; the checkpoint {checkpoint} holds epoch {trainer.epoch}")
    return 0


def _format_metrics(split: str, metrics, actions: str) -> str:
    parts = "  ".join(f"{name} {value:.1f}" for name, value in metrics.as_percent().items())
    return f"{split} ({metrics.num_graphs} mazes, policy over {actions}): {parts}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gvin.train import evaluate

    model, dataset, device = _load_evaluation_split(args)
    metrics = evaluate(model, dataset, device, num_iterations=args.depth, progress=True)
    print(_format_metrics(args.split, metrics, model.actions))
    return 0


def _plot_example(model, dataset, index: int, png: Path, depth: int | None = None) -> Path:
    from gvin.graphs.grid import to_grid
    from gvin.rollout import plan_path
    from gvin.viz import plot_plan, render_ascii

    data = dataset[index]
    dist = data.dist
    start = int(torch.where(torch.isfinite(dist), dist, torch.tensor(-1.0)).argmax())  # the farthest cell
    result = plan_path(model, data, start, num_iterations=depth)
    cells = lambda nodes: [tuple(int(c) for c in data.pos[n].tolist()) for n in nodes]  # noqa: E731
    maze = to_grid(data, data.x[:, 0]).numpy()
    goal = cells([int(data.goal.nonzero()[0])])[0]
    values = to_grid(data, result.values).numpy()
    status = "reached the goal" if result.reached else "failed"
    layers = depth if depth is not None else model.num_iterations
    print(f"maze {index}, K={layers} layers: policy {status} in {len(result.planned) - 1} moves; "
          f"shortest path {len(result.optimal) - 1}")
    print(render_ascii(maze, goal=goal, path=cells(result.planned), start=cells([start])[0]))
    return plot_plan(maze, values, cells(result.planned), cells(result.optimal), goal, png,
                     title=f"maze {index}: planned {len(result.planned) - 1} moves ({status}), "
                           f"optimal {len(result.optimal) - 1}")


def _check_picture(path: Path) -> None:
    """Refuse a picture path that cannot be written, or in a format the plots do not have."""
    from gvin import viz

    _check_file_target(path, "--png")
    formats = getattr(viz, "_FORMATS", None)
    if formats and path.suffix and path.suffix.lstrip(".").lower() not in formats:
        raise CLIError(f"--png {path}: expected a picture file ending in one of {', '.join('.' + f for f in formats)}")


def cmd_plan(args: argparse.Namespace) -> int:
    png = args.png or args.checkpoint.parent / f"plan_{args.split}_{args.index}.png"
    _check_picture(png)
    model, dataset, _ = _load_evaluation_split(args)
    if args.index >= len(dataset):
        raise CLIError(f"--index {args.index} is out of range: the {args.split} split has {len(dataset)} mazes "
                       f"(0 to {len(dataset) - 1})")
    print(f"wrote {_plot_example(model, dataset, args.index, png, args.depth)}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from gvin.datasets import write_gppn_dataset

    _check_file_target(args.out, "the output file")
    _check_memory(args.size, 3 * sum(args.counts))  # as many bytes as mazes, goal maps and action maps
    path = write_gppn_dataset(args.out, size=args.size, counts=tuple(args.counts), seed=args.seed,
                              connectivity=args.connectivity, kind=args.kind)
    print(f"wrote {path} ({args.kind}, {args.size}x{args.size}, counts {tuple(args.counts)})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gvin.demo import run_demo

    _check_folder(args.out, "--out")
    return run_demo(args.out, args.epochs)


COMMANDS = {"demo": cmd_demo, "generate": cmd_generate, "train": cmd_train,
            "evaluate": cmd_evaluate, "plan": cmd_plan}


def _out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def main(argv: list[str] | None = None) -> int:
    """Run the ``gvin`` command; returns the exit status (argparse exits itself on usage errors)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, FloatingPointError, MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not _out_of_memory(error):
            raise  # gvin's own bug: keep the traceback
        if isinstance(error, OSError) and error.strerror and error.filename:
            message = f"{error.filename}: {error.strerror}"
        elif _out_of_memory(error):
            message = "out of memory: reduce --counts, --size, --batch-size, --hidden or --depth"
        elif isinstance(error, FloatingPointError):
            message = f"{error}; training diverged: try a lower --lr"
        else:
            message = str(error) or type(error).__name__
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
