"""scenemem_ros.training."""
