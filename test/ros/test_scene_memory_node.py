"""The scene_memory lifecycle node through real DDS: map, GetMap, overrides, journal, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from nav_msgs.msg import OccupancyGrid
from nav_msgs.srv import GetMap
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from scenemem_ros.ros.map_msgs import occupancy_msg_to_grid
from scenemem_ros.ros.scene_memory_node import MAP_QOS, SceneMemoryNode

pytestmark = pytest.mark.ros
MODEL = Path(__file__).resolve().parents[2] / 'models' / 'memory_demo.npz'


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def start_memory(ros, **parameters):
    overrides = [Parameter(name, value=value) for name, value in parameters.items()]
    node = SceneMemoryNode(context=ros.context, namespace=ros.namespace,
                           parameter_overrides=overrides)
    ros._nodes.append(node)
    ros.executor.add_node(node)
    return node


def call(client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)
    assert wait_for(future.done, timeout)
    return future.result()


def cube(ns, marker_id, centre, size, action=Marker.ADD, text=''):
    marker = Marker(ns=ns, id=marker_id, type=Marker.CUBE, action=action, text=text)
    marker.header.frame_id = 'map'
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = centre
    marker.pose.orientation.w = 1.0
    marker.scale.x, marker.scale.y, marker.scale.z = size
    return marker


def test_a_missing_model_fails_configure_and_the_node_stays_up(ros, tmp_path):
    node = start_memory(ros, **{'memory.model_path': str(tmp_path / 'missing.npz')})
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert node.counters['configure_failed'] == 1
    (tmp_path / 'corrupt.npz').write_bytes(b'PK\x03\x04 not really')
    node.set_parameters([Parameter('memory.model_path', value=str(tmp_path / 'corrupt.npz'))])
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    node.set_parameters([Parameter('memory.model_path', value=str(MODEL))])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS


def test_invalid_parameter_values_are_refused(ros):
    node = start_memory(ros, **{'memory.model_path': str(MODEL)})
    result = node.set_parameters([Parameter('memory.z_max', value=-1.0)])[0]
    assert not result.successful and 'z_max > z_min' in result.reason
    result = node.set_parameters([Parameter('memory.supersample', value=99)])[0]
    assert not result.successful


def test_map_get_map_and_operator_overrides(ros, tmp_path):
    journal = tmp_path / 'overrides.journal'
    node = start_memory(ros, **{'memory.model_path': str(MODEL),
                                'memory.journal_path': str(journal), 'autostart': True})
    client_node = ros.node('client')
    maps: list[OccupancyGrid] = []
    client_node.create_subscription(OccupancyGrid, '/map', maps.append, MAP_QOS)
    assert wait_for(lambda: maps, 60.0), 'no /map received'
    assert node._is_active
    spec, cells = occupancy_msg_to_grid(maps[-1])
    assert (cells == 100).sum() > 100 and (cells == 0).sum() > 1000
    response = call(client_node.create_client(GetMap, f'{ros.namespace}/get_map'),
                    GetMap.Request())
    assert response.map.info.width == spec.shape[0] and bytes(response.map.data) == \
        bytes(maps[-1].data)

    free = np.argwhere(cells == 0)[len(np.argwhere(cells == 0)) // 2]
    centre = np.asarray(spec.origin) + (free + 0.5) * spec.resolution
    updates = client_node.create_publisher(MarkerArray, f'{ros.namespace}/override_updates', 10)
    shown: list[MarkerArray] = []
    client_node.create_subscription(MarkerArray, f'{ros.namespace}/overrides', shown.append,
                                    MAP_QOS)
    count = len(maps)
    bad = cube('blocked_region', 2, (1.0, 1.0, 1.0), (0.0, 1.0, 1.0))
    updates.publish(MarkerArray(markers=[
        cube('blocked_region', 1, (centre[0], centre[1], 0.5), (0.3, 0.3, 1.0)), bad,
        cube('x', 3, (0, 0, 0), (1, 1, 1), text='{not json')]))
    assert wait_for(lambda: len(maps) > count)
    _, blocked = occupancy_msg_to_grid(maps[-1])
    assert blocked[tuple(free)] == 100
    assert wait_for(lambda: node.counters['malformed_override'] == 2)
    assert wait_for(lambda: shown and any(m.action == Marker.ADD for m in shown[-1].markers))
    record = json.loads([m for m in shown[-1].markers if m.action == Marker.ADD][0].text)
    assert record['source'] == 'operator' and record['kind'] == 'blocked_region'

    # the journal restores the override after a restart
    assert call(client_node.create_client(Trigger, f'{ros.namespace}/save_overrides'),
                Trigger.Request()).success
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert 'blocked_region-1' in node.live_map.overrides()

    node.trigger_activate()
    count = len(maps)
    updates.publish(MarkerArray(markers=[cube('blocked_region', 1, (0, 0, 0), (1, 1, 1),
                                              action=Marker.DELETE)]))
    assert wait_for(lambda: len(maps) > count and occupancy_msg_to_grid(maps[-1])[1][
        tuple(free)] == 0)


def test_bursts_of_updates_are_coalesced_into_one_map(ros):
    node = start_memory(ros, **{'memory.model_path': str(MODEL), 'autostart': True,
                                'min_map_period': 1.0})
    assert wait_for(lambda: node._is_active and node.counters['map_published'] == 1, 60.0)
    # a burst of updates within min_map_period: at most one publication now (none if the
    # activation's was less than a period ago), the rest waits for the flush timer
    for index in range(5):
        node._on_updates(MarkerArray(markers=[
            cube('blocked_region', index, (1.0 + index, 1.0, 0.5), (0.3, 0.3, 1.0))]))
    assert node.counters['map_published'] <= 2 and node.counters['map_coalesced'] >= 4
    assert wait_for(lambda: node._published_version == node.live_map.version, 10.0)
    published = node.counters['map_published']
    assert published <= 3
    time.sleep(1.5)
    assert node.counters['map_published'] == published  # nothing new to publish
    assert len(node.live_map.overrides()) == 5
