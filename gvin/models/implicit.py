"""Implicit VIN, DT-VIN and GPPN: the planners' recurrences solved as fixed points (Zhao et al., 2023)."""
from __future__ import annotations

from torch_geometric.data import Data

from gvin._checks import positive_int
import torch
from torch import Tensor

from gvin.models.base import GraphInputs, PlannerOutput, ValueIterationPlanner
from gvin.models.dtvin import DTVIN
from gvin.models.gppn import GPPN
from gvin.models.vin import VIN
from gvin.nn.implicit import FixedPoint, FixedPointInfo, implicit_fixed_point, implicit_value_iteration

IMPLICIT_GAMMA = 0.99
"""Default discount of the implicit planners: ``< 1`` so the Bellman operator contracts,
close to 1 so values still tell paths of a few hundred moves apart in float32."""


class ImplicitPlanner:
    """Mixin: plan by solving ``V* = max_a(R + γ T(V*))`` instead of unrolling ``K`` layers.

    ``num_iterations`` is the forward solver's iteration limit (``fixed_point.f_max_iter``,
    when set, replaces it), and ``model(data, num_iterations=K)`` plans with ``K``
    steps at most, e.g. a larger budget than training used. The output carries ``info``, a
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
        if isinstance(self, ValueIterationPlanner) and not 0 <= self.gamma < 1:
            raise ValueError(
                f"an implicit planner needs gamma in [0, 1) so that its Bellman operator contracts, got {self.gamma}"
            )

    def forward(self, data: Data, num_iterations: int | None = None, intermediate=(), layer_loss=None) -> PlannerOutput:
        """Plan on ``data`` (a graph or a ``Batch``) with at most ``num_iterations`` forward solver steps."""
        if tuple(intermediate) or layer_loss is not None:
            raise ValueError("an implicit planner has no intermediate layers (no highway loss): it solves a fixed point")
        graph = self.read_graph(data)
        default = self.fixed_point.f_max_iter or self.num_iterations
        max_iter = positive_int(default if num_iterations is None else num_iterations, "num_iterations")
        q, v, info = self.solve_fixed_point(graph, max_iter, getattr(data, "batch", None))
        return PlannerOutput(self.policy(graph, q, v), q, v, info=info)

    def solve_fixed_point(self, graph: GraphInputs, max_iter: int, batch: Tensor | None) -> tuple[Tensor, Tensor, FixedPointInfo]:
        """``(q, v, info)`` at the fixed point (value-iteration planners: their latent MDP's)."""
        reward, transition = self.mdp(graph)
        return implicit_value_iteration(reward, transition, self.gamma, self.fixed_point, max_iter, batch=batch)


class _ImplicitValueIteration(ImplicitPlanner):
    """The constructor the implicit value-iteration planners share: ``γ < 1``, a forward budget."""

    def __init__(self, *args, fixed_point: FixedPoint | dict | None = None, gamma: float = IMPLICIT_GAMMA,
                 num_iterations: int = 200, **kwargs):
        super().__init__(*args, gamma=gamma, num_iterations=num_iterations, **kwargs)
        self._use_fixed_point(fixed_point)


class ImplicitVIN(_ImplicitValueIteration, VIN):
    """:class:`~gvin.models.VIN` with implicit value iteration (see :class:`ImplicitPlanner`).

    VIN's transition kernel is free, so the operator contracts only when its weights
    stay small: watch ``out.info`` (or use ``FixedPoint(strict=True)``).

    Args:
        fixed_point: solvers, limits and tolerances (:class:`~gvin.nn.FixedPoint`, or a dict of its fields).
        gamma: discount in ``[0, 1)`` (default 0.99).
        num_iterations: forward solver iteration limit (default 200).
        **kwargs: the arguments of :class:`~gvin.models.VIN`.
    """


class ImplicitDTVIN(_ImplicitValueIteration, DTVIN):
    """:class:`~gvin.models.DTVIN` with implicit value iteration (see :class:`ImplicitPlanner`).

    DT-VIN's transitions are a softmax over each node's out-edges, so with ``γ < 1``
    the operator is a max-norm contraction: the fixed point exists and is unique.

    Args:
        fixed_point: solvers, limits and tolerances (:class:`~gvin.nn.FixedPoint`, or a dict of its fields).
        gamma: discount in ``[0, 1)`` (default 0.99).
        num_iterations: forward solver iteration limit (default 200).
        **kwargs: the arguments of :class:`~gvin.models.DTVIN`.
    """


class ImplicitGPPN(ImplicitPlanner, GPPN):
    r""":class:`~gvin.models.GPPN` whose recurrence is solved as a fixed point (ID-GPPN).

    .. math::
        z = \mathrm{conv}_\tau(x),\quad
        u[s] = b + \sum_{e=(s,s')} \big(w_{\tau(e)}^\top h^*[s'] + v_{\tau(e)}^\top z[s']\big),\quad
        (h^*, c^*) = \mathrm{LSTMCell}(u, (h^*, c^*))

    The maze enters every step through ``v`` (DEQ input injection): without it the
    fixed point would not depend on the maze, only GPPN's initial state does. The
    solve starts from zeros, so it is built without GPPN's ``h0`` / ``c0`` convs. The
    backward pass takes one autograd VJP of the cell per iteration
    (:func:`~gvin.nn.implicit.implicit_fixed_point`). The gated update is not
    guaranteed to contract: watch ``out.info``.

    Args:
        fixed_point: solvers, limits and tolerances (:class:`~gvin.nn.FixedPoint`, or a dict of its fields).
        num_iterations: forward solver iteration limit (default 200).
        **kwargs: the arguments of :class:`~gvin.models.GPPN`.
    """

    def __init__(self, *args, fixed_point: FixedPoint | dict | None = None, num_iterations: int = 200, **kwargs):
        super().__init__(*args, num_iterations=num_iterations, initial_state=False, **kwargs)
        self.inject = self.edge_kernels.conv(self.cell.hidden_size, 1, bias=False)
        self._use_fixed_point(fixed_point)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.inject.reset_parameters()

    def solve_fixed_point(self, graph: GraphInputs, max_iter: int, batch: Tensor | None) -> tuple[Tensor, Tensor, FixedPointInfo]:
        hidden = self.cell.hidden_size
        injected = self.inject(self.encoder(graph.x, *graph.conv_args), *graph.conv_args)  # [N, 1]
        lstm = isinstance(self.cell, torch.nn.LSTMCell)
        messages = self.messages(graph)

        def step(state: Tensor) -> Tensor:
            h = state[:, :hidden]
            u = messages(h) + injected
            if lstm:
                return torch.cat(self.cell(u, (h, state[:, hidden:])), dim=1)
            return self.cell(u, h)

        width = 2 * hidden if lstm else hidden
        state, info = implicit_fixed_point(
            step, injected.new_zeros(injected.shape[0], width), self.fixed_point, max_iter, batch=batch
        )
        h = state[:, :hidden]
        return h, h.new_zeros(h.shape[0]), info
