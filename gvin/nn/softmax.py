"""Softmax over the out-edges of each node, with empty rows handled."""
from __future__ import annotations

import torch
from torch import Tensor

from gvin import _checks as check


def masked_log_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Log-softmax over the entries where ``mask``; ``-inf`` elsewhere.

    A row with no entry gives ``-inf`` everywhere (probabilities 0), never NaN.
    """
    check.tensor(logits, "logits")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor, got {logits.dtype}")
    check.tensor(mask, "mask")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
    try:
        shape = torch.broadcast_shapes(mask.shape, logits.shape)
    except RuntimeError:
        shape = None
    if shape != logits.shape:
        raise ValueError(f"mask {tuple(mask.shape)} does not fit logits {tuple(logits.shape)}")
    masked = logits.masked_fill(~mask, float("-inf"))
    row_max = masked.amax(dim=dim, keepdim=True).detach()
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    shifted = masked - row_max
    log_norm = torch.logsumexp(shifted, dim=dim, keepdim=True)
    log_norm = torch.where(torch.isfinite(log_norm), log_norm, torch.zeros_like(log_norm))
    return (shifted - log_norm).masked_fill(~mask, float("-inf"))


def segment_log_softmax(logits: Tensor, index: Tensor, num_segments: int, mask: Tensor | None = None) -> Tensor:
    """Log-softmax of ``logits [E, *F]`` within each segment ``index [E]`` (e.g. the source node).

    Entries outside ``mask [E]`` are excluded and get ``-inf``. Segments without
    entries are simply absent; nothing becomes NaN.
    """
    check.tensor(logits, "logits")
    if logits.dim() == 0 or not logits.is_floating_point():
        raise ValueError(f"logits must be a float [E, ...] tensor, got {logits.dtype} {tuple(logits.shape)}")
    num_segments = check.positive_int(num_segments, "num_segments", minimum=0)
    check.tensor(index, "index")
    if index.shape != logits.shape[:1]:
        raise ValueError(f"index must be [E]={logits.shape[0]} (one segment per row of logits), got {tuple(index.shape)}")
    check.integer(index, "index")
    check.index_range(index, num_segments, "index has values in [{low}, {high}] but " f"num_segments={num_segments}")
    if mask is not None:
        check.mask(mask, "mask", logits.shape[:1])
    if mask is not None:
        logits = logits.masked_fill(_expand(~mask, logits), float("-inf"))
    shape = (num_segments, *logits.shape[1:])
    expanded_index = _expand(index, logits)
    seg_max = logits.new_full(shape, float("-inf")).scatter_reduce(
        0, expanded_index, logits.detach(), "amax", include_self=True
    )
    seg_max = torch.where(torch.isfinite(seg_max), seg_max, torch.zeros_like(seg_max))
    shifted = logits - seg_max[index]
    total = logits.new_zeros(shape).index_add_(0, index, shifted.exp())
    log_total = total.clamp_min(torch.finfo(logits.dtype).tiny).log()
    out = shifted - log_total[index]
    if mask is not None:
        out = out.masked_fill(_expand(~mask, out), float("-inf"))
    return out


def _expand(vector: Tensor, like: Tensor) -> Tensor:
    return vector.view(-1, *([1] * (like.dim() - 1))).expand_as(like)
