"""The 2-link arm's configuration space (gvin.graphs.cspace)."""
import math
import time

import numpy as np
import pytest
import torch

import gvin
from gvin.graphs.cspace import angle_to_bin, arm_collisions, bin_angles, default_tolerance, goal_point_mask, segment_hits
from gvin.models import DTVIN


def test_forward_kinematics_at_known_angles():
    arm = gvin.Arm((2.0, 1.0), base=(1.0, -1.0))
    elbow, effector = arm.forward_kinematics(0.0, 0.0)
    np.testing.assert_allclose(elbow, [3.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(effector, [4.0, -1.0], atol=1e-12)
    elbow, effector = arm.forward_kinematics(math.pi / 2, math.pi / 2)  # up, then left
    np.testing.assert_allclose(elbow, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(effector, [0.0, 1.0], atol=1e-12)
    elbow, effector = arm.forward_kinematics(math.pi, -math.pi)  # folded back onto the x axis
    np.testing.assert_allclose(effector, [0.0, -1.0], atol=1e-12)
    # vectorised: broadcast shapes, link lengths kept
    t1 = np.linspace(0, 2 * np.pi, 7)[:, None]
    t2 = np.linspace(0, 2 * np.pi, 5)[None, :]
    elbow, effector = arm.forward_kinematics(t1, t2)
    assert elbow.shape == effector.shape == (7, 5, 2)
    np.testing.assert_allclose(np.linalg.norm(elbow - [1.0, -1.0], axis=-1), 2.0)
    np.testing.assert_allclose(np.linalg.norm(effector - elbow, axis=-1), 1.0)
    assert arm.reach == 3.0


def _signed_distance(obstacle, points):
    """Signed distance of points [..., 2] to the obstacle (negative inside)."""
    if isinstance(obstacle, gvin.Circle):
        return np.linalg.norm(points - np.asarray(obstacle.center), axis=-1) - obstacle.radius
    low, high = np.asarray(obstacle.min_xy), np.asarray(obstacle.max_xy)
    outside = np.maximum(np.maximum(low - points, points - high), 0.0)
    inside = np.minimum(points - low, high - points).min(-1)
    return np.where((outside > 0).any(-1), np.linalg.norm(outside, axis=-1), -inside)


def test_exact_collisions_agree_with_dense_sampling():
    rng = np.random.default_rng(0)
    samples = np.linspace(0.0, 1.0, 801)
    checked = hits = 0
    for trial in range(12):
        arm = gvin.Arm(tuple(rng.uniform(0.4, 1.2, 2)), base=tuple(rng.uniform(-0.3, 0.3, 2)))
        obstacles = gvin.random_obstacles(rng, 5, keep_clear=None)
        theta = rng.uniform(-7, 7, (2, 400))
        exact = arm_collisions(arm, obstacles, theta[0], theta[1])
        elbow, effector = arm.forward_kinematics(theta[0], theta[1])
        base = np.broadcast_to(np.asarray(arm.base), elbow.shape)
        clearance = np.full(len(exact), np.inf)
        for start, end, length in ((base, elbow, arm.link_lengths[0]), (elbow, effector, arm.link_lengths[1])):
            points = start[:, None, :] + samples[None, :, None] * (end - start)[:, None, :]  # [M, S, 2]
            for obstacle in obstacles:
                distance = _signed_distance(obstacle, points)  # [M, S]
                sampled = (distance < -1e-9).any(1)
                # never miss a collision that the sampling finds
                assert (exact[sampled]).all(), f"trial {trial}: exact test missed a sampled collision"
                single = segment_hits(obstacle, start, end)
                assert single[sampled].all()
                # far from the boundary (more than the sample spacing) both agree
                far = np.abs(distance).min(1) > length / (len(samples) - 1)
                assert np.array_equal(single[far], sampled[far]), f"trial {trial}"
                clearance = np.minimum(clearance, np.where(sampled, -np.inf, np.abs(distance).min(1)))
        any_sampled = np.isneginf(clearance)
        far = any_sampled | (clearance > 2.0 / (len(samples) - 1))
        assert np.array_equal(exact[far], any_sampled[far])
        checked += int(far.sum())
        hits += int(exact.sum())
    assert checked > 4000 and 200 < hits < checked  # both outcomes exercised


def test_segment_box_edge_cases():
    box = gvin.Box((0.0, 0.0), (1.0, 1.0))
    cases = [  # (start, end, hit)
        ((-1.0, 0.5), (2.0, 0.5), True),    # straight through
        ((-1.0, 1.0), (2.0, 1.0), True),    # along the top edge (closed box)
        ((-1.0, 1.5), (2.0, 1.5), False),   # parallel above
        ((0.5, 2.0), (0.5, 1.2), False),    # vertical, stops short
        ((0.5, 2.0), (0.5, 0.9), True),     # vertical, enters
        ((0.2, 0.2), (0.3, 0.3), True),     # wholly inside
        ((1.5, -0.6), (2.5, 0.6), False),   # diagonal miss
        ((-0.5, 0.5), (0.5, 1.5), True),    # diagonal touching the corner (0, 1)
        ((2.0, 2.0), (2.0, 2.0), False),    # degenerate point outside
        ((0.5, 0.5), (0.5, 0.5), True),     # degenerate point inside
    ]
    for start, end, hit in cases:
        assert bool(segment_hits(box, start, end)) is hit, (start, end)
    circle = gvin.Circle((0.0, 0.0), 1.0)
    assert segment_hits(circle, (-2.0, 1.0), (2.0, 1.0))          # tangent
    assert not segment_hits(circle, (-2.0, 1.01), (2.0, 1.01))
    assert not segment_hits(circle, (1.5, 0.0), (3.0, 0.0))       # the line hits, the segment does not
    assert segment_hits(circle, (0.1, 0.1), (0.2, 0.1))           # inside


def test_bins_wrap_and_zero_is_two_pi():
    bins = 12
    np.testing.assert_allclose(bin_angles(bins), np.arange(bins) * 2 * np.pi / bins)
    assert angle_to_bin(0.0, bins) == angle_to_bin(2 * np.pi, bins) == angle_to_bin(-2 * np.pi, bins) == 0
    assert angle_to_bin(2 * np.pi - 1e-9, bins) == 0 and angle_to_bin(-0.1, bins) == 0
    assert angle_to_bin(np.pi, bins) == 6
    arm = gvin.Arm((1.0, 1.0))
    a = gvin.from_cspace(arm, [], bins, goal_angles=(0.0, 0.0))
    b = gvin.from_cspace(arm, [], bins, goal_angles=(2 * np.pi, -2 * np.pi))
    assert torch.equal(a.goal, b.goal) and int(a.goal.nonzero()) == 0
    # the torus: a move from θ1 bin bins-1 to bin 0 (and θ2 likewise) when both are free
    src, dst = a.edge_index
    move = a.move
    cell = lambda i, j: i * bins + j  # noqa: E731
    pairs = set(zip(src[move].tolist(), dst[move].tolist()))
    assert (cell(bins - 1, 3), cell(0, 3)) in pairs and (cell(0, 3), cell(bins - 1, 3)) in pairs
    assert (cell(4, bins - 1), cell(4, 0)) in pairs
    assert (cell(bins - 1, bins - 1), cell(0, 0)) in pairs
    np.testing.assert_allclose(a.angles[cell(3, 5)].numpy(), [3 * np.pi / 6, 5 * np.pi / 6], rtol=1e-6)
    # every node reaches the goal on the torus without obstacles: max distance is bins // 2 (8-connected)
    assert gvin.shortest_path_distances(a).max() == bins // 2


def test_no_obstacles_all_free_and_occupancy_matches_pointwise():
    arm = gvin.Arm((1.0, 0.7), base=(0.1, 0.2))
    assert not gvin.cspace_occupancy(arm, [], 18).any()
    assert not gvin.cspace_occupancy(arm, None, 5).any()
    obstacles = gvin.random_obstacles(3, 5)
    for bins in (18, 36):
        occupancy = gvin.cspace_occupancy(arm, obstacles, bins)
        assert occupancy.shape == (bins, bins) and occupancy.dtype == bool
        t1, t2 = np.meshgrid(bin_angles(bins), bin_angles(bins), indexing="ij")
        assert np.array_equal(occupancy, arm_collisions(arm, obstacles, t1, t2))
        data = gvin.from_cspace(arm, obstacles, bins)
        assert np.array_equal(gvin.to_grid(data, data.x[:, 0]).numpy() == 0, occupancy)


def test_occupancy_is_fast():
    arm = gvin.Arm((1.0, 0.8))
    obstacles = gvin.random_obstacles(1, 5)
    assert len(obstacles) == 5
    gvin.cspace_occupancy(arm, obstacles, 36)
    start = time.perf_counter()
    for _ in range(10):
        gvin.cspace_occupancy(arm, obstacles, 18)
        gvin.cspace_occupancy(arm, obstacles, 36)
    assert (time.perf_counter() - start) / 10 < 0.05  # milliseconds each (generous bound for shared CPUs)


def test_goal_point_gives_nearby_effector_goals():
    arm = gvin.Arm((1.0, 0.8))
    obstacles = [gvin.Circle((-1.2, 0.0), 0.3), gvin.Box((0.2, -1.6), (0.8, -1.1))]
    point = (1.0, 0.9)
    data = gvin.from_cspace(arm, obstacles, 36, goal_point=point, tolerance=0.15)
    goals = data.goal.numpy()
    assert goals.any() and (data.x[goals, 0] == 1).all()
    distance = np.linalg.norm(data.effector.numpy()[goals] - point, axis=1)
    assert (distance <= 0.15 + 1e-6).all()
    # the two arm postures (elbow up and down) reach the point
    assert len(np.unique(np.sign(np.sin(data.angles.numpy()[goals, 1])))) == 2
    _, effector = arm.forward_kinematics(data.angles[goals, 0].double().numpy(), data.angles[goals, 1].double().numpy())
    np.testing.assert_allclose(effector, data.effector.numpy()[goals], atol=1e-5)
    # default tolerance
    assert gvin.from_cspace(arm, obstacles, 36, goal_point=point).goal.any()


def test_goal_point_mask_is_from_cspaces_goal_set():
    arm = gvin.Arm((1.0, 0.8))
    obstacles = [gvin.Circle((-1.2, 0.0), 0.3), gvin.Box((0.2, -1.6), (0.8, -1.1))]
    free = ~gvin.cspace_occupancy(arm, obstacles, 36)
    assert default_tolerance(arm, 36) == pytest.approx(1.8 * math.pi / 36)
    for point, tolerance in (((1.0, 0.9), 0.15), ((-0.3, 1.2), None), ((0.5, -1.3), 0.3)):
        near = goal_point_mask(arm, point, 36, tolerance=tolerance)
        mask = goal_point_mask(arm, point, 36, free, tolerance=tolerance)
        assert np.array_equal(mask, near & free)
        data = gvin.from_cspace(arm, obstacles, 36, goal_point=point, tolerance=tolerance)
        assert np.array_equal(data.goal.numpy(), mask.reshape(-1))
        # brute force: every bin's end effector, float64
        t1, t2 = np.meshgrid(bin_angles(36), bin_angles(36), indexing="ij")
        _, effector = arm.forward_kinematics(t1, t2)
        radius = default_tolerance(arm, 36) if tolerance is None else tolerance
        assert np.array_equal(near, np.linalg.norm(effector - point, axis=-1) <= radius)


def test_planners_run_on_the_cspace_graph():
    arm = gvin.Arm((1.0, 0.8))
    obstacles = gvin.random_obstacles(4, 4)
    occupancy = gvin.cspace_occupancy(arm, obstacles, 18)
    assert occupancy.any() and not occupancy.all()
    i, j = np.argwhere(~occupancy)[0]
    data = gvin.from_cspace(arm, obstacles, 18, goal_angles=(i * np.pi / 9, j * np.pi / 9 + 0.1))
    assert data.goal.nonzero().item() == i * 18 + j
    dist = gvin.shortest_path_distances(data)
    assert dist[data.goal].eq(0).all() and torch.isfinite(dist).sum() > 1
    torch.manual_seed(0)
    model = DTVIN(stencil=gvin.grid_stencil(2, 8), num_iterations=5)
    out = model(data)
    assert out.log_probs.shape == (data.num_edges,)
    assert torch.isfinite(out.v).all()
    four = gvin.from_cspace(arm, obstacles, 18, goal=(int(i), int(j)), connectivity=4)
    assert four.stencil == gvin.from_grid(np.ones((3, 3)), connectivity=4).stencil


def test_random_obstacles_and_workspace_image():
    a, b = gvin.random_obstacles(7), gvin.random_obstacles(7)
    assert a == b and 0 <= len(a) <= 5
    assert {len(gvin.random_obstacles(seed)) for seed in range(40)} == set(range(6))
    for obstacle in gvin.random_obstacles(2, 5, keep_clear=(0.0, 0.0), clearance=0.5):
        assert not segment_hits(obstacle, (0.0, 0.0), (0.0, 0.0))
    image = gvin.workspace_occupancy([gvin.Box((0.0, 0.0), (2.0, 2.0))])
    assert image.shape == (96, 96) and image.dtype == bool
    assert image[48:, 48:].all() and not image[:48].any() and not image[:, :48].any()
    image = gvin.workspace_occupancy([gvin.Circle((-1.0, 1.0), 0.5)], size=40)
    rows, cols = np.nonzero(image)
    assert abs(rows.mean() - 29.5) < 0.5 and abs(cols.mean() - 9.5) < 0.5  # row 0 at y_min
    assert not gvin.workspace_occupancy([], size=8).any()


@pytest.mark.parametrize("call,error,match", [
    (lambda: gvin.Arm((0.0, 1.0)), ValueError, "link_lengths"),
    (lambda: gvin.Arm((1.0, -1.0)), ValueError, "link_lengths"),
    (lambda: gvin.Arm((1.0,)), ValueError, "link_lengths"),
    (lambda: gvin.Arm((1.0, 1.0), base=(0.0, np.nan)), ValueError, "base"),
    (lambda: gvin.Circle((0, 0), 0), ValueError, "radius"),
    (lambda: gvin.Box((0, 0), (0, 1)), ValueError, "min_xy"),
    (lambda: gvin.cspace_occupancy(gvin.Arm(), [], 2), ValueError, "bins"),
    (lambda: gvin.cspace_occupancy(gvin.Arm(), [], 18.0), ValueError, "bins"),
    (lambda: gvin.cspace_occupancy(gvin.Arm(), ["rock"], 18), TypeError, "obstacles"),
    (lambda: gvin.cspace_occupancy(gvin.Arm(), 3, 18), TypeError, "obstacles"),
    (lambda: gvin.cspace_occupancy((1.0, 1.0), [], 18), TypeError, "arm"),
    (lambda: segment_hits("rock", (0, 0), (1, 1)), TypeError, "obstacle"),
    (lambda: gvin.from_cspace(gvin.Arm(), [gvin.Circle((1.5, 0.0), 0.2)], 18, goal_angles=(0.0, 0.0)),
     ValueError, "goal_angles.*collision"),
    (lambda: gvin.from_cspace(gvin.Arm(), [gvin.Circle((1.5, 0.0), 0.2)], 18, goal=(0, 0)),
     ValueError, "goal.*collision"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, goal_point=(5.0, 0.0)), ValueError, "goal_point.*unreachable"),
    (lambda: gvin.from_cspace(gvin.Arm((1.0, 0.5)), [], 18, goal_point=(0.1, 0.0)), ValueError,
     "goal_point.*unreachable"),
    (lambda: gvin.from_cspace(gvin.Arm(), [gvin.Circle((1.5, 0.0), 0.6)], 18, goal_point=(1.9, 0.0)),
     ValueError, "goal_point.*collides"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, goal_point=(1.0, 1.0), tolerance=0), ValueError, "tolerance"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, tolerance=0.1), ValueError, "tolerance"),
    (lambda: goal_point_mask(gvin.Arm(), (5.0, 0.0), 18), ValueError, "goal_point.*unreachable"),
    (lambda: goal_point_mask(gvin.Arm(), (1.0, 0.0), 18, np.ones((18, 17), bool)), ValueError, "free must be"),
    (lambda: goal_point_mask(gvin.Arm(), (1.0, 0.0), 18, tolerance=-1.0), ValueError, "tolerance"),
    (lambda: goal_point_mask(gvin.Arm(), "here", 18), ValueError, "goal_point"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, goal=0, goal_angles=(0, 0)), ValueError, "at most one"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, connectivity=6), ValueError, "connectivity"),
    (lambda: gvin.from_cspace(gvin.Arm(), [], 18, goal_angles=(0.0, np.inf)), ValueError, "goal_angles"),
    (lambda: gvin.random_obstacles(-1), ValueError, "rng must be non-negative"),
    (lambda: gvin.random_obstacles(0, -2), ValueError, "count"),
    (lambda: gvin.random_obstacles(0, 2, workspace=(0, 0, 0, 1)), ValueError, "workspace"),
    (lambda: gvin.workspace_occupancy([], size=0), ValueError, "size"),
    (lambda: gvin.workspace_occupancy([], extent=(1, 1)), ValueError, "extent"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
