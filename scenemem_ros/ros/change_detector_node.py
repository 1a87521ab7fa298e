"""``change_detector``: depth + CameraInfo + camera pose in, override updates out.

Subscribes (relative names, remappable): ``/camera/depth/image_rect`` (sensor_msgs/Image,
32FC1 m or 16UC1 mm), ``/camera/depth/camera_info`` and ``/camera/pose``
(geometry_msgs/PoseStamped in the ``world_frame``, the optical frame's pose). Each depth image
gets the pose at its stamp, like a tf2 lookup: the pose with the same stamp, else one
interpolated between the poses before and after it when both are within ``pose_slop`` seconds,
never extrapolated (a depth image newer than every pose waits, up to 8 images deep, for a late
pose); and the latest CameraInfo. Each
pair goes through ``scenemem_ros.changes.ChangeDetector``; its updates are published as
MarkerArray on ``override_updates`` (the scene_memory node's input). Every refused input is logged
and counted; the counters go out as JSON on ``status`` once a second.

With ``slots_every`` > 0, every n-th accepted frame is also handed to the slot encoder
(``scenemem_ros.encoder.EncoderSession``, checkpoint ``encoder_model_path`` or the bundled one)
on its own callback group, latest frame only, so encoding never delays detection; the slots go
out as mesh markers on ``slots`` (RViz). With ``detector.move_shape_tolerance`` > 0 the detector
gets a second session of the same encoder (no identity tracking) and compares the slots' shapes
of a removal and an addition before it calls them one move (``scenemem_ros.changes.shapes``).
An encoder that cannot load disables slots and shapes (moves are then paired by their boxes),
not detection.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from scenemem_ros.changes import (
    BaseGeometry,
    ChangeDetector,
    ChangeDetectorConfig,
    OverrideUpdate,
    PoseBuffer,
    PoseBufferConfig,
    PoseLookup,
    UpdateAction,
)
from scenemem_ros.errors import SceneMemError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.memory.checkpoint import load_memory
from scenemem_ros.ros.conversions import (
    camera_info_to_camera,
    depth_msg_to_array,
    header_seconds,
    pose_msg_to_matrix,
)
from scenemem_ros.ros.override_msgs import NAMESPACE, marker_id, override_to_marker
from scenemem_ros.ros.params import declare_config, read_config, validating_callback
from scenemem_ros.ros.slot_msgs import slot_set_to_marker_array
from scenemem_ros.ros.spin import spin_node

RANGES = {'resolution': (0.02, 1.0), 'addition_width': (8, 4096),
          'removal_width': (8, 4096), 'max_range': (0.5, 50.0),
          'on_frames': (1, 100), 'max_score': (1, 1000), 'confirm_frames': (1, 100),
          'pose_jitter_deg': (0.0, 10.0), 'min_agreement': (0.0, 1.0), 'patch_frames': (1, 100)}
QOS_CHOICES = ('sensor_data', 'reliable')
POSE_BUFFER = 400


def depth_qos(name: str) -> QoSProfile:
    """'sensor_data' (best effort, the driver default) or 'reliable' (recorded bags)."""
    if name == 'sensor_data':
        return qos_profile_sensor_data
    if name == 'reliable':
        return QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    raise SceneMemError(f'depth_qos must be one of {QOS_CHOICES}, got {name!r}')


def update_to_marker(update: OverrideUpdate, frame_id: str, stamp: float) -> Marker:
    """A detector update as the marker scene_memory takes (ADD with JSON, or DELETE)."""
    if update.action is UpdateAction.PUT and update.override is not None:
        return override_to_marker(update.override, frame_id, stamp)
    marker = Marker()
    marker.header.frame_id = frame_id
    marker.ns = NAMESPACE
    marker.id = marker_id(update.override_id)
    marker.action = Marker.DELETE
    marker.text = json.dumps({'id': update.override_id})
    return marker


class ChangeDetectorNode(Node):
    """Thin adapter over ``ChangeDetector``; the model loads on the first timer tick."""

    def __init__(self, node_name: str = 'change_detector', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, 'detector', ChangeDetectorConfig(), RANGES)
        self.declare_parameter('model_path', '')
        self.declare_parameter('scene', '')
        self.declare_parameter('world_frame', 'map')
        self.declare_parameter('depth_qos', 'reliable')
        self.declare_parameter('pose_slop', 0.05)
        self.declare_parameter('slots_every', 15)
        self.declare_parameter('encoder_model_path', '')
        self.declare_parameter('encoder_threads', 0)
        self.add_on_set_parameters_callback(
            validating_callback(self, {'detector': ChangeDetectorConfig}))
        self.counters: Counter[str] = Counter()
        self.detector: ChangeDetector | None = None
        self._lock = threading.Lock()
        self._camera: PinholeCamera | None = None
        self._camera_frame = ''
        self._poses = PoseBuffer(PoseBufferConfig(capacity=POSE_BUFFER))
        self._pending: deque[Image] = deque(maxlen=8)
        self.encoder: Any = None
        self.shape_encoder: Any = None
        self._slot_request: tuple[np.ndarray, PinholeCamera, np.ndarray, float] | None = None
        self._slot_lock = threading.Lock()
        self._input_lock = threading.Lock()    # guards _poses and _pending
        group = MutuallyExclusiveCallbackGroup()         # depth processing, one at a time
        input_group = MutuallyExclusiveCallbackGroup()   # poses, CameraInfo: never wait on depth
        try:
            qos = depth_qos(str(self.get_parameter('depth_qos').value))
        except SceneMemError as error:
            self.get_logger().error(f'{error}; using reliable')
            qos = depth_qos('reliable')
        self.create_subscription(Image, '/camera/depth/image_rect', self._on_depth, qos,
                                 callback_group=group)
        self.create_subscription(CameraInfo, '/camera/depth/camera_info', self._on_info, qos,
                                 callback_group=input_group)
        self.create_subscription(PoseStamped, '/camera/pose', self._on_pose, 50,
                                 callback_group=input_group)
        self._pose_arrived = self.create_guard_condition(self._drain, callback_group=group)
        self._updates = self.create_publisher(MarkerArray, 'override_updates', 100)
        self._status = self.create_publisher(String, 'status', 10)
        self._slots = self.create_publisher(MarkerArray, 'slots', 2)
        self._load_timer = self.create_timer(0.0, self._load_once, callback_group=group)
        slot_group = MutuallyExclusiveCallbackGroup()
        # loaded on the depth group, so never at the same time as the memory (one full test
        # run with a multi-threaded executor waited over a minute for the memory while both
        # loaded at once; not reproduced alone, so the cause is only suspected)
        self._encoder_timer = self.create_timer(0.0, self._load_encoder_once,
                                                callback_group=group)
        # woken when a frame is handed over for encoding (a polling timer woke the executor
        # 50 times a second for nothing: its wait-set rebuilds cost more than the detection)
        self._slot_wanted = self.create_guard_condition(self._encode_latest,
                                                        callback_group=slot_group)
        self.create_timer(1.0, self.publish_status)

    # ------------------------------------------------------------------ model
    def _load_once(self) -> None:
        self.destroy_timer(self._load_timer)
        self.load_model()

    def load_model(self) -> bool:
        """Load the memory and bake the base geometry; logs and returns False on failure."""
        path = str(self.get_parameter('model_path').value)
        try:
            if not path:
                raise SceneMemError('parameter model_path is empty')
            config = read_config(self, 'detector', ChangeDetectorConfig)
            field, _ = load_memory(Path(path))
            scene = str(self.get_parameter('scene').value)
            names = field.scene_names()
            if not scene:
                if len(names) != 1:
                    raise SceneMemError(f'the memory holds scenes {names}: set `scene`')
                scene = names[0]
            base = BaseGeometry.from_memory(field, scene, config)
        except SceneMemError as error:
            self.counters['model_failed'] += 1
            self.get_logger().error(f'change detection disabled: cannot load {path!r}: {error}')
            return False
        with self._lock:
            self.detector = ChangeDetector(base, config, shape_encoder=self.shape_encoder)
        self.get_logger().info(f'comparing depth with memory scene {scene!r} '
                               f'({base.grid.shape} voxels at {config.resolution} m)')
        return True

    def _load_encoder_once(self) -> None:
        self.destroy_timer(self._encoder_timer)
        self.load_encoder()

    def load_encoder(self) -> bool:
        """Load the slot encoder when ``slots_every`` > 0 (markers) or
        ``detector.move_shape_tolerance`` > 0 (shapes of moves); logs and returns False on
        failure (detection goes on without slots, moves paired by boxes)."""
        markers = int(self.get_parameter('slots_every').value) > 0
        shapes = read_config(self, 'detector', ChangeDetectorConfig).move_shape_tolerance > 0
        if not (markers or shapes):
            return False
        path = str(self.get_parameter('encoder_model_path').value)
        try:
            from scenemem_ros.encoder.session import EncoderSession, default_model_path
            checkpoint = Path(path) if path else default_model_path()
            threads = int(self.get_parameter('encoder_threads').value)
            frame_id = str(self.get_parameter('world_frame').value)
            sessions = [EncoderSession(checkpoint, threads=threads if threads > 0 else None,
                                       frame_id=frame_id, track=track)
                        for track, wanted in ((True, markers), (False, shapes)) if wanted]
        except SceneMemError as error:
            self.counters['encoder_failed'] += 1
            self.get_logger().error(f'slot markers and shapes disabled: cannot load encoder '
                                    f'{path or "(bundled)"!r}: {error}')
            return False
        if markers:
            self.encoder = sessions.pop(0)
        if shapes:
            self.shape_encoder = sessions.pop(0).encode_frame
            with self._lock:
                if self.detector is not None:
                    self.detector.shape_encoder = self.shape_encoder
        uses = ([f'slots of every {self.get_parameter("slots_every").value}th frame on '
                 '`slots`'] if markers else []) + (['shapes of moves'] if shapes else [])
        self.get_logger().info(f'slot encoder {checkpoint} loaded: {", ".join(uses)}')
        return True

    def _encode_latest(self) -> None:
        with self._slot_lock:
            request, self._slot_request = self._slot_request, None
        if request is None or self.encoder is None:
            return
        depth, camera, pose, stamp = request
        try:
            slot_set = self.encoder.encode_frame(depth, camera, pose)
        except SceneMemError as error:
            self._refuse('bad_slots', f'slot encoding failed: {error}')
            return
        self._slots.publish(slot_set_to_marker_array(slot_set, stamp))
        self.counters['slot_frames'] += 1

    def _request_slots(self, depth: np.ndarray, camera: PinholeCamera, pose: np.ndarray,
                       stamp: float) -> None:
        every = int(self.get_parameter('slots_every').value)
        if self.encoder is None or every <= 0 or self.counters['frames'] % every:
            return
        with self._slot_lock:
            if self._slot_request is not None:
                self.counters['slot_frames_skipped'] += 1
            self._slot_request = (depth, camera, pose, stamp)
        self._slot_wanted.trigger()

    # ------------------------------------------------------------------ inputs
    def _refuse(self, reason: str, message: str) -> None:
        self.counters[reason] += 1
        if self.counters[reason] in (1, 10, 100) or self.counters[reason] % 1000 == 0:
            self.get_logger().warning(f'{message} ({reason} x{self.counters[reason]})')

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self._camera = camera_info_to_camera(msg)
            self._camera_frame = msg.header.frame_id
        except SceneMemError as error:
            self._refuse('bad_camera_info', f'CameraInfo refused: {error}')

    def _on_pose(self, msg: PoseStamped) -> None:
        world = str(self.get_parameter('world_frame').value)
        if msg.header.frame_id != world:
            self._refuse('unknown_pose_frame', f'pose in frame {msg.header.frame_id!r}, '
                                               f'expected {world!r} (no tf lookup)')
            return
        try:
            stamp, pose = header_seconds(msg), pose_msg_to_matrix(msg)
            with self._input_lock:
                self._poses.add(stamp, pose)   # time going back starts the buffer over
                waiting = bool(self._pending)
        except SceneMemError as error:
            self._refuse('bad_pose', f'pose refused: {error}')
            return
        if waiting:   # a depth image waits for this pose: drain on the depth callback group
            self._pose_arrived.trigger()

    def _on_depth(self, msg: Image) -> None:
        with self._input_lock:
            self._pending.append(msg)
        self._drain()

    def _pose_at(self, stamp: float) -> tuple[PoseLookup, np.ndarray | None]:
        slop = max(0.0, float(self.get_parameter('pose_slop').value))
        if slop != self._poses.config.max_gap:
            self._poses.config = PoseBufferConfig(
                capacity=POSE_BUFFER, exact_tolerance=min(1e-6, slop), max_gap=slop)
        status, pose = self._poses.lookup(stamp)
        if status is PoseLookup.INTERPOLATED:
            self.counters['pose_interpolated'] += 1
        return status, pose

    def _drain(self) -> None:
        """Process the waiting depth images whose pose is known (runs on the depth group only,
        so poses keep arriving on their own group while a frame is processed)."""
        while True:
            with self._input_lock:
                if not self._pending:
                    return
                msg = self._pending[0]
                stamp = header_seconds(msg)
                status, pose = self._pose_at(stamp)
                if status is PoseLookup.WAIT and len(self._pending) < (self._pending.maxlen or 0):
                    return
                self._pending.popleft()
            if status is PoseLookup.JUMPED:
                self._refuse('pose_jump', f'the poses around depth at {stamp:.3f} s jump further '
                             'than the camera can move: not interpolated')
                continue
            if pose is None:
                self._refuse('no_pose', f'no pose within the slop of depth at {stamp:.3f} s')
                continue
            self._process(msg, pose, stamp)

    def _process(self, msg: Image, pose: np.ndarray, stamp: float) -> None:
        if self.detector is None:
            self._refuse('no_model', 'depth ignored: no memory loaded')
            return
        camera = self._camera
        if camera is None:
            self._refuse('no_camera_info', 'depth ignored: no CameraInfo yet')
            return
        if self._camera_frame and msg.header.frame_id and \
                msg.header.frame_id != self._camera_frame:
            self._refuse('frame_mismatch', f'depth frame {msg.header.frame_id!r} differs from '
                                           f'CameraInfo frame {self._camera_frame!r}')
            return
        try:
            depth = depth_msg_to_array(msg)
            if depth.shape != (camera.height, camera.width):
                raise SceneMemError(f'depth is {depth.shape[1]}x{depth.shape[0]}, CameraInfo '
                                    f'says {camera.width}x{camera.height}')
            if not np.isfinite(depth).any():
                raise SceneMemError('depth has no valid pixel (all NaN, Inf or zero)')
            now = self.get_clock().now().nanoseconds * 1e-9
            with self._lock:
                shape_errors = self.detector.shape_errors
                report = self.detector.process(depth, camera, pose, now)
        except SceneMemError as error:
            self._refuse('bad_depth', f'depth refused: {error}')
            return
        self.counters['frames'] += 1
        if self.detector.shape_errors > shape_errors:
            self.counters['shape_errors'] += self.detector.shape_errors - shape_errors
            reason = self.detector.last_shape_error
            self.get_logger().warning(f'slot shapes of changes failed ({reason}): moves '
                                      'judged by boxes there', throttle_duration_sec=5.0)
        if not self.detector.evidence.trusts(report.evidence):
            # the depth and its pose disagree with the memory almost everywhere: localisation
            # is off, or the pose belongs to another frame (no one-frame shortcuts were taken)
            self._refuse('pose_disagrees',
                         f'depth at {stamp:.3f} s agrees with the memory on only '
                         f'{100 * report.evidence.agreement:.0f} % of the compared pixels: '
                         f'is the pose right?')
        self._request_slots(depth, camera, pose, stamp)
        if report.updates:
            frame_id = str(self.get_parameter('world_frame').value)
            self._updates.publish(MarkerArray(markers=[
                update_to_marker(u, frame_id, now) for u in report.updates]))
            self.counters['updates'] += len(report.updates)
            for update in report.updates:
                label = update.override.label if update.override else ''
                self.get_logger().info(f'{update.action.value} {update.override_id} {label}')

    def publish_status(self) -> None:
        self._status.publish(String(data=json.dumps(dict(self.counters))))


def main(args: list[str] | None = None) -> int:
    return spin_node(ChangeDetectorNode, args, threads=2)


if __name__ == '__main__':
    sys.exit(main())
