"""scenemem_ros.planning."""
