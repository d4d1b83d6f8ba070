"""Row gathers and scatters whose backward passes keep only the index.

``table[index]`` and ``out.index_add_(0, index, values)`` are the two halves of message passing.
Autograd's own versions cost more than they need: advanced indexing accumulates its gradient with
``index_put_`` (on CPU about twice as slow as ``index_add_``), and ``index_add`` keeps its ``values``
for the backward pass although the gradient needs only the index (``[E, F]`` messages of a 9M-edge
graph: 560 MB at ``F = 8``). These functions keep the index alone.
"""
from __future__ import annotations

import torch
from torch import Tensor

from gvin import _checks as check


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, fixed: bool) -> Tensor:
        if fixed:  # a constant of the graph: kept as is, so its graph can be walked more than once
            ctx.index = index
        else:
            ctx.save_for_backward(index)
        ctx.rows = table.shape[0]
        return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])

    @staticmethod
    def backward(ctx, grad: Tensor):
        index = ctx.index if hasattr(ctx, "index") else ctx.saved_tensors[0]
        return scatter_rows(grad.reshape(-1, *grad.shape[index.dim():]), index.reshape(-1), ctx.rows), None, None


class _ScatterRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: Tensor, index: Tensor, num_rows: int) -> Tensor:
        ctx.save_for_backward(index)
        return values.new_zeros(num_rows, *values.shape[1:]).index_add_(0, index, values)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (index,) = ctx.saved_tensors
        return gather_rows(grad, index), None, None


def gather_rows(table: Tensor, index: Tensor, fixed_index: bool = False) -> Tensor:
    """``table[index]``: rows of ``table [R, *F]`` picked by an integer ``index`` of any shape
    (``[*index.shape, *F]``), read with ``index_select``; its gradient is :func:`scatter_rows`.

    ``fixed_index``: ``index`` is a constant that nothing changes in place (a graph's table), held
    without autograd's bookkeeping, so that a result shared by several losses can be backpropagated
    through more than once (with ``retain_graph`` or not).
    """
    check.tensor(table, "table")
    check.integer(check.tensor(index, "index"), "index")
    if table.dim() == 0:
        raise ValueError("table must have rows ([R, *F]), got a 0-d tensor")
    check.index_range(index, table.shape[0], f"index has values in [{{low}}, {{high}}] but table has {table.shape[0]} rows")
    return _GatherRows.apply(table, index, fixed_index)


def scatter_rows(values: Tensor, index: Tensor, num_rows: int) -> Tensor:
    """``[num_rows, *F]`` zeros with each row ``values[i]`` added at row ``index[i]`` (``values [M, *F]``,
    ``index [M]``); its gradient is :func:`gather_rows`, so only ``index`` is kept for it."""
    check.tensor(values, "values")
    check.integer(check.tensor(index, "index"), "index")
    num_rows = check.positive_int(num_rows, "num_rows", minimum=0)
    if index.dim() != 1 or values.dim() == 0 or values.shape[0] != index.shape[0]:
        raise ValueError(f"index must be [M] for values [M, *F]; got index {tuple(index.shape)}, values {tuple(values.shape)}")
    check.index_range(index, num_rows, f"index has values in [{{low}}, {{high}}] but there are {num_rows} rows")
    return _ScatterRows.apply(values, index, num_rows)


__all__ = ["gather_rows", "scatter_rows"]
