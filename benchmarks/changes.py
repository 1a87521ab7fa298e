"""Change-detection speed: per-frame cost at 640x480 beside Open3D TSDF integration.

    python benchmarks/changes.py [--json] [--frames 60] [--model models/memory_demo.npz]

Renders a walk through the bundled scene (seed 31) with its doorway blocked at 640x480 (noise
on), then times, on the same frames in one run: ``ChangeDetector.process`` (the default config:
every 2nd pixel, 10 cm evidence voxels) and Open3D's tensor ``VoxelBlockGrid`` TSDF integration
of each frame (5 cm voxels, CPU) -- the work a map-from-scratch pipeline does per frame.
Targets (issue 4): faster than TSDF integration and >= 15 Hz on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import open3d as o3d

from scenemem_ros.changes import BaseGeometry, ChangeDetector, ChangeDetectorConfig
from scenemem_ros.memory.checkpoint import load_memory
from scenemem_ros.world import apply_change, generate_world, plan_trajectory, render_sequence
from scenemem_ros.world.render import default_camera

REPO = Path(__file__).resolve().parents[1]


def tsdf_per_frame(frames: list, voxel_size: float = 0.05) -> list[float]:
    device = o3d.core.Device('CPU:0')
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=('tsdf', 'weight'), attr_dtypes=(o3d.core.float32, o3d.core.float32),
        attr_channels=((1), (1)), voxel_size=voxel_size, block_resolution=16,
        block_count=100_000, device=device)
    seconds = []
    for frame in frames:
        started = time.perf_counter()
        depth = o3d.t.geometry.Image(o3d.core.Tensor(np.nan_to_num(frame.depth, nan=0.0)))
        intrinsic = o3d.core.Tensor(frame.camera.matrix, o3d.core.float64)
        extrinsic = o3d.core.Tensor(np.linalg.inv(frame.camera_to_world), o3d.core.float64)
        blocks = grid.compute_unique_block_coordinates(depth, intrinsic, extrinsic, 1.0, 6.0)
        grid.integrate(blocks, depth, intrinsic, extrinsic, 1.0, 6.0, 4.0)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--pixel-stride', type=int, default=ChangeDetectorConfig.pixel_stride)
    parser.add_argument('--model', type=Path, default=REPO / 'models' / 'memory_demo.npz')
    args = parser.parse_args()
    world = generate_world(31)
    after, _ = apply_change(world, 'doorway_blocked', seed=31)
    walk = plan_trajectory(after, seed=31)
    keep = np.linspace(0, len(walk.stamps) - 1, args.frames).round().astype(int)
    walk = type(walk)(walk.stamps[keep], walk.camera_to_world[keep])
    frames = list(render_sequence(after, walk, default_camera(640, 480)))
    config = ChangeDetectorConfig(pixel_stride=args.pixel_stride)
    field, _ = load_memory(args.model)
    started = time.perf_counter()
    base = BaseGeometry.from_memory(field, field.scene_names()[0], config)
    base_seconds = time.perf_counter() - started
    detector = ChangeDetector(base, config)
    detect = [detector.process(f.depth, f.camera, f.camera_to_world, f.stamp).seconds
              for f in frames]
    tsdf = tsdf_per_frame(frames)
    results = {
        'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
        'frames': len(frames), 'pixel_stride': config.pixel_stride, 'image': '640x480', 'base_build_seconds': base_seconds,
        'detect_ms_p50': float(np.median(detect) * 1e3),
        'detect_ms_p95': float(np.percentile(detect, 95) * 1e3),
        'detect_hz': float(1.0 / np.median(detect)),
        'tsdf_ms_p50': float(np.median(tsdf) * 1e3),
        'tsdf_ms_p95': float(np.percentile(tsdf, 95) * 1e3)}
    results['tsdf_over_detect'] = results['tsdf_ms_p50'] / results['detect_ms_p50']
    if args.json:
        print(json.dumps(results))
        return 0
    print(f'{"per frame, 640x480":<28} {"p50 ms":>8} {"p95 ms":>8}')
    print(f'{"change detection":<28} {results["detect_ms_p50"]:>8.1f} '
          f'{results["detect_ms_p95"]:>8.1f}')
    print(f'{"Open3D TSDF integration":<28} {results["tsdf_ms_p50"]:>8.1f} '
          f'{results["tsdf_ms_p95"]:>8.1f}')
    print(f'detection {results["detect_hz"]:.1f} Hz; TSDF / detection = '
          f'{results["tsdf_over_detect"]:.2f}; base geometry built in '
          f'{base_seconds:.2f} s; {results["machine"]}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
