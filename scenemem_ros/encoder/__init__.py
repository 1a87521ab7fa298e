"""scenemem_ros.encoder."""
