"""A MultiThreadedExecutor that waits for a free worker instead of spinning.

rclpy's ``MultiThreadedExecutor`` (Kilted wheels, rclpy 9.1) hands each ready callback to its
thread pool and looks for work again at once. A task handed over but not yet started by a
worker is "in progress and not executing", and ``wait_for_ready_callbacks`` yields such tasks
again without waiting on the wait set, so while the workers are busy the spinning thread
re-submits the same queued tasks in a tight loop, holding the GIL the workers need to start
them (ros2/rclpy#1452, fixed upstream in #1547 after the Kilted wheels were built). In the
soak (benchmarks/soak.py: all nodes and a 30 Hz 640x480 publisher in one process on two
cores) 500-2700 submissions were pending at a time, the spinning thread held the GIL 84 % of
the time and the detector processed 1-2 frames a second.

``PooledExecutor`` keeps the same callback semantics (callback groups, coroutines, exceptions
raised out of ``spin``) and adds back-pressure: it looks for work only while a worker is free,
and never submits a task that is still queued. It uses only what rclpy's executors have had since
Humble (``_spin_once_impl`` and the ``_executor`` thread pool of ``MultiThreadedExecutor``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from rclpy.context import Context
from rclpy.executors import (
    ConditionReachedException,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)

#: seconds the spinning thread waits for a free worker before it checks for shutdown again
WORKER_POLL = 0.05


def default_threads() -> int:
    """Workers when none are asked for: the CPUs this process may use (at least 2)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(2, len(os.sched_getaffinity(0)))
    return max(2, os.cpu_count() or 2)


class PooledExecutor(MultiThreadedExecutor):
    """``MultiThreadedExecutor(num_threads)`` with back-pressure (see the module docstring).

    Attributes:
        threads: worker threads.
        submitted: callbacks handed to the pool so far.
        duplicates: times a still-queued task was yielded again and not re-submitted.
        most_waiting: the most submissions that were waiting for a worker at one time
            (never more than ``threads``).
    """

    def __init__(self, num_threads: int | None = None, *, context: Context | None = None) -> None:
        self.threads = int(num_threads) if num_threads else default_threads()
        super().__init__(num_threads=self.threads, context=context)
        self._free_workers = threading.Semaphore(self.threads)
        self._queued: set[int] = set()          # ids of tasks submitted, not started yet
        self._finished: list[Any] = []          # tasks done since the last spin
        self._book_lock = threading.Lock()
        self.submitted = 0
        self.duplicates = 0
        self.most_waiting = 0

    def _spin_once_impl(self, timeout_sec: Any = None,   # float, None or (Jazzy+) TimeoutObject
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        self._raise_finished()
        if not self._free_workers.acquire(timeout=WORKER_POLL):
            return   # every worker busy: spin() checks for shutdown and comes back
        try:
            handler, _entity, _node = self.wait_for_ready_callbacks(
                timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException,
                ConditionReachedException):
            self._free_workers.release()
            return
        with self._book_lock:
            duplicate = id(handler) in self._queued
            if not duplicate:
                self._queued.add(id(handler))
                self.submitted += 1
                self.most_waiting = max(self.most_waiting, len(self._queued))
            else:
                self.duplicates += 1
        if duplicate:
            self._free_workers.release()
            time.sleep(1e-4)   # let the worker that has it start it (it needs the GIL)
            return
        self._executor.submit(self._run, handler)

    def _run(self, handler: Any) -> None:
        with self._book_lock:
            self._queued.discard(id(handler))   # started: yielded again only once it paused
        try:
            handler()
        finally:
            self._free_workers.release()
            if handler.done():
                with self._book_lock:
                    self._finished.append(handler)

    def _raise_finished(self) -> None:
        """Raise a callback's exception out of spin(), as MultiThreadedExecutor does."""
        with self._book_lock:
            finished, self._finished = self._finished, []
        for handler in finished:
            handler.result()
