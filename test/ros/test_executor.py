"""PooledExecutor: MultiThreadedExecutor semantics, without re-submitting queued tasks."""

from __future__ import annotations

import threading
import time

import pytest
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from scenemem_ros.ros.executor import PooledExecutor


@pytest.fixture
def context(ros_env):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_env)
    yield context
    rclpy.try_shutdown(context=context)


def spin_in_thread(executor: PooledExecutor) -> threading.Thread:
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return thread


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_subscriptions_services_and_coroutines_run_through_dds(context):
    executor = PooledExecutor(3, context=context)
    node = rclpy.create_node('pooled', context=context)
    received: list[str] = []
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(String, 'words', lambda msg: received.append(msg.data), qos)
    publisher = node.create_publisher(String, 'words', qos)

    def answer(_request, response):
        response.success, response.message = True, 'pooled'
        return response

    node.create_service(Trigger, 'ask', answer)
    client = node.create_client(Trigger, 'ask')
    resumed = threading.Event()

    async def waits_for_the_service():
        response = await client.call_async(Trigger.Request())   # a coroutine that pauses
        if response.message == 'pooled':
            resumed.set()

    executor.add_node(node)
    thread = spin_in_thread(executor)
    try:
        assert client.wait_for_service(timeout_sec=10.0)
        assert wait_until(lambda: publisher.get_subscription_count() == 1)
        for k in range(20):
            publisher.publish(String(data=str(k)))
        assert wait_until(lambda: len(received) == 20), received
        assert received == [str(k) for k in range(20)]
        executor.create_task(waits_for_the_service)
        assert resumed.wait(10.0)
    finally:
        executor.shutdown(timeout_sec=5.0)
        thread.join(timeout=10.0)
        node.destroy_node()
    assert executor.most_waiting <= executor.threads


def test_a_callbacks_exception_comes_out_of_spin_like_multithreadedexecutor(context):
    executor = PooledExecutor(2, context=context)
    node = rclpy.create_node('raising', context=context)
    timer = node.create_timer(0.01, lambda: 1 / 0)
    executor.add_node(node)
    try:
        with pytest.raises(ZeroDivisionError):
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
    finally:
        node.destroy_timer(timer)
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()


def test_busy_workers_do_not_make_the_spinning_thread_resubmit_queued_tasks(context):
    """One callback holds the GIL in pure Python while a 500 Hz timer keeps firing: every
    submission is a callback that runs (rclpy 9.1's MultiThreadedExecutor re-submitted the
    queued ones in a tight loop, ros2/rclpy#1452), and timer callbacks keep coming."""
    executor = PooledExecutor(2, context=context)
    node = rclpy.create_node('busy', context=context)
    ticks: list[float] = []
    burns = [0]

    def burn() -> None:
        burns[0] += 1
        end = time.perf_counter() + 0.3
        total = 0
        while time.perf_counter() < end:
            total += sum(range(200))

    node.create_timer(0.002, lambda: ticks.append(time.perf_counter()),
                      callback_group=MutuallyExclusiveCallbackGroup())
    node.create_timer(0.05, burn, callback_group=MutuallyExclusiveCallbackGroup())
    executor.add_node(node)
    thread = spin_in_thread(executor)
    time.sleep(1.5)
    executor.shutdown(timeout_sec=5.0)
    thread.join(timeout=10.0)
    node.destroy_node()
    assert burns[0] >= 2 and len(ticks) >= 50
    assert executor.most_waiting <= executor.threads
    # every submitted task started; a finished burn or tick is the only thing in flight
    assert executor.submitted <= burns[0] + len(ticks) + executor.threads
