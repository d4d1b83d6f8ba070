"""Conv reference planners on 2-D grids: the oracles the graph planners are tested against.

* :class:`GridVIN`, :class:`GridDTVIN`, :class:`GridGPPN`: plain ``Conv2d`` /
  ``F.unfold`` / ConvLSTM implementations on ``x [B, C, H, W]``, returning a
  :class:`GridPlannerOutput` (policies ``[B, M, H, W]`` over the moves
  ``gvin.move_offsets(2, connectivity)``).
* :func:`grid_from_graph` ports a graph model's weights into its reference;
  :func:`grid_to_graph_state` maps them (or their gradients) back;
  :func:`node_values_to_grid` / :func:`edge_values_to_grid` put graph tensors
  onto the grid layout for comparison.
"""
from gvin.grid.dtvin import GridDTVIN
from gvin.grid.gppn import GridGPPN
from gvin.grid.layout import GridPlannerOutput, GridPolicyHead
from gvin.grid.porting import edge_values_to_grid, grid_from_graph, grid_to_graph_state, node_values_to_grid
from gvin.grid.vin import GridVIN

__all__ = [
    "GridVIN",
    "GridDTVIN",
    "GridGPPN",
    "GridPlannerOutput",
    "GridPolicyHead",
    "grid_from_graph",
    "grid_to_graph_state",
    "node_values_to_grid",
    "edge_values_to_grid",
]
