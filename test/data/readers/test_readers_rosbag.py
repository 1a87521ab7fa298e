"""rosbag2 recordings reader: fixture bags written with rosbags (tf chains, pose topics, mcap)."""

from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import plane_depth
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from scenemem_ros.data.bag import BagTopics, SkipReason, write_sequence_bag
from scenemem_ros.data.depth_codec import encode_depth
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.data.readers import READERS, RosbagReader, SequenceSource, open_source
from scenemem_ros.data.readers.rosbag import TransformTree
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import matrix_to_quaternion, pose_to_matrix

TS = get_typestore(Stores.ROS2_HUMBLE)
T = TS.types
CAMERA = PinholeCamera(fx=50.0, fy=48.0, cx=31.5, cy=23.5, width=64, height=48)
WALL_X = 6.0  # the wall plane x = 6 in the map frame
BASE = 1_700_000_000.0
DEPTH_TIMES = [0.125, 0.31, 0.52, 0.77, 0.99]  # all between the 20 Hz tf samples
OPTICAL_IN_LINK = [-0.5, 0.5, -0.5, 0.5]  # camera_link -> camera_optical (REP 103)


def yaw_matrix(yaw: float, xyz=(0.0, 0.0, 0.0)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0],
                 [0.0, 0.0, 1.0]]
    m[:3, 3] = xyz
    return m


def map_from_odom() -> np.ndarray:
    return yaw_matrix(0.3, (1.0, 2.0, 0.0))


def odom_from_base(t: float) -> np.ndarray:
    """The robot drives along odom x at 0.5 m/s while turning at 0.2 rad/s."""
    return yaw_matrix(-0.3 + 0.2 * t, (0.5 * t, 0.1, 0.0))


def base_from_link() -> np.ndarray:
    pitch = -0.1  # looking slightly down
    m = np.eye(4)
    m[:3, :3] = [[np.cos(pitch), 0.0, np.sin(pitch)], [0.0, 1.0, 0.0],
                 [-np.sin(pitch), 0.0, np.cos(pitch)]]
    m[:3, 3] = [0.2, 0.0, 1.0]
    return m


def link_from_optical() -> np.ndarray:
    return pose_to_matrix([0.0, 0.0, 0.0], OPTICAL_IN_LINK)


def known_pose(t: float) -> np.ndarray:
    """map_from_camera_optical at time ``t`` (s after BASE)."""
    return map_from_odom() @ odom_from_base(t) @ base_from_link() @ link_from_optical()


def header(stamp: float, frame_id: str):
    ns = int(round(stamp * 1e9))
    return T['std_msgs/msg/Header'](
        stamp=T['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
        frame_id=frame_id)


def transform(stamp: float, parent: str, child: str, matrix: np.ndarray):
    q = matrix_to_quaternion(matrix[:3, :3])
    return T['geometry_msgs/msg/TransformStamped'](
        header=header(stamp, parent), child_frame_id=child,
        transform=T['geometry_msgs/msg/Transform'](
            translation=T['geometry_msgs/msg/Vector3'](x=matrix[0, 3], y=matrix[1, 3],
                                                       z=matrix[2, 3]),
            rotation=T['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])))


def camera_info(stamp: float, frame_id: str, camera: PinholeCamera = CAMERA):
    p = np.zeros((3, 4))
    p[:, :3] = camera.matrix
    return T['sensor_msgs/msg/CameraInfo'](
        header=header(stamp, frame_id), height=camera.height, width=camera.width,
        distortion_model='plumb_bob', d=np.zeros(5), k=camera.matrix.reshape(-1),
        r=np.eye(3).reshape(-1), p=p.reshape(-1), binning_x=0, binning_y=0,
        roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))


def image(stamp: float, frame_id: str, depth: np.ndarray, encoding: str):
    data, step = encode_depth(depth, encoding)
    return T['sensor_msgs/msg/Image'](header=header(stamp, frame_id), height=depth.shape[0],
                                      width=depth.shape[1], encoding=encoding, is_bigendian=0,
                                      step=step, data=data)


def write_tf_bag(path, *, storage='sqlite3', encoding='32FC1', depth_times=DEPTH_TIMES,
                 tf_times=None, static=True, extra_tf=(), camera_frame='camera_optical'):
    """A recording with /tf (odom -> base_link at 20 Hz), /tf_static (map -> odom, base_link ->
    camera_link -> camera_optical) and depth + camera info of the wall x = WALL_X."""
    tf_times = np.arange(0.0, 1.05, 0.05) if tf_times is None else tf_times
    plugin = StoragePlugin.SQLITE3 if storage == 'sqlite3' else StoragePlugin.MCAP
    messages = []
    for t in tf_times:
        msg = T['tf2_msgs/msg/TFMessage'](
            transforms=[transform(BASE + t, 'odom', 'base_link', odom_from_base(t))])
        messages.append(('/tf', BASE + t, msg, 'tf2_msgs/msg/TFMessage'))
    for parent, child, matrix in extra_tf:
        msg = T['tf2_msgs/msg/TFMessage'](transforms=[transform(BASE, parent, child, matrix)])
        messages.append(('/tf', BASE, msg, 'tf2_msgs/msg/TFMessage'))
    if static:
        msg = T['tf2_msgs/msg/TFMessage'](transforms=[
            transform(BASE, 'map', 'odom', map_from_odom()),
            transform(BASE, 'base_link', 'camera_link', base_from_link()),
            transform(BASE, 'camera_link', 'camera_optical', link_from_optical())])
        messages.append(('/tf_static', BASE, msg, 'tf2_msgs/msg/TFMessage'))
    for t in depth_times:
        depth = plane_depth(CAMERA, known_pose(t), [1.0, 0.0, 0.0], WALL_X)
        depth = np.where(depth > 0, depth, np.nan).astype(np.float32)
        messages.append(('/camera/depth/camera_info', BASE + t, camera_info(BASE + t,
                         camera_frame), 'sensor_msgs/msg/CameraInfo'))
        messages.append(('/camera/depth/image_rect', BASE + t, image(BASE + t, camera_frame,
                         depth, encoding), 'sensor_msgs/msg/Image'))
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        connections = {}
        for topic, stamp, msg, msgtype in sorted(messages, key=lambda m: m[1]):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=TS)
            writer.write(connections[topic], int(round(stamp * 1e9)),
                         TS.serialize_cdr(msg, msgtype))
    return path


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
@pytest.mark.parametrize('encoding, tolerance', [('32FC1', 1e-4), ('16UC1', 2e-3)])
def test_tf_chain_puts_the_wall_back_in_the_map(tmp_path, storage, encoding, tolerance):
    bag = write_tf_bag(tmp_path / 'run', storage=storage, encoding=encoding)
    reader = READERS['rosbag'](bag)
    assert isinstance(reader, SequenceSource) and reader.pose_source == 'tf'
    sequence = reader.read()
    assert len(sequence) == len(DEPTH_TIMES) and sequence.world_frame == 'map'
    for frame, t in zip(sequence, DEPTH_TIMES, strict=True):
        assert frame.stamp == pytest.approx(BASE + t, abs=1e-6)
        assert frame.camera == CAMERA and frame.frame_id == 'camera_optical'
        # odom -> base_link is interpolated between the 20 Hz samples: linear motion and a
        # constant yaw rate make the interpolation exact
        np.testing.assert_allclose(frame.camera_to_world, known_pose(t), atol=1e-7)
        points = frame.world_points()
        assert len(points) > 0.9 * CAMERA.width * CAMERA.height
        assert np.abs(points[:, 0] - WALL_X).max() < tolerance


def test_other_fixed_frame_and_pose_of_a_named_frame(tmp_path):
    bag = write_tf_bag(tmp_path / 'run')
    sequence = open_source('rosbag', bag, world_frame='odom').read()
    assert sequence.world_frame == 'odom'
    np.testing.assert_allclose(sequence[0].camera_to_world,
                               np.linalg.inv(map_from_odom()) @ known_pose(DEPTH_TIMES[0]),
                               atol=1e-7)
    # the pose of base_link in map: a lookup through the tree's lowest common ancestor
    sequence = open_source('rosbag', bag, camera_frame='base_link').read()
    np.testing.assert_allclose(sequence[1].camera_to_world,
                               map_from_odom() @ odom_from_base(DEPTH_TIMES[1]), atol=1e-7)
    # from the camera's point of view: map expressed in camera_optical (target below source)
    reader = RosbagReader(bag)
    assert isinstance(reader.tree, TransformTree)
    tree = reader.tree
    np.testing.assert_allclose(tree.lookup('camera_optical', 'map', BASE + 0.52, 0.01),
                               np.linalg.inv(known_pose(0.52)), atol=1e-7)


def test_images_beyond_the_tf_coverage_are_skipped_within_slop(tmp_path):
    # tf covers 0 .. 0.5 s; images at 0.52 (within the 0.05 s slop) and 0.77, 0.99 (not)
    bag = write_tf_bag(tmp_path / 'run', tf_times=np.arange(0.0, 0.55, 0.05))
    reader = RosbagReader(bag)
    assert len(reader) == 3 and reader.skipped[SkipReason.NO_POSE] == 2
    frames = reader.read()
    np.testing.assert_allclose(frames[2].camera_to_world[:3, 3], known_pose(0.5)[:3, 3],
                               atol=1e-7)  # nearest sample, not extrapolated
    assert len(RosbagReader(bag, slop=0.01)) == 2


def test_pose_topic_with_configured_names_and_subsampling(tmp_path, sequence_factory):
    sequence = sequence_factory(count=5)
    topics = BagTopics(depth='/cam/depth', camera_info='/cam/info', pose='/slam/pose')
    bag = write_sequence_bag(sequence, tmp_path / 'rec', topics=topics, storage='mcap',
                             depth_encoding='16UC1')
    reader = RosbagReader(bag, depth_topic='/cam/depth', camera_info_topic='/cam/info',
                          pose_topic='/slam/pose', stride=2)
    assert reader.pose_source == 'pose' and len(reader) == 3
    got = reader.read()
    assert got.world_frame == 'map'
    for frame, want in zip(got, sequence.frames[::2], strict=True):
        assert frame.stamp == pytest.approx(want.stamp, abs=1e-6)
        np.testing.assert_allclose(frame.camera_to_world, want.camera_to_world, atol=1e-9)
        valid = np.isfinite(want.depth)
        np.testing.assert_allclose(frame.depth[valid], want.depth[valid], atol=5e-4 + 1e-6)


def test_iteration_is_lazy_and_repeatable(tmp_path):
    reader = RosbagReader(write_tf_bag(tmp_path / 'run'), max_frames=2)
    first = next(iter(reader))
    assert isinstance(first, Frame)
    again = list(reader)
    assert len(again) == 2 and again[0].stamp == first.stamp
    assert isinstance(reader.read(), Sequence)


def test_missing_topics_are_named(tmp_path):
    bag = write_tf_bag(tmp_path / 'run')
    with pytest.raises(DataError, match="depth topic '/depth' is not in the bag.*'/tf'"):
        RosbagReader(bag, depth_topic='/depth')
    with pytest.raises(DataError, match="pose topic '/camera/pose' is not in the bag"):
        RosbagReader(bag, pose_source='pose')
    with pytest.raises(DataError, match="neither pose topic '/p' nor tf topic '/tf2'"):
        RosbagReader(bag, pose_topic='/p', tf_topic='/tf2')
    with pytest.raises(DataError, match="camera_info topic '/info'"):
        RosbagReader(bag, camera_info_topic='/info')
    with pytest.raises(DataError, match="topic '/tf' has type tf2_msgs/msg/TFMessage, expected "
                                        'sensor_msgs/msg/Image'):
        RosbagReader(bag, depth_topic='/tf')


def test_unknown_and_unconnected_frames_are_named(tmp_path):
    bag = write_tf_bag(tmp_path / 'run')
    with pytest.raises(DataError, match="frame 'nope' is not in the tf tree.*camera_optical"):
        RosbagReader(bag, camera_frame='nope')
    with pytest.raises(DataError, match="frame 'earth' is not in the tf tree"):
        RosbagReader(bag, world_frame='earth')
    # without /tf_static the camera is not connected to map at all
    lonely = write_tf_bag(tmp_path / 'lonely', static=False,
                          extra_tf=[('camera_link', 'camera_optical', link_from_optical())])
    with pytest.raises(DataError, match="'map' is not in the tf tree"):
        RosbagReader(lonely)
    with pytest.raises(DataError, match="'odom' and 'camera_optical' are not connected"):
        RosbagReader(lonely, world_frame='odom')


def test_a_frame_with_two_parents_is_refused(tmp_path):
    bag = write_tf_bag(tmp_path / 'run', extra_tf=[('map', 'base_link', np.eye(4))])
    with pytest.raises(DataError, match="frame 'base_link' has two parents"):
        RosbagReader(bag)


def test_bad_options_and_paths(tmp_path):
    with pytest.raises(DataError, match='pose_source'):
        RosbagReader.Options(pose_source='gps')
    with pytest.raises(DataError, match='depth_topic'):
        RosbagReader.Options(depth_topic='depth')
    with pytest.raises(DataError, match='slop'):
        RosbagReader.Options(slop=0.0)
    with pytest.raises(DataError, match='no such bag'):
        RosbagReader(tmp_path / 'missing')
