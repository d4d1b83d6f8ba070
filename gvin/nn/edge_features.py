"""Per-edge features for typed planners: what an edge of a stencil graph says beyond its type.

A typed planner (VIN, DT-VIN, GPPN on a grid graph) shares one weight per edge
type, so on its own it cannot tell a climbable step of a terrain map from a
cliff in the same direction. Built with ``edge_features=D`` it also reads

.. math::
    f_e = \\big(\\operatorname{symlog}(\\mathbf{a}_e),\\ \\mathrm{move}_e\\big) \\in \\mathbb{R}^{D+1},
    \\qquad \\operatorname{symlog}(a) = \\operatorname{sign}(a)\\,\\log(1 + |a|)

for ``a_e = data.edge_attr[e]`` (any units: metres, radians, cells) and the move
mask, and adds linear terms of ``f_e`` to its per-edge weights. Every term is a
bias-free linear map that starts at zero, so an untrained edge-aware planner
plans exactly as the same planner without edge features.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.stencil import Stencil


def edge_feature_matrix(edge_attr: Tensor, move: Tensor) -> Tensor:
    """``f [E, D + 1]``: ``symlog(edge_attr)`` and the move flag as a float column.

    Args:
        edge_attr: ``[E, D]`` float; move: ``[E]`` bool.
    """
    scaled = torch.sign(edge_attr) * torch.log1p(edge_attr.abs())
    return torch.cat([scaled, move.to(edge_attr.dtype).unsqueeze(-1)], dim=-1)


class EdgeFeatureTerm(nn.Module):
    """``f [E, F] → f W [E, C]`` with ``W`` bias-free and initialised to zero.

    No bias, so that an empty stencil slot (features ``0``) contributes nothing.

    Args:
        num_features: ``F`` (``D + 1`` for ``edge_attr [E, D]`` and the move flag).
        out_channels: ``C``.
    """

    def __init__(self, num_features: int, out_channels: int):
        super().__init__()
        self.num_features = check.positive_int(num_features, "num_features")
        self.out_channels = check.positive_int(out_channels, "out_channels")
        self.weight = nn.Parameter(torch.zeros(self.num_features, self.out_channels))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)

    def forward(self, features: Tensor, stencil: Stencil | None = None) -> Tensor:
        """``[E, C]`` per edge, or ``[N, S, C]`` on ``stencil``'s slots (zero in empty slots)."""
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"edge features must be [E, {self.num_features}], got {tuple(features.shape)}"
            )
        out = features @ self.weight
        return stencil.to_dense(out) if stencil is not None else out

    def extra_repr(self) -> str:
        return f"{self.num_features}, {self.out_channels}"
