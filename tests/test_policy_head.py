"""What the policy heads read from ``Q``: centred ``Q - mean Q`` (default), ``Q - V`` or raw ``Q``.

* a constant added to every ``Q`` and ``V`` leaves a centred or advantage head's policy unchanged
  (and changes a raw head's, which is why deeper planning drifts with it);
* on a DT-VIN with ``γ = 1`` a constant added to every reward adds ``K·c`` to every value:
  only the raw head's policy changes;
* the choice is saved with the weights; older state dicts load as the head they were trained
  with (``reads_advantage``; none at all: raw).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN, GPPN, VIN
from gvin.nn import HEAD_INPUTS, EdgePolicyHead, GeometricPolicyHead
from gvin.nn.policy import read_values
from gvin.train.checkpoint import load_checkpoint, load_model, save_checkpoint
from gvin.train.trainer import TrainConfig, Trainer

INVARIANT = {"centered": True, "advantage": True, "raw": False}


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


@pytest.mark.parametrize("head", HEAD_INPUTS)
def test_typed_head_shift(head):
    q, v, edge_index, move = head_inputs()
    edge_type = torch.arange(edge_index.shape[1]) % 4
    policy = EdgePolicyHead(3, 4, head=head).double()
    with torch.no_grad():
        policy.beta.fill_(0.7)
    before = policy(q, v, edge_index, edge_type, move)
    after = policy(q + 50.0, v + 50.0, edge_index, edge_type, move)
    assert torch.allclose(before, after, atol=1e-9) is INVARIANT[head]
    assert policy.shift_invariant is INVARIANT[head]


@pytest.mark.parametrize("head", HEAD_INPUTS)
def test_geometric_head_shift(head):
    q, v, edge_index, move = head_inputs(seed=1)
    edge_attr = torch.randn(edge_index.shape[1], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    policy = GeometricPolicyHead(3, 2, head=head).double()
    before = policy(q, v, edge_index, edge_attr, move)
    after = policy(q - 30.0, v - 30.0, edge_index, edge_attr, move)
    assert torch.allclose(before, after, atol=1e-9) is INVARIANT[head]


@pytest.mark.parametrize("head, reads", [
    ("centered", lambda q, v: q - q.mean(-1, keepdim=True)),
    ("advantage", lambda q, v: q - v[:, None]),
])
def test_head_reads(head, reads):
    """A head of each kind is the raw head (same weights) fed what it reads."""
    q, v, edge_index, move = head_inputs(seed=3)
    edge_type = torch.arange(edge_index.shape[1]) % 2
    policy, raw = EdgePolicyHead(3, 2, head=head).double(), EdgePolicyHead(3, 2, head="raw").double()
    raw.load_state_dict({**policy.state_dict(), "head_reads": torch.tensor(HEAD_INPUTS.index("raw"))})
    torch.testing.assert_close(policy(q, v, edge_index, edge_type, move), raw(reads(q, v), v, edge_index, edge_type, move))
    torch.testing.assert_close(read_values(q.T, v, head, dim=0).T, reads(q, v))


def test_centered_head_reads_q_alone():
    """Centring passes the head's gradient to every action as ``g - mean(g)``; it never reads ``V``."""
    q, v, *_ = head_inputs(seed=4)
    q, v = q.clone().requires_grad_(), v.clone().requires_grad_()
    upstream = torch.randn(q.shape, dtype=q.dtype, generator=torch.Generator().manual_seed(5))
    (read_values(q, v, "centered") * upstream).sum().backward()
    assert v.grad is None
    torch.testing.assert_close(q.grad, upstream - upstream.mean(-1, keepdim=True))


@pytest.mark.parametrize("head", HEAD_INPUTS)
def test_dtvin_reward_offset(head):
    """γ = 1: every reward + c gives every Q and V + K·c (P is stochastic); only the raw head sees it."""
    data = maze_graph()
    torch.manual_seed(0)
    model = DTVIN(stencil=data.stencil, num_iterations=12, head=head).double()
    data.x = data.x.double()
    with torch.no_grad():
        before = model(data)
        model.reward.bias += 2.5
        after = model(data)
    torch.testing.assert_close(after.v, before.v + 12 * 2.5)
    finite = torch.isfinite(before.log_probs)
    assert torch.allclose(before.log_probs[finite], after.log_probs[finite], atol=1e-8) is INVARIANT[head]


def test_defaults_and_the_older_flag():
    data = maze_graph()
    assert DTVIN(stencil=data.stencil).head.head == "centered"
    assert VIN(stencil=data.stencil).head.head == "centered"
    assert GPPN(stencil=data.stencil).head.head == "raw"  # no values: it reads its hidden state
    assert DTVIN(stencil=data.stencil, advantage=False).head.head == "raw"
    assert VIN(stencil=data.stencil, advantage=True).head.head == "advantage"
    assert DTVIN(head="advantage", advantage=True).head.advantage is True
    from gvin.grid import GridDTVIN

    assert GridDTVIN().head.head == "raw"  # the conv references keep the published head


@pytest.mark.parametrize("head", HEAD_INPUTS)
def test_state_dict_round_trip(head):
    state = DTVIN(head=head).state_dict()
    assert state["head.head_reads"].dtype == torch.int64
    fresh = DTVIN(head="raw" if head != "raw" else "centered")
    fresh.load_state_dict(state)  # the saved choice wins over the constructor's
    assert fresh.head.head == head


@pytest.mark.parametrize("reads_advantage, head", [(True, "advantage"), (False, "raw")])
def test_reads_advantage_state_dicts(reads_advantage, head):
    """State dicts of the bool-flag era keep their head, without a warning."""
    state = DTVIN(head=head).state_dict()
    state["head.reads_advantage"] = torch.tensor(reads_advantage)
    del state["head.head_reads"]
    fresh = DTVIN()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.load_state_dict(state)
    assert fresh.head.head == head
    assert "head.reads_advantage" not in fresh.state_dict()


def test_a_corrupt_head_code_is_named():
    state = DTVIN().state_dict()
    state["head.head_reads"] = torch.tensor(7)
    with pytest.raises(RuntimeError, match="head.head_reads holds 7"):
        DTVIN().load_state_dict(state)


def old_state(model):
    """A state dict as gvin wrote it before heads saved their choice."""
    state = model.state_dict()
    del state["head.head_reads"]
    return state


def test_old_weights_load_as_raw_q_heads():
    data = maze_graph()
    torch.manual_seed(1)
    trained = DTVIN(stencil=data.stencil, num_iterations=9, head="raw")
    fresh = DTVIN(stencil=data.stencil, num_iterations=9)
    with pytest.warns(UserWarning, match="predate advantage-reading policy heads"):
        fresh.load_state_dict(old_state(trained))
    assert fresh.head.head == "raw"
    with torch.no_grad():
        torch.testing.assert_close(fresh(data).log_probs, trained(data).log_probs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DTVIN(stencil=data.stencil, head="raw").load_state_dict(old_state(trained))  # nothing to say


def test_old_checkpoint_keeps_its_head(tmp_path):
    data = maze_graph()
    trainer = Trainer(TrainConfig(model="dtvin", model_kwargs={"stencil": data.stencil, "num_iterations": 9}))
    path = trainer.save(tmp_path / "new.pt")
    payload = load_checkpoint(path)
    payload["model"].pop("head.head_reads")
    save_checkpoint(tmp_path / "old.pt", payload)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, _ = load_model(tmp_path / "old.pt")
    assert model.head.head == "raw"
    assert load_model(path)[0].head.head == "centered"


def test_bad_choice():
    with pytest.raises(TypeError, match="advantage must be True or False"):
        EdgePolicyHead(3, 4, advantage=1)
    with pytest.raises(TypeError, match="advantage must be True or False"):
        DTVIN(advantage="yes")
    with pytest.raises(ValueError, match="head must be one of"):
        DTVIN(head="mean")
    with pytest.raises(ValueError, match="disagrees with advantage=True"):
        VIN(head="raw", advantage=True)
    policy = EdgePolicyHead(3, 4)
    with pytest.raises(ValueError, match="head must be one of"):
        policy.head = "max"
    policy.head = "raw"
    assert int(policy.head_reads) == HEAD_INPUTS.index("raw")


def test_cli_notes_an_old_head_planning_deeper(tmp_path, capsys):
    from gvin.cli import main

    out = tmp_path / "run"
    common = ["--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data")]
    assert main(["train", "--model", "dtvin", *common, "--depth", "6", "--epochs", "1", "--out", str(out)]) == 0
    checkpoint = out / "checkpoint.pt"
    assert main(["evaluate", str(checkpoint), "--depth", "30"]) == 0
    assert "note:" not in capsys.readouterr().err  # a new head plans deeper safely
    payload = load_checkpoint(checkpoint)
    payload["model"].pop("head.head_reads")  # as gvin saved it before heads saved their choice
    save_checkpoint(checkpoint, payload)
    assert main(["evaluate", str(checkpoint), "--depth", "6"]) == 0
    assert "note:" not in capsys.readouterr().err  # at its trained depth nothing changes
    assert main(["evaluate", str(checkpoint), "--depth", "30"]) == 0
    assert "policy head reads raw Q" in capsys.readouterr().err


def test_cli_head_option(tmp_path, capsys):
    from gvin.cli import main

    out = tmp_path / "raw"
    common = ["--size", "7", "--counts", "8", "2", "4", "--root", str(tmp_path / "data"), "--depth", "6", "--epochs", "1"]
    assert main(["train", "--model", "dtvin", *common, "--head", "raw", "--out", str(out)]) == 0
    model, payload = load_model(out / "checkpoint.pt")
    assert model.head.head == "raw"
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--depth", "30"]) == 0
    assert "policy head reads raw Q" in capsys.readouterr().err
    assert main(["train", "--model", "dtvin", *common, "--head", "advantage", "--out", str(out)]) == 2
    assert "--head" in capsys.readouterr().err  # a resume may not change the head
    assert main(["train", "--model", "gppn", *common, "--head", "raw", "--out", str(tmp_path / "g")]) == 2
    assert "--head sets what the policy head" in capsys.readouterr().err
