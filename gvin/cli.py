"""The ``gvin`` command: generate, train, evaluate, plan, demo.

A training run writes into its ``--out`` folder: ``checkpoint.pt`` (every epoch,
atomically; ``train`` resumes from it), ``run.json`` (the data and model
settings, for people and older checkpoints), ``metrics.jsonl`` (one JSON line
per epoch, appended as it ends: ``epoch``, ``loss``, ``valid_*`` rates,
``seconds``; rewritten from the checkpoint's history on a resume, so no epoch
appears twice), ``learning_curve.png`` (drawn at the end) and ``plan.png``
(values and a planned path next to the optimal one). The checkpoint itself records the data
it was trained on and its stencil, so ``evaluate`` and ``plan`` need only it,
and a resume on other data is refused.

The implicit planners (``--model implicit_vin`` / ``implicit_dtvin`` / ``implicit_gppn``)
solve their recurrence as a fixed point: ``--depth`` is then the forward solver's
iteration limit, and the solver options (``--f-solver``, ``--f-tol``,
``--b-solver``, ...) fill ``model_kwargs["fixed_point"]``, a dict of plain
:class:`~gvin.nn.FixedPoint` fields saved in the checkpoint. ``evaluate`` and
``plan`` may give them a larger ``--depth`` than training used, and report how
the solves went.

A user error ends in one ``error: ...`` line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, NoReturn

import torch

from gvin.datasets.worlds import DEFAULT_WORLD, GENERATED, WORLDS, check_record, data_identity, get_world, world_of
from gvin.io import atomic_write
from gvin.maps import READERS
from gvin.models import DTVIN, MODELS, VIN
from gvin.models.implicit import IMPLICIT_GAMMA, ImplicitPlanner
from gvin.nn.implicit import BACKWARD_SOLVERS, ConvergenceError, ConvergenceWarning, FixedPoint
from gvin.nn.policy import HEAD_INPUTS
from gvin.nn.solvers import SOLVERS

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
TEST_FILE = "test.json"
CURVE_FILE = "learning_curve.png"

IMPLICIT = tuple(name for name, cls in MODELS.items() if issubclass(cls, ImplicitPlanner))
WITHOUT_DISCOUNT = tuple(name for name, cls in MODELS.items()  # the gated recurrences have no gamma
                         if "gamma" not in inspect.signature(cls).parameters)
IMPLICIT_MIN_DEPTH = 100  # the implicit models' default --depth: 10 × maze side, at least this
SOLVER_OPTIONS = ("f_solver", "f_tol", "b_solver", "b_max_iter", "b_tol", "f_stop_mode", "b_stop_mode",
                  "phantom_steps")
"""The FixedPoint fields set on the command line (``--f-solver`` ...); the others keep their defaults."""


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


def _at_least_one(text: str) -> float:
    """An argparse type: a finite number ``>= 1``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _discount(text: str) -> float:
    """An argparse type: a discount in ``[0, 1]`` (implicit models need ``< 1``: checked with --model)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
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
def _listed(items: list[str]) -> str:
    """``a, b or c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _world_help() -> str:
    return _listed([f"{name} ({world.help})" for name, world in WORLDS.items()])


def _connectivity_help() -> str:
    parts = [f"{_listed([str(c) for c in world.connectivity])} for {name} (default {world.settings['connectivity']})"
             for name, world in WORLDS.items() if world.connectivity]
    return "moves: " + "; ".join(parts)


def _only(setting: str) -> str:
    """``terrain only: `` for a setting one world has."""
    return _listed([name for name, world in WORLDS.items() if setting in world.settings]) + " only: "


def _add_data_arguments(parser: argparse.ArgumentParser, trained: bool = False) -> None:
    title = "a GPPN .npz file, or generated " + _listed([world.title for world in WORLDS.values()])
    if trained:
        title += "; the defaults are what the checkpoint was trained on"
    maze, terrain, roadmap = WORLDS["maze"].settings, WORLDS["terrain"].settings, WORLDS["roadmap"].settings
    group = parser.add_argument_group(f"data ({title})")
    group.add_argument("--world", choices=tuple(WORLDS), help=_world_help())
    group.add_argument("--npz", type=Path, help="a GPPN-format .npz maze file")
    group.add_argument("--kind", choices=("gppn", "gridworld"), help="generated maze kind (default gppn)")
    group.add_argument("--size", type=_integer(3),
                       help="; ".join(f"{name}: {world.size_help} (default {world.settings['size']})"
                                      for name, world in WORLDS.items()))
    group.add_argument("--counts", type=_integer(0), nargs=3, metavar=("TRAIN", "VALID", "TEST"),
                       help=f"generated counts (default {' '.join(map(str, maze['counts']))}"
                            + "".join(f"; {name}: {' '.join(map(str, world.settings['counts']))}"
                                      for name, world in WORLDS.items() if world.settings["counts"] != maze["counts"])
                            + ")")
    group.add_argument("--data-seed", type=_integer(0), help="seed of the generated data (default 0)")
    group.add_argument("--root", type=Path, help="cache folder of generated mazes (default datasets/)")
    group.add_argument("--connectivity", type=int,
                       choices=sorted({c for world in WORLDS.values() for c in world.connectivity}),
                       help=_connectivity_help())
    group.add_argument("--terrain-source", choices=("jacksboro", "random"),
                       help=f"{_only('terrain_source')}windows of the Jacksboro DEM or random maps "
                            f"(default {terrain['terrain_source']})")
    group.add_argument("--max-slope", type=_positive_float,
                       help=f"{_only('max_slope')}steepest move in degrees (default {terrain['max_slope']:g})")
    group.add_argument("--neighbours", type=_integer(1),
                       help=f"{_only('neighbours')}nearest samples each sample links to (default "
                            f"{roadmap['neighbours']})")
    group.add_argument("--goal-mode", choices=("angles", "point"),
                       help=f"{_only('goal_mode')}the goal is a joint configuration (angles, default) or an "
                            "end-effector point whose goal set is every free configuration that reaches it")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="dtvin", choices=tuple(MODELS),
                       help="planner (default dtvin); implicit_* solve value iteration as a fixed point")
    group.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                       help="layers K (default 3 × maze side); for implicit models the forward solver's "
                            f"iteration limit (default 10 × maze side, at least {IMPLICIT_MIN_DEPTH})")
    group.add_argument("--kernel-size", type=_kernel_size, default=None,
                       help="stencil F×F (odd, default 3; --world maze only)")
    group.add_argument("--hidden", type=_integer(1), default=None, help="hidden channels")
    group.add_argument("--latent-actions", type=_integer(1), default=None, help="latent actions A (VIN/DT-VIN)")
    group.add_argument("--actions", choices=("moves", "directions"), default="moves",
                       help="policy over real moves, or over every direction as GPPN (into walls fails)")
    group.add_argument("--no-edge-features", dest="edge_features", action="store_false",
                       help="terrain: the planner reads edge types alone, not each move's rise, slope, lengths "
                            "and whether it can be climbed (the default reads them)")
    group.add_argument("--head", choices=HEAD_INPUTS, default=None,
                       help="what the policy head reads (VIN/DT-VIN): centered Q - mean Q (default), advantage "
                            "Q - V, or raw Q (the published head, which drifts when planning deeper than trained)")
    group.add_argument("--successor-init", type=float, default=None, metavar="BETA",
                       help="initial weight of the policy head's successor-value term beta V[s'] (VIN/DT-VIN; "
                            "default 1; 0 is the earlier initialisation)")
    group.add_argument("--gamma", type=_discount, default=None,
                       help=f"discount of value iteration: [0, 1] for vin and dtvin (default 1), [0, 1) for "
                            f"implicit models (default {IMPLICIT_GAMMA})")


def _add_solver_arguments(parser: argparse.ArgumentParser) -> None:
    default = FixedPoint()
    group = parser.add_argument_group(
        "fixed-point solver (implicit models only; --depth is the forward iteration limit)")
    group.add_argument("--f-solver", choices=sorted(SOLVERS), default=None,
                       help=f"forward solver (default {default.f_solver})")
    group.add_argument("--f-tol", type=_positive_float, default=None,
                       help=f"forward tolerance (default {default.f_tol:g})")
    group.add_argument("--b-solver", choices=(*sorted(SOLVERS), *BACKWARD_SOLVERS), default=None,
                       help=f"backward (adjoint) solver, or the phantom gradient (default {default.b_solver})")
    group.add_argument("--b-max-iter", type=_integer(1, MAX_DEPTH), default=None,
                       help=f"backward iteration limit (default {default.b_max_iter})")
    group.add_argument("--b-tol", type=_positive_float, default=None,
                       help=f"backward tolerance (default {default.b_tol:g})")
    group.add_argument("--f-stop-mode", choices=("abs", "rel"), default=None,
                       help=f"forward residual compared with --f-tol: absolute or relative (default {default.f_stop_mode})")
    group.add_argument("--b-stop-mode", choices=("abs", "rel"), default=None,
                       help=f"backward residual compared with --b-tol (default {default.b_stop_mode})")
    group.add_argument("--phantom-steps", type=_integer(1, MAX_DEPTH), default=None,
                       help=f"steps of the phantom gradient (--b-solver phantom; default {default.phantom_steps})")


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
    generate.add_argument("--world", choices=tuple(WORLDS), default=DEFAULT_WORLD,
                          help=f"{DEFAULT_WORLD} only: the other worlds' data is made by train / evaluate / plan")

    train = sub.add_parser("train", help="train a planner by imitation of exact plans")
    _add_data_arguments(train)
    _add_model_arguments(train)
    _add_solver_arguments(train)
    group = train.add_argument_group("training")
    group.add_argument("--epochs", type=_integer(1), default=10)
    group.add_argument("--batch-size", type=_integer(1), default=32)
    group.add_argument("--lr", type=_positive_float, default=3e-3)
    group.add_argument("--optimizer", choices=("adam", "rmsprop"), default="adam",
                       help="rmsprop: eps 1e-6, as GPPN's code trains (with --lr 1e-3)")
    group.add_argument("--highway", type=_integer(0), default=0, metavar="J",
                       help="adaptive highway loss every J layers (0: last layer only)")
    group.add_argument("--depth-factor", type=_at_least_one, default=None, metavar="F",
                       help="train each batch at a depth drawn from [K, F x K]; teaches a policy that holds when "
                            "planning deeper or on larger maps (default for vin and dtvin: 3 on mazes, 3-D mazes and "
                            "C-spaces, 1 on terrain and roadmaps; 1 for the others; a resumed run keeps its own)")
    group.add_argument("--seed", type=_integer(0), default=0)
    group.add_argument("--device", type=_device, default=default_device)
    group.add_argument("--threads", type=_integer(1, os.cpu_count() or 1), default=None, help="torch CPU threads")
    group.add_argument("--out", type=Path, required=True, help="run folder (checkpoint.pt, run.json, metrics.jsonl, test.json, learning_curve.png, "
                            "plan.png)")
    group.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")

    evaluate = sub.add_parser("evaluate", help="%%Optimal / %%Success of a trained planner")
    evaluate.add_argument("checkpoint", type=Path)
    _add_data_arguments(evaluate, trained=True)
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                          help="plan with K layers, or K forward solver steps at most (default: as trained)")
    evaluate.add_argument("--device", type=_device, default=default_device)
    evaluate.add_argument("--json", action="store_true",
                          help="print the figures as one JSON object (fractions, the depth, the graphs scored)")

    plan = sub.add_parser("plan", help="plan one maze (of the data, or a map file of yours) with a trained "
                                        "planner; print it and write a PNG")
    plan.add_argument("checkpoint", type=Path)
    own = plan.add_argument_group("your own map (instead of the data's mazes)")
    own.add_argument("--map", type=Path, default=None, metavar="FILE",
                     help=f"a 2-D map file: {', '.join(READERS)} (.txt: '#' wall, '.' free, S start, "
                          "G goal; .npy: non-zero = free; .png: dark = wall)")
    own.add_argument("--start", type=_integer(0), nargs=2, default=None, metavar=("ROW", "COL"),
                     help="start cell (default: the map's S)")
    own.add_argument("--goal", type=_integer(0), nargs=2, default=None, metavar=("ROW", "COL"),
                     help="goal cell (default: the map's G)")
    _add_data_arguments(plan, trained=True)
    plan.add_argument("--split", default=None, choices=("train", "valid", "test"), help="default test")
    plan.add_argument("--index", type=_integer(0), default=None, help="which maze of the split (default 0)")
    plan.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                      help="plan with K layers, or K forward solver steps at most (default: as trained)")
    plan.add_argument("--png", type=Path, default=None,
                      help="where to write the picture (default: next to the checkpoint)")
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


def _check_memory(spec: dict[str, Any], items: int, batch: int = 0, kernel_size: int = 3) -> None:
    """Refuse data or batches that cannot fit in memory, before allocating anything.

    A lower bound: 2 bytes a node for stored items, 32 bytes an edge of a batch
    (the world's :meth:`~gvin.datasets.worlds.World.footprint` of ``spec["size"]``).
    """
    world = get_world(spec)
    nodes, edges = world.footprint(spec, kernel_size)
    need = 2 * nodes * items + batch * 32 * edges
    have = _memory_bytes()
    if have and need > have:
        steps = f" in batches of {batch}" if batch else ""
        if batch and world.grid:
            steps += f" with a {kernel_size}x{kernel_size} stencil"
        options = ["--counts", "--size", *(["--batch-size"] if batch else []),
                   *(["--kernel-size"] if batch and world.grid else []),
                   *(["--neighbours"] if batch and "neighbours" in world.settings else [])]
        raise CLIError(
            f"{items} {world.describe(spec)}{steps} need at least {need / 2**30:,.0f} GiB of memory, "
            f"more than this machine's {have / 2**30:,.0f} GiB; reduce {_listed(options)}"
        )


# ----------------------------------------------------------------------------- data
DATA_OPTIONS = tuple(dict.fromkeys(["npz", *(key for world in WORLDS.values() for key in world.settings)]))
"""The data settings set on the command line (``--npz``, ``--kind`` ...); each world takes some (its ``settings``)."""


def _checked_record(record: Any, source: Path) -> dict[str, Any]:
    """A data record (identity and ``kernel_size``) read from ``source``, validated."""
    try:
        return check_record(record, source)
    except ValueError as error:
        raise CLIError(str(error)) from None


def _check_world_options(world: str, given: dict[str, Any], args: argparse.Namespace) -> None:
    """Refuse data options that ``world`` has no use for."""
    about = WORLDS[world]
    applies = set(about.settings) | ({"npz"} if about.files else set())
    wrong = [_option(key) for key in DATA_OPTIONS if key in given and key not in applies]
    if not about.cached and getattr(args, "root", None) is not None:
        wrong.append("--root")
    if wrong:
        raise CLIError(f"{', '.join(wrong)}: not a setting of --world {world} (its data settings: "
                       f"{', '.join(_option(key) for key in about.settings)})")
    if "connectivity" in given and given["connectivity"] not in about.connectivity:
        raise CLIError(f"--connectivity {given['connectivity']}: --world {world} takes "
                       f"{' or '.join(map(str, about.connectivity))}")
    kernel_size = getattr(args, "kernel_size", None)
    if not about.kernel_sizes and kernel_size is not None and kernel_size != 3:
        how = "with the one-step stencil" if about.grid else "without a stencil (its planners read edge geometry)"
        raise CLIError(f"--kernel-size {kernel_size}: --world {world} builds its graphs {how} "
                       "(leave --kernel-size at its default)")
    if getattr(args, "actions", "moves") == "directions" and not about.grid:
        raise CLIError(f"--actions directions: --world {world} has no grid of move directions; "
                       "its policies choose among the moves (--actions moves)")


def data_spec(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data settings: command line, else the run's saved ones, else defaults.

    A ``--npz`` file is not combined with generator settings, and a world takes
    only its own settings (``CLIError``).
    """
    world = getattr(args, "world", None) or world_of(saved or {})
    given = {key: getattr(args, key) for key in DATA_OPTIONS if getattr(args, key, None) is not None}
    _check_world_options(world, given, args)
    if "npz" in given:
        given["npz"] = str(given["npz"].resolve())
    if "counts" in given:
        given["counts"] = list(given["counts"])
    defaults = WORLDS[world].default_settings()
    if world != DEFAULT_WORLD:
        base = dict(saved) if saved and world_of(saved) == world else defaults
        return data_identity({**base, **given, "world": world})
    generated = [_option(key) for key in GENERATED if key in given]
    if "npz" in given and generated:
        raise CLIError(f"--npz reads its mazes from a file; it cannot be combined with {', '.join(generated)} "
                       "(settings of generated mazes)")
    base = dict(saved) if saved and world_of(saved) == DEFAULT_WORLD else defaults
    if generated and base.get("npz"):  # from the run's file to generated mazes
        base = {**defaults, "connectivity": base.get("connectivity", defaults["connectivity"])}
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
    """One split of the data as a dataset of labelled planning graphs (the world's loader)."""
    world = get_world(spec)
    if world.cached and "npz" not in spec:
        _check_folder(root, "--root")
    return world.load(spec, root, split, kernel_size)


def _check_planner_fits(checkpoint: Path, saved: Any, world: Any, spec: dict[str, Any], trained: str) -> None:
    """Refuse, before any data is made, a world whose graphs the checkpoint's planner cannot read.

    Compares the kind of graph (``edge_dim``: edge geometry, or edge types) and the node
    features (``in_channels``); the planner itself checks the stencil.
    """
    if not isinstance(saved, dict):
        return
    wanted = world.planner_kwargs(spec)
    for key, default in (("edge_dim", None), ("in_channels", 2)):
        before, now = saved.get(key, default), wanted.get(key, default)
        if before != now:
            raise CLIError(f"--world {world.name}: {checkpoint} holds a planner of --world {trained} graphs "
                           f"({key}: saved {before!r} vs now {now!r}); plan with it on {trained} data")


def _plan_depth(model, depth: int | None) -> None:
    """Apply ``--depth`` to a loaded planner: an implicit model's forward limit (when its settings fix
    one); and say so when an older raw-Q head plans deeper than trained."""
    if depth is not None and isinstance(model, ImplicitPlanner) and model.fixed_point.f_max_iter is not None:
        model.fixed_point = replace(model.fixed_point, f_max_iter=depth)
    _note_raw_head(model, depth)


def _note_raw_head(model, depth: int | None) -> None:
    """Say so when an older checkpoint's raw-Q head plans deeper than it was trained (its choices drift)."""
    unrolled = isinstance(model, (VIN, DTVIN)) and not isinstance(model, ImplicitPlanner)
    if depth is None or not unrolled or depth <= model.num_iterations or model.head.shift_invariant:
        return
    print(f"note: this checkpoint's policy head reads raw Q (trained with --head raw, or saved before gvin's heads "
          f"read Q - V), so "
          f"planning at --depth {depth}, deeper than its trained {model.num_iterations} layers, may shift its "
          "choices; retrain with the default head to plan deeper safely", file=sys.stderr)


def _load_evaluation_split(args: argparse.Namespace):
    """The checkpoint's planner, the split to plan on (the checkpoint's data unless overridden), the device
    and the data's :class:`~gvin.datasets.worlds.World`."""
    from gvin.train.checkpoint import load_planner, training_config

    device = getattr(args, "device", "cpu")
    model, payload = load_planner(args.checkpoint, device)
    _plan_depth(model, args.depth)
    run_file = args.checkpoint.parent / RUN_FILE
    run = _read_run_file(run_file)
    config = training_config(payload, args.checkpoint)
    record = config.get("data")
    if record:
        record = _checked_record(record, args.checkpoint)
    elif run is not None:  # a checkpoint from before data records
        record = _checked_record({**data_identity(run["data"]), "kernel_size": run["kernel_size"]}, run_file)
    else:
        raise CLIError(f"{args.checkpoint} does not record its training data (an older gvin wrote it) and "
                       f"{run_file} is missing; put the run's {RUN_FILE} back next to it")
    spec = data_spec(args, data_identity(record))
    world = get_world(spec)
    _check_planner_fits(args.checkpoint, config.get("model_kwargs"), world, spec, world_of(record))
    if "npz" not in spec:
        _check_memory(spec, sum(spec["counts"]))
    dataset = load_split(spec, data_root(args, run), args.split, record["kernel_size"])
    if len(dataset) == 0:
        source = spec.get("npz") or f"the generated {world.noun}s (--counts {' '.join(map(str, spec['counts']))})"
        raise CLIError(f"the {args.split} split of {source} has no {world.noun}s")
    return model, dataset, device, world


# ----------------------------------------------------------------------------- commands
def training_depth_factor(args: argparse.Namespace, spec: dict[str, Any], saved: dict[str, Any], resume: bool) -> float:
    """``--depth-factor`` if given; a resumed run's own (``1`` for runs saved before it existed); else
    the world's :attr:`~gvin.datasets.worlds.World.depth_factor` for the unrolled value-iteration
    planners and ``1`` for the others."""
    if args.depth_factor is not None:
        return args.depth_factor
    if resume:
        return float(saved.get("depth_factor", 1.0))
    return get_world(spec).depth_factor if args.model in ("vin", "dtvin") else 1.0


def default_depth(model: str, side: int) -> int:
    """``--depth`` when not given: 3 × side layers, or 10 × side (at least 100) forward solver steps."""
    return max(IMPLICIT_MIN_DEPTH, 10 * side) if model in IMPLICIT else 3 * side


def fixed_point_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``model_kwargs["fixed_point"]``: every :class:`~gvin.nn.FixedPoint` field as a plain value.

    The options not given keep FixedPoint's defaults; ``f_max_iter`` stays ``None``
    so that the model's ``num_iterations`` (``--depth``) is the forward limit and
    ``evaluate --depth`` / ``plan --depth`` can raise it.
    """
    given = {name: getattr(args, name) for name in SOLVER_OPTIONS if getattr(args, name, None) is not None}
    return asdict(FixedPoint(**given))


def model_kwargs(args: argparse.Namespace, spec: dict[str, Any], side: int) -> dict[str, Any]:
    """The planner's constructor arguments: its ``stencil`` is the one the graphs are built with (or its
    ``edge_dim`` the width of their ``edge_attr``), its ``in_channels`` their node features."""
    world = get_world(spec)
    if not getattr(args, "edge_features", True) and world.edge_features is None:
        raise CLIError(f"--no-edge-features: the planners of --world {world.name} read no edge features (only "
                       "terrain's do)")
    kwargs: dict[str, Any] = {
        **world.planner_kwargs(spec, args.kernel_size or 3, getattr(args, "edge_features", True)),
        "num_iterations": args.depth if args.depth is not None else default_depth(args.model, side),
        "actions": args.actions,
    }
    if args.hidden is not None:
        kwargs["hidden_channels"] = args.hidden
    if args.latent_actions is not None:
        kwargs["num_actions"] = args.latent_actions
    if args.head is not None:
        kwargs["head"] = args.head
    if args.successor_init is not None:
        kwargs["successor_init"] = args.successor_init
    if args.gamma is not None:
        kwargs["gamma"] = args.gamma
    if args.model in IMPLICIT:
        if args.model not in WITHOUT_DISCOUNT:
            kwargs.setdefault("gamma", IMPLICIT_GAMMA)
        kwargs["fixed_point"] = fixed_point_settings(args)
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


TRAIN_OPTIONS = {"model": "--model", "batch_size": "--batch-size", "lr": "--lr", "highway_every": "--highway",
                 "seed": "--seed", "optimizer": "--optimizer", "depth_factor": "--depth-factor"}
KWARG_OPTIONS = {"num_iterations": "--depth", "hidden_channels": "--hidden", "num_actions": "--latent-actions",
                 "head": "--head", "successor_init": "--successor-init", "edge_features": "--no-edge-features",
                 "actions": "--actions", "gamma": "--gamma", "stencil": "--kernel-size or --connectivity",
                 "num_edge_types": "--kernel-size or --connectivity", "edge_dim": "--world",
                 "in_channels": "--world"}
_UNSET = object()


def _shown(value: Any) -> str:
    text = "not set" if value is _UNSET else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _changes(saved: dict[str, Any], now: dict[str, Any], name: Callable[[str], str]) -> list[str]:
    return [f"{name(key)}: saved {_shown(saved.get(key, _UNSET))} vs now {_shown(now.get(key, _UNSET))}"
            for key in sorted(set(saved) | set(now), key=str) if saved.get(key, _UNSET) != now.get(key, _UNSET)]


def _run_changes(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What a resume would change in a run, named by the options that set it (empty: it may resume)."""
    from gvin.train.trainer import config_differences

    differ = config_differences(saved, config)
    if "model" in differ:  # another planner: its settings differ as a matter of course
        differ = ["model"]
    details: list[str] = []
    for key in differ:
        old = saved.get(key, _UNSET)
        if key == "model_kwargs" and isinstance(old, dict):
            old_fp, new_fp = old.get("fixed_point"), config[key].get("fixed_point")
            if isinstance(old_fp, dict) and isinstance(new_fp, dict):
                solver = lambda f: _option(f) if f in SOLVER_OPTIONS else f"fixed_point.{f}"  # noqa: E731
                details += _changes(old_fp, new_fp, solver)
                old, new = {k: v for k, v in old.items() if k != "fixed_point"}, dict(config[key])
                new.pop("fixed_point")
            else:
                new = config[key]
            details += _changes(old, new, lambda k: KWARG_OPTIONS.get(k, f"model_kwargs.{k}"))
        else:
            details += _changes({key: old} if old is not _UNSET else {}, {key: config[key]},
                                lambda k: TRAIN_OPTIONS.get(k, k))
    return details


def _as_saved(kwargs: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """Resume a planner from before stencil records as it was built: ``num_edge_types``, not ``stencil``."""
    if "stencil" in kwargs and "stencil" not in saved and saved.get("num_edge_types") == len(kwargs["stencil"]):
        kwargs = {key: value for key, value in kwargs.items() if key != "stencil"}
        kwargs["num_edge_types"] = saved["num_edge_types"]
    return kwargs


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_model_options(args: argparse.Namespace) -> None:
    """Refuse options that the chosen ``--model`` has no use for, or values it cannot take."""
    if args.latent_actions is not None and args.model in WITHOUT_DISCOUNT:
        raise CLIError(f"--latent-actions sets the latent actions of vin and dtvin; {args.model} has none")
    if args.head is not None and args.model in WITHOUT_DISCOUNT:
        raise CLIError(f"--head sets what the policy head of vin and dtvin reads from Q; {args.model}'s head "
                       "reads its hidden state")
    if args.successor_init is not None and args.model in WITHOUT_DISCOUNT:
        raise CLIError(f"--successor-init sets the policy head's successor-value weight of vin and dtvin; "
                       f"{args.model}'s head has none")
    if args.successor_init is not None and not math.isfinite(args.successor_init):
        raise CLIError(f"--successor-init must be a finite number, got {args.successor_init}")
    if args.gamma is not None and args.model in WITHOUT_DISCOUNT:
        raise CLIError(f"--gamma is the discount of value iteration (vin, dtvin and their implicit variants); "
                       f"{args.model} has none")
    given = [_option(name) for name in SOLVER_OPTIONS if getattr(args, name) is not None]
    if args.model not in IMPLICIT:
        if given:
            raise CLIError(f"{', '.join(given)}: fixed-point solver options of the implicit models "
                           f"({', '.join(IMPLICIT)}); --model {args.model} unrolls --depth layers instead")
        return
    if args.gamma is not None and not args.gamma < 1:
        raise CLIError(f"--gamma {args.gamma:g}: --model {args.model} needs a discount in [0, 1) so that "
                       "its Bellman operator contracts and the fixed point exists")
    if args.highway:
        raise CLIError(f"--highway trains on intermediate layers; --model {args.model} solves a fixed point "
                       "and has none (use --highway 0)")
    phantom = args.b_solver == "phantom"
    if phantom and (args.b_max_iter is not None or args.b_tol is not None):
        which = ", ".join(option for option, value in (("--b-max-iter", args.b_max_iter), ("--b-tol", args.b_tol))
                          if value is not None)
        raise CLIError(f"{which}: settings of a backward solver; --b-solver phantom takes --phantom-steps instead")
    if args.phantom_steps is not None and not phantom:
        raise CLIError(f"--phantom-steps sets the phantom gradient; it needs --b-solver phantom "
                       f"(the backward solver is {args.b_solver or FixedPoint().b_solver})")


def _training_data(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """The data spec and cache root of ``gvin train``, checked before anything is loaded or written."""
    _check_model_options(args)
    _check_folder(args.out, "--out")
    if (args.out / CHECKPOINT).is_dir():
        raise CLIError(f"{args.out / CHECKPOINT} is a folder; expected the run's checkpoint file")
    spec, root = data_spec(args), data_root(args)
    args.kernel_size = args.kernel_size or 3
    if "npz" not in spec:
        if spec["counts"][0] < 1 or spec["counts"][2] < 1:
            raise CLIError(f"--counts {' '.join(map(str, spec['counts']))}: training needs at least one "
                           "training maze and one test maze")
        _check_memory(spec, sum(spec["counts"]), min(args.batch_size, spec["counts"][0]), args.kernel_size)
    return spec, root


class _Solves:
    """The fixed-point solves of an implicit planner's calls, gathered by a forward hook for summary lines.

    Nothing is gathered for an unrolled planner (its summary is empty).
    """

    def __init__(self, model: torch.nn.Module):
        self.infos: list[Any] = []
        self.implicit = isinstance(model, ImplicitPlanner)
        self._handle = model.register_forward_hook(self._keep) if self.implicit else None

    def _keep(self, module, inputs, output) -> None:
        if getattr(output, "info", None) is not None:
            self.infos.append(output.info)

    def __enter__(self) -> "_Solves":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()

    def summary(self) -> str:
        """How the solves since the last summary went, e.g. ``forward anderson: 4 solves, up to 31 steps,
        all converged; backward ...`` (``""`` if none); forgets them."""
        infos, self.infos = self.infos, []
        parts = []
        for direction in ("forward", "backward"):
            solves = [getattr(info, direction) for info in infos if getattr(info, direction) is not None]
            if not solves:
                continue
            missed = sum(not s.converged for s in solves)
            diverged = sum(s.diverged for s in solves)
            state = "all converged" if not missed else f"{missed} missed the tolerance"
            if diverged:
                state += f" ({diverged} diverged)"
            solvers = "/".join(sorted({s.solver for s in solves}))
            steps = max(s.steps for s in solves)
            parts.append(f"{direction} {solvers}: {len(solves)} solve{'s' * (len(solves) != 1)}, "
                         f"up to {steps} step{'s' * (steps != 1)}, {state}")
        return "; ".join(parts)


def _solve_line(info: Any) -> str:
    """One forward solve in words: its solver, steps, and whether it converged."""
    residual = info.best_residual
    steps = f"{info.steps} step{'s' * (info.steps != 1)}"
    if info.converged:
        return f"forward {info.solver} solve converged after {steps} ({info.stop_mode} residual {residual:.2g})"
    how = "diverged" if info.diverged else "did not converge"
    return (f"forward {info.solver} solve {how} in {steps} ({info.stop_mode} residual {residual:.2g} "
            f"> tol {info.tol:g}; its best iterate was used)")


def _start_metrics(path: Path, history: list[dict[str, float]]) -> None:
    """Rewrite the run's metrics file to hold one line per epoch of ``history`` (the checkpoint's).

    Lines the file already holds for those epochs are kept (they may carry an epoch's ``seconds``);
    lines of later epochs, which the checkpoint does not hold, and unreadable lines are dropped, so
    a resume or a ``--no-resume`` never duplicates an epoch.
    """
    kept: dict[int, str] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                epoch = json.loads(line).get("epoch")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(epoch, (int, float)):
                kept[int(epoch)] = line
    lines = [kept.get(int(record["epoch"]), json.dumps(record)) for record in history]
    with atomic_write(path, "w") as file:
        file.write("".join(line + "\n" for line in lines))


def _report(epochs: int, solves: _Solves | None = None,
            metrics: Path | None = None) -> Callable[[dict[str, float]], None]:
    started = time.perf_counter()

    def report(record: dict[str, float]) -> None:
        nonlocal started
        if metrics is not None:  # appended as each epoch ends, after its checkpoint
            now = time.perf_counter()
            with open(metrics, "a") as file:
                file.write(json.dumps({**record, "seconds": round(now - started, 3)}) + "\n")
            started = now
        line = f"epoch {int(record['epoch'])}/{epochs}  loss {record['loss']:.4f}"
        if "valid_optimal" in record:
            line += (f"  valid %Optimal {100 * record['valid_optimal']:.1f}"
                     f"  %Success {100 * record['valid_success']:.1f}")
        if "valid_near_optimal" in record:
            line += f"  %Optimal(1%) {100 * record['valid_near_optimal']:.1f}"
        if "valid_cost_ratio" in record:
            line += f"  cost ratio {record['valid_cost_ratio']:.3f}"
        summary = solves.summary() if solves is not None else ""
        if summary:
            line += f"  ({summary})"
        print(line, flush=True)

    return report


def cmd_train(args: argparse.Namespace) -> int:
    """``gvin train``; under ``torchrun`` each process is one rank of a distributed run (rank 0 writes
    the run's files and prints)."""
    from gvin.train import distributed

    spec, root = _training_data(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    distributed.init_from_env(args.device)
    try:
        return _train(args, spec, root)
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, spec: dict[str, Any], root: Path) -> int:
    from gvin.train import TrainConfig, Trainer, distributed, evaluate

    main = distributed.is_main()
    checkpoint, record = args.out / CHECKPOINT, {**spec, "kernel_size": args.kernel_size}
    resume = not args.no_resume and checkpoint.exists()
    saved = _check_resume(args.out, record) if resume else {}
    with distributed.main_first():  # rank 0 generates and caches the data, the others read it
        train_set = load_split(spec, root, "train", args.kernel_size)
        valid_set = load_split(spec, root, "valid", args.kernel_size)
    world = get_world(spec)
    side = world.side(train_set[0])
    if "npz" in spec:
        _check_memory({"size": side}, 0, min(args.batch_size, len(train_set)), args.kernel_size)
    config = TrainConfig(
        model=args.model, model_kwargs=_as_saved(model_kwargs(args, spec, side), saved.get("model_kwargs", {})),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, highway_every=args.highway, seed=args.seed,
        depth_factor=training_depth_factor(args, spec, saved, resume),
        device=args.device, data=record, optimizer=args.optimizer,
    )
    changes = _run_changes(saved, asdict(config)) if resume else []
    if changes:  # the trainer would refuse too; name the options
        raise CLIError(f"{checkpoint} belongs to a different run ({'; '.join(changes)}): a run resumes only with the "
                       "settings it was started with (--epochs and --device may change; solver settings are part "
                       "of the run); give its options again, or use another --out, or --no-resume to start afresh")
    trainer = Trainer(config, checkpoint=checkpoint, resume=resume)
    if main:
        saved_data = {**spec, "root": str(root)} if world.cached and "npz" not in spec else spec
        _write_json(args.out / RUN_FILE, {"data": saved_data, "kernel_size": args.kernel_size, "train": asdict(config)})
        _start_metrics(args.out / METRICS_FILE, trainer.history)
        _print_start(args, trainer, len(train_set))
    with _Solves(trainer.model) as solves:
        report = _report(config.epochs, solves, args.out / METRICS_FILE)
        trainer.fit(train_set, valid_set if len(valid_set) else None, on_epoch=report)
        if not main:
            return 0
        curve = _plot_learning_curve(trainer.history, args.out / CURVE_FILE)
        print(f"wrote {args.out / METRICS_FILE} and {curve}")
        test_set = load_split(spec, root, "test", args.kernel_size)
        metrics = evaluate(trainer.model, test_set, trainer.device)
        print(_format_metrics("test", metrics, args.actions, solves, world.noun))
        _write_json(args.out / TEST_FILE, evaluation_record(metrics, "test", trainer.model, trainer.epoch))
    png = _plot_example(trainer.model, test_set, 0, args.out / "plan.png", noun=world.noun)
    print(f"wrote {png}; " if png else "", end="")
    print(f"the checkpoint {checkpoint} holds epoch {trainer.epoch}")
    return 0


def _plot_learning_curve(history: list[dict[str, float]], path: Path) -> Path:
    """The run's loss and validation rates per epoch, drawn without pyplot (no backend is chosen)."""
    from matplotlib.figure import Figure

    from gvin.viz import _atomic_savefig, plot_learning_curve

    figure = Figure(figsize=(6.0, 3.5))
    plot_learning_curve(history, ax=figure.subplots())
    return _atomic_savefig(figure, path)


def _print_start(args: argparse.Namespace, trainer: Any, num_train: int) -> None:
    """The lines before the first epoch: a resume, the model, its depth, the processes."""
    config = trainer.config
    if trainer.epoch:
        done = "; nothing to train" if trainer.epoch >= args.epochs else ""
        print(f"resuming {args.out / CHECKPOINT} after epoch {trainer.epoch} (--epochs {args.epochs}){done}")
    depth = f"K={config.model_kwargs['num_iterations']}"
    fixed_point = config.model_kwargs.get("fixed_point")
    if isinstance(fixed_point, dict):
        depth += (f" forward solver steps at most ({fixed_point['f_solver']}, {fixed_point['f_stop_mode']} tol "
                  f"{fixed_point['f_tol']:g}; backward {fixed_point['b_solver']}"
                  + (f"; gamma {config.model_kwargs['gamma']:g})" if "gamma" in config.model_kwargs else ")"))
    processes = f", {trainer.world_size} processes" if trainer.world_size > 1 else ""
    print(f"{args.model}: {sum(p.numel() for p in trainer.model.parameters())} parameters, "
          f"{depth}, {num_train} training graphs{processes}")


def _format_metrics(split: str, metrics, actions: str, solves: _Solves | None = None, noun: str = "maze") -> str:
    parts = "  ".join(f"{name} {value:.3f}" if name == "cost ratio" else f"{name} {value:.1f}"
                      for name, value in metrics.as_percent().items())
    summary = solves.summary() if solves is not None else ""
    line = f"{split} ({metrics.num_graphs} {noun}s, policy over {actions}): {parts}"
    return line + (f"  ({summary})" if summary else "")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gvin.train import evaluate

    model, dataset, device, world = _load_evaluation_split(args)
    with _Solves(model) as solves:
        metrics = evaluate(model, dataset, device, num_iterations=args.depth, progress=not args.json)
        if args.json:
            print(json.dumps(evaluation_record(metrics, args.split, model, depth=args.depth)))
        else:
            print(_format_metrics(args.split, metrics, model.actions, solves, world.noun))
    return 0


def evaluation_record(metrics, split: str, model, epoch: int | None = None, depth: int | None = None) -> dict[str, Any]:
    """What ``test.json`` and ``gvin evaluate --json`` hold: the split, the depth planned with, the
    graphs scored and every figure as a fraction (the cost ratio as a ratio)."""
    record: dict[str, Any] = {"split": split, "depth": depth if depth is not None else model.num_iterations,
                              "num_graphs": metrics.num_graphs, **metrics.as_record()}
    if epoch is not None:
        record["epoch"] = epoch
    return record


def _plot_example(model, dataset, index: int, png: Path, depth: int | None = None, noun: str = "maze") -> Path | None:
    """Plan from the farthest cell of one item and print how it went; draw it for 2-D grids (else ``None``)."""
    from gvin.graphs.grid import to_grid
    from gvin.rollout import plan_path
    from gvin.viz import plot_plan, render_ascii

    data = dataset[index]
    dist = data.dist
    start = int(torch.where(torch.isfinite(dist), dist, torch.tensor(-1.0)).argmax())  # the farthest cell
    with _Solves(model) as solves:
        result = plan_path(model, data, start, num_iterations=depth)
    cells = lambda nodes: [tuple(int(c) for c in data.pos[n].tolist()) for n in nodes]  # noqa: E731
    status = "reached the goal" if result.reached else "failed"
    if solves.implicit:
        limit = depth if depth is not None else (model.fixed_point.f_max_iter or model.num_iterations)
        layers, solved = f"K={limit} solver steps at most", [info.forward for info in solves.infos if info.forward]
    else:
        layers, solved = f"K={depth if depth is not None else model.num_iterations} layers", []
    print(f"{noun} {index}, {layers}: policy {status} in {len(result.planned) - 1} moves; "
          f"shortest path {len(result.optimal) - 1}" + "".join(f"; {_solve_line(info)}" for info in solved))
    if getattr(data, "grid_shape", None) is None:
        print(f"no picture: the planned path is on a graph without a grid ({data.num_nodes} nodes); "
              "pictures are drawn for 2-D grids only")
        return None
    if len(tuple(data.grid_shape.view(-1).tolist())) != 2:
        print(f"no picture: the planned path is on a {'x'.join(map(str, data.grid_shape.view(-1).tolist()))} "
              "3-D grid; pictures are drawn for 2-D grids only")
        return None
    maze = to_grid(data, data.x[:, 0]).numpy()
    goal = cells([int(data.goal.nonzero()[0])])[0]
    values = to_grid(data, result.values).numpy()
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
    if args.map is not None:
        return _plan_on_map_file(args)
    given = [option for option, value in (("--start", args.start), ("--goal", args.goal)) if value is not None]
    if given:
        raise CLIError(f"{' and '.join(given)}: cells of your own map; give the map with --map FILE "
                       "(without --map, plan plans the data's --index maze from its farthest cell)")
    args.split, args.index = args.split or "test", args.index or 0
    png = args.png or args.checkpoint.parent / f"plan_{args.split}_{args.index}.png"
    _check_picture(png)
    model, dataset, _, world = _load_evaluation_split(args)
    if args.index >= len(dataset):
        raise CLIError(f"--index {args.index} is out of range: the {args.split} split has {len(dataset)} "
                       f"{world.noun}s (0 to {len(dataset) - 1})")
    written = _plot_example(model, dataset, args.index, png, args.depth, world.noun)
    if written is not None:
        print(f"wrote {written}")
    return 0


def _map_cell(cell: list[int] | None, grid: Any, name: str, path: Path) -> tuple[int, int]:
    """``--start`` / ``--goal``, else the cell the map marks; a cell off the map or on a wall is an error."""
    from gvin.maps import free_cell

    mark = "S" if name == "start" else "G"
    if cell is None:
        marked = getattr(grid, name)
        if marked is None:
            raise CLIError(f"--map {path}: the map marks no {name} cell ({mark}); give --{name} ROW COL "
                           f"(or draw {mark} on a free cell of a .txt map)")
        return marked
    try:
        return free_cell(tuple(cell), grid.free, f"--{name}")
    except ValueError as error:
        raise CLIError(f"{error} (the map {path} is {grid.free.shape[0]}x{grid.free.shape[1]}, rows and "
                       "columns counted from 0)") from None


def _plan_on_map_file(args: argparse.Namespace) -> int:
    """``gvin plan CHECKPOINT --map FILE``: the planner on a 2-D map of the user's, printed and drawn."""
    from gvin.maps import read_map
    from gvin.rollout import grid_settings, load_planner, plan_on_map
    from gvin.viz import plot_plan, render_ascii

    data_options = [_option(key) for key in DATA_OPTIONS if getattr(args, key, None) is not None]
    data_options += [option for option, value in (("--root", args.root), ("--split", args.split),
                                                  ("--index", args.index)) if value is not None]
    if data_options:
        raise CLIError(f"{', '.join(data_options)}: choose a maze of the data; --map {args.map} plans on your own "
                       "map instead (give one or the other)")
    if args.map.is_dir():
        raise CLIError(f"--map {args.map} is a folder; expected a map file")
    suffix = args.map.suffix.lower()
    if suffix not in READERS:
        raise CLIError(f"--map {args.map}: expected a map file ending in {_listed(list(READERS))} "
                       + (f"(got {suffix!r})" if suffix else "(it has no extension)"))
    if not args.map.is_file():
        raise CLIError(f"--map {args.map}: no such file")
    png = args.png or args.checkpoint.parent / f"plan_{args.map.stem}.png"
    _check_picture(png)
    planner = load_planner(args.checkpoint)
    model = planner.model
    try:
        grid_settings(model, record=planner.data)
    except ValueError as error:
        raise CLIError(f"{args.checkpoint} cannot plan on a map file: {error}") from None
    _plan_depth(model, args.depth)
    grid = read_map(args.map)
    start, goal = _map_cell(args.start, grid, "start", args.map), _map_cell(args.goal, grid, "goal", args.map)
    with _Solves(model) as solves:
        result = plan_on_map(planner, grid.free, start, goal, depth=args.depth)
    height, width = grid.free.shape
    depth = args.depth if args.depth is not None else model.num_iterations
    if solves.implicit:
        limit = args.depth if args.depth is not None else (model.fixed_point.f_max_iter or model.num_iterations)
        layers = f"K={limit} solver steps at most"
    else:
        layers = f"K={depth} layers"
    status = "reached the goal" if result.reached else "failed"
    shortest = (f"shortest path {result.optimal_length:g}" if result.optimal
                else "the goal cannot be reached from the start (no path)")
    solved = "".join(f"; {_solve_line(info.forward)}" for info in solves.infos if info.forward)
    if not result.reached and not solves.implicit and result.optimal and result.optimal_length > depth:
        solved += f" (longer than the {depth} layers planned: try --depth {3 * int(result.optimal_length)})"
    print(render_ascii(grid.free, goal=goal, path=result.planned, start=start))
    print(f"map {args.map} ({height}x{width}), {planner.name} {layers}: from {start} to {goal}, policy {status} in "
          f"{result.planned_length} moves; {shortest}{solved}")
    print("planned: " + " ".join(f"{row},{col}" for row, col in result.planned))
    title = (f"{args.map.name}: planned {result.planned_length} moves ({status}), "
             + (f"optimal {result.optimal_length:g}" if result.optimal else "no path"))
    print(f"wrote {plot_plan(grid.free, result.values, result.planned, result.optimal, goal, png, title=title)}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from gvin.datasets import write_gppn_dataset

    if args.world != DEFAULT_WORLD:
        raise CLIError(f"--world {args.world}: gvin generate writes GPPN .npz files of 2-D mazes; {args.world} "
                       f"data is generated by gvin train / evaluate / plan --world {args.world} itself")
    _check_file_target(args.out, "the output file")
    _check_memory({"size": args.size}, 3 * sum(args.counts))  # as many bytes as mazes, goal maps and action maps
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
        with warnings.catch_warnings():  # the commands summarise how the fixed-point solves went instead
            warnings.simplefilter("ignore", ConvergenceWarning)
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, FloatingPointError, MemoryError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not _out_of_memory(error) and not isinstance(error, ConvergenceError):
            raise  # gvin's own bug: keep the traceback
        if isinstance(error, OSError) and error.strerror and error.filename:
            message = f"{error.filename}: {error.strerror}"
        elif _out_of_memory(error):
            message = "out of memory: reduce --counts, --size, --batch-size, --hidden or --depth"
        elif isinstance(error, FloatingPointError):
            message = f"{error}; training diverged: try a lower --lr"
        elif isinstance(error, ConvergenceError):  # a checkpoint whose fixed_point settings say strict=True
            message = f"{error}; try a larger --depth"
        else:
            message = str(error) or type(error).__name__
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
