"""A small rosbag2 player in Python: ``ros2 bag play`` for machines without rosbag2.

Reads a bag with ``rosbags`` (sqlite3 or mcap), creates one rclpy publisher per topic with the
QoS the bag recorded for it, and publishes the raw CDR bytes (``Publisher.publish(bytes)``)
paced by bag time. Usable in-process on a given node (demo, tests) through :class:`BagPlayer`,
or as the ``scenemem_bag_play`` console script (:func:`main`).

QoS: like rosbag2's player, several recorded profiles for one topic are merged (best-effort if
any was best-effort, transient-local only if all were); a topic with none recorded, or with values
this rclpy cannot express, falls back to reliable, volatile, keep last 10.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import threading
import time
from collections.abc import Generator, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    LivelinessPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.serialization import deserialize_message

from scenemem_ros.data.bag import RawMessage, bag_info, iter_raw_messages
from scenemem_ros.data.errors import DataError

DEFAULT_QOS_DEPTH = 10
CLOCK_TOPIC = '/clock'
# Durations at or beyond this many seconds are rmw's "infinite" marker (2**31 - 1 s).
_INFINITE_SEC = 2**31 - 1


@dataclass(frozen=True)
class PlayerConfig:
    """How to play a bag.

    Attributes:
        rate: playback speed factor (> 0), or 0 to publish as fast as possible.
        topics: play only these bag topics (None: all).
        remap: bag topic -> published topic, e.g. ``{'/camera/pose': '/robot/camera/pose'}``.
        publish_clock: also publish ``rosgraph_msgs/msg/Clock`` on ``/clock`` with each
            message's bag time, for nodes using ``use_sim_time``.
        wait_for_subscribers: seconds to wait, before the first message, until every topic's
            publisher has matched at least one subscription (0: don't wait). Reliable volatile
            topics lose what is published before a subscriber is matched.
        start_delay: seconds to sleep before the first message (after the wait).
    """

    rate: float = 1.0
    topics: tuple[str, ...] | None = None
    remap: Mapping[str, str] = field(default_factory=dict)
    publish_clock: bool = False
    wait_for_subscribers: float = 0.0
    start_delay: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.rate, (int, float)) or not (0 <= self.rate < math.inf):
            raise ValueError(f'PlayerConfig.rate must be a finite number >= 0, got {self.rate!r}')
        if self.topics is not None:
            topics = (self.topics,) if isinstance(self.topics, str) else tuple(self.topics)
            object.__setattr__(self, 'topics', topics)
        for name in ('wait_for_subscribers', 'start_delay'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (0 <= value < math.inf):
                raise ValueError(f'PlayerConfig.{name} must be a finite number >= 0, got '
                                 f'{value!r}')
        remap = dict(self.remap)
        for src, dst in remap.items():
            if not (isinstance(src, str) and isinstance(dst, str) and src and dst):
                raise ValueError(f'PlayerConfig.remap entries must be non-empty topic names, got '
                                 f'{src!r} -> {dst!r}')
        object.__setattr__(self, 'remap', remap)


class PlayResult(NamedTuple):
    """What one :meth:`BagPlayer.play` call did.

    Attributes:
        published: messages published, per published (remapped) topic.
        clock_messages: ``/clock`` messages published.
        bag_duration: bag time between the first and the last message played (s).
        wall_time: seconds the playback took.
        interrupted: True when stopped before the end.
    """

    published: dict[str, int]
    clock_messages: int
    bag_duration: float
    wall_time: float
    interrupted: bool

    @property
    def total(self) -> int:
        """Messages published, all topics together (``/clock`` excluded)."""
        return sum(self.published.values())


def message_class(msgtype: str) -> type:
    """``'pkg/msg/Name'`` -> the rclpy message class, imported from ``pkg.msg``.

    Raises:
        DataError: the type name is malformed or its package is not installed.
    """
    parts = msgtype.split('/')
    if len(parts) != 3 or not all(parts):
        raise DataError(f'malformed message type {msgtype!r}')
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError):
        raise DataError(f'message type {msgtype} is not installed (no Python module '
                        f'{package}.{kind}.{name})') from None


def _policy(enum: Any, name: str, fallback: Any) -> Any:
    value = getattr(enum, name, None)
    return fallback if value is None or name in ('UNKNOWN', 'SYSTEM_DEFAULT') else value


def _duration(value: Any) -> Duration | None:
    sec, nsec = int(value.sec), int(value.nsec)
    if (sec == 0 and nsec == 0) or sec >= _INFINITE_SEC:
        return None
    return Duration(seconds=sec, nanoseconds=nsec)


def qos_from_recorded(profiles: Iterable[Any]) -> QoSProfile:
    """Recorded offered QoS profiles (``rosbags.interfaces.Qos``) -> one rclpy ``QoSProfile``.

    Several profiles are merged as rosbag2 does: best-effort if any is best-effort,
    transient-local only if all are; the deepest history wins. Unknown, system-default and
    best-available values fall back to reliable / volatile / keep last 10 / automatic.
    """
    profiles = list(profiles)
    if not profiles:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=DEFAULT_QOS_DEPTH,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    reliabilities = [p.reliability.name for p in profiles]
    durabilities = [p.durability.name for p in profiles]
    reliability = ('BEST_EFFORT' if 'BEST_EFFORT' in reliabilities else 'RELIABLE')
    durability = ('TRANSIENT_LOCAL' if all(d == 'TRANSIENT_LOCAL' for d in durabilities)
                  else 'VOLATILE')
    keep_all = any(p.history.name == 'KEEP_ALL' for p in profiles)
    depth = max((int(p.depth) for p in profiles), default=0) or DEFAULT_QOS_DEPTH
    first = profiles[0]
    kwargs: dict[str, Any] = {
        'history': HistoryPolicy.KEEP_ALL if keep_all else HistoryPolicy.KEEP_LAST,
        'depth': depth,
        'reliability': getattr(ReliabilityPolicy, reliability),
        'durability': getattr(DurabilityPolicy, durability),
        'liveliness': _policy(LivelinessPolicy, first.liveliness.name,
                              LivelinessPolicy.AUTOMATIC),
    }
    for name in ('deadline', 'lifespan', 'liveliness_lease_duration'):
        value = _duration(getattr(first, name))
        if value is not None:
            kwargs[name] = value
    return QoSProfile(**kwargs)


class _Topic(NamedTuple):
    name: str
    out_name: str
    msg_class: type
    publisher: Any


class BagPlayer:
    """Plays one bag through publishers created on a given node.

    Args:
        node: the node that owns the publishers (its context's DDS settings apply).
        path: the bag (directory, ``.db3`` or ``.mcap``).
        config: playback settings.
        qos_overrides: published-or-bag topic -> ``QoSProfile`` replacing the recorded one.

    Raises:
        DataError: unreadable bag, a requested topic that is not in it, or a message type that
            is not installed (restrict ``config.topics`` to leave such topics out).
    """

    def __init__(self, node: Node, path: Any, config: PlayerConfig = PlayerConfig(),
                 qos_overrides: Mapping[str, QoSProfile] | None = None) -> None:
        self.node = node
        self.path = path
        self.config = config
        self.info = bag_info(path)
        overrides = dict(qos_overrides or {})
        available = {t.name: t for t in self.info.topics}
        wanted = list(config.topics) if config.topics is not None else sorted(available)
        missing = [t for t in wanted if t not in available]
        if missing:
            raise DataError(f'{path}: topic(s) {missing} not in the bag (it has '
                            f'{sorted(available)})')
        self._topics: dict[str, _Topic] = {}
        self._raw_ok = True
        try:
            for name in wanted:
                info = available[name]
                if info.msgtype is None:
                    raise DataError(f'{path}: topic {name!r} is recorded with several types')
                cls = message_class(info.msgtype)
                out = config.remap.get(name, name)
                qos = overrides.get(out, overrides.get(name))
                if qos is None:
                    qos = qos_from_recorded(info.offered_qos)
                publisher: Publisher[Any] = node.create_publisher(cls, out, qos)
                self._topics[name] = _Topic(name, out, cls, publisher)
            self._clock: Publisher[Any] | None = None
            if config.publish_clock:
                from rosgraph_msgs.msg import Clock

                self._clock = node.create_publisher(Clock, CLOCK_TOPIC, DEFAULT_QOS_DEPTH)
                self._clock_class = Clock
        except BaseException:
            self.destroy()
            raise

    @property
    def topics(self) -> dict[str, str]:
        """Bag topic -> published topic, for the topics this player publishes."""
        return {name: t.out_name for name, t in self._topics.items()}

    @property
    def raw_publishing(self) -> bool:
        """True while raw CDR bytes are published (False after falling back to messages)."""
        return self._raw_ok

    def wait_for_subscribers(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait until every publisher has matched a subscription; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if all(t.publisher.get_subscription_count() > 0 for t in self._topics.values()):
                return True
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.01)

    def _publish(self, topic: _Topic, data: bytes) -> None:
        if self._raw_ok:
            try:
                topic.publisher.publish(data)
                return
            except TypeError:
                # An rclpy without raw publishing: deserialize and publish the message.
                self._raw_ok = False
        topic.publisher.publish(deserialize_message(data, topic.msg_class))

    def _publish_clock(self, timestamp_ns: int) -> None:
        msg = self._clock_class()
        msg.clock.sec, msg.clock.nanosec = divmod(int(timestamp_ns), 1_000_000_000)
        assert self._clock is not None  # only called while a /clock publisher exists
        self._clock.publish(msg)

    def _messages(self) -> Generator[RawMessage, None, None]:
        if self._topics:
            yield from iter_raw_messages(self.path, topics=list(self._topics))

    def play(self, stop: threading.Event | None = None) -> PlayResult:
        """Publish the bag's messages in bag-time order, paced by ``config.rate``.

        Args:
            stop: set it (from another thread) to end playback early.

        Returns:
            Counts per published topic, ``/clock`` count, bag and wall durations.
        """
        cfg = self.config
        stop = stop or threading.Event()
        if cfg.wait_for_subscribers > 0 and not self.wait_for_subscribers(
                cfg.wait_for_subscribers, stop):
            unmatched = [t.out_name for t in self._topics.values()
                         if t.publisher.get_subscription_count() == 0]
            self.node.get_logger().warning(
                f'no subscriber matched {unmatched} after {cfg.wait_for_subscribers:.1f} s; '
                'playing anyway')
        if cfg.start_delay > 0:
            stop.wait(cfg.start_delay)
        published = {t.out_name: 0 for t in self._topics.values()}
        clock_count = 0
        first_ns: int | None = None
        last_ns: int | None = None
        wall_start = time.monotonic()
        interrupted = False
        with closing(self._messages()) as stream:
            for msg in stream:
                if stop.is_set():
                    interrupted = True
                    break
                if first_ns is None:
                    first_ns = msg.timestamp_ns
                    wall_start = time.monotonic()
                last_ns = msg.timestamp_ns
                if cfg.rate > 0:
                    target = wall_start + (msg.timestamp_ns - first_ns) * 1e-9 / cfg.rate
                    delay = target - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        interrupted = True
                        break
                if self._clock is not None:
                    self._publish_clock(msg.timestamp_ns)
                    clock_count += 1
                topic = self._topics[msg.topic]
                self._publish(topic, msg.data)
                published[topic.out_name] += 1
        bag_duration = (0.0 if first_ns is None or last_ns is None
                        else (last_ns - first_ns) * 1e-9)
        return PlayResult(published, clock_count, bag_duration, time.monotonic() - wall_start,
                          interrupted)

    def destroy(self) -> None:
        """Destroy the publishers (the node stays)."""
        for topic in getattr(self, '_topics', {}).values():
            self.node.destroy_publisher(topic.publisher)
        self._topics = {}
        clock = getattr(self, '_clock', None)
        if clock is not None:
            self.node.destroy_publisher(clock)
            self._clock = None


def play(node: Node, path: Any, config: PlayerConfig = PlayerConfig(),
         stop: threading.Event | None = None,
         qos_overrides: Mapping[str, QoSProfile] | None = None) -> PlayResult:
    """Play ``path`` once through publishers on ``node``; returns the counts."""
    player = BagPlayer(node, path, config, qos_overrides)
    try:
        return player.play(stop)
    finally:
        player.destroy()


def _parse_remap(items: Iterable[str]) -> dict[str, str]:
    remap = {}
    for item in items:
        src, sep, dst = item.partition('=')
        if not sep or not src or not dst:
            raise argparse.ArgumentTypeError(f'--remap expects FROM=TO, got {item!r}')
        remap[src] = dst
    return remap


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='scenemem_bag_play',
        description='Play a rosbag2 bag (sqlite3 or mcap) with rclpy, using the recorded QoS.')
    parser.add_argument('bag', help='bag directory, .db3 or .mcap file')
    parser.add_argument('-r', '--rate', type=float, default=1.0,
                        help='speed factor; 0 publishes as fast as possible (default 1.0)')
    parser.add_argument('--topics', nargs='+', default=None, help='play only these topics')
    parser.add_argument('--remap', nargs='+', default=[], metavar='FROM=TO',
                        help='publish bag topic FROM as TO (ROS-style FROM:=TO remaps go '
                        'after --ros-args -r and apply too)')
    parser.add_argument('--clock', action='store_true', help='publish /clock with bag time')
    parser.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SEC',
                        help='wait up to SEC seconds for each topic to have a subscriber')
    parser.add_argument('--delay', type=float, default=0.0, metavar='SEC',
                        help='sleep SEC seconds before the first message')
    parser.add_argument('-l', '--loop', action='store_true', help='play again until stopped')
    return parser


def main(args: list[str] | None = None) -> int:
    """Entry point of ``scenemem_bag_play``; returns the exit code."""
    from rclpy.executors import ExternalShutdownException
    from rclpy.utilities import remove_ros_args

    argv = sys.argv if args is None else ['scenemem_bag_play', *args]
    options = build_parser().parse_args(remove_ros_args(args=argv)[1:])
    try:
        config = PlayerConfig(rate=options.rate, topics=options.topics,
                              remap=_parse_remap(options.remap), publish_clock=options.clock,
                              wait_for_subscribers=options.wait_for_subscribers,
                              start_delay=options.delay)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        print(f'scenemem_bag_play: {exc}', file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    node = None
    player = None
    try:
        node = Node('scenemem_bag_play')
        player = BagPlayer(node, options.bag, config)
        while True:
            result = player.play()
            node.get_logger().info(
                f'published {result.total} messages ({result.published}) over '
                f'{result.wall_time:.2f} s')
            if not options.loop or result.interrupted:
                break
        return 0
    except DataError as exc:
        print(f'scenemem_bag_play: {exc}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        if player is not None:
            player.destroy()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
