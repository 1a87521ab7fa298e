"""rosbag2 read/write for ``Frame``/``Sequence`` with ``rosbags`` (no ROS install, no rclpy).

A bag of a sequence holds three topics (names in :class:`BagTopics`):

* depth: ``sensor_msgs/msg/Image``, ``32FC1`` metres (NaN invalid) or ``16UC1`` millimetres
  (0 invalid), in the camera's optical frame (``Frame.frame_id``);
* camera info: ``sensor_msgs/msg/CameraInfo`` with ``k``, ``p``, size and zero ``plumb_bob``
  distortion, one per depth image and with the same stamp;
* pose: ``geometry_msgs/msg/PoseStamped`` in ``Sequence.world_frame`` (``map``), the pose of the
  camera's optical frame in the world (quaternion x, y, z, w).

Written bags use sqlite3 storage (or mcap) with metadata version 8, which Humble, Jazzy and Kilted
all read, and bag (receive) time equal to ``header.stamp``. Every topic records its offered QoS:
reliable, volatile, keep-last 10 (:data:`DEPTH_QOS`, :data:`POSE_QOS`). Reliable is chosen on
purpose: by request-vs-offered matching a reliable publisher serves both reliable and best-effort
subscribers, so ``ros2 bag play`` (or ``scenemem_bag_play``) feeds a subscriber whatever depth QoS
it was configured with; and between processes, large reliable images arrive complete with stock
Fast DDS settings where best-effort ones are mostly dropped (see ``config/fastdds_shm.xml``).

Reading goes through ``rosbags.highlevel.AnyReader`` and accepts sqlite3 and mcap bags (a bag
directory, or a single ``.db3``/``.mcap`` file). Each depth image is paired with the pose nearest
in ``header.stamp`` within ``slop`` seconds and the latest camera info at or before it; images
without a partner are skipped and counted in a :class:`BagReadReport`. Every failure surfaces as
:class:`~scenemem_ros.data.errors.DataError` naming the bag and, where it applies, the topic.
"""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from scenemem_ros.data.depth_codec import (
    ENCODABLE_ENCODINGS,
    ENCODING_32FC1,
    decode_depth,
    encode_depth,
)
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_POSE_TOPIC,
    DEFAULT_WORLD_FRAME,
    Frame,
    Sequence,
)
from scenemem_ros.geometry.camera import PinholeCamera

IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
POSE_TYPE = 'geometry_msgs/msg/PoseStamped'

#: Storage plugins accepted by :func:`write_sequence_bag`.
STORAGES = ('sqlite3', 'mcap')
#: rosbag2 metadata version written: the newest one Humble can read.
BAG_VERSION: Literal[8] = 8


def _typestore() -> Any:
    """The typestore used to write, and to read bags without embedded definitions.

    Image, CameraInfo, PoseStamped and Clock are identical (same RIHS01 hashes) in Humble, Jazzy
    and Kilted, so the oldest supported distro's store serves all three.
    """
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def _qos(depth: int) -> Any:
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    unset = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, QosDurability.VOLATILE,
               unset, unset, QosLiveliness.AUTOMATIC, unset, False)


#: Offered QoS recorded for the depth and camera-info topics: reliable, volatile, keep last 10.
DEPTH_QOS = _qos(10)
#: Offered QoS recorded for the pose topic: reliable, volatile, keep last 10.
POSE_QOS = _qos(10)


@dataclass(frozen=True)
class BagTopics:
    """Topic names of a sequence bag.

    Attributes:
        depth: ``sensor_msgs/msg/Image`` depth images.
        camera_info: ``sensor_msgs/msg/CameraInfo`` of the depth images.
        pose: ``geometry_msgs/msg/PoseStamped`` optical-frame poses in the world frame.
    """

    depth: str = DEFAULT_DEPTH_TOPIC
    camera_info: str = DEFAULT_CAMERA_INFO_TOPIC
    pose: str = DEFAULT_POSE_TOPIC

    def __post_init__(self) -> None:
        for name in ('depth', 'camera_info', 'pose'):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith('/') or len(value) < 2:
                raise DataError(f'BagTopics.{name} must be an absolute topic name like '
                                f"'/camera/x', got {value!r}")
            if any(c.isspace() for c in value) or value.endswith('/') or '//' in value:
                raise DataError(f'BagTopics.{name} is not a valid topic name: {value!r}')
        names = [self.depth, self.camera_info, self.pose]
        if len(set(names)) != len(names):
            raise DataError(f'BagTopics names must differ, got depth={self.depth!r}, '
                            f'camera_info={self.camera_info!r}, pose={self.pose!r}')


class SkipReason(str, Enum):
    """Why a depth image did not become a frame."""

    NO_POSE = 'no_pose_within_slop'
    NO_CAMERA_INFO = 'no_camera_info'
    CAMERA_INFO_MISMATCH = 'camera_info_size_mismatch'


class BagReadReport(NamedTuple):
    """What :func:`read_sequence_bag` found.

    Attributes:
        depth_messages: depth images in the bag.
        pose_messages: poses in the bag.
        camera_info_messages: camera infos in the bag (``invalid_camera_info`` of them unusable).
        invalid_camera_info: camera infos with invalid intrinsics (for example an all-zero K).
        frames: frames produced.
        skipped: depth images skipped, per reason (every reason present, possibly 0).
    """

    depth_messages: int
    pose_messages: int
    camera_info_messages: int
    invalid_camera_info: int
    frames: int
    skipped: dict[SkipReason, int]

    @property
    def total_skipped(self) -> int:
        """Depth images that did not become frames."""
        return sum(self.skipped.values())


class BagReadResult(NamedTuple):
    """The sequence read from a bag and the report of how it was assembled."""

    sequence: Sequence
    report: BagReadReport


class BagTopicInfo(NamedTuple):
    """One topic of a bag.

    Attributes:
        name: topic name.
        msgtype: message type, e.g. ``sensor_msgs/msg/Image`` (None when connections disagree).
        message_count: messages on the topic.
        offered_qos: the recorded offered QoS profiles (``rosbags.interfaces.Qos``), maybe empty.
    """

    name: str
    msgtype: str | None
    message_count: int
    offered_qos: tuple[Any, ...]


class BagInfo(NamedTuple):
    """Summary of a bag, as ``scenemem bag info`` prints it.

    Attributes:
        path: the bag directory or file.
        storage: ``'sqlite3'`` or ``'mcap'``.
        ros_distro: the distro recorded in the metadata, if any.
        message_count: messages in the bag.
        start_ns, end_ns: bag time of the first and last message (ns; 0 when empty).
        topics: the topics, sorted by name.
    """

    path: Path
    storage: str
    ros_distro: str | None
    message_count: int
    start_ns: int
    end_ns: int
    topics: tuple[BagTopicInfo, ...]

    @property
    def duration(self) -> float:
        """Seconds between the first and the last message."""
        return (self.end_ns - self.start_ns) * 1e-9

    def format(self) -> str:
        """A human-readable multi-line summary."""
        lines = [f'bag:      {self.path}', f'storage:  {self.storage}',
                 f'duration: {self.duration:.3f} s', f'start:    {self.start_ns * 1e-9:.9f}',
                 f'messages: {self.message_count}', 'topics:']
        width = max((len(t.name) for t in self.topics), default=0)
        lines += [f'  {t.name:<{width}}  {t.msgtype}  {t.message_count} msgs' for t in self.topics]
        return '\n'.join(lines)


class RawMessage(NamedTuple):
    """One serialized message of a bag: topic, type, bag time (ns) and CDR bytes."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


# --------------------------------------------------------------------------------------------
# stamps and poses


def stamp_to_ns(stamp: float) -> int:
    """Seconds (float) -> integer nanoseconds, rounded."""
    if not np.isfinite(stamp):
        raise DataError(f'stamp must be finite, got {stamp!r}')
    return int(round(float(stamp) * 1e9))


def ns_to_sec_nanosec(ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec) as in ``builtin_interfaces/msg/Time``."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return sec, nanosec


def sec_nanosec_to_stamp(sec: int, nanosec: int) -> float:
    """``builtin_interfaces/msg/Time`` fields -> seconds (float)."""
    return float(sec) + float(nanosec) * 1e-9


def pose_to_matrix(position: Iterable[float], quaternion_xyzw: Iterable[float]) -> np.ndarray:
    """(3,) position, (4,) quaternion x, y, z, w -> (4, 4) float64 rigid transform.

    The quaternion is normalized; a zero or non-finite one raises :class:`DataError`.
    """
    t = np.asarray(list(position), dtype=np.float64)
    q = np.asarray(list(quaternion_xyzw), dtype=np.float64)
    if t.shape != (3,) or q.shape != (4,):
        raise DataError(f'pose needs 3 position and 4 quaternion values, got {t.size} and '
                        f'{q.size}')
    norm = float(np.linalg.norm(q))
    if not np.isfinite(t).all() or not np.isfinite(norm) or norm < 1e-9:
        raise DataError(f'invalid pose: position {t.tolist()}, quaternion {q.tolist()}')
    x, y, z, w = q / norm
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    matrix[:3, 3] = t
    return matrix


def matrix_to_pose(matrix: np.ndarray, tolerance: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) rigid transform -> ((3,) position, (4,) unit quaternion x, y, z, w with w >= 0).

    Raises:
        DataError: the matrix is not 4x4, not finite, or its rotation block is not a rotation
            within ``tolerance``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise DataError(f'pose must be a finite 4x4 matrix, got shape {m.shape}')
    r = m[:3, :3]
    if (np.abs(r.T @ r - np.eye(3)).max() > tolerance
            or abs(np.linalg.det(r) - 1.0) > tolerance):
        raise DataError('pose rotation block is not a rotation matrix')
    trace = np.trace(r)
    # Shepperd's method: divide by the largest of the four candidate denominators.
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4, (r[1, 0] - r[0, 1]) / s]
    quat = np.asarray(q, dtype=np.float64)
    quat /= np.linalg.norm(quat)
    if quat[3] < 0:
        quat = -quat
    return m[:3, 3].copy(), quat


def nearest_within(sorted_stamps: np.ndarray | list[float], stamp: float,
                   slop: float) -> int | None:
    """Index of the value in (N,) ascending ``sorted_stamps`` nearest to ``stamp``.

    Binary search; returns None when the nearest one is farther than ``slop`` (or N == 0). Ties
    go to the earlier stamp.
    """
    n = len(sorted_stamps)
    if n == 0:
        return None
    i = bisect.bisect_left(sorted_stamps, stamp)
    best = None
    best_dt = np.inf
    for j in (i - 1, i):
        if 0 <= j < n:
            dt = abs(sorted_stamps[j] - stamp)
            if dt < best_dt:
                best, best_dt = j, dt
    return best if best_dt <= slop else None


# --------------------------------------------------------------------------------------------
# writing


def _header(types: Any, ns: int, frame_id: str) -> Any:
    sec, nanosec = ns_to_sec_nanosec(ns)
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec), frame_id=frame_id)


def _camera_info(types: Any, camera: PinholeCamera, header: Any) -> Any:
    k = camera.matrix.reshape(-1)
    p = np.zeros((3, 4))
    p[:, :3] = camera.matrix
    return types[CAMERA_INFO_TYPE](
        header=header, height=camera.height, width=camera.width, distortion_model='plumb_bob',
        d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=p.reshape(-1), binning_x=0, binning_y=0,
        roi=types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                      do_rectify=False))


def _pose(types: Any, matrix: np.ndarray, header: Any) -> Any:
    position, quat = matrix_to_pose(matrix)
    return types[POSE_TYPE](
        header=header,
        pose=types['geometry_msgs/msg/Pose'](
            position=types['geometry_msgs/msg/Point'](x=position[0], y=position[1],
                                                      z=position[2]),
            orientation=types['geometry_msgs/msg/Quaternion'](x=quat[0], y=quat[1], z=quat[2],
                                                              w=quat[3])))


def write_sequence_bag(sequence: Sequence, path: str | os.PathLike[str], *,
                       depth_encoding: str = ENCODING_32FC1, topics: BagTopics = BagTopics(),
                       storage: str = 'sqlite3', overwrite: bool = False) -> Path:
    """Write a sequence of depth frames as a rosbag2 bag directory; returns its path.

    Every frame gives a pose, a camera info and a depth image, all stamped (header and bag time)
    with ``frame.stamp``. The bag is written into a temporary sibling directory and renamed into
    place at the end, so ``path`` never holds a half-written bag.

    Args:
        sequence: frames with depth (point-only frames are refused), stamps >= 0.
        path: the bag directory to create.
        depth_encoding: ``'32FC1'`` (float metres, exact) or ``'16UC1'`` (millimetres, rounded;
            beyond 65.535 m becomes invalid).
        topics: topic names.
        storage: ``'sqlite3'`` (readable by every distro) or ``'mcap'``.
        overwrite: replace an existing ``path`` instead of refusing.

    Raises:
        DataError: bad arguments or frames, an existing path, or a failure while writing.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    target = Path(path)
    if depth_encoding not in ENCODABLE_ENCODINGS:
        raise DataError(f'depth_encoding must be one of {list(ENCODABLE_ENCODINGS)}, got '
                        f'{depth_encoding!r}')
    if storage not in STORAGES:
        raise DataError(f'storage must be one of {list(STORAGES)}, got {storage!r}')
    if not isinstance(topics, BagTopics):
        raise DataError(f'topics must be a BagTopics, got {type(topics).__name__}')
    if len(sequence) == 0:
        raise DataError(f'{target}: sequence {sequence.name!r} has no frames to write')
    for index, frame in enumerate(sequence):
        if frame.depth is None:
            raise DataError(f'{target}: frame {index} has no depth image (point-only frames '
                            'cannot be written to a depth bag)')
        if frame.stamp < 0:
            raise DataError(f'{target}: frame {index} has a negative stamp {frame.stamp}')
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise DataError(f'{target} exists already; pass overwrite=True to replace it')

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f'.{target.name}.', suffix='.partial',
                                        dir=target.parent))
    except OSError as exc:
        raise DataError(f'{target}: cannot create the bag: {exc}') from exc
    try:
        staged = staging / target.name
        typestore = _typestore()
        types = typestore.types
        plugin = StoragePlugin.SQLITE3 if storage == 'sqlite3' else StoragePlugin.MCAP
        try:
            with Writer(staged, version=BAG_VERSION, storage_plugin=plugin) as writer:
                pose_conn = writer.add_connection(topics.pose, POSE_TYPE, typestore=typestore,
                                                  offered_qos_profiles=[POSE_QOS])
                info_conn = writer.add_connection(topics.camera_info, CAMERA_INFO_TYPE,
                                                  typestore=typestore,
                                                  offered_qos_profiles=[DEPTH_QOS])
                depth_conn = writer.add_connection(topics.depth, IMAGE_TYPE, typestore=typestore,
                                                   offered_qos_profiles=[DEPTH_QOS])
                for frame in sequence:
                    ns = stamp_to_ns(frame.stamp)
                    cam = frame.camera
                    pose = _pose(types, frame.camera_to_world,
                                 _header(types, ns, sequence.world_frame))
                    writer.write(pose_conn, ns, typestore.serialize_cdr(pose, POSE_TYPE))
                    header = _header(types, ns, frame.frame_id)
                    info = _camera_info(types, cam, header)
                    writer.write(info_conn, ns, typestore.serialize_cdr(info, CAMERA_INFO_TYPE))
                    assert frame.depth is not None  # checked above
                    data, step = encode_depth(frame.depth, depth_encoding)
                    image = types[IMAGE_TYPE](header=header, height=cam.height, width=cam.width,
                                              encoding=depth_encoding, is_bigendian=0, step=step,
                                              data=data)
                    writer.write(depth_conn, ns, typestore.serialize_cdr(image, IMAGE_TYPE))
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f'{target}: writing the bag failed: {type(exc).__name__}: '
                            f'{exc}') from exc
        _move_into_place(staged, target, staging, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _move_into_place(staged: Path, target: Path, staging: Path, overwrite: bool) -> None:
    previous = staging / 'previous'
    moved_previous = False
    try:
        if target.exists() or target.is_symlink():
            if not overwrite:
                raise DataError(f'{target} appeared while writing; not overwriting it')
            os.replace(target, previous)
            moved_previous = True
        os.rename(staged, target)
    except OSError as exc:
        if moved_previous and not target.exists():
            os.replace(previous, target)
        raise DataError(f'{target}: cannot move the finished bag into place: {exc}') from exc


# --------------------------------------------------------------------------------------------
# reading


@contextmanager
def open_bag(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Open a rosbag2 bag (directory, ``.db3`` or ``.mcap``) as an open ``AnyReader``.

    Any failure to open or read it, inside the ``with`` block too, becomes a :class:`DataError`
    naming the bag.
    """
    from rosbags.highlevel import AnyReader

    bag = Path(path)
    if not bag.exists():
        raise DataError(f'{bag}: no such bag (path does not exist)')
    if bag.is_dir() and not (bag / 'metadata.yaml').is_file():
        raise DataError(f'{bag}: not a rosbag2 bag (no metadata.yaml in the directory)')
    if bag.is_file() and bag.suffix not in ('.db3', '.mcap'):
        raise DataError(f'{bag}: not a rosbag2 bag (expected a bag directory, .db3 or .mcap)')
    if bag.is_dir() and bag.suffix == '.bag':
        raise DataError(f'{bag}: a rosbag2 directory must not end in .bag (read as ROS 1)')
    try:
        reader = AnyReader([bag], default_typestore=_typestore())
        reader.open()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f'{bag}: cannot open bag: {type(exc).__name__}: {exc}') from exc
    try:
        yield reader
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f'{bag}: cannot read bag: {type(exc).__name__}: {exc}') from exc
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001 - closing a broken bag must not mask the real error
            pass


def _storage_of(bag: Path) -> str:
    candidates = [bag] if bag.is_file() else sorted(bag.iterdir())
    suffixes = {p.suffix for p in candidates}
    if '.mcap' in suffixes:
        return 'mcap'
    if '.db3' in suffixes or any(p.name.endswith('.db3.zstd') for p in candidates):
        return 'sqlite3'
    return 'unknown'


def bag_info(path: str | os.PathLike[str]) -> BagInfo:
    """Topics, types, message counts, time span and storage of a bag.

    Raises:
        DataError: the path is missing or not a readable bag.
    """
    bag = Path(path)
    with open_bag(bag) as reader:
        topics = []
        for name, info in sorted(reader.topics.items()):
            qos: list[Any] = []
            for conn in info.connections:
                qos.extend(getattr(conn.ext, 'offered_qos_profiles', None) or [])
            topics.append(BagTopicInfo(name, info.msgtype, info.msgcount, tuple(qos)))
        count = reader.message_count
        start = reader.start_time if count else 0
        end = reader.end_time - 1 if count else 0
        distro = getattr(reader.readers[0], 'ros_distro', None)
        return BagInfo(path=bag, storage=_storage_of(bag), ros_distro=distro, message_count=count,
                       start_ns=start, end_ns=end, topics=tuple(topics))


def iter_raw_messages(path: str | os.PathLike[str],
                      topics: Iterable[str] | None = None) -> Iterator[RawMessage]:
    """Serialized messages of a bag in bag-time order, optionally only of ``topics``.

    Raises:
        DataError: the bag cannot be read, or a requested topic is not in it.
    """
    with open_bag(path) as reader:
        connections = list(reader.connections)
        if topics is not None:
            wanted = set(topics)
            present = {c.topic for c in connections}
            if missing := sorted(wanted - present):
                raise DataError(f'{path}: topic(s) {missing} not in the bag (it has '
                                f'{sorted(present)})')
            connections = [c for c in connections if c.topic in wanted]
        if not connections:
            return
        for conn, timestamp, data in reader.messages(connections=connections):
            yield RawMessage(conn.topic, conn.msgtype, timestamp, bytes(data))


def _connections(reader: Any, bag: Path, topic: str, msgtype: str, role: str) -> list[Any]:
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        have = sorted({c.topic for c in reader.connections})
        raise DataError(f'{bag}: required {role} topic {topic!r} is not in the bag (topics: '
                        f'{have})')
    wrong = sorted({c.msgtype for c in conns if c.msgtype != msgtype})
    if wrong:
        raise DataError(f'{bag}: topic {topic!r} has type {wrong[0]}, expected {msgtype}')
    return conns


def _camera_info_index(sorted_stamps: list[float], stamp: float, slop: float) -> int | None:
    """The latest camera info at or before ``stamp``, else the first within ``slop`` after."""
    index = bisect.bisect_right(sorted_stamps, stamp) - 1
    if index >= 0:
        return index
    if sorted_stamps and sorted_stamps[0] - stamp <= slop:
        return 0
    return None


def _stamp(msg: Any) -> float:
    return sec_nanosec_to_stamp(msg.header.stamp.sec, msg.header.stamp.nanosec)


def read_sequence_bag(path: str | os.PathLike[str], topics: BagTopics = BagTopics(),
                      slop: float = 0.02, *, name: str | None = None) -> BagReadResult:
    """Read a bag of depth images, camera infos and poses back into a ``Sequence``.

    Each depth image (``32FC1``/``16UC1``/``mono16``, any ``step`` and byte order) becomes a
    frame with the pose nearest in ``header.stamp`` within ``slop`` seconds and the latest valid
    camera info stamped at or before it (or, for images before the first camera info, one
    stamped at most ``slop`` after). Images with no such pose or camera info, or
    whose camera info has another size, are skipped and counted in the report. Frames come out
    sorted by stamp; the sequence's world frame is the poses' ``header.frame_id``.

    Args:
        path: bag directory, ``.db3`` or ``.mcap`` file (sqlite3 or mcap storage).
        topics: topic names.
        slop: maximum |depth stamp - pose stamp| in seconds (>= 0).
        name: the sequence name; defaults to the bag's file name.

    Raises:
        DataError: unreadable bag, a missing topic or one of the wrong type, an undecodable
            depth image, poses in several frames, or a bad ``slop``.
    """
    if not np.isfinite(slop) or slop < 0:
        raise DataError(f'slop must be a finite number >= 0, got {slop!r}')
    if not isinstance(topics, BagTopics):
        raise DataError(f'topics must be a BagTopics, got {type(topics).__name__}')
    bag = Path(path)
    with open_bag(bag) as reader:
        depth_conns = _connections(reader, bag, topics.depth, IMAGE_TYPE, 'depth')
        info_conns = _connections(reader, bag, topics.camera_info, CAMERA_INFO_TYPE,
                                  'camera_info')
        pose_conns = _connections(reader, bag, topics.pose, POSE_TYPE, 'pose')

        # Pass 1: the small messages (poses, camera infos), sorted by header stamp.
        poses: list[tuple[float, np.ndarray]] = []
        infos: list[tuple[float, PinholeCamera]] = []
        world_frames: set[str] = set()
        info_count = invalid_info = 0
        for conn, _, raw in reader.messages(connections=pose_conns + info_conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == topics.pose:
                p, q = msg.pose.position, msg.pose.orientation
                try:
                    matrix = pose_to_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
                except DataError as exc:
                    raise DataError(f'{bag}: topic {topics.pose!r} at {_stamp(msg):.9f}: '
                                    f'{exc}') from None
                poses.append((_stamp(msg), matrix))
                world_frames.add(msg.header.frame_id)
            else:
                info_count += 1
                try:
                    cam = PinholeCamera.from_camera_info(msg.k, int(msg.width), int(msg.height))
                except ValueError:
                    invalid_info += 1
                    continue
                infos.append((_stamp(msg), cam))
        if len(world_frames) > 1:
            raise DataError(f'{bag}: topic {topics.pose!r} mixes frames {sorted(world_frames)}')
        poses.sort(key=lambda item: item[0])
        infos.sort(key=lambda item: item[0])
        pose_stamps = [s for s, _ in poses]
        info_stamps = [s for s, _ in infos]

        # Pass 2: decode and pair each depth image.
        skipped = dict.fromkeys(SkipReason, 0)
        frames: list[Frame] = []
        depth_count = 0
        for conn, _, raw in reader.messages(connections=depth_conns):
            depth_count += 1
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = _stamp(msg)
            pose_index = nearest_within(pose_stamps, stamp, slop)
            if pose_index is None:
                skipped[SkipReason.NO_POSE] += 1
                continue
            info_index = _camera_info_index(info_stamps, stamp, slop)
            if info_index is None:
                skipped[SkipReason.NO_CAMERA_INFO] += 1
                continue
            cam = infos[info_index][1]
            if (cam.width, cam.height) != (int(msg.width), int(msg.height)):
                skipped[SkipReason.CAMERA_INFO_MISMATCH] += 1
                continue
            try:
                depth = decode_depth(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                                     msg.is_bigendian)
            except DataError as exc:
                raise DataError(f'{bag}: topic {topics.depth!r} image at {stamp:.9f}: '
                                f'{exc}') from None
            frames.append(Frame(stamp=stamp, camera=cam, camera_to_world=poses[pose_index][1],
                                depth=depth, frame_id=msg.header.frame_id))
    frames.sort(key=lambda f: f.stamp)
    world_frame = world_frames.pop() if world_frames else DEFAULT_WORLD_FRAME
    default_name = bag.stem if bag.is_file() else bag.name
    sequence = Sequence(frames=frames, name=name if name is not None else default_name,
                        world_frame=world_frame)
    report = BagReadReport(depth_messages=depth_count, pose_messages=len(poses),
                           camera_info_messages=info_count, invalid_camera_info=invalid_info,
                           frames=len(frames), skipped=skipped)
    return BagReadResult(sequence, report)
