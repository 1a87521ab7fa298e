"""scenemem_ros.changes."""
