"""gvin: differentiable planners (VIN, DT-VIN, GPPN) on graphs."""
import warnings as _warnings

# torch_geometric imports torch.jit helpers that newer torch deprecates; the warning is noise.
_warnings.filterwarnings("ignore", message=r".*torch\.jit.*")
_warnings.filterwarnings("ignore", message=r".*TorchScript.*")

from gvin.graphs import (  # noqa: E402
    Arm,
    Box,
    Circle,
    cspace_occupancy,
    from_cspace,
    random_obstacles,
    workspace_occupancy,
    from_grid,
    from_networkx,
    probabilistic_roadmap,
    from_terrain,
    grid_stencil,
    jacksboro_dem,
    load_dem,
    move_offsets,
    random_terrain,
    to_grid,
    to_networkx,
)
from gvin.planners import (  # noqa: E402
    ValueIterationResult,
    optimal_edges,
    shortest_path,
    shortest_path_distances,
    value_iteration,
)

from gvin.maps import GridMap, read_map  # noqa: E402

# The workflow names sit on top of the models and the trainer: they load on first use, so that
# `import gvin` (and every `gvin.graphs` / `gvin.datasets` import) stays free of them.
_LAZY = {"viz": "gvin.viz", "MapPlan": "gvin.rollout", "TrainedPlanner": "gvin.rollout",
         "load_planner": "gvin.rollout", "plan_on_map": "gvin.rollout", "from_osm": "gvin.graphs.streets"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if name == "viz" else getattr(module, name)
    raise AttributeError(f"module 'gvin' has no attribute {name!r}")

__version__ = "0.1.0"
__all__ = [
    "from_grid",
    "to_grid",
    "grid_stencil",
    "move_offsets",
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
    "cspace_occupancy",
    "from_cspace",
    "random_obstacles",
    "workspace_occupancy",
    "shortest_path_distances",
    "optimal_edges",
    "shortest_path",
    "value_iteration",
    "ValueIterationResult",
    "read_map",
    "GridMap",
    "load_planner",
    "from_osm",
    "TrainedPlanner",
    "plan_on_map",
    "MapPlan",
    "viz",
    "__version__",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
