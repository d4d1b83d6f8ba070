"""Environments → planning graphs (:class:`torch_geometric.data.Data`)."""
from gvin.graphs.cspace import (
    Arm,
    Box,
    Circle,
    arm_collisions,
    cspace_occupancy,
    from_cspace,
    random_obstacles,
    workspace_occupancy,
)
from gvin.graphs.grid import from_grid, grid_free_mask, grid_stencil, move_offsets, to_grid
from gvin.graphs.networkx import from_networkx, to_networkx
from gvin.graphs.roadmap import probabilistic_roadmap
from gvin.graphs.terrain import from_terrain, jacksboro_dem, load_dem, random_terrain

__all__ = [
    "from_grid",
    "to_grid",
    "grid_stencil",
    "move_offsets",
    "grid_free_mask",
    "from_networkx",
    "to_networkx",
    "probabilistic_roadmap",
    "from_terrain",
    "random_terrain",
    "jacksboro_dem",
    "load_dem",
    "Arm",
    "Circle",
    "Box",
    "arm_collisions",
    "cspace_occupancy",
    "from_cspace",
    "random_obstacles",
    "workspace_occupancy",
]
