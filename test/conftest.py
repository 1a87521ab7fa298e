"""Session-wide test setup: DDS stays on loopback, one ROS domain per test process.

These variables are set before any test module imports rclpy. Users on real robots keep their own
DDS settings; only tests, benchmarks and the demo set these.
"""

import os

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'SHM')
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
os.environ.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '0')
