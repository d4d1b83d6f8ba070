"""Implicit value iteration and the implicit planners: fixed points, implicit gradients, reports."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.models import DTVIN, VIN, ImplicitDTVIN, ImplicitVIN, build_model
from gvin.nn.implicit import ConvergenceError, ConvergenceWarning, FixedPoint, implicit_value_iteration
from gvin.train.losses import imitation_loss

STENCIL = gvin.grid_stencil(2)
TIGHT = dict(f_tol=1e-13, b_tol=1e-13, f_stop_mode="abs", b_stop_mode="abs", f_max_iter=2000, b_max_iter=2000)


def maze_graph(seed: int = 0, size: int = 6):
    rng = np.random.default_rng(seed)
    maze = (rng.random((size, size)) > 0.25).astype(float)
    maze[0, 0] = 1
    data = gvin.from_grid(maze, goal=(0, 0))
    data.optimal = gvin.optimal_edges(data)
    return data


def double(data):
    data = data.clone()
    data.x = data.x.double()
    return data


def loss_of(model, data):
    out = model(data)
    return imitation_loss(out.log_probs, data.optimal, data.edge_index, data.num_nodes) + 0.1 * out.v.square().mean()


def implicit_and_unrolled(cls_implicit, cls_unrolled, gamma=0.9, **settings):
    torch.manual_seed(0)
    implicit = cls_implicit(stencil=STENCIL, gamma=gamma, fixed_point=FixedPoint(**settings), num_actions=3,
                            hidden_channels=4).double()
    unrolled = cls_unrolled(stencil=STENCIL, gamma=gamma, num_iterations=600, num_actions=3, hidden_channels=4).double()
    unrolled.load_state_dict(implicit.state_dict())
    return implicit, unrolled


@pytest.mark.parametrize("classes", [(ImplicitDTVIN, DTVIN), pytest.param((ImplicitVIN, VIN), marks=pytest.mark.slow)])
def test_implicit_gradients_equal_the_unrolled_model_run_to_convergence(classes):
    implicit, unrolled = implicit_and_unrolled(*classes, **TIGHT)
    if classes[0] is ImplicitVIN:  # keep VIN's free kernel a contraction
        with torch.no_grad():
            implicit.value_kernel.copy_(torch.rand_like(implicit.value_kernel) / len(STENCIL))
            unrolled.value_kernel.copy_(implicit.value_kernel)
    data = double(maze_graph(1))
    loss_implicit, loss_unrolled = loss_of(implicit, data), loss_of(unrolled, data)
    assert loss_implicit.item() == pytest.approx(loss_unrolled.item(), rel=1e-9)
    grads = [torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
             for loss, model in ((loss_implicit, implicit), (loss_unrolled, unrolled))]
    for (name, _), g_implicit, g_unrolled in zip(implicit.named_parameters(), *grads):
        if g_unrolled is None:
            assert g_implicit is None or not g_implicit.any(), name
            continue
        torch.testing.assert_close(g_implicit, g_unrolled, rtol=1e-7, atol=1e-10, msg=name)


def test_implicit_gradient_equals_finite_differences():
    torch.manual_seed(1)
    model = ImplicitDTVIN(stencil=STENCIL, gamma=0.9, fixed_point=FixedPoint(**TIGHT), num_actions=2,
                          hidden_channels=3).double()
    data = double(maze_graph(2))
    parameter = model.reward.weight
    loss = loss_of(model, data)
    (grad,) = torch.autograd.grad(loss, [parameter])
    eps = 1e-6
    for index in [(0, 0), (0, 1), (0, 2)]:
        with torch.no_grad():
            parameter[index] += eps
            up = loss_of(model, data).item()
            parameter[index] -= 2 * eps
            down = loss_of(model, data).item()
            parameter[index] += eps
        assert grad[index].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_backward_solvers_and_the_phantom_gradient_agree():
    data = double(maze_graph(3))
    reference = None
    for b_solver, rel in (("anderson", 1e-7), ("fixed_point", 1e-7), ("phantom", 0.5)):
        torch.manual_seed(2)
        model = ImplicitDTVIN(stencil=STENCIL, gamma=0.9, num_actions=2, hidden_channels=3, fixed_point=FixedPoint(
            f_tol=1e-13, f_stop_mode="abs", b_stop_mode="abs", f_max_iter=2000, b_solver=b_solver, b_tol=1e-13,
            b_max_iter=2000,
            phantom_steps=40, tau=1.0)).double()
        out = model(data)
        out.v.sum().backward()
        grad = model.reward.weight.grad.clone()
        if b_solver != "phantom":
            assert out.info.backward.converged and out.info.backward.solver == b_solver
        reference = grad if reference is None else reference
        torch.testing.assert_close(grad, reference, rtol=rel, atol=1e-9)


def test_anderson_needs_fewer_forward_steps_than_fixed_point_iteration():
    batch = Batch.from_data_list([maze_graph(seed, size=9) for seed in range(4)])
    steps = {}
    for solver in ("fixed_point", "anderson"):
        torch.manual_seed(3)
        model = ImplicitDTVIN(stencil=STENCIL, gamma=0.99, num_iterations=3000,
                              fixed_point=FixedPoint(f_solver=solver, f_tol=1e-6, f_stop_mode="rel"))
        with torch.no_grad():
            out = model(batch)
        assert out.info.forward.converged, solver
        assert out.info.forward.rel_residual <= 1e-6
        assert out.info.graph_residual.shape == (4,)
        # the residual of the returned V*, per graph; its max is the whole batch's (a contraction step smaller)
        assert out.info.graph_residual.max().item() <= 1.5 * out.info.forward.best_abs_residual + 1e-6
        steps[solver] = out.info.forward.steps
    assert steps["anderson"] < steps["fixed_point"], steps


def test_implicit_values_are_the_bellman_fixed_point():
    torch.manual_seed(4)
    model = ImplicitDTVIN(stencil=STENCIL, gamma=0.95, fixed_point=FixedPoint(**TIGHT)).double()
    data = double(maze_graph(5))
    with torch.no_grad():
        out = model(data)
        graph = model.read_graph(data)
        reward, transition = model.mdp(graph)
        again = (reward + 0.95 * transition(out.v)).max(-1).values
    torch.testing.assert_close(again, out.v, rtol=0, atol=1e-11)
    assert out.info.forward.converged


def test_a_solve_that_misses_its_tolerance_is_reported_never_hidden():
    torch.manual_seed(5)
    model = ImplicitVIN(stencil=STENCIL, gamma=0.99, num_iterations=30)
    with torch.no_grad():
        model.value_kernel.fill_(0.8)  # rows sum to 4: the operator expands, values diverge
    data = maze_graph(6)
    with pytest.warns(ConvergenceWarning, match="forward fixed-point solve"):
        out = model(data)
    assert not out.info.forward.converged
    assert torch.isfinite(out.v).all() and torch.isfinite(out.log_probs[data.move]).all()
    model.fixed_point = FixedPoint(strict=True)
    with pytest.raises(ConvergenceError, match="strict=True"):
        model(data)


def test_evaluation_can_plan_with_a_larger_forward_budget():
    torch.manual_seed(6)
    model = ImplicitDTVIN(stencil=STENCIL, num_iterations=3, fixed_point=FixedPoint(f_solver="fixed_point"))
    data = maze_graph(7, size=9)
    with torch.no_grad(), pytest.warns(ConvergenceWarning):
        short = model(data)
    with torch.no_grad():
        long = model(data, num_iterations=2000)
    assert short.info.forward.steps == 3 and long.info.forward.converged


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: FixedPoint(f_tol=0), ValueError, "f_tol must be > 0"),
        (lambda: FixedPoint(b_tol=-1e-3), ValueError, "b_tol must be > 0"),
        (lambda: FixedPoint(f_solver="newton"), ValueError, "unknown forward solver 'newton'"),
        (lambda: FixedPoint(b_solver="adjoint"), ValueError, "unknown backward solver 'adjoint'"),
        (lambda: FixedPoint(f_max_iter=2.5), ValueError, "f_max_iter"),
        (lambda: FixedPoint(tau=0), ValueError, "tau"),
        (lambda: FixedPoint(f_stop_mode="max"), ValueError, "f_stop_mode"),
        (lambda: FixedPoint(b_stop_mode="max"), ValueError, "b_stop_mode"),
        (lambda: ImplicitDTVIN(gamma=1.0), ValueError, r"gamma in \[0, 1\)"),
        (lambda: ImplicitVIN(fixed_point="anderson"), TypeError, "fixed_point"),
        (lambda: ImplicitDTVIN(num_iterations=0), ValueError, "num_iterations"),
    ],
)
def test_bad_settings_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_calls_are_refused():
    model = ImplicitDTVIN(stencil=STENCIL)
    data = maze_graph(8)
    with pytest.raises(ValueError, match="no intermediate layers"):
        model(data, intermediate=[3])
    with pytest.raises(TypeError, match="low precision"):
        implicit_value_iteration(torch.zeros(3, 2, dtype=torch.float16), None, 0.9)
    with pytest.raises(ValueError, match=r"gamma in \[0, 1\)"):
        implicit_value_iteration(torch.zeros(3, 2), None, 1.0)
    with pytest.raises(ValueError, match="planner was built for"):
        model(gvin.from_grid(np.ones((4, 4)), goal=0, kernel_size=3))


def test_implicit_models_build_by_name_and_train(tmp_path):
    from gvin.train import TrainConfig, Trainer

    graphs = [maze_graph(seed) for seed in range(6)]
    for graph in graphs:
        graph.dist = gvin.shortest_path_distances(graph).float()
    config = TrainConfig(model="implicit_dtvin", epochs=3, batch_size=3, lr=1e-2,
                         model_kwargs=dict(stencil=STENCIL.tolist(), fixed_point=dict(f_tol=1e-3, b_tol=1e-2, b_max_iter=15)))
    trainer = Trainer(config, checkpoint=tmp_path / "ck.pt")
    history = trainer.fit(graphs, progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    restored = Trainer.from_checkpoint(tmp_path / "ck.pt")
    assert isinstance(restored.model, ImplicitDTVIN) and restored.model.fixed_point.b_max_iter == 15
    assert isinstance(build_model("implicit_vin", stencil=STENCIL), ImplicitVIN)


def test_fixed_point_and_implicit_gradient_agree_with_torchdeq():
    torchdeq = pytest.importorskip("torchdeq")
    torch.manual_seed(7)
    model = ImplicitDTVIN(stencil=STENCIL, gamma=0.9).double()
    data = double(maze_graph(9))
    with torch.no_grad():
        reward, transition = model.mdp(model.read_graph(data))
    weights = torch.randn(data.num_nodes, dtype=torch.float64)

    def gradients(solve):
        r = reward.clone().requires_grad_()
        p = transition.weight.clone().requires_grad_()
        values = solve(r, transition.with_weight(p))
        loss = (values * weights).sum()
        return (values.detach(), *torch.autograd.grad(loss, [r, p]))

    def gvin_solve(r, t):
        settings = FixedPoint(f_solver="fixed_point", b_solver="fixed_point", **TIGHT)
        return implicit_value_iteration(r, t, 0.9, settings)[1]

    def torchdeq_solve(r, t):  # torchdeq treats dim 0 as independent rows: the graph is one row
        deq = torchdeq.get_deq(f_solver="fixed_point_iter", b_solver="fixed_point_iter", f_max_iter=2000,
                               b_max_iter=2000, f_tol=1e-13, b_tol=1e-13, ift=True)
        deq.train()
        z_out, _ = deq(lambda z: (r + 0.9 * t(z[0])).max(-1).values[None], torch.zeros(1, r.shape[0], dtype=r.dtype))
        return z_out[-1][0]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torchdeq's many tiny kernels crawl with several threads
    try:
        ours, theirs = gradients(gvin_solve), gradients(torchdeq_solve)
    finally:
        torch.set_num_threads(threads)
    for name, a, b in zip(("values", "grad reward", "grad weight"), ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10, msg=name)


def unrolled_gppn_loss(model, data, steps: int):
    """The implicit GPPN's recurrence unrolled with plain autograd from zeros (the reference)."""
    graph = model.read_graph(data)
    hidden = model.cell.hidden_size
    injected = model.inject(model.encoder(graph.x, *graph.conv_args), *graph.conv_args)
    h = c = injected.new_zeros(injected.shape[0], hidden)
    for _ in range(steps):
        h, c = model.cell(model.message(h, *graph.conv_args) + injected, (h, c))
    log_probs = model.policy(graph, h, h.new_zeros(h.shape[0]))
    return imitation_loss(log_probs, data.optimal, data.edge_index, data.num_nodes)


def test_implicit_gppn_gradients_equal_its_recurrence_unrolled_to_convergence():
    from gvin.models import ImplicitGPPN

    torch.manual_seed(8)
    model = ImplicitGPPN(stencil=STENCIL, hidden_channels=6, fixed_point=FixedPoint(**TIGHT)).double()
    data = double(maze_graph(10))
    out = model(data)
    assert out.info.forward.converged
    loss = imitation_loss(out.log_probs, data.optimal, data.edge_index, data.num_nodes)
    reference = unrolled_gppn_loss(model, data, steps=400)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    parameters = list(model.parameters())
    for p, g, r in zip(parameters, torch.autograd.grad(loss, parameters), torch.autograd.grad(reference, parameters)):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-10)
    assert out.info.backward.converged and out.info.backward.steps > 1
    assert build_model("implicit_gppn", stencil=STENCIL, cell="gru")(maze_graph(11)).log_probs.shape == (maze_graph(11).num_edges,)


@pytest.mark.parametrize("cls", [ImplicitVIN, ImplicitDTVIN])
def test_implicit_planners_run_on_graphs_with_edge_geometry(cls):
    import networkx as nx

    graph = nx.grid_2d_graph(4, 4)
    nx.set_node_attributes(graph, {node: node for node in graph}, "pos")
    data = gvin.from_networkx(graph, goal=(0, 0), dtype=torch.float64)
    data.optimal = gvin.optimal_edges(data)
    torch.manual_seed(9)
    model = cls(in_channels=1, edge_dim=2, gamma=0.9, fixed_point=FixedPoint(**TIGHT)).double()
    if cls is ImplicitVIN:  # small kernels keep VIN's free operator a contraction
        with torch.no_grad():
            for p in model.value_kernel.parameters():
                p.mul_(0.1)
    out = model(data)
    assert out.info.forward.converged and out.log_probs.shape == (data.num_edges,)
    imitation_loss(out.log_probs, data.optimal, data.edge_index, data.num_nodes).backward()
    assert out.info.backward.converged
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_second_backward_and_an_explicit_budget_use_the_implicit_gradient():
    from gvin.models import ImplicitGPPN
    from gvin.nn import register_solver

    torch.manual_seed(12)
    model = ImplicitGPPN(stencil=STENCIL, hidden_channels=4, fixed_point=FixedPoint(**TIGHT)).double()
    data = double(maze_graph(13))
    out = model(data)
    loss = imitation_loss(out.log_probs, data.optimal, data.edge_index, data.num_nodes)
    first = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)
    assert out.info.graph_residual.shape == (1,) and out.info.graph_residual.item() < 1e-10
    limited = ImplicitDTVIN(stencil=STENCIL, fixed_point=FixedPoint(f_max_iter=3, f_solver="fixed_point"))
    with torch.no_grad():
        assert limited(maze_graph(14), num_iterations=500).info.forward.steps > 3  # the call's budget wins
    with pytest.raises(ValueError, match="phantom"):
        register_solver("phantom", lambda f, x0, **kw: None)
