"""Softmax over the out-edges of each node, with empty rows handled."""
from __future__ import annotations

import torch
from torch import Tensor


def masked_log_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Log-softmax over the entries where ``mask``; ``-inf`` elsewhere.

    A row with no entry gives ``-inf`` everywhere (probabilities 0), never NaN.
    """
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
