"""Dynamic-Transition VIN (Wang et al., 2024) on planning graphs."""
from __future__ import annotations

import torch

from torch import Tensor, nn

from gvin._checks import discount, flag, positive_int
from gvin.models.base import GraphInputs, ValueIterationPlanner
from gvin.nn.policy import DEFAULT_HEAD, SUCCESSOR_INIT, check_head_input
from gvin.nn.edge_kernels import DEFAULT_NUM_EDGE_TYPES
from gvin.nn.saved_settings import SavedSetting, WithSavedSettings
from gvin.nn.transitions import move_support
from gvin.nn.bellman import Transition


class DTVIN(WithSavedSettings, ValueIterationPlanner):
    r"""VIN whose transition weights are predicted per state (DT-VIN).

    .. math::
        r = w_r^\top \mathrm{ReLU}(\mathrm{conv}_\tau(x)) + b_r, \quad
        Q_k[s,a] = \sum_{e=(s,s')} P[e,a]\,(r_{s'} + \gamma V_{k-1}[s']), \quad
        V_k = \max_a Q_k

    with ``P`` from :class:`~gvin.nn.transitions.DynamicTransition` (a softmax
    over each node's out-edges, computed once and shared by all layers, so ``Q``
    is an expectation of ``r + γV``) and ``V_0 = 0``. The policy head reads
    ``Q_K`` and the successor's ``V_K``. With ``edge_dim`` (graphs without edge
    types) the convs are :class:`~gvin.nn.EdgeGeometryConv` and ``P`` comes from
    :class:`~gvin.nn.transitions.GeometricDynamicTransition`: per-edge logits
    from the features of both ends and ``edge_attr``, softmax over the out-edges.

    With ``edge_features=D`` a typed DT-VIN also reads each edge's features
    ``f_e`` (``edge_attr [E, D]`` and the move flag, :mod:`gvin.nn.edge_features`):
    they add ``U^T f_e`` to the transition logits of ``e`` and a cost
    ``c_e = u^\top f_e`` to its backup, ``Q_k[s,a] = Σ_e P[e,a](r_{s'} + c_e + γV_{k-1}[s'])``.
    On terrain this is how it tells a step it can climb from a cliff in the same
    direction. ``U`` and ``u`` start at zero.

    Args:
        in_channels: node features (2 for grid graphs).
        num_edge_types: ``T`` stencil slots; 9 unless ``edge_dim`` is given.
        num_actions: latent actions ``A``.
        hidden_channels: channels of the reward and transition encoders.
        num_iterations: default depth ``K``.
        gamma: discount (1 as in DT-VIN; < 1 makes the operator a contraction).
        actions: the policy chooses among ``"moves"`` or all ``"directions"``.
        edge_features: ``D`` of ``data.edge_attr [E, D]`` to read as per-edge
            features (typed planners; ``None``: edge types alone).
        absorbing_goal: the goal keeps all its transition mass on its self-loop
            (default), so with ``γ = 1`` its value grows by exactly its reward each
            layer and the values behind it settle into a front that moves on
            unchanged: the policy holds when planning deeper than trained. Saved
            with the weights (``goal_absorbs``); weights saved before it existed load
            with ``False``, as they were trained. The goals are ``data.goal``: a
            graph without that field, or a goal without a self-loop edge, keeps its
            learned transitions.
        move_transitions: ``P`` puts mass only on the moves (``data.move``) and the
            self-loops (:func:`~gvin.nn.transitions.move_support`, default), so a cell's
            values never read an obstacle's: trained planners then keep their choices when
            planning 8× deeper (``benchmarks/results/head_ablation.md``). ``False`` is the
            published DT-VIN, whose kernels also reach into walls. Saved with the weights
            (``moves_only``); older weights load with ``False``.
        stencil: ``[T, d]`` offsets table (``gvin.grid_stencil(...)``) of the grid
            graphs the planner is built for; sets ``num_edge_types = T`` and makes
            the planner refuse a graph whose ``data.stencil`` differs.
        edge_dim: ``D``: plan on ``data.edge_attr [E, D]`` instead of edge types.
        num_bases: (geometric) kernel matrices mixed per edge in the convs.
        edge_hidden: (geometric) hidden width of the edge MLPs.
        head: what the policy head reads from ``Q_K``: ``"centered"`` (default), ``"advantage"``
            or ``"raw"`` (the published head); see :class:`~gvin.nn.EdgePolicyHead`.
        advantage: the older flag (``True``: ``head="advantage"``, ``False``: ``head="raw"``).
        successor_init: the initial ``β`` of the head's ``β V_K[s']`` term (default 1,
            :data:`~gvin.nn.policy.SUCCESSOR_INIT`).
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_edge_types: int | None = DEFAULT_NUM_EDGE_TYPES,
        num_actions: int = 4,
        hidden_channels: int = 32,
        num_iterations: int = 50,
        gamma: float = 1.0,
        actions: str = "moves",
        edge_dim: int | None = None,
        num_bases: int = 8,
        edge_hidden: int = 32,
        stencil=None,
        head: str = DEFAULT_HEAD,
        advantage: bool | None = None,
        successor_init: float = SUCCESSOR_INIT,
        edge_features: int | None = None,
        absorbing_goal: bool = True,
        move_transitions: bool = True,
    ):
        super().__init__(
            in_channels, num_iterations, actions, num_edge_types=num_edge_types, edge_dim=edge_dim, stencil=stencil,
            num_bases=num_bases, edge_hidden=edge_hidden, edge_features=edge_features,
        )
        edges = self.edge_kernels
        self.num_actions = positive_int(num_actions, "num_actions")
        hidden_channels = positive_int(hidden_channels, "hidden_channels")
        self.gamma = discount(gamma)
        self.encoder = edges.conv(in_channels, hidden_channels)
        self.reward = nn.Linear(hidden_channels, 1)
        self.transition = edges.dynamic_transition(in_channels, num_actions, hidden_channels)
        self.head = edges.policy_head(num_actions, head=check_head_input(head, advantage), successor_init=successor_init)
        self.edge_logits, self.edge_cost = self.edge_term(self.num_actions), self.edge_term(1)
        self.absorbing_goal = flag(absorbing_goal, "absorbing_goal")
        self.move_transitions = flag(move_transitions, "move_transitions")

    GOAL_BUFFER = "goal_absorbs"
    MOVES_BUFFER = "moves_only"
    absorbing_goal = SavedSetting(GOAL_BUFFER, legacy=False)
    """The goal keeps all its transition mass on itself (saved with the weights; older weights: ``False``)."""
    move_transitions = SavedSetting(MOVES_BUFFER, legacy=False)
    """Transitions put mass only on moves and self-loops (saved with the weights; older weights: ``False``)."""

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.reward, self.transition, self.head, self.edge_logits, self.edge_cost):
            if module is not None:
                module.reset_parameters()

    def node_reward(self, graph: GraphInputs) -> Tensor:
        """``r [N]``."""
        h = torch.relu(self.encoder(graph.x, *graph.conv_args))
        return self.reward(h).squeeze(-1)

    def mdp(self, graph: GraphInputs) -> tuple[Tensor, Transition]:
        """The latent MDP value iteration solves: ``R [N, A]`` (the expected reward of each latent
        action) and the transition ``P`` (the goal made absorbing when :attr:`absorbing_goal`)."""
        features = graph.edge_features if self.edge_logits is not None else None
        options = {}
        if features is not None:
            options["edge_logits"] = self.edge_logits(features)
        if self.move_transitions and graph.moves is not None:
            options["support"] = move_support(graph.edge_index, graph.moves, graph.num_nodes)
        transition = self.transition(graph.x, *graph.conv_args, **options)
        if graph.stencil is None:  # an edge list: gather over its padded neighbour table when it has one
            transition = transition.on_table(graph.neighbour_table)
        if self.absorbing_goal and graph.goal is not None:
            transition = transition.absorbing(graph.goal)
        reward = transition(self.node_reward(graph))
        if features is not None:
            reward = reward + transition.expect(self.edge_cost(features).squeeze(-1))
        return reward, transition

