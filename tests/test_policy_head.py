"""The policy heads read advantages ``Q - V``: planning deeper than trained does not shift the policy.

* a constant added to every ``Q`` and ``V`` leaves an advantage head's policy unchanged
  (and changes a raw-``Q`` head's, which is why deeper planning used to drift);
* on a DT-VIN with ``γ = 1`` a constant added to every reward adds ``K·c`` to every value:
  the advantage head's policy is the same, the raw head's is not;
* the choice is saved with the weights; weights saved before it existed load as raw-``Q`` heads.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN, GPPN, VIN
from gvin.nn import EdgePolicyHead, GeometricPolicyHead
from gvin.train.checkpoint import load_checkpoint, load_planner, save_checkpoint
from gvin.train.trainer import TrainConfig, Trainer


def maze_graph():
    maze = np.ones((6, 7))
    maze[2, 1:5] = 0
    maze[4, 3:] = 0
    return gvin.from_grid(maze, goal=(0, 6), connectivity=8)


def head_inputs(num_nodes=5, num_actions=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(num_nodes, num_actions, generator=gen, dtype=torch.float64)
    v = q.max(-1).values
    src = torch.arange(num_nodes).repeat_interleave(num_nodes - 1)
    dst = torch.cat([torch.cat([torch.arange(i), torch.arange(i + 1, num_nodes)]) for i in range(num_nodes)])
    edge_index = torch.stack([src, dst])
    move = torch.ones(edge_index.shape[1], dtype=torch.bool)
    return q, v, edge_index, move


@pytest.mark.parametrize("advantage", [True, False])
def test_typed_head_shift(advantage):
    q, v, edge_index, move = head_inputs()
    edge_type = torch.arange(edge_index.shape[1]) % 4
    head = EdgePolicyHead(3, 4, advantage=advantage).double()
    with torch.no_grad():
        head.beta.fill_(0.7)
    before = head(q, v, edge_index, edge_type, move)
    after = head(q + 50.0, v + 50.0, edge_index, edge_type, move)
    assert torch.allclose(before, after, atol=1e-9) is advantage


@pytest.mark.parametrize("advantage", [True, False])
def test_geometric_head_shift(advantage):
    q, v, edge_index, move = head_inputs(seed=1)
    edge_attr = torch.randn(edge_index.shape[1], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    head = GeometricPolicyHead(3, 2, advantage=advantage).double()
    before = head(q, v, edge_index, edge_attr, move)
    after = head(q - 30.0, v - 30.0, edge_index, edge_attr, move)
    assert torch.allclose(before, after, atol=1e-9) is advantage


def test_advantage_head_reads_q_minus_v():
    q, v, edge_index, move = head_inputs(seed=3)
    edge_type = torch.arange(edge_index.shape[1]) % 2
    new, old = EdgePolicyHead(3, 2).double(), EdgePolicyHead(3, 2, advantage=False).double()
    old.load_state_dict(new.state_dict())  # the saved choice wins over the constructor's
    assert old.advantage is True
    old.advantage = False
    torch.testing.assert_close(new(q, v, edge_index, edge_type, move), old(q - v[:, None], v, edge_index, edge_type, move))


@pytest.mark.parametrize("advantage", [True, False])
def test_dtvin_reward_offset(advantage):
    """γ = 1: every reward + c gives every Q and V + K·c (P is stochastic); only the advantage head ignores it."""
    data = maze_graph()
    torch.manual_seed(0)
    model = DTVIN(stencil=data.stencil, num_iterations=12, advantage=advantage).double()
    data.x = data.x.double()
    with torch.no_grad():
        before = model(data)
        model.reward.bias += 2.5
        after = model(data)
    torch.testing.assert_close(after.v, before.v + 12 * 2.5)
    finite = torch.isfinite(before.log_probs)
    assert torch.allclose(before.log_probs[finite], after.log_probs[finite], atol=1e-8) is advantage


def test_defaults():
    data = maze_graph()
    assert DTVIN(stencil=data.stencil).head.advantage is True
    assert VIN(stencil=data.stencil).head.advantage is True
    assert GPPN(stencil=data.stencil).head.advantage is False  # no values: it reads its hidden state
    assert DTVIN(stencil=data.stencil, advantage=False).head.advantage is False


def test_state_dict_round_trip():
    model = DTVIN(advantage=False)
    state = model.state_dict()
    assert state["head.reads_advantage"].dtype == torch.bool and not state["head.reads_advantage"]
    fresh = DTVIN()
    fresh.load_state_dict(state)
    assert fresh.head.advantage is False


def old_state(model):
    """A state dict as gvin wrote it before heads saved their choice."""
    state = model.state_dict()
    del state["head.reads_advantage"]
    return state


def test_old_weights_load_as_raw_q_heads():
    data = maze_graph()
    torch.manual_seed(1)
    trained = DTVIN(stencil=data.stencil, num_iterations=9, advantage=False)
    fresh = DTVIN(stencil=data.stencil, num_iterations=9)
    with pytest.warns(UserWarning, match="predate advantage-reading policy heads"):
        fresh.load_state_dict(old_state(trained))
    assert fresh.head.advantage is False
    with torch.no_grad():
        torch.testing.assert_close(fresh(data).log_probs, trained(data).log_probs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DTVIN(stencil=data.stencil, advantage=False).load_state_dict(old_state(trained))  # nothing to say


def test_old_checkpoint_keeps_its_head(tmp_path):
    data = maze_graph()
    trainer = Trainer(TrainConfig(model="dtvin", model_kwargs={"stencil": data.stencil, "num_iterations": 9}))
    path = trainer.save(tmp_path / "new.pt")
    payload = load_checkpoint(path)
    payload["model"].pop("head.reads_advantage")
    save_checkpoint(tmp_path / "old.pt", payload)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, _ = load_planner(tmp_path / "old.pt")
    assert model.head.advantage is False
    assert load_planner(path)[0].head.advantage is True


def test_bad_choice():
    with pytest.raises(TypeError, match="advantage must be True or False"):
        EdgePolicyHead(3, 4, advantage=1)
    with pytest.raises(TypeError, match="advantage must be True or False"):
        DTVIN(advantage="yes")
    head = EdgePolicyHead(3, 4)
    with pytest.raises(TypeError, match="advantage must be True or False"):
        head.advantage = 0


def test_cli_notes_an_old_head_planning_deeper(tmp_path, capsys):
    from gvin.cli import main

    out = tmp_path / "run"
    common = ["--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data")]
    assert main(["train", "--model", "dtvin", *common, "--depth", "6", "--epochs", "1", "--out", str(out)]) == 0
    checkpoint = out / "checkpoint.pt"
    assert main(["evaluate", str(checkpoint), "--depth", "30"]) == 0
    assert "note:" not in capsys.readouterr().err  # a new head plans deeper safely
    payload = load_checkpoint(checkpoint)
    payload["model"].pop("head.reads_advantage")  # as gvin saved it before
    save_checkpoint(checkpoint, payload)
    assert main(["evaluate", str(checkpoint), "--depth", "6"]) == 0
    assert "note:" not in capsys.readouterr().err  # at its trained depth nothing changes
    assert main(["evaluate", str(checkpoint), "--depth", "30"]) == 0
    assert "policy head reads raw Q" in capsys.readouterr().err
