"""VoxelGrid and GridSpec2D indexing against per-point loops."""

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from scenemem_ros.geometry import GeometryError, GridSpec2D, VoxelGrid

GRIDS = [VoxelGrid(origin=(-1.0, 0.5, -0.25), resolution=0.25, shape=(6, 5, 4)),
         GridSpec2D(origin=(-1.0, 0.5), resolution=0.25, shape=(6, 5))]


def random_points(grid, count: int, seed: int = 0) -> np.ndarray:
    """Points around the grid, some outside, some exactly on cell faces, a few NaN."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(grid.origin), grid.maximum
    margin = 2 * grid.resolution
    points = rng.uniform(low - margin, high + margin, (count, grid.ndim))
    on_faces = rng.random(points.shape) < 0.2
    points[on_faces] = (np.round((points[on_faces] - np.broadcast_to(low, points.shape)[on_faces])
                                 / grid.resolution) * grid.resolution
                        + np.broadcast_to(low, points.shape)[on_faces])
    points[::17, 0] = np.nan
    return points


def naive_index(grid, point) -> tuple[int, ...]:
    return tuple(math.floor((p - o) / grid.resolution) for p, o in zip(point, grid.origin,
                                                                        strict=True))


def naive_inside(grid, point) -> bool:
    if not all(math.isfinite(p) for p in point):
        return False
    return all(0 <= i < n for i, n in zip(naive_index(grid, point), grid.shape, strict=True))


@pytest.mark.parametrize('grid', GRIDS, ids=['3d', '2d'])
def test_point_to_index_and_contains_match_loop_numpy(grid):
    points = random_points(grid, 400)
    finite = np.isfinite(points).all(-1)
    indices = grid.point_to_index(points)
    inside = grid.contains_point(points)
    assert indices.dtype == np.int64 and inside.dtype == bool
    for point, index, flag, ok in zip(points, indices, inside, finite, strict=True):
        assert flag == naive_inside(grid, point)
        if ok:
            assert tuple(index) == naive_index(grid, point)
    assert inside.any() and not inside.all()


@pytest.mark.parametrize('grid', GRIDS, ids=['3d', '2d'])
def test_torch_matches_numpy(grid, device):
    points = random_points(grid, 400, seed=1)
    finite = np.isfinite(points).all(-1)
    as_torch = torch.tensor(points, device=device)
    indices = grid.point_to_index(as_torch)
    assert indices.dtype == torch.int64 and indices.device.type == device.type
    np.testing.assert_array_equal(indices.cpu().numpy()[finite],
                                  grid.point_to_index(points)[finite])
    np.testing.assert_array_equal(grid.contains_point(as_torch).cpu().numpy(),
                                  grid.contains_point(points))
    valid = grid.point_to_index(points[grid.contains_point(points)])
    valid_torch = torch.tensor(valid, device=device)
    np.testing.assert_array_equal(grid.ravel(valid_torch).cpu().numpy(), grid.ravel(valid))
    np.testing.assert_allclose(grid.index_to_centre(valid_torch).cpu().numpy(),
                               grid.index_to_centre(valid), atol=1e-6)
    counts = grid.point_counts(as_torch)
    assert counts.device.type == device.type
    np.testing.assert_array_equal(counts.cpu().numpy(), grid.point_counts(points))


@pytest.mark.parametrize('grid', GRIDS, ids=['3d', '2d'])
def test_centres_flat_indices_and_counts_match_loop(grid):
    every_index = np.array(list(itertools.product(*(range(n) for n in grid.shape))))
    flat = grid.ravel(every_index)
    np.testing.assert_array_equal(flat, np.arange(grid.num_cells))
    np.testing.assert_array_equal(flat, np.ravel_multi_index(every_index.T, grid.shape))
    np.testing.assert_array_equal(grid.unravel(flat), every_index)
    np.testing.assert_array_equal(grid.unravel(torch.tensor(flat)).numpy(), every_index)
    centres = grid.index_to_centre(every_index)
    for index, centre in zip(every_index, centres, strict=True):
        expected = [o + (i + 0.5) * grid.resolution for o, i in zip(grid.origin, index,
                                                                    strict=True)]
        np.testing.assert_allclose(centre, expected)
    np.testing.assert_array_equal(grid.point_to_index(centres), every_index)
    assert grid.contains_index(every_index).all()
    outside = every_index[:3].copy()
    outside[0, 0], outside[1, -1], outside[2, 0] = -1, grid.shape[-1], grid.shape[0]
    assert not grid.contains_index(outside).any()

    points = random_points(grid, 300, seed=2)
    expected_counts = np.zeros(grid.shape, dtype=np.int64)
    for point in points:
        if naive_inside(grid, point):
            expected_counts[naive_index(grid, point)] += 1
    np.testing.assert_array_equal(grid.point_counts(points), expected_counts)


def test_from_bounds_uses_ceil():
    grid = VoxelGrid.from_bounds([0, 0, 0], [2.0, 2.05, 0.01], 0.1)
    assert grid.shape == (20, 21, 1)
    assert grid.origin == (0.0, 0.0, 0.0) and grid.resolution == 0.1
    np.testing.assert_allclose(grid.maximum, [2.0, 2.1, 0.1])
    grid_2d = GridSpec2D.from_bounds(np.array([-5.0, -3.0]), np.array([5.0, 3.0]), 0.05)
    assert grid_2d.shape == (200, 120) and isinstance(grid_2d, GridSpec2D)
    with pytest.raises(GeometryError):
        VoxelGrid.from_bounds([0, 0, 0], [1, 0, 1], 0.1)
    with pytest.raises(GeometryError):
        VoxelGrid.from_bounds([0, 0], [1, 1], 0.1)
    with pytest.raises(GeometryError):
        GridSpec2D.from_bounds([0, 0], [1, 1], 0.0)


@pytest.mark.parametrize('fields', [
    {'resolution': 0.0}, {'resolution': -0.1}, {'resolution': math.nan},
    {'shape': (4, 0, 4)}, {'shape': (4, 4)}, {'origin': (0.0, 0.0)},
    {'origin': (0.0, math.inf, 0.0)},
])
def test_bad_spec_raises(fields):
    good = {'origin': (0.0, 0.0, 0.0), 'resolution': 0.1, 'shape': (4, 4, 4)}
    with pytest.raises(GeometryError):
        VoxelGrid(**{**good, **fields})


def test_spec_is_frozen_hashable_and_normalised():
    grid = VoxelGrid(origin=np.array([0, 1, 2]), resolution=1, shape=np.array([3, 4, 5]))
    assert grid.origin == (0.0, 1.0, 2.0) and grid.shape == (3, 4, 5)
    assert isinstance(grid.origin[0], float) and isinstance(grid.shape[0], int)
    assert grid == VoxelGrid((0.0, 1.0, 2.0), 1.0, (3, 4, 5))
    assert len({grid, VoxelGrid((0.0, 1.0, 2.0), 1.0, (3, 4, 5))}) == 1
    assert grid.num_cells == 60 and grid.strides == (20, 5, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.resolution = 2.0
    with pytest.raises(GeometryError):
        grid.point_to_index(np.zeros((4, 2)))
