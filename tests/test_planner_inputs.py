"""Planners reject malformed planning graphs with errors that name the field."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN
from gvin.rollout import plan_path


def grid():
    return gvin.from_grid(np.ones((5, 5)), goal=(0, 0))


@pytest.mark.parametrize(
    "corrupt,match",
    [
        (lambda d: setattr(d, "move", d.move[:-3]), r"data.move must be \[E\]"),
        (lambda d: setattr(d, "edge_index", d.edge_index.float()), "int64"),
        (lambda d: d.edge_index.__setitem__((1, 0), 100), "refers to nodes"),
        (lambda d: setattr(d, "x", d.x.long()), "float"),
        (lambda d: d.x.__setitem__((0, 0), float("nan")), "NaN"),
    ],
)
def test_malformed_graph_fields(corrupt, match):
    data = grid()
    corrupt(data)
    with pytest.raises(ValueError, match=match):
        DTVIN(num_edge_types=5, num_iterations=3)(data)


def test_plan_path_keeps_the_model_mode_and_the_graph():
    model = DTVIN(num_edge_types=5, num_iterations=8)
    model.train()
    data = grid()
    del data.move  # planning graphs may omit it: every non-self-loop edge is a move
    before = data.edge_index.clone()
    result = plan_path(model, data, start=24)
    assert model.training
    assert torch.equal(data.edge_index, before)
    assert result.planned[0] == 24 and len(result.optimal) == 9
