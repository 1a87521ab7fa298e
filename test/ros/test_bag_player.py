"""The Python bag player: recorded QoS, raw CDR through real DDS, pacing, /clock, remapping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image

from scenemem_ros.data.bag import BagTopics, write_sequence_bag
from scenemem_ros.data.errors import DataError
from scenemem_ros.ros.bag_player import (
    BagPlayer,
    PlayerConfig,
    main,
    message_class,
    play,
    qos_from_recorded,
)
from scenemem_ros.ros.conversions import (
    camera_info_to_camera,
    depth_msg_to_array,
    header_seconds,
    pose_msg_to_matrix,
)

pytestmark = pytest.mark.ros
TOPICS = BagTopics()


class Collector:
    """Subscribes to the three sequence topics (reliable, deep history) and counts arrivals."""

    def __init__(self, node, prefix: str = '', clock: bool = False) -> None:
        self.messages: dict[str, list] = {}
        self.lock = threading.Lock()
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
        self.subs = []
        kinds = [(TOPICS.depth, Image), (TOPICS.camera_info, CameraInfo),
                 (TOPICS.pose, PoseStamped)]
        if clock:
            kinds.append(('/clock', Clock))
        for topic, cls in kinds:
            name = topic if topic == '/clock' else prefix + topic
            self.messages[name] = []
            self.subs.append(node.create_subscription(
                cls, name, lambda msg, name=name: self._store(name, msg), qos))

    def _store(self, name, msg) -> None:
        with self.lock:
            self.messages[name].append(msg)

    def wait_for(self, counts: dict[str, int], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(len(self.messages[t]) >= n for t, n in counts.items()):
                    return True
            time.sleep(0.01)
        return False


def test_bag_arrives_complete_at_a_real_subscriber(ros, tmp_path, sequence_factory):
    seq = sequence_factory(count=4)
    bag = write_sequence_bag(seq, tmp_path / 'bag', depth_encoding='16UC1')
    prefix = ros.namespace
    collector = Collector(ros.node('listener'), prefix=prefix)
    remap = {t: prefix + t for t in (TOPICS.depth, TOPICS.camera_info, TOPICS.pose)}
    config = PlayerConfig(rate=0.0, remap=remap, wait_for_subscribers=10.0)
    result = play(ros.node('player'), bag, config)

    assert result.total == 12 and not result.interrupted
    assert result.published == {prefix + t: 4 for t in remap}
    assert collector.wait_for({prefix + t: 4 for t in remap}), {
        t: len(v) for t, v in collector.messages.items()}

    depths = collector.messages[prefix + TOPICS.depth]
    infos = collector.messages[prefix + TOPICS.camera_info]
    poses = collector.messages[prefix + TOPICS.pose]
    for frame, depth_msg, info_msg, pose_msg in zip(seq, depths, infos, poses, strict=True):
        assert abs(header_seconds(depth_msg) - frame.stamp) < 1e-6
        assert header_seconds(pose_msg) == header_seconds(depth_msg)
        decoded = depth_msg_to_array(depth_msg)
        np.testing.assert_array_equal(np.isnan(decoded), np.isnan(frame.depth))
        np.testing.assert_allclose(decoded, frame.depth, atol=0.0005 + 1e-6)
        assert camera_info_to_camera(info_msg) == frame.camera
        assert depth_msg.header.frame_id == frame.frame_id
        assert pose_msg.header.frame_id == 'map'
        np.testing.assert_allclose(pose_msg_to_matrix(pose_msg), frame.camera_to_world,
                                   atol=1e-9)


def test_rate_pacing_clock_and_topic_selection(ros, tmp_path, sequence_factory):
    seq = sequence_factory(count=5)  # 0.2 s of bag time
    bag = write_sequence_bag(seq, tmp_path / 'bag')
    prefix = ros.namespace
    collector = Collector(ros.node('listener'), prefix=prefix, clock=True)
    config = PlayerConfig(rate=2.0, topics=(TOPICS.pose,), publish_clock=True,
                          remap={TOPICS.pose: prefix + TOPICS.pose}, wait_for_subscribers=10.0)
    player = BagPlayer(ros.node('player'), bag, config)
    assert player.topics == {TOPICS.pose: prefix + TOPICS.pose}
    try:
        result = player.play()
        assert player.raw_publishing  # Publisher.publish(bytes) worked: raw CDR went out
    finally:
        player.destroy()
    assert result.published == {prefix + TOPICS.pose: 5} and result.clock_messages == 5
    assert result.bag_duration == pytest.approx(0.2, abs=1e-6)
    assert 0.09 <= result.wall_time < 1.0  # 0.2 s of bag at 2x is 0.1 s
    assert collector.wait_for({prefix + TOPICS.pose: 5, '/clock': 5})
    clocks = collector.messages['/clock']
    stamps = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clocks]
    np.testing.assert_allclose(stamps, [f.stamp for f in seq], atol=1e-6)


def test_stop_event_interrupts_playback(ros, tmp_path, sequence_factory):
    bag = write_sequence_bag(sequence_factory(count=3), tmp_path / 'bag')
    stop = threading.Event()
    stop.set()
    result = play(ros.node('player'), bag, PlayerConfig(rate=1.0, remap={}), stop=stop)
    assert result.interrupted and result.total == 0


def test_player_rejects_missing_topics_and_unknown_types(ros, tmp_path, sequence_factory):
    bag = write_sequence_bag(sequence_factory(count=2), tmp_path / 'bag')
    node = ros.node('player')
    with pytest.raises(DataError, match=r"\['/nope'\] not in the bag"):
        BagPlayer(node, bag, PlayerConfig(topics=('/nope',)))
    with pytest.raises(DataError, match='not installed'):
        message_class('tf2_msgs_not_here/msg/TFMessage')
    with pytest.raises(DataError, match='does not exist'):
        BagPlayer(node, tmp_path / 'missing')


def _qos(reliability, durability, depth=5, history=QosHistory.KEEP_LAST, deadline=(0, 0)):
    zero = QosTime(0, 0)
    return Qos(history, depth, reliability, durability, QosTime(*deadline), zero,
               QosLiveliness.AUTOMATIC, zero, False)


def test_qos_from_recorded():
    default = qos_from_recorded([])
    assert default.reliability == ReliabilityPolicy.RELIABLE and default.depth == 10
    latched = qos_from_recorded([_qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, 1,
                                      deadline=(2, 500))])
    assert latched.durability == DurabilityPolicy.TRANSIENT_LOCAL and latched.depth == 1
    assert latched.deadline.nanoseconds == 2_000_000_500
    mixed = qos_from_recorded([_qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL),
                               _qos(QosReliability.BEST_EFFORT, QosDurability.VOLATILE, 7)])
    assert mixed.reliability == ReliabilityPolicy.BEST_EFFORT
    assert mixed.durability == DurabilityPolicy.VOLATILE and mixed.depth == 7
    odd = qos_from_recorded([_qos(QosReliability.UNKNOWN, QosDurability.UNKNOWN,
                                  deadline=(2**31 - 1, 4294967295))])
    assert odd.reliability == ReliabilityPolicy.RELIABLE
    assert odd.durability == DurabilityPolicy.VOLATILE


@pytest.mark.parametrize('kwargs, field', [({'rate': -1.0}, 'rate'), ({'rate': float('nan')},
                                                                     'rate'),
                                           ({'wait_for_subscribers': -1}, 'wait_for_subscribers'),
                                           ({'remap': {'/a': ''}}, 'remap')])
def test_player_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=f'PlayerConfig.{field}'):
        PlayerConfig(**kwargs)


def test_main_entry_point(ros_env, tmp_path, sequence_factory, capsys):
    bag = write_sequence_bag(sequence_factory(count=2), tmp_path / 'bag')
    assert main([str(bag), '--rate', '0', '--remap', f'{TOPICS.pose}=/t{ros_env}/pose']) == 0
    assert main([str(tmp_path / 'missing')]) == 1
    assert 'does not exist' in capsys.readouterr().err
    assert main([str(bag), '--remap', 'nonsense']) == 2
