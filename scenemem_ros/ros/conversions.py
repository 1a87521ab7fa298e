"""Message <-> numpy at the ROS edge: depth images, camera infos, poses and stamps.

The only place where ``sensor_msgs``/``geometry_msgs`` messages turn into the core's arrays and
types. Depth bytes go through the core codec (:mod:`scenemem_ros.data.depth_codec`), so live
topics and bags decode identically; poses use the core's quaternion helpers.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from sensor_msgs.msg import CameraInfo, Image

from scenemem_ros.data.bag import matrix_to_pose as split_matrix
from scenemem_ros.data.bag import pose_to_matrix, stamp_to_ns
from scenemem_ros.data.depth_codec import ENCODING_32FC1, decode_depth, encode_depth
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import DEFAULT_CAMERA_FRAME, DEFAULT_WORLD_FRAME
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.errors import GeometryError

StampLike: TypeAlias = float | int | Time


def seconds_to_stamp(seconds: float) -> Time:
    """Seconds (float, >= 0) -> ``builtin_interfaces/msg/Time`` (rounded to the nanosecond)."""
    ns = stamp_to_ns(seconds)
    if ns < 0:
        raise DataError(f'stamp must be >= 0, got {seconds!r}')
    sec, nanosec = divmod(ns, 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def stamp_to_seconds(stamp: Time) -> float:
    """``builtin_interfaces/msg/Time`` -> seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def _as_stamp(stamp: StampLike) -> Time:
    return stamp if isinstance(stamp, Time) else seconds_to_stamp(float(stamp))


def depth_msg_to_array(msg: Image) -> np.ndarray:
    """``sensor_msgs/msg/Image`` (32FC1, 16UC1 or mono16) -> (H, W) float32 metres, NaN invalid.

    Honours ``step`` row padding and ``is_bigendian``.

    Raises:
        DataError: an unsupported encoding or inconsistent size/step/data length.
    """
    return decode_depth(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                        msg.is_bigendian)


def array_to_depth_msg(depth: np.ndarray, encoding: str = ENCODING_32FC1,
                       stamp: StampLike = 0.0, frame_id: str = DEFAULT_CAMERA_FRAME) -> Image:
    """(H, W) metres (NaN/Inf/<= 0 invalid) -> little-endian, unpadded ``sensor_msgs/msg/Image``.

    Args:
        depth: (H, W) depth in metres.
        encoding: ``'32FC1'`` (float32 metres, NaN invalid) or ``'16UC1'`` (uint16 millimetres,
            0 invalid).
        stamp: seconds or a ``builtin_interfaces/msg/Time``.
        frame_id: the optical frame.
    """
    data, step = encode_depth(depth, encoding)
    height, width = np.shape(depth)
    msg = Image()
    msg.header.stamp = _as_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.step = int(height), int(width), int(step)
    msg.encoding = encoding
    msg.is_bigendian = 0
    # bytes, not the numpy array: assigning an array goes element by element (~400x slower).
    msg.data = data.tobytes()
    return msg


def camera_info_to_camera(msg: CameraInfo) -> PinholeCamera:
    """``sensor_msgs/msg/CameraInfo`` -> ``PinholeCamera`` (from ``k``, ``width``, ``height``).

    Distortion is ignored: depth topics are expected rectified (``image_rect``).

    Raises:
        DataError: an invalid K (for example all zeros, as uncalibrated drivers send) or size.
    """
    try:
        return PinholeCamera.from_camera_info(list(msg.k), int(msg.width), int(msg.height))
    except GeometryError as exc:
        raise DataError(f'invalid CameraInfo (frame {msg.header.frame_id!r}): {exc}') from None


def camera_to_camera_info(camera: PinholeCamera, stamp: StampLike = 0.0,
                          frame_id: str = DEFAULT_CAMERA_FRAME) -> CameraInfo:
    """``PinholeCamera`` -> ``sensor_msgs/msg/CameraInfo`` (k, p, identity r, zero plumb_bob)."""
    msg = CameraInfo()
    msg.header.stamp = _as_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(camera.width), int(camera.height)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    k = camera.matrix
    msg.k = k.reshape(-1)
    p = np.zeros((3, 4))
    p[:, :3] = k
    msg.p = p.reshape(-1)
    msg.r = np.eye(3).reshape(-1)
    return msg


def pose_msg_to_matrix(msg: PoseStamped | Pose) -> np.ndarray:
    """``geometry_msgs/msg/PoseStamped`` or ``Pose`` -> (4, 4) float64 transform.

    The quaternion is normalized; a zero or non-finite one raises :class:`DataError`.
    """
    pose = msg.pose if isinstance(msg, PoseStamped) else msg
    p, q = pose.position, pose.orientation
    return pose_to_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


def matrix_to_pose(matrix: np.ndarray) -> Pose:
    """(4, 4) rigid transform -> ``geometry_msgs/msg/Pose`` (quaternion w >= 0)."""
    position, quat = split_matrix(matrix)
    return Pose(position=Point(x=float(position[0]), y=float(position[1]), z=float(position[2])),
                orientation=Quaternion(x=float(quat[0]), y=float(quat[1]), z=float(quat[2]),
                                       w=float(quat[3])))


def matrix_to_pose_msg(matrix: np.ndarray, stamp: StampLike = 0.0,
                       frame_id: str = DEFAULT_WORLD_FRAME) -> PoseStamped:
    """(4, 4) rigid transform -> ``geometry_msgs/msg/PoseStamped`` in ``frame_id``."""
    msg = PoseStamped()
    msg.header.stamp = _as_stamp(stamp)
    msg.header.frame_id = frame_id
    msg.pose = matrix_to_pose(matrix)
    return msg


def header_seconds(msg: Any) -> float:
    """A stamped message's ``header.stamp`` in seconds."""
    return stamp_to_seconds(msg.header.stamp)


__all__ = [
    'array_to_depth_msg',
    'camera_info_to_camera',
    'camera_to_camera_info',
    'depth_msg_to_array',
    'header_seconds',
    'matrix_to_pose',
    'matrix_to_pose_msg',
    'pose_msg_to_matrix',
    'seconds_to_stamp',
    'stamp_to_seconds',
]
