"""Building blocks: the value-iteration operator, transitions, policy heads."""
from gvin.nn.edge_geometry_conv import EdgeGeometryConv, EdgeMLP
from gvin.nn.edge_kernels import EdgeKernels, edge_values
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.policy import HEAD_INPUTS, EdgePolicyHead, GeometricPolicyHead
from gvin.nn.transitions import DynamicTransition, GeometricDynamicTransition
from gvin.nn.softmax import masked_log_softmax, segment_log_softmax
from gvin.nn.stencil import Stencil, build_stencil
from gvin.nn.neighbour_table import NeighbourTable, neighbour_table
from gvin.nn.rows import gather_rows, scatter_rows
from gvin.nn.implicit import (
    ConvergenceError,
    ConvergenceWarning,
    FixedPoint,
    FixedPointInfo,
    implicit_value_iteration,
)
from gvin.nn.solvers import SOLVERS, SolverInfo, register_solver, solve
from gvin.nn.bellman import EdgeTransition, StencilTransition, Transition, backup_actions_first, bellman_backup
from gvin.nn.value_iteration import value_iteration

__all__ = [
    "EdgeTypeConv",
    "EdgeGeometryConv",
    "EdgeMLP",
    "EdgeKernels",
    "edge_values",
    "EdgePolicyHead",
    "GeometricPolicyHead",
    "HEAD_INPUTS",
    "DynamicTransition",
    "GeometricDynamicTransition",
    "masked_log_softmax",
    "segment_log_softmax",
    "Stencil",
    "build_stencil",
    "NeighbourTable",
    "neighbour_table",
    "gather_rows",
    "scatter_rows",
    "EdgeTransition",
    "StencilTransition",
    "Transition",
    "bellman_backup",
    "backup_actions_first",
    "value_iteration",
    "FixedPoint",
    "FixedPointInfo",
    "ConvergenceError",
    "ConvergenceWarning",
    "implicit_value_iteration",
    "SOLVERS",
    "SolverInfo",
    "register_solver",
    "solve",
]
