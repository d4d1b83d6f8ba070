"""Deep value iteration: the compact and checkpointed backward passes equal plain autograd."""
from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.models import DTVIN, GPPN, VIN
from gvin.nn import EdgeTransition, StencilTransition, build_stencil, value_iteration
from gvin.nn.deep import block_ends
from gvin.train.losses import highway_terms, imitation_loss, reduce_highway_terms

MODES = ("compact", "checkpoint")


def maze_batch(count=2, shape=(6, 7), seed=0, kernel_size=3):
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        maze = (rng.random(shape) > 0.3).astype(np.float32)
        maze[0, 0] = 1
        data = gvin.from_grid(maze, goal=(0, 0), kernel_size=kernel_size, connectivity=8)
        data.dist = gvin.shortest_path_distances(data).float()
        data.optimal = gvin.optimal_edges(data)
        graphs.append(data)
    return Batch.from_data_list(graphs)


def transitions(batch, num_actions, generator):
    num_nodes, num_slots = batch.num_nodes, 9
    stencil = build_stencil(batch.edge_index, batch.edge_type, num_nodes, num_slots)
    per_node = torch.softmax(torch.randn(num_nodes, num_slots, num_actions, generator=generator, dtype=torch.float64), 1)
    shared = 0.2 * torch.randn(num_slots, num_actions, generator=generator, dtype=torch.float64)
    per_edge = torch.softmax(torch.randn(batch.num_edges, num_actions, generator=generator, dtype=torch.float64), 0)
    return {
        "stencil-node": (per_node, lambda w: StencilTransition(w, stencil)),
        "stencil-shared": (shared, lambda w: StencilTransition(w, stencil)),
        "edge": (per_edge, lambda w: EdgeTransition(w, batch.edge_index, num_nodes)),
    }


def run_and_differentiate(reward, weight, make, depth, memory, layers=(3, 11)):
    values0 = torch.linspace(-1, 1, reward.shape[0], dtype=reward.dtype).requires_grad_()
    kept = {}
    q, v = value_iteration(reward, make(weight), depth, 0.9, values=values0,
                           hook=lambda k, q, v: kept.__setitem__(k, (q, v)), layers=layers, memory=memory)
    probe_q = torch.cos(torch.arange(q.numel(), dtype=q.dtype)).view_as(q)
    probe_v = torch.sin(torch.arange(v.numel(), dtype=v.dtype))
    loss = (q * probe_q).sum() + (v * probe_v).sum()
    loss = loss + sum(0.3 * (qk * probe_q).sum() + 0.7 * (vk * probe_v).sum() for qk, vk in kept.values())
    grads = torch.autograd.grad(loss, [reward, weight, values0])
    return (q.detach(), v.detach(), *grads)


@pytest.mark.parametrize("memory", MODES)
@pytest.mark.parametrize("kind", ["stencil-node", "stencil-shared", "edge"])
@pytest.mark.parametrize("depth", [1, 7, 300])
def test_operator_gradients_equal_autograd(memory, kind, depth):
    batch = maze_batch()
    generator = torch.Generator().manual_seed(depth)
    weight, make = transitions(batch, 4, generator)[kind]
    reward = torch.randn(batch.num_nodes, 4, generator=generator, dtype=torch.float64)
    expected = run_and_differentiate(reward.clone().requires_grad_(), weight.clone().requires_grad_(), make, depth, "autograd")
    got = run_and_differentiate(reward.clone().requires_grad_(), weight.clone().requires_grad_(), make, depth, memory)
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("memory", MODES)
def test_ties_in_the_max_are_handled_like_autograd(memory):
    """Integer rewards and uniform weights make many exact ties; gradients still agree."""
    batch = maze_batch(seed=3)
    weight, make = transitions(batch, 3, torch.Generator().manual_seed(0))["stencil-node"]
    weight = torch.full_like(weight, 1.0 / 9)
    reward = torch.randint(-2, 2, (batch.num_nodes, 3)).double()
    expected = run_and_differentiate(reward.clone().requires_grad_(), weight.clone().requires_grad_(), make, 20, "autograd")
    got = run_and_differentiate(reward.clone().requires_grad_(), weight.clone().requires_grad_(), make, 20, memory)
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def model_variants():
    yield "vin", lambda: VIN(num_edge_types=9, num_actions=5, hidden_channels=6, num_iterations=40, gamma=0.97)
    yield "dtvin", lambda: DTVIN(num_edge_types=9, num_actions=4, hidden_channels=6, num_iterations=200)
    yield "vin-geometric", lambda: VIN(edge_dim=2, num_actions=5, hidden_channels=6, num_iterations=40, gamma=0.95)
    yield "dtvin-geometric", lambda: DTVIN(edge_dim=2, num_actions=4, hidden_channels=6, num_iterations=40)


@pytest.mark.parametrize("memory", MODES)
@pytest.mark.parametrize("use_stencil", [True, False])
@pytest.mark.parametrize("name,build", list(model_variants()))
def test_model_gradients_equal_autograd(name, build, use_stencil, memory):
    torch.manual_seed(0)
    model = build().double()
    if name == "vin":
        with torch.no_grad():
            model.value_kernel.uniform_(-0.1, 0.1)
    batch = maze_batch(seed=1)
    batch.x, batch.edge_attr = batch.x.double(), batch.edge_attr.double()
    model.use_stencil = use_stencil
    results = []
    for mode in ("autograd", memory):
        model.memory = mode
        model.zero_grad()
        out = model(batch, intermediate=[10, 40])
        loss = imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)
        loss = loss + sum(imitation_loss(lp, batch.optimal, batch.edge_index, batch.num_nodes) for lp in out.intermediate.values())
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-10, atol=1e-12)
    for key in grads_a:
        torch.testing.assert_close(grads_a[key], grads_b[key], rtol=1e-8, atol=1e-10, msg=key)


def test_layer_loss_equals_intermediate_policies():
    torch.manual_seed(0)
    batch = maze_batch(seed=2)
    model = DTVIN(num_edge_types=9, num_iterations=30)
    layers = [10, 20, 30]

    def grads(use_layer_loss):
        model.zero_grad()
        if use_layer_loss:
            out = model(batch, intermediate=layers, layer_loss=lambda k, lp: highway_terms(
                k, lp, batch.optimal, batch.dist, batch.edge_index, batch.num_nodes))
            loss = reduce_highway_terms(list(out.layer_losses.values()))
            assert not out.intermediate
        else:
            out = model(batch, intermediate=layers)
            loss = reduce_highway_terms([highway_terms(k, lp, batch.optimal, batch.dist, batch.edge_index, batch.num_nodes)
                                         for k, lp in out.intermediate.items()])
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss_a, grads_a = grads(False)
    loss_b, grads_b = grads(True)
    torch.testing.assert_close(loss_a, loss_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def saved_bytes(model, batch, depth):
    """Bytes of tensors autograd keeps for the backward pass of one forward."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(batch, num_iterations=depth)
        imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)
    return total


def test_compact_keeps_one_value_and_one_byte_per_node_and_layer():
    batch = maze_batch(count=2, shape=(10, 10))
    model = DTVIN(num_edge_types=9, num_actions=4, hidden_channels=8)
    per_layer = {}
    for mode in ("autograd", "compact"):
        model.memory = mode
        small, large = (saved_bytes(model, batch, depth) for depth in (100, 400))
        per_layer[mode] = (large - small) / 300
    nodes = batch.num_nodes
    assert per_layer["autograd"] > 9 * 4 * nodes * 4  # at least the [N, S, A] messages
    assert per_layer["compact"] == 5 * nodes  # V (float32) + arg-max (uint8)


def test_auto_memory_is_compact_while_the_history_fits():
    from gvin.nn.value_iteration import COMPACT_BUDGET_BYTES, resolve_memory

    nodes = 10_000
    fits = COMPACT_BUDGET_BYTES // (5 * nodes)
    assert resolve_memory("auto", nodes, fits) == "compact"
    assert resolve_memory("auto", nodes, fits + 1) == "checkpoint"
    assert resolve_memory("auto", nodes, fits, torch.float64) == "checkpoint"  # 9 bytes per node and layer
    assert resolve_memory("autograd", nodes, 10**9) == "autograd"


def test_checkpoint_recomputes_blocks_of_sqrt_depth(monkeypatch):
    import gvin.nn.deep as deep

    calls = []
    forward = deep.CompactValueIteration.forward
    monkeypatch.setattr(deep.CompactValueIteration, "forward",
                        staticmethod(lambda ctx, *args: calls.append(args[4]) or forward(ctx, *args)))
    batch = maze_batch(count=1)
    model = DTVIN(num_edge_types=9, num_iterations=100)
    model.memory = "checkpoint"
    out = model(batch)
    assert calls == [10] * 10  # ⌈√100⌉ layers per block
    imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes).backward()
    assert calls == [10] * 20  # every block ran once more in the backward pass


def test_blocks_end_at_hooked_layers_and_segments():
    assert block_ends(10, [3, 7], None) == [3, 7, 10]
    assert block_ends(10, [], 4) == [4, 8, 10]
    assert block_ends(10, [5, 12], 4) == [4, 5, 8, 10]


def test_five_thousand_layers_float32_are_finite():
    torch.manual_seed(0)
    batch = maze_batch(count=1, shape=(12, 12))
    model = DTVIN(num_edge_types=9, num_iterations=5000)
    out = model(batch)
    loss = imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes)
    loss.backward()
    assert torch.isfinite(out.v).all() and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_is_refused_clearly(dtype):
    batch = maze_batch(count=1)
    model = DTVIN(num_edge_types=9, num_iterations=10).to(dtype)
    batch.x = batch.x.to(dtype)
    with pytest.raises(TypeError, match="float32 or float64"):
        model(batch)


def test_bad_memory_mode():
    model = VIN(num_edge_types=9, num_iterations=3)
    model.memory = "cheap"
    with pytest.raises(ValueError, match="memory must be one of"):
        model(maze_batch(count=1))
    with pytest.raises(ValueError, match="layers="):
        value_iteration(torch.zeros(3, 2), EdgeTransition(torch.ones(1, 2), torch.tensor([[0], [1]]), 3), 2,
                        hook=lambda *a: None, memory="compact")


@pytest.mark.cuda
def test_compact_backward_on_cuda():
    batch = maze_batch().to("cuda")
    torch.manual_seed(0)
    model = DTVIN(num_edge_types=9, num_iterations=200).cuda()
    grads = []
    for mode in ("autograd", "checkpoint"):
        model.memory = mode
        model.zero_grad()
        out = model(batch)
        imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


HOST_READS = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero", "cpu", "numpy", "equal")


def count_host_reads(monkeypatch, run) -> int:
    """How often ``run()`` reads a tensor's values on the host (a device sync on a GPU), in
    forward and backward: the tensor methods that do so, wrapped to count their calls."""
    calls = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(*args, __original=original, __name=name, **kwargs):
            calls.append(__name)
            return __original(*args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for name in ("nonzero", "equal"):
        monkeypatch.setattr(torch, name, getattr(torch.Tensor, name))
    try:
        run()
    finally:
        monkeypatch.undo()
    return len(calls)


@pytest.mark.parametrize("memory", ("autograd", "compact", "checkpoint"))
def test_no_host_read_per_layer(monkeypatch, memory):
    # The layer loop (forward and backward) must not sync with the host: on a GPU each read
    # stalls the launch queue. What a step reads must not grow with the depth.
    batch = maze_batch()
    torch.manual_seed(0)
    model = DTVIN(num_edge_types=9, num_iterations=5)
    model.memory = memory

    def step(depth):
        out = model(batch, num_iterations=depth)
        imitation_loss(out.log_probs, batch.optimal, batch.edge_index, batch.num_nodes).backward()

    step(5)  # the first call checks the graph once (cached on it)
    gc.collect()
    gc.disable()  # a collection between the steps can empty the checks' per-tensor cache
    try:
        shallow = count_host_reads(monkeypatch, lambda: step(5))
        deep = count_host_reads(monkeypatch, lambda: step(40))
    finally:
        gc.enable()
    # 35 more layers: a read per layer would add at least 35. The graph checks' per-tensor caches
    # still miss now and then (a few reads each, whatever the depth), so allow a handful.
    assert deep - shallow <= 4, (shallow, deep)


@pytest.mark.cuda
@pytest.mark.parametrize("memory", ("autograd", "compact"))
def test_value_iteration_never_syncs_on_cuda(memory):
    batch = maze_batch().to("cuda")
    stencil = build_stencil(batch.edge_index, batch.edge_type, batch.num_nodes, 9)
    weight = torch.rand(batch.num_nodes, 9, 4, device="cuda", requires_grad=True)
    reward = torch.randn(batch.num_nodes, 4, device="cuda", requires_grad=True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        q, v = value_iteration(reward, StencilTransition(weight, stencil), 100, memory=memory)
        (q.sum() + v.sum()).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert weight.grad is not None and reward.grad is not None


def test_inference_keeps_no_history(monkeypatch):
    import gvin.nn.deep as deep

    monkeypatch.setattr(deep.CompactValueIteration, "forward", staticmethod(lambda *a: pytest.fail("history kept")))
    model = DTVIN(num_edge_types=9, num_iterations=50)
    batch = maze_batch(count=1)
    with torch.no_grad():
        out = model(batch)
    assert torch.isfinite(out.v).all()


def test_second_order_gradients_raise_instead_of_being_wrong():
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    weight = torch.rand(6, 3, dtype=torch.float64, requires_grad=True)
    transition = EdgeTransition(weight, edge_index, 3)
    _, v = value_iteration(torch.randn(3, 3, dtype=torch.float64), transition, 5, memory="compact")
    with pytest.raises(RuntimeError, match="second-order gradients"):
        torch.autograd.grad((v**2).sum(), weight, create_graph=True)
