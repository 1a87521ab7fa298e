"""``planner``: nav_msgs/srv/GetPlan on the memory's map with the live overrides.

Subscribes ``/map`` (reliable, transient-local: the latest map arrives at once and after every
override change), serves ``plan`` (nav_msgs/srv/GetPlan, relative to the node's namespace) and
publishes the last plan on ``path``. A failed request returns an empty path and logs why (start
or goal outside the map, in an obstacle, unreachable, unknown frame, no map yet).
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections import Counter
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Path
from nav_msgs.srv import GetPlan
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from scenemem_ros.errors import SceneMemError
from scenemem_ros.planning import PlannerConfig, PlanningGrid, plan
from scenemem_ros.planning.waypoints import thin_path
from scenemem_ros.ros.map_msgs import occupancy_msg_to_grid
from scenemem_ros.ros.params import declare_config, read_config, validating_callback
from scenemem_ros.ros.path_msgs import path_poses
from scenemem_ros.ros.scene_memory_node import MAP_QOS
from scenemem_ros.ros.spin import spin_node

RANGES = {'robot_radius': (0.0, 5.0)}


class PlannerNode(Node):
    """Thin adapter over ``scenemem_ros.planning``."""

    def __init__(self, node_name: str = 'planner', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, 'planner', PlannerConfig(), RANGES)
        self.declare_parameter('frame_id', 'map')
        self.declare_parameter('max_pose_spacing', 0.0, ParameterDescriptor(
            description='metres between the poses of a returned path: 0 sends one pose per grid '
                        'cell; > 0 sends the turning points and enough of each straight run to '
                        'keep poses at most this far apart (the same polyline, far fewer '
                        'poses to convert, send and rebuild)',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=100.0)]))
        self.add_on_set_parameters_callback(validating_callback(self, {'planner': PlannerConfig}))
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._grid: PlanningGrid | None = None
        self._map_version = 0
        self._config = read_config(self, 'planner', PlannerConfig)
        map_group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(OccupancyGrid, '/map', self._on_map, MAP_QOS,
                                 callback_group=map_group)
        self._path_publisher = self.create_publisher(Path, 'path', 10)
        self._status = self.create_publisher(String, 'status', 10)
        self.create_service(GetPlan, 'plan', self._on_plan,
                            callback_group=ReentrantCallbackGroup())

    def _on_map(self, msg: OccupancyGrid) -> None:
        try:
            spec, cells = occupancy_msg_to_grid(msg)
            config = read_config(self, 'planner', PlannerConfig)
            grid = PlanningGrid(cells, np.asarray(spec.origin), spec.resolution, config)
        except SceneMemError as error:
            self.counters['bad_map'] += 1
            self.get_logger().error(f'map refused: {error}')
            return
        with self._lock:
            self._grid = grid
            self._config = config
            self._map_version += 1
        self.get_logger().info(f'map {self._map_version}: {cells.shape[0]}x{cells.shape[1]} '
                               f'cells at {spec.resolution} m')

    def _pose_xy(self, pose: PoseStamped, role: str) -> tuple[float, float]:
        frame_id = str(self.get_parameter('frame_id').value)
        if pose.header.frame_id not in ('', frame_id):
            raise SceneMemError(f'{role} is in frame {pose.header.frame_id!r}; this planner '
                                f'works in {frame_id!r} (no tf lookup)')
        x, y = pose.pose.position.x, pose.pose.position.y
        if not (math.isfinite(x) and math.isfinite(y)):
            raise SceneMemError(f'{role} position is not finite ({x}, {y})')
        return x, y

    def _on_plan(self, request: GetPlan.Request, response: GetPlan.Response) -> GetPlan.Response:
        frame_id = str(self.get_parameter('frame_id').value)
        response.plan.header.frame_id = frame_id
        response.plan.header.stamp = self.get_clock().now().to_msg()
        with self._lock:
            grid = self._grid
        if grid is None:
            self.counters['no_map'] += 1
            self.get_logger().warning('plan requested before any map arrived')
            return response
        try:
            start = self._pose_xy(request.start, 'start')
            goal = self._pose_xy(request.goal, 'goal')
            tolerance = float(request.tolerance)
            if not math.isfinite(tolerance) or tolerance < 0:
                raise SceneMemError(f'tolerance must be a finite number >= 0, got {tolerance}')
            result = plan(grid, start, goal, tolerance)
        except SceneMemError as error:
            self.counters['bad_request'] += 1
            self.get_logger().warning(f'plan refused: {error}')
            return response
        if not result.success:
            self.counters[f'failed_{result.reason.name.lower()}'] += 1
            self.get_logger().warning(f'no plan from {start} to {goal}: {result.reason.name}: '
                                      f'{result.message}')
            return response
        self.counters['planned'] += 1
        spacing = float(self.get_parameter('max_pose_spacing').value)
        path = np.asarray(result.path)
        response.plan.poses = path_poses(path[thin_path(path, spacing)], frame_id,
                                         response.plan.header.stamp,
                                         request.goal.pose.orientation)
        if self._path_publisher.get_subscription_count() > 0:  # converting ~300 poses
            self._path_publisher.publish(response.plan)  # costs ms; skip it unheard
        return response

    def publish_status(self) -> None:
        self._status.publish(String(data=json.dumps(dict(self.counters))))


def main(args: list[str] | None = None) -> int:
    return spin_node(PlannerNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())
