"""Per-edge work in chunks, so that a graph's edge count does not set the peak memory.

A per-edge MLP on a 1M-node roadmap (9M edges) holds a ``[9M, 32]`` hidden layer: 1.2 GB in
float32, kept for the backward pass. :func:`over_edge_chunks` runs such a function on chunks of
:data:`EDGE_CHUNK` edges and, in training, recomputes each chunk's intermediates in the backward pass
(``torch.utils.checkpoint``) instead of keeping them: only the inputs and outputs stay alive.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

EDGE_CHUNK = 1 << 20
"""Edges a chunk holds: a hidden layer of width 32 is then at most 128 MiB in float32. Graphs with
fewer edges run in one piece, with nothing recomputed."""


def over_edge_chunks(function: Callable[..., Tensor], *edge_tensors: Tensor) -> Tensor:
    """``function(*edge_tensors)`` for per-edge tensors (rows are edges, ``[E, ...]`` each), computed
    :data:`EDGE_CHUNK` rows at a time and concatenated; the same values and gradients.

    ``function`` must treat rows independently; node tensors it reads from its closure get their
    gradients as usual, but are read again when the backward pass recomputes a chunk: nothing may
    change them in place in between (as for ``torch.utils.checkpoint``).
    """
    num_edges = edge_tensors[0].shape[0]
    if num_edges <= EDGE_CHUNK:
        return function(*edge_tensors)
    pieces = zip(*(tensor.split(EDGE_CHUNK) for tensor in edge_tensors))
    if torch.is_grad_enabled():
        return torch.cat([checkpoint(function, *piece, use_reentrant=False) for piece in pieces])
    return torch.cat([function(*piece) for piece in pieces])


def recomputed_on_large_graphs(function: Callable[..., Tensor], *edge_tensors: Tensor) -> Tensor:
    """``function(*edge_tensors)``; on graphs of more than :data:`EDGE_CHUNK` edges, in training, its
    intermediates are recomputed in the backward pass instead of kept (for per-edge work that
    couples rows, such as a softmax over each node's out-edges, which cannot run in chunks)."""
    if edge_tensors[0].shape[0] <= EDGE_CHUNK or not torch.is_grad_enabled():
        return function(*edge_tensors)
    return checkpoint(function, *edge_tensors, use_reentrant=False)


__all__ = ["EDGE_CHUNK", "over_edge_chunks", "recomputed_on_large_graphs"]
