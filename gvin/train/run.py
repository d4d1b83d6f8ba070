"""Runs from Python: train, resume and evaluate a run folder as the ``gvin`` command does.

The command is a thin layer over these functions: the same checks before anything is
loaded or written, the same files in the run folder (:mod:`gvin.train.run_files`), the same
lines of progress (through ``log``, :func:`print` by default), and the results as data.

Example::

    from gvin.train.run import evaluate_run, train_run

    run = train_run("runs/m15", npz="../shared/data/m15_4abs-cc_10k.npz", actions="directions", epochs=10)
    run.test["optimal"]                                  # the test split's %Optimal, as a fraction
    deeper = evaluate_run("runs/m15/checkpoint.pt", depth=360, log=None)
    deeper.record                                        # what ``gvin evaluate --json`` prints

Every setting is a :class:`TrainSettings` field, named as the ``gvin train`` option that sets it
(``batch_size`` is ``--batch-size``); errors (:class:`~gvin.train.run_files.RunError`, a
``ValueError``) name them that way.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gvin.datasets.worlds import data_identity, get_world, world_of
from gvin.models import DTVIN, MODELS, VIN
from gvin.models.implicit import IMPLICIT_GAMMA, ImplicitPlanner
from gvin.nn.implicit import FixedPoint
from gvin.train import distributed
from gvin.train.checkpoint import load_checkpoint, load_model, training_config
from gvin.train.run_data import check_memory, check_planner_fits, checked_record, data_root, data_spec, load_split
from gvin.train.run_files import (
    CHECKPOINT, CURVE_FILE, METRICS_FILE, PLAN_FILE, RUN_FILE, TEST_FILE, Log, MetricsLog, RunError, check_folder,
    emit, epoch_line, option, read_run_file, write_json,
)
from gvin.train.run_lock import LOCK_FILE, RunLock
from gvin.train.run_pictures import plan_example, plot_learning_curve_file
from gvin.train.solves import SolveLog
from gvin.train.trainer import TrainConfig, Trainer, config_differences, evaluate


IMPLICIT = tuple(name for name, cls in MODELS.items() if issubclass(cls, ImplicitPlanner))
WITHOUT_DISCOUNT = tuple(name for name, cls in MODELS.items()  # the gated recurrences have no gamma
                         if "gamma" not in inspect.signature(cls).parameters)
IMPLICIT_MIN_DEPTH = 100  # the implicit models' default depth: 10 × maze side, at least this
SOLVER_OPTIONS = ("f_solver", "f_tol", "b_solver", "b_max_iter", "b_tol", "f_stop_mode", "b_stop_mode",
                  "phantom_steps")
"""The FixedPoint fields a run sets (``--f-solver`` ...); the others keep their defaults."""


@dataclass
class DataSettings:
    """What a run plans on (``None``: the world's default, or what the run was trained on)."""

    world: str | None = None
    npz: Path | str | None = None
    kind: str | None = None
    size: int | None = None
    counts: tuple[int, int, int] | list[int] | None = None
    data_seed: int | None = None
    root: Path | str | None = None
    connectivity: int | None = None
    terrain_source: str | None = None
    max_slope: float | None = None
    neighbours: int | None = None
    goal_mode: str | None = None
    self_loops: bool | None = None
    city: str | None = None
    network: str | None = None


@dataclass
class TrainSettings(DataSettings):
    """Every setting of ``gvin train``; ``out`` is the run folder."""

    out: Path | str = Path("runs/run")
    model: str = "dtvin"
    depth: int | None = None
    kernel_size: int | None = None
    hidden: int | None = None
    latent_actions: int | None = None
    actions: str = "moves"
    edge_features: bool = True
    head: str | None = None
    successor_init: float | None = None
    gamma: float | None = None
    f_solver: str | None = None
    f_tol: float | None = None
    b_solver: str | None = None
    b_max_iter: int | None = None
    b_tol: float | None = None
    f_stop_mode: str | None = None
    b_stop_mode: str | None = None
    phantom_steps: int | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    optimizer: str = "adam"
    highway: int = 0
    depth_factor: float | None = None
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    resume: bool = True

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.npz is not None:
            self.npz = Path(self.npz)
        if self.root is not None:
            self.root = Path(self.root)


@dataclass
class TrainedRun:
    """What :func:`train_run` leaves: the trainer (its model, history and epoch), the run folder,
    and the test split's figures (``test.json``; ``None`` on the other ranks of a distributed run)."""

    trainer: Any
    out: Path
    test: dict[str, Any] | None = None
    metrics: Any = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def model(self) -> torch.nn.Module:
        return self.trainer.model

    @property
    def history(self) -> list[dict[str, float]]:
        return self.trainer.history


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------- settings → a training config
def training_depth_factor(settings: TrainSettings, spec: dict[str, Any], saved: dict[str, Any], resume: bool) -> float:
    """``depth_factor`` if given; a resumed run's own (``1`` for runs saved before it existed); else
    the world's :attr:`~gvin.datasets.worlds.World.depth_factor` for the unrolled value-iteration
    planners and ``1`` for the others."""
    if settings.depth_factor is not None:
        return settings.depth_factor
    if resume:
        return float(saved.get("depth_factor", 1.0))
    return get_world(spec).depth_factor if settings.model in ("vin", "dtvin") else 1.0


def default_depth(model: str, side: int) -> int:
    """The depth when not given: 3 × side layers, or 10 × side (at least 100) forward solver steps."""
    return max(IMPLICIT_MIN_DEPTH, 10 * side) if model in IMPLICIT else 3 * side


def fixed_point_settings(settings: Any) -> dict[str, Any]:
    """``model_kwargs["fixed_point"]``: every :class:`~gvin.nn.FixedPoint` field as a plain value.

    The settings not given keep FixedPoint's defaults; ``f_max_iter`` stays ``None`` so that the
    model's ``num_iterations`` (the depth) is the forward limit and an evaluation can raise it.
    """
    given = {name: getattr(settings, name) for name in SOLVER_OPTIONS if getattr(settings, name, None) is not None}
    return asdict(FixedPoint(**given))


def model_kwargs(settings: TrainSettings, spec: dict[str, Any], side: int) -> dict[str, Any]:
    """The planner's constructor arguments: its ``stencil`` is the one the graphs are built with (or its
    ``edge_dim`` the width of their ``edge_attr``), its ``in_channels`` their node features."""
    world = get_world(spec)
    if not settings.edge_features and world.edge_features is None:
        raise RunError(f"--no-edge-features: the planners of --world {world.name} read no edge features (only "
                       "terrain's do)")
    kwargs: dict[str, Any] = {
        **world.planner_kwargs(spec, settings.kernel_size or 3, settings.edge_features),
        "num_iterations": settings.depth if settings.depth is not None else default_depth(settings.model, side),
        "actions": settings.actions,
    }
    for name, key in (("hidden", "hidden_channels"), ("latent_actions", "num_actions"), ("head", "head"),
                      ("successor_init", "successor_init"), ("gamma", "gamma")):
        if getattr(settings, name) is not None:
            kwargs[key] = getattr(settings, name)
    if settings.model in IMPLICIT:
        if settings.model not in WITHOUT_DISCOUNT:
            kwargs.setdefault("gamma", IMPLICIT_GAMMA)
        kwargs["fixed_point"] = fixed_point_settings(settings)
    return kwargs


def check_model_settings(settings: TrainSettings) -> None:
    """Refuse settings that the chosen model has no use for, or values it cannot take."""
    model = settings.model
    if model not in MODELS:
        raise RunError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    for name, what in (("latent_actions", "the latent actions of vin and dtvin; {m} has none"),
                       ("head", "what the policy head of vin and dtvin reads from Q; {m}'s head reads its hidden "
                                "state"),
                       ("successor_init", "the policy head's successor-value weight of vin and dtvin; {m}'s head "
                                          "has none"),
                       ("gamma", "the discount of value iteration (vin, dtvin and their implicit variants); {m} "
                                 "has none")):
        if getattr(settings, name) is not None and model in WITHOUT_DISCOUNT:
            raise RunError(f"{option(name)} sets {what.format(m=model)}")
    if settings.successor_init is not None and not math.isfinite(settings.successor_init):
        raise RunError(f"--successor-init must be a finite number, got {settings.successor_init}")
    given = [option(name) for name in SOLVER_OPTIONS if getattr(settings, name) is not None]
    if model not in IMPLICIT:
        if given:
            raise RunError(f"{', '.join(given)}: fixed-point solver options of the implicit models "
                           f"({', '.join(IMPLICIT)}); --model {model} unrolls --depth layers instead")
        return
    if settings.gamma is not None and not settings.gamma < 1:
        raise RunError(f"--gamma {settings.gamma:g}: --model {model} needs a discount in [0, 1) so that "
                       "its Bellman operator contracts and the fixed point exists")
    if settings.highway:
        raise RunError(f"--highway trains on intermediate layers; --model {model} solves a fixed point "
                       "and has none (use --highway 0)")
    phantom = settings.b_solver == "phantom"
    if phantom and (settings.b_max_iter is not None or settings.b_tol is not None):
        which = ", ".join(name for name, value in (("--b-max-iter", settings.b_max_iter),
                                                   ("--b-tol", settings.b_tol)) if value is not None)
        raise RunError(f"{which}: settings of a backward solver; --b-solver phantom takes --phantom-steps instead")
    if settings.phantom_steps is not None and not phantom:
        raise RunError(f"--phantom-steps sets the phantom gradient; it needs --b-solver phantom "
                       f"(the backward solver is {settings.b_solver or FixedPoint().b_solver})")


# ----------------------------------------------------------------------------- resuming
def check_resume(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Refuse to resume ``out``'s checkpoint unless it was trained on ``record``'s data; returns its config."""
    checkpoint, run_file = out / CHECKPOINT, out / RUN_FILE
    config = training_config(load_checkpoint(checkpoint), checkpoint)
    saved, source = config.get("data"), checkpoint
    if not saved:  # a checkpoint from before data records: run.json must vouch for it
        run = read_run_file(run_file)
        if run is None:
            raise RunError(f"{checkpoint} does not record its training data (an older gvin wrote it) and "
                           f"{run_file} is missing, so it cannot be resumed safely; use --no-resume or another --out")
        saved, source = {**data_identity(run["data"]), "kernel_size": run["kernel_size"]}, run_file
    changed = [key for key in sorted(set(saved) | set(record)) if saved.get(key) != record.get(key)]
    if changed:
        details = ", ".join(f"{key}: saved {saved.get(key)!r} vs now {record.get(key)!r}" for key in changed)
        raise RunError(f"{out} holds a run trained on other data ({details}; from {source}); "
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


def run_changes(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """What a resume would change in a run, named by the options that set it (empty: it may resume)."""
    differ = config_differences(saved, config)
    if "model" in differ:  # another planner: its settings differ as a matter of course
        differ = ["model"]
    details: list[str] = []
    for key in differ:
        old = saved.get(key, _UNSET)
        if key == "model_kwargs" and isinstance(old, dict):
            old_fp, new_fp = old.get("fixed_point"), config[key].get("fixed_point")
            if isinstance(old_fp, dict) and isinstance(new_fp, dict):
                solver = lambda f: option(f) if f in SOLVER_OPTIONS else f"fixed_point.{f}"  # noqa: E731
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


# ----------------------------------------------------------------------------- training
def training_data(settings: TrainSettings) -> tuple[dict[str, Any], Path]:
    """The data spec and cache root of a training run, checked before anything is loaded or written."""
    check_model_settings(settings)
    check_folder(settings.out, "--out")
    if (settings.out / CHECKPOINT).is_dir():
        raise RunError(f"{settings.out / CHECKPOINT} is a folder; expected the run's checkpoint file")
    spec, root = data_spec(settings), data_root(settings)
    if get_world(spec).cached and "npz" not in spec:
        check_folder(root, "--root")  # before the run folder is locked (and so made)
    settings.kernel_size = settings.kernel_size or 3
    if "npz" not in spec:
        if spec["counts"][0] < 1 or spec["counts"][2] < 1:
            raise RunError(f"--counts {' '.join(map(str, spec['counts']))}: training needs at least one "
                           "training maze and one test maze")
        check_memory(spec, sum(spec["counts"]), min(settings.batch_size, spec["counts"][0]), settings.kernel_size)
    return spec, root


def train_run(settings: TrainSettings | Path | str, log: Log = print, **options: Any) -> TrainedRun:
    """Train (or resume) the run in ``settings.out``, as ``gvin train`` does.

    Args:
        settings: a :class:`TrainSettings`, or the run folder with the other settings as ``options``
            (``train_run("runs/x", npz=..., epochs=10)``).
        log: where the lines of progress go (``None``: nowhere).

    Under ``torchrun`` each process is one rank of a distributed run (rank 0 writes the run's
    files and logs).

    Raises:
        RunError: settings that do not fit (named as ``gvin train`` options), a folder in the way,
            or a resume of a run with other data or settings.
        RunFolderInUse: another process (or another call in this one) is writing the run folder.
    """
    if not isinstance(settings, TrainSettings):
        settings = TrainSettings(out=settings, **options)
    elif options:
        settings = dataclasses.replace(settings, **options)
    settings.device = settings.device or default_device()
    spec, root = training_data(settings)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    distributed.init_from_env(settings.device)
    try:
        return _train(settings, spec, root, log)
    finally:
        distributed.cleanup()


def _train(settings: TrainSettings, spec: dict[str, Any], root: Path, log: Log) -> TrainedRun:
    main = distributed.is_main()
    if not main:
        return _train_locked(settings, spec, root, log, main)
    created = not settings.out.exists()
    with RunLock(settings.out):  # one writer per run folder; a run refused the lock cleans up nothing
        try:
            return _train_locked(settings, spec, root, log, main)
        except BaseException:
            if created:  # removed while this run still holds the lock: never another run's folder
                _remove_if_unused(settings.out)
            raise


def _remove_if_unused(folder: Path) -> None:
    """Remove a run folder this run made if it failed before writing anything but its lock file."""
    lock = folder / LOCK_FILE
    if folder.is_dir() and {path.name for path in folder.iterdir()} <= {LOCK_FILE}:
        lock.unlink(missing_ok=True)
        folder.rmdir()


def _train_locked(settings: TrainSettings, spec: dict[str, Any], root: Path, log: Log, main: bool) -> TrainedRun:
    out = settings.out
    checkpoint, record = out / CHECKPOINT, {**spec, "kernel_size": settings.kernel_size}
    resume = settings.resume and checkpoint.exists()
    saved = check_resume(out, record) if resume else {}
    with distributed.main_first():  # rank 0 generates and caches the data, the others read it
        train_set = load_split(spec, root, "train", settings.kernel_size)
        valid_set = load_split(spec, root, "valid", settings.kernel_size)
    world = get_world(spec)
    side = world.side(train_set[0])
    if "npz" in spec:
        check_memory({"size": side}, 0, min(settings.batch_size, len(train_set)), settings.kernel_size)
    config = TrainConfig(
        model=settings.model,
        model_kwargs=_as_saved(model_kwargs(settings, spec, side), saved.get("model_kwargs", {})),
        epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr, highway_every=settings.highway,
        seed=settings.seed, depth_factor=training_depth_factor(settings, spec, saved, resume),
        device=settings.device, data=record, optimizer=settings.optimizer,
    )
    changes = run_changes(saved, asdict(config)) if resume else []
    if changes:  # the trainer would refuse too; name the options
        raise RunError(f"{checkpoint} belongs to a different run ({'; '.join(changes)}): a run resumes only with the "
                       "settings it was started with (--epochs and --device may change; solver settings are part "
                       "of the run); give its options again, or use another --out, or --no-resume to start afresh")
    trainer = Trainer(config, checkpoint=checkpoint, resume=resume)
    metrics_log = MetricsLog(out / METRICS_FILE)
    if main:
        saved_data = {**spec, "root": str(root)} if world.cached and "npz" not in spec else spec
        write_json(out / RUN_FILE, {"data": saved_data, "kernel_size": settings.kernel_size, "train": asdict(config)})
        metrics_log.start(trainer.history)
        _log_start(settings, trainer, len(train_set), log)
    run = TrainedRun(trainer, out)
    with SolveLog(trainer.model) as solves:
        def on_epoch(record: dict[str, float]) -> None:
            if main:
                metrics_log.append(record)
            summary = solves.summary()
            emit(log, epoch_line(record, config.epochs) + (f"  ({summary})" if summary else ""))

        trainer.fit(train_set, valid_set if len(valid_set) else None, on_epoch=on_epoch)
        if not main:
            return run
        run.files["curve"] = plot_learning_curve_file(trainer.history, out / CURVE_FILE)
        emit(log, f"wrote {out / METRICS_FILE} and {run.files['curve']}")
        test_set = load_split(spec, root, "test", settings.kernel_size)
        run.metrics = evaluate(trainer.model, test_set, trainer.device)
        emit(log, format_metrics("test", run.metrics, settings.actions, solves.summary(), world.noun))
        run.test = evaluation_record(run.metrics, "test", trainer.model, trainer.epoch)
        write_json(out / TEST_FILE, run.test)
    example = plan_example(trainer.model, test_set, 0, out / PLAN_FILE, noun=world.noun, log=log)
    if example.png is not None:
        run.files["plan"] = example.png
    emit(log, (f"wrote {example.png}; " if example.png else "") + f"the checkpoint {checkpoint} holds epoch "
          f"{trainer.epoch}")
    return run


def _log_start(settings: TrainSettings, trainer: Any, num_train: int, log: Log) -> None:
    """The lines before the first epoch: a resume, the model, its depth, the processes."""
    config = trainer.config
    if trainer.epoch:
        done = "; nothing to train" if trainer.epoch >= settings.epochs else ""
        emit(log, f"resuming {settings.out / CHECKPOINT} after epoch {trainer.epoch} (--epochs {settings.epochs})"
                   f"{done}")
    depth = f"K={config.model_kwargs['num_iterations']}"
    fixed_point = config.model_kwargs.get("fixed_point")
    if isinstance(fixed_point, dict):
        depth += (f" forward solver steps at most ({fixed_point['f_solver']}, {fixed_point['f_stop_mode']} tol "
                  f"{fixed_point['f_tol']:g}; backward {fixed_point['b_solver']}"
                  + (f"; gamma {config.model_kwargs['gamma']:g})" if "gamma" in config.model_kwargs else ")"))
    processes = f", {trainer.world_size} processes" if trainer.world_size > 1 else ""
    emit(log, f"{settings.model}: {sum(p.numel() for p in trainer.model.parameters())} parameters, "
               f"{depth}, {num_train} training graphs{processes}")


# ----------------------------------------------------------------------------- evaluation
def format_metrics(split: str, metrics: Any, actions: str, summary: str = "", noun: str = "maze") -> str:
    """``test (2000 mazes, policy over moves): %Optimal 99.4  %Success 99.5 ...``."""
    parts = "  ".join(f"{name} {value:.3f}" if name == "cost ratio" else f"{name} {value:.1f}"
                      for name, value in metrics.as_percent().items())
    line = f"{split} ({metrics.num_graphs} {noun}s, policy over {actions}): {parts}"
    return line + (f"  ({summary})" if summary else "")


def evaluation_record(metrics: Any, split: str, model: Any, epoch: int | None = None,
                      depth: int | None = None) -> dict[str, Any]:
    """What ``test.json`` and ``gvin evaluate --json`` hold: the split, the depth planned with, the
    graphs scored and every figure as a fraction (the cost ratio as a ratio)."""
    record: dict[str, Any] = {"split": split, "depth": depth if depth is not None else model.num_iterations,
                              "num_graphs": metrics.num_graphs, **metrics.as_record()}
    if epoch is not None:
        record["epoch"] = epoch
    return record


@dataclass
class EvaluatedRun:
    """What :func:`evaluate_run` gives: the metrics, their record (``gvin evaluate --json``), and
    the line ``gvin evaluate`` prints."""

    metrics: Any
    record: dict[str, Any]
    line: str


@dataclass
class CheckpointSettings(DataSettings):
    """Settings of ``gvin evaluate`` and ``gvin plan`` (the data defaults to what the checkpoint was
    trained on)."""

    checkpoint: Path | str = Path("checkpoint.pt")
    split: str | None = None
    depth: int | None = None
    device: str | None = None
    kernel_size: int | None = None

    def __post_init__(self) -> None:
        self.checkpoint = Path(self.checkpoint)
        if self.npz is not None:
            self.npz = Path(self.npz)
        if self.root is not None:
            self.root = Path(self.root)


class DeeperThanTrainedWarning(UserWarning):
    """A raw-Q policy head plans deeper than it was trained: its choices may shift."""


def plan_depth(model: Any, depth: int | None) -> None:
    """Apply a depth to a loaded planner: an implicit model's forward limit (when its settings fix
    one); and warn (:class:`DeeperThanTrainedWarning`) when a raw-Q head plans deeper than trained."""
    if depth is not None and isinstance(model, ImplicitPlanner) and model.fixed_point.f_max_iter is not None:
        model.fixed_point = dataclasses.replace(model.fixed_point, f_max_iter=depth)
    unrolled = isinstance(model, (VIN, DTVIN)) and not isinstance(model, ImplicitPlanner)
    if depth is None or not unrolled or depth <= model.num_iterations or model.head.shift_invariant:
        return
    warnings.warn(
        f"this checkpoint's policy head reads raw Q (trained with --head raw, or saved before gvin's heads read "
        f"Q - V), so planning at --depth {depth}, deeper than its trained {model.num_iterations} layers, may shift "
        "its choices; retrain with the default head to plan deeper safely", DeeperThanTrainedWarning, stacklevel=2)


def load_evaluation_split(settings: CheckpointSettings, log: Log = print) -> tuple[Any, Any, str, Any]:
    """The checkpoint's planner, the split to plan on (the checkpoint's data unless overridden), the
    device and the data's :class:`~gvin.datasets.worlds.World`."""
    device = settings.device or default_device()
    split = settings.split or "test"
    model, payload = load_model(settings.checkpoint, device)
    plan_depth(model, settings.depth)
    run_file = settings.checkpoint.parent / RUN_FILE
    run = read_run_file(run_file)
    config = training_config(payload, settings.checkpoint)
    record = config.get("data")
    if record:
        record = checked_record(record, settings.checkpoint)
    elif run is not None:  # a checkpoint from before data records
        record = checked_record({**data_identity(run["data"]), "kernel_size": run["kernel_size"]}, run_file)
    else:
        raise RunError(f"{settings.checkpoint} does not record its training data (an older gvin wrote it) and "
                       f"{run_file} is missing; put the run's {RUN_FILE} back next to it")
    spec = data_spec(settings, data_identity(record))
    world = get_world(spec)
    check_planner_fits(settings.checkpoint, config.get("model_kwargs"), world, spec, world_of(record))
    if "npz" not in spec:
        check_memory(spec, sum(spec["counts"]))
    dataset = load_split(spec, data_root(settings, run), split, record["kernel_size"])
    if len(dataset) == 0:
        source = spec.get("npz") or f"the generated {world.noun}s (--counts {' '.join(map(str, spec['counts']))})"
        raise RunError(f"the {split} split of {source} has no {world.noun}s")
    return model, dataset, device, world


def evaluate_run(settings: CheckpointSettings | Path | str, log: Log = print, progress: bool = False,
                 **options: Any) -> EvaluatedRun:
    """Score a trained checkpoint on a split, as ``gvin evaluate`` does.

    Args:
        settings: a :class:`CheckpointSettings`, or the checkpoint path with the other settings as
            ``options`` (``evaluate_run("runs/x/checkpoint.pt", depth=360)``).
        log: where the result line goes (``None``: nowhere).
        progress: show a progress bar.
    """
    if not isinstance(settings, CheckpointSettings):
        settings = CheckpointSettings(checkpoint=settings, **options)
    model, dataset, device, world = load_evaluation_split(settings, log)
    split = settings.split or "test"
    with SolveLog(model) as solves:
        metrics = evaluate(model, dataset, device, num_iterations=settings.depth, progress=progress)
        line = format_metrics(split, metrics, model.actions, solves.summary(), world.noun)
    emit(log, line)
    return EvaluatedRun(metrics, evaluation_record(metrics, split, model, depth=settings.depth), line)


__all__ = [
    "DataSettings", "TrainSettings", "CheckpointSettings", "TrainedRun", "EvaluatedRun", "RunError",
    "train_run", "evaluate_run", "load_evaluation_split", "evaluation_record", "format_metrics", "model_kwargs",
    "default_depth", "check_resume", "run_changes",
]
