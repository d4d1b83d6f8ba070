"""Exact planners and expert labels on planning graphs (Dijkstra, exact value iteration)."""
from gvin.planners.shortest_paths import (
    edge_costs,
    goal_mask,
    move_mask,
    optimal_edges,
    shortest_path,
    shortest_path_distances,
)
from gvin.planners.grid import (
    GPPN_ACTIONS_4,
    GPPN_ACTIONS_8,
    GPPN_NEWS_ACTIONS,
    grid_distances,
    grid_labels,
    optimal_action_maps,
)
from gvin.planners.value_iteration import ValueIterationResult, bellman_backup, value_iteration

__all__ = [
    "grid_distances",
    "grid_labels",
    "optimal_action_maps",
    "GPPN_ACTIONS_4",
    "GPPN_ACTIONS_8",
    "GPPN_NEWS_ACTIONS",
    "shortest_path_distances",
    "optimal_edges",
    "shortest_path",
    "value_iteration",
    "ValueIterationResult",
    "bellman_backup",
    "edge_costs",
    "goal_mask",
    "move_mask",
]
