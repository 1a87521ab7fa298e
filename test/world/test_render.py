"""Depth rendering: geometric exactness, z-depth, range, noise statistics, Frame/Sequence."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.world import (
    Box,
    NoiseConfig,
    RenderConfig,
    World,
    WorldConfig,
    apply_noise,
    default_camera,
    plan_trajectory,
    render_depth,
    render_frame,
    render_sequence,
)
from scenemem_ros.world.layout import box_instance
from scenemem_ros.world.trajectory import camera_pose

CLEAN = RenderConfig(noise=NoiseConfig(enabled=False))
SMALL = default_camera(160, 120)


@pytest.fixture(scope='module')
def short_walk(primitive_world):
    return plan_trajectory(primitive_world, seed=0).subsampled(40)


def _wall_world() -> World:
    """A wall whose front face is the plane x = 3, and a pillar in front of it."""
    return World(0, 'apartment', WorldConfig(), (
        box_instance(0, 'wall', Box((3.0, -5.0, -5.0), (3.2, 5.0, 5.0))),
        box_instance(1, 'box', Box((1.5, -0.1, -5.0), (1.7, 0.1, 5.0)), model='primitive')))


def test_backprojected_depth_lies_on_the_meshes(furnished_world):
    walk = plan_trajectory(furnished_world, seed=0).subsampled(60)
    sequence = render_sequence(furnished_world, walk, SMALL, CLEAN)
    points = np.concatenate([frame.world_points() for frame in sequence])
    assert len(points) > 0.9 * len(sequence) * SMALL.width * SMALL.height * 0.5
    distance = furnished_world.distance(points)
    assert np.median(distance) < 1e-3
    assert np.percentile(distance, 99) < 5e-3


def test_depth_is_z_not_ray_length():
    world = _wall_world()
    pose = camera_pose(np.array([[0.0, 0.0, 0.0]]), np.array([0.0]), np.array([0.0]))[0]
    camera = PinholeCamera.from_fov(64, 48, 90.0)
    depth = render_depth(world, camera, pose, CLEAN)
    pillar = depth < 2.0
    assert pillar.any() and pillar[:, 32].all()
    assert np.allclose(depth[~pillar], 3.0, atol=1e-5)
    assert np.allclose(depth[pillar], 1.5, atol=1e-5)


def test_range_limits_give_nan():
    world = _wall_world()
    pose = camera_pose(np.array([[0.0, 0.0, 0.0]]), np.array([0.0]), np.array([0.0]))[0]
    depth = render_depth(world, SMALL, pose, RenderConfig(max_range=2.0, noise=CLEAN.noise))
    assert np.isnan(depth[0, 0]) and np.isfinite(depth).sum() > 0
    assert np.nanmax(depth) <= 2.0
    behind = camera_pose(np.zeros((1, 3)), np.array([np.pi]), np.array([0.0]))[0]
    assert np.isnan(render_depth(world, SMALL, behind, CLEAN)).all()


def test_noise_statistics_match_the_config():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 4.0, (240, 320)).astype(np.float32)
    depth = np.repeat(np.repeat(depth[::16, ::16], 16, axis=0), 16, axis=1)[:240, :320]
    depth[:, :160] = np.linspace(1.0, 1.2, 160, dtype=np.float32)  # a smooth half, no edges
    config = NoiseConfig(sigma_k=0.004, dropout_probability=0.05, flying_pixel_probability=0.3,
                         seed=7)
    noisy = apply_noise(depth, config, frame_index=3)
    assert np.array_equal(noisy, apply_noise(depth, config, frame_index=3), equal_nan=True)
    assert not np.array_equal(noisy, apply_noise(depth, config, frame_index=4), equal_nan=True)
    smooth = noisy[:, :150]  # away from the edge at column 160
    assert np.isnan(noisy).mean() == pytest.approx(0.05, abs=0.01)
    z = depth[:, :150][np.isfinite(smooth)]
    normalised = (smooth[np.isfinite(smooth)] - z) / (config.sigma_k * z ** 2)
    assert normalised.mean() == pytest.approx(0.0, abs=0.05)
    assert normalised.std() == pytest.approx(1.0, abs=0.05)
    edges = np.zeros(depth.shape, dtype=bool)
    across = np.abs(np.diff(depth, axis=1)) > 0.1 * np.minimum(depth[:, 1:], depth[:, :-1])
    down = np.abs(np.diff(depth, axis=0)) > 0.1 * np.minimum(depth[1:], depth[:-1])
    edges[:, 1:] |= across
    edges[:, :-1] |= across
    edges[1:] |= down
    edges[:-1] |= down
    residual = np.abs(noisy - depth)
    far_off = (residual > 6 * config.sigma_k * depth ** 2) & np.isfinite(residual)
    assert far_off[~edges].mean() < 1e-4
    assert far_off[edges].mean() == pytest.approx(0.3 * 0.95, abs=0.07)
    off = apply_noise(depth, NoiseConfig(enabled=False))
    assert np.array_equal(off, depth)


def test_frames_and_sequences(primitive_world, short_walk):
    sequence = render_sequence(primitive_world, short_walk, SMALL, RenderConfig())
    assert len(sequence) == len(short_walk)
    assert [f.stamp for f in sequence] == list(short_walk.stamps)
    frame = sequence[1]
    assert frame.depth.shape == (120, 160) and frame.depth.dtype == np.float32
    assert np.array_equal(frame.camera_to_world, short_walk.camera_to_world[1])
    single = render_frame(primitive_world, SMALL, short_walk.camera_to_world[1],
                          stamp=frame.stamp, frame_index=1)
    assert np.array_equal(single.depth, frame.depth, equal_nan=True)
    assert render_depth(primitive_world, default_camera(), short_walk.camera_to_world[0],
                        CLEAN).shape == (480, 640)
