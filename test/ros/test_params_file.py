"""config/memory.yaml names only parameters the nodes declare, with values they accept.

rclpy silently ignores a params-file entry that no node declares, so a typo in the shipped file
would go unnoticed without this check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rclpy
import yaml

from scenemem_ros.ros.change_detector_node import ChangeDetectorNode
from scenemem_ros.ros.planner_node import PlannerNode
from scenemem_ros.ros.scene_memory_node import SceneMemoryNode

pytestmark = pytest.mark.ros
PARAMS = Path(__file__).resolve().parents[2] / 'config' / 'memory.yaml'
NODES = {'scene_memory': SceneMemoryNode, 'planner': PlannerNode,
         'change_detector': ChangeDetectorNode}


def flatten(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
    """Nested YAML parameters -> {'a.b.c': value}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat


def test_every_node_section_matches_the_declared_parameters(ros_env):
    sections = yaml.safe_load(PARAMS.read_text())
    assert set(sections) == {f'/**/{name}' for name in NODES}
    context = rclpy.Context()
    rclpy.init(args=['test', '--ros-args', '--params-file', str(PARAMS)], context=context,
               domain_id=ros_env)
    try:
        for name, constructor in NODES.items():
            expected = flatten(sections[f'/**/{name}']['ros__parameters'])
            node = constructor(context=context, namespace='/scenemem')
            try:
                undeclared = [key for key in expected if not node.has_parameter(key)]
                assert not undeclared, f'{name}: {undeclared} are not declared'
                for key, value in expected.items():
                    actual = node.get_parameter(key).value
                    if isinstance(value, list):
                        actual = list(actual)
                    assert actual == value, (name, key, actual, value)
            finally:
                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
