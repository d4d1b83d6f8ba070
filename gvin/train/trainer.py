"""Imitation learning of graph planners on expert-labelled planning graphs."""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch_geometric.data import Batch
from tqdm.auto import tqdm

from gvin.models import GraphPlanner, build_model
from gvin.train.checkpoint import load_checkpoint, save_checkpoint
from gvin.train.losses import highway_layers, highway_loss, imitation_loss
from gvin.train.metrics import PlanningMetrics, planning_metrics


@dataclass
class TrainConfig:
    """Everything that defines a training run (what the CLI fills in).

    Attributes:
        model: ``"vin"``, ``"dtvin"`` or ``"gppn"``.
        model_kwargs: constructor arguments of the model.
        epochs: passes over the training set.
        batch_size: graphs per step.
        lr: Adam learning rate.
        grad_clip: max gradient norm (``0`` = off).
        highway_every: ``J`` of the adaptive highway loss (``0`` = loss on the
            last layer only).
        seed: seeds the model's initialisation and the data order.
        device: ``"cpu"``, ``"cuda"``, ...
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


REQUIRED_LABELS = ("optimal", "dist", "goal", "move")


def check_labelled(batch: Batch) -> None:
    """Training and evaluation need expert labels on every graph."""
    missing = [key for key in REQUIRED_LABELS if getattr(batch, key, None) is None]
    if missing:
        raise ValueError(
            f"the planning graphs lack expert labels {missing}; use a gvin.datasets dataset "
            "or add them with gvin.planners (optimal_edges, shortest_path_distances)"
        )


def node_is_free(batch: Batch) -> torch.Tensor:
    """Nodes that count in the metrics: free grid cells, or every node elsewhere."""
    if batch.x.shape[1] >= 1 and getattr(batch, "grid_shape", None) is not None:
        return batch.x[:, 0] > 0.5
    return torch.ones(batch.num_nodes, dtype=torch.bool, device=batch.x.device)


class Trainer:
    """Trains a planner, evaluates %Optimal/%Success, checkpoints every epoch.

    Args:
        config: the run.
        checkpoint: file written (atomically) after every epoch; if it exists
            and ``resume`` is true, training continues from it.
    """

    def __init__(self, config: TrainConfig, checkpoint: str | os.PathLike | None = None, resume: bool = True):
        self.config = config
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        self.model: GraphPlanner = build_model(config.model, **config.model_kwargs).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        if self.checkpoint is not None and resume and self.checkpoint.exists():
            self.load(self.checkpoint)

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "config": asdict(self.config),
            "history": self.history,
            "rng": torch.get_rng_state(),
        }

    def save(self, path: str | os.PathLike | None = None) -> Path:
        target = Path(path) if path is not None else self.checkpoint
        if target is None:
            raise ValueError("no checkpoint path given")
        return save_checkpoint(target, self.state())

    def load(self, path: str | os.PathLike) -> None:
        payload = load_checkpoint(path, map_location=self.device)
        saved = payload.get("config", {})
        for key in ("model", "model_kwargs"):
            if saved.get(key) != asdict(self.config)[key]:
                raise ValueError(
                    f"checkpoint {path} was trained with {key}={saved.get(key)!r}, "
                    f"not {asdict(self.config)[key]!r}"
                )
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.epoch = int(payload["epoch"])
        self.history = list(payload.get("history", []))
        if "rng" in payload:
            torch.set_rng_state(payload["rng"].cpu())

    # --------------------------------------------------------------- training
    def loss(self, batch: Batch) -> torch.Tensor:
        check_labelled(batch)
        depth = self.model.num_iterations
        every = self.config.highway_every
        if every:
            layers = highway_layers(depth, every)
            out = self.model(batch, intermediate=layers)
            return highway_loss(out.intermediate, batch.optimal, batch.dist, batch.edge_index, batch.num_nodes)
        out = self.model(batch)
        return imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)

    def train_epoch(self, loader: Iterable[Batch], progress: bool = True) -> float:
        """One pass over ``loader``; returns the mean loss."""
        self.model.train()
        total, steps = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}", leave=False, disable=not progress)
        for batch in bar:
            batch = batch.to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at epoch {self.epoch + 1}")
            loss.backward()
            if self.config.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            total += loss.item()
            steps += 1
            bar.set_postfix(loss=f"{total / steps:.4f}")
        return total / max(steps, 1)

    def fit(
        self,
        train_loader: Iterable[Batch],
        valid_loader: Iterable[Batch] | None = None,
        epochs: int | None = None,
        progress: bool = True,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> list[dict[str, float]]:
        """Train until ``epochs`` (default: the config's) are done, resuming where it stopped."""
        target = self.config.epochs if epochs is None else epochs
        while self.epoch < target:
            loss = self.train_epoch(train_loader, progress)
            self.epoch += 1
            record = {"epoch": float(self.epoch), "loss": loss}
            if valid_loader is not None:
                metrics = evaluate(self.model, valid_loader, self.device, progress=progress)
                record.update({"valid_optimal": metrics.optimal, "valid_success": metrics.success})
            self.history.append(record)
            if self.checkpoint is not None:
                self.save()
            if on_epoch is not None:
                on_epoch(record)
        return self.history


@torch.no_grad()
def evaluate(
    model: GraphPlanner,
    loader: Iterable[Batch],
    device: str | torch.device = "cpu",
    num_iterations: int | None = None,
    progress: bool = False,
) -> PlanningMetrics:
    """%Optimal and %Success of ``model``'s greedy policy over every graph of ``loader``."""
    model.eval()
    optimal = success = 0.0
    graphs = 0
    for batch in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        batch = batch.to(device)
        check_labelled(batch)
        out = model(batch, num_iterations=num_iterations)
        metrics = planning_metrics(
            out.log_probs, batch.edge_index, batch.move, batch.goal, batch.dist,
            node_is_free(batch), getattr(batch, "batch", None),
        )
        if not math.isnan(metrics.optimal):
            optimal += metrics.optimal * metrics.num_graphs
            success += metrics.success * metrics.num_graphs
            graphs += metrics.num_graphs
    if graphs == 0:
        raise ValueError("nothing to evaluate: the loader gave no graph with a free node")
    return PlanningMetrics(optimal / graphs, success / graphs, graphs)
