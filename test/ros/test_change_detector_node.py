"""The change_detector node through real DDS: a blocked doorway becomes an override; bad input
is counted and logged, never fatal; 1000 malformed messages later every node still answers."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from nav_msgs.srv import GetMap, GetPlan
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from scipy.spatial import cKDTree
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import Marker, MarkerArray

from scenemem_ros.ros.change_detector_node import ChangeDetectorNode
from scenemem_ros.ros.conversions import (
    array_to_depth_msg,
    camera_to_camera_info,
    matrix_to_pose_msg,
)
from scenemem_ros.world import apply_change, generate_world, plan_trajectory, render_sequence
from scenemem_ros.world.render import default_camera

pytestmark = pytest.mark.ros
MODEL = Path(__file__).resolve().parents[2] / 'models' / 'memory_demo.npz'
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope='module')
def blocked_doorway_frames():
    """Frames of the bundled scene (seed 31) walking up to its blocked doorway."""
    world = generate_world(31)
    after, record = apply_change(world, 'doorway_blocked', seed=31)
    walk = plan_trajectory(after, seed=31)
    keep = np.linspace(0, len(walk.stamps) - 1, 200).round().astype(int)[10:50]
    walk = type(walk)(walk.stamps[keep], walk.camera_to_world[keep])
    return list(render_sequence(after, walk, default_camera(320, 240))), record


def start_detector(ros, **parameters):
    overrides = [Parameter(k, value=v) for k, v in parameters.items()]
    node = ChangeDetectorNode(context=ros.context, namespace=ros.namespace,
                              parameter_overrides=overrides)
    ros._nodes.append(node)
    ros.executor.add_node(node)
    return node


class Sender:
    """Publishes depth, CameraInfo and pose on the detector's topics."""

    def __init__(self, ros):
        self.node = ros.node('sender')
        self.depth = self.node.create_publisher(Image, '/camera/depth/image_rect', RELIABLE)
        self.info = self.node.create_publisher(CameraInfo, '/camera/depth/camera_info',
                                               RELIABLE)
        self.pose = self.node.create_publisher(PoseStamped, '/camera/pose', RELIABLE)
        self.updates: list[MarkerArray] = []
        self.node.create_subscription(MarkerArray, f'{ros.namespace}/override_updates',
                                      self.updates.append, 100)

    def frame(self, frame, encoding='32FC1', pose_frame='map'):
        self.info.publish(camera_to_camera_info(frame.camera, frame.stamp))
        self.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp, pose_frame))
        self.depth.publish(array_to_depth_msg(frame.depth, encoding, frame.stamp))


def ready_detector(ros, **parameters):
    """A detector on the bundled memory, its model loaded, and a Sender it hears."""
    node = start_detector(ros, model_path=str(MODEL), **parameters)
    assert wait_for(lambda: node.detector is not None, 60.0)
    sender = Sender(ros)
    assert wait_for(lambda: sender.depth.get_subscription_count() > 0)
    return node, sender


def test_a_blocked_doorway_arrives_as_an_override(ros, blocked_doorway_frames):
    frames, record = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    for index, frame in enumerate(frames):
        sender.frame(frame, encoding='16UC1' if index % 2 else '32FC1')
        time.sleep(0.06)
    assert wait_for(lambda: node.counters['frames'] >= len(frames) - 2)
    added = [json.loads(m.text) for array in sender.updates for m in array.markers
             if m.action == Marker.ADD]
    assert any(r['label'] == 'doorway_blocked' for r in added), added
    assert node.counters['bad_depth'] == 0 and node.counters['no_pose'] == 0


def test_bad_input_is_counted_and_the_node_keeps_going(ros, blocked_doorway_frames):
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    frame = frames[0]
    sender.frame(frame, pose_frame='odom')                      # unknown pose frame
    wrong = array_to_depth_msg(frame.depth, '32FC1', frame.stamp + 1)
    wrong.encoding = 'rgb8'                                     # wrong encoding
    sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp + 1, 'map'))
    sender.depth.publish(wrong)
    small = array_to_depth_msg(frame.depth[:100], '32FC1', frame.stamp + 2)  # size mismatch
    sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp + 2, 'map'))
    sender.depth.publish(small)
    nan = array_to_depth_msg(np.full_like(frame.depth, np.nan), '32FC1', frame.stamp + 3)
    sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp + 3, 'map'))
    sender.depth.publish(nan)
    assert wait_for(lambda: node.counters['unknown_pose_frame'] >= 1
                    and node.counters['bad_depth'] >= 3), dict(node.counters)
    sender.frame(dataclasses.replace(frames[1], stamp=frame.stamp + 4))
    assert wait_for(lambda: node.counters['frames'] >= 1), dict(node.counters)


def test_depth_whose_pose_was_dropped_gets_an_interpolated_pose(ros, blocked_doorway_frames):
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    stamps = [frames[0].stamp + k / 30 for k in range(5)]
    poses = []  # a camera sliding 2 cm a frame (0.6 m/s) past the first view
    for k in range(5):
        moved = frames[0].camera_to_world.copy()
        moved[:3, 3] += (0.02 * k, 0.0, 0.0)
        poses.append(moved)
    for k, stamp in enumerate(stamps):  # poses 0, 2 and 4 only; depth for every stamp
        if k % 2 == 0:
            sender.pose.publish(matrix_to_pose_msg(poses[k], stamp, 'map'))
    sender.info.publish(camera_to_camera_info(frames[0].camera, stamps[0]))
    time.sleep(0.3)
    for stamp in stamps[:4]:
        sender.depth.publish(array_to_depth_msg(frames[0].depth, '32FC1', stamp))
    assert wait_for(lambda: node.counters['frames'] == 4), dict(node.counters)
    assert node.counters['pose_interpolated'] == 2 and node.counters['no_pose'] == 0


def test_depth_paired_with_a_wrong_pose_is_processed_and_counted(ros, blocked_doorway_frames):
    """A pose from half a walk away: the frame still counts as evidence, but the node says the
    pose disagrees with the memory (``pose_disagrees``) and publishes nothing from it."""
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    sender.frame(frames[0])
    assert wait_for(lambda: node.counters['frames'] == 1), dict(node.counters)
    assert node.counters['pose_disagrees'] == 0
    wrong = dataclasses.replace(frames[1], camera_to_world=frames[-1].camera_to_world)
    sender.frame(wrong)
    assert wait_for(lambda: node.counters['frames'] == 2), dict(node.counters)
    assert node.counters['pose_disagrees'] == 1
    assert not [m for array in sender.updates for m in array.markers if m.action == Marker.ADD]


def test_a_missing_model_is_logged_and_depth_is_counted(ros, tmp_path, blocked_doorway_frames):
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(b'not a checkpoint')
    node = start_detector(ros, model_path=str(corrupt), slots_every=0)
    assert wait_for(lambda: node.counters['model_failed'] == 1)
    sender = Sender(ros)
    assert wait_for(lambda: sender.depth.get_subscription_count() > 0)
    sender.frame(blocked_doorway_frames[0][0])
    assert wait_for(lambda: node.counters['no_model'] == 1)


def test_slots_are_published_as_mesh_markers_near_the_depth(ros, blocked_doorway_frames):
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=1)
    assert wait_for(lambda: node.encoder is not None, 60.0)
    slot_arrays: list[MarkerArray] = []
    sender.node.create_subscription(MarkerArray, f'{ros.namespace}/slots',
                                    slot_arrays.append, 10)
    frame = frames[5]
    sender.frame(frame)
    assert wait_for(lambda: len(slot_arrays) >= 1, 60.0), dict(node.counters)
    markers = slot_arrays[-1].markers
    assert markers[0].action == Marker.DELETEALL
    meshes = [m for m in markers[1:] if m.type == Marker.TRIANGLE_LIST]
    assert len(meshes) >= 2 and all(m.header.frame_id == 'map' for m in meshes)
    vertices = np.array([[p.x, p.y, p.z] for m in meshes for p in m.points])
    assert len(vertices) % 3 == 0 and np.isfinite(vertices).all()
    # the slot surfaces sit on what the camera saw: most vertices lie near a depth point
    camera = frame.camera
    rows, cols = np.nonzero(np.isfinite(frame.depth) & (frame.depth > 0))
    z = frame.depth[rows, cols]
    optical = np.stack([(cols - camera.cx) * z / camera.fx, (rows - camera.cy) * z / camera.fy,
                        z], axis=1)
    seen = optical @ frame.camera_to_world[:3, :3].T + frame.camera_to_world[:3, 3]
    distance, _ = cKDTree(seen).query(vertices)
    assert np.median(distance) < 0.15, np.median(distance)
    assert len({m.id for m in meshes}) == len(meshes)


def test_a_corrupt_encoder_disables_slots_not_detection(ros, tmp_path, blocked_doorway_frames):
    corrupt = tmp_path / 'encoder.npz'
    corrupt.write_bytes(b'PK\x03\x04 truncated')
    node, sender = ready_detector(ros, slots_every=1, encoder_model_path=str(corrupt))
    assert wait_for(lambda: node.counters['encoder_failed'] == 1, 60.0)
    sender.frame(blocked_doorway_frames[0][0])
    assert wait_for(lambda: node.counters['frames'] == 1), dict(node.counters)
    assert node.encoder is None and node.counters['slot_frames'] == 0
    assert node.shape_encoder is None and node.detector.shape_encoder is None


def test_the_detector_gets_slot_shapes_for_moves_unless_turned_off(ros):
    node, _ = ready_detector(ros, slots_every=0)
    assert wait_for(lambda: node.detector.shape_encoder is not None, 60.0), dict(node.counters)
    assert node.encoder is None  # no markers asked for: only the shape session was loaded
    assert node.shape_encoder is node.detector.shape_encoder
    off = start_detector(ros, model_path=str(MODEL), slots_every=0,
                         **{'detector.move_shape_tolerance': 0.0})
    assert wait_for(lambda: off.detector is not None, 60.0)
    time.sleep(0.5)  # the encoder's load timer has fired by now
    assert off.shape_encoder is None and off.detector.shape_encoder is None


def random_garbage(rng, kind):
    if kind == 'image':
        msg = Image(height=int(rng.integers(0, 50)), width=int(rng.integers(0, 50)),
                    encoding=str(rng.choice(['32FC1', '16UC1', 'rgb8', '', 'mono16', '8UC3'])),
                    step=int(rng.integers(0, 300)), is_bigendian=int(rng.integers(0, 2)))
        msg.data = rng.integers(0, 256, int(rng.integers(0, 4000)), dtype=np.uint8).tobytes()
        msg.header.stamp.sec = int(rng.integers(0, 100))
        msg.header.frame_id = str(rng.choice(['', 'camera', 'weird frame']))
        return msg
    if kind == 'info':
        msg = CameraInfo(height=int(rng.integers(0, 50)), width=int(rng.integers(0, 50)))
        msg.k = rng.choice([0.0, np.nan, np.inf, -5.0, 30.0], 9).astype(float)
        return msg
    if kind == 'pose':
        msg = PoseStamped()
        msg.header.frame_id = str(rng.choice(['map', 'odom', '']))
        msg.header.stamp.sec = int(rng.integers(0, 100))
        values = rng.choice([0.0, np.nan, np.inf, 1.0, -3.0], 7)
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z, q.x, q.y, q.z, q.w = (float(v) for v in values)
        return msg
    marker = Marker(ns=str(rng.choice(['blocked_region', 'object_moved', 'x'])),
                    id=int(rng.integers(0, 5)), type=int(rng.integers(0, 12)),
                    action=int(rng.integers(0, 5)))
    marker.text = str(rng.choice(['', '{', '{"id": 3}', '[1]', '{"id": "a", "kind": "nope"}']))
    marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in
                                                      rng.choice([0.0, -1.0, np.nan, 0.5], 3))
    marker.pose.orientation.w = float(rng.choice([1.0, 0.3, np.nan]))
    return MarkerArray(markers=[marker])


def test_fuzz_1000_malformed_messages_then_every_node_answers(ros):
    from scenemem_ros.ros.planner_node import PlannerNode
    from scenemem_ros.ros.scene_memory_node import SceneMemoryNode

    memory = SceneMemoryNode(context=ros.context, namespace=ros.namespace,
                             parameter_overrides=[Parameter('memory.model_path',
                                                            value=str(MODEL)),
                                                  Parameter('autostart', value=True)])
    planner = PlannerNode(context=ros.context, namespace=ros.namespace)
    for node in (memory, planner):
        ros._nodes.append(node)
        ros.executor.add_node(node)
    detector = start_detector(ros, model_path=str(MODEL))
    assert wait_for(lambda: detector.detector is not None and memory.live_map is not None, 90)
    sender = Sender(ros)
    operator = sender.node.create_publisher(MarkerArray, f'{ros.namespace}/override_updates',
                                            RELIABLE)
    assert wait_for(lambda: sender.depth.get_subscription_count() > 0
                    and operator.get_subscription_count() > 0)
    rng = np.random.default_rng(7)
    publishers = {'image': sender.depth, 'info': sender.info, 'pose': sender.pose,
                  'marker': operator}
    kinds = list(publishers)
    for _ in range(1000):
        kind = kinds[int(rng.integers(len(kinds)))]
        publishers[kind].publish(random_garbage(rng, kind))
    time.sleep(2.0)
    refused = sum(v for k, v in detector.counters.items() if k != 'frames')
    assert refused > 0 and memory.counters['malformed_override'] > 0
    get_map = sender.node.create_client(GetMap, f'{ros.namespace}/get_map')
    plan = sender.node.create_client(GetPlan, f'{ros.namespace}/plan')
    for client, request in ((get_map, GetMap.Request()), (plan, GetPlan.Request())):
        assert client.wait_for_service(timeout_sec=10.0)
        future = client.call_async(request)
        assert wait_for(future.done, 20.0), f'{client.srv_name} stopped answering'
    assert future.result().plan.poses == []  # a default request (0,0)->(0,0) is answered


def test_depth_between_poses_that_jump_is_refused_not_interpolated(ros, blocked_doorway_frames):
    """A looped bag: the pose after the gap is the walk's first again, metres away."""
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    stamps = [frames[0].stamp + k / 30 for k in range(3)]
    far = frames[0].camera_to_world.copy()
    far[:3, 3] += (3.0, 0.0, 0.0)
    sender.pose.publish(matrix_to_pose_msg(frames[0].camera_to_world, stamps[0], 'map'))
    sender.pose.publish(matrix_to_pose_msg(far, stamps[2], 'map'))  # stamps[1]'s pose dropped
    sender.info.publish(camera_to_camera_info(frames[0].camera, stamps[0]))
    time.sleep(0.3)
    for stamp in stamps:
        sender.depth.publish(array_to_depth_msg(frames[0].depth, '32FC1', stamp))
    assert wait_for(lambda: node.counters['frames'] == 2 and node.counters['pose_jump'] == 1), \
        dict(node.counters)
    assert node.counters['pose_interpolated'] == 0


def test_depth_waiting_for_its_pose_is_processed_when_the_pose_arrives(ros,
                                                                        blocked_doorway_frames):
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros, slots_every=0)
    frame = frames[0]
    sender.info.publish(camera_to_camera_info(frame.camera, frame.stamp))
    sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp - 0.02, 'map'))
    time.sleep(0.2)
    sender.depth.publish(array_to_depth_msg(frame.depth, '32FC1', frame.stamp))
    time.sleep(0.5)   # newer than every pose: it waits, nothing else arrives on depth
    assert node.counters['frames'] == 0 and node.counters['no_pose'] == 0, dict(node.counters)
    sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp, 'map'))
    assert wait_for(lambda: node.counters['frames'] == 1), dict(node.counters)


def test_poses_keep_arriving_while_a_slow_frame_is_processed(ros_threaded,
                                                              blocked_doorway_frames):
    """A pose stream must not queue behind depth processing: a driver's pose publisher keeps
    only its last few messages, so poses the node takes late are poses lost."""
    frames, _ = blocked_doorway_frames
    node, sender = ready_detector(ros_threaded, slots_every=0)
    detector = node.detector
    processing = {'started': 0.0, 'ended': 0.0, 'poses_seen_during': 0}
    real_process = detector.process

    def slow_process(*args, **kwargs):
        # a frame far slower than the pose rate: it does not return until the 30 poses sent
        # meanwhile have been taken (or 10 s pass), so they can only arrive on another thread
        processing['started'] = time.monotonic()
        deadline = processing['started'] + 10.0
        while len(node._poses) < 31 and time.monotonic() < deadline:
            time.sleep(0.01)
        processing['poses_seen_during'] = len(node._poses)
        processing['ended'] = time.monotonic()
        return real_process(*args, **kwargs)

    detector.process = slow_process
    frame = frames[0]
    sender.frame(frame)
    assert wait_for(lambda: processing['started'] > 0)
    for k in range(1, 31):
        sender.pose.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp + k / 30,
                                               'map'))
        time.sleep(0.01)
    assert wait_for(lambda: processing['ended'] > 0)
    assert processing['poses_seen_during'] == 31, processing
