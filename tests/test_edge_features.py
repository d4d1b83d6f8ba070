"""Typed planners that read per-edge features (``edge_features=D``): terrain's rise, slope, lengths and moves.

* with the edge terms at zero (their initialisation) a planner plans exactly as without them;
* with random edge terms the stencil path equals the per-edge scatter path (values and gradients, float64);
* the terms do what they are for: a large weight on the move flag empties the non-moves' transitions;
* bad edge features are refused with a named error.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import gvin
from gvin.datasets.worlds import WORLDS
from gvin.models import DTVIN, GPPN, VIN
from gvin.models.implicit import ImplicitDTVIN, ImplicitGPPN
from gvin.nn.edge_features import EdgeFeatureTerm, edge_feature_matrix

pytestmark = pytest.mark.filterwarnings("ignore:the (forward|backward) fixed-point solve")

MODELS = {
    "vin": lambda **kw: VIN(num_actions=5, hidden_channels=6, gamma=0.9, **kw),
    "dtvin": lambda **kw: DTVIN(num_actions=3, hidden_channels=6, **kw),
    "gppn": lambda **kw: GPPN(hidden_channels=6, **kw),
    "implicit_dtvin": lambda **kw: ImplicitDTVIN(num_actions=3, hidden_channels=6, **kw),
    "implicit_gppn": lambda **kw: ImplicitGPPN(hidden_channels=6, **kw),
}


def terrain_batch(seed: int = 0, size: int = 9) -> Batch:
    graphs = []
    for offset in range(2):
        heights = gvin.random_terrain((size, size), rng=seed + offset)
        graphs.append(gvin.from_terrain(heights, (30.0, 30.0), goal=(1, 1), max_slope_deg=20))
    batch = Batch.from_data_list(graphs)
    for key in ("x", "edge_attr"):
        batch[key] = batch[key].double()
    return batch


def make(kind: str, batch, edge_features: int | None, seed: int = 0):
    torch.manual_seed(seed)
    kwargs = dict(stencil=batch.stencil[0], in_channels=4, num_iterations=8, edge_features=edge_features)
    return MODELS[kind](**kwargs).double()


def randomise_edge_terms(model, scale: float = 0.3, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, EdgeFeatureTerm):
                module.weight.copy_(scale * torch.randn(module.weight.shape, generator=gen, dtype=torch.float64))


def finite(log_probs):
    return log_probs.nan_to_num(0.0, 0.0, 0.0)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_zero_edge_terms_plan_as_without_features(kind):
    batch = terrain_batch()
    plain, aware = make(kind, batch, None), make(kind, batch, 4)
    missing = aware.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("edge_") for key in missing)
    with torch.no_grad():
        torch.testing.assert_close(finite(aware(batch).log_probs), finite(plain(batch).log_probs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_stencil_path_equals_scatter_path(kind):
    """Random edge terms: the dense stencil gathers and the per-edge scatters agree, forward and backward."""
    batch = terrain_batch(seed=3)
    model = make(kind, batch, 4)
    randomise_edge_terms(model)
    results = []
    for use_stencil in (True, False):
        model.zero_grad()
        model.use_stencil = use_stencil
        out = model(batch)
        out.log_probs[batch.move].sum().backward()
        results.append((finite(out.log_probs).detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (stencil_lp, stencil_grads), (scatter_lp, scatter_grads) = results
    torch.testing.assert_close(stencil_lp, scatter_lp, rtol=1e-9, atol=1e-9)
    for name, grad in stencil_grads.items():
        torch.testing.assert_close(grad, scatter_grads[name], rtol=1e-7, atol=1e-9, msg=name)
    edge_grads = [grad for name, grad in stencil_grads.items() if name.startswith("edge_")]
    assert edge_grads and all(grad.abs().sum() > 0 for grad in edge_grads)


def test_dtvin_edge_logits_can_close_the_non_moves():
    """A large weight on the move flag puts (almost) all transition mass on the moves a rover can take."""
    batch = terrain_batch(seed=5)
    model = make("dtvin", batch, 4)
    with torch.no_grad():
        model.edge_logits.weight[-1].fill_(60.0)
        graph = model.read_graph(batch)
        _, transition = model.mdp(graph)
    weight = graph.stencil.to_dense(batch.move.double(), fill=-1.0)  # [N, S]: 1 move, 0 not, -1 empty
    mass_off_moves = (transition.weight * (weight == 0).unsqueeze(-1)).sum(1)  # [N, A]
    has_move = (weight == 1).any(1) & ~batch.goal  # an absorbing goal keeps its mass on its self-loop
    assert float(mass_off_moves[has_move].max()) < 1e-12
    assert 0.1 < float(batch.move.double().mean()) < 0.9  # the terrain has both kinds of steps


@pytest.mark.parametrize("use_stencil", [True, False])
def test_edge_cost_enters_the_backup_as_an_expectation(use_stencil):
    """DT-VIN's edge cost: R[s, a] gains Σ_{e=(s,·)} P[e, a] c_e, with c_e linear in the features."""
    batch = terrain_batch(seed=6)
    model = make("dtvin", batch, 4)
    model.use_stencil = use_stencil
    graph = model.read_graph(batch)
    with torch.no_grad():
        reward_before, transition = model.mdp(graph)
        model.edge_cost.weight[0, 0] = 2.0  # c_e = 2 · symlog(rise_e)
        reward_after, _ = model.mdp(graph)
    cost = 2.0 * graph.edge_features[:, 0]
    per_edge = edge_weights(transition, batch.edge_index.shape[1])  # [E, A]
    expected = torch.zeros_like(reward_before).index_add_(0, batch.edge_index[0], per_edge * cost.unsqueeze(-1))
    torch.testing.assert_close(reward_after - reward_before, expected)
    assert expected.abs().max() > 0.1


def edge_weights(transition, num_edges: int) -> torch.Tensor:
    """``P [E, A]`` of a stencil transition (``[N, S, A]``) or an edge transition."""
    if not hasattr(transition, "stencil"):
        return transition.weight
    out = transition.weight.new_zeros(num_edges + 1, transition.weight.shape[-1])
    out[transition.stencil.edge] = transition.weight  # empty slots land in the extra row
    return out[:num_edges]


def test_feature_matrix():
    edge_attr = torch.tensor([[0.0, -3.0], [np.e - 1.0, 1.0]], dtype=torch.float64)
    move = torch.tensor([True, False])
    f = edge_feature_matrix(edge_attr, move)
    torch.testing.assert_close(f, torch.tensor([[0.0, -np.log(4.0), 1.0], [1.0, np.log(2.0), 0.0]], dtype=torch.float64))


def test_bad_edge_features_are_named():
    batch = terrain_batch()
    with pytest.raises(ValueError, match="edge_features is for typed planners"):
        DTVIN(edge_dim=3, edge_features=4)
    with pytest.raises((TypeError, ValueError), match="edge_features"):
        DTVIN(stencil=batch.stencil[0], edge_features=0)
    model = make("dtvin", batch, 3)
    with pytest.raises(ValueError, match=r"data.edge_attr must be \[E, edge_features\].*edge_features=3"):
        model(batch)
    maze = gvin.from_grid(np.ones((5, 5)), goal=(0, 0), connectivity=8)
    del maze.edge_attr
    with pytest.raises(ValueError, match="has no 'edge_attr' field; a model built with edge_features=4"):
        DTVIN(stencil=maze.stencil, edge_features=4)(maze)
    bad = terrain_batch()
    bad.edge_attr[3, 1] = float("nan")
    with pytest.raises(ValueError, match="edge_attr contains NaN"):
        make("dtvin", bad, 4)(bad)


def test_terrain_world_reads_edge_features_by_default():
    spec = {"connectivity": 8}
    assert WORLDS["terrain"].planner_kwargs(spec)["edge_features"] == 4
    assert "edge_features" not in WORLDS["terrain"].planner_kwargs(spec, edge_features=False)
    assert "edge_features" not in WORLDS["maze"].planner_kwargs({"connectivity": 4})


def test_cli_terrain_edge_features(tmp_path, capsys):
    from gvin.cli import main
    from gvin.train.checkpoint import load_model

    common = ["--world", "terrain", "--terrain-source", "random", "--size", "8", "--counts", "6", "2", "2",
              "--epochs", "1", "--depth", "6"]
    assert main(["train", *common, "--out", str(tmp_path / "aware")]) == 0
    assert load_model(tmp_path / "aware" / "checkpoint.pt")[0].edge_features == 4
    assert main(["train", *common, "--no-edge-features", "--out", str(tmp_path / "plain")]) == 0
    assert load_model(tmp_path / "plain" / "checkpoint.pt")[0].edge_features is None
    capsys.readouterr()
    assert main(["train", *common, "--no-edge-features", "--out", str(tmp_path / "aware")]) == 2
    assert "--no-edge-features" in capsys.readouterr().err  # a resume keeps the planner it started with
    maze = ["--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data"), "--epochs", "1"]
    assert main(["train", *maze, "--no-edge-features", "--out", str(tmp_path / "maze")]) == 2
    assert "read no edge features" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["vin", "dtvin", "gppn"])
def test_edge_terms_gradcheck(kind):
    """Finite differences agree with the gradients of the edge terms (float64, a small terrain map)."""
    heights = gvin.random_terrain((5, 5), rng=11)
    data = gvin.from_terrain(heights, (30.0, 30.0), goal=(0, 0), max_slope_deg=25)
    data.x, data.edge_attr = data.x.double(), data.edge_attr.double()
    torch.manual_seed(0)
    model = MODELS[kind](stencil=data.stencil, in_channels=4, num_iterations=4, edge_features=4).double()
    randomise_edge_terms(model, scale=0.2)
    terms = [m for m in model.modules() if isinstance(m, EdgeFeatureTerm)]
    inputs = tuple(term.weight.detach().clone().requires_grad_() for term in terms)
    for term in terms:
        del term.weight  # the weights become the gradcheck's inputs

    def planned(*weights):
        for term, weight in zip(terms, weights):
            term.weight = weight
        return model(data).log_probs[data.move]

    assert torch.autograd.gradcheck(planned, inputs, eps=1e-6, atol=1e-5)
