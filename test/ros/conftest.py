"""rclpy fixtures: DDS on loopback, a per-test context and domain, an executor in a thread.

"""

from __future__ import annotations

import itertools
import os
import threading
import uuid

import numpy as np
import pytest
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from scenemem_ros.data.frame import Frame, Sequence  # noqa: E402
from scenemem_ros.geometry.camera import PinholeCamera  # noqa: E402
from scenemem_ros.ros.dds import MAX_DOMAIN_ID, loopback_environment  # noqa: E402
from scenemem_ros.ros.executor import PooledExecutor  # noqa: E402

_counter = itertools.count()


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..101 that differs between tests, processes and xdist workers."""
    worker = os.environ.get('PYTEST_XDIST_WORKER', 'gw0')
    worker_index = int(worker[2:]) if worker[2:].isdigit() else 0
    return 1 + (os.getpid() * 7 + worker_index * 13 + next(_counter) * 17) % MAX_DOMAIN_ID


class RosHarness:
    """A started rclpy context with an executor spinning in a thread.

    Attributes:
        context: the per-test ``rclpy.Context``.
        executor: spins every node made by :meth:`node` in a background thread.
        domain_id: the test's ROS_DOMAIN_ID.
        namespace: a unique topic prefix (``/t<hex>``) for this test.
    """

    def __init__(self, domain_id: int, threads: int = 1) -> None:
        self.domain_id = domain_id
        self.namespace = f'/t{uuid.uuid4().hex[:12]}'
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.executor = SingleThreadedExecutor(context=self.context) if threads == 1 else \
            PooledExecutor(threads, context=self.context)
        self._nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - the context shutting down ends the spin
            pass

    def node(self, name: str):
        """A node in this context, spun by the executor and destroyed at teardown."""
        node = rclpy.create_node(name, context=self.context)
        self._nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self) -> None:
        # Order matters: stop and join the spinning thread before rclpy.shutdown(), or the
        # process aborts.
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=10.0)
        for node in self._nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def ros_env(monkeypatch):
    """Loopback-only DDS environment with a unique domain, set before rclpy.init."""
    domain_id = unique_domain_id()
    for key, value in loopback_environment(domain_id).items():
        monkeypatch.setenv(key, value)
    return domain_id


@pytest.fixture
def ros(ros_env):
    """A :class:`RosHarness`, shut down in the safe order after the test."""
    harness = RosHarness(ros_env)
    try:
        yield harness
    finally:
        harness.close()


def make_sequence(count: int = 4, height: int = 48, width: int = 64, seed: int = 0) -> Sequence:
    """``count`` frames of a tilted plane with NaN holes; stamps 0.05 s apart."""
    rng = np.random.default_rng(seed)
    camera = PinholeCamera(fx=52.5, fy=51.0, cx=31.7, cy=23.2, width=width, height=height)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for i in range(count):
        depth = 0.8 + 0.3 * i + 0.017 * u + 0.011 * v
        depth[rng.random((height, width)) < 0.05] = np.nan
        angle = 0.3 * i + 0.1
        pose = np.eye(4)
        pose[:3, :3] = [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                        [0, 0, 1]]
        pose[:3, 3] = [0.5 * i, -0.2, 1.1]
        frames.append(Frame(stamp=1_700_000_000.0 + 0.05 * i, camera=camera,
                            camera_to_world=pose, depth=depth.astype(np.float32)))
    return Sequence(frames=frames, name='synthetic')


@pytest.fixture
def sequence_factory():
    return make_sequence


@pytest.fixture
def ros_threaded(ros_env):
    """A :class:`RosHarness` spinning on a 2-thread PooledExecutor, as the node
    executables do."""
    harness = RosHarness(ros_env, threads=2)
    try:
        yield harness
    finally:
        harness.close()
