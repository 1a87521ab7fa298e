"""Loopback DDS environment and the shipped shared-memory Fast DDS profile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scenemem_ros.ros.dds import (
    apply_environment,
    fastdds_profile_path,
    loopback_environment,
    profiles_file_variable,
    restore_environment,
)

NS = {'f': 'http://www.eprosima.com'}


def test_loopback_environment():
    env = loopback_environment(42)
    assert env == {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'ROS_LOCALHOST_ONLY': '1',
                   'FASTDDS_BUILTIN_TRANSPORTS': 'SHM', 'ROS_DOMAIN_ID': '42'}
    for bad in (-1, 102, 1.5, '3', True):
        with pytest.raises(ValueError, match='domain_id'):
            loopback_environment(bad)


def test_profile_variable_and_apply_restore(monkeypatch):
    monkeypatch.delenv('ROS_DISTRO', raising=False)
    assert profiles_file_variable() == 'FASTDDS_DEFAULT_PROFILES_FILE'
    assert profiles_file_variable('humble') == 'FASTRTPS_DEFAULT_PROFILES_FILE'
    env = loopback_environment(7, shm_profile=True)
    assert Path(env['FASTDDS_DEFAULT_PROFILES_FILE']) == fastdds_profile_path()
    monkeypatch.setenv('ROS_DOMAIN_ID', '3')
    monkeypatch.delenv('FASTDDS_BUILTIN_TRANSPORTS', raising=False)
    previous = apply_environment(env)
    assert os.environ['ROS_DOMAIN_ID'] == '7' and os.environ['FASTDDS_BUILTIN_TRANSPORTS'] == 'SHM'
    restore_environment(previous)
    assert os.environ['ROS_DOMAIN_ID'] == '3' and 'FASTDDS_BUILTIN_TRANSPORTS' not in os.environ


def test_shipped_profile_is_shm_only_with_a_16_mib_segment():
    root = ET.parse(fastdds_profile_path()).getroot()
    descriptor = root.find('f:profiles/f:transport_descriptors/f:transport_descriptor', NS)
    assert descriptor.findtext('f:type', namespaces=NS) == 'SHM'
    assert int(descriptor.findtext('f:segment_size', namespaces=NS)) == 16 * 1024 * 1024
    participant = root.find('f:profiles/f:participant', NS)
    assert participant.get('is_default_profile') == 'true'
    rtps = participant.find('f:rtps', NS)
    assert rtps.findtext('f:useBuiltinTransports', namespaces=NS) == 'false'
    assert rtps.findtext('f:userTransports/f:transport_id', namespaces=NS) == (
        descriptor.findtext('f:transport_id', namespaces=NS))


_PEER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    role, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node('shm_' + role)
    try:
        if role == 'pub':
            pub = node.create_publisher(Image, topic, qos_profile_sensor_data)
            deadline = time.monotonic() + 15
            while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
            depth = np.random.default_rng(0).uniform(0.5, 5, (480, 640)).astype('<f4')
            msg = Image(height=480, width=640, encoding='32FC1', step=640 * 4,
                        data=depth.tobytes())
            for _ in range(count):
                pub.publish(msg)
                time.sleep(0.02)
            time.sleep(0.5)
        else:
            got, last = [], [time.monotonic()]

            def store(msg):
                got.append(len(msg.data))
                last[0] = time.monotonic()

            node.create_subscription(Image, topic, store, qos_profile_sensor_data)
            deadline = time.monotonic() + 20
            while len(got) < count and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.05)
                if got and time.monotonic() - last[0] > 1.0:
                    break  # the publisher is done
            print(len(got), set(got))
    finally:
        node.destroy_node()
        rclpy.shutdown()
""")


@pytest.mark.ros
@pytest.mark.slow
def test_profile_delivers_large_best_effort_images_between_processes(ros_env, tmp_path):
    """640x480 32FC1 (1.2 MiB) best-effort between two processes arrives with the profile."""
    script = tmp_path / 'peer.py'
    script.write_text(_PEER)
    env = {**os.environ, **loopback_environment(ros_env, shm_profile=True),
           'PYTHONPATH': os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                          os.environ.get('PYTHONPATH', '')])}
    topic, count = f'/t{os.getpid()}/depth', 30
    sub = subprocess.Popen([sys.executable, str(script), 'sub', topic, str(count)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pub = subprocess.run([sys.executable, str(script), 'pub', topic, str(count)], env=env,
                             capture_output=True, text=True, timeout=40)
        out, err = sub.communicate(timeout=40)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert pub.returncode == 0, pub.stderr
    assert sub.returncode == 0, err
    received = int(out.split()[0])
    assert received >= count * 0.8, (out, err)
    assert f'{{{640 * 480 * 4}}}' in out
