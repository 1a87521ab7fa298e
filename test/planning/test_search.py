"""The landmark A* search against a naive Dijkstra, and the bounds that prune its graph."""

from __future__ import annotations

import numpy as np
import pytest
from planning_reference import STEPS_4, STEPS_8, naive_distances, path_is_valid, random_cells

from scenemem_ros.planning import PlannerConfig, PlanningGrid, indoor_occupancy
from scenemem_ros.planning.search import (
    BLOCK,
    _block_bounds,
    path_cells_length,
    shortest_path,
    step_distance,
)

BACKENDS = ['compiled', 'scipy']


def planning_grid(seed: int, connectivity: int, landmarks: int) -> PlanningGrid:
    rng = np.random.default_rng(seed)
    if seed % 2:
        cells = indoor_occupancy((90, 70), resolution=0.05, seed=seed, room_size=(1.2, 2.0),
                                 door=0.5, furniture=2)
        config = PlannerConfig(robot_radius=0.05, connectivity=connectivity,
                               landmarks=landmarks)
    else:
        cells = random_cells(rng, (60, 45), density=0.3)
        config = PlannerConfig(robot_radius=0.0, connectivity=connectivity, landmarks=landmarks)
    return PlanningGrid(cells, (0.0, 0.0), 0.05, config)


@pytest.mark.parametrize('connectivity', [4, 8])
def test_step_distance_is_a_consistent_lower_bound(connectivity):
    """|step_distance(a) - step_distance(b)| <= move cost for every move: what A* needs."""
    offsets = np.stack(np.meshgrid(np.arange(-9, 10), np.arange(-9, 10)), -1).reshape(-1, 2)
    here = step_distance(offsets[:, 0], offsets[:, 1], connectivity)
    steps = STEPS_8 if connectivity == 8 else STEPS_4
    for dx, dy in steps:
        there = step_distance(offsets[:, 0] + dx, offsets[:, 1] + dy, connectivity)
        assert (np.abs(there - here) <= np.hypot(dx, dy) + 1e-12).all()
    empty = np.ones((19, 19), bool)
    exact = naive_distances(empty, connectivity, {(9, 9): 0.0})
    np.testing.assert_allclose(step_distance(offsets[:, 0], offsets[:, 1], connectivity),
                               exact[offsets[:, 0] + 9, offsets[:, 1] + 9])


@pytest.mark.parametrize(('seed', 'connectivity', 'landmarks'), [
    (0, 8, 6), (1, 8, 6), (2, 4, 6), (3, 4, 6), (4, 8, 0), (5, 8, 0), (7, 8, 16),
])
@pytest.mark.parametrize('backend', BACKENDS)
def test_single_pairs_match_naive_dijkstra(seed, connectivity, landmarks, backend):
    grid = planning_grid(seed, connectivity, landmarks)
    rng = np.random.default_rng(100 + seed)
    free = np.argwhere(grid.free)
    for start in free[rng.choice(len(free), 3, replace=False)]:
        exact = naive_distances(grid.free, connectivity, {tuple(start): 0.0})
        for goal in free[rng.choice(len(free), 8, replace=False)]:
            found = shortest_path(grid.search_index, start[None], np.zeros(1), goal[None],
                                  backend)
            if not np.isfinite(exact[tuple(goal)]):
                assert found is None
                continue
            assert found.length == pytest.approx(exact[tuple(goal)], abs=1e-6)
            assert path_cells_length(found.cells) == pytest.approx(found.length, abs=1e-9)
            assert tuple(found.cells[0]) == tuple(start) and tuple(found.cells[-1]) == tuple(goal)
            assert path_is_valid(grid.free, found.cells, connectivity)


@pytest.mark.parametrize(('seed', 'landmarks'), [(1, 6), (2, 6), (3, 0)])
@pytest.mark.parametrize('backend', BACKENDS)
def test_several_sources_and_targets_match_naive_dijkstra(seed, landmarks, backend):
    grid = planning_grid(seed, 8, landmarks)
    rng = np.random.default_rng(seed)
    free = np.argwhere(grid.free)
    for _ in range(6):
        picked = rng.choice(len(free), 7, replace=False)
        sources, targets = free[picked[:3]], free[picked[3:]]
        costs = rng.uniform(0.0, 6.0, 3)
        exact = naive_distances(grid.free, 8, {tuple(c): float(v) for c, v in
                                               zip(sources.tolist(), costs, strict=True)})
        best = exact[targets[:, 0], targets[:, 1]]
        found = shortest_path(grid.search_index, sources, costs, targets, backend)
        if not np.isfinite(best).any():
            assert found is None
            continue
        assert found.length == pytest.approx(best.min(), abs=1e-6)
        assert best[found.target] == pytest.approx(best.min(), abs=1e-6)
        assert tuple(found.cells[0]) == tuple(sources[found.source])
        assert tuple(found.cells[-1]) == tuple(targets[found.target])
        assert found.length == pytest.approx(costs[found.source]
                                             + path_cells_length(found.cells), abs=1e-9)
        assert path_is_valid(grid.free, found.cells, 8)


@pytest.mark.parametrize('backend', BACKENDS)
def test_ties_between_targets_go_to_the_earlier_one(backend):
    grid = PlanningGrid(np.zeros((9, 9), np.int8), (0, 0), 1.0, PlannerConfig(robot_radius=0))
    targets = np.array([[8, 4], [0, 4], [4, 8]])
    for order in ([0, 1, 2], [1, 0, 2], [2, 1, 0]):
        found = shortest_path(grid.search_index, np.array([[4, 4]]), np.zeros(1),
                              targets[order], backend)
        assert found.target == 0 and found.length == pytest.approx(4.0)


@pytest.mark.parametrize('seed', [1, 3])
def test_block_bounds_never_exceed_the_true_cost(seed):
    """The pruning is exact only if each block's bound is <= dist(v) + d(v, targets)."""
    grid = planning_grid(seed, 8, 6)
    index = grid.search_index
    rng = np.random.default_rng(seed)
    free = np.argwhere(grid.labels == np.bincount(grid.labels.ravel())[1:].argmax() + 1)
    size_y = grid.shape[1]
    for _ in range(4):
        picked = rng.choice(len(free), 4, replace=False)
        sources, targets = free[picked[:2]], free[picked[2:]]
        costs = np.array([0.0, 2.5])
        source_flat = sources[:, 0] * size_y + sources[:, 1]
        target_flat = targets[:, 0] * size_y + targets[:, 1]
        used = np.arange(len(index.landmarks))
        at_targets = index.distances[:, target_flat]
        bounds = _block_bounds(index, used, sources, costs, index.distances[:, source_flat],
                               (int(targets[:, 0].min()), int(targets[:, 0].max()),
                                int(targets[:, 1].min()), int(targets[:, 1].max())),
                               at_targets.min(axis=1), at_targets.max(axis=1))
        forward = naive_distances(grid.free, 8, {tuple(sources[0]): 0.0,
                                                 tuple(sources[1]): 2.5})
        backward = naive_distances(grid.free, 8, {tuple(t): 0.0 for t in targets.tolist()})
        through = forward + backward
        for x, y in free.tolist():
            assert bounds[x // BLOCK, y // BLOCK] <= through[x, y] + 1e-9
        # and it prunes: at the optimal cost, many blocks are provably off every optimal path
        optimal = backward[sources[0][0], sources[0][1]]
        optimal = min(optimal, 2.5 + backward[sources[1][0], sources[1][1]])
        assert (bounds <= optimal + 1e-9).mean() < 0.8


def test_a_search_that_outgrows_every_limit_finishes_unlimited(monkeypatch):
    from scenemem_ros.planning import search

    monkeypatch.setattr(search, 'GROWTH', 1e12)  # the second round has no limit at all
    monkeypatch.setattr(search, 'INITIAL_SLACK', 1.0)
    monkeypatch.setattr(search, 'INITIAL_DETOUR', 0.0)
    grid = planning_grid(1, 8, 0)
    rng = np.random.default_rng(9)
    free = np.argwhere(grid.labels == np.bincount(grid.labels.ravel())[1:].argmax() + 1)
    start = free[rng.integers(len(free))]
    exact = naive_distances(grid.free, 8, {tuple(start): 0.0})
    rounds = []
    for goal in free[rng.choice(len(free), 6, replace=False)]:
        found = shortest_path(grid.search_index, start[None], np.zeros(1), goal[None],
                              'scipy')
        assert found.length == pytest.approx(exact[tuple(goal)], abs=1e-6)
        rounds.append(found.rounds)
    assert max(rounds) == 2
