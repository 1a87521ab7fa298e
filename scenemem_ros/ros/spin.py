"""The one ``main`` every scenemem node executable shares (portable to Humble)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException

from scenemem_ros.ros.executor import PooledExecutor


def spin_node(make_node: Callable[[], Any], args: list[str] | None = None,
              threads: int | None = None) -> int:
    """Init rclpy, spin the node on a PooledExecutor until Ctrl-C, shut down cleanly."""
    rclpy.init(args=args)
    node = make_node()
    executor = PooledExecutor(threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
