"""Change-detection speed: per-frame cost at 640x480 beside Open3D TSDF integration.

    python benchmarks/changes.py [--json] [--frames 60] [--model models/memory_demo.npz]

Renders a walk through the bundled scene (seed 31) with its doorway blocked at 640x480 (noise
on), then times, on the same frames in one run: ``ChangeDetector.process`` (the default config:
every 4th pixel of a 640x480 frame, 10 cm evidence voxels; and again with the pose-jitter guard
off, ``pose_jitter_deg: 0``) and Open3D's tensor ``VoxelBlockGrid`` TSDF integration of each
frame (5 cm voxels, CPU) -- the work a map-from-scratch pipeline does per frame. The three run
interleaved, frame by frame.
Targets (issue 4): faster than TSDF integration and >= 15 Hz on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import open3d as o3d

from scenemem_ros.changes import BaseGeometry, ChangeDetector, ChangeDetectorConfig
from scenemem_ros.memory.checkpoint import load_memory
from scenemem_ros.world import apply_change, generate_world, plan_trajectory, render_sequence
from scenemem_ros.world.render import default_camera

REPO = Path(__file__).resolve().parents[1]


class TsdfIntegrator:
    """Open3D tensor ``VoxelBlockGrid`` TSDF integration (5 cm voxels, CPU), one frame a call."""

    def __init__(self, voxel_size: float = 0.05) -> None:
        self.grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=('tsdf', 'weight'), attr_dtypes=(o3d.core.float32, o3d.core.float32),
            attr_channels=((1), (1)), voxel_size=voxel_size, block_resolution=16,
            block_count=100_000, device=o3d.core.Device('CPU:0'))

    def integrate(self, frame) -> float:
        """Integrate one frame; returns the seconds it took."""
        started = time.perf_counter()
        depth = o3d.t.geometry.Image(o3d.core.Tensor(np.nan_to_num(frame.depth, nan=0.0)))
        intrinsic = o3d.core.Tensor(frame.camera.matrix, o3d.core.float64)
        extrinsic = o3d.core.Tensor(np.linalg.inv(frame.camera_to_world), o3d.core.float64)
        blocks = self.grid.compute_unique_block_coordinates(depth, intrinsic, extrinsic, 1.0,
                                                            6.0)
        self.grid.integrate(blocks, depth, intrinsic, extrinsic, 1.0, 6.0, 4.0)
        return time.perf_counter() - started


def dds_latency(frames: list, model: Path) -> dict[str, float]:
    """Depth published -> override received, through DDS, one frame in flight at a time."""
    from scenemem_ros.ros.dds import loopback_environment

    for key, value in loopback_environment(1 + os.getpid() % 100).items():
        os.environ.setdefault(key, value)
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    from scenemem_ros.ros.conversions import (
        array_to_depth_msg,
        camera_to_camera_info,
        matrix_to_pose_msg,
    )
    from scenemem_ros.ros.runner import start_nodes

    running = start_nodes(model=model, nodes=('change_detector',))
    detector = running.nodes['change_detector']
    try:
        client = rclpy.create_node('latency_client', context=running.context)
        running.executor.add_node(client)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        depth_pub = client.create_publisher(Image, '/camera/depth/image_rect', qos)
        info_pub = client.create_publisher(CameraInfo, '/camera/depth/camera_info', qos)
        pose_pub = client.create_publisher(PoseStamped, '/camera/pose', qos)
        arrivals: list[float] = []
        client.create_subscription(MarkerArray, '/scenemem/override_updates',
                                   lambda _: arrivals.append(time.perf_counter()), 100)
        deadline = time.monotonic() + 120
        while (detector.detector is None or depth_pub.get_subscription_count() == 0) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        override_ms, frame_ms = [], []
        for frame in frames:
            done = detector.counters['frames'] + detector.counters['bad_depth']
            before = len(arrivals)
            info_pub.publish(camera_to_camera_info(frame.camera, frame.stamp))
            pose_pub.publish(matrix_to_pose_msg(frame.camera_to_world, frame.stamp, 'map'))
            message = array_to_depth_msg(frame.depth, '32FC1', frame.stamp)
            sent = time.perf_counter()
            depth_pub.publish(message)
            while detector.counters['frames'] + detector.counters['bad_depth'] == done and \
                    time.perf_counter() - sent < 5:
                time.sleep(0.0005)
            frame_ms.append((time.perf_counter() - sent) * 1e3)
            time.sleep(0.05)
            if len(arrivals) > before:
                override_ms.append((arrivals[before] - sent) * 1e3)
    finally:
        running.stop()
    return {'dds_frame_ms_p50': float(np.median(frame_ms)),
            'dds_override_ms_p50': float(np.median(override_ms)) if override_ms else None,
            'dds_override_count': len(override_ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--width', type=int, default=ChangeDetectorConfig.addition_width,
                        help='addition_width and removal_width of the detector')
    parser.add_argument('--dds', action='store_true',
                        help='also time depth -> override through DDS (change_detector node)')
    parser.add_argument('--model', type=Path, default=REPO / 'models' / 'memory_demo.npz')
    args = parser.parse_args()
    world = generate_world(31)
    after, _ = apply_change(world, 'doorway_blocked', seed=31)
    walk = plan_trajectory(after, seed=31)
    keep = np.linspace(0, len(walk.stamps) - 1, args.frames).round().astype(int)
    walk = type(walk)(walk.stamps[keep], walk.camera_to_world[keep])
    frames = list(render_sequence(after, walk, default_camera(640, 480)))
    config = ChangeDetectorConfig(addition_width=args.width, removal_width=args.width)
    field, _ = load_memory(args.model)
    started = time.perf_counter()
    base = BaseGeometry.from_memory(field, field.scene_names()[0], config)
    base_seconds = time.perf_counter() - started
    detector = ChangeDetector(base, config)
    unguarded = ChangeDetector(base, replace(config, pose_jitter_deg=0.0))
    tsdf_grid = TsdfIntegrator()
    detect, detect_unguarded, tsdf = [], [], []
    for f in frames:   # interleaved, so that a noisy neighbour slows all three alike
        detect.append(detector.process(f.depth, f.camera, f.camera_to_world, f.stamp).seconds)
        detect_unguarded.append(
            unguarded.process(f.depth, f.camera, f.camera_to_world, f.stamp).seconds)
        tsdf.append(tsdf_grid.integrate(f))
    results = {
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
        'frames': len(frames), 'compare_width': args.width, 'image': '640x480',
        'base_build_seconds': base_seconds,
        'detect_ms_p50': float(np.median(detect) * 1e3),
        'detect_ms_p95': float(np.percentile(detect, 95) * 1e3),
        'detect_hz': float(1.0 / np.median(detect)),
        'tsdf_ms_p50': float(np.median(tsdf) * 1e3),
        'tsdf_ms_p95': float(np.percentile(tsdf, 95) * 1e3),
        'detect_ms_mean': float(np.mean(detect) * 1e3),
        'pose_jitter_deg': config.pose_jitter_deg,
        'detect_unguarded_ms_p50': float(np.median(detect_unguarded) * 1e3),
        'detect_unguarded_ms_mean': float(np.mean(detect_unguarded) * 1e3),
        'tsdf_ms_mean': float(np.mean(tsdf) * 1e3)}
    results['tsdf_over_detect'] = results['tsdf_ms_p50'] / results['detect_ms_p50']
    results['tsdf_over_detect_mean'] = results['tsdf_ms_mean'] / results['detect_ms_mean']
    if args.dds:
        results.update(dds_latency(frames, args.model))
    if args.json:
        print(json.dumps(results))
        return 0
    print(f'{"per frame, 640x480":<28} {"p50 ms":>8} {"p95 ms":>8} {"mean ms":>8}')
    print(f'{"change detection":<28} {results["detect_ms_p50"]:>8.1f} '
          f'{results["detect_ms_p95"]:>8.1f} {results["detect_ms_mean"]:>8.1f}')
    print(f'{"  the same, pose_jitter_deg 0":<28} {results["detect_unguarded_ms_p50"]:>8.1f} '
          f'{"":>8} {results["detect_unguarded_ms_mean"]:>8.1f}')
    print(f'{"Open3D TSDF integration":<28} {results["tsdf_ms_p50"]:>8.1f} '
          f'{results["tsdf_ms_p95"]:>8.1f} {results["tsdf_ms_mean"]:>8.1f}')
    print(f'detection {results["detect_hz"]:.1f} Hz; TSDF / detection = '
          f'{results["tsdf_over_detect"]:.2f} (p50), '
          f'{results["tsdf_over_detect_mean"]:.2f} (mean); base geometry built in '
          f'{base_seconds:.2f} s; {results["machine"]}')
    if args.dds:
        print(f'through DDS: depth -> frame processed p50 {results["dds_frame_ms_p50"]:.1f} ms; '
              f'depth -> override received p50 {results["dds_override_ms_p50"]} ms over '
              f'{results["dds_override_count"]} overrides')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
