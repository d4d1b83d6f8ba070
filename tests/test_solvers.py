"""Fixed-point solvers (gvin.nn.solvers): convergence, the global residual, failure reports, bad input."""
import math

import pytest
import torch

from gvin.nn.solvers import SOLVERS, SolverInfo, anderson, fixed_point, register_solver, solve

BUILTIN = ("fixed_point", "anderson", "broyden")
F64 = torch.float64


def linear_problem(n=40, norm=0.95, seed=0):
    """``x ↦ A x + b`` with non-negative ``A``, ``||A||_inf = norm`` (spectral radius ``norm``: slow for plain iteration)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.rand(n, n, generator=g, dtype=F64)
    A = norm * A / A.sum(1, keepdim=True)
    b = torch.randn(n, generator=g, dtype=F64)
    exact = torch.linalg.solve(torch.eye(n, dtype=F64) - A, b)
    return (lambda x: A @ x + b), exact


def bellman_problem(num_nodes=30, num_actions=4, gamma=0.9, seed=1, device="cpu", dtype=F64):
    """``V ↦ max_a (R[:, a] + γ P_a V)`` on a sparse random graph with row-stochastic ``P_a``.

    Returns the operator on ``device`` in ``dtype`` and the fixed point (float64, CPU).
    """
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(num_nodes, num_actions, generator=g, dtype=F64)
    edges = torch.rand(num_actions, num_nodes, num_nodes, generator=g) < 0.15
    P = torch.rand(num_actions, num_nodes, num_nodes, generator=g, dtype=F64) * edges
    P = P + torch.eye(num_nodes, dtype=F64)  # a self-loop: every row has mass
    P = P / P.sum(-1, keepdim=True)

    def operator(R, P):
        return lambda V: (R + gamma * torch.einsum("ast,t->sa", P, V)).amax(-1)

    f = operator(R, P)
    V = torch.zeros(num_nodes, dtype=F64)
    for _ in range(3000):  # γ^3000: exact in float64
        V = f(V)
    return operator(R.to(device, dtype), P.to(device, dtype)), V


class Recorder:
    """Wraps ``f`` and keeps every ``(x, f(x))`` it was called with."""

    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, x):
        out = self.f(x)
        self.calls.append((x.clone(), out.clone()))
        return out


# ---------------------------------------------------------------- convergence


@pytest.mark.parametrize("stop_mode", ["abs", "rel"])
@pytest.mark.parametrize("solver", BUILTIN)
def test_linear_contraction(solver, stop_mode):
    f, exact = linear_problem()
    z, info = solve(f, torch.zeros_like(exact), solver, tol=1e-10, stop_mode=stop_mode, max_iter=2000)
    assert info.converged and not info.diverged and info.solver == solver
    assert info.steps == len(info.abs_trace) == len(info.rel_trace) and info.best_step == info.steps
    trace = info.abs_trace if stop_mode == "abs" else info.rel_trace
    assert trace[-1] <= 1e-10 < min(trace[:-1])
    # ||z - x*||_inf <= ||A||_inf r / (1 - ||A||_inf) for z = f(x), r = ||f(x) - x||_inf
    scale = 1.0 if stop_mode == "abs" else exact.abs().max().item() * 1.01
    assert (z - exact).abs().max().item() <= 0.95 * 1e-10 * scale / 0.05 * 1.01


@pytest.mark.parametrize("stop_mode", ["abs", "rel"])
@pytest.mark.parametrize("solver", BUILTIN)
def test_bellman_max_plus(solver, stop_mode):
    f, exact = bellman_problem()
    z, info = solve(f, torch.zeros_like(exact), solver, tol=1e-10, stop_mode=stop_mode, max_iter=2000)
    assert info.converged and not info.diverged
    scale = 1.0 if stop_mode == "abs" else exact.abs().max().item() * 1.01
    assert (z - exact).abs().max().item() <= 0.9 * 1e-10 * scale / 0.1 * 1.01


@pytest.mark.parametrize("problem", [linear_problem, bellman_problem])
def test_anderson_takes_fewer_steps_than_fixed_point(problem):
    f, exact = problem()
    x0 = torch.zeros_like(exact)
    _, plain = solve(f, x0, "fixed_point", tol=1e-10, stop_mode="abs", max_iter=2000)
    _, accelerated = solve(f, x0, "anderson", tol=1e-10, stop_mode="abs", max_iter=2000)
    assert plain.converged and accelerated.converged
    assert 2 * accelerated.steps < plain.steps, (accelerated.steps, plain.steps)


def test_damping_and_options():
    f, exact = linear_problem()
    x0 = torch.zeros_like(exact)
    for solver, options in [("fixed_point", {"tau": 0.7}), ("anderson", {"m": 3, "beta": 0.5, "lam": 0.0}),
                            ("anderson", {"m": 1}), ("broyden", {"m": 4})]:
        z, info = solve(f, x0, solver, tol=1e-10, stop_mode="abs", max_iter=3000, **options)
        assert info.converged, (solver, options)
        assert (z - exact).abs().max().item() < 1e-7
    # m = 1 is the plain iteration
    _, plain = solve(f, x0, "fixed_point", tol=1e-8, max_iter=3000)
    _, m1 = solve(f, x0, "anderson", tol=1e-8, max_iter=3000, m=1)
    assert m1.abs_trace == pytest.approx(plain.abs_trace, rel=1e-9)


@pytest.mark.parametrize("solver", BUILTIN)
def test_residual_is_the_max_over_every_entry(solver):
    # A [4, 50] system whose entries contract by 0.1 per step, except one (0.99).
    rate = torch.full((4, 50), 0.1, dtype=F64)
    rate[3, 7] = 0.99
    b = torch.linspace(-1, 1, 200, dtype=F64).view(4, 50)
    exact = b / (1 - rate)
    f = Recorder(lambda x: rate * x + b)
    tol = 1e-8
    z, info = solve(f, torch.zeros_like(b), solver, tol=tol, stop_mode="abs", max_iter=5000)
    assert info.converged and z.shape == (4, 50)
    assert len(f.calls) == info.steps
    for k, (x, fx) in enumerate(f.calls):  # the whole tensor is one system: max over every entry
        assert info.abs_trace[k] == (fx - x).abs().max().item()
        assert info.rel_trace[k] == pytest.approx((fx - x).abs().max().item() / (fx.abs().max().item() + 1e-12), rel=1e-12)
    assert (z - exact).abs().max().item() <= 0.99 * tol / 0.01 * 1.01
    if solver == "fixed_point":
        # A per-row mean (torchdeq reads dim 0 as a batch) would have stopped hundreds of steps earlier,
        # with the slow entry still far off.
        per_row = [(fx - x).abs().mean(1).max().item() for x, fx in f.calls]
        early = next(k for k, r in enumerate(per_row) if r <= tol)
        assert info.steps > early + 300
        assert (f.calls[early][1] - exact)[3, 7].abs().item() > 100 * tol


def test_stop_mode_rel_is_relative():
    f, exact = linear_problem()
    big = lambda x: 1e6 * f(x / 1e6)  # the same problem, scaled
    _, small_info = solve(f, torch.zeros_like(exact), "anderson", tol=1e-9, stop_mode="rel")
    _, big_info = solve(big, torch.zeros_like(exact), "anderson", tol=1e-9, stop_mode="rel")
    assert small_info.converged and big_info.converged
    assert small_info.steps == big_info.steps  # Anderson's relative Tikhonov term: scale-free mixing
    assert big_info.abs_residual > 1e-9 >= big_info.rel_residual


# ---------------------------------------------------------------- failure reports


@pytest.mark.parametrize("solver", BUILTIN)
def test_max_iter_reached_returns_the_best_iterate(solver):
    f, exact = bellman_problem()
    rec = Recorder(f)
    z, info = solve(rec, torch.zeros_like(exact), solver, tol=1e-14, max_iter=4)
    assert not info.converged and not info.diverged
    assert info.steps == 4 == len(info.abs_trace) == len(info.rel_trace) == len(rec.calls)
    best = min(range(4), key=info.rel_trace.__getitem__)
    assert info.best_step == best + 1 and info.best_rel_residual == min(info.rel_trace)
    assert torch.equal(z, rec.calls[best][1])
    assert info.rel_residual == info.rel_trace[-1]


def test_best_iterate_is_not_the_last():
    values = iter([1.0, 2.0, 2.1, 3.0, 5.0])  # from x0 = 0: residuals 1, 1, 0.1, 0.9, 2
    f = lambda x: torch.full_like(x, next(values))
    z, info = fixed_point(f, torch.zeros(3, dtype=F64), max_iter=5, tol=1e-3, stop_mode="abs")
    assert not info.converged and info.steps == 5
    assert info.abs_trace == pytest.approx([1.0, 1.0, 0.1, 0.9, 2.0])
    assert info.best_step == 3 and torch.all(z == 2.1)
    assert info.best_abs_residual == pytest.approx(0.1) and info.abs_residual == pytest.approx(2.0)


def test_divergent_map_overflows_and_is_flagged():
    z, info = solve(lambda x: 2 * x + 1, torch.zeros(5, dtype=F64), "fixed_point", max_iter=5000)
    assert not info.converged and info.diverged
    assert info.steps < 5000 and not math.isfinite(info.abs_trace[-1])
    assert torch.isfinite(z).all() and 1 <= info.best_step < info.steps


@pytest.mark.parametrize("solver", ["anderson", "broyden"])
def test_secant_solvers_find_the_repelling_fixed_point(solver):
    z, info = solve(lambda x: 2 * x + 1, torch.zeros(5, dtype=F64), solver, tol=1e-12)
    assert info.converged and torch.allclose(z, torch.full_like(z, -1.0))


@pytest.mark.parametrize("solver", BUILTIN)
def test_map_without_fixed_point(solver):
    f = lambda x: x + 1 + x * x  # f(x) - x = 1 + x² > 0
    z, info = solve(f, torch.zeros(4, dtype=F64), solver, max_iter=200)
    assert not info.converged
    assert torch.isfinite(z).all()
    assert info.steps == len(info.abs_trace) == len(info.rel_trace) <= 200
    if solver == "fixed_point":
        assert info.diverged


@pytest.mark.parametrize("solver", BUILTIN)
def test_nan_from_f_stops_the_solve(solver):
    calls = []
    lin, exact = linear_problem(n=6)

    def f(x):
        calls.append(1)
        return lin(x) if len(calls) < 4 else torch.full_like(x, math.nan)

    z, info = solve(f, torch.zeros_like(exact), solver, tol=1e-14, max_iter=100)
    assert info.diverged and not info.converged
    assert info.steps == 4 == len(calls) and math.isnan(info.abs_trace[-1])
    assert torch.isfinite(z).all() and 1 <= info.best_step <= 3


def test_nan_at_the_first_step_returns_x0():
    x0 = torch.arange(3, dtype=F64)
    z, info = solve(lambda x: x / 0.0, x0, "anderson")  # 0/0 = NaN, 1/0 = inf
    assert info.diverged and not info.converged and info.steps == 1
    assert info.best_step == 0 and info.best_abs_residual == math.inf
    assert torch.equal(z, x0) and z is not x0


def test_nan_start_is_refused():
    with pytest.raises(ValueError, match="x0 has NaN or inf"):
        solve(lambda x: 0.5 * x, torch.tensor([0.0, math.nan], dtype=F64))


# ---------------------------------------------------------------- shapes, dtypes, autograd, registry


@pytest.mark.parametrize("solver", BUILTIN)
def test_any_shape_float32_and_no_graph(solver):
    w = torch.tensor(0.5, requires_grad=True)
    b = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(3))
    x0 = torch.zeros(2, 3, 4, requires_grad=True)
    z, info = solve(lambda x: w * torch.tanh(x) + b, x0, solver, tol=1e-6)
    assert info.converged and z.shape == (2, 3, 4) and z.dtype == torch.float32
    assert not z.requires_grad and z.grad_fn is None
    assert (w.detach() * torch.tanh(z) + b - z).abs().max().item() < 1e-5
    # a 0-d system
    z, info = solve(lambda x: torch.cos(x), torch.tensor(1.0, dtype=F64), solver, tol=1e-12)
    assert info.converged and z.shape == () and abs(z.item() - 0.7390851332151607) < 1e-11


def test_solver_info():
    info = SolverInfo("anderson", 0, False, [], [], 1e-4, "rel")
    assert info.abs_residual == info.rel_residual == info.best_abs_residual == math.inf
    _, info = solve(lambda x: 0.5 * x + 1, torch.zeros(3, dtype=F64), "fixed_point", tol=1e-6, max_iter=50)
    d = info.as_dict()
    assert d["solver"] == "fixed_point" and d["steps"] == info.steps and d["converged"]
    assert d["abs_residual"] == info.abs_trace[-1] and d["rel_residual"] == info.rel_trace[-1]
    assert d["max_iter"] == 50 and d["tol"] == 1e-6 and d["stop_mode"] == "rel" and d["diverged"] is False


def test_register_solver():
    def halving(f, x0, *, max_iter, tol, stop_mode, scale=1.0):
        return anderson(f, x0, max_iter=max_iter, tol=tol, stop_mode=stop_mode, beta=0.5 * scale)

    register_solver("test_halving", halving)
    try:
        z, info = solve(lambda x: 0.5 * x + 1, torch.zeros(2, dtype=F64), "test_halving", tol=1e-10, scale=1.0)
        assert info.converged and torch.allclose(z, torch.full_like(z, 2.0))
        with pytest.raises(ValueError, match="already registered"):
            register_solver("test_halving", halving)
        register_solver("test_halving", halving, replace=True)
        with pytest.raises(TypeError, match=r"no option\(s\) \['tau'\].*\['scale'\]"):
            solve(lambda x: x, torch.zeros(2), "test_halving", tau=0.5)
    finally:
        SOLVERS.pop("test_halving", None)
    with pytest.raises(TypeError, match="callable"):
        register_solver("x", 3)
    with pytest.raises(ValueError, match="non-empty str"):
        register_solver("", anderson)


# ---------------------------------------------------------------- bad input


def _half(x):
    return 0.5 * x


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((_half, torch.zeros(3)), {"tol": 0.0}, ValueError, "tol must be a finite number > 0"),
        ((_half, torch.zeros(3)), {"tol": -1e-3}, ValueError, "tol must be a finite number > 0"),
        ((_half, torch.zeros(3)), {"tol": math.nan}, ValueError, "tol must be a finite number"),
        ((_half, torch.zeros(3)), {"tol": "1e-3"}, ValueError, "tol must be a finite number"),
        ((_half, torch.zeros(3)), {"max_iter": 0}, ValueError, "max_iter must be a positive int"),
        ((_half, torch.zeros(3)), {"max_iter": 10.0}, ValueError, "max_iter must be a positive int"),
        ((_half, torch.zeros(3)), {"max_iter": True}, ValueError, "max_iter must be a positive int"),
        ((_half, torch.zeros(3), "newton"), {}, ValueError, r"unknown solver 'newton'; known solvers: \['anderson'"),
        ((_half, torch.zeros(3)), {"stop_mode": "l2"}, ValueError, r"stop_mode must be one of \('abs', 'rel'\)"),
        ((_half, torch.zeros(3, dtype=torch.float16)), {}, TypeError, "low precision"),
        ((_half, torch.zeros(3, dtype=torch.bfloat16)), {}, TypeError, "low precision"),
        ((_half, torch.zeros(3, dtype=torch.long)), {}, TypeError, "x0 must be a floating-point tensor"),
        ((_half, [0.0, 1.0]), {}, TypeError, "x0 must be a torch tensor"),
        ((_half, torch.zeros(0)), {}, ValueError, "x0 is empty"),
        (("f", torch.zeros(3)), {}, TypeError, "f must be callable"),
        ((lambda x: x[:2], torch.zeros(3)), {}, ValueError, r"f must return a tensor like x0 \(torch.float32 \(3,\)"),
        ((lambda x: x.double(), torch.zeros(3)), {}, ValueError, "got torch.float64"),
        ((lambda x: x.tolist(), torch.zeros(3)), {}, TypeError, "f must return a tensor, got list"),
        ((_half, torch.zeros(3), "fixed_point"), {"tau": 0.0}, ValueError, r"tau must be a number in \(0, 1\]"),
        ((_half, torch.zeros(3), "fixed_point"), {"tau": 1.5}, ValueError, r"tau must be a number in \(0, 1\]"),
        ((_half, torch.zeros(3), "anderson"), {"m": 0}, ValueError, "m must be a positive int"),
        ((_half, torch.zeros(3), "anderson"), {"beta": 2.0}, ValueError, r"beta must be a number in \(0, 1\]"),
        ((_half, torch.zeros(3), "anderson"), {"lam": -1.0}, ValueError, "lam must be a finite number >= 0"),
        ((_half, torch.zeros(3), "broyden"), {"m": 2.5}, ValueError, "m must be a positive int"),
        ((_half, torch.zeros(3), "anderson"), {"tau": 0.5}, TypeError,
         r"solver 'anderson' has no option\(s\) \['tau'\]; its options are \['m', 'beta', 'lam'\]"),
    ],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        solve(*args, **kwargs)


@pytest.mark.parametrize("fn", [fixed_point, anderson])
def test_direct_calls_check_too(fn):
    with pytest.raises(ValueError, match="tol must be"):
        fn(_half, torch.zeros(3), tol=0)
    with pytest.raises(TypeError, match="low precision"):
        fn(_half, torch.zeros(3, dtype=torch.float16))


# ---------------------------------------------------------------- torchdeq cross-check



@pytest.mark.parametrize("problem", [linear_problem, bellman_problem])
def test_matches_torchdeq(problem, one_thread):
    torchdeq = pytest.importorskip("torchdeq")
    from torchdeq.solver import get_solver

    f, exact = problem()
    n = exact.numel()
    row = lambda z: f(z.reshape(n)).reshape(1, n)  # torchdeq: dim 0 is a batch; one row = the whole system
    x0 = torch.zeros(n, dtype=F64)

    deq = torchdeq.get_deq(f_solver="fixed_point_iter", f_max_iter=1000, f_tol=1e-12, f_stop_mode="abs")
    with torch.no_grad():
        theirs, their_info = deq(row, x0.reshape(1, n))
    assert their_info["abs_lowest"].item() < 1e-12
    ours, info = solve(f, x0, "fixed_point", tol=1e-12, stop_mode="abs", max_iter=1000)
    assert info.converged
    assert (ours - theirs[-1].reshape(n)).abs().max().item() < 1e-8

    # torchdeq's Tikhonov term is absolute (1e-4 by default): near the solution it swamps the Gram
    # matrix and its Anderson is slower than plain iteration; 1e-8 lets it reach 1e-10.
    theirs, _, their_info = get_solver("anderson")(
        row, x0.reshape(1, n), max_iter=1000, tol=1e-10, stop_mode="abs", lam=1e-8
    )
    assert their_info["abs_lowest"].item() < 1e-10
    ours, info = solve(f, x0, "anderson", tol=1e-12, stop_mode="abs", max_iter=1000)
    assert info.converged
    assert (ours - theirs.reshape(n)).abs().max().item() < 1e-8
    assert (ours - exact).abs().max().item() < 1e-10


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("solver", BUILTIN)
def test_cuda(solver):
    for dtype, tol in [(torch.float32, 1e-5), (F64, 1e-10)]:
        f, exact = bellman_problem(device="cuda", dtype=dtype)
        x0 = torch.zeros(exact.numel(), device="cuda", dtype=dtype)
        z, info = solve(f, x0, solver, tol=tol, stop_mode="abs", max_iter=2000)
        assert info.converged and z.device.type == "cuda" and z.dtype == dtype
        assert (z.cpu().double() - exact).abs().max().item() < 20 * tol
