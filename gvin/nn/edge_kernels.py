"""One place that decides how a planner's layers weight edges: by edge type (grids) or by edge geometry.

A planner asks an :class:`EdgeKernels` for its layers (``conv``, ``kernel``,
``policy_head``, ``dynamic_transition``) and never branches on the kind of graph:

* **typed** (``num_edge_types=T``): every layer indexes a table by ``edge_type [E]``
  (a grid conv on :func:`gvin.from_grid` graphs);
* **geometric** (``edge_dim=D``): every layer computes its weights from
  ``edge_attr [E, D]`` with a small MLP (GVIN-style; any graph, e.g. from
  :func:`gvin.from_networkx`).

Typed layers take ``(edge_index, edge_type, stencil)``, geometric ones
``(edge_index, edge_attr)``: ``GraphInputs.conv_args`` of the models supplies the right ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gvin._checks import positive_int
from gvin.nn.edge_geometry_conv import EdgeGeometryConv, EdgeMLP
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.policy import DEFAULT_HEAD, SUCCESSOR_INIT, EdgePolicyHead, GeometricPolicyHead
from gvin.nn.transitions import DynamicTransition, GeometricDynamicTransition


class _DefaultEdgeTypes(int):
    """The default ``num_edge_types`` (9, the 3×3 stencil), used only when ``edge_dim`` is not given."""

    def __repr__(self) -> str:
        return "9"


DEFAULT_NUM_EDGE_TYPES: int = _DefaultEdgeTypes(9)

EdgeKernel = nn.Parameter | EdgeMLP


@dataclass(frozen=True)
class EdgeKernels:
    """Factory of edge-weighted layers, typed or geometric.

    Exactly one of ``num_edge_types`` and ``edge_dim`` must be given
    (``num_edge_types`` defaults to 9 when ``edge_dim`` is not given).

    Args:
        num_edge_types: ``T``: layers index tables by ``edge_type``.
        edge_dim: ``D``: layers compute weights from ``edge_attr [E, D]``.
        num_bases: geometric convs mix this many kernel matrices per edge.
        hidden: hidden width of the geometric edge MLPs (``0``: linear).

    Raises:
        ValueError: both or neither given, or a non-positive size.
    """

    num_edge_types: int | None = DEFAULT_NUM_EDGE_TYPES
    edge_dim: int | None = None
    num_bases: int = 8
    hidden: int = 32

    def __post_init__(self) -> None:
        types, dim = self.num_edge_types, self.edge_dim
        if isinstance(types, _DefaultEdgeTypes) and dim is not None:
            types = None
        if (types is None) == (dim is None):
            raise ValueError(
                "give exactly one of num_edge_types (edges indexed by data.edge_type) and edge_dim "
                f"(edge weights from data.edge_attr [E, edge_dim]); got num_edge_types={types!r}, edge_dim={dim!r}"
            )
        object.__setattr__(self, "num_edge_types", None if types is None else positive_int(types, "num_edge_types"))
        object.__setattr__(self, "edge_dim", None if dim is None else positive_int(dim, "edge_dim"))
        positive_int(self.num_bases, "num_bases")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 0:
            raise ValueError(f"hidden must be an int >= 0, got {self.hidden!r}")

    @property
    def typed(self) -> bool:
        return self.num_edge_types is not None

    def conv(
        self, in_channels: int, out_channels: int, bias: bool = True, slots: tuple[int, ...] | None = None
    ) -> EdgeTypeConv | EdgeGeometryConv:
        """``x [N, C_in] → [N, C_out]``, a sum over out-edges with per-edge weight matrices
        (typed: over the edge types ``slots`` only, if given)."""
        if self.typed:
            return EdgeTypeConv(in_channels, out_channels, self.num_edge_types, bias=bias, slots=slots)
        if slots is not None:
            raise ValueError("a geometric planner (edge_dim) has no edge types to restrict its encoder to")
        return EdgeGeometryConv(in_channels, out_channels, self.edge_dim, self.num_bases, self.hidden, bias=bias)

    def kernel(self, out_channels: int) -> EdgeKernel:
        """Per-edge weights ``[E, C]`` (read them with :func:`edge_values`).

        Typed: a ``[T, C]`` parameter table, initialised to zero. Geometric: an
        :class:`EdgeMLP` whose last layer starts at a tenth of the usual scale
        (near zero, so deep unrolls start stable, yet every weight gets a gradient).
        """
        if self.typed:
            return nn.Parameter(torch.zeros(self.num_edge_types, out_channels))
        return EdgeMLP(self.edge_dim, out_channels, self.hidden, output_gain=0.1)

    def policy_head(
        self, num_actions: int, successor_value: bool = True, head: str = DEFAULT_HEAD,
        successor_init: float = SUCCESSOR_INIT,
    ) -> EdgePolicyHead | GeometricPolicyHead:
        """Log-probabilities ``[E]`` over each node's moves from ``Q [N, A]`` (read as ``head`` says) and ``V [N]``."""
        if self.typed:
            return EdgePolicyHead(num_actions, self.num_edge_types, successor_value, head, successor_init=successor_init)
        return GeometricPolicyHead(num_actions, self.edge_dim, self.hidden, successor_value, head,
                                   successor_init=successor_init)

    def dynamic_transition(
        self, in_channels: int, num_actions: int, hidden_channels: int
    ) -> DynamicTransition | GeometricDynamicTransition:
        """DT-VIN's ``P [·, A]``, softmax-normalised over each node's out-edges."""
        if self.typed:
            return DynamicTransition(in_channels, self.num_edge_types, num_actions, hidden_channels)
        return GeometricDynamicTransition(
            in_channels, self.edge_dim, num_actions, hidden_channels, self.num_bases, self.hidden
        )


def edge_values(kernel: EdgeKernel, edge_feature: Tensor) -> Tensor:
    """``[E, C]`` weights of a :meth:`EdgeKernels.kernel`: ``kernel[edge_type]`` or ``kernel(edge_attr)``."""
    return kernel(edge_feature) if isinstance(kernel, nn.Module) else kernel[edge_feature]


def reset_kernel(kernel: EdgeKernel) -> None:
    """Re-initialise a :meth:`EdgeKernels.kernel` as it was built."""
    if isinstance(kernel, nn.Module):
        kernel.reset_parameters()
    else:
        with torch.no_grad():
            kernel.zero_()
