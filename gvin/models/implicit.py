"""Implicit VIN and DT-VIN: the planners' value iteration solved as a fixed point (Zhao et al., 2023)."""
from __future__ import annotations

from torch_geometric.data import Data

from gvin._checks import positive_int
from gvin.models.base import PlannerOutput
from gvin.models.dtvin import DTVIN
from gvin.models.vin import VIN
from gvin.nn.implicit import FixedPoint, implicit_value_iteration

IMPLICIT_GAMMA = 0.99
"""Default discount of the implicit planners: ``< 1`` so the Bellman operator contracts,
close to 1 so values still tell paths of a few hundred moves apart in float32."""


class ImplicitPlanner:
    """Mixin: plan by solving ``V* = max_a(R + γ T(V*))`` instead of unrolling ``K`` layers.

    ``num_iterations`` is the forward solver's iteration limit (``fixed_point.f_max_iter``
    overrides it), so ``model(data, num_iterations=K)`` plans with a larger budget
    than training used. The output carries ``info``, a
    :class:`~gvin.nn.implicit.FixedPointInfo` whose ``backward`` is filled by
    ``backward()``. There are no intermediate layers (no highway loss).
    """

    fixed_point: FixedPoint

    def _use_fixed_point(self, fixed_point: FixedPoint | dict | None) -> None:
        if isinstance(fixed_point, dict):  # as saved in a checkpoint's model arguments
            fixed_point = FixedPoint(**fixed_point)
        if fixed_point is not None and not isinstance(fixed_point, FixedPoint):
            raise TypeError(f"fixed_point must be a gvin.nn.FixedPoint or a dict of its fields, got {type(fixed_point).__name__}")
        self.fixed_point = fixed_point or FixedPoint()
        if not 0 <= self.gamma < 1:
            raise ValueError(
                f"an implicit planner needs gamma in [0, 1) so that its Bellman operator contracts, got {self.gamma}"
            )

    def forward(self, data: Data, num_iterations: int | None = None, intermediate=(), layer_loss=None) -> PlannerOutput:
        """Plan on ``data`` (a graph or a ``Batch``) with at most ``num_iterations`` forward solver steps."""
        if tuple(intermediate) or layer_loss is not None:
            raise ValueError("an implicit planner has no intermediate layers (no highway loss): it solves a fixed point")
        graph = self.read_graph(data)
        max_iter = positive_int(self.num_iterations if num_iterations is None else num_iterations, "num_iterations")
        reward, transition = self.mdp(graph)
        q, v, info = implicit_value_iteration(
            reward, transition, self.gamma, self.fixed_point, max_iter, batch=getattr(data, "batch", None)
        )
        return PlannerOutput(self.policy(graph, q, v), q, v, info=info)


class ImplicitVIN(ImplicitPlanner, VIN):
    """:class:`~gvin.models.VIN` with implicit value iteration (see :class:`ImplicitPlanner`).

    VIN's transition kernel is free, so the operator contracts only when its weights
    stay small: watch ``out.info`` (or use ``FixedPoint(strict=True)``).

    Args:
        fixed_point: solvers, limits and tolerances (:class:`~gvin.nn.FixedPoint`, or a dict of its fields).
        gamma: discount in ``[0, 1)`` (default 0.99).
        num_iterations: forward solver iteration limit (default 200).
        **kwargs: the arguments of :class:`~gvin.models.VIN`.
    """

    def __init__(self, *args, fixed_point: FixedPoint | dict | None = None, gamma: float = IMPLICIT_GAMMA,
                 num_iterations: int = 200, **kwargs):
        super().__init__(*args, gamma=gamma, num_iterations=num_iterations, **kwargs)
        self._use_fixed_point(fixed_point)


class ImplicitDTVIN(ImplicitPlanner, DTVIN):
    """:class:`~gvin.models.DTVIN` with implicit value iteration (see :class:`ImplicitPlanner`).

    DT-VIN's transitions are a softmax over each node's out-edges, so with ``γ < 1``
    the operator is a max-norm contraction: the fixed point exists and is unique.

    Args:
        fixed_point: solvers, limits and tolerances (:class:`~gvin.nn.FixedPoint`, or a dict of its fields).
        gamma: discount in ``[0, 1)`` (default 0.99).
        num_iterations: forward solver iteration limit (default 200).
        **kwargs: the arguments of :class:`~gvin.models.DTVIN`.
    """

    def __init__(self, *args, fixed_point: FixedPoint | dict | None = None, gamma: float = IMPLICIT_GAMMA,
                 num_iterations: int = 200, **kwargs):
        super().__init__(*args, gamma=gamma, num_iterations=num_iterations, **kwargs)
        self._use_fixed_point(fixed_point)
