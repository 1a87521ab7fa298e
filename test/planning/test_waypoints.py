"""thin_path: the same polyline with fewer poses."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.planning import (
    PlannerConfig,
    PlanningError,
    PlanningGrid,
    indoor_occupancy,
    plan,
)
from scenemem_ros.planning.waypoints import thin_path, turning_points


def polyline_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


def on_segment(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    ab, ap = b - a, point - a
    cross = ab[0] * ap[1] - ab[1] * ap[0]
    t = float(np.dot(ap, ab) / max(np.dot(ab, ab), 1e-300))
    return abs(cross) < 1e-9 and -1e-9 <= t <= 1 + 1e-9


def test_an_l_shaped_path_keeps_its_corner_and_ends():
    path = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [3, 1], [3, 2]], dtype=float) * 0.05
    assert turning_points(path).tolist() == [0, 3, 5]
    assert thin_path(path, 10.0).tolist() == [0, 3, 5]
    assert thin_path(path, 0.0).tolist() == list(range(6))


def test_spacing_bounds_every_gap_on_straight_runs():
    path = np.stack([np.arange(101) * 0.05, np.zeros(101)], axis=1)
    kept = thin_path(path, 0.5)
    gaps = np.diff(path[kept, 0])
    assert kept[0] == 0 and kept[-1] == 100
    assert gaps.max() <= 0.5 + 1e-12 and len(kept) == 11


def test_steps_longer_than_the_spacing_keep_every_point():
    path = np.stack([np.arange(5) * 0.05, np.zeros(5)], axis=1)
    assert thin_path(path, 0.01).tolist() == [0, 1, 2, 3, 4]


def test_a_path_that_doubles_back_keeps_the_reversal():
    path = np.array([[0, 0], [1, 0], [2, 0], [1, 0], [0, 0]], dtype=float)
    assert 2 in thin_path(path, 100.0).tolist()


@pytest.mark.parametrize('bad', [-0.1, float('nan'), float('inf')])
def test_bad_spacing_is_refused(bad):
    with pytest.raises(PlanningError, match='max_spacing'):
        thin_path(np.zeros((3, 2)), bad)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_planned_paths_keep_their_geometry(seed):
    cells = indoor_occupancy((120, 160), seed=seed)
    grid = PlanningGrid(cells, np.zeros(2), 0.05, PlannerConfig(robot_radius=0.1))
    rng = np.random.default_rng(seed)
    free = np.argwhere(~grid.blocked)
    for _ in range(10):
        a, b = free[rng.choice(len(free), 2, replace=False)]
        result = plan(grid, grid.cell_centre(a), grid.cell_centre(b))
        if not result.success:
            continue
        kept = thin_path(result.path, 0.5)
        thin = result.path[kept]
        assert polyline_length(thin) == pytest.approx(polyline_length(result.path), abs=1e-9)
        assert np.all(np.diff(kept) > 0) and kept[0] == 0 and kept[-1] == len(result.path) - 1
        for start, end in zip(kept[:-1], kept[1:], strict=True):
            for index in range(start + 1, end):
                assert on_segment(result.path[index], result.path[start], result.path[end])
        steps = np.linalg.norm(np.diff(result.path, axis=0), axis=1)
        assert np.all(np.linalg.norm(np.diff(thin, axis=0), axis=1) <= max(0.5, steps.max())
                      + 1e-9)
        assert len(kept) < len(result.path) or len(result.path) <= 3
