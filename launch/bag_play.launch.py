"""Replay a scenemem rosbag2 recording through DDS with the recorded QoS.

    ros2 launch scenemem_ros bag_play.launch.py bag:=/path/to/before.bag rate:=1.0

`ros2 bag play` does the same on a full ROS install; this player also runs where rosbag2 is absent.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 folder to replay'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback speed factor'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        Node(
            package='scenemem_ros',
            executable='scenemem_bag_play',
            name='bag_player',
            output='screen',
            arguments=[LaunchConfiguration('bag'), '--rate', LaunchConfiguration('rate')],
            parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}],
        ),
    ])
