"""The fast path-pose builder serialises to the same message as the public constructors
(compared after a round trip: rclpy leaves CDR padding bytes uninitialised, so the bytes of two
serialisations of one message can differ)."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Quaternion
from nav_msgs.msg import Path
from rclpy.serialization import deserialize_message, serialize_message

from scenemem_ros.ros import path_msgs
from scenemem_ros.ros.path_msgs import path_poses


def as_path(poses):
    msg = Path()
    msg.header.frame_id = 'map'
    msg.poses = poses
    return msg


def test_this_distribution_takes_the_fast_path():
    assert path_msgs.FAST


@pytest.mark.parametrize('goal', [None, Quaternion(x=0.0, y=0.0, z=0.6, w=0.8)])
def test_fast_poses_serialise_to_the_constructed_message(goal):
    points = np.random.default_rng(3).uniform(-50, 50, (317, 2))
    stamp = Time(sec=12, nanosec=345)
    fast = path_poses(points, 'map', stamp, goal)
    slow = path_msgs._constructed(points.tolist(), 'map', stamp, goal)
    back = deserialize_message(serialize_message(as_path(fast)), Path)
    assert back == deserialize_message(serialize_message(as_path(slow)), Path)
    xy = np.array([[p.pose.position.x, p.pose.position.y] for p in back.poses])
    np.testing.assert_array_equal(xy, points)
    assert back.poses[0].header.stamp == stamp and back.poses[-1].header.frame_id == 'map'
    expected_w = 1.0 if goal is None else 0.8
    assert back.poses[-1].pose.orientation.w == expected_w
    assert back.poses[0].pose.orientation.w == 1.0


def test_fast_poses_behave_like_messages():
    poses = path_poses(np.array([[0.0, 1.0], [2.0, 3.0]]), 'map', Time())
    assert poses == path_msgs._constructed([[0.0, 1.0], [2.0, 3.0]], 'map', Time(), None)
    poses[1].pose.position = poses[0].pose.position.__class__(x=5.0)   # settable as usual
    assert poses[1].pose.position.x == 5.0 and poses[0].pose.position.x == 0.0


def test_an_empty_path_has_no_poses():
    assert path_poses(np.zeros((0, 2)), 'map', Time(), Quaternion()) == []
