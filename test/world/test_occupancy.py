"""Voxel occupancy: exact triangle-box test against sampling, index convention, solid fill."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.world import (
    Box,
    CompositionConfig,
    Instance,
    TriMesh,
    World,
    WorldConfig,
    WorldError,
)
from scenemem_ros.world.layout import box_instance
from scenemem_ros.world.occupancy import surface_voxels


def _box_world(*boxes: Box) -> World:
    instances = [box_instance(i, 'box', box, model='primitive') for i, box in enumerate(boxes)]
    return World(0, 'apartment', WorldConfig(), tuple(instances))


def test_surface_voxels_match_dense_sampling():
    """Naive reference: every voxel holding a surface sample is marked, and every marked voxel
    is within half a voxel diagonal of the surface."""
    rng = np.random.default_rng(0)
    triangles = rng.uniform(0, 1, (25, 3, 3))
    origin, size, shape = np.zeros(3), np.full(3, 0.1), np.array([10, 10, 10])
    marked = surface_voxels(triangles, origin, size, shape)
    weights = rng.dirichlet([1, 1, 1], (25, 20000))
    samples = np.einsum('tsv,tvi->tsi', weights, triangles).reshape(-1, 3)
    index = np.floor(samples / 0.1).astype(int)
    index = index[np.all((index >= 0) & (index < 10), axis=1)]
    sampled = np.zeros(tuple(shape), dtype=bool)
    sampled[tuple(index.T)] = True
    assert not np.any(sampled & ~marked)
    assert (marked & ~sampled).sum() <= 0.05 * marked.sum()
    mesh = TriMesh(triangles.reshape(-1, 3), np.arange(75).reshape(25, 3))
    world = World(0, 'composition', CompositionConfig(),
                  (Instance(0, 'triangles', 'test', np.eye(4), mesh),))
    centres = (np.argwhere(marked) + 0.5) * 0.1
    assert world.distance(centres).max() <= np.sqrt(3) * 0.05 + 1e-6


def test_box_voxels_follow_the_half_open_convention():
    """Faces lying on voxel boundaries mark only the voxel on the upper side of their plane
    (coordinates are binary fractions so the boundaries are exact)."""
    world = _box_world(Box((0.25, 0.25, 0.0), (0.75, 0.5, 0.5)))
    grid = world.occupancy(np.zeros(3), np.full(3, 1.25), 0.25)
    expected = np.zeros((5, 5, 5), dtype=bool)
    expected[1:4, 1:3, 0:3] = True
    assert np.array_equal(grid.occupied, expected)
    assert np.array_equal(grid.index_of(np.array([[0.3, 0.3, 0.1]])), [[1, 1, 0]])


def test_solid_fill_marks_interiors_of_closed_meshes():
    world = _box_world(Box((0.02, 0.02, 0.02), (0.78, 0.78, 0.78)))
    surface = world.occupancy(np.zeros(3), np.full(3, 0.8), 0.1)
    solid = world.occupancy(np.zeros(3), np.full(3, 0.8), 0.1, solid=True)
    assert surface.occupied.sum() == 8 ** 3 - 6 ** 3
    assert solid.occupied.all()


def test_occupancy_2d_of_a_height_band():
    """Cells holding geometry between z_min and z_max; the floor (top at 0) is below the band."""
    world = _box_world(Box((-1, -1, -0.05), (1, 1, 0.0)),
                       Box((0.25, 0.25, 0.0), (0.5, 0.75, 0.5)),
                       Box((-0.5, -0.5, 1.75), (-0.25, -0.25, 2.0)))
    grid = world.occupancy_2d(0.05, 1.5, 0.25, xy_min=(-1, -1), xy_max=(1, 1))
    assert grid.occupied.shape == (8, 8)
    expected = np.zeros((8, 8), dtype=bool)
    expected[5:7, 5:8] = True
    assert np.array_equal(grid.occupied, expected)
    high = world.occupancy_2d(1.625, 2.125, 0.25, xy_min=(-1, -1), xy_max=(1, 1))
    assert np.array_equal(np.argwhere(high.occupied), [[2, 2], [2, 3], [3, 2], [3, 3]])


def test_bad_occupancy_arguments():
    world = _box_world(Box((0, 0, 0), (1, 1, 1)))
    with pytest.raises(WorldError, match='resolution'):
        world.occupancy(np.zeros(3), np.ones(3), 0.0)
    with pytest.raises(WorldError, match='max > min'):
        world.occupancy(np.ones(3), np.zeros(3), 0.1)
