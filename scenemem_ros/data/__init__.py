"""Frame/Sequence types, rosbag2 read/write, dataset readers (no ROS imports)."""
