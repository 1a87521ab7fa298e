"""PlanningGrid and PlannerConfig: validation, cell convention, inflation, moves, components."""

from __future__ import annotations

import numpy as np
import pytest
from planning_reference import STEPS_8, naive_allowed, naive_distances, naive_inflate, random_cells

from scenemem_ros.errors import SceneMemError
from scenemem_ros.geometry.voxels import GridSpec2D
from scenemem_ros.planning import (
    MOVE_CELLS,
    MOVES,
    PlannerConfig,
    PlanningError,
    PlanningGrid,
    indoor_occupancy,
)
from scenemem_ros.planning.grid import inflate


def test_planning_errors_are_scenemem_errors():
    assert issubclass(PlanningError, SceneMemError)


@pytest.mark.parametrize(('field', 'value'), [
    ('robot_radius', -0.1), ('robot_radius', float('nan')), ('robot_radius', float('inf')),
    ('robot_radius', '0.2'), ('robot_radius', True), ('connectivity', 6), ('connectivity', 8.0),
    ('occupied_threshold', 0), ('occupied_threshold', 101), ('occupied_threshold', 50.0),
    ('unknown_is_free', 1), ('start_escape', 'yes'), ('landmarks', -1), ('landmarks', 65),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(PlanningError, match=f'PlannerConfig.{field}'):
        PlannerConfig(**{field: value})


def test_config_defaults_and_types():
    config = PlannerConfig(robot_radius=1)
    assert config.robot_radius == 1.0 and isinstance(config.robot_radius, float)
    assert PlannerConfig().connectivity == 8 and not PlannerConfig().unknown_is_free
    with pytest.raises(AttributeError):
        config.robot_radius = 0.5  # frozen


@pytest.mark.parametrize(('cells', 'origin', 'resolution', 'match'), [
    (np.zeros((4, 4), np.float32), (0, 0), 0.1, 'integers'),
    (np.zeros((4, 4), bool), (0, 0), 0.1, 'integers'),
    (np.zeros((4, 4, 2), np.int8), (0, 0), 0.1, r'\(X, Y\)'),
    (np.zeros((0, 4), np.int8), (0, 0), 0.1, 'non-empty'),
    (np.full((4, 4), 101, np.int16), (0, 0), 0.1, '0..100'),
    (np.full((4, 4), -2, np.int16), (0, 0), 0.1, '0..100'),
    ([[0, 0], [0, 0]], (0, 0), 0.1, 'numpy array'),
    (np.zeros((4, 4), np.int8), (0, np.nan), 0.1, 'origin'),
    (np.zeros((4, 4), np.int8), (0, 0, 0), 0.1, 'origin'),
    (np.zeros((4, 4), np.int8), ('a', 'b'), 0.1, 'origin'),
    (np.zeros((4, 4), np.int8), (0, 0), 0.0, 'resolution'),
    (np.zeros((4, 4), np.int8), (0, 0), -0.1, 'resolution'),
    (np.zeros((4, 4), np.int8), (0, 0), float('nan'), 'resolution'),
    (np.zeros((4, 4), np.int8), (0, 0), True, 'resolution'),
])
def test_grid_rejects_bad_input(cells, origin, resolution, match):
    with pytest.raises(PlanningError, match=match):
        PlanningGrid(cells, origin, resolution)


def test_grid_rejects_a_config_of_the_wrong_type():
    with pytest.raises(PlanningError, match='PlannerConfig'):
        PlanningGrid(np.zeros((3, 3), np.int8), (0, 0), 0.1, config={'robot_radius': 0.2})


def test_cell_convention_matches_gridspec():
    rng = np.random.default_rng(3)
    grid = PlanningGrid(np.zeros((7, 5), np.int8), (-1.3, 2.2), 0.25)
    spec = GridSpec2D(origin=(-1.3, 2.2), resolution=0.25, shape=(7, 5))
    points = rng.uniform([-2.0, 1.5], [1.0, 4.0], (200, 2))
    np.testing.assert_array_equal(grid.point_to_cell(points), spec.point_to_index(points))
    np.testing.assert_array_equal(grid.contains_point(points), spec.contains_point(points))
    cells = rng.integers(0, 5, (30, 2))
    np.testing.assert_allclose(grid.cell_centre(cells), spec.index_to_centre(cells))
    # x indexes the first axis: an obstacle at cells[6, 0] sits at the +x end
    cells = np.zeros((7, 5), np.int8)
    cells[6, 0] = 100
    grid = PlanningGrid(cells, (0.0, 0.0), 1.0, PlannerConfig(robot_radius=0.0))
    assert grid.blocked[grid.point_to_cell(np.array([6.5, 0.5]))[0], 0]
    assert not grid.contains_point(np.array([np.nan, 0.5]))


def test_arrays_are_read_only_and_the_input_is_copied():
    cells = np.zeros((6, 6), np.int8)
    grid = PlanningGrid(cells, (0, 0), 0.1)
    cells[2, 2] = 100
    assert grid.cells[2, 2] == 0
    for array in (grid.cells, grid.origin, grid.blocked, grid.free, grid.moves, grid.labels,
                  grid.obstacles, grid.occupied):
        with pytest.raises(ValueError):
            array[0] = 1


@pytest.mark.parametrize('seed', range(6))
def test_inflation_matches_a_naive_disc_loop(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(8, 40, 2))
    cells = random_cells(rng, shape, density=rng.uniform(0.01, 0.1), unknown=0.05)
    resolution = float(rng.choice([0.05, 0.1, 0.07]))
    radius = float(rng.choice([0.0, 0.1, 0.2, 0.23, 0.35]))
    threshold = int(rng.integers(40, 90))
    unknown_is_free = bool(rng.integers(2))
    config = PlannerConfig(robot_radius=radius, occupied_threshold=threshold,
                           unknown_is_free=unknown_is_free)
    grid = PlanningGrid(cells, (0.5, -0.5), resolution, config)
    occupied = cells >= threshold
    obstacles = occupied | ((cells < 0) & (not unknown_is_free))
    np.testing.assert_array_equal(grid.occupied, occupied)
    np.testing.assert_array_equal(grid.obstacles, obstacles)
    np.testing.assert_array_equal(grid.blocked, naive_inflate(obstacles, radius / resolution))
    np.testing.assert_array_equal(grid.free, ~grid.blocked)


def test_inflation_is_inclusive_at_exactly_the_radius():
    obstacles = np.zeros((9, 9), bool)
    obstacles[4, 4] = True
    blocked = inflate(obstacles, 2.0)
    assert blocked[6, 4] and blocked[4, 2] and not blocked[6, 5] and not blocked[7, 4]
    assert inflate(obstacles, np.sqrt(5.0))[6, 5]  # 5 = 2^2 + 1^2, despite rounding
    assert inflate(obstacles, float(np.float32(0.2)) / float(np.float32(0.1)))[6, 4]
    assert inflate(obstacles, 0.2 / float(np.float32(0.05)))[8, 4]  # float32 resolutions
    assert not inflate(np.zeros((3, 3), bool), 5.0).any()
    assert inflate(np.ones((3, 3), bool), 5.0).all()


@pytest.mark.parametrize('connectivity', [4, 8])
def test_move_masks_match_the_naive_rule(connectivity):
    rng = np.random.default_rng(connectivity)
    cells = random_cells(rng, (23, 17), density=0.35)
    grid = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=0.0,
                                                          connectivity=connectivity))
    for k, (dx, dy) in enumerate(MOVES.tolist()):
        expected = np.zeros(cells.shape, bool)
        if k < connectivity:
            for x in range(cells.shape[0]):
                for y in range(cells.shape[1]):
                    expected[x, y] = naive_allowed(grid.free, x, y, dx, dy)
        np.testing.assert_array_equal((grid.moves >> k) & 1, expected)
    assert [tuple(m) for m in MOVES.tolist()] == STEPS_8
    np.testing.assert_allclose(MOVE_CELLS, [1, 1, 1, 1, *[np.sqrt(2)] * 4])


def test_a_diagonal_between_two_blocked_cells_is_refused():
    cells = np.zeros((2, 2), np.int8)
    cells[1, 0] = cells[0, 1] = 100
    grid = PlanningGrid(cells, (0, 0), 1.0, PlannerConfig(robot_radius=0.0))
    assert grid.moves[0, 0] == 0 and grid.moves[1, 1] == 0
    assert grid.labels[0, 0] != grid.labels[1, 1]
    cells[0, 1] = 0
    grid = PlanningGrid(cells, (0, 0), 1.0, PlannerConfig(robot_radius=0.0))
    assert (grid.moves[0, 0] >> 4) & 1  # +x+y passes the free (0, 1)


@pytest.mark.parametrize('seed', range(3))
def test_components_match_naive_reachability(seed):
    rng = np.random.default_rng(seed)
    cells = random_cells(rng, (30, 30), density=0.4)
    grid = PlanningGrid(cells, (0, 0), 0.1, PlannerConfig(robot_radius=0.0))
    free = np.argwhere(grid.free)
    for start in free[rng.choice(len(free), 5, replace=False)]:
        reachable = np.isfinite(naive_distances(grid.free, 8, {tuple(start): 0.0}))
        np.testing.assert_array_equal(grid.labels == grid.labels[tuple(start)], reachable)
    assert (grid.labels[grid.blocked] == 0).all() and (grid.labels[grid.free] > 0).all()


def test_landmark_fields_are_exact_distances():
    cells = indoor_occupancy((120, 100), resolution=0.05, seed=2, room_size=(1.5, 2.5),
                             furniture=1)
    grid = PlanningGrid(cells, (0, 0), 0.05, PlannerConfig(landmarks=3))
    index = grid.search_index
    assert len(grid.landmarks) == 3
    assert len({tuple(c) for c in grid.landmarks.tolist()}) == 3
    for row, cell in enumerate(grid.landmarks.tolist()):
        assert grid.free[tuple(cell)]
        expected = naive_distances(grid.free, 8, {tuple(cell): 0.0})
        np.testing.assert_allclose(index.distances[row].reshape(grid.shape), expected,
                                   atol=1e-9)
    assert len(PlanningGrid(cells, (0, 0), 0.05, PlannerConfig(landmarks=0)).landmarks) == 0


def test_indoor_occupancy_is_reproducible_and_connected():
    first = indoor_occupancy((200, 160), seed=4)
    np.testing.assert_array_equal(first, indoor_occupancy((200, 160), seed=4))
    assert first.dtype == np.int8 and set(np.unique(first).tolist()) == {-1, 0, 100}
    grid = PlanningGrid(first, (0, 0), 0.05)
    sizes = np.bincount(grid.labels.ravel())[1:]
    assert sizes.max() > 0.98 * sizes.sum()  # one component, up to furniture pockets
    with pytest.raises(PlanningError, match='too small'):
        indoor_occupancy((30, 30))
