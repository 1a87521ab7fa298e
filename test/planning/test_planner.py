"""plan(): optimality against naive Dijkstra, failure reasons, tolerance, escapes, threads."""

from __future__ import annotations

import heapq
import math
import threading

import numpy as np
import pytest
from planning_reference import (
    STEPS_8,
    naive_allowed,
    naive_distances,
    path_is_valid,
    random_cells,
)

from scenemem_ros.planning import (
    PlanFailure,
    PlannerConfig,
    PlanningError,
    PlanningGrid,
    PlanResult,
    indoor_occupancy,
    plan,
)

ORIGIN = np.array([-3.2, 1.7])


def centre(grid: PlanningGrid, cell) -> np.ndarray:
    return grid.cell_centre(np.asarray(cell))


def check_path(grid: PlanningGrid, result: PlanResult, start, goal_xy) -> None:
    """The geometry every successful plan must have."""
    assert result.success and result.reason is PlanFailure.NONE
    assert result.path.dtype == np.float64 and result.path.shape == (len(result.cells), 2)
    assert result.cells.dtype == np.int64 and len(result.cells) >= 2
    np.testing.assert_allclose(result.path[0], start)
    np.testing.assert_allclose(result.path[1:-1], grid.cell_centre(result.cells[1:-1]))
    if result.goal_offset == 0:
        np.testing.assert_allclose(result.path[-1], goal_xy)
    else:
        np.testing.assert_allclose(result.path[-1], grid.cell_centre(result.cells[-1]))
        assert result.goal_offset == pytest.approx(np.hypot(*(result.path[-1] - goal_xy)))
    np.testing.assert_array_equal(result.cells[0], grid.point_to_cell(np.asarray(start)))
    assert result.expansions > 0 and result.seconds > 0 and result.message


@pytest.mark.parametrize(('seed', 'connectivity', 'landmarks', 'radius'), [
    (0, 8, 8, 0.0), (1, 8, 8, 0.1), (2, 4, 8, 0.0), (3, 8, 0, 0.15), (4, 4, 0, 0.1),
])
@pytest.mark.parametrize('backend', ['compiled', 'scipy'])
def test_random_grids_match_naive_dijkstra(seed, connectivity, landmarks, radius, backend):
    rng = np.random.default_rng(seed)
    cells = random_cells(rng, tuple(rng.integers(25, 55, 2)), density=0.12 if radius else 0.3,
                         unknown=0.02)
    config = PlannerConfig(robot_radius=radius, connectivity=connectivity, landmarks=landmarks)
    grid = PlanningGrid(cells, ORIGIN, 0.05, config)
    free = np.argwhere(grid.free)
    for start in free[rng.choice(len(free), 4, replace=False)]:
        exact = naive_distances(grid.free, connectivity, {tuple(start): 0.0})
        start_xy = centre(grid, start) + rng.uniform(-0.02, 0.02, 2)
        for goal in free[rng.choice(len(free), 6, replace=False)]:
            goal_xy = centre(grid, goal) + rng.uniform(-0.02, 0.02, 2)
            result = plan(grid, start_xy, goal_xy, backend=backend)
            if not np.isfinite(exact[tuple(goal)]):
                assert result.reason is PlanFailure.UNREACHABLE and len(result.path) == 0
                continue
            check_path(grid, result, start_xy, goal_xy)
            assert result.length == pytest.approx(exact[tuple(goal)] * 0.05, abs=1e-6)
            assert grid.free[result.cells[:, 0], result.cells[:, 1]].all()
            assert path_is_valid(grid.free, result.cells, connectivity)


def test_indoor_map_matches_naive_dijkstra_from_one_start():
    cells = indoor_occupancy((150, 130), seed=6, room_size=(2.0, 3.5))
    grid = PlanningGrid(cells, ORIGIN, 0.05)
    rng = np.random.default_rng(6)
    component = np.bincount(grid.labels.ravel())[1:].argmax() + 1
    free = np.argwhere(grid.labels == component)
    start = free[rng.integers(len(free))]
    exact = naive_distances(grid.free, 8, {tuple(start): 0.0})
    for goal in free[rng.choice(len(free), 25, replace=False)]:
        result = plan(grid, centre(grid, start), centre(grid, goal))
        check_path(grid, result, centre(grid, start), centre(grid, goal))
        assert result.length == pytest.approx(exact[tuple(goal)] * 0.05, abs=1e-6)
        assert path_is_valid(grid.free, result.cells, 8)


def test_four_connected_paths_move_along_the_axes():
    grid = PlanningGrid(np.zeros((20, 20), np.int8), (0, 0), 0.1,
                        PlannerConfig(connectivity=4, robot_radius=0.0))
    result = plan(grid, (0.05, 0.05), (1.55, 0.95))
    steps = np.abs(np.diff(result.cells, axis=0)).sum(axis=1)
    assert (steps == 1).all() and result.length == pytest.approx(2.4)


def test_start_and_goal_in_one_cell():
    grid = PlanningGrid(np.zeros((5, 5), np.int8), (0, 0), 1.0)
    same = plan(grid, (2.5, 2.5), (2.5, 2.5))
    assert same.success and same.length == 0 and same.path.tolist() == [[2.5, 2.5]] * 2
    inside = plan(grid, (2.1, 2.2), (2.9, 2.8))
    assert inside.success and inside.path.tolist() == [[2.1, 2.2], [2.9, 2.8]]
    assert inside.cells.tolist() == [[2, 2], [2, 2]]


# -- failures --------------------------------------------------------------------------------
def walled_grid() -> PlanningGrid:
    """A 20 x 12 map at 0.1 m: a wall at x = 10 with no door; an occupied cell at (3, 3)."""
    cells = np.zeros((20, 12), np.int8)
    cells[10, :] = 100
    cells[3, 3] = 100
    return PlanningGrid(cells, (0.0, 0.0), 0.1, PlannerConfig(robot_radius=0.2))


@pytest.mark.parametrize(('start', 'goal', 'tolerance', 'reason'), [
    ((-0.05, 0.5), (0.5, 0.5), 0.0, PlanFailure.START_OUTSIDE_MAP),
    ((0.5, 1.25), (0.5, 0.5), 0.0, PlanFailure.START_OUTSIDE_MAP),
    ((0.55, 0.55), (2.0, 0.5), 5.0, PlanFailure.GOAL_OUTSIDE_MAP),
    ((0.55, 0.55), (0.5, -1e-9), 5.0, PlanFailure.GOAL_OUTSIDE_MAP),
    ((0.35, 0.35), (0.65, 0.85), 0.0, PlanFailure.START_IN_OBSTACLE),
    ((0.65, 0.85), (0.35, 0.35), 0.0, PlanFailure.GOAL_IN_OBSTACLE),
    ((0.65, 0.85), (1.05, 0.55), 0.15, PlanFailure.GOAL_IN_OBSTACLE),
    ((0.65, 0.85), (1.55, 0.55), 0.0, PlanFailure.UNREACHABLE),
    ((0.65, 0.85), (1.55, 0.55), 0.25, PlanFailure.UNREACHABLE),
])
def test_failure_reasons(start, goal, tolerance, reason):
    result = plan(walled_grid(), start, goal, tolerance)
    assert not result.success and result.reason is reason
    assert result.path.shape == (0, 2) and result.cells.shape == (0, 2)
    assert result.length == 0 and reason.name.lower().split('_')[0] in result.message.lower()


def test_start_in_the_band_without_escape_or_room_to_escape():
    cells = np.zeros((20, 12), np.int8)
    cells[10, :] = 100
    band_start = (0.85, 0.55)  # cell (8, 5): 2 cells from the wall, inside 0.2 m of it
    no_escape = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=0.2,
                                                               start_escape=False))
    result = plan(no_escape, band_start, (0.15, 0.55))
    assert result.reason is PlanFailure.START_IN_OBSTACLE and 'start_escape' in result.message
    everywhere = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=5.0))
    result = plan(everywhere, band_start, (0.15, 0.55))
    assert result.reason is PlanFailure.START_IN_OBSTACLE and 'no free cell' in result.message


@pytest.mark.parametrize(('start', 'goal', 'tolerance', 'match'), [
    ((np.nan, 0.0), (1.0, 1.0), 0.0, 'start'),
    ((0.0, 0.0, 0.0), (1.0, 1.0), 0.0, 'start'),
    ('here', (1.0, 1.0), 0.0, 'start'),
    ((0.5, 0.5), (np.inf, 1.0), 0.0, 'goal'),
    ((0.5, 0.5), (1.0, 1.0), -0.1, 'tolerance'),
    ((0.5, 0.5), (1.0, 1.0), float('nan'), 'tolerance'),
])
def test_bad_requests_raise(start, goal, tolerance, match):
    with pytest.raises(PlanningError, match=match):
        plan(walled_grid(), start, goal, tolerance)


# -- tolerance -------------------------------------------------------------------------------
def nearest_reachable(grid: PlanningGrid, start_cell, goal_xy, tolerance):
    """Brute force: reachable free cells nearest to the goal within tolerance, then shortest."""
    exact = naive_distances(grid.free, grid.config.connectivity, {tuple(start_cell): 0.0})
    best = None
    for x, y in np.argwhere(np.isfinite(exact)).tolist():
        distance = float(np.hypot(*(centre(grid, (x, y)) - goal_xy)))
        if distance <= tolerance + 1e-9:
            key = (round(distance, 9), exact[x, y], x, y)
            best = key if best is None or key < best else best
    return best


@pytest.mark.parametrize('seed', range(4))
def test_tolerance_ends_at_the_nearest_reachable_free_cell(seed):
    rng = np.random.default_rng(seed)
    cells = random_cells(rng, (40, 35), density=0.06)
    cells[15:24, 12:20] = 100  # a block the goals fall into
    grid = PlanningGrid(cells, ORIGIN, 0.05, PlannerConfig(robot_radius=0.1))
    free = np.argwhere(grid.labels == np.bincount(grid.labels.ravel())[1:].argmax() + 1)
    for _ in range(5):
        start = free[rng.integers(len(free))]
        goal_xy = centre(grid, (19, 16)) + rng.uniform(-0.2, 0.2, 2)
        tolerance = float(rng.uniform(0.2, 0.6))
        expected = nearest_reachable(grid, start, goal_xy, tolerance)
        result = plan(grid, centre(grid, start), goal_xy, tolerance)
        if expected is None:
            assert result.reason is PlanFailure.GOAL_IN_OBSTACLE
            continue
        check_path(grid, result, centre(grid, start), goal_xy)
        assert tuple(result.cells[-1]) == expected[2:]
        assert result.length == pytest.approx(expected[1] * 0.05, abs=1e-6)
        assert 0 < result.goal_offset <= tolerance


def test_equally_near_tolerance_cells_go_to_the_shorter_path():
    cells = np.zeros((9, 9), np.int8)
    cells[3:6, 3:6] = 100
    cells[4, 2] = cells[4, 6] = 100  # leave (4, 1)? no: only above and below stay open
    cells[2, 4] = 100
    grid = PlanningGrid(cells, (0, 0), 1.0, PlannerConfig(robot_radius=0.0))
    # goal at the centre of the block: the free cells nearest to it are (6, 4) at 2 m, and the
    # start next to it must not be sent around to an equally near cell
    result = plan(grid, (8.5, 4.5), (4.5, 4.5), tolerance=2.0)
    assert result.success and tuple(result.cells[-1]) == (6, 4)
    assert result.goal_offset == pytest.approx(2.0)
    assert result.length == pytest.approx(2.0)


def test_tolerance_reaches_a_goal_cut_off_from_the_start():
    grid = walled_grid()  # wall cells x = 10, inflated x = 8..12: free x <= 7 and x >= 13
    result = plan(grid, (0.15, 0.55), (1.35, 0.55), tolerance=0.7)
    assert result.success and tuple(result.cells[-1]) == (7, 5)
    assert result.goal_offset == pytest.approx(0.6)
    assert plan(grid, (0.15, 0.55), (1.35, 0.55), tolerance=0.55).reason is \
        PlanFailure.UNREACHABLE


def test_a_free_reachable_goal_ignores_the_tolerance():
    grid = walled_grid()
    result = plan(grid, (0.15, 0.15), (0.62, 0.83), tolerance=3.0)
    assert result.goal_offset == 0 and tuple(result.path[-1]) == (0.62, 0.83)


def test_unknown_cells_are_obstacles_unless_configured_free():
    cells = np.full((30, 9), 100, np.int8)
    cells[:, 4] = 0
    cells[12:18, 4] = -1  # the corridor's middle was never seen
    blocked = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=0.0))
    assert plan(blocked, (0.05, 0.45), (2.95, 0.45)).reason is PlanFailure.UNREACHABLE
    open_ = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=0.0,
                                                           unknown_is_free=True))
    result = plan(open_, (0.05, 0.45), (2.95, 0.45))
    assert result.success and result.length == pytest.approx(2.9)


# -- start escapes ---------------------------------------------------------------------------
def naive_escape_optimum(grid: PlanningGrid, start_cell, goal_cell, budget: float) -> float:
    """min over free exits e of (route through non-occupied blocked cells to e) + d(e, goal)."""
    passable = ~grid.occupied
    to_goal = naive_distances(grid.free, 8, {tuple(goal_cell): 0.0})
    best, heap, seen = math.inf, [(0.0, tuple(start_cell))], {}
    while heap:
        cost, (x, y) = heapq.heappop(heap)
        if (x, y) in seen:
            continue
        seen[(x, y)] = cost
        if grid.free[x, y]:
            best = min(best, cost + to_goal[x, y])
            continue
        for dx, dy in STEPS_8:
            step = cost + math.hypot(dx, dy)
            if naive_allowed(passable, x, y, dx, dy) and step <= budget + 1e-9:
                heapq.heappush(heap, (step, (x + dx, y + dy)))
    return best


@pytest.mark.parametrize('seed', range(3))
def test_a_start_inside_the_inflation_band_escapes_optimally(seed):
    rng = np.random.default_rng(seed)
    cells = random_cells(rng, (45, 40), density=0.006)
    grid = PlanningGrid(cells, ORIGIN, 0.05, PlannerConfig(robot_radius=0.2))
    band = np.argwhere(grid.blocked & ~grid.obstacles)
    component = np.bincount(grid.labels.ravel())[1:].argmax() + 1
    goals = np.argwhere(grid.labels == component)
    budget = 0.2 / 0.05 + 2.0
    checked = 0
    for start in band[rng.choice(len(band), 12, replace=False)]:
        goal = goals[rng.integers(len(goals))]
        expected = naive_escape_optimum(grid, start, goal, budget)
        result = plan(grid, centre(grid, start), centre(grid, goal))
        if not np.isfinite(expected):
            assert not result.success
            continue
        checked += 1
        check_path(grid, result, centre(grid, start), centre(grid, goal))
        assert result.length == pytest.approx(expected * 0.05, abs=1e-6)
        first_free = int(np.argmax(grid.free[result.cells[:, 0], result.cells[:, 1]]))
        assert first_free > 0 and not grid.occupied[result.cells[:, 0], result.cells[:, 1]].any()
        assert grid.free[result.cells[first_free:, 0], result.cells[first_free:, 1]].all()
        assert path_is_valid(~grid.occupied, result.cells, 8)
        assert 'inflation band' in result.message
    assert checked >= 6


# -- threads ---------------------------------------------------------------------------------
def test_concurrent_plans_on_one_grid_equal_sequential_ones():
    cells = indoor_occupancy((160, 140), seed=8, room_size=(2.0, 3.5))
    grid = PlanningGrid(cells, ORIGIN, 0.05)
    rng = np.random.default_rng(8)
    free = np.argwhere(grid.free)
    queries = [(centre(grid, free[rng.integers(len(free))]),
                centre(grid, free[rng.integers(len(free))]), float(rng.uniform(0, 0.3)))
               for _ in range(40)]
    expected = [plan(grid, *query) for query in queries]
    results: dict[int, list[PlanResult | None]] = {}
    barrier = threading.Barrier(4)

    def worker(number: int) -> None:
        barrier.wait()
        order = range(len(queries)) if number % 2 else reversed(range(len(queries)))
        outcome: list[PlanResult | None] = [None] * len(queries)
        for i in order:
            outcome[i] = plan(grid, *queries[i])
        results[number] = outcome

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1, 2, 3]
    for outcome in results.values():
        for got, want in zip(outcome, expected, strict=True):
            assert got.reason is want.reason and got.length == want.length
            np.testing.assert_array_equal(got.cells, want.cells)
            np.testing.assert_array_equal(got.path, want.path)
