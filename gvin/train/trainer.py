"""Imitation learning of graph planners on expert-labelled planning graphs.

Reproducibility: the model is initialised from ``config.seed``; epoch ``t``
shuffles the training set with a generator seeded from ``(seed, t)`` and runs
with the global torch RNG seeded from ``(seed, t)`` (inside
:func:`torch.random.fork_rng`, so the caller's RNG is left alone). With the
model and optimizer state in the checkpoint, a resumed run therefore repeats
an uninterrupted one bit for bit on CPU (GPU scatter kernels are not
deterministic).

Several processes (``torchrun``, see :mod:`gvin.train.distributed`): the
process group is joined from the environment; the model runs inside
:class:`~torch.nn.parallel.DistributedDataParallel`; every step's batch is the
single-process batch of the same epoch order, split over the ranks
(:func:`~gvin.train.distributed.shard_batches`), and each rank's loss is weighted
by its share of the batch's labelled nodes, so the gradients are those of one
process on the whole batch; rank 0 alone evaluates, writes checkpoints and
calls ``on_epoch``.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Union

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from tqdm.auto import tqdm

from gvin._checks import as_device
from gvin.models import MODELS, GraphPlanner, build_model
from gvin.train import distributed
from gvin.train.checkpoint import load_checkpoint, save_checkpoint, training_config
from gvin.train.losses import (
    check_labels_choosable,
    highway_layers,
    highway_terms,
    optimal_set_nll,
)
from gvin.train.metrics import GraphScores, PlanningMetrics, graph_scores

GraphSource = Union[torch.utils.data.Dataset, Sequence, Iterable[Batch]]
"""A PyG dataset, a list of ``Data``, or a ready loader yielding ``Batch``es."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (what the CLI fills in).

    Attributes:
        model: ``"vin"``, ``"dtvin"`` or ``"gppn"``.
        model_kwargs: constructor arguments of the model.
        epochs: passes over the training set.
        batch_size: graphs per step (over all processes under ``torchrun``).
        lr: learning rate.
        grad_clip: max gradient norm (``0`` = off).
        optimizer: ``"adam"`` or ``"rmsprop"`` (``eps=1e-6``, as GPPN's code trains).
        loss: ``"optimal_set"``: the probability of taking *some* optimal move
            (``data.optimal``, ties kept); ``"expert"``: the cross-entropy against
            one expert move per node (``data.expert``, e.g. a GPPN file's own
            labels, ``GPPNDataset(file_labels=True)``), as GPPN's code trains.
        highway_every: ``J`` of the adaptive highway loss (``0`` = loss on the
            last layer only).
        depth_factor: each training batch plans with a depth drawn uniformly from
            ``[K, depth_factor · K]`` (``K``: the model's ``num_iterations``; ``1``:
            always ``K``). Training at depths past the point where the values have
            settled teaches a policy that keeps its choices when run deeper, or on
            larger maps, than it was trained. Evaluation plans with ``K``.
        seed: seeds the model's initialisation and the data order.
        device: ``"cpu"``, ``"cuda"``, ... (under ``torchrun``, ``"cuda"`` runs
            rank ``r`` on ``cuda:LOCAL_RANK``). A config only checks the spelling
            (it may be written for another machine); :class:`Trainer` refuses a
            device this machine lacks (:func:`gvin._checks.as_device`).
        data: a record of what the model is trained on (plain values, e.g. the
            CLI's data settings and kernel size); saved in the checkpoint, and a
            resume refuses a checkpoint whose record differs. ``{}``: no record
            (checkpoints written before this field have none, and are not compared).
    """

    model: str = "dtvin"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    grad_clip: float = 40.0
    highway_every: int = 0
    seed: int = 0
    device: str = "cpu"
    data: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    loss: str = "optimal_set"
    depth_factor: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "epochs": _is_int(self.epochs, 0),
            "batch_size": _is_int(self.batch_size, 1),
            "lr": _is_real(self.lr) and math.isfinite(self.lr) and self.lr > 0,
            "grad_clip": _is_real(self.grad_clip) and self.grad_clip >= 0,
            "highway_every": _is_int(self.highway_every, 0),
            "seed": _is_int(self.seed, 0),
            "depth_factor": _is_real(self.depth_factor) and math.isfinite(self.depth_factor) and self.depth_factor >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"invalid TrainConfig values: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)} "
                "(epochs, batch_size, highway_every and seed are ints, lr a finite number > 0, depth_factor a "
                "number >= 1)"
            )
        if not isinstance(self.model, str) or self.model.lower() not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {sorted(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
        if self.loss not in LOSS_LABELS:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSS_LABELS)}")
        as_device(self.device, available=False)  # the spelling; Trainer checks this machine has it
        for name in ("model_kwargs", "data"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")


def _is_int(value: Any, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= low


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda parameters, lr: torch.optim.Adam(parameters, lr=lr),
    "rmsprop": lambda parameters, lr: torch.optim.RMSprop(parameters, lr=lr, eps=1e-6),
}
"""``TrainConfig.optimizer`` → a factory ``(parameters, lr) → optimizer``."""

LOSS_LABELS = {"optimal_set": "optimal", "expert": "expert"}
"""``TrainConfig.loss`` → the edge labels ``[E]`` bool it imitates."""

# Fields that may change between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = ("epochs", "device")
REQUIRED_LABELS = ("optimal", "dist", "goal", "move")


def check_labelled(batch: Data, training: bool = False) -> None:
    """Training and evaluation need expert labels on every graph (``ValueError`` if not).

    With ``training``, the ``optimal`` labels must also mark some edge wherever
    ``dist`` says a node can reach the goal: labels that mark no optimal move
    leave nothing to imitate (the loss would be 0 from the start).
    """
    if not isinstance(batch, Data):
        raise TypeError(f"expected torch_geometric Data planning graphs, got {type(batch).__name__}")
    missing = [key for key in REQUIRED_LABELS if getattr(batch, key, None) is None]
    if missing:
        raise ValueError(
            f"the planning graphs lack expert labels {missing}; use a gvin.datasets dataset "
            "or add them with gvin.planners (optimal_edges, shortest_path_distances)"
        )
    if training:
        _check_label_values(batch)
    if training and not bool(torch.as_tensor(batch.optimal).bool().any()):
        dist = torch.as_tensor(batch.dist)
        reaching = int((torch.isfinite(dist) & (dist > 0)).sum())
        if reaching:
            raise ValueError(
                f"the expert labels mark no optimal edge (data.optimal is all False) although {reaching} "
                "nodes can reach the goal (finite data.dist > 0): there is nothing to imitate; "
                "label the optimal moves with gvin.optimal_edges"
            )


def _check_label_values(batch: Data) -> None:
    """Once per training batch: ``dist`` is a distance and ``optimal`` marks moves only."""
    dist, optimal, move = (torch.as_tensor(batch[key]) for key in ("dist", "optimal", "move"))
    if bool(torch.isnan(dist).any()) or bool((dist < 0).any()):
        raise ValueError("data.dist must be non-negative distances (inf where unreachable), found NaN or < 0")
    if optimal.shape == move.shape and bool((optimal.bool() & ~move.bool()).any()):
        edge = int(torch.nonzero(optimal.bool() & ~move.bool())[0])
        raise ValueError(
            f"the expert labels mark edge {edge} as optimal although it is not a move (data.move is False); "
            "labels must mark moves only (gvin.optimal_edges)"
        )


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The fields of ``current`` that a resume from a checkpoint with config ``saved`` may not change.

    A field missing from ``saved`` (a checkpoint older than the field) counts as
    its default; ``data`` is compared only when both sides hold a record.
    """
    defaults = asdict(TrainConfig())
    differ = []
    for key, value in current.items():
        old = saved.get(key, defaults.get(key))
        if key in RESUMABLE_CHANGES or (key == "data" and not (old and value)):
            continue
        if old != value:
            differ.append(key)
    return differ


def node_is_free(batch: Data) -> torch.Tensor:
    """``[N]`` bool: the nodes that count in the metrics: free grid cells, or every node elsewhere."""
    if batch.x.dim() == 2 and batch.x.shape[1] >= 1 and getattr(batch, "grid_shape", None) is not None:
        return batch.x[:, 0] > 0.5
    return torch.ones(batch.num_nodes, dtype=torch.bool, device=batch.x.device)


def derived_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers (e.g. ``(seed, epoch)``)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with the global torch RNG (CPU, and ``device`` if CUDA) seeded; restore it after."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def graph_loader(
    data: GraphSource, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
) -> Iterable[Batch]:
    """A PyG :class:`~torch_geometric.loader.DataLoader` over ``data``, or ``data`` if it is a loader.

    Args:
        data: a dataset (PyG or torch), a list of ``Data``, a single ``Data``,
            or a ready loader (any other iterable of ``Batch``es, used as is).
        batch_size: graphs per batch.
        shuffle: reshuffle with ``generator`` (datasets only).
    """
    if isinstance(data, (str, bytes)):
        raise TypeError("expected planning graphs (a dataset, a list of Data or a loader), got a string")
    if isinstance(data, Batch):
        return [data]
    if isinstance(data, Data):
        data = [data]
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, (torch.utils.data.Dataset, Sequence)):
        if len(data) == 0:
            raise ValueError("the dataset is empty")
        if isinstance(data, Sequence) and isinstance(data[0], Batch):
            return data  # already batched
        if not isinstance(data[0], Data):
            raise TypeError(f"dataset items must be torch_geometric Data, got {type(data[0]).__name__}")
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"expected planning graphs (a dataset, a list of Data or a loader), got {type(data).__name__}")


def epoch_loader(
    data: GraphSource, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> Iterable[Batch]:
    """The training batches of epoch ``epoch`` (0-based), shuffled from ``(seed, epoch)``.

    For one process, a shuffling :func:`graph_loader`. For ``world_size`` ranks,
    rank ``rank``'s shards of the same batches (:func:`gvin.train.distributed.shard_batches`):
    the ranks' shards of each step together are that step's single-process batch.

    Raises:
        TypeError: several ranks and a ready loader (only a dataset or a list of
            ``Data`` can be split between ranks).
    """
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch, 0))
    if world_size == 1:
        return graph_loader(data, batch_size, shuffle=True, generator=generator)
    if isinstance(data, Data):
        data = [data]
    if isinstance(data, torch.utils.data.DataLoader) or not isinstance(data, (torch.utils.data.Dataset, Sequence)):
        raise TypeError(
            f"distributed training splits every batch between the processes: give a dataset or a list of Data, "
            f"not a {type(data).__name__}"
        )
    graph_loader(data, batch_size)  # the checks of a dataset (empty, not Data)
    # The single-process batches, drawn by the same kind of loader from the same generator.
    indices = torch.utils.data.DataLoader(range(len(data)), batch_size, shuffle=True, generator=generator,
                                          collate_fn=list)
    shards = distributed.shard_batches(list(indices), rank, world_size)
    return DataLoader(data, batch_sampler=shards)


def _first_item(data: GraphSource) -> Data | None:
    """The first graph of a dataset / list (``None`` for loaders: checked per batch)."""
    if isinstance(data, Data):
        return data
    if isinstance(data, (torch.utils.data.Dataset, Sequence)) and not isinstance(data, torch.utils.data.DataLoader):
        return data[0] if len(data) else None
    return None


class Trainer:
    """Trains a planner by imitation, evaluates %Optimal/%Success, checkpoints every epoch.

    Args:
        config: the run.
        checkpoint: file written (atomically) after every epoch; if it exists
            and ``resume`` is true, training continues from it (its config must
            match ``config`` except for ``epochs`` and ``device``; its ``data``
            record is compared when both have one).
        resume: load ``checkpoint`` if it exists (else it is overwritten).

    Raises:
        ValueError: ``config.device`` is not on this machine (``"cuda"`` without CUDA,
            ``"cuda:3"`` with fewer GPUs, ``"mps"`` without MPS), before anything is built.

    Under ``torchrun`` (``WORLD_SIZE > 1``) the trainer joins the process group
    (:func:`gvin.train.distributed.init_from_env`), every rank loads the
    checkpoint, and only rank 0 writes it; call
    :func:`gvin.train.distributed.cleanup` when done.

    Attributes:
        model: the planner; optimizer: its optimizer; epoch: epochs done;
        history: one record per epoch (``loss``, and ``valid_*`` rates when a
        validation set is given); device: this process's device; rank,
        world_size: this process's place (0 and 1 for one process); ddp: the
        :class:`~torch.nn.parallel.DistributedDataParallel` wrapper of ``model``
        (``None`` for one process).
    """

    def __init__(self, config: TrainConfig, checkpoint: str | os.PathLike | None = None, resume: bool = True):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.device = distributed.init_from_env(config.device)
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        if self.world_size > 1 and config.batch_size < self.world_size:
            raise ValueError(
                f"batch_size={config.batch_size} is smaller than the {self.world_size} processes: each process "
                "takes a share of every batch; use a batch size of at least the number of processes"
            )
        with seeded_rng(derived_seed(config.seed), torch.device("cpu")):
            model = build_model(config.model, **config.model_kwargs)
        self.model: GraphPlanner = model.to(self.device)
        self.ddp: torch.nn.parallel.DistributedDataParallel | None = None
        if self.world_size > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.parameters(), config.lr)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        if self.checkpoint is not None and resume and self.checkpoint.exists():
            self.load(self.checkpoint)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | None = None) -> "Trainer":
        """A trainer (and its model) restored from ``path`` with the config saved there."""
        saved = training_config(load_checkpoint(path), path)
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
        if device is not None:
            config.device = device
        return cls(config, checkpoint=path, resume=True)

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """Everything a resume needs (tensors and plain Python values only)."""
        return {
            "format": "gvin.train/1",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "config": asdict(self.config),
            "history": self.history,
        }

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write :meth:`state` atomically to ``path`` (default: the trainer's checkpoint)."""
        target = Path(path) if path is not None else self.checkpoint
        if target is None:
            raise ValueError("no checkpoint path given")
        return save_checkpoint(target, self.state())

    def load(self, path: str | os.PathLike) -> None:
        """Restore model, optimizer, epoch and history from ``path`` (``ValueError`` on a config mismatch)."""
        payload = load_checkpoint(path, map_location=self.device)
        saved = training_config(payload, path)
        current = asdict(self.config)
        differ = config_differences(saved, current)
        if differ:
            details = ", ".join(f"{key}: saved {saved.get(key)!r} vs now {current[key]!r}" for key in differ)
            raise ValueError(
                f"checkpoint {path} was written by a different run ({details}); "
                "use another checkpoint path or resume=False"
            )
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.epoch = int(payload["epoch"])
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            detail = " ".join(str(error).split())
            raise ValueError(
                f"checkpoint {path} does not fit the model: {type(error).__name__} {detail[:300]}"
            ) from error
        self.history = [dict(record) for record in payload.get("history", [])]

    # --------------------------------------------------------------- training
    def loss(self, batch: Batch) -> torch.Tensor:
        """The imitation loss of one batch (highway loss if ``config.highway_every``): the mean
        of :meth:`loss_terms` (0 when nothing is labelled)."""
        terms = self.loss_terms(batch)
        return terms[0] / terms[1].clamp_min(1)

    def loss_terms(self, batch: Batch) -> torch.Tensor:
        """``[2]``: the sum of ``batch``'s loss terms and their number (labelled nodes, or
        (layer, node) pairs of the highway loss); :meth:`loss` is their ratio.

        Runs the model through its :class:`~torch.nn.parallel.DistributedDataParallel`
        wrapper when there is one (a distributed step).
        """
        check_labelled(batch, training=True)
        labels = self._imitated_labels(batch)
        forward = self.ddp if self.ddp is not None else self.model
        depth = self.training_depth()
        every = self.config.highway_every
        if every:
            layers = highway_layers(depth, every)

            def layer_loss(layer: int, log_probs: torch.Tensor) -> torch.Tensor:
                return highway_terms(layer, log_probs, labels, batch.dist, batch.edge_index, batch.num_nodes)

            out = forward(batch, num_iterations=depth, intermediate=layers, layer_loss=layer_loss)
            return torch.stack(list(out.layer_losses.values())).sum(0)
        out = forward(batch, num_iterations=depth)
        loss, labelled = optimal_set_nll(out.log_probs, labels, batch.edge_index, batch.num_nodes)
        check_labels_choosable(out.log_probs, labels.bool(), batch.edge_index)
        return torch.stack([loss.sum(), labelled.sum().to(loss.dtype)])

    def training_depth(self) -> int:
        """The depth of the next training batch: the model's ``K``, or with ``config.depth_factor > 1``
        one drawn uniformly from ``[K, ⌊depth_factor · K⌋]`` (the global RNG, which each epoch seeds
        from ``(seed, epoch)``: every rank of a distributed run draws the same depths)."""
        depth = self.model.num_iterations
        if self.config.depth_factor <= 1:
            return depth
        return int(torch.randint(depth, int(self.config.depth_factor * depth) + 1, ()).item())

    def _imitated_labels(self, batch: Batch) -> torch.Tensor:
        """The ``[E]`` bool edge labels ``config.loss`` imitates (``ValueError`` if the batch lacks them)."""
        key = LOSS_LABELS[self.config.loss]
        labels = getattr(batch, key, None)
        if labels is None:
            raise ValueError(
                f"loss={self.config.loss!r} imitates data.{key}, which the planning graphs lack "
                "(GPPNDataset(..., file_labels=True) carries a GPPN file's own labels as data.expert)"
            )
        labels = torch.as_tensor(labels)
        if labels.shape != (batch.edge_index.shape[1],):
            raise ValueError(f"data.{key} must be [E] = [{batch.edge_index.shape[1]}] edge labels, got {tuple(labels.shape)}")
        if self.config.loss == "expert":
            per_node = torch.bincount(batch.edge_index[0][labels.bool()], minlength=batch.num_nodes)
            if bool((per_node > 1).any()):
                node = int(torch.nonzero(per_node > 1)[0])
                raise ValueError(
                    f"loss='expert' imitates one expert move per node, but data.expert marks {int(per_node[node])} "
                    f"out-edges of node {node}; use loss='optimal_set' for sets of optimal moves"
                )
        return labels

    def step(self, batch: Batch) -> float:
        """One optimiser step on ``batch``; returns its loss (``FloatingPointError`` if not finite).

        Distributed, ``batch`` is this rank's shard of the step's batch, and the
        loss returned is the whole batch's (the same on every rank).
        """
        batch = batch.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        if self.ddp is not None:
            loss, value = self._distributed_loss(batch)
        else:
            loss = self.loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} in epoch {self.epoch + 1}")
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        if not torch.isfinite(norm):
            raise FloatingPointError(f"the gradient norm became {norm.item()} in epoch {self.epoch + 1}")
        self.optimizer.step()
        return value if self.ddp is not None else loss.item()

    def _distributed_loss(self, batch: Batch) -> tuple[torch.Tensor, float]:
        """What this rank backpropagates, ``W · sum_r / C`` with ``C`` the number of loss terms
        over all ranks (one all-reduce), and the whole batch's loss ``Σ_r sum_r / C``.

        DDP averages the ranks' gradients, so they add up to the gradient of
        ``Σ_r sum_r / C``: that of one process on the whole batch, however unevenly
        the labelled nodes fall on the ranks.
        """
        terms = self.loss_terms(batch)
        totals = distributed.all_reduce_sum(terms.detach().to(torch.float64, copy=True))  # [Σ sum, Σ count]
        count = totals[1].clamp_min(1)
        value = float(totals[0] / count)
        if not math.isfinite(value):  # every rank sees the same value: all stop together
            raise FloatingPointError(f"the loss became {value} in epoch {self.epoch + 1}")
        return terms[0] * (self.world_size / count).to(terms.dtype), value

    def train_epoch(self, train: GraphSource, progress: bool = True) -> float:
        """One pass over ``train`` (shuffled from ``(seed, epoch)``); returns the mean loss.

        Distributed, each rank runs its shards of the epoch's batches (:func:`epoch_loader`).
        """
        loader = epoch_loader(train, self.config.batch_size, self.config.seed, self.epoch, self.rank, self.world_size)
        self.model.train()
        total, steps, labelled = 0.0, 0, False
        progress = progress and distributed.is_main()
        with seeded_rng(derived_seed(self.config.seed, self.epoch, 1), self.device):
            bar = tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False, disable=None if progress else True)
            for batch in bar:
                labelled = labelled or bool(torch.as_tensor(getattr(batch, "optimal", True)).any())
                total += self.step(batch)
                steps += 1
                bar.set_postfix(loss=f"{total / steps:.4f}")
        if steps == 0:
            raise ValueError("the training set gave no batch")
        if self.world_size > 1:  # labels on any rank's shards will do
            labelled = bool(distributed.all_reduce_sum(torch.tensor([float(labelled)], device=self.device)) > 0)
        if not labelled:
            raise ValueError(
                "the expert labels of the training set mark no optimal edge in any graph "
                "(data.optimal is all False): there is nothing to imitate"
            )
        return total / steps

    def fit(
        self,
        train_dataset: GraphSource,
        valid_dataset: GraphSource | None = None,
        epochs: int | None = None,
        progress: bool = True,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> list[dict[str, float]]:
        """Train until ``epochs`` (default: the config's) are done, continuing from :attr:`epoch`.

        Args:
            train_dataset: labelled planning graphs (a PyG dataset or a list of
                ``Data``; a ready loader is used as is, without reshuffling).
            valid_dataset: evaluated after every epoch (``valid_optimal``,
                ``valid_success``, ``valid_random_success`` in the record, and on
                graphs with edge costs ``valid_near_optimal`` and ``valid_cost_ratio``;
                see :meth:`~gvin.train.metrics.PlanningMetrics.as_record`).
            epochs: total epochs to reach.
            progress: show tqdm bars.
            on_epoch: called with each epoch's record, after the checkpoint is written
                (distributed: on rank 0 only).

        Returns:
            :attr:`history`.
        """
        for data, training in ((train_dataset, True), (valid_dataset, False)):
            first = _first_item(data) if data is not None else None
            if first is not None:
                check_labelled(first, training)
        if epochs is not None and not _is_int(epochs, 0):
            raise ValueError(f"epochs must be an int >= 0 (the total to reach), got {epochs!r}")
        target = self.config.epochs if epochs is None else int(epochs)
        while self.epoch < target:
            loss = self.train_epoch(train_dataset, progress)
            self.epoch += 1
            record = {"epoch": float(self.epoch), "loss": loss}
            if valid_dataset is not None and distributed.is_main():  # the others wait for its record
                metrics = evaluate(
                    self.model, valid_dataset, self.device, progress=progress,
                    batch_size=self.config.batch_size, seed=self.config.seed,
                )
                record.update(metrics.as_record("valid_"))
            record = distributed.broadcast_object(record)
            self.history.append(record)
            if distributed.is_main():
                if self.checkpoint is not None:
                    self.save()
                if on_epoch is not None:
                    on_epoch(record)
        return self.history


@torch.no_grad()
def evaluate(
    model: GraphPlanner,
    data: GraphSource,
    device: str | torch.device | None = None,
    num_iterations: int | None = None,
    progress: bool = False,
    *,
    batch_size: int = 32,
    num_starts: int = 10,
    seed: int = 0,
) -> PlanningMetrics:
    """%Optimal, %Success and random-start success of ``model``'s greedy policy.

    Args:
        model: a planner.
        data: labelled planning graphs (dataset, list of ``Data`` or loader).
        device: where to run (default: the model's device).
        num_iterations: planning depth (default: the model's).
        progress: show a tqdm bar.
        batch_size: graphs per batch when ``data`` is not a loader.
        num_starts: random starts per graph (``0``: skip).
        seed: seeds the random starts.

    Returns:
        :class:`PlanningMetrics` averaged per graph over every graph with a free node.
    """
    if not isinstance(model, GraphPlanner):
        raise TypeError(f"model must be a gvin planner (a gvin.models.GraphPlanner), got {type(model).__name__}")
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    device = as_device(device)
    generator = torch.Generator().manual_seed(derived_seed(seed))
    was_training = model.training
    model.eval()
    parts: list[GraphScores] = []
    weighted = False
    try:
        for batch in tqdm(graph_loader(data, batch_size), desc="evaluate", leave=False, disable=None if progress else True):
            batch = batch.to(device)
            check_labelled(batch)
            out = model(batch, num_iterations=num_iterations)
            weighted = weighted or getattr(batch, "edge_weight", None) is not None
            parts.append(
                graph_scores(
                    out.log_probs, batch.edge_index, batch.move, batch.goal, batch.dist, node_is_free(batch),
                    getattr(batch, "batch", None), getattr(batch, "num_graphs", None),
                    edge_weight=getattr(batch, "edge_weight", None), num_starts=num_starts, generator=generator,
                )
            )
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("nothing to evaluate: the data gave no graph")
    scores = GraphScores(*(torch.cat([getattr(p, f).double().cpu() for p in parts]) for f in GraphScores.FIELDS))
    metrics = PlanningMetrics.from_scores(scores, weighted=weighted)
    if metrics.num_graphs == 0 or math.isnan(metrics.optimal):
        raise ValueError("nothing to evaluate: no graph has a free node")
    return metrics
