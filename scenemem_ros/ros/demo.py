"""The end-to-end demo through real DDS: plan, replay a changed scene, notice, plan again.

1. the scenemem nodes start in one process on the bundled memory (`start_nodes`);
2. a real rclpy client asks ``/scenemem/plan`` for a path between the two rooms joined by the
   doorway that will be blocked;
3. the "after" bag (the same apartment, that doorway blocked) is played through DDS with its
   recorded QoS; the change detector publishes an override, the memory republishes ``/map``;
4. the same request now routes around the blocked doorway.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid
from nav_msgs.srv import GetPlan
from rclpy.client import Client
from visualization_msgs.msg import MarkerArray

from scenemem_ros.errors import SceneMemError
from scenemem_ros.ros.bag_player import BagPlayer, PlayerConfig
from scenemem_ros.ros.dds import loopback_environment
from scenemem_ros.ros.map_msgs import occupancy_msg_to_grid
from scenemem_ros.ros.runner import start_nodes
from scenemem_ros.ros.scene_memory_node import MAP_QOS


@dataclass(frozen=True)
class DemoRequest:
    """Inputs of the ROS part of the demo."""

    model: Path
    after_bag: Path
    start_xy: tuple[float, float]
    goal_xy: tuple[float, float]
    params_file: Path
    journal: Path
    playback_rate: float = 4.0
    timeout: float = 90.0


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SceneMemError(f'demo: timed out after {timeout:.0f} s waiting for {what}')


def _pose(xy: tuple[float, float]) -> PoseStamped:
    pose = PoseStamped()
    pose.header.frame_id = 'map'
    pose.pose.position.x, pose.pose.position.y = float(xy[0]), float(xy[1])
    pose.pose.orientation.w = 1.0
    return pose


def _plan(client: Any, request: DemoRequest) -> tuple[np.ndarray, float]:
    call = GetPlan.Request(start=_pose(request.start_xy), goal=_pose(request.goal_xy),
                           tolerance=0.2)
    started = time.perf_counter()
    future = client.call_async(call)
    _wait(future.done, 30.0, 'the plan service to answer')
    seconds = time.perf_counter() - started
    poses = future.result().plan.poses
    return np.array([[p.pose.position.x, p.pose.position.y] for p in poses]).reshape(-1, 2), \
        seconds


def path_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 0.0


def run_ros_demo(request: DemoRequest) -> dict[str, Any]:
    """Run the nodes, plan, replay, plan again; returns what happened (and the maps)."""
    for key, value in loopback_environment(1 + os.getpid() % 100).items():
        os.environ.setdefault(key, value)
    request.journal.unlink(missing_ok=True)
    running = start_nodes(request.params_file, request.model,
                          extra_parameters={'scene_memory': {
                              'memory.journal_path': str(request.journal)}})
    results: dict[str, Any] = {}
    try:
        client_node = rclpy.create_node('scenemem_demo_client', context=running.context)
        running.executor.add_node(client_node)
        maps: list[OccupancyGrid] = []
        overrides: list[MarkerArray] = []
        client_node.create_subscription(OccupancyGrid, '/map', maps.append, MAP_QOS)
        client_node.create_subscription(MarkerArray, '/scenemem/overrides', overrides.append,
                                        MAP_QOS)
        planner: Client[Any, Any] = client_node.create_client(GetPlan, '/scenemem/plan')
        _wait(lambda: bool(maps), request.timeout, 'the first /map')
        _wait(lambda: planner.service_is_ready(), request.timeout, '/scenemem/plan')
        planner_node = running.nodes['planner']
        _wait(lambda: planner_node._map_version >= 1, request.timeout,
              'the planner to take the first map')
        first_map = maps[-1]
        before, before_seconds = _plan(planner, request)
        if len(before) == 0:
            raise SceneMemError('demo: no plan on the memory before the change')
        player = BagPlayer(client_node, request.after_bag,
                           PlayerConfig(rate=request.playback_rate, wait_for_subscribers=5.0))
        played_at = time.perf_counter()
        play = player.play()
        results['played_messages'] = int(sum(play.published.values()))
        results['playback_seconds'] = play.wall_time

        def detected() -> bool:
            return bool(overrides) and any(m.action == m.ADD for m in overrides[-1].markers)

        _wait(detected, request.timeout, 'an override from the change detector')
        results['override_seconds_after_replay_start'] = time.perf_counter() - played_at
        time.sleep(0.2)  # let the republished /map reach the planner, then its grid be built
        _wait(lambda: planner_node._map_version >= len(maps), request.timeout,
              'the planner to take the new map')
        after, after_seconds = _plan(planner, request)
        records = [json.loads(m.text) for m in overrides[-1].markers if m.action == m.ADD]
        results.update({
            'plan_before_m': path_length(before), 'plan_after_m': path_length(after),
            'plan_before_poses': len(before), 'plan_after_poses': len(after),
            'plan_before_ms': before_seconds * 1000, 'plan_after_ms': after_seconds * 1000,
            'overrides': [{k: r[k] for k in ('id', 'kind', 'region', 'confidence')}
                          for r in records],
            'maps_received': len(maps)})
        results['_paths'] = (before, after)
        results['_maps'] = (occupancy_msg_to_grid(first_map), occupancy_msg_to_grid(maps[-1]))
        player.destroy()
    finally:
        running.stop()
    return results
