"""gvin: differentiable planners (VIN, DT-VIN, GPPN) on graphs."""
import warnings as _warnings

# torch_geometric imports torch.jit helpers that newer torch deprecates; the warning is noise.
_warnings.filterwarnings("ignore", message=r".*torch\.jit.*")
_warnings.filterwarnings("ignore", message=r".*TorchScript.*")

from gvin.graphs import (  # noqa: E402
    from_grid,
    from_networkx,
    grid_stencil,
    move_offsets,
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

__version__ = "0.1.0"
__all__ = [
    "from_grid",
    "to_grid",
    "grid_stencil",
    "move_offsets",
    "from_networkx",
    "to_networkx",
    "shortest_path_distances",
    "optimal_edges",
    "shortest_path",
    "value_iteration",
    "ValueIterationResult",
    "__version__",
]
