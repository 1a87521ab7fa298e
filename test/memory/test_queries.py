"""Baking, 2D projection, surface extraction and expected depth, against naive versions."""

import numpy as np
import torch

from scenemem_ros.memory.queries import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    DepthRenderer,
    bake,
    bake_scene,
    camera_rays,
    occupancy_grid_2d,
    surface_mesh,
)


def test_coarse_to_fine_bake_matches_dense_evaluation(trained_room):
    field, _ = trained_room
    volume = bake(field, 'room', np.array([0.2, 0.2, 0.1]), np.array([3.0, 2.0, 1.4]), 0.05)
    index = np.stack(np.meshgrid(*(np.arange(n) for n in volume.grid.shape), indexing='ij'),
                     -1).reshape(-1, 3)
    centres = np.asarray(volume.grid.origin) + (index + 0.5) * 0.05
    dense = field.signed_distance('room', torch.from_numpy(centres).float()).numpy()
    observed = field.scene('room').observed_at(torch.from_numpy(centres).float()).numpy()
    dense_occupied = (observed & (dense < 0.025)).reshape(volume.grid.shape)
    assert np.array_equal(volume.occupied(), dense_occupied)
    near = np.abs(dense) < 0.9 * field.config.truncation
    assert np.allclose(volume.distance.reshape(-1)[near & observed], dense[near & observed],
                       atol=1e-5)


def test_2d_projection_matches_a_naive_loop(trained_room):
    field, _ = trained_room
    volume = bake_scene(field, 'room', 0.1)
    spec, cells = occupancy_grid_2d(volume, 0.1, 1.8)
    z = volume.grid.origin[2] + (np.arange(volume.grid.shape[2]) + 0.5) * 0.1
    occupied, observed = volume.occupied(), volume.observed
    for i in range(cells.shape[0]):
        for j in range(cells.shape[1]):
            band = [k for k in range(len(z)) if 0.1 <= z[k] <= 1.8]
            expected = UNKNOWN
            if any(observed[i, j, k] for k in band):
                expected = FREE
            if any(occupied[i, j, k] for k in band):
                expected = OCCUPIED
            assert cells[i, j] == expected
    # the table and the walls are on the map, the middle of the room is free
    centre = spec.point_to_index(np.array([[1.0, 2.3]]))[0]
    table = spec.point_to_index(np.array([[2.0, 1.3]]))[0]
    assert cells[tuple(centre)] == FREE and cells[tuple(table)] == OCCUPIED


def test_surface_and_expected_depth_match_the_room(trained_room, box_room_frames):
    field, _ = trained_room
    mesh = surface_mesh(bake_scene(field, 'room', 0.05))
    assert len(mesh.triangles) > 1000
    frame = box_room_frames[5]
    expected = DepthRenderer(mesh).render(frame.camera, frame.camera_to_world)
    both = np.isfinite(expected) & np.isfinite(frame.depth)
    assert both.mean() > 0.8
    assert np.median(np.abs(expected[both] - frame.depth[both])) < 0.03


def test_navigation_grid_pools_a_finer_bake(trained_room):
    from scenemem_ros.memory.queries import navigation_grid

    field, _ = trained_room
    spec, cells = navigation_grid(field, 'room', 0.1, 1.8, 0.1, supersample=2)
    fine = bake(field, 'room', np.array([*spec.origin, 0.1]),
                np.array([*(np.asarray(spec.origin) + np.asarray(spec.shape) * 0.1), 1.8]), 0.05)
    occupied = fine.observed & (fine.distance < 0.25 * 0.05)
    for i in range(cells.shape[0]):
        for j in range(cells.shape[1]):
            block = (slice(2 * i, 2 * i + 2), slice(2 * j, 2 * j + 2))
            expected = UNKNOWN
            if fine.observed[block].any():
                expected = FREE
            if occupied[block].any():
                expected = OCCUPIED
            assert cells[i, j] == expected


def test_sub_block_stage_and_dense_bake(trained_room):
    from scenemem_ros.memory.config import BakeConfig

    field, _ = trained_room
    low, high = np.array([0.2, 0.2, 0.1]), np.array([3.0, 2.0, 1.4])
    dense = bake(field, 'room', low, high, 0.05, BakeConfig(dense=True))
    default = bake(field, 'room', low, high, 0.05)
    assert np.array_equal(default.observed, dense.observed)
    assert np.array_equal(default.occupied(), dense.occupied())
    # the optional 2x2x2 stage trusts a slope bound the learned field only roughly keeps
    sub_blocks = bake(field, 'room', low, high, 0.05, BakeConfig(lipschitz=3.0))
    differ = (sub_blocks.occupied() != dense.occupied()).sum()
    assert differ <= 0.002 * dense.occupied().sum()


def test_bake_config_is_validated():
    import pytest

    from scenemem_ros.memory.config import BakeCacheConfig, BakeConfig
    from scenemem_ros.memory.errors import MemoryModelError

    with pytest.raises(MemoryModelError, match='lipschitz'):
        BakeConfig(lipschitz=-1.0)
    with pytest.raises(MemoryModelError, match='z_max > z_min'):
        BakeCacheConfig(z_min=1.0, z_max=0.5)
    with pytest.raises(MemoryModelError, match='supersample'):
        BakeCacheConfig(supersample=0)


def test_expected_depth_casts_the_rays_it_always_cast(trained_room, box_room_frames):
    """The render's ray table, filled column by column, holds the same float32 rays as the
    concatenation it replaced, so the depths are the same bit for bit."""
    import open3d as o3d

    field, _ = trained_room
    renderer = DepthRenderer(surface_mesh(bake_scene(field, 'room', 0.05)))
    for frame in box_room_frames[:4]:
        rays = camera_rays(frame.camera).reshape(-1, 3)
        directions = rays @ np.asarray(frame.camera_to_world, dtype=np.float32)[:3, :3].T
        origin = np.broadcast_to(np.asarray(frame.camera_to_world)[:3, 3], directions.shape)
        query = np.concatenate([origin, directions], axis=1).astype(np.float32)
        hit = renderer.scene.cast_rays(o3d.core.Tensor(query))['t_hit'].numpy()
        reference = hit.reshape(frame.camera.height, frame.camera.width).astype(np.float32)
        reference[~np.isfinite(reference) | (reference > 6.0)] = np.nan
        expected = renderer.render(frame.camera, frame.camera_to_world, max_range=6.0)
        assert np.isfinite(expected).any()
        assert np.array_equal(expected, reference, equal_nan=True)
