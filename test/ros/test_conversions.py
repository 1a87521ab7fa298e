"""Message <-> numpy conversions with hand-built messages (no DDS)."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image

from scenemem_ros.data.errors import DataError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.ros.conversions import (
    array_to_depth_msg,
    camera_info_to_camera,
    camera_to_camera_info,
    depth_msg_to_array,
    header_seconds,
    matrix_to_pose,
    matrix_to_pose_msg,
    pose_msg_to_matrix,
    seconds_to_stamp,
    stamp_to_seconds,
)

pytestmark = pytest.mark.ros


def _depth() -> np.ndarray:
    depth = np.linspace(0.25, 7.5, 6 * 5, dtype=np.float32).reshape(5, 6)
    depth[2, 3] = np.nan
    return depth


@pytest.mark.parametrize('encoding, atol', [('32FC1', 0.0), ('16UC1', 0.0005 + 1e-6)])
def test_depth_round_trip(encoding, atol):
    depth = _depth()
    msg = array_to_depth_msg(depth, encoding, stamp=12.5, frame_id='cam_optical')
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (5, 6, encoding, 0)
    assert msg.step == 6 * (4 if encoding == '32FC1' else 2)
    assert len(msg.data) == msg.step * 5
    assert msg.header.frame_id == 'cam_optical' and header_seconds(msg) == 12.5
    out = depth_msg_to_array(msg)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(depth))
    np.testing.assert_allclose(out, depth, atol=atol)


def test_hand_built_padded_big_endian_16uc1():
    mm = np.array([[1000, 0, 1234], [65535, 1, 500]], dtype='>u2')
    rows = np.zeros((2, 10), np.uint8)  # 6 bytes of samples + 4 padding bytes per row
    rows[:, :6] = mm.view(np.uint8).reshape(2, 6)
    rows[:, 6:] = 0xEE
    msg = Image(height=2, width=3, encoding='16UC1', is_bigendian=1, step=10,
                data=rows.tobytes())
    out = depth_msg_to_array(msg)
    expected = np.array([[1.0, np.nan, 1.234], [65.535, 0.001, 0.5]])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_hand_built_padded_big_endian_32fc1():
    depth = np.array([[1.5, np.inf, 2.0], [-1.0, 0.0, 3.0]], dtype='>f4')
    rows = np.zeros((2, 13), np.uint8)
    rows[:, :12] = depth.view(np.uint8).reshape(2, 12)
    msg = Image(height=2, width=3, encoding='32FC1', is_bigendian=1, step=13,
                data=rows.tobytes())
    np.testing.assert_array_equal(depth_msg_to_array(msg),
                                  [[1.5, np.nan, 2.0], [np.nan, np.nan, 3.0]])


def test_bad_images_raise_data_error():
    with pytest.raises(DataError, match='unsupported depth encoding'):
        depth_msg_to_array(Image(height=1, width=1, encoding='bgr8', step=3, data=b'abc'))
    with pytest.raises(DataError, match='expected step'):
        depth_msg_to_array(Image(height=2, width=2, encoding='32FC1', step=8, data=b'\0' * 8))


def test_rclpy_and_rosbags_agree_on_the_image_bytes():
    """A message serialized by rclpy decodes identically through rosbags, and back."""
    msg = array_to_depth_msg(_depth(), '16UC1', stamp=3.25)
    raw = serialize_message(msg)
    ts = get_typestore(Stores.ROS2_HUMBLE)
    via_rosbags = ts.deserialize_cdr(raw, 'sensor_msgs/msg/Image')
    assert via_rosbags.data.tobytes() == bytes(msg.data)
    back = deserialize_message(bytes(ts.serialize_cdr(via_rosbags, 'sensor_msgs/msg/Image')),
                               Image)
    np.testing.assert_array_equal(depth_msg_to_array(back), depth_msg_to_array(msg))


def test_camera_info_round_trip():
    cam = PinholeCamera(fx=525.0, fy=524.5, cx=319.5, cy=239.25, width=640, height=480)
    msg = camera_to_camera_info(cam, stamp=Time(sec=7, nanosec=5), frame_id='cam')
    assert msg.distortion_model == 'plumb_bob' and list(msg.d) == [0.0] * 5
    np.testing.assert_array_equal(np.asarray(msg.p).reshape(3, 4)[:, :3], cam.matrix)
    assert stamp_to_seconds(msg.header.stamp) == pytest.approx(7.000000005)
    assert camera_info_to_camera(msg) == cam
    with pytest.raises(DataError, match='invalid CameraInfo'):
        camera_info_to_camera(CameraInfo(width=4, height=3))  # all-zero K: uncalibrated


def test_pose_round_trip():
    angle = 2.5
    matrix = np.eye(4)
    matrix[:3, :3] = [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)],
                      [0, np.sin(angle), np.cos(angle)]]
    matrix[:3, 3] = [1.0, -2.0, 0.5]
    msg = matrix_to_pose_msg(matrix, stamp=100.25)
    assert msg.header.frame_id == 'map' and header_seconds(msg) == 100.25
    q = msg.pose.orientation
    assert q.w >= 0 and np.isclose(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2, 1.0)
    np.testing.assert_allclose(pose_msg_to_matrix(msg), matrix, atol=1e-12)
    np.testing.assert_allclose(pose_msg_to_matrix(matrix_to_pose(matrix)), matrix, atol=1e-12)
    zero = Pose()
    zero.orientation.w = 0.0  # geometry_msgs defaults w to 1
    with pytest.raises(DataError, match='invalid pose'):
        pose_msg_to_matrix(zero)


def test_stamps():
    stamp = seconds_to_stamp(1_700_000_000.123456789)
    assert stamp.sec == 1_700_000_000 and abs(stamp.nanosec - 123456789) < 500
    assert abs(stamp_to_seconds(stamp) - 1_700_000_000.123456789) < 1e-6
    assert seconds_to_stamp(0.9999999999) == Time(sec=1, nanosec=0)
    with pytest.raises(DataError):
        seconds_to_stamp(-1.0)
    with pytest.raises(DataError):
        seconds_to_stamp(float('nan'))
