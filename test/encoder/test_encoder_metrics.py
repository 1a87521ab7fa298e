"""Evaluation metrics: Chamfer-L1, F-score@5cm, front share (and its noise floor), ownership."""

import numpy as np
import pytest

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.icosphere import icosphere
from scenemem_ros.encoder.metrics import (
    depth_points,
    depth_surface_mesh,
    evaluate_frame,
    noise_floor_front_share,
    surface_samples,
)
from scenemem_ros.geometry.camera import PinholeCamera

CAMERA = PinholeCamera.from_fov(64, 48, 60.0)


def sheet(centre_z: float, half: float = 1.5, thickness: float = 0.002) -> np.ndarray:
    """(1, V, 3) a thin flattened sphere facing the camera at depth ``centre_z``."""
    sphere = icosphere(3).vertices
    return (sphere * np.array([half, half, thickness]) + np.array([0, 0, centre_z]))[None]


def wall(z: float) -> np.ndarray:
    return np.full((CAMERA.height, CAMERA.width), z, dtype=np.float32)


def test_a_slot_on_the_wall_scores_well_and_covers_it():
    faces = icosphere(3).faces
    metrics = evaluate_frame(wall(2.0), CAMERA, sheet(2.0), faces, np.array([0.9]))
    assert metrics.chamfer_mean < 0.01
    assert metrics.recall == pytest.approx(1.0)
    assert metrics.front_share == pytest.approx(0.0)
    assert metrics.active_slots == 1
    assert metrics.points == CAMERA.width * CAMERA.height
    # the sheet reaches far outside the view: that surface is never near a depth point
    assert metrics.precision < 0.8
    assert metrics.precision_visible > 0.95


def test_a_slot_in_front_of_the_wall_is_front_surface():
    faces = icosphere(3).faces
    metrics = evaluate_frame(wall(2.0), CAMERA, sheet(1.5, half=0.3), faces, np.array([0.9]))
    assert metrics.front_share == pytest.approx(1.0)
    assert metrics.front_off_surface_share == pytest.approx(1.0)
    assert metrics.chamfer_mean > 0.4
    assert metrics.fscore == pytest.approx(0.0)


def test_surface_just_above_a_floor_at_grazing_incidence_is_in_front_but_on_the_surface():
    camera = PinholeCamera.from_fov(320, 240, 60.0)
    rows = np.arange(camera.height, dtype=np.float64)[:, None] - camera.cy
    with np.errstate(divide='ignore'):
        floor = np.where(rows > 0, camera.fy * 1.0 / rows, np.nan)  # floor 1 m below the camera
    depth = np.broadcast_to(floor, (camera.height, camera.width)).astype(np.float32)
    depth = np.where(depth <= 10.0, depth, np.nan).astype(np.float32)
    # a flat slot 2 cm above the floor, 2.5-4.5 m ahead: along its rays it lies up to
    # 0.02 / sin(12 deg) = 9 cm in front of the depth, yet within 4.5 cm of a depth point
    slab = icosphere(3).vertices * np.array([0.5, 0.001, 1.0]) + np.array([0.0, 0.98, 3.5])
    metrics = evaluate_frame(depth, camera, slab[None], icosphere(3).faces, np.array([0.9]))
    assert metrics.front_share > 0.2
    assert metrics.front_off_surface_share < 0.01
    assert metrics.precision > 0.99


def test_noise_puts_a_true_surface_in_front_of_the_sensor_depth_but_not_of_the_truth():
    faces = icosphere(3).faces
    noisy = wall(2.0) + np.random.default_rng(0).normal(0, 0.08, (CAMERA.height, CAMERA.width))
    metrics = evaluate_frame(noisy, CAMERA, sheet(2.0), faces, np.array([0.9]),
                             true_depth=wall(2.0))
    assert metrics.front_share > 0.05  # noise farther than tau: the sheet "stands in front"
    assert metrics.front_share_true == pytest.approx(0.0)
    assert np.isnan(evaluate_frame(noisy, CAMERA, sheet(2.0), faces,
                                   np.array([0.9])).front_share_true)
    in_front = evaluate_frame(noisy, CAMERA, sheet(1.5, half=0.3), faces, np.array([0.9]),
                              true_depth=wall(2.0))
    assert in_front.front_share_true == pytest.approx(1.0)
    with pytest.raises(EncoderError, match='true depth shape'):
        evaluate_frame(noisy, CAMERA, sheet(2.0), faces, np.array([0.9]),
                       true_depth=wall(2.0)[:10])


def test_depth_surface_mesh_joins_neighbouring_pixels_but_not_across_occluding_edges():
    depth = wall(2.0)
    vertices, faces = depth_surface_mesh(depth, CAMERA)
    assert vertices.shape == (CAMERA.height * CAMERA.width, 3)
    assert len(faces) == 2 * (CAMERA.height - 1) * (CAMERA.width - 1)
    np.testing.assert_allclose(vertices[faces][..., 2], 2.0)
    depth[:, CAMERA.width // 2:] = 4.0  # a step: the column of blocks across it has no faces
    depth[0, 0] = np.nan
    _, split = depth_surface_mesh(depth, CAMERA)
    assert len(split) == 2 * (CAMERA.height - 1) * (CAMERA.width - 2) - 2
    with pytest.raises(EncoderError, match='does not match the camera'):
        depth_surface_mesh(depth[:10], CAMERA)


def test_noise_floor_is_the_true_surface_in_front_of_the_sensor_depth():
    truth = wall(2.0)
    assert noise_floor_front_share(truth, truth, CAMERA) == 0.0
    sensor = truth.copy()
    sensor[:, :CAMERA.width // 4] += 0.2  # the sensor reads 20 cm too far on a quarter
    assert noise_floor_front_share(sensor, truth, CAMERA) == pytest.approx(0.25, abs=0.03)
    sensor[:, :CAMERA.width // 4] = truth[:, :CAMERA.width // 4] + 0.03  # within tau
    assert noise_floor_front_share(sensor, truth, CAMERA) == 0.0
    with pytest.raises(EncoderError, match='true depth shape'):
        noise_floor_front_share(sensor, truth[:10], CAMERA)
    with pytest.raises(EncoderError, match='no surface'):
        noise_floor_front_share(sensor, np.full_like(truth, np.nan), CAMERA)


def test_chamfer_is_the_mean_and_median_distance_to_the_nearest_sample():
    faces = icosphere(3).faces
    depth = wall(2.0)
    depth[:, :32] = 2.2  # left half 20 cm behind the sheet
    metrics = evaluate_frame(depth, CAMERA, sheet(2.0), faces, np.array([0.9]))
    assert metrics.chamfer_mean == pytest.approx(0.1, abs=0.005)
    assert metrics.recall == pytest.approx(0.5, abs=0.01)


def test_inactive_slots_are_ignored_and_ownership_is_counted():
    faces = icosphere(2).faces
    sphere = icosphere(2).vertices
    two = np.stack([sphere * np.array([1.5, 1.5, 0.002]) + [0, 0, 2.0],  # on the wall
                    sphere * 0.05 + [0, 0, 1.0]])  # a small ball in front of it
    metrics = evaluate_frame(wall(2.0), CAMERA, two, faces, np.array([0.9, 0.9]))
    assert metrics.active_slots == 2
    assert metrics.min_points_per_2048 == 0.0
    assert metrics.starved_slots == 1
    only = evaluate_frame(wall(2.0), CAMERA, two, faces, np.array([0.9, 0.1]))
    assert only.active_slots == 1 and only.starved_slots == 0


def test_surface_samples_are_uniform_by_area():
    sphere = icosphere(2)
    big = sphere.vertices[None] * 2.0
    samples, owner = surface_samples(np.concatenate([sphere.vertices[None], big]),
                                     sphere.faces, density=2000.0)
    counts = np.bincount(owner)
    assert counts[1] == pytest.approx(4 * counts[0], rel=0.02)
    radius = np.linalg.norm(samples[owner == 0], axis=1)
    assert radius.max() <= 1.0 + 1e-9 and radius.min() > 0.9


def test_depth_points_and_empty_frames():
    depth = wall(1.0)
    depth[0, 0] = np.nan
    assert depth_points(depth, CAMERA).shape == (CAMERA.width * CAMERA.height - 1, 3)
    with pytest.raises(EncoderError, match='no valid depth'):
        evaluate_frame(np.full_like(depth, np.nan), CAMERA, sheet(1.0), icosphere(3).faces,
                       np.array([1.0]))
