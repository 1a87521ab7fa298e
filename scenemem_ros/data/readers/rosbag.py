"""rosbag2 recordings reader: (H, W) float32 metre depth frames with camera-to-world poses from a
``PoseStamped`` topic or from ``/tf`` + ``/tf_static``, parsed with ``rosbags`` (no ROS, no tf2).

Layout: a rosbag2 bag (a directory with ``metadata.yaml``, or a single ``.db3`` / ``.mcap``
file); sqlite3 and mcap storage are both read through ``rosbags.highlevel.AnyReader``.

Topics (names configurable in :class:`RosbagOptions`):

* depth: ``sensor_msgs/msg/Image`` with encoding ``32FC1`` (metres; NaN, Inf, <= 0 invalid),
  ``16UC1`` or ``mono16`` (millimetres; 0 invalid), any ``step`` and byte order (REP 118).
* camera info: ``sensor_msgs/msg/CameraInfo``; each image takes the latest one stamped at or
  before it (or the first one within ``slop`` after). Distortion is ignored (rectified depth).
* pose, one of:

  - ``pose_source='pose'``: ``geometry_msgs/msg/PoseStamped``, the pose of the depth image's
    (optical) frame in ``header.frame_id``; each image takes the pose nearest in stamp within
    ``slop`` seconds (as :func:`scenemem_ros.data.bag.read_sequence_bag`).
  - ``pose_source='tf'``: ``tf2_msgs/msg/TFMessage`` on ``/tf`` (time-varying) and
    ``/tf_static`` (latched, time-less). The pose of the image's ``header.frame_id`` (or
    ``camera_frame``) in ``world_frame`` (the fixed frame: ``map``, ``odom``, ...) is composed
    along the transform tree, through the frames' lowest common ancestor as tf2 does. Each
    dynamic edge is interpolated at the image stamp (linear translation, quaternion slerp)
    between its two neighbouring samples; before the first or after the last sample the
    nearest one is used if it lies within ``slop`` seconds, else the image is skipped
    (tf2 would refuse to extrapolate at all).
  - ``pose_source='auto'`` (default): the pose topic when the bag has it, else ``/tf``.

Conventions: ``TransformStamped`` with ``header.frame_id`` = parent and ``child_frame_id`` =
child is ``parent_from_child`` (REP 105 / tf2); quaternions are x, y, z, w. A frame with two
different parents, a frame the tree does not hold, or two frames the tree does not connect raise
:class:`~scenemem_ros.data.errors.DataError` naming the frames; a missing topic raises one
naming the topic and listing the bag's topics. Images without a pose or camera info are
skipped and counted in ``skipped`` (per :class:`~scenemem_ros.data.bag.SkipReason`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenemem_ros.data.bag import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    POSE_TYPE,
    SkipReason,
    nearest_within,
    open_bag,
    pose_to_matrix,
    sec_nanosec_to_stamp,
)
from scenemem_ros.data.depth_codec import decode_depth
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_POSE_TOPIC,
    Frame,
    Sequence,
)
from scenemem_ros.data.readers._common import SubsampleOptions, check_positive, make_options
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import invert_rigid

TF_TYPE = 'tf2_msgs/msg/TFMessage'
POSE_SOURCES = ('auto', 'pose', 'tf')


@dataclass(frozen=True)
class RosbagOptions(SubsampleOptions):
    """Options of :class:`RosbagReader` (plus start / stride / max_frames / world_frame).

    ``world_frame`` is also the fixed frame the tf chain starts at when poses come from tf.

    Attributes:
        depth_topic: ``sensor_msgs/msg/Image`` depth images.
        camera_info_topic: ``sensor_msgs/msg/CameraInfo`` of the depth images.
        pose_topic: ``geometry_msgs/msg/PoseStamped`` poses of the depth frame.
        pose_source: 'auto' (pose topic if present, else tf), 'pose' or 'tf'.
        tf_topic: ``tf2_msgs/msg/TFMessage`` time-varying transforms.
        tf_static_topic: ``tf2_msgs/msg/TFMessage`` static transforms (may be absent).
        camera_frame: frame whose pose is looked up in tf; None uses each image's
            ``header.frame_id``.
        slop: seconds a pose (or an end-of-range tf sample) may lie from an image stamp (> 0).
    """

    depth_topic: str = DEFAULT_DEPTH_TOPIC
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC
    pose_topic: str = DEFAULT_POSE_TOPIC
    pose_source: str = 'auto'
    tf_topic: str = '/tf'
    tf_static_topic: str = '/tf_static'
    camera_frame: str | None = None
    slop: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.pose_source not in POSE_SOURCES:
            raise DataError(f'{name}.pose_source must be one of {list(POSE_SOURCES)}, got '
                            f'{self.pose_source!r}')
        for field_name in ('depth_topic', 'camera_info_topic', 'pose_topic', 'tf_topic',
                           'tf_static_topic'):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value.startswith('/') or len(value) < 2:
                raise DataError(f'{name}.{field_name} must be an absolute topic name, got '
                                f'{value!r}')
        if self.camera_frame is not None and not self.camera_frame.strip('/'):
            raise DataError(f'{name}.camera_frame must be a frame name or None, got '
                            f'{self.camera_frame!r}')
        check_positive(self, slop=self.slop)


def _frame_name(name: str) -> str:
    """tf2 ignores one leading slash ('/map' == 'map')."""
    return name[1:] if name.startswith('/') else name


def _slerp(q0: np.ndarray, q1: np.ndarray, weight: float) -> np.ndarray:
    """(4,) unit quaternions x, y, z, w, weight in [0, 1] -> (4,) the shorter-arc slerp."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + weight * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(min(dot, 1.0))
    return (np.sin((1 - weight) * theta) * q0 + np.sin(weight * theta) * q1) / np.sin(theta)


class _Edge:
    """Samples of one ``parent_from_child`` transform: static (one, time-less) or dynamic."""

    def __init__(self, parent: str, static: bool) -> None:
        self.parent = parent
        self.static = static
        self.stamps: list[float] = []
        self.translations: list[np.ndarray] = []
        self.rotations: list[np.ndarray] = []

    def add(self, stamp: float, translation: np.ndarray, rotation: np.ndarray) -> None:
        norm = float(np.linalg.norm(rotation))
        if not np.isfinite(translation).all() or not np.isfinite(norm) or norm < 1e-9:
            raise DataError(f'invalid transform to {self.parent!r} at {stamp:.9f}')
        self.stamps.append(stamp)
        self.translations.append(translation)
        self.rotations.append(rotation / norm)

    def finish(self) -> None:
        order = np.argsort(self.stamps, kind='stable')
        self.stamps = [self.stamps[i] for i in order]
        self.translations = [self.translations[i] for i in order]
        self.rotations = [self.rotations[i] for i in order]

    def at(self, stamp: float, slop: float) -> np.ndarray | None:
        """(4, 4) ``parent_from_child`` at ``stamp``; None when not covered within ``slop``."""
        if self.static:
            return pose_to_matrix(self.translations[-1], self.rotations[-1])
        stamps = self.stamps
        right = bisect.bisect_left(stamps, stamp)
        if right < len(stamps) and stamps[right] == stamp:
            return pose_to_matrix(self.translations[right], self.rotations[right])
        if 0 < right < len(stamps):
            left = right - 1
            weight = (stamp - stamps[left]) / (stamps[right] - stamps[left])
            translation = ((1 - weight) * self.translations[left]
                           + weight * self.translations[right])
            rotation = _slerp(self.rotations[left], self.rotations[right], weight)
            return pose_to_matrix(translation, rotation)
        nearest = nearest_within(stamps, stamp, slop)
        if nearest is None:
            return None
        return pose_to_matrix(self.translations[nearest], self.rotations[nearest])


class TransformTree:
    """The transforms of ``/tf`` and ``/tf_static`` of a bag, queried like a tf2 buffer."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.edges: dict[str, _Edge] = {}  # child -> edge to its parent

    def add(self, msg: Any, static: bool, topic: str) -> None:
        """Add every ``TransformStamped`` of one ``TFMessage``."""
        for transform in msg.transforms:
            parent = _frame_name(transform.header.frame_id)
            child = _frame_name(transform.child_frame_id)
            stamp = sec_nanosec_to_stamp(transform.header.stamp.sec,
                                         transform.header.stamp.nanosec)
            if not parent or not child or parent == child:
                raise DataError(f'{self.source}: topic {topic!r} has a transform with bad '
                                f'frames {parent!r} -> {child!r}')
            edge = self.edges.get(child)
            if edge is None:
                edge = self.edges[child] = _Edge(parent, static)
            elif edge.parent != parent:
                raise DataError(f'{self.source}: frame {child!r} has two parents, '
                                f'{edge.parent!r} and {parent!r} (topic {topic!r})')
            elif edge.static != static:
                raise DataError(f'{self.source}: transform {parent!r} -> {child!r} is on both '
                                '/tf and /tf_static')
            t, q = transform.transform.translation, transform.transform.rotation
            edge.add(stamp, np.array([t.x, t.y, t.z]), np.array([q.x, q.y, q.z, q.w]))

    def finish(self) -> None:
        for edge in self.edges.values():
            edge.finish()

    @property
    def frames(self) -> set[str]:
        """Every frame named by a transform."""
        return set(self.edges) | {edge.parent for edge in self.edges.values()}

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self.edges:
            chain.append(self.edges[chain[-1]].parent)
            if len(chain) > len(self.edges) + 1:
                raise DataError(f'{self.source}: the transform tree has a cycle through '
                                f'{frame!r}')
        return chain

    def check_connected(self, target: str, source: str) -> None:
        """Raise DataError unless both frames are in the tree and connected."""
        known = self.frames
        for frame in (target, source):
            if frame not in known:
                raise DataError(f'{self.source}: frame {frame!r} is not in the tf tree (frames: '
                                f'{sorted(known)})')
        if self._chain(target)[-1] != self._chain(source)[-1]:
            raise DataError(f'{self.source}: frames {target!r} and {source!r} are not connected '
                            f'in the tf tree (roots {self._chain(target)[-1]!r} and '
                            f'{self._chain(source)[-1]!r})')

    def _root_from(self, chain: list[str], stop: str, stamp: float, slop: float
                   ) -> np.ndarray | None:
        """``stop_from_chain[0]`` by walking ``chain`` up to ``stop``."""
        matrix = np.eye(4)
        for frame in chain:
            if frame == stop:
                return matrix
            transform = self.edges[frame].at(stamp, slop)
            if transform is None:
                return None
            matrix = transform @ matrix
        return matrix

    def lookup(self, target: str, source: str, stamp: float, slop: float) -> np.ndarray | None:
        """(4, 4) ``target_from_source`` at ``stamp``; None when a dynamic transform on the
        path has no sample near enough (see :meth:`_Edge.at`).

        Raises:
            DataError: a frame is unknown or the two are not connected.
        """
        target, source = _frame_name(target), _frame_name(source)
        self.check_connected(target, source)
        source_chain, target_chain = self._chain(source), self._chain(target)
        ancestor = next(frame for frame in source_chain if frame in set(target_chain))
        ancestor_from_source = self._root_from(source_chain, ancestor, stamp, slop)
        ancestor_from_target = self._root_from(target_chain, ancestor, stamp, slop)
        if ancestor_from_source is None or ancestor_from_target is None:
            return None
        return invert_rigid(ancestor_from_target) @ ancestor_from_source


class _DepthEntry:
    __slots__ = ('stamp', 'frame_id', 'camera', 'pose')

    def __init__(self, stamp: float, frame_id: str, camera: PinholeCamera,
                 pose: np.ndarray) -> None:
        self.stamp, self.frame_id, self.camera, self.pose = stamp, frame_id, camera, pose


def _connections(reader: Any, bag: Path, topic: str, msgtype: str, role: str) -> list[Any]:
    connections = [c for c in reader.connections if c.topic == topic]
    if not connections:
        topics = sorted({c.topic for c in reader.connections})
        raise DataError(f'{bag}: {role} topic {topic!r} is not in the bag (topics: {topics})')
    wrong = sorted({c.msgtype for c in connections if c.msgtype != msgtype})
    if wrong:
        raise DataError(f'{bag}: topic {topic!r} has type {wrong[0]}, expected {msgtype}')
    return connections


def _stamp(msg: Any) -> float:
    return sec_nanosec_to_stamp(msg.header.stamp.sec, msg.header.stamp.nanosec)


class RosbagReader:
    """Depth frames of a user's rosbag2 recording (see the module docstring).

    Construction reads everything but the image pixels (poses, transforms, camera infos, image
    headers) and decides which images become frames; iterating streams and decodes them.

    Attributes:
        pose_source: 'pose' or 'tf', the source actually used.
        skipped: images that did not become frames, per :class:`SkipReason`.
        tree: the :class:`TransformTree` (pose_source 'tf'), else None.
    """

    Options = RosbagOptions

    def __init__(self, path: str | Path, options: RosbagOptions | None = None, **overrides):
        self.path = Path(path)
        self.options = make_options(RosbagOptions, options, overrides)
        self.name = self.path.stem if self.path.is_file() else self.path.name
        self.world_frame = self.options.world_frame
        self.tree: TransformTree | None = None
        self.skipped = dict.fromkeys(SkipReason, 0)
        self._entries: list[tuple[int, _DepthEntry]] = []  # (depth message index, entry)
        with open_bag(self.path) as reader:
            self._scan(reader)
        self._selected = self.options.select(len(self._entries))

    def _scan(self, reader: Any) -> None:
        options, bag = self.options, self.path
        topics = {c.topic for c in reader.connections}
        source = options.pose_source
        if source == 'auto':
            if options.pose_topic in topics:
                source = 'pose'
            elif options.tf_topic in topics:
                source = 'tf'
            else:
                raise DataError(f'{bag}: neither pose topic {options.pose_topic!r} nor tf topic '
                                f'{options.tf_topic!r} is in the bag (topics: {sorted(topics)})')
        self.pose_source = source
        depth_conns = _connections(reader, bag, options.depth_topic, IMAGE_TYPE, 'depth')
        info_conns = _connections(reader, bag, options.camera_info_topic, CAMERA_INFO_TYPE,
                                  'camera_info')
        if source == 'pose':
            pose_conns = _connections(reader, bag, options.pose_topic, POSE_TYPE, 'pose')
        else:
            pose_conns = _connections(reader, bag, options.tf_topic, TF_TYPE, 'tf')
            if options.tf_static_topic in topics:
                pose_conns += _connections(reader, bag, options.tf_static_topic, TF_TYPE,
                                           'tf_static')
            self.tree = TransformTree(str(bag))

        poses: list[tuple[float, np.ndarray]] = []
        infos: list[tuple[float, PinholeCamera | None]] = []
        pose_frames: set[str] = set()
        for conn, _, raw in reader.messages(connections=pose_conns + info_conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == options.camera_info_topic:
                try:
                    camera = PinholeCamera.from_camera_info(msg.k, int(msg.width),
                                                            int(msg.height))
                except ValueError:
                    camera = None
                infos.append((_stamp(msg), camera))
            elif self.tree is not None:
                self.tree.add(msg, conn.topic == options.tf_static_topic, conn.topic)
            else:
                p, q = msg.pose.position, msg.pose.orientation
                try:
                    matrix = pose_to_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
                except DataError as exc:
                    raise DataError(f'{bag}: topic {options.pose_topic!r} at {_stamp(msg):.9f}: '
                                    f'{exc}') from None
                poses.append((_stamp(msg), matrix))
                pose_frames.add(_frame_name(msg.header.frame_id))
        if len(pose_frames) > 1:
            raise DataError(f'{bag}: topic {options.pose_topic!r} mixes frames '
                            f'{sorted(pose_frames)}')
        if pose_frames:
            self.world_frame = pose_frames.pop()
        if self.tree is not None:
            self.tree.finish()
        poses.sort(key=lambda item: item[0])
        infos = [item for item in sorted(infos, key=lambda item: item[0]) if item[1] is not None]
        pose_stamps = [stamp for stamp, _ in poses]
        info_stamps = [stamp for stamp, _ in infos]

        self.depth_messages = 0
        for index, (conn, _, raw) in enumerate(reader.messages(connections=depth_conns)):
            self.depth_messages += 1
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = _stamp(msg)
            frame_id = options.camera_frame or msg.header.frame_id
            info_index = bisect.bisect_right(info_stamps, stamp) - 1
            if info_index < 0 and info_stamps and info_stamps[0] - stamp <= options.slop:
                info_index = 0
            if info_index < 0:
                self.skipped[SkipReason.NO_CAMERA_INFO] += 1
                continue
            camera = infos[info_index][1]
            assert camera is not None
            if (camera.width, camera.height) != (int(msg.width), int(msg.height)):
                self.skipped[SkipReason.CAMERA_INFO_MISMATCH] += 1
                continue
            if self.tree is not None:
                if not frame_id:
                    raise DataError(f'{bag}: depth image at {stamp:.9f} on '
                                    f'{options.depth_topic!r} has an empty header.frame_id; set '
                                    'camera_frame')
                pose = self.tree.lookup(self.world_frame, frame_id, stamp, options.slop)
            else:
                nearest = nearest_within(pose_stamps, stamp, options.slop)
                pose = None if nearest is None else poses[nearest][1]
            if pose is None:
                self.skipped[SkipReason.NO_POSE] += 1
                continue
            self._entries.append((index, _DepthEntry(stamp, _frame_name(frame_id), camera,
                                                     pose)))
        self._entries.sort(key=lambda item: item[1].stamp)

    def __len__(self) -> int:
        return len(self._selected)

    def __iter__(self) -> Iterator[Frame]:
        selected = [self._entries[i] for i in self._selected]  # by stamp
        in_bag_order = all(a[0] < b[0] for a, b in zip(selected, selected[1:], strict=False))
        wanted = dict(selected)
        buffered: list[Frame] = []
        with open_bag(self.path) as reader:
            depth_conns = [c for c in reader.connections if c.topic == self.options.depth_topic]
            for index, (conn, _, raw) in enumerate(reader.messages(connections=depth_conns)):
                entry = wanted.get(index)
                if entry is None:
                    continue
                frame = self._frame(reader.deserialize(raw, conn.msgtype), entry)
                if in_bag_order:
                    yield frame
                else:
                    buffered.append(frame)
        # Bag order is receive time; when it differs from header-stamp order, sort.
        yield from sorted(buffered, key=lambda frame: frame.stamp)

    def _frame(self, msg: Any, entry: _DepthEntry) -> Frame:
        try:
            depth = decode_depth(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                                 msg.is_bigendian)
        except DataError as exc:
            raise DataError(f'{self.path}: topic {self.options.depth_topic!r} image at '
                            f'{entry.stamp:.9f}: {exc}') from None
        return Frame(stamp=entry.stamp, camera=entry.camera, camera_to_world=entry.pose,
                     depth=depth, frame_id=entry.frame_id)

    def read(self) -> Sequence:
        """All selected frames as a Sequence."""
        return Sequence(frames=list(self), name=self.name, world_frame=self.world_frame)
