"""Training and evaluation: losses (incl. the adaptive highway loss), metrics, trainer, checkpoints,
multi-process training (:mod:`gvin.train.distributed`)."""
from gvin.train.checkpoint import load_checkpoint, save_checkpoint
from gvin.train.losses import highway_layers, highway_loss, imitation_loss, optimal_set_nll, segment_logsumexp
from gvin.train.metrics import (
    GraphScores,
    PlanningMetrics,
    graph_scores,
    greedy_edges,
    greedy_rollout,
    greedy_successor,
    planning_metrics,
    random_start_success,
    rollout_lengths,
    sample_starts,
)
from gvin.train import distributed
from gvin.train.trainer import Trainer, TrainConfig, epoch_loader, evaluate, graph_loader

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "highway_layers",
    "highway_loss",
    "imitation_loss",
    "optimal_set_nll",
    "segment_logsumexp",
    "GraphScores",
    "PlanningMetrics",
    "graph_scores",
    "greedy_edges",
    "greedy_rollout",
    "greedy_successor",
    "planning_metrics",
    "random_start_success",
    "rollout_lengths",
    "sample_starts",
    "Trainer",
    "TrainConfig",
    "evaluate",
    "graph_loader",
    "epoch_loader",
    "distributed",
]
