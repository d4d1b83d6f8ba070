r"""Fixed-point solvers for implicit (DEQ-style) planners, in torchdeq's shape.

A solver looks for :math:`x^\star = f(x^\star)` from a start :math:`x_0`, under
``torch.no_grad()``. The implicit planners (:mod:`gvin.nn.implicit`) call them
for the forward value iteration :math:`V^\star = \max_a (R + \gamma T V^\star)`
and for the backward linear system
:math:`w^\top = w^\top \partial f/\partial V^\star + \partial\ell/\partial V^\star`.

The whole tensor is ONE system
------------------------------
``x0`` and ``f(x)`` may have any shape (a value vector ``[N]``, a stack of LSTM
states ``[2, N, H]``, …); a solver flattens it and treats every entry as part of
one system. The residual of step ``k`` is the max norm over every entry,

.. math::
    r^{abs}_k = \lVert f(x_k) - x_k \rVert_\infty, \qquad
    r^{rel}_k = \frac{r^{abs}_k}{\lVert f(x_k) \rVert_\infty + 10^{-12}},

not a per-row statistic: torchdeq reads dim 0 as a batch of independent
problems (and uses the Euclidean norm per row); gvin does not, so one slowly
converging node keeps the whole solve running. ``stop_mode`` picks the residual
compared with ``tol``; the solve stops at the first step with ``r_k <= tol``.

What a solver returns
---------------------
``(z, info)``: ``z = f(x_k)`` at the step ``k`` with the lowest residual in
``stop_mode`` (the image of the best iterate, as torchdeq returns it; for a
contraction with modulus ``γ`` in the max norm,
:math:`\lVert z - x^\star\rVert_\infty \le \gamma\, r^{abs}_k / (1 - \gamma)`),
a tensor of ``x0``'s shape, dtype and device with no autograd graph, and a
:class:`SolverInfo`. Every step evaluates ``f`` once, so ``info.steps`` counts
evaluations of ``f``. Not converging within ``max_iter`` is reported
(``converged=False``), not raised. If ``f`` returns NaN or inf the solver stops
at once, ``info.diverged`` is set and ``z`` is the best finite image seen
(``x0`` itself if the first evaluation already failed): a solver never hands
back NaN in place of an answer.

One ``.item()``-like host sync per step reads the two residuals (a single
``tolist()`` of a 2-vector).

Solvers (:data:`SOLVERS`)
-------------------------
* ``"fixed_point"``: :math:`x_{k+1} = (1-\tau)\,x_k + \tau f(x_k)`, damping
  ``tau`` in (0, 1] (1: plain iteration). Converges linearly for a
  contraction: :math:`\lVert x_k - x^\star\rVert \le \gamma^k \lVert x_0 - x^\star\rVert`.
* ``"anderson"``: Anderson acceleration (Anderson 1965; Walker & Ni 2011) with
  memory ``m``. With the last :math:`n = \min(k, m)` evaluations
  :math:`F_i = f(x_i)`, :math:`G_i = F_i - x_i`, it solves the small
  least-squares problem

  .. math::
      \alpha = \arg\min_{\sum_i \alpha_i = 1} \Big\lVert \sum_i \alpha_i G_i \Big\rVert_2^2
               + \lambda \sum_i \alpha_i^2 \lVert G_i \rVert_2^2,

  i.e. :math:`(\mathcal G + \lambda\,\mathrm{diag}\,\mathcal G)\,w = \mathbf 1`,
  :math:`\alpha = w / \mathbf 1^\top w` with the Gram matrix
  :math:`\mathcal G_{ij} = G_i^\top G_j` (``n × n``, solved in float64), and mixes

  .. math::
      x_{k+1} = \beta \sum_i \alpha_i F_i + (1-\beta) \sum_i \alpha_i x_i.

  The Tikhonov term is *relative* (``lam`` times each column's own squared
  norm), so the mixing does not depend on the scale of the problem; torchdeq's
  ``lam`` is absolute, which swamps the Gram matrix once residuals are small. If
  the small system cannot be solved (a zero or non-finite Gram matrix), that
  step falls back to the plain step :math:`\alpha = e_{\text{newest}}`.
  For a linear map Anderson is a Krylov method (GMRES-like, Walker & Ni 2011),
  so it also finds *repelling* fixed points (``x ↦ 2x + 1`` gives ``-1``).
* ``"broyden"``: limited-memory "good" Broyden (Broyden 1965) on
  :math:`g(x) = f(x) - x`, as in Bai et al. (2019). It keeps an approximate
  inverse Jacobian :math:`B_k \approx (\partial g/\partial x)^{-1}`, starting at
  :math:`B_0 = -I` (so the first step is the plain fixed-point step), steps
  :math:`x_{k+1} = x_k - B_k g(x_k)` and updates, with
  :math:`s = x_{k+1} - x_k`, :math:`y = g(x_{k+1}) - g(x_k)`,

  .. math::
      B_{k+1} = B_k + \frac{(s - B_k y)\, s^\top B_k}{s^\top B_k y},

  stored as :math:`B = -I + \sum_j u_j v_j^\top` with at most ``m`` pairs (the
  oldest pair is dropped when full). No line search: the best iterate is kept.

References:
    D. G. Anderson, "Iterative procedures for nonlinear integral equations",
    J. ACM 12(4), 1965. H. F. Walker and P. Ni, "Anderson acceleration for
    fixed-point iterations", SIAM J. Numer. Anal. 49(4), 2011. C. G. Broyden,
    "A class of methods for solving nonlinear simultaneous equations",
    Math. Comp. 19, 1965. S. Bai, J. Z. Kolter and V. Koltun, "Deep Equilibrium
    Models", NeurIPS 2019. Z. Geng and J. Z. Kolter, "TorchDEQ: A Library for
    Deep Equilibrium Models", arXiv:2310.18605, 2023.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import Tensor

from gvin import _checks as check

__all__ = [
    "SolverInfo",
    "Solver",
    "SOLVERS",
    "STOP_MODES",
    "register_solver",
    "solve",
    "fixed_point",
    "anderson",
    "broyden",
]

STOP_MODES = ("abs", "rel")
REL_EPS = 1e-12
"""Added to ``||f(x)||_inf`` in the relative residual."""


@dataclass
class SolverInfo:
    """What a solve did. Traces have one entry per step (per evaluation of ``f``).

    Attributes:
        solver: registry name of the solver.
        steps: evaluations of ``f`` (``len(abs_trace)``).
        converged: the residual in ``stop_mode`` reached ``<= tol``.
        abs_trace: per step, ``||f(x_k) - x_k||_inf`` over every entry of the system.
        rel_trace: per step, ``abs / (||f(x_k)||_inf + 1e-12)``.
        tol: the tolerance.
        stop_mode: ``"abs"`` or ``"rel"``: the trace compared with ``tol`` and
            used to pick the best iterate.
        max_iter: the step limit.
        best_step: the step (1-based) whose image ``f(x_k)`` was returned; ``0``
            if ``x0`` itself was returned (the first evaluation failed).
        diverged: ``f`` returned NaN or inf (or the residual overflowed); the
            solve stopped there (the last trace entries are then NaN or inf).
    """

    solver: str
    steps: int
    converged: bool
    abs_trace: list[float]
    rel_trace: list[float]
    tol: float
    stop_mode: str
    max_iter: int = 0
    best_step: int = 0
    diverged: bool = False

    def _last(self, trace: list[float]) -> float:
        return trace[-1] if trace else math.inf

    def _best(self, trace: list[float]) -> float:
        return trace[self.best_step - 1] if self.best_step >= 1 else math.inf

    @property
    def abs_residual(self) -> float:
        """The last step's absolute residual (``inf`` if no step)."""
        return self._last(self.abs_trace)

    @property
    def rel_residual(self) -> float:
        """The last step's relative residual (``inf`` if no step)."""
        return self._last(self.rel_trace)

    @property
    def best_abs_residual(self) -> float:
        """The absolute residual of the step whose image was returned (``inf`` if none)."""
        return self._best(self.abs_trace)

    @property
    def best_residual(self) -> float:
        """The residual compared with ``tol`` (``stop_mode``'s) of the returned step."""
        return self.best_rel_residual if self.stop_mode == "rel" else self.best_abs_residual

    @property
    def best_rel_residual(self) -> float:
        """The relative residual of the step whose image was returned (``inf`` if none)."""
        return self._best(self.rel_trace)

    def as_dict(self) -> dict:
        """Plain fields and the four residual properties (for logs and checkpoints)."""
        out = asdict(self)
        out.update(
            abs_residual=self.abs_residual,
            rel_residual=self.rel_residual,
            best_abs_residual=self.best_abs_residual,
            best_rel_residual=self.best_rel_residual,
        )
        return out


Solver = Callable[..., "tuple[Tensor, SolverInfo]"]
"""``solver(f, x0, *, max_iter, tol, stop_mode, **options) -> (z, info)``."""


# --------------------------------------------------------------------------- checks


def _check_common(x0, max_iter, tol, stop_mode) -> tuple[int, float, str]:
    check.tensor(x0, "x0")
    if not x0.is_floating_point():
        raise TypeError(f"x0 must be a floating-point tensor (float32 or float64), got {x0.dtype}")
    if x0.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"fixed-point solvers refuse low precision: x0 is {x0.dtype}; residuals near the tolerance "
            "are below 16-bit resolution. Solve in float32 or float64 (x0.float())"
        )
    if x0.numel() == 0:
        raise ValueError(f"x0 is empty (shape {tuple(x0.shape)}): there is no system to solve")
    max_iter = check.positive_int(max_iter, "max_iter")
    tol = check.real(tol, "tol")
    if tol <= 0:
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    if stop_mode not in STOP_MODES:
        raise ValueError(f"stop_mode must be one of {STOP_MODES}, got {stop_mode!r}")
    return max_iter, tol, stop_mode


def _fraction(value, name: str) -> float:
    """A number in (0, 1]."""
    value = check.real(value, name)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return value


def _non_negative(value, name: str) -> float:
    value = check.real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


class _System:
    """``f`` on the flat view of ``x0``, with its output checked, and the bookkeeping of a solve."""

    def __init__(self, name: str, f, x0: Tensor, max_iter: int, tol: float, stop_mode: str):
        if not callable(f):
            raise TypeError(f"f must be callable, got {type(f).__name__}")
        self.name, self.f, self.shape = name, f, x0.shape
        self.dtype, self.device = x0.dtype, x0.device
        self.x0 = x0.detach()
        self.max_iter, self.tol, self.stop_mode = max_iter, tol, stop_mode
        self.abs_trace: list[float] = []
        self.rel_trace: list[float] = []
        self.best: Tensor | None = None
        self.best_value = math.inf
        self.best_step = 0
        self.converged = self.diverged = False

    def __call__(self, x: Tensor) -> Tensor:
        """``f`` on a flat ``[n]`` vector, returned flat."""
        out = self.f(x.view(self.shape))
        if not isinstance(out, Tensor):
            raise TypeError(f"f must return a tensor, got {type(out).__name__}")
        if out.shape != self.shape or out.dtype != self.dtype or out.device != self.device:
            raise ValueError(
                f"f must return a tensor like x0 ({self.dtype} {tuple(self.shape)} on {self.device}), "
                f"got {out.dtype} {tuple(out.shape)} on {out.device}"
            )
        return out.detach().reshape(-1)

    def record(self, fx: Tensor, g: Tensor) -> bool:
        """Record step ``k`` (``fx = f(x_k)``, ``g = fx - x_k``); ``True`` when the solve must stop."""
        stats = torch.stack((g.abs().amax(), fx.abs().amax())).tolist()  # the one host sync of a step
        abs_res = stats[0]
        rel_res = abs_res / (stats[1] + REL_EPS)
        self.abs_trace.append(abs_res)
        self.rel_trace.append(rel_res)
        step = len(self.abs_trace)
        if not (math.isfinite(abs_res) and math.isfinite(stats[1])):
            if step == 1 and not bool(torch.isfinite(self.x0).all()):
                raise ValueError("x0 has NaN or inf entries")
            self.diverged = True
            return True
        value = abs_res if self.stop_mode == "abs" else rel_res
        if value < self.best_value:
            self.best_value, self.best_step = value, step
            self.best = fx.clone()
        if value <= self.tol:
            self.converged = True
            return True
        return step >= self.max_iter

    def result(self) -> tuple[Tensor, SolverInfo]:
        z = self.x0.clone() if self.best is None else self.best.view(self.shape)
        info = SolverInfo(
            solver=self.name,
            steps=len(self.abs_trace),
            converged=self.converged,
            abs_trace=self.abs_trace,
            rel_trace=self.rel_trace,
            tol=self.tol,
            stop_mode=self.stop_mode,
            max_iter=self.max_iter,
            best_step=self.best_step,
            diverged=self.diverged,
        )
        return z, info


# --------------------------------------------------------------------------- solvers


@torch.no_grad()
def fixed_point(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    tau: float = 1.0,
) -> tuple[Tensor, SolverInfo]:
    r"""Damped fixed-point iteration :math:`x_{k+1} = (1-\tau) x_k + \tau f(x_k)`.

    Args:
        f: the map, ``x0``-shaped tensor → tensor of the same shape and dtype.
        x0: the start, any shape, float32 or float64.
        max_iter, tol, stop_mode: see :func:`solve`.
        tau: damping in (0, 1]; 1 is the plain iteration.

    Returns:
        ``(f(x_k*), info)`` for the best step ``k*`` (see the module docstring).
    """
    max_iter, tol, stop_mode = _check_common(x0, max_iter, tol, stop_mode)
    tau = _fraction(tau, "tau")
    system = _System("fixed_point", f, x0, max_iter, tol, stop_mode)
    x = system.x0.reshape(-1)
    while True:
        fx = system(x)
        g = fx - x
        if system.record(fx, g):
            break
        x = fx if tau == 1.0 else x + tau * g
    return system.result()


@torch.no_grad()
def anderson(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    m: int = 5,
    beta: float = 1.0,
    lam: float = 1e-4,
) -> tuple[Tensor, SolverInfo]:
    r"""Anderson acceleration with memory ``m`` (the math is in the module docstring).

    Memory: two ``[m, n]`` histories (``f(x_i)`` and ``f(x_i) - x_i``) in ``x0``'s dtype and a
    float64 ``[m, m]`` Gram matrix, updated by one ``[m, n] @ [n]`` product per step.

    Args:
        f, x0, max_iter, tol, stop_mode: see :func:`solve`.
        m: history length (``m = 1`` is the damped fixed-point iteration).
        beta: mixing in (0, 1]: ``x_{k+1} = β Σ α_i f(x_i) + (1-β) Σ α_i x_i``.
        lam: relative Tikhonov regularisation ``>= 0`` of the least-squares problem.
    """
    max_iter, tol, stop_mode = _check_common(x0, max_iter, tol, stop_mode)
    m = check.positive_int(m, "m")
    beta = _fraction(beta, "beta")
    lam = _non_negative(lam, "lam")
    system = _System("anderson", f, x0, max_iter, tol, stop_mode)
    x = system.x0.reshape(-1)
    n_entries = x.numel()
    memory = min(m, max_iter)
    F = x.new_empty(memory, n_entries)  # f(x_i)
    G = x.new_empty(memory, n_entries)  # f(x_i) - x_i
    gram = torch.zeros(memory, memory, dtype=torch.float64, device=x.device)
    ones = torch.ones(memory, 1, dtype=torch.float64, device=x.device)
    for k in range(max_iter):
        fx = system(x)
        g = fx - x
        if system.record(fx, g):
            break
        slot, n = k % memory, min(k + 1, memory)
        F[slot], G[slot] = fx, g
        dots = (G[:n] @ g).double()
        gram[slot, :n] = dots
        gram[:n, slot] = dots
        if n == 1:
            alpha = x.new_ones(1)
        else:
            H = gram[:n, :n]
            H = H + torch.diag(lam * H.diagonal())
            w, failed = torch.linalg.solve_ex(H, ones[:n])  # LU: cholesky_ex is slow for tiny CPU matrices
            w = w.squeeze(-1)
            alpha = w / w.sum()
            newest = torch.zeros_like(alpha)
            newest[slot] = 1.0
            ok = (failed == 0) & torch.isfinite(alpha).all()
            alpha = torch.where(ok, alpha, newest).to(x.dtype)
        x = alpha @ F[:n]
        if beta != 1.0:
            x = x - (1.0 - beta) * (alpha @ G[:n])
    return system.result()


@torch.no_grad()
def broyden(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    m: int = 30,
) -> tuple[Tensor, SolverInfo]:
    r"""Limited-memory good Broyden on ``g(x) = f(x) - x`` (the math is in the module docstring).

    Memory: two ``[m, n]`` tensors (the rank-one pairs ``u_j``, ``v_j``).

    Args:
        f, x0, max_iter, tol, stop_mode: see :func:`solve`.
        m: rank-one updates kept (the oldest is dropped when full).
    """
    max_iter, tol, stop_mode = _check_common(x0, max_iter, tol, stop_mode)
    m = check.positive_int(m, "m")
    system = _System("broyden", f, x0, max_iter, tol, stop_mode)
    x = system.x0.reshape(-1)
    memory = min(m, max_iter)
    U = x.new_zeros(memory, x.numel())
    V = x.new_zeros(memory, x.numel())
    eps = torch.finfo(x.dtype).eps
    updates = 0  # rank-one updates made; the pair of update j lives in row j % memory
    g_prev = x_prev = None
    for k in range(max_iter):
        fx = system(x)
        g = fx - x
        if system.record(fx, g):
            break
        used = min(updates, memory)
        Uk, Vk = U[:used], V[:used]
        if g_prev is not None:
            s, y = x - x_prev, g - g_prev
            By = (Vk @ y) @ Uk - y  # B y, with B = -I + Σ_j u_j v_jᵀ
            sB = (Uk @ s) @ Vk - s  # (sᵀ B)ᵀ
            denom = sB @ y
            # skip the update (store a zero pair) when sᵀBy vanishes next to |sᵀB| |y|
            ok = torch.isfinite(denom) & (denom.abs() > eps * torch.linalg.vector_norm(sB) * torch.linalg.vector_norm(y))
            u = torch.where(ok, (s - By) / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(s))
            slot = updates % memory  # the oldest pair when full; the sum over pairs has no order
            U[slot], V[slot] = u, sB
            updates += 1
            used = min(updates, memory)
            Uk, Vk = U[:used], V[:used]
        g_prev, x_prev = g, x
        x = x + g - (Vk @ g) @ Uk  # x - B g
    return system.result()


# --------------------------------------------------------------------------- registry

SOLVERS: dict[str, Solver] = {"fixed_point": fixed_point, "anderson": anderson, "broyden": broyden}
"""Registered solvers by name; :func:`register_solver` adds to it."""


def register_solver(name: str, fn: Solver, *, replace: bool = False) -> None:
    """Register ``fn`` under ``name`` for :func:`solve`.

    ``fn(f, x0, *, max_iter, tol, stop_mode, **options)`` must return ``(z, SolverInfo)``;
    :func:`solve` checks the common arguments and runs it under ``torch.no_grad()``.
    A registered name is only replaced with ``replace=True``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a solver name must be a non-empty str, got {name!r}")
    if not callable(fn):
        raise TypeError(f"a solver must be callable, got {type(fn).__name__}")
    if name == "phantom":
        raise ValueError("'phantom' names the phantom gradient of the implicit layers' backward pass; pick another name")
    if name in SOLVERS and not replace:
        raise ValueError(f"a solver named {name!r} is already registered; pass replace=True to replace it")
    SOLVERS[name] = fn


def _check_options(name: str, fn: Solver, options: dict) -> None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable: let it check its own options
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(known))
    if unknown:
        accepted = [p for p in known if p not in ("max_iter", "tol", "stop_mode")]
        raise TypeError(f"solver {name!r} has no option(s) {unknown}; its options are {accepted}")


def solve(
    f: Callable[[Tensor], Tensor],
    x0: Tensor,
    solver: str = "anderson",
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    stop_mode: str = "rel",
    **options,
) -> tuple[Tensor, SolverInfo]:
    """Find ``z = f(z)`` from ``x0`` with a registered solver, without autograd.

    Args:
        f: the map; called on tensors of ``x0``'s shape, dtype and device, it must return one
            like them.
        x0: the start: a float32 or float64 tensor of any shape, solved as ONE system (the
            residual is the max over every entry; see the module docstring).
        solver: a name in :data:`SOLVERS` (``"fixed_point"``, ``"anderson"``, ``"broyden"``).
        max_iter: the most evaluations of ``f`` (``>= 1``).
        tol: stop at the first step whose residual in ``stop_mode`` is ``<= tol`` (``> 0``).
        stop_mode: ``"abs"`` (``||f(x) - x||_inf``) or ``"rel"`` (divided by ``||f(x)||_inf``).
        **options: the solver's own options (``tau`` for ``fixed_point``; ``m``, ``beta``,
            ``lam`` for ``anderson``; ``m`` for ``broyden``).

    Returns:
        ``(z, info)``: ``z`` has ``x0``'s shape, dtype and device; it is ``f(x_k)`` for the step
        with the lowest residual (the converged one when ``info.converged``); ``info`` is a
        :class:`SolverInfo`. Non-convergence is reported (``converged=False``), not raised; so
        is a NaN or inf from ``f`` (``diverged=True``; ``z`` is then the best finite image).

    Example:
        >>> A = torch.tensor([[0.5, 0.1], [0.0, 0.3]], dtype=torch.float64)
        >>> b = torch.ones(2, dtype=torch.float64)
        >>> z, info = solve(lambda x: A @ x + b, torch.zeros(2, dtype=torch.float64), tol=1e-10)
        >>> info.converged
        True
    """
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; known solvers: {sorted(SOLVERS)}")
    max_iter, tol, stop_mode = _check_common(x0, max_iter, tol, stop_mode)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    fn = SOLVERS[solver]
    _check_options(solver, fn, options)
    with torch.no_grad():
        z, info = fn(f, x0, max_iter=max_iter, tol=tol, stop_mode=stop_mode, **options)
    if not isinstance(info, SolverInfo):
        raise TypeError(f"solver {solver!r} must return (Tensor, SolverInfo), got info of type {type(info).__name__}")
    return z, info
