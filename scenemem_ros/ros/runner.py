"""All scenemem nodes in one process (``PooledExecutor``), for machines without
``ros2 launch`` and for the demo and tests. ``scenemem run`` is its command line.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.parameter import Parameter

from scenemem_ros.ros.executor import PooledExecutor

DEFAULT_NAMESPACE = '/scenemem'


@dataclass
class RunningNodes:
    """The nodes of one in-process run and the executor thread spinning them."""

    context: Any
    executor: PooledExecutor
    nodes: dict[str, Any]
    thread: threading.Thread
    owns_context: bool = True
    stopped: bool = field(default=False)

    def stop(self) -> None:
        """Shut down in the safe order: executor, thread, nodes, then the context."""
        if self.stopped:
            return
        self.stopped = True
        self.executor.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=10.0)
        for node in self.nodes.values():
            node.destroy_node()
        if self.owns_context:
            rclpy.try_shutdown(context=self.context)


def start_nodes(params_file: Path | None = None, model: Path | None = None,
                namespace: str = DEFAULT_NAMESPACE, context: Any = None,
                extra_parameters: dict[str, dict[str, Any]] | None = None,
                nodes: Sequence[str] = ('scene_memory', 'planner', 'change_detector'),
                domain_id: int | None = None) -> RunningNodes:
    """Start the nodes in a background executor thread; ``model`` overrides the params file."""
    from scenemem_ros.ros.planner_node import PlannerNode
    from scenemem_ros.ros.scene_memory_node import SceneMemoryNode

    constructors: dict[str, Any] = {'scene_memory': SceneMemoryNode, 'planner': PlannerNode}
    if 'change_detector' in nodes:
        from scenemem_ros.ros.change_detector_node import ChangeDetectorNode

        constructors['change_detector'] = ChangeDetectorNode
    owns_context = context is None
    if owns_context:
        context = rclpy.Context()
        arguments = ['--ros-args', '--params-file', str(params_file)] if params_file else []
        kwargs: dict[str, Any] = {'domain_id': domain_id} if domain_id is not None else {}
        rclpy.init(args=['scenemem', *arguments], context=context, **kwargs)
    overrides = {name: dict(values) for name, values in (extra_parameters or {}).items()}
    overrides.setdefault('scene_memory', {}).setdefault('autostart', True)
    if model is not None:
        overrides['scene_memory']['memory.model_path'] = str(model)
        overrides.setdefault('change_detector', {})['model_path'] = str(model)
    executor = PooledExecutor(6, context=context)
    created: dict[str, Any] = {}
    for name in nodes:
        parameters = [Parameter(key, value=value)
                      for key, value in overrides.get(name, {}).items()]
        node = constructors[name](context=context, namespace=namespace,
                                  parameter_overrides=parameters)
        created[name] = node
        executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except (ExternalShutdownException, KeyboardInterrupt):
            pass

    thread = threading.Thread(target=spin, name='scenemem-executor', daemon=True)
    thread.start()
    return RunningNodes(context, executor, created, thread, owns_context)
