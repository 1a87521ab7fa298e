"""PoseBuffer: exact, interpolated, waiting and missing lookups; time going back."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.changes import ChangeDetectionError, PoseBuffer, PoseBufferConfig, PoseLookup
from scenemem_ros.geometry.transforms import yaw_pitch_roll_to_matrix


def pose(yaw: float, x: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = yaw_pitch_roll_to_matrix(yaw, 0.0, 0.0)
    matrix[:3, 3] = (x, 2 * x, 0.5)
    return matrix


@pytest.fixture
def buffer() -> PoseBuffer:
    poses = PoseBuffer(PoseBufferConfig(max_gap=0.05))
    for k in range(10):
        if k == 5:
            continue  # a dropped pose message
        poses.add(k / 30, pose(0.1 * k, 0.03 * k))
    return poses


def test_a_stamp_with_its_own_pose_gets_exactly_that_pose(buffer):
    status, found = buffer.lookup(3 / 30)
    assert status is PoseLookup.EXACT
    np.testing.assert_allclose(found, pose(0.3, 0.09), atol=1e-12)
    status, found = buffer.lookup(3 / 30 + 3e-4)   # a stamp near a pose is interpolated
    assert status is PoseLookup.INTERPOLATED
    np.testing.assert_allclose(found, pose(0.3009, 0.09027), atol=1e-9)


def test_a_publisher_catching_up_never_gets_its_neighbours_pose():
    """Frames 0.5 ms apart (a publisher that fell behind): each stamp gets its own pose, and
    a stamp whose pose is not in yet waits instead of taking the previous frame's."""
    poses = PoseBuffer(PoseBufferConfig(max_gap=0.05))
    poses.add(1.0, pose(0.0, 0.0))
    poses.add(1.0005, pose(0.2, 0.4))
    status, found = poses.lookup(1.0)
    assert status is PoseLookup.EXACT
    np.testing.assert_allclose(found, pose(0.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(poses.lookup(1.0005)[1], pose(0.2, 0.4), atol=1e-12)
    assert poses.lookup(1.001) == (PoseLookup.WAIT, None)       # its pose was dropped ...
    poses.add(1.0015, pose(0.4, 0.8))                          # ... and the next is 0.9 m on
    assert poses.lookup(1.001) == (PoseLookup.JUMPED, None)


def test_a_dropped_pose_is_interpolated_between_its_neighbours(buffer):
    status, found = buffer.lookup(5 / 30)
    assert status is PoseLookup.INTERPOLATED
    np.testing.assert_allclose(found, pose(0.5, 0.15), atol=1e-12)
    status, found = buffer.lookup(4.75 / 30)
    np.testing.assert_allclose(found, pose(0.475, 0.1425), atol=1e-9)


def test_newer_stamps_wait_and_older_or_far_ones_are_missing(buffer):
    assert buffer.lookup(9.5 / 30)[0] is PoseLookup.WAIT
    assert buffer.lookup(-1.0)[0] is PoseLookup.MISSING
    sparse = PoseBuffer(PoseBufferConfig(max_gap=0.05))
    sparse.add(0.0, pose(0, 0))
    sparse.add(0.2, pose(1, 1))
    assert sparse.lookup(0.1) == (PoseLookup.MISSING, None)  # neighbours 100 ms away
    assert PoseBuffer().lookup(1.0)[0] is PoseLookup.WAIT


def test_time_going_back_starts_over_and_bad_poses_are_refused(buffer):
    buffer.add(0.0, pose(0, 0))
    assert len(buffer) == 1
    with pytest.raises(ChangeDetectionError, match='finite'):
        buffer.add(1.0, np.full((4, 4), np.nan))
    with pytest.raises(ChangeDetectionError, match='exact_tolerance'):
        PoseBufferConfig(exact_tolerance=0.1, max_gap=0.05)


def test_poses_that_jump_are_not_interpolated():
    """A looped bag or a relocalisation: the neighbours are further apart than a camera moves."""
    poses = PoseBuffer(PoseBufferConfig(max_gap=0.05))
    poses.add(0.0, pose(0.0, 0.0))
    poses.add(2 / 30, pose(0.0, 3.0))  # 6.7 m in 67 ms
    assert poses.lookup(1 / 30) == (PoseLookup.JUMPED, None)
    turned = PoseBuffer(PoseBufferConfig(max_gap=0.05))
    turned.add(0.0, pose(0.0, 0.0))
    turned.add(2 / 30, pose(np.pi / 2, 0.0))  # 90 degrees in 67 ms: 23.6 rad/s
    assert turned.lookup(1 / 30) == (PoseLookup.JUMPED, None)
    status, _ = PoseBuffer(PoseBufferConfig(max_gap=0.05, max_angular_speed=30.0)).lookup(0.0)
    assert status is PoseLookup.WAIT
    allowed = PoseBuffer(PoseBufferConfig(max_gap=0.05, max_angular_speed=30.0))
    allowed.add(0.0, pose(0.0, 0.0))
    allowed.add(2 / 30, pose(np.pi / 2, 0.0))
    assert allowed.lookup(1 / 30)[0] is PoseLookup.INTERPOLATED


@pytest.mark.parametrize('field', ['max_linear_speed', 'max_angular_speed'])
def test_speeds_must_be_positive(field):
    with pytest.raises(ChangeDetectionError, match='speeds must be > 0'):
        PoseBufferConfig(**{field: 0.0})
