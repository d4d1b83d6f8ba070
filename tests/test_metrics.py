"""Planning metrics against a brute-force rollout, GPPN's special cases, random starts."""
import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from gvin import from_grid
from gvin.nn.softmax import segment_log_softmax
from gvin.planners import optimal_edges, shortest_path_distances
from gvin.train import (
    graph_scores,
    greedy_edges,
    greedy_successor,
    planning_metrics,
    random_start_success,
    rollout_lengths,
    sample_starts,
)


@pytest.fixture(scope="module")
def mazes(maze_data):
    """Small labelled mazes of several sizes and kinds (with unreachable free cells)."""
    graphs = []
    for kind, size, kernel in (("gridworld", 5, 3), ("gppn", 7, 3), ("gridworld", 9, None), ("gppn", 6, 5)):
        data = maze_data(kind=kind, size=size, counts=(5, 0, 0), connectivity=4, kernel_size=kernel)
        graphs += [data[i] for i in range(len(data))]
    return graphs


def random_policy(data, seed: int, over: str = "move", expert_bonus: float = 3.0, quantize: bool = False):
    """Random logits, an expert bonus at a random half of the nodes, log-softmax over ``over``."""
    gen = torch.Generator().manual_seed(seed)
    src = data.edge_index[0]
    logits = torch.randn(src.numel(), generator=gen)
    if quantize:  # many exact ties
        logits = logits.round()
    helped = torch.rand(data.num_nodes, generator=gen) < 0.5
    logits = logits + expert_bonus * (data.optimal & helped[src]).float()
    return segment_log_softmax(logits, src, data.num_nodes, mask=getattr(data, over))


def brute_force(data, log_probs):
    """Pure-Python scoring: follow the arg-max (lowest edge id on ties) from every free cell that can
    reach the goal (the others are not counted)."""
    num_nodes = data.num_nodes
    src, dst = data.edge_index.tolist()
    lp, move = log_probs.tolist(), data.move.tolist()
    goal, dist, free = data.goal.tolist(), data.dist.tolist(), (data.x[:, 0] > 0.5).tolist()
    out = [[] for _ in range(num_nodes)]
    for e, s in enumerate(src):
        out[s].append(e)
    per_node = {}
    for s in range(num_nodes):
        if not free[s] or not math.isfinite(dist[s]):
            continue
        cur, steps, reached = s, 0, False
        for _ in range(num_nodes + 1):  # a successful path never repeats a node
            if goal[cur]:
                reached = True
                break
            candidates = [e for e in out[cur] if math.isfinite(lp[e])]
            if not candidates:
                break
            e = max(candidates, key=lambda e: (lp[e], -e))
            if not move[e]:
                break  # into a wall / not a move: the agent stays, it fails
            cur, steps = dst[e], steps + 1
        optimal = reached and steps == dist[s]
        per_node[s] = (optimal, reached, steps)
    n = len(per_node)
    return (
        sum(o for o, _, _ in per_node.values()) / n,
        sum(r for _, r, _ in per_node.values()) / n,
        per_node,
    )


def metrics_of(data, log_probs, **kwargs):
    free = data.x[:, 0] > 0.5
    batch = getattr(data, "batch", None)
    return planning_metrics(log_probs, data.edge_index, data.move, data.goal, data.dist, free, batch, **kwargs)


@pytest.mark.parametrize("over", ["move", "action"])
@pytest.mark.parametrize("quantize", [False, True])
def test_planning_metrics_match_brute_force(mazes, over, quantize):
    suboptimal_successes = wall_moves = 0
    for i, data in enumerate(mazes):
        for seed in range(3):
            log_probs = random_policy(data, 1000 * i + seed, over, quantize=quantize)
            opt, suc, per_node = brute_force(data, log_probs)
            metrics = metrics_of(data, log_probs)
            assert metrics.num_graphs == 1
            assert metrics.optimal == pytest.approx(opt, abs=1e-12)
            assert metrics.success == pytest.approx(suc, abs=1e-12)
            suboptimal_successes += sum(r and not o for o, r, _ in per_node.values())
            chosen = greedy_edges(log_probs, data.edge_index, data.num_nodes)
            wall_moves += int((~data.move[chosen[chosen >= 0]]).sum())
    assert suboptimal_successes > 0  # the cases are not all trivially optimal
    if over == "action":
        assert wall_moves > 0  # and moves into walls do occur (and must fail)


def test_rollout_lengths_equal_brute_force_steps(mazes):
    data = mazes[3]
    log_probs = random_policy(data, 7)
    _, _, per_node = brute_force(data, log_probs)
    successor, valid = greedy_successor(log_probs, data.edge_index, data.num_nodes, data.move)
    lengths = rollout_lengths(successor, valid, data.goal)
    for s, (_, reached, steps) in per_node.items():
        assert (lengths[s].item() == steps) if reached else math.isinf(lengths[s].item())


def test_per_graph_averaging_on_a_batch_of_different_sizes(mazes):
    graphs = [mazes[0], mazes[6], mazes[11], mazes[17]]
    assert len({g.num_nodes for g in graphs}) == 4
    batch = Batch.from_data_list(graphs)
    log_probs = torch.cat([random_policy(g, 50 + k) for k, g in enumerate(graphs)])
    per_graph = [brute_force(g, lp) for g, lp in zip(graphs, log_probs.split([g.num_edges for g in graphs]))]
    metrics = metrics_of(batch, log_probs)
    assert metrics.num_graphs == 4
    assert metrics.optimal == pytest.approx(np.mean([p[0] for p in per_graph]), abs=1e-12)
    assert metrics.success == pytest.approx(np.mean([p[1] for p in per_graph]), abs=1e-12)
    # Not the node-pooled mean: large mazes do not outweigh small ones.
    pooled = sum(sum(r for _, r, _ in p[2].values()) for p in per_graph) / sum(len(p[2]) for p in per_graph)
    assert abs(metrics.success - pooled) > 1e-6


def special_maze():
    """A ring around a wall, goal at (0, 0), and two free cells walled off on the right."""
    free = np.array(
        [
            [1, 1, 1, 0, 1],
            [1, 0, 1, 0, 1],
            [1, 1, 1, 0, 0],
        ]
    )
    data = from_grid(free, goal=(0, 0), connectivity=4, kernel_size=3)
    data.dist = shortest_path_distances(data).float()
    data.optimal = optimal_edges(data)
    return data


def steer(data, overrides: dict, over: str = "action"):
    """The expert policy (first optimal move on ties), with ``{cell: target cell}`` overrides."""
    src, dst = data.edge_index
    logits = 10.0 * data.optimal.float()
    for (r, c), (tr, tc) in overrides.items():
        s, t = r * 5 + c, tr * 5 + tc
        logits[(src == s) & (dst == t)] = 100.0
    return segment_log_softmax(logits, src, data.num_nodes, mask=getattr(data, over))


@pytest.mark.parametrize("goal_policy", ["moves away", "no choice"])
def test_gppn_special_cases_goal_and_unreachable_cells(goal_policy):
    data = special_maze()
    free = data.x[:, 0] > 0
    assert int(free.sum()) == 10 and int(torch.isinf(data.dist[free]).sum()) == 2
    log_probs = steer(data, {(0, 0): (0, 1)})
    if goal_policy == "no choice":
        log_probs[data.edge_index[0] == 0] = float("-inf")
    metrics = metrics_of(data, log_probs, num_starts=50, generator=torch.Generator().manual_seed(0))
    # Goal: optimal + success. Unreachable (0,4), (1,4): not counted (no policy can succeed there).
    assert metrics.optimal == pytest.approx(1.0)
    assert metrics.success == pytest.approx(8 / 8)
    assert metrics.random_success == pytest.approx(1.0)  # starts are reachable, non-goal
    assert metrics.as_percent() == {
        "%Optimal": pytest.approx(100.0),
        "%Success": pytest.approx(100.0),
        "%Success(random starts)": pytest.approx(100.0),
    }


def test_detours_count_as_success_but_not_optimal_and_cycles_and_walls_fail():
    data = special_maze()
    # (1,2) takes the long way round (5 steps instead of 3): success, not optimal.
    # The 8 free cells that can reach the goal are counted (the 2 cut off are not).
    detour = metrics_of(data, steer(data, {(1, 2): (2, 2), (2, 2): (2, 1)}))
    assert detour.success == pytest.approx(8 / 8)
    assert detour.optimal == pytest.approx(7 / 8)
    # (1,2) and (2,2) point at each other: a cycle, both fail (and are not optimal).
    cycle = metrics_of(data, steer(data, {(1, 2): (2, 2), (2, 2): (1, 2)}))
    assert cycle.success == pytest.approx(6 / 8)
    assert cycle.optimal == pytest.approx(6 / 8)
    # (0,1) walks into the wall below it (a direction, not a move): (0,1), and (0,2),
    # (1,2) that pass through it, fail; (2,2) goes round the other way.
    wall = metrics_of(data, steer(data, {(0, 1): (1, 1), (2, 2): (2, 1)}))
    assert wall.success == pytest.approx(5 / 8)
    assert wall.optimal == pytest.approx(5 / 8)  # the goal, (2,2), (2,1), (2,0), (1,0)


def test_greedy_tie_break_is_lowest_edge_id_and_deterministic(mazes):
    data = mazes[2]
    flat = torch.zeros(data.num_edges)
    choice = data.move
    log_probs = segment_log_softmax(flat, data.edge_index[0], data.num_nodes, mask=choice)
    chosen = greedy_edges(log_probs, data.edge_index, data.num_nodes)
    first = torch.full((data.num_nodes,), -1)
    for e in reversed(range(data.num_edges)):
        if choice[e]:
            first[data.edge_index[0, e]] = e
    assert torch.equal(chosen, first)
    for _ in range(3):
        assert torch.equal(greedy_edges(log_probs, data.edge_index, data.num_nodes), chosen)


def test_nan_and_inf_log_probs_are_never_chosen():
    edge_index = torch.tensor([[0, 0, 0, 1], [1, 2, 0, 0]])
    log_probs = torch.tensor([float("nan"), -1.0, float("inf"), float("-inf")])
    assert greedy_edges(log_probs, edge_index, 3).tolist() == [1, -1, -1]


def test_rollout_lengths_cycles_step_cap_and_costs():
    # 0 -> 1 -> 2 (goal); 3 <-> 4 cycle; 5 fails (invalid move); 6 -> 0.
    successor = torch.tensor([1, 2, 2, 4, 3, 5, 0])
    valid = torch.tensor([True, True, False, True, True, False, True])
    goal = torch.tensor([False, False, True, False, False, False, False])
    inf = float("inf")
    assert rollout_lengths(successor, valid, goal).tolist() == [2, 1, 0, inf, inf, inf, 3]
    assert rollout_lengths(successor, valid, goal, max_steps=2).tolist() == [2, 1, 0, inf, inf, inf, inf]
    cost = torch.tensor([0.5, 2.0, 9.0, 1.0, 1.0, 1.0, 0.25])
    assert rollout_lengths(successor, valid, goal, step_cost=cost).tolist() == [2.5, 2.0, 0, inf, inf, inf, 2.75]


def test_long_paths_need_no_step_loop():
    """A 3000-node line: pointer doubling reaches the far end."""
    n = 3000
    successor = torch.clamp(torch.arange(n) - 1, min=0)
    valid = torch.ones(n, dtype=torch.bool)
    goal = torch.zeros(n, dtype=torch.bool)
    goal[0] = True
    assert torch.equal(rollout_lengths(successor, valid, goal), torch.arange(n, dtype=torch.float32))


def test_weighted_edges_score_optimal_by_cost():
    # Two routes from 0 to goal 3: 0->1->3 costs 2, 0->2->3 costs 1.5 + 1.5 = 3.
    edge_index = torch.tensor([[0, 0, 1, 2], [1, 2, 3, 3]])
    weight = torch.tensor([1.0, 1.5, 1.0, 1.5])
    goal = torch.tensor([False, False, False, True])
    dist = torch.tensor([2.0, 1.0, 1.5, 0.0])
    move = torch.ones(4, dtype=torch.bool)
    free = torch.ones(4, dtype=torch.bool)
    good = torch.tensor([-0.1, -2.0, 0.0, 0.0])
    bad = torch.tensor([-2.0, -0.1, 0.0, 0.0])
    assert planning_metrics(good, edge_index, move, goal, dist, free, edge_weight=weight).optimal == 1.0
    assert planning_metrics(bad, edge_index, move, goal, dist, free, edge_weight=weight).optimal == 0.75


def test_random_starts_are_eligible_uniform_and_seeded(mazes):
    graphs = [mazes[1], mazes[5], mazes[12]]
    batch = Batch.from_data_list(graphs)
    free = batch.x[:, 0] > 0.5
    eligible = free & torch.isfinite(batch.dist) & ~batch.goal
    eligible[batch.batch == 1] = False  # a graph without any possible start
    starts, has_start = sample_starts(eligible, batch.batch, 3, 4000, torch.Generator().manual_seed(3))
    assert has_start.tolist() == [True, False, True]
    for g in (0, 2):
        assert eligible[starts[g]].all() and (batch.batch[starts[g]] == g).all()
        counts = torch.bincount(starts[g], minlength=batch.num_nodes)[eligible & (batch.batch == g)].float()
        assert counts.min() > 0 and (counts.max() - counts.min()) / counts.mean() < 0.6
    again, _ = sample_starts(eligible, batch.batch, 3, 4000, torch.Generator().manual_seed(3))
    assert torch.equal(starts, again)


def test_random_start_success_equals_per_node_success_at_the_drawn_starts(mazes):
    graphs = [mazes[4], mazes[8], mazes[15]]
    batch = Batch.from_data_list(graphs)
    log_probs = torch.cat([random_policy(g, 90 + k) for k, g in enumerate(graphs)])
    free = batch.x[:, 0] > 0.5
    args = (log_probs, batch.edge_index, batch.move, batch.goal, batch.dist, free, batch.batch)
    rate = random_start_success(*args, num_starts=25, generator=torch.Generator().manual_seed(5))
    eligible = free & torch.isfinite(batch.dist) & ~batch.goal
    starts, _ = sample_starts(eligible, batch.batch, 3, 25, torch.Generator().manual_seed(5))
    per_node = {}
    offset = 0
    for g, lp in zip(graphs, log_probs.split([g.num_edges for g in graphs])):
        for s, (_, reached, _) in brute_force(g, lp)[2].items():
            per_node[offset + s] = reached
        offset += g.num_nodes
    expected = np.mean([np.mean([per_node[int(s)] for s in row]) for row in starts])
    assert rate == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="num_starts"):
        random_start_success(*args, num_starts=0)


def test_graphs_without_free_nodes_are_not_counted(mazes):
    data = mazes[0]
    log_probs = random_policy(data, 0)
    free = data.x[:, 0] > 0.5
    batch = Batch.from_data_list([data, data])
    free2 = torch.cat([free, torch.zeros_like(free)])
    scores = graph_scores(log_probs.repeat(2), batch.edge_index, batch.move, batch.goal, batch.dist, free2, batch.batch)
    assert math.isnan(scores.optimal[1]) and not math.isnan(scores.optimal[0])
    metrics = planning_metrics(
        log_probs.repeat(2), batch.edge_index, batch.move, batch.goal, batch.dist, free2, batch.batch
    )
    assert metrics.num_graphs == 1 and metrics.success == pytest.approx(brute_force(data, log_probs)[1])


def test_planning_metrics_reject_mismatched_shapes(mazes):
    data = mazes[0]
    log_probs = random_policy(data, 0)
    free = data.x[:, 0] > 0.5
    with pytest.raises(ValueError, match="log_probs"):
        planning_metrics(log_probs[:-1], data.edge_index, data.move, data.goal, data.dist, free)
    with pytest.raises(ValueError, match="dist"):
        planning_metrics(log_probs, data.edge_index, data.move, data.goal, data.dist[:-1], free)


def weighted_graph():
    """Goal 3; least costs: node 0 → 9 (via 1), node 1 → 5, node 2 → 6 (via 1)."""
    edges = [(0, 3, 9.05), (0, 1, 4.0), (1, 3, 5.0), (2, 3, 12.0), (2, 1, 1.0)]
    edge_index = torch.tensor([[s for s, _, _ in edges], [d for _, d, _ in edges]])
    edge_weight = torch.tensor([w for _, _, w in edges], dtype=torch.float64)
    goal = torch.tensor([False, False, False, True])
    dist = torch.tensor([9.0, 5.0, 6.0, 0.0], dtype=torch.float64)
    return edge_index, edge_weight, goal, dist


def test_weighted_metrics_on_known_path_costs():
    """Node 0 takes a path 0.6 % dearer than the least cost, node 2 one twice as dear, node 1 the best."""
    edge_index, edge_weight, goal, dist = weighted_graph()
    log_probs = torch.tensor([0.0, -1.0, 0.0, 0.0, -1.0])  # 0 → 3 (9.05), 1 → 3 (5), 2 → 3 (12)
    move, free = torch.ones(5, dtype=torch.bool), torch.ones(4, dtype=torch.bool)
    metrics = planning_metrics(log_probs, edge_index, move, goal, dist, free, edge_weight=edge_weight)
    assert metrics.weighted
    assert metrics.success == 1.0
    assert metrics.optimal == pytest.approx(2 / 4)  # nodes 1 and the goal
    assert metrics.near_optimal == pytest.approx(3 / 4)  # and node 0, within 1 %
    assert metrics.cost_ratio == pytest.approx((9.05 / 9 + 1.0 + 12.0 / 6) / 3)
    shown = metrics.as_percent()
    assert shown["%Optimal(1%)"] == pytest.approx(75.0) and shown["cost ratio"] == pytest.approx(metrics.cost_ratio)
    assert planning_metrics(log_probs, edge_index, move, goal, dist, free).as_percent().keys() == {"%Optimal", "%Success"}


def test_weighted_metrics_leave_failures_out_of_the_cost_ratio():
    edge_index, edge_weight, goal, dist = weighted_graph()
    log_probs = torch.tensor([-1.0, 0.0, 0.0, -1.0, 0.0])  # 0 → 1 → 3 (best), 2 → 1 → 3 (best)
    move, free = torch.ones(5, dtype=torch.bool), torch.ones(4, dtype=torch.bool)
    move[2] = False  # ... but 1 → 3 is not a move: every path fails
    metrics = planning_metrics(log_probs, edge_index, move, goal, dist, free, edge_weight=edge_weight)
    assert metrics.success == pytest.approx(1 / 4) and metrics.near_optimal == pytest.approx(1 / 4)
    assert metrics.cost_ratio is None  # no successful path from a non-goal node
    assert "cost ratio" not in metrics.as_percent()
    move[2] = True
    metrics = planning_metrics(log_probs, edge_index, move, goal, dist, free, edge_weight=edge_weight)
    assert (metrics.optimal, metrics.near_optimal, metrics.cost_ratio) == (1.0, 1.0, 1.0)
