"""The compiled search (``planning.native``): built, exact, thread-safe, and its guards."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from planning_reference import naive_distances, path_is_valid, random_cells

from scenemem_ros.planning import PlannerConfig, PlanningError, PlanningGrid, native, plan
from scenemem_ros.planning.search import default_backend, path_cells_length, shortest_path


def test_the_compiled_search_is_built_and_chosen():
    """`pip install -e .` / `make venv` / colcon build it; CI has a C compiler."""
    assert native.library_path() is not None, 'run `pip install -e .` to build planning/_astar'
    assert native.LIBRARY is not None
    assert default_backend() == 'compiled'


@pytest.mark.parametrize(('seed', 'connectivity'), [(0, 8), (1, 4), (2, 8)])
def test_distance_fields_match_naive_dijkstra(seed, connectivity):
    rng = np.random.default_rng(seed)
    grid = PlanningGrid(random_cells(rng, (37, 52), density=0.25), (0.0, 0.0), 0.05,
                        PlannerConfig(robot_radius=0.0, connectivity=connectivity))
    index = grid.search_index
    free = np.argwhere(grid.free)
    for cell in free[rng.choice(len(free), 4, replace=False)]:
        field = native.distance_field(grid.shape, connectivity, index.moves,
                                      int(cell[0] * grid.shape[1] + cell[1]))
        exact = naive_distances(grid.free, connectivity, {tuple(cell): 0.0}).reshape(-1)
        np.testing.assert_array_equal(np.isfinite(field), np.isfinite(exact))
        finite = np.isfinite(exact)
        np.testing.assert_allclose(field[finite], exact[finite], atol=1e-9)


@pytest.mark.parametrize('seed', range(6))
def test_compiled_and_scipy_searches_agree_on_random_grids(seed):
    rng = np.random.default_rng(50 + seed)
    shape = tuple(int(v) for v in rng.integers(20, 70, 2))
    config = PlannerConfig(robot_radius=0.0, connectivity=int(rng.choice([4, 8])),
                           landmarks=int(rng.integers(0, 12)))
    grid = PlanningGrid(random_cells(rng, shape, density=float(rng.uniform(0.1, 0.4))),
                        (0.0, 0.0), 0.05, config)
    free = np.argwhere(grid.free)
    for _ in range(15):
        picked = free[rng.choice(len(free), 4, replace=False)]
        sources, targets = picked[:2], picked[2:]
        costs = rng.uniform(0.0, 3.0, 2)
        compiled = shortest_path(grid.search_index, sources, costs, targets, 'compiled')
        reference = shortest_path(grid.search_index, sources, costs, targets, 'scipy')
        assert (compiled is None) == (reference is None)
        if compiled is None or reference is None:
            continue
        assert compiled.length == pytest.approx(reference.length, abs=1e-9)
        assert compiled.length == pytest.approx(costs[compiled.source]
                                                + path_cells_length(compiled.cells), abs=1e-9)
        assert tuple(compiled.cells[0]) == tuple(sources[compiled.source])
        assert tuple(compiled.cells[-1]) == tuple(targets[compiled.target])
        assert path_is_valid(grid.free, compiled.cells, config.connectivity)


def test_generation_wrap_clears_the_workspace(monkeypatch):
    grid = PlanningGrid(random_cells(np.random.default_rng(3), (30, 30), density=0.2),
                        (0.0, 0.0), 0.05, PlannerConfig(robot_radius=0.0))
    free = np.argwhere(grid.free)
    queries = [(grid.cell_centre(free[i]), grid.cell_centre(free[-1 - i])) for i in range(5)]
    expected = [plan(grid, *q).length for q in queries]
    monkeypatch.setattr(native, '_GENERATIONS', 3)  # wraps every few queries from now on
    for _ in range(3):
        assert [plan(grid, *q).length for q in queries] == expected


def test_threads_on_different_grid_sizes_keep_their_own_workspaces():
    rng = np.random.default_rng(4)
    grids = [PlanningGrid(random_cells(rng, shape, density=0.2), (0.0, 0.0), 0.05,
                          PlannerConfig(robot_radius=0.0)) for shape in ((40, 30), (25, 60))]
    expected = {}
    for number, grid in enumerate(grids):
        free = np.argwhere(grid.free)
        expected[number] = (grid.cell_centre(free[0]), grid.cell_centre(free[-1]))
    lengths = {n: plan(grids[n], *expected[n]).length for n in expected}
    failures: list[str] = []

    def worker(number: int) -> None:
        for _ in range(50):
            if plan(grids[number], *expected[number]).length != lengths[number]:
                failures.append(f'grid {number}')

    threads = [threading.Thread(target=worker, args=(n % 2,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


def test_unknown_backend_and_bad_native_input_are_refused():
    grid = PlanningGrid(np.zeros((8, 8), np.int8), (0.0, 0.0), 1.0,
                        PlannerConfig(robot_radius=0.0))
    with pytest.raises(PlanningError, match='unknown search backend'):
        plan(grid, (0.5, 0.5), (6.5, 6.5), backend='dijkstra')
    index = grid.search_index
    with pytest.raises(ValueError, match='moves'):
        native.astar(grid.shape, 8, index.moves[:10], np.array([0]), np.zeros(1),
                     np.array([5]), index.cell_distances, np.zeros(0), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match='targets'):
        native.astar(grid.shape, 8, index.moves, np.array([0]), np.zeros(1), np.array([64]),
                     index.cell_distances, np.zeros(0), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match='at least one target'):
        native.astar(grid.shape, 8, index.moves, np.array([0]), np.zeros(1),
                     np.zeros(0, dtype=np.int64), index.cell_distances, np.zeros(0),
                     np.zeros(0), np.zeros(0))


def test_without_the_library_plans_fall_back_to_scipy(monkeypatch):
    rng = np.random.default_rng(5)
    cells = random_cells(rng, (30, 40), density=0.2)
    config = PlannerConfig(robot_radius=0.0)
    compiled = PlanningGrid(cells, (0.0, 0.0), 0.05, config)
    free = np.argwhere(compiled.free)
    start, goal = compiled.cell_centre(free[0]), compiled.cell_centre(free[-1])
    expected = plan(compiled, start, goal)
    monkeypatch.setattr(native, 'LIBRARY', None)
    assert default_backend() == 'scipy'
    fallback = PlanningGrid(cells, (0.0, 0.0), 0.05, config)  # landmark fields by scipy
    np.testing.assert_allclose(fallback.search_index.distances,
                               compiled.search_index.distances, atol=1e-9)
    result = plan(fallback, start, goal)
    assert result.success == expected.success
    assert result.length == pytest.approx(expected.length, abs=1e-9)
    with pytest.raises(PlanningError, match='not built'):
        plan(fallback, start, goal, backend='compiled')
