"""rosbag2 round trips, pairing, info and bad input for scenemem_ros.data.bag."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from scenemem_ros.data import bag as bagmod
from scenemem_ros.data.bag import (
    BagTopics,
    SkipReason,
    bag_info,
    iter_raw_messages,
    matrix_to_pose,
    nearest_within,
    pose_to_matrix,
    read_sequence_bag,
    write_sequence_bag,
)
from scenemem_ros.data.depth_codec import encode_depth
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import Frame, Sequence

TS = get_typestore(Stores.ROS2_HUMBLE)
TOPICS = BagTopics()


def assert_frames_equal(got: Sequence, want: Sequence, depth_atol: float = 0.0) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert abs(a.stamp - b.stamp) < 1e-6
        assert a.camera == b.camera
        assert a.frame_id == b.frame_id
        np.testing.assert_allclose(a.camera_to_world, b.camera_to_world, atol=1e-9)
        np.testing.assert_array_equal(np.isnan(a.depth), np.isnan(b.depth))
        valid = ~np.isnan(b.depth)
        np.testing.assert_allclose(a.depth[valid], b.depth[valid], rtol=0, atol=depth_atol)


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
@pytest.mark.parametrize('encoding, atol', [('32FC1', 0.0), ('16UC1', 0.0005 + 1e-6)])
def test_round_trip(tmp_path, sequence, storage, encoding, atol):
    path = write_sequence_bag(sequence, tmp_path / 'run', depth_encoding=encoding,
                              storage=storage)
    assert path == tmp_path / 'run' and path.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['run']  # no temp leftovers
    result = read_sequence_bag(path)
    assert_frames_equal(result.sequence, sequence, atol)
    assert result.sequence.world_frame == 'map' and result.sequence.name == 'run'
    report = result.report
    assert (report.depth_messages, report.pose_messages, report.camera_info_messages) == (4, 4, 4)
    assert report.frames == 4 and report.total_skipped == 0


def test_written_bag_is_version_8_with_qos_and_bag_time_equal_to_stamps(tmp_path, sequence):
    path = write_sequence_bag(sequence, tmp_path / 'b')
    meta = (path / 'metadata.yaml').read_text()
    assert 'version: 8' in meta and 'storage_identifier: sqlite3' in meta
    assert (path / 'b.db3').is_file()
    info = bag_info(path)
    for topic in info.topics:
        assert len(topic.offered_qos) == 1
        assert topic.offered_qos[0].reliability.name == 'RELIABLE'
        assert topic.offered_qos[0].durability.name == 'VOLATILE'
    counts = 0
    for msg in iter_raw_messages(path):
        decoded = TS.deserialize_cdr(msg.data, msg.msgtype)
        stamp = decoded.header.stamp
        assert msg.timestamp_ns == stamp.sec * 1_000_000_000 + stamp.nanosec
        if msg.topic == TOPICS.pose:
            assert decoded.header.frame_id == 'map'
        if msg.topic == TOPICS.camera_info:
            assert decoded.distortion_model == 'plumb_bob' and not decoded.d.any()
            np.testing.assert_allclose(decoded.p.reshape(3, 4)[:, :3], decoded.k.reshape(3, 3))
        counts += 1
    assert counts == 12


def test_bag_info(tmp_path, sequence):
    path = write_sequence_bag(sequence, tmp_path / 'b', storage='mcap')
    info = bag_info(path)
    assert info.storage == 'mcap' and info.message_count == 12
    assert {t.name: (t.msgtype, t.message_count) for t in info.topics} == {
        TOPICS.depth: ('sensor_msgs/msg/Image', 4),
        TOPICS.camera_info: ('sensor_msgs/msg/CameraInfo', 4),
        TOPICS.pose: ('geometry_msgs/msg/PoseStamped', 4),
    }
    assert info.duration == pytest.approx(0.3, abs=1e-6)
    assert info.start_ns == round(sequence[0].stamp * 1e9)
    text = info.format()
    assert TOPICS.depth in text and 'mcap' in text and '0.300 s' in text


def test_reads_single_db3_file_and_custom_topics(tmp_path, sequence):
    topics = BagTopics(depth='/cam/d', camera_info='/cam/info', pose='/cam/pose')
    path = write_sequence_bag(sequence, tmp_path / 'c', topics=topics)
    result = read_sequence_bag(path / 'c.db3', topics=topics)
    assert result.sequence.name == 'c'
    assert_frames_equal(result.sequence, sequence)
    with pytest.raises(DataError, match="required depth topic '/camera/depth/image_rect'"):
        read_sequence_bag(path)


# ---- hand-built bags: pairing, odd images, wrong types --------------------------------------

def _stamped(ns: int, frame_id: str):
    sec, nanosec = divmod(ns, 1_000_000_000)
    return TS.types['std_msgs/msg/Header'](
        stamp=TS.types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec),
        frame_id=frame_id)


def _image(ns, depth, encoding='32FC1', big_endian=False, step=None, width=None):
    data, step = encode_depth(depth, encoding, big_endian=big_endian, step=step)
    h, w = depth.shape
    return TS.types['sensor_msgs/msg/Image'](
        header=_stamped(ns, 'cam'), height=h, width=width or w, encoding=encoding,
        is_bigendian=int(big_endian), step=step, data=data)


def _info(ns, width, height, k=(40.0, 0, 20.0, 0, 41.0, 15.0, 0, 0, 1)):
    t = TS.types
    return t['sensor_msgs/msg/CameraInfo'](
        header=_stamped(ns, 'cam'), height=height, width=width, distortion_model='plumb_bob',
        d=np.zeros(5), k=np.array(k, float), r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0,
        binning_y=0, roi=t['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def _pose(ns, x, frame_id='map'):
    t = TS.types
    return t['geometry_msgs/msg/PoseStamped'](
        header=_stamped(ns, frame_id), pose=t['geometry_msgs/msg/Pose'](
            position=t['geometry_msgs/msg/Point'](x=x, y=0.0, z=0.0),
            orientation=t['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=2.0)))


def _write_raw(path: Path, messages) -> Path:
    """messages: (topic, msgtype, msg) in any order; bag time = header stamp."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conns = {}
        for topic, msgtype, msg in sorted(messages, key=lambda m: (
                m[2].header.stamp.sec, m[2].header.stamp.nanosec)):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TS)
            stamp = msg.header.stamp
            writer.write(conns[topic], stamp.sec * 1_000_000_000 + stamp.nanosec,
                         TS.serialize_cdr(msg, msgtype))
    return path


IMG, INFO, POSE = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo', (
    'geometry_msgs/msg/PoseStamped')
MS = 1_000_000


def test_pairing_nearest_pose_within_slop_and_skips_are_counted(tmp_path):
    depth = np.full((3, 4), 2.0, np.float32)
    base = 10_000 * MS
    msgs = [(TOPICS.camera_info, INFO, _info(base + 50 * MS, 4, 3))]
    # depth at 100, 200, 300, 400, 500 ms (+ one at 20 ms, 30 ms before the first camera info)
    for i, t in enumerate([20, 100, 200, 300, 400, 500]):
        msgs.append((TOPICS.depth, IMG, _image(base + t * MS, depth * (i + 1))))
    # poses: 105 (near 100), 185 + 214 (nearest to 200 is 214), none near 300,
    # 390 (near 400), 505 (near 500), and 10 (near 20 but there is no camera info yet)
    for t in [10, 105, 185, 214, 390, 505]:
        msgs.append((TOPICS.pose, POSE, _pose(base + t * MS, float(t))))
    # a camera info of another size after 450 ms: the 500 ms image does not match it
    msgs.append((TOPICS.camera_info, INFO, _info(base + 450 * MS, 8, 6)))
    path = _write_raw(tmp_path / 'p', msgs)

    result = read_sequence_bag(path, slop=0.02)
    frames = result.sequence.frames
    assert [round(f.stamp - 10.0, 3) for f in frames] == [0.1, 0.2, 0.4]
    assert [f.camera_to_world[0, 3] for f in frames] == [105.0, 214.0, 390.0]
    np.testing.assert_allclose(frames[0].camera_to_world[:3, :3], np.eye(3))  # w=2 normalized
    assert frames[0].camera.fx == 40.0 and frames[0].frame_id == 'cam'
    assert result.report.skipped == {SkipReason.NO_POSE: 1, SkipReason.NO_CAMERA_INFO: 1,
                                     SkipReason.CAMERA_INFO_MISMATCH: 1}
    assert result.report.depth_messages == 6 and result.report.frames == 3

    wide = read_sequence_bag(path, slop=0.2)  # an early image takes a camera info <= slop later
    assert wide.report.skipped == {SkipReason.NO_POSE: 0, SkipReason.NO_CAMERA_INFO: 0,
                                   SkipReason.CAMERA_INFO_MISMATCH: 1}
    assert wide.report.frames == 5


def test_read_decodes_padded_big_endian_images_and_counts_invalid_camera_info(tmp_path):
    depth = np.array([[0.5, 1.0, np.nan], [2.0, 3.25, 4.5]], np.float32)
    ns = 5_000 * MS
    msgs = [
        (TOPICS.camera_info, INFO, _info(ns - 2 * MS, 3, 2, k=(0.0,) * 9)),  # uncalibrated
        (TOPICS.camera_info, INFO, _info(ns, 3, 2)),
        (TOPICS.pose, POSE, _pose(ns, 1.0)),
        (TOPICS.depth, IMG, _image(ns, depth, '16UC1', big_endian=True, step=9)),
        (TOPICS.pose, POSE, _pose(ns + 10 * MS, 1.0)),
        (TOPICS.depth, IMG, _image(ns + 10 * MS, depth, '32FC1', big_endian=True, step=16)),
    ]
    result = read_sequence_bag(_write_raw(tmp_path / 'o', msgs))
    assert result.report.invalid_camera_info == 1 and result.report.frames == 2
    for frame in result.sequence:
        np.testing.assert_allclose(frame.depth, depth, atol=1e-6)


def test_wrong_encoding_raises_naming_the_topic(tmp_path):
    ns = 1_000 * MS
    image = _image(ns, np.ones((2, 2), np.float32))
    image.encoding = 'rgb8'
    msgs = [(TOPICS.camera_info, INFO, _info(ns, 2, 2)), (TOPICS.pose, POSE, _pose(ns, 0.0)),
            (TOPICS.depth, IMG, image)]
    with pytest.raises(DataError, match=r"topic '/camera/depth/image_rect'.*'rgb8'"):
        read_sequence_bag(_write_raw(tmp_path / 'e', msgs))


def test_wrong_topic_type_and_mixed_pose_frames(tmp_path):
    ns = 1_000 * MS
    msgs = [(TOPICS.camera_info, INFO, _info(ns, 2, 2)),
            (TOPICS.pose, INFO, _info(ns, 2, 2)),
            (TOPICS.depth, IMG, _image(ns, np.ones((2, 2), np.float32)))]
    with pytest.raises(DataError, match="'/camera/pose' has type sensor_msgs/msg/CameraInfo"):
        read_sequence_bag(_write_raw(tmp_path / 't', msgs))
    msgs = [(TOPICS.camera_info, INFO, _info(ns, 2, 2)), (TOPICS.pose, POSE, _pose(ns, 0.0)),
            (TOPICS.pose, POSE, _pose(ns + 1, 0.0, frame_id='odom')),
            (TOPICS.depth, IMG, _image(ns, np.ones((2, 2), np.float32)))]
    with pytest.raises(DataError, match='mixes frames'):
        read_sequence_bag(_write_raw(tmp_path / 'm', msgs))


# ---- bad input ------------------------------------------------------------------------------

@pytest.fixture
def good_bag(tmp_path_factory):
    seq = Sequence([Frame(stamp=1.0 + i, camera=_camera(), camera_to_world=np.eye(4),
                          depth=np.full((6, 8), 1.5, np.float32)) for i in range(3)])
    return write_sequence_bag(seq, tmp_path_factory.mktemp('bags') / 'good')


def _camera():
    from scenemem_ros.geometry.camera import PinholeCamera

    return PinholeCamera(10.0, 10.0, 3.5, 2.5, 8, 6)


def _copy(bag: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(bag, tmp_path / name))


def _damage_db(bag: Path, how: str) -> None:
    db = next(bag.glob('*.db3'))
    raw = bytearray(db.read_bytes())
    if how == 'header':
        raw[:100] = b'\0' * 100
    elif how == 'truncate':
        raw = raw[:len(raw) // 3]
    else:  # pages after the schema: the database opens but reading fails or yields garbage
        raw[4096:] = b'\xff' * (len(raw) - 4096)
    db.write_bytes(bytes(raw))


@pytest.mark.parametrize('damage', [
    'truncated_metadata', 'garbage_metadata', 'empty_metadata', 'db_header', 'db_truncated',
    'db_pages', 'db_missing'])
def test_damaged_bags_raise_data_error(tmp_path, good_bag, damage):
    bag = _copy(good_bag, tmp_path, damage)
    meta = bag / 'metadata.yaml'
    if damage == 'truncated_metadata':
        meta.write_text(meta.read_text()[:200])
    elif damage == 'garbage_metadata':
        meta.write_text(': : [[ {')
    elif damage == 'empty_metadata':
        meta.write_text('')
    elif damage == 'db_missing':
        next(bag.glob('*.db3')).unlink()
    else:
        _damage_db(bag, damage[3:].replace('truncated', 'truncate'))
    with pytest.raises(DataError, match=damage):  # every message names the bag
        read_sequence_bag(bag)
    with pytest.raises(DataError, match=damage):
        bag_info(bag) if damage != 'db_pages' else list(iter_raw_messages(bag))


def test_not_a_bag(tmp_path):
    with pytest.raises(DataError, match='does not exist'):
        read_sequence_bag(tmp_path / 'missing')
    with pytest.raises(DataError, match='no metadata.yaml'):
        bag_info(tmp_path)
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(DataError, match='not a rosbag2 bag'):
        read_sequence_bag(tmp_path / 'notes.txt')
    (tmp_path / 'fake.db3').write_bytes(b'hello' * 100)
    with pytest.raises(DataError, match='fake.db3'):
        read_sequence_bag(tmp_path / 'fake.db3')


def test_missing_topic(good_bag):
    with pytest.raises(DataError, match="required pose topic '/robot/pose'"):
        read_sequence_bag(good_bag, BagTopics(pose='/robot/pose'))
    with pytest.raises(DataError, match=r"\['/nope'\] not in the bag"):
        list(iter_raw_messages(good_bag, topics=['/nope', TOPICS.pose]))


def test_overwrite_refused_then_allowed(tmp_path, sequence):
    target = tmp_path / 'o'
    write_sequence_bag(sequence, target)
    short = Sequence(sequence.frames[:2])
    with pytest.raises(DataError, match='exists already'):
        write_sequence_bag(short, target)
    assert bag_info(target).message_count == 12
    write_sequence_bag(short, target, overwrite=True)
    assert bag_info(target).message_count == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ['o']


def test_crash_while_writing_leaves_nothing_at_target(tmp_path, sequence, monkeypatch):
    calls = []

    def flaky(depth, encoding):
        calls.append(1)
        if len(calls) == 3:
            raise OSError('disk full')
        return encode_depth(depth, encoding)

    monkeypatch.setattr(bagmod, 'encode_depth', flaky)
    with pytest.raises(DataError, match='disk full'):
        write_sequence_bag(sequence, tmp_path / 'x')
    assert list(tmp_path.iterdir()) == []
    # An existing bag survives a failed overwrite.
    monkeypatch.setattr(bagmod, 'encode_depth', encode_depth)
    write_sequence_bag(sequence, tmp_path / 'x')
    calls.clear()
    monkeypatch.setattr(bagmod, 'encode_depth', flaky)
    with pytest.raises(DataError):
        write_sequence_bag(sequence, tmp_path / 'x', overwrite=True)
    assert bag_info(tmp_path / 'x').message_count == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x']


def test_write_argument_checks(tmp_path, sequence):
    with pytest.raises(DataError, match='depth_encoding'):
        write_sequence_bag(sequence, tmp_path / 'a', depth_encoding='mono8')
    with pytest.raises(DataError, match='storage'):
        write_sequence_bag(sequence, tmp_path / 'a', storage='bag')
    with pytest.raises(DataError, match='no frames'):
        write_sequence_bag(Sequence([]), tmp_path / 'a')
    points_only = Frame(stamp=1.0, camera=_camera(), camera_to_world=np.eye(4),
                        points=np.zeros((3, 3)))
    with pytest.raises(DataError, match='frame 0 has no depth'):
        write_sequence_bag(Sequence([points_only]), tmp_path / 'a')
    skewed = sequence[0].camera_to_world.copy()
    skewed[:3, :3] *= 2.0
    bad = Frame(stamp=1.0, camera=sequence[0].camera, camera_to_world=skewed,
                depth=sequence[0].depth)
    with pytest.raises(DataError, match='not a rotation'):
        write_sequence_bag(Sequence([bad]), tmp_path / 'a')
    with pytest.raises(DataError, match='slop'):
        read_sequence_bag(tmp_path, slop=-1)
    assert not (tmp_path / 'a').exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('field, value', [('depth', 'camera/depth'), ('pose', '/a b'),
                                          ('camera_info', '/x/'), ('depth', '')])
def test_bag_topics_validation_names_the_field(field, value):
    with pytest.raises(DataError, match=f'BagTopics.{field}'):
        BagTopics(**{field: value})
    with pytest.raises(DataError, match='must differ'):
        BagTopics(depth='/a', pose='/a')


# ---- helpers against naive versions ---------------------------------------------------------

def test_nearest_within_matches_a_naive_scan():
    rng = np.random.default_rng(1)
    for _ in range(200):
        stamps = np.sort(rng.uniform(0, 10, rng.integers(0, 20))).tolist()
        t, slop = rng.uniform(-1, 11), rng.uniform(0, 0.5)
        got = nearest_within(stamps, t, slop)
        if not stamps or min(abs(s - t) for s in stamps) > slop:
            assert got is None
        else:
            assert abs(stamps[got] - t) == min(abs(s - t) for s in stamps)


def test_quaternion_round_trip_including_half_turns():
    rng = np.random.default_rng(2)
    quats = list(rng.normal(size=(100, 4)))
    quats += [np.array(q, float) for q in ([1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                           [0, 0, 0, 1], [0.7071, 0.7071, 0, 0])]
    for q in quats:
        matrix = pose_to_matrix([1.0, 2.0, 3.0], q)
        r = matrix[:3, :3]
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
        # naive check: rotating by q equals q v q* (Hamilton product)
        qn = q / np.linalg.norm(q)
        v = np.array([0.3, -0.2, 0.9])
        x, y, z, w = qn
        u = np.array([x, y, z])
        expected = v + 2 * w * np.cross(u, v) + 2 * np.cross(u, np.cross(u, v))
        np.testing.assert_allclose(r @ v, expected, atol=1e-12)
        position, back = matrix_to_pose(matrix)
        np.testing.assert_allclose(position, [1.0, 2.0, 3.0])
        assert back[3] >= 0
        np.testing.assert_allclose(pose_to_matrix(position, back), matrix, atol=1e-12)
    with pytest.raises(DataError, match='invalid pose'):
        pose_to_matrix([0, 0, 0], [0, 0, 0, 0])


def test_core_modules_do_not_import_ros():
    import ast

    import scenemem_ros.data.bag as bag_module
    import scenemem_ros.data.depth_codec as codec_module

    for module in (bag_module, codec_module):
        tree = ast.parse(Path(module.__file__).read_text())
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module or '' for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom)}
        roots = {name.split('.')[0] for name in names}
        assert not roots & {'rclpy', 'sensor_msgs', 'geometry_msgs', 'std_msgs',
                             'builtin_interfaces'}
