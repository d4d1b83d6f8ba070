"""Imitation losses: optimal-set NLL (ties kept), the adaptive highway loss, highway layers."""
import math

import pytest
import torch

from gvin.nn.softmax import segment_log_softmax
from gvin.train import highway_layers, highway_loss, imitation_loss, optimal_set_nll, segment_logsumexp

# A tiny graph: node 0 has three out-edges (two optimal: a tie), node 1 two
# (one optimal), node 2 (the goal) one unlabelled edge, node 3 no out-edge.
EDGE_INDEX = torch.tensor([[0, 0, 0, 1, 1, 2], [1, 2, 3, 0, 2, 0]])
PROBS = torch.tensor([0.5, 0.3, 0.2, 0.25, 0.75, 1.0], dtype=torch.float64)
OPTIMAL = torch.tensor([True, True, False, True, False, False])


def test_optimal_set_nll_hand_computed():
    log_probs = PROBS.log().requires_grad_()
    loss, labelled = optimal_set_nll(log_probs, OPTIMAL, EDGE_INDEX, 4)
    expected = torch.tensor([-math.log(0.5 + 0.3), -math.log(0.25), 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(loss, expected)
    assert labelled.tolist() == [True, True, False, False]
    mean = imitation_loss(log_probs, OPTIMAL, EDGE_INDEX, 4)
    torch.testing.assert_close(mean, expected[:2].mean())
    # d(-log(p1+p2))/d(log p_i) = -p_i / (p1+p2) on the optimal edges, 0 elsewhere.
    (grad,) = torch.autograd.grad(loss.sum(), log_probs)
    torch.testing.assert_close(
        grad, torch.tensor([-0.5 / 0.8, -0.3 / 0.8, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    )


def test_optimal_set_nll_tie_is_not_single_label_cross_entropy():
    """With both tied moves optimal, putting all mass on either one is a perfect policy."""
    edge_index = torch.tensor([[0, 0, 0], [1, 2, 3]])
    optimal = torch.tensor([True, True, False])
    for probs in ([1.0, 1e-30, 0.0], [1e-30, 1.0, 0.0], [0.5, 0.5, 0.0]):
        log_probs = torch.tensor(probs, dtype=torch.float64).log()
        loss, _ = optimal_set_nll(log_probs, optimal, edge_index, 4)
        assert loss[0].item() == pytest.approx(0.0, abs=1e-6)


def test_segment_logsumexp_matches_torch_and_handles_empty_segments():
    torch.manual_seed(0)
    values = torch.randn(20, dtype=torch.float64)
    index = torch.randint(0, 5, (20,))
    index[index == 3] = 4  # segment 3 empty
    values[index == 2] = float("-inf")  # segment 2 only -inf
    out = segment_logsumexp(values, index, 6)
    for seg in range(6):
        members = values[index == seg]
        expected = torch.logsumexp(members, 0) if members.numel() else torch.tensor(float("-inf"))
        assert out[seg].item() == pytest.approx(expected.item())  # -inf only where expected (never +inf)


def test_gradients_finite_when_nodes_have_no_choices():
    """Nodes whose out-edges are all excluded (log-prob -inf) must not turn gradients into NaN."""
    torch.manual_seed(1)
    edge_index = torch.tensor([[0, 0, 1, 1, 2, 2, 3], [1, 2, 0, 2, 0, 1, 0]])
    choice = torch.tensor([True, True, True, True, False, False, True])  # node 2: no choice
    optimal = torch.tensor([True, False, False, True, False, False, True])
    dist = torch.tensor([1.0, 1.0, 0.0, 2.0, float("inf")])
    logits = torch.randn(7, requires_grad=True)
    log_probs = segment_log_softmax(logits, edge_index[0], 5, mask=choice)  # node 4 has no out-edge at all
    assert torch.isinf(log_probs[4]) and torch.isinf(log_probs[5])  # node 2's edges
    for loss in (
        imitation_loss(log_probs, optimal, edge_index, 5),
        highway_loss({1: log_probs, 2: log_probs}, optimal, dist, edge_index, 5),
    ):
        (grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_losses_without_any_labelled_pair_are_zero_and_differentiable():
    logits = torch.randn(6, requires_grad=True)
    log_probs = segment_log_softmax(logits, EDGE_INDEX[0], 4)
    none = torch.zeros(6, dtype=torch.bool)
    loss = imitation_loss(log_probs, none, EDGE_INDEX, 4)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros(6))
    far = torch.full((4,), 100.0)  # no node is within reach of layer 3
    hw = highway_loss({3: log_probs}, OPTIMAL, far, EDGE_INDEX, 4)
    assert hw.item() == 0.0 and hw.requires_grad


def _random_labelled_graph(seed: int, num_nodes: int = 12, degree: int = 3):
    gen = torch.Generator().manual_seed(seed)
    src = torch.arange(num_nodes).repeat_interleave(degree)
    dst = torch.randint(0, num_nodes, (src.numel(),), generator=gen)
    edge_index = torch.stack([src, dst])
    optimal = torch.rand(src.numel(), generator=gen) < 0.4
    dist = torch.randint(0, 8, (num_nodes,), generator=gen).float()
    dist[torch.rand(num_nodes, generator=gen) < 0.2] = float("inf")
    return edge_index, optimal, dist


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_highway_loss_selects_exactly_layers_at_least_the_distance(seed):
    edge_index, optimal, dist = _random_labelled_graph(seed)
    num_nodes = dist.numel()
    gen = torch.Generator().manual_seed(100 + seed)
    layers = [2, 4, 6, 7]
    layer_log_probs = {
        n: segment_log_softmax(
            torch.randn(edge_index.shape[1], generator=gen, dtype=torch.float64), edge_index[0], num_nodes
        ).requires_grad_()
        for n in layers
    }
    loss = highway_loss(layer_log_probs, optimal, dist, edge_index, num_nodes)

    # Brute force: the pairs (n, s) with s labelled and n >= dist[s].
    terms = []
    for n in layers:
        per_node, labelled = optimal_set_nll(layer_log_probs[n], optimal, edge_index, num_nodes)
        for s in range(num_nodes):
            if labelled[s] and n >= dist[s].item():
                terms.append(per_node[s])
    assert 0 < len(terms) < len(layers) * int(labelled.sum())  # the selection is not trivial
    torch.testing.assert_close(loss, torch.stack(terms).mean())

    # The gradient reaches exactly the optimal edges of the selected pairs.
    grads = torch.autograd.grad(loss, [layer_log_probs[n] for n in layers])
    src = edge_index[0]
    for n, grad in zip(layers, grads):
        expected = optimal & (dist[src] <= n)
        assert torch.equal(grad != 0, expected), f"layer {n}"


def test_highway_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one layer"):
        highway_loss({}, OPTIMAL, torch.zeros(4), EDGE_INDEX, 4)
    with pytest.raises(ValueError, match="dist"):
        highway_loss({1: PROBS.log()}, OPTIMAL, torch.zeros(3), EDGE_INDEX, 4)
    with pytest.raises(ValueError, match="log_probs"):
        optimal_set_nll(PROBS.log()[:5], OPTIMAL, EDGE_INDEX, 4)
    with pytest.raises(ValueError, match="optimal"):
        optimal_set_nll(PROBS.log(), OPTIMAL[:5], EDGE_INDEX, 4)


@pytest.mark.parametrize(
    "depth, every, expected",
    [(10, 3, [3, 6, 9, 10]), (9, 3, [3, 6, 9]), (2, 5, [2]), (1, 1, [1]), (4, 1, [1, 2, 3, 4]), (30, 10, [10, 20, 30])],
)
def test_highway_layers(depth, every, expected):
    assert highway_layers(depth, every) == expected


def test_highway_layers_rejects_bad_input():
    with pytest.raises(ValueError, match="interval"):
        highway_layers(10, 0)
    with pytest.raises(ValueError, match="depth"):
        highway_layers(0, 2)
