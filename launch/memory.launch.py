"""Start the scene memory, the change detector and the planner.

    ros2 launch scenemem_ros memory.launch.py [params_file:=FILE] [model:=FILE]
        [namespace:=/scenemem] [use_sim_time:=false]

``model`` (when given) overrides the checkpoint named in the params file for both the memory and
the change detector. The scene_memory node is a lifecycle node with ``autostart`` on, so it
configures and activates itself; set ``autostart: false`` to drive it from a lifecycle manager.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

PACKAGE = 'scenemem_ros'


def nodes(context, *args, **kwargs):
    params_file = LaunchConfiguration('params_file').perform(context)
    model = LaunchConfiguration('model').perform(context)
    namespace = LaunchConfiguration('namespace').perform(context)
    use_sim_time = LaunchConfiguration('use_sim_time').perform(context).lower() == 'true'
    common = {'use_sim_time': use_sim_time}
    memory_overrides = dict(common)
    detector_overrides = dict(common)
    if model:
        memory_overrides['memory.model_path'] = model
        detector_overrides['model_path'] = model
    return [
        LifecycleNode(package=PACKAGE, executable='scene_memory', name='scene_memory',
                      namespace=namespace, output='screen',
                      parameters=[params_file, memory_overrides]),
        Node(package=PACKAGE, executable='change_detector', name='change_detector',
             namespace=namespace, output='screen', parameters=[params_file, detector_overrides]),
        Node(package=PACKAGE, executable='planner', name='planner', namespace=namespace,
             output='screen', parameters=[params_file, common]),
    ]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'memory.yaml'),
                              description='Nav2-style parameter file'),
        DeclareLaunchArgument('model', default_value='',
                              description='memory checkpoint; overrides the params file'),
        DeclareLaunchArgument('namespace', default_value='/scenemem'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        OpaqueFunction(function=nodes),
    ])
