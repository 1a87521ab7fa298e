"""Soak: all nodes in one process fed depth at 30 Hz for 10 minutes; memory use over time.

    python benchmarks/soak.py [--json] [--minutes 10] [--rate 30] [--width 640] [--params FILE]

The bundled scene's blocked-doorway walk is rendered once (noise on) and published in a loop
(depth, CameraInfo, pose) at ``--rate`` Hz through DDS to the scene_memory, change_detector and
planner nodes of ``scenemem run``; a client asks for a plan every second. The resident set size
(VmRSS) of the process is sampled every 10 s. Target (issue 4): no growth beyond 5 % between
the end of the first minute (warm-up) and the end. Also counted: override updates the detector
published and /map republications by scene_memory (with the damping of ``--params``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open('/proc/self/status', encoding='ascii') as stream:
        for line in stream:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--frames', type=int, default=120, help='frames in the loop')
    parser.add_argument('--params', type=Path, default=REPO / 'config' / 'memory.yaml',
                        help='parameter YAML of the nodes')
    args = parser.parse_args()
    from scenemem_ros.ros.dds import loopback_environment

    for key, value in loopback_environment(1 + os.getpid() % 100).items():
        os.environ.setdefault(key, value)
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.srv import GetPlan
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import Marker, MarkerArray

    from scenemem_ros.ros.conversions import (
        array_to_depth_msg,
        camera_to_camera_info,
        matrix_to_pose_msg,
    )
    from scenemem_ros.ros.runner import start_nodes
    from scenemem_ros.world import apply_change, generate_world, plan_trajectory, render_sequence
    from scenemem_ros.world.render import default_camera

    world = generate_world(31)
    after, _ = apply_change(world, 'doorway_blocked', seed=31)
    walk = plan_trajectory(after, seed=31)
    keep = np.linspace(0, len(walk.stamps) - 1, args.frames).round().astype(int)
    walk = type(walk)(walk.stamps[keep], walk.camera_to_world[keep])
    frames = list(render_sequence(after, walk, default_camera(args.width, args.width * 3 // 4)))
    running = start_nodes(args.params, REPO / 'models' / 'memory_demo.npz')
    detector = running.nodes['change_detector']
    samples: list[tuple[float, float]] = []
    plans = 0
    try:
        client = rclpy.create_node('soak_client', context=running.context)
        running.executor.add_node(client)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        depth_pub = client.create_publisher(Image, '/camera/depth/image_rect', qos)
        info_pub = client.create_publisher(CameraInfo, '/camera/depth/camera_info', qos)
        pose_pub = client.create_publisher(PoseStamped, '/camera/pose', qos)
        planner = client.create_client(GetPlan, '/scenemem/plan')
        override_labels: dict[str, str] = {}

        def on_updates(array: MarkerArray) -> None:
            for marker in array.markers:
                if marker.action == Marker.ADD:
                    body = json.loads(marker.text)
                    override_labels.setdefault(body['id'], body.get('label', ''))

        client.create_subscription(MarkerArray, '/scenemem/override_updates', on_updates, 100)
        while detector.detector is None:
            time.sleep(0.1)
        period = 1.0 / args.rate
        started = time.perf_counter()
        next_sample = next_plan = started
        index = 0
        while (now := time.perf_counter()) - started < args.minutes * 60:
            frame = frames[index % len(frames)]
            stamp = time.time()
            info_pub.publish(camera_to_camera_info(frame.camera, stamp))
            pose_pub.publish(matrix_to_pose_msg(frame.camera_to_world, stamp, 'map'))
            depth_pub.publish(array_to_depth_msg(frame.depth, '32FC1', stamp))
            index += 1
            if now >= next_plan and planner.service_is_ready():
                request = GetPlan.Request()
                request.start.header.frame_id = request.goal.header.frame_id = 'map'
                request.start.pose.position.x, request.start.pose.position.y = 1.7, 2.9
                request.goal.pose.position.x, request.goal.pose.position.y = 1.7, 5.3
                future = planner.call_async(request)
                future.add_done_callback(lambda _: None)
                plans += 1
                next_plan += 1.0
            if now >= next_sample:
                samples.append((now - started, rss_mb()))
                next_sample += 10.0
            time.sleep(max(0.0, started + index * period - time.perf_counter()))
        samples.append((time.perf_counter() - started, rss_mb()))
        processed = detector.counters['frames']
        updates = detector.counters['updates']
        maps = running.nodes['scene_memory'].counters['map_published']
        counters = dict(detector.counters)
    finally:
        running.stop()
    warm = next((mb for t, mb in samples if t >= 60.0), samples[0][1])
    end = samples[-1][1]
    results = {'minutes': args.minutes, 'rate_hz': args.rate, 'image_width': args.width,
               'published': index, 'processed': processed, 'plans_requested': plans,
               'override_updates': updates, 'map_published': maps,
               'distinct_overrides': len(override_labels), 'override_labels': override_labels,
               'rss_start_mb': samples[0][1], 'rss_after_warmup_mb': warm, 'rss_end_mb': end,
               'growth_after_warmup_pct': 100.0 * (end - warm) / warm,
               'no_pose': counters.get('no_pose', 0), 'pose_jump': counters.get('pose_jump', 0),
               'detector_counters': counters,
               'samples': samples}
    if args.json:
        print(json.dumps(results))
        return 0
    print(f'{"soak":<30} {"value":>10}')
    for key in ('minutes', 'rate_hz', 'published', 'processed', 'plans_requested',
                'override_updates', 'distinct_overrides', 'map_published', 'no_pose', 'pose_jump',
                'rss_start_mb', 'rss_after_warmup_mb', 'rss_end_mb', 'growth_after_warmup_pct'):
        value = results[key]
        print(f'{key:<30} {value:>10.1f}' if isinstance(value, float) else
              f'{key:<30} {value:>10}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
