"""Only scenemem_ros/ros/ may import rclpy or ROS message packages (style rule 1)."""

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / 'scenemem_ros'
ROS_MODULE_PREFIXES = ('rclpy', 'rosidl', 'launch', 'ament_index_python', 'tf2')
ROS_MODULE_SUFFIXES = ('_msgs', '_srvs')


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


def _is_ros_module(name: str) -> bool:
    top = name.split('.')[0]
    return top.startswith(ROS_MODULE_PREFIXES) or top.endswith(ROS_MODULE_SUFFIXES)


def test_core_modules_never_import_ros():
    offenders = []
    for path in sorted(PACKAGE_ROOT.rglob('*.py')):
        relative = path.relative_to(PACKAGE_ROOT)
        if relative.parts[0] == 'ros':
            continue
        offenders += [f'{relative}: {m}' for m in _imported_modules(path) if _is_ros_module(m)]
    assert offenders == []


def test_the_check_sees_ros_imports(tmp_path):
    sample = tmp_path / 'sample.py'
    sample.write_text('import numpy\nimport rclpy.node\nfrom sensor_msgs.msg import Image\n'
                      'from nav_msgs.srv import GetMap\nfrom . import sibling\n')
    flagged = [m for m in _imported_modules(sample) if _is_ros_module(m)]
    assert flagged == ['rclpy.node', 'sensor_msgs.msg', 'nav_msgs.srv']
