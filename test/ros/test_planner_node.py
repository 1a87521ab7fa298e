"""The planner node through real DDS: /map in, nav_msgs/GetPlan out, bad requests refused."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Path
from nav_msgs.srv import GetPlan
from rclpy.parameter import Parameter

from scenemem_ros.geometry.voxels import GridSpec2D
from scenemem_ros.planning import PlannerConfig, PlanningGrid, plan
from scenemem_ros.ros.map_msgs import grid_to_occupancy_msg, occupancy_msg_to_grid
from scenemem_ros.ros.planner_node import PlannerNode
from scenemem_ros.ros.scene_memory_node import MAP_QOS

pytestmark = pytest.mark.ros
RESOLUTION = 0.1
ORIGIN = (-2.0, -1.0)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def floor_cells() -> np.ndarray:
    """(60, 40) cells at 0.1 m: a wall at x = 30 with a 1 m door, a table, unknown edge."""
    cells = np.zeros((60, 40), np.int8)
    cells[30:32, :] = 100
    cells[30:32, 25:35] = 0
    cells[10:16, 5:12] = 100
    cells[:, 38:] = -1
    return cells


def map_msg() -> OccupancyGrid:
    cells = floor_cells()
    spec = GridSpec2D(origin=ORIGIN, resolution=RESOLUTION, shape=cells.shape)
    return grid_to_occupancy_msg(spec, cells, 'map', 1.0)


def reference_grid() -> PlanningGrid:
    """The grid the node builds: from the message, whose resolution travels as float32."""
    spec, cells = occupancy_msg_to_grid(map_msg())
    return PlanningGrid(cells, np.asarray(spec.origin), float(np.float32(spec.resolution)),
                        PlannerConfig(robot_radius=0.2))


def start_planner(ros, **parameters) -> PlannerNode:
    overrides = [Parameter(name, value=value) for name, value in parameters.items()]
    node = PlannerNode(context=ros.context, namespace=ros.namespace,
                       parameter_overrides=overrides)
    ros._nodes.append(node)
    ros.executor.add_node(node)
    return node


def publish_map(ros, node: PlannerNode):
    publisher_node = ros.node('map_source')
    publisher = publisher_node.create_publisher(OccupancyGrid, '/map', MAP_QOS)
    publisher.publish(map_msg())
    assert wait_for(lambda: node._grid is not None), 'the planner never got the map'
    return publisher


def pose(x: float, y: float, frame_id: str = 'map') -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame_id
    msg.pose.position.x, msg.pose.position.y = x, y
    msg.pose.orientation.w = 1.0
    return msg


def request(start, goal, tolerance=0.0, start_frame='map') -> GetPlan.Request:
    return GetPlan.Request(start=pose(*start, frame_id=start_frame), goal=pose(*goal),
                           tolerance=tolerance)


def call(client, req, timeout=10.0) -> GetPlan.Response:
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(req)
    assert wait_for(future.done, timeout)
    return future.result()


def xy(response: GetPlan.Response) -> np.ndarray:
    return np.array([[p.pose.position.x, p.pose.position.y] for p in response.plan.poses])


@pytest.fixture
def planner(ros):
    node = start_planner(ros, **{'planner.robot_radius': 0.2})
    client_node = ros.node('client')
    client = client_node.create_client(GetPlan, f'{ros.namespace}/plan')
    return node, client_node, client


def test_a_plan_before_any_map_is_empty(ros, planner):
    node, _, client = planner
    response = call(client, request((0.0, 0.0), (1.0, 1.0)))
    assert response.plan.poses == [] and node.counters['no_map'] == 1


def test_plans_through_the_door_and_publishes_them(ros, planner):
    node, client_node, client = planner
    published: list[Path] = []
    client_node.create_subscription(Path, f'{ros.namespace}/path', published.append, 10)
    publish_map(ros, node)
    assert wait_for(lambda: node._path_publisher.get_subscription_count() > 0)
    start, goal = (-1.55, 0.05), (3.35, -0.65)
    response = call(client, request(start, goal))
    path = xy(response)
    assert response.plan.header.frame_id == 'map' and len(path) > 10
    np.testing.assert_allclose(path[0], start, atol=1e-9)
    np.testing.assert_allclose(path[-1], goal, atol=1e-9)
    steps = np.linalg.norm(np.diff(path[1:-1], axis=0), axis=1)
    assert steps.max() <= RESOLUTION * math.sqrt(2) + 1e-6  # float32 resolution
    grid = reference_grid()
    cells = grid.point_to_cell(path)
    assert grid.free[cells[:, 0], cells[:, 1]].all()
    assert ((cells[:, 0] >= 30) & (cells[:, 0] < 32)).any()  # it went through the wall's door
    assert cells[(cells[:, 0] >= 30) & (cells[:, 0] < 32), 1].min() >= 25
    np.testing.assert_allclose(path, plan(grid, start, goal).path)
    assert all(p.header.frame_id == 'map' for p in response.plan.poses)
    assert wait_for(lambda: published and len(published[-1].poses) == len(path))
    assert node.counters['planned'] == 1


def test_bad_requests_return_empty_paths_and_the_node_keeps_serving(ros, planner):
    node, _, client = planner
    publish_map(ros, node)
    good = request((-1.55, 0.05), (0.45, 0.05))
    outside = call(client, request((-1.55, 0.05), (9.0, 0.0), tolerance=1.0))
    assert outside.plan.poses == [] and node.counters['failed_goal_outside_map'] == 1
    assert len(call(client, good).plan.poses) > 2
    wrong_frame = call(client, request((-1.55, 0.05), (0.45, 0.05), start_frame='odom'))
    assert wrong_frame.plan.poses == [] and node.counters['bad_request'] == 1
    not_a_number = call(client, request((math.nan, 0.05), (0.45, 0.05)))
    assert not_a_number.plan.poses == [] and node.counters['bad_request'] == 2
    negative = call(client, request((-1.55, 0.05), (0.45, 0.05), tolerance=-1.0))
    assert negative.plan.poses == [] and node.counters['bad_request'] == 3
    assert len(call(client, good).plan.poses) > 2 and node.counters['planned'] == 2


def test_goal_in_an_obstacle_needs_a_tolerance(ros, planner):
    node, _, client = planner
    publish_map(ros, node)
    table = (-0.7, -0.15)  # the middle of the table, cells (13, 8)
    refused = call(client, request((-1.55, 1.05), table))
    assert refused.plan.poses == [] and node.counters['failed_goal_in_obstacle'] == 1
    accepted = xy(call(client, request((-1.55, 1.05), table, tolerance=1.0)))
    assert len(accepted) > 2
    assert 0 < np.linalg.norm(accepted[-1] - table) <= 1.0
    grid = reference_grid()
    end = grid.point_to_cell(accepted[-1])
    assert grid.free[end[0], end[1]]
    np.testing.assert_allclose(accepted[-1], grid.cell_centre(end))


def test_max_pose_spacing_sends_the_same_polyline_with_fewer_poses(ros, planner):
    node, _, client = planner
    publish_map(ros, node)
    start, goal = (-1.55, 0.05), (3.35, -0.65)
    dense = xy(call(client, request(start, goal)))
    node.set_parameters([Parameter('max_pose_spacing', value=0.5)])
    sparse = xy(call(client, request(start, goal)))
    assert 2 <= len(sparse) < len(dense) / 2
    np.testing.assert_allclose(sparse[[0, -1]], dense[[0, -1]], atol=1e-12)
    length = lambda p: np.linalg.norm(np.diff(p, axis=0), axis=1).sum()  # noqa: E731
    assert length(sparse) == pytest.approx(length(dense), abs=1e-9)
    assert np.linalg.norm(np.diff(sparse, axis=0), axis=1).max() <= 0.5 + 1e-9
    refused = node.set_parameters([Parameter('max_pose_spacing', value=-1.0)])
    assert not refused[0].successful
    assert node.get_parameter('max_pose_spacing').value == 0.5
