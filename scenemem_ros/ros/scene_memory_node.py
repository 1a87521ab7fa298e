"""``scene_memory``: serves the memory's map with the live overrides (lifecycle node).

configure: load the checkpoint and the override journal (a missing or corrupt model fails the
transition with a clear log line; the node stays up, unconfigured). activate: publish ``/map``.
Topics and services (relative names resolve in the node's namespace, ``/scenemem`` by default):

- ``/map`` nav_msgs/OccupancyGrid, reliable + transient-local, republished when overrides
  change, at most once per ``min_map_period`` seconds: updates that arrive sooner are coalesced
  into the next publication (at most ``min_map_period`` later); activating and clearing publish
  at once
- ``get_map`` nav_msgs/srv/GetMap
- ``overrides`` visualization_msgs/MarkerArray: the live overrides (RViz)
- ``override_updates`` visualization_msgs/MarkerArray in: ADD / DELETE / DELETEALL from the change
  detector and from operators (see override_msgs)
- ``save_overrides``, ``clear_overrides`` std_srvs/srv/Trigger
- ``status`` std_msgs/String: JSON counters of everything refused
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from nav_msgs.msg import OccupancyGrid
from nav_msgs.srv import GetMap
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from scenemem_ros.errors import SceneMemError
from scenemem_ros.memory.live_map import LiveMap, LiveMapConfig
from scenemem_ros.ros.map_msgs import grid_to_occupancy_msg
from scenemem_ros.ros.override_msgs import marker_to_update, overrides_to_marker_array
from scenemem_ros.ros.params import declare_config, read_config, validating_callback
from scenemem_ros.ros.spin import spin_node

MAP_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
RANGES = {'resolution': (0.005, 1.0), 'z_min': (-5.0, 10.0), 'z_max': (-5.0, 10.0),
          'supersample': (1, 8)}


class SceneMemoryNode(LifecycleNode):
    """Thin adapter over ``LiveMap``."""

    def __init__(self, node_name: str = 'scene_memory', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, 'memory', LiveMapConfig(), RANGES)
        self.declare_parameter('frame_id', 'map')
        self.declare_parameter('autostart', False)
        self.declare_parameter('expiry_period', 1.0)
        self.declare_parameter('min_map_period', 0.5)
        self.add_on_set_parameters_callback(validating_callback(self, {'memory': LiveMapConfig}))
        self.live_map: LiveMap | None = None
        self.counters: Counter[str] = Counter()
        self._published_version = -1
        self._published_at = -float('inf')
        self._min_map_period = 0.0
        self._map_publisher: Any = None
        self._entities: list[Any] = []
        self._is_active = False
        self._autostart_timer = (self.create_timer(0.0, self._autostart_once)
                                 if self.get_parameter('autostart').value else None)

    # ------------------------------------------------------------------ lifecycle
    def _autostart_once(self) -> None:
        if self._autostart_timer is not None:
            self.destroy_timer(self._autostart_timer)
            self._autostart_timer = None
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            config = read_config(self, 'memory', LiveMapConfig)
            self.live_map = LiveMap(config)
        except SceneMemError as error:
            self.counters['configure_failed'] += 1
            self.get_logger().error(f'cannot configure: {error}')
            return TransitionCallbackReturn.FAILURE
        spec = self.live_map.spec
        self.get_logger().info(
            f'memory scene {self.live_map.scene!r}: {spec.shape[0]}x{spec.shape[1]} cells at '
            f'{spec.resolution} m, {len(self.live_map.overrides())} overrides restored')
        self._min_map_period = max(float(self.get_parameter('min_map_period').value), 0.0)
        self._map_publisher = self.create_publisher(OccupancyGrid, '/map', MAP_QOS)
        self._markers = self.create_publisher(MarkerArray, 'overrides', MAP_QOS)
        self._status = self.create_publisher(String, 'status', 10)
        self._entities = [
            self._map_publisher, self._markers, self._status,
            self.create_service(GetMap, 'get_map', self._get_map),
            self.create_service(Trigger, 'save_overrides', self._save),
            self.create_service(Trigger, 'clear_overrides', self._clear),
            self.create_subscription(MarkerArray, 'override_updates', self._on_updates, 100),
            self.create_timer(float(self.get_parameter('expiry_period').value), self._tick),
        ]
        if self._min_map_period > 0:  # publishes what was coalesced
            self._entities.append(self.create_timer(self._min_map_period, self._flush))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._is_active = True
        self._published_version = -1
        self._publish_if_changed(force=True)
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._is_active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _teardown(self) -> None:
        self._is_active = False
        for entity in self._entities:
            if isinstance(entity, Timer):
                self.destroy_timer(entity)
            elif isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, Service):
                self.destroy_service(entity)
            elif isinstance(entity, Subscription):
                self.destroy_subscription(entity)
        self._entities = []
        if self.live_map is not None:
            self.live_map.close()
            self.live_map = None

    # ------------------------------------------------------------------ behaviour
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _active(self) -> bool:
        return self.live_map is not None and self._is_active

    def _publish_if_changed(self, force: bool = False) -> None:
        """Publish /map and the override markers if the overrides changed since last time.

        Unless ``force``, a change within ``min_map_period`` of the last publication waits for
        ``_flush`` (counted as ``map_coalesced``).
        """
        if self.live_map is None:
            return
        spec, cells, version = self.live_map.grid()
        if version == self._published_version:
            return
        if not force and time.monotonic() - self._published_at < self._min_map_period:
            self.counters['map_coalesced'] += 1
            return
        frame_id = str(self.get_parameter('frame_id').value)
        now = self._now()
        self._map_publisher.publish(grid_to_occupancy_msg(spec, cells, frame_id, now,
                                                          self.live_map.config.z_min))
        self._markers.publish(overrides_to_marker_array(
            sorted(self.live_map.overrides().values(), key=lambda o: o.id), frame_id, now))
        self._published_version = version
        self._published_at = time.monotonic()
        self.counters['map_published'] += 1

    def _flush(self) -> None:
        if self._active():
            self._publish_if_changed()

    def _on_updates(self, msg: MarkerArray) -> None:
        if self.live_map is None:
            self.counters['updates_while_unconfigured'] += 1
            return
        now = self._now()
        for marker in msg.markers:
            try:
                action, value = marker_to_update(marker, now)
                if action == 'put':
                    self.live_map.put(value, now)
                elif action == 'delete':
                    if not self.live_map.remove(value, now):
                        self.counters['delete_unknown_id'] += 1
                else:
                    self.live_map.clear()
                self.counters[f'update_{action}'] += 1
            except SceneMemError as error:
                self.counters['malformed_override'] += 1
                self.get_logger().warning(f'override update refused: {error}')
        if self._active():
            self._publish_if_changed()

    def _get_map(self, request: GetMap.Request, response: GetMap.Response) -> GetMap.Response:
        if self.live_map is None:
            self.counters['get_map_unconfigured'] += 1
            self.get_logger().warning('get_map called before the memory is configured')
            return response
        spec, cells, _ = self.live_map.grid()
        response.map = grid_to_occupancy_msg(spec, cells, str(self.get_parameter('frame_id')
                                                               .value), self._now(),
                                             self.live_map.config.z_min)
        return response

    def _save(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            assert self.live_map is not None
            response.message = f'overrides saved to {self.live_map.save()}'
            response.success = True
        except (SceneMemError, AssertionError) as error:
            response.success, response.message = False, f'cannot save overrides: {error}'
        return response

    def _clear(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.live_map is None:
            response.success, response.message = False, 'memory is not configured'
            return response
        count = self.live_map.clear()
        if self._active():
            self._publish_if_changed(force=True)
        response.success, response.message = True, f'{count} overrides cleared'
        return response

    def _tick(self) -> None:
        if self.live_map is not None:
            expired = self.live_map.expire(self._now())
            self.counters['expired'] += len(expired)
        if self._active():
            self._publish_if_changed()
            self._status.publish(String(data=json.dumps(dict(self.counters))))


def main(args: list[str] | None = None) -> int:
    return spin_node(SceneMemoryNode, args, threads=None)


if __name__ == '__main__':
    sys.exit(main())
