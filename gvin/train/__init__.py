"""Training and evaluation: losses (incl. the adaptive highway loss), metrics, trainer, checkpoints."""
from gvin.train.checkpoint import load_checkpoint, save_checkpoint
from gvin.train.losses import highway_layers, highway_loss, imitation_loss, optimal_set_nll
from gvin.train.metrics import PlanningMetrics, greedy_successor, planning_metrics, rollout_lengths
from gvin.train.trainer import Trainer, TrainConfig, evaluate

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "highway_layers",
    "highway_loss",
    "imitation_loss",
    "optimal_set_nll",
    "PlanningMetrics",
    "greedy_successor",
    "planning_metrics",
    "rollout_lengths",
    "Trainer",
    "TrainConfig",
    "evaluate",
]
