"""scenemem_ros: a learned memory of known scenes for ROS 2 robots."""

__version__ = '0.1.0'
