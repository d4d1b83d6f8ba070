r"""Implicit value iteration: the Bellman fixed point and its implicit gradient (DEQ-style).

The forward pass solves

.. math::
    V^* = f(V^*) = \max_a \big(R + \gamma\, T(V^*)\big)_{:, a}

with a solver from :mod:`gvin.nn.solvers` under ``torch.no_grad()``. With ``γ < 1``
and a transition whose rows have absolute sums ``≤ 1`` (DT-VIN's softmax) ``f``
is a contraction in the max norm, so the fixed point exists and the solvers
converge; with other weights (VIN's free kernels) convergence is not
guaranteed and is reported, never assumed.

The backward pass never unrolls ``f``. With ``a^*`` the arg-max at ``V^*`` and
``J = ∂f/∂V^* = γ\,T_{a^*}`` (the rows of ``T`` at the chosen actions), the
implicit function theorem gives, for ``g = ∂ℓ/∂V^*``,

.. math::
    w = g + J^T w, \qquad
    \frac{∂ℓ}{∂R} = w\, e_{a^*}, \qquad
    \frac{∂ℓ}{∂θ_T} = \gamma\, \frac{∂}{∂θ_T}\Big[\sum_s w_s\, T(V^*)[s, a^*_s]\Big],

so ``w`` is solved by a solver too (``b_solver``), or approximated by the
*phantom gradient* (``b_solver="phantom"``): the gradient of ``k`` damped steps
``V ← (1-τ)V + τ f(V)`` from ``V^*``, i.e.
``w ≈ τ Σ_{j<k} ((1-τ)I + τJ^T)^j g``. ``J^T w`` and ``∂/∂θ_T`` are the
transition's own VJPs (:meth:`~gvin.nn.EdgeTransition.argmax_transpose`,
:meth:`~gvin.nn.EdgeTransition.vjp_argmax`), the ones the compact unrolled
backward of :mod:`gvin.nn.deep` uses: no autograd graph of ``f`` is built.

:func:`implicit_value_iteration` returns ``Q^* = R + γ T(V^*)`` (attached to the
graph through ``R``, ``T`` and ``V^*``) and ``V^* = \max_a Q^*``, like the
unrolled :func:`~gvin.nn.value_iteration`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from gvin import _checks as check
from gvin.nn.solvers import SOLVERS, SolverInfo, solve
from gvin.nn.bellman import Transition, backup_actions_first, check_transition

BACKWARD_SOLVERS = ("phantom",)
"""Backward choices besides the forward solvers of :data:`gvin.nn.solvers.SOLVERS`."""


class ConvergenceError(RuntimeError):
    """A fixed-point solve did not reach its tolerance and the settings ask for strictness."""


class ConvergenceWarning(UserWarning):
    """A fixed-point solve did not reach its tolerance; its best iterate was used."""


@dataclass
class FixedPoint:
    """How an implicit planner solves and differentiates its fixed point (torchdeq's names).

    Attributes:
        f_solver: forward solver, a name in :data:`gvin.nn.solvers.SOLVERS`.
        f_max_iter: forward iteration limit (``None``: the planner's ``num_iterations``).
        f_tol: forward tolerance on the residual chosen by ``f_stop_mode``.
        b_solver: backward solver name, or ``"phantom"``.
        b_max_iter: backward iteration limit (Zhao et al. found ~15 Anderson steps enough).
        b_tol: backward tolerance.
        f_stop_mode: the forward residual compared with ``f_tol``: ``"rel"``
            (``‖f(x) - x‖∞ / ‖f(x)‖∞``) or ``"abs"`` (``‖f(x) - x‖∞``).
        b_stop_mode: the same for the backward solve (``"rel"`` by default: a
            loss averaged over many nodes has tiny absolute gradients).
        phantom_steps: ``k`` of the phantom gradient.
        tau: damping ``τ`` of the phantom gradient, in ``(0, 1]``.
        strict: raise :class:`ConvergenceError` when a solve misses its
            tolerance (default: a :class:`ConvergenceWarning`, and the info record).
    """

    f_solver: str = "anderson"
    f_max_iter: int | None = None
    f_tol: float = 1e-4
    b_solver: str = "anderson"
    b_max_iter: int = 30
    b_tol: float = 1e-4
    f_stop_mode: str = "rel"
    b_stop_mode: str = "rel"
    phantom_steps: int = 5
    tau: float = 0.5
    strict: bool = False

    def __post_init__(self) -> None:
        if self.f_solver not in SOLVERS:
            raise ValueError(f"unknown forward solver {self.f_solver!r}; choose one of {sorted(SOLVERS)}")
        if self.b_solver not in SOLVERS and self.b_solver not in BACKWARD_SOLVERS:
            choices = sorted(SOLVERS) + list(BACKWARD_SOLVERS)
            raise ValueError(f"unknown backward solver {self.b_solver!r}; choose one of {choices}")
        if self.f_max_iter is not None:
            check.positive_int(self.f_max_iter, "f_max_iter")
        check.positive_int(self.b_max_iter, "b_max_iter")
        check.positive_int(self.phantom_steps, "phantom_steps")
        for name in ("f_tol", "b_tol"):
            if not check.real(getattr(self, name), name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < check.real(self.tau, "tau") <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau!r}")
        for name in ("f_stop_mode", "b_stop_mode"):
            if getattr(self, name) not in ("abs", "rel"):
                raise ValueError(f"{name} must be 'abs' or 'rel', got {getattr(self, name)!r}")
        check.flag(self.strict, "strict")


@dataclass
class FixedPointInfo:
    """What the solves of one call did; ``backward`` is filled when the backward pass runs.

    Attributes:
        forward: the forward solve's :class:`~gvin.nn.solvers.SolverInfo`
            (residual traces are maxima over the whole batch).
        backward: the backward solve's info (``None`` before ``backward()``,
            or for the phantom gradient, which has no tolerance).
        graph_residual: ``[B]`` absolute forward residual ``max |f(V*) - V*|`` per
            graph of the batch (``[1]`` for a single graph).
    """

    forward: SolverInfo | None = None
    backward: SolverInfo | None = None
    graph_residual: Tensor | None = None


def _report(info: SolverInfo, what: str, strict: bool) -> None:
    if info.converged:
        return
    message = (
        f"the {what} fixed-point solve ({info.solver}) stopped after {info.steps} steps at "
        f"{info.stop_mode} residual {info.best_residual:.3g}, "
        f"above its tolerance {info.tol:.3g}; its best iterate was used"
    )
    if strict:
        raise ConvergenceError(message + " (strict=True)")
    warnings.warn(message, ConvergenceWarning, stacklevel=4)


def bellman_operator(reward: Tensor, transition: Transition, gamma: float):
    """``f(V) = max_a (R + γ T(V))``, ``[N] → [N]`` (call it under ``no_grad`` for solves); a Bellman
    backup in the ``[A, N]`` layout, so a transition on a neighbour table sweeps its table."""
    reward_t = reward.T.contiguous()
    return lambda values: backup_actions_first(values, reward_t, transition, gamma)[1]


class _ImplicitFixedPoint(torch.autograd.Function):
    """``(R, weight) → V*``; the backward pass solves the adjoint system (see the module docstring)."""

    @staticmethod
    def forward(ctx, reward: Tensor, weight: Tensor, transition: Transition, gamma: float,
                settings: FixedPoint, max_iter: int, info: FixedPointInfo) -> Tensor:
        transition = transition.with_weight(weight)
        operator = bellman_operator(reward, transition, gamma)
        values, info.forward = solve(
            operator, reward.new_zeros(reward.shape[0]), settings.f_solver,
            max_iter=max_iter, tol=settings.f_tol, stop_mode=settings.f_stop_mode,
        )
        _report(info.forward, "forward", settings.strict)
        action = (reward + gamma * transition(values)).argmax(dim=-1)
        ctx.save_for_backward(weight, values, action)
        ctx.transition = transition.with_weight(weight)  # fresh: without the layouts the solve made
        ctx.gamma, ctx.settings, ctx.info = gamma, settings, info
        ctx.reward_shape = reward.shape
        return values

    @staticmethod
    def backward(ctx, grad_values: Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("second-order gradients through implicit value iteration are not supported")
        weight, values, action = ctx.saved_tensors
        transition, gamma, settings = ctx.transition.with_weight(weight), ctx.gamma, ctx.settings
        transpose = transition.argmax_transpose(action)
        adjoint = lambda w: grad_values + gamma * transpose(w)  # noqa: E731
        if settings.b_solver == "phantom":
            w = _phantom(grad_values, adjoint, settings.phantom_steps, settings.tau)
        else:
            w, ctx.info.backward = solve(
                adjoint, grad_values, settings.b_solver,
                max_iter=settings.b_max_iter, tol=settings.b_tol, stop_mode=settings.b_stop_mode,
            )
            _report(ctx.info.backward, "backward", settings.strict)
        grad_reward = w.new_zeros(ctx.reward_shape).scatter_(1, action.unsqueeze(-1), w.unsqueeze(-1))
        grad_weight = torch.zeros_like(weight)
        transition.vjp_argmax(values, gamma * w, action, grad_weight)
        return grad_reward, grad_weight, None, None, None, None, None


def _phantom(grad: Tensor, adjoint, steps: int, tau: float) -> Tensor:
    """``τ Σ_{j<k} ((1-τ)I + τJ^T)^j g``: the adjoint of ``k`` damped steps from the fixed point."""
    total, u = torch.zeros_like(grad), grad
    for _ in range(steps):
        total = total + tau * u
        u = (1 - tau) * u + tau * (adjoint(u) - grad)  # adjoint(u) - g = J^T u
    return total


def implicit_value_iteration(
    reward: Tensor,
    transition: Transition,
    gamma: float,
    settings: FixedPoint | None = None,
    max_iter: int | None = None,
    info: FixedPointInfo | None = None,
    batch: Tensor | None = None,
) -> tuple[Tensor, Tensor, FixedPointInfo]:
    """The Bellman fixed point of ``(R, T, γ)`` with an implicit backward pass.

    Args:
        reward: ``R [N, A]`` (float32 or float64).
        transition: see :class:`~gvin.nn.Transition`.
        gamma: discount in ``[0, 1)``: the solvers need a contraction.
        settings: solvers, limits and tolerances (default :class:`FixedPoint`).
        max_iter: forward iteration limit (default ``settings.f_max_iter``, else 100).
        info: a record to fill (a new one by default).
        batch: ``[N]`` graph of each node, for per-graph residuals.

    Returns:
        ``(Q* [N, A], V* [N], info)``; ``info.backward`` is filled by ``backward()``.
    """
    settings = settings or FixedPoint()
    if not isinstance(settings, FixedPoint):
        raise TypeError(f"settings must be a FixedPoint, got {type(settings).__name__}")
    gamma = check.real(gamma, "gamma")
    if not 0 <= gamma < 1:
        raise ValueError(
            f"implicit value iteration needs gamma in [0, 1) so that the Bellman operator contracts, got {gamma}"
        )
    check.tensor(reward, "reward")
    if reward.dim() != 2:
        raise ValueError(f"reward must be [N, A], got shape {tuple(reward.shape)}")
    if reward.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"implicit value iteration runs in float32 or float64, got {reward.dtype} (low precision)")
    max_iter = check.positive_int(max_iter if max_iter is not None else settings.f_max_iter or 100, "max_iter")
    info = info if info is not None else FixedPointInfo()
    check_transition(reward, transition)
    values = _ImplicitFixedPoint.apply(reward, transition.weight, transition, gamma, settings, max_iter, info)
    q = reward + gamma * transition(values)
    info.graph_residual = graph_residual(q.max(dim=-1).values - values, batch)
    return q, q.max(dim=-1).values, info


def graph_residual(difference: Tensor, batch: Tensor | None) -> Tensor:
    """``[B]`` ``max |f(z) - z|`` per graph from the ``[N, ...]`` rows of ``f(z) - z``."""
    with torch.no_grad():
        residual = difference.abs().reshape(difference.shape[0], -1).amax(dim=1)
        graph = batch if batch is not None else torch.zeros_like(residual, dtype=torch.long)
        size = int(graph.max()) + 1 if graph.numel() else 1
        return residual.new_zeros(size).scatter_reduce(0, graph, residual, "amax")


def implicit_fixed_point(
    step,
    z0: Tensor,
    settings: FixedPoint | None = None,
    max_iter: int | None = None,
    info: FixedPointInfo | None = None,
    batch: Tensor | None = None,
) -> tuple[Tensor, FixedPointInfo]:
    r"""The fixed point ``z* = step(z*)`` of any differentiable ``step``, with an implicit backward.

    For updates without a transition VJP of their own (GPPN's gated cell): the
    forward solve runs under ``no_grad``; the result is ``step(z*)`` attached to the
    parameters of ``step``, and a hook on it replaces the incoming gradient ``g``
    by the solution ``w`` of ``w = g + J^T w`` (``J = ∂step/∂z`` at ``z*``,
    ``J^T w`` by one autograd VJP per iteration), or by the phantom gradient.

    Args:
        step: ``z [*S] → z [*S]`` (float32 or float64).
        z0: the starting point ``[*S]``.
        settings, max_iter, info: as in :func:`implicit_value_iteration`.
        batch: ``[S_0]`` graph of each row of ``z`` (rows are nodes), for per-graph residuals.

    Returns:
        ``(z [*S], info)``; ``info.backward`` is filled by ``backward()``.
    """
    settings = settings or FixedPoint()
    check.tensor(z0, "z0")
    max_iter = check.positive_int(max_iter if max_iter is not None else settings.f_max_iter or 100, "max_iter")
    info = info if info is not None else FixedPointInfo()
    with torch.no_grad():
        z_star, info.forward = solve(step, z0.detach(), settings.f_solver, max_iter=max_iter,
                                     tol=settings.f_tol, stop_mode=settings.f_stop_mode)
    _report(info.forward, "forward", settings.strict)
    if not torch.is_grad_enabled():
        z = step(z_star)
    else:
        z_star = z_star.detach().requires_grad_()
        z = step(z_star)
        if z.requires_grad:
            _register_adjoint(z, z_star, settings, info)
    info.graph_residual = graph_residual(z.detach() - z_star.detach(), batch)
    return z, info


def _register_adjoint(z: Tensor, z_star: Tensor, settings: FixedPoint, info: FixedPointInfo) -> None:
    busy = False

    def adjoint_hook(grad: Tensor) -> Tensor | None:
        nonlocal busy
        if busy:  # the VJPs below run through z: leave their gradients alone
            return None
        busy = True
        try:
            return _adjoint(grad)
        finally:
            busy = False

    def _adjoint(grad: Tensor) -> Tensor:
        def transpose(w: Tensor) -> Tensor:  # J^T w
            return torch.autograd.grad(z, z_star, w, retain_graph=True)[0]

        adjoint = lambda w: grad + transpose(w)  # noqa: E731
        if settings.b_solver == "phantom":
            return _phantom(grad, adjoint, settings.phantom_steps, settings.tau)
        w, info.backward = solve(adjoint, grad, settings.b_solver, max_iter=settings.b_max_iter,
                                 tol=settings.b_tol, stop_mode=settings.b_stop_mode)
        _report(info.backward, "backward", settings.strict)
        return w

    z.register_hook(adjoint_hook)
