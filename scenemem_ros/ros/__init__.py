"""scenemem_ros.ros."""
