"""Policies over the out-edges of each node: the agent's real actions are moves along edges."""
from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.chunks import over_edge_chunks
from gvin.nn.edge_geometry_conv import EdgeMLP
from gvin.nn.saved_settings import SavedSetting, WithSavedSettings
from gvin.nn.softmax import segment_log_softmax


HEAD_INPUTS = ("centered", "advantage", "raw")
"""What a policy head reads from ``Q [.., A]``: ``Q - mean_a Q`` (the default), ``Q - V`` or raw ``Q``."""

DEFAULT_HEAD = "centered"

SUCCESSOR_INIT = 1.0
"""The initial ``β`` of the successor-value term ``β V[s']``. Starting at 1 rather than 0, the policy
follows rising values from the first step, so training shapes ``V`` into a map that rises toward the
goal: measured on the shared 15×15 file it learns several times faster, and it keeps its choices when
planning deeper than trained (``benchmarks/results/head_ablation.md``)."""


def check_head_input(head: str, advantage: bool | None = None, default: str = DEFAULT_HEAD) -> str:
    """The head input a planner is built with: ``head`` (one of :data:`HEAD_INPUTS`), or what the
    older ``advantage`` flag says when it is given (``True`` → ``"advantage"``, ``False`` → ``"raw"``;
    ``head`` must then be left at ``default``, the caller's default, or agree).

    Raises:
        ValueError: an unknown ``head``, or ``head`` and ``advantage`` that disagree.
        TypeError: ``advantage`` is not a bool.
    """
    if head not in HEAD_INPUTS:
        raise ValueError(f"head must be one of {HEAD_INPUTS}, got {head!r}")
    if advantage is None:
        return head
    implied = "advantage" if check.flag(advantage, "advantage") else "raw"
    if head not in (default, implied):
        raise ValueError(f"head={head!r} disagrees with advantage={advantage!r}; give only head=")
    return implied


def read_values(q: Tensor, v: Tensor, head: str, dim: int = -1) -> Tensor:
    """What a head of kind ``head`` reads: ``Q - mean_a Q``, ``Q - V`` or ``Q`` (actions along ``dim``).

    The first two are invariant to a constant added to every value, which is how values
    change with depth when ``γ = 1``. Centring passes the head's gradient to every action
    alike; ``Q - V`` routes its ``V`` term through the arg-max action alone.
    """
    if head == "centered":
        return q - q.mean(dim, keepdim=True)
    if head == "advantage":
        return q - v.unsqueeze(dim)
    return q


class _ValueInput(WithSavedSettings):
    """What a policy head reads from ``Q`` (:data:`HEAD_INPUTS`); saved with the weights.

    The choice is a buffer (``head_reads``, an int64 scalar indexing :data:`HEAD_INPUTS`,
    a :class:`~gvin.nn.saved_settings.SavedSetting`). Older state dicts load as the head
    they were trained with: ``reads_advantage`` (a bool) as ``"advantage"`` or ``"raw"``,
    and none at all (weights saved before heads read advantages) as ``"raw"``.
    """

    BUFFER = "head_reads"
    OLD_BUFFER = "reads_advantage"
    head = SavedSetting(BUFFER, legacy="raw", choices=HEAD_INPUTS, check=check_head_input)
    """``"centered"``, ``"advantage"`` or ``"raw"``."""

    def _init_value_input(self, head: str) -> None:
        self.head = head

    @property
    def shift_invariant(self) -> bool:
        """A constant added to every value leaves the policy unchanged (planning deeper is safe)."""
        return self.head != "raw"

    @property
    def advantage(self) -> bool:
        """The head reads ``Q - V`` (the older flag; see :attr:`head`)."""
        return self.head == "advantage"

    def head_input(self, q: Tensor, v: Tensor) -> Tensor:
        """``[N, A]``: :func:`read_values` of this head's kind."""
        return read_values(q, v, self.head)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key, old = prefix + self.BUFFER, prefix + self.OLD_BUFFER
        if old in state_dict:
            reads_advantage = bool(state_dict.pop(old))
            state_dict.setdefault(key, torch.tensor(HEAD_INPUTS.index("advantage" if reads_advantage else "raw")))
        elif key not in state_dict and self.head != "raw" and any(name.startswith(prefix) for name in state_dict):
            warnings.warn(
                "these weights predate advantage-reading policy heads: the head reads raw Q, as it was "
                "trained, so planning deeper than the trained depth shifts its choices",
                stacklevel=2,
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class EdgePolicyHead(_ValueInput):
    r"""Scores every out-edge ``e = (s, s')`` and normalises over the moves of ``s``.

    .. math::
        \ell_e = (Q_s - V_s \mathbf{1})^\top \mathbf{w}_{\tau(e)} + \beta\, V_{s'}, \qquad
        \log \pi(e \mid s) = \ell_e - \log \sum_{e' = (s, \cdot),\ \mathrm{move}(e')} e^{\ell_{e'}}

    On a grid graph with one edge type per direction this is the usual linear
    (1×1 conv) head over ``Q`` plus a learned multiple of the successor's value.
    The formula shows ``head="advantage"``; the default ``head="centered"`` reads
    ``Q_s - \bar Q_s \mathbf{1}`` (the mean over actions) and ``"raw"`` reads ``Q_s``,
    as the published VIN and DT-VIN heads do. The first two make the policy
    invariant to a constant added to every value, which is how values change with
    depth when ``γ = 1`` (the goal's value grows by its reward each layer): a planner
    can then plan deeper than it was trained (``benchmarks/results/head_ablation.md``).

    Args:
        num_actions: ``A``, latent actions in ``Q``.
        num_edge_types: ``T``, one weight vector per edge type.
        successor_value: learn ``β`` for the ``V[s']`` term.
        successor_init: its initial value (default :data:`SUCCESSOR_INIT`, 1).
        head: what the head reads (:data:`HEAD_INPUTS`): ``"centered"``
            (default), ``"advantage"`` or ``"raw"``. Saved in the state dict;
            weights saved before heads read advantages load as raw heads.
        advantage: the older flag (``True``: ``"advantage"``, ``False``: ``"raw"``).

    Shapes:
        q ``[N, A]``, v ``[N]``, edge_index ``[2, E]``, edge_type ``[E]``,
        move ``[E]`` bool → log-probabilities ``[E]`` (``-inf`` on non-moves).
    """

    def __init__(
        self, num_actions: int, num_edge_types: int, successor_value: bool = True, head: str = DEFAULT_HEAD,
        *, advantage: bool | None = None, successor_init: float = SUCCESSOR_INIT,
    ):
        super().__init__()
        self._init_value_input(check_head_input(head, advantage))
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        self.num_edge_types = num_edge_types = check.positive_int(num_edge_types, "num_edge_types")
        self.weight = nn.Parameter(torch.empty(num_actions, num_edge_types))
        self.successor_init = check.real(successor_init, "successor_init")
        self.beta = nn.Parameter(torch.full((), self.successor_init)) if successor_value else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.num_actions)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.beta is not None:
            nn.init.constant_(self.beta, self.successor_init)

    def logits(self, q: Tensor, v: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        """Unnormalised scores ``[E]``."""
        src, dst = edge_index
        scores = (self.head_input(q, v) @ self.weight)[src, edge_type]
        if self.beta is not None:
            scores = scores + self.beta * v[dst]
        return scores

    def forward(
        self, q: Tensor, v: Tensor, edge_index: Tensor, edge_type: Tensor, move: Tensor
    ) -> Tensor:
        num_edges = _check_head_inputs(q, v, edge_index, move, self.num_actions, self.weight)
        check.edge_type(edge_type, num_edges, self.num_edge_types)
        scores = self.logits(q, v, edge_index, edge_type)
        return segment_log_softmax(scores, edge_index[0], q.shape[0], mask=move)


class GeometricPolicyHead(_ValueInput):
    r""":class:`EdgePolicyHead` for graphs without edge types: the weight vector of an edge comes from its geometry.

    .. math::
        \ell_e = (Q_s - V_s \mathbf{1})^\top \mathbf{w}(\mathbf{a}_e) + \beta\, V_{s'}, \qquad
        \log \pi(e \mid s) = \ell_e - \log \sum_{e' = (s, \cdot),\ \mathrm{move}(e')} e^{\ell_{e'}}

    with ``a_e = edge_attr[e]`` and ``w`` an :class:`~gvin.nn.EdgeMLP` (linear when
    ``hidden`` is ``None``/``0``). With ``w(a_e) = W[:, τ(e)]`` it is :class:`EdgePolicyHead`.

    Args:
        num_actions: ``A``, latent actions in ``Q``.
        edge_dim: ``D``, the width of ``edge_attr``.
        hidden: hidden width of ``w`` (``None``/``0``: linear).
        successor_value: learn ``β`` for the ``V[s']`` term.
        successor_init: its initial value (default :data:`SUCCESSOR_INIT`, 1).
        head: what the head reads (see :class:`EdgePolicyHead`).
        advantage: the older flag (``True``: ``"advantage"``, ``False``: ``"raw"``).

    Shapes:
        q ``[N, A]``, v ``[N]``, edge_index ``[2, E]``, edge_attr ``[E, D]``,
        move ``[E]`` bool → log-probabilities ``[E]`` (``-inf`` on non-moves).
    """

    def __init__(
        self, num_actions: int, edge_dim: int, hidden: int | None = 32, successor_value: bool = True,
        head: str = DEFAULT_HEAD, *, advantage: bool | None = None, successor_init: float = SUCCESSOR_INIT,
    ):
        super().__init__()
        self._init_value_input(check_head_input(head, advantage))
        self.num_actions = num_actions = check.positive_int(num_actions, "num_actions")
        self.edge_dim = edge_dim = check.positive_int(edge_dim, "edge_dim")
        self.weight = EdgeMLP(edge_dim, num_actions, hidden)
        self.successor_init = check.real(successor_init, "successor_init")
        self.beta = nn.Parameter(torch.full((), self.successor_init)) if successor_value else None

    def reset_parameters(self) -> None:
        self.weight.reset_parameters()
        if self.beta is not None:
            nn.init.constant_(self.beta, self.successor_init)

    def logits(self, q: Tensor, v: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Unnormalised scores ``[E]``."""
        head_input = self.head_input(q, v)

        def scores(src: Tensor, dst: Tensor, attr: Tensor) -> Tensor:  # [E'] for the edges of a chunk
            out = (head_input[src] * self.weight(attr)).sum(-1)
            return out if self.beta is None else out + self.beta * v[dst]

        return over_edge_chunks(scores, edge_index[0], edge_index[1], edge_attr)

    def forward(
        self, q: Tensor, v: Tensor, edge_index: Tensor, edge_attr: Tensor, move: Tensor
    ) -> Tensor:
        _check_head_inputs(q, v, edge_index, move, self.num_actions, next(self.parameters(), q))
        scores = self.logits(q, v, edge_index, edge_attr)
        return segment_log_softmax(scores, edge_index[0], q.shape[0], mask=move)


def _check_head_inputs(q: Tensor, v: Tensor, edge_index: Tensor, move: Tensor, num_actions: int, weight: Tensor) -> int:
    """``q [N, A]``, ``v [N]``, ``edge_index [2, E]``, ``move [E]`` bool; returns ``E``."""
    check.features(q, "q", num_actions, weight)
    check.tensor(v, "v")
    if v.shape != (q.shape[0],):
        raise ValueError(f"v must be [N]={q.shape[0]} (one value per row of q), got {tuple(v.shape)}")
    num_edges = check.edge_index(edge_index, q.shape[0])
    check.mask(move, "move", (num_edges,))
    return num_edges
