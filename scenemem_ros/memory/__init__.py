"""scenemem_ros.memory."""
