"""Speed of ``scenemem export occupancy``: the vectorised export against a naive per-frame one.

Run ``python benchmarks/export.py [--json] [--seed S] [--frames N] [--naive-frames K]
[--cache DIR]``. The input is N (default 480: 16 s at 30 Hz) rendered 640x480 depth frames of a
generated apartment walked at 30 Hz; rendering is not timed (``--cache`` keeps the frames for
the next run). Measured, with the default 4 cm voxels and L3ROcc's 4 x 5.6 x 2.4 m ego box:

* ours: :func:`compute_occupancy` on all frames (no history, as L3ROcc's LeRobot output), the
  same plus writing the LeRobot / L3ROcc episode folder (what ``scenemem export occupancy``
  does), and the compute with L3ROcc's visualisation history (10 frames, step 2);
* naive: a per-frame dense implementation of the same definitions written here (the global
  map read at every ego cell centre, then a Python loop over the sampled pixel rays, each
  marched in half-voxel steps up to its measured depth). It is far too slow for all frames,
  so it runs on the first K frames (default 6) and its time is extrapolated linearly to N (said
  so in the output). Its grids are compared with ours on those frames (IoU).

Timings are wall clock; ``load_average`` in the JSON says how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.export import OccupancyExportConfig, compute_occupancy, write_episode
from scenemem_ros.export.occupancy import world_from_ego
from scenemem_ros.geometry.transforms import invert_rigid
from scenemem_ros.world import (
    NoiseConfig,
    RenderConfig,
    TrajectoryConfig,
    default_camera,
    generate_world,
    plan_trajectory,
    render_depths,
)


def make_frames(seed: int, count: int, cache: Path | None) -> Sequence:
    """``count`` noisy 640x480 depth frames of world ``seed`` along a 30 Hz walk."""
    camera = default_camera()
    path = cache / f'export_bench_seed{seed}_{count}.npz' if cache else None
    if path is not None and path.is_file():
        data = np.load(path)
        depths, poses, stamps = data['depths'], data['poses'], data['stamps']
    else:
        world = generate_world(seed)
        trajectory = plan_trajectory(world, TrajectoryConfig(rate_hz=30.0), seed=seed)
        if len(trajectory) < count:
            raise SystemExit(f'the walk has only {len(trajectory)} poses, asked for {count}')
        poses, stamps = trajectory.camera_to_world[:count], trajectory.stamps[:count]
        config = RenderConfig(noise=NoiseConfig(enabled=True))
        depths = np.concatenate([render_depths(world, camera, poses[i:i + 16], config, i)
                                 for i in range(0, count, 16)])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, depths=depths, poses=poses, stamps=stamps)
    frames = [Frame(stamp=float(s), camera=camera, camera_to_world=p, depth=d)
              for s, p, d in zip(stamps, poses, depths, strict=True)]
    return Sequence(frames=frames, name=f'bench{seed}')


def naive_export(frames: list[Frame], world_voxels: np.ndarray, config: OccupancyExportConfig
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The export's definitions, implemented the slow way: per frame a dense ego grid, and a
    Python loop over the sampled pixel rays, each marched in half-voxel steps up to its measured
    depth plus half a voxel diagonal. Visible: the cells the samples fall in whose centre is no
    farther than the ray's end plus half a voxel diagonal, and the cell of the end point.
    Occupied: that end cell, and the visible cells whose centre lies within half a voxel
    diagonal of the end and in an occupied voxel of the global map, given as (M, 3) world voxel
    centres. Each ray's samples are one numpy call; rays and frames are Python loops.

    Returns per frame the (nx, ny, nz) bool occupancy and visibility."""
    grid = config.ego_grid
    low = np.asarray(grid.origin)
    shape = np.asarray(grid.shape)
    step = 0.5 * config.voxel_size
    tolerance = 0.5 * np.sqrt(3.0) * config.voxel_size
    world_cells = np.floor(world_voxels / config.voxel_size).astype(int)
    world_low = world_cells.min(axis=0)
    world_map = np.zeros(world_cells.max(axis=0) - world_low + 1, dtype=bool)
    world_map[tuple((world_cells - world_low).T)] = True
    centres = grid.index_to_centre(np.stack(np.indices(grid.shape), axis=-1))
    occupancies, visibilities = [], []
    for frame in frames:
        ego = world_from_ego(frame.camera_to_world)
        # the map at every ego cell centre
        world = centres @ ego[:3, :3].T + ego[:3, 3]
        cells = np.floor(world / config.voxel_size).astype(int) - world_low
        inside = np.all((cells >= 0) & (cells < world_map.shape), axis=-1)
        mapped = np.zeros(grid.shape, dtype=bool)
        mapped[inside] = world_map[tuple(cells[inside].T)]
        visible = np.zeros(grid.shape, dtype=bool)
        shell = np.zeros(grid.shape, dtype=bool)
        observed = np.zeros(grid.shape, dtype=bool)
        rotation = (invert_rigid(ego) @ frame.camera_to_world)[:3, :3]
        camera = frame.camera
        stride = config.pixel_stride
        assert frame.depth is not None
        for v in range(0, camera.height, stride):
            for u in range(0, camera.width, stride):
                depth = frame.depth[v, u]
                if not np.isfinite(depth):
                    continue
                ray = rotation @ np.array([(u - camera.cx) / camera.fx,
                                           (v - camera.cy) / camera.fy, 1.0])
                end = np.floor((ray * depth - low) / config.voxel_size).astype(int)
                if np.all((end >= 0) & (end < shape)):
                    observed[end[0], end[1], end[2]] = True
                length = float(np.linalg.norm(ray)) * depth
                t = np.arange(0.0, length + tolerance, step)
                samples = np.floor((t[:, None] * (ray / np.linalg.norm(ray)) - low)
                                   / config.voxel_size).astype(int)
                keep = np.all((samples >= 0) & (samples < shape), axis=1)
                samples = samples[keep]
                centre = np.linalg.norm(low + (samples + 0.5) * config.voxel_size, axis=1)
                seen = centre <= length + tolerance
                visible[tuple(samples[seen].T)] = True
                near_end = seen & (centre >= length - tolerance)
                shell[tuple(samples[near_end].T)] = True
        occupancies.append(observed | (shell & mapped))
        visibilities.append(visible | observed)
    return occupancies, visibilities


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def _timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def run(frames: Sequence, naive_frames: int) -> dict:
    config = OccupancyExportConfig()  # 4 cm, L3ROcc's box, no history (as its LeRobot output)
    count = len(frames)
    export, compute_s = _timed(lambda: compute_occupancy(frames, config))
    with tempfile.TemporaryDirectory() as folder:
        summary, total_s = _timed(lambda: write_episode(compute_occupancy(frames, config),
                                                        Path(folder) / 'episode'))
    _, history_s = _timed(lambda: compute_occupancy(
        frames, replace(config, history_len=10, history_step=2)))
    subset = frames.frames[:naive_frames]
    (naive_occ, naive_vis), naive_subset_s = _timed(lambda: naive_export(
        subset, export.world_occupancy.astype(np.float64), config))
    naive_s = naive_subset_s / len(subset) * count
    vis_iou = np.mean([_iou(export.visibility_grid(i), v) for i, v in enumerate(naive_vis)])
    occ_iou = np.mean([_iou(export.occupancy_grid(i), o) for i, o in enumerate(naive_occ)])
    results = [
        {'name': 'ours: compute occupancy + visibility', 'value': compute_s, 'unit': 's'},
        {'name': 'ours: compute + write episode folder', 'value': total_s, 'unit': 's'},
        {'name': 'ours: compute, history 10 step 2', 'value': history_s, 'unit': 's'},
        {'name': f'naive per-frame dense (extrapolated from {len(subset)} frames)',
         'value': naive_s, 'unit': 's'},
        {'name': 'speed-up (naive / ours compute)', 'value': naive_s / compute_s, 'unit': 'x'},
        {'name': 'visibility IoU ours vs naive', 'value': float(vis_iou), 'unit': ''},
        {'name': 'occupancy IoU ours vs naive', 'value': float(occ_iou), 'unit': ''},
        {'name': 'ours per frame (compute + write)', 'value': 1e3 * total_s / count,
         'unit': 'ms'},
    ]
    return {'frames': count, 'image': [frames[0].camera.width, frames[0].camera.height],
            'voxel_size': config.voxel_size, 'grid': list(config.ego_grid.shape),
            'naive_frames': len(subset), 'naive_extrapolated': True,
            'world_voxels': summary['world_voxels'], 'bytes': summary['bytes'],
            'load_average': [float(v) for v in Path('/proc/loadavg').read_text().split()[:3]]
            if Path('/proc/loadavg').is_file() else None,
            'results': results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--frames', type=int, default=480, help='frames (30 Hz) to export')
    parser.add_argument('--naive-frames', type=int, default=6,
                        help='frames the naive version runs on (then extrapolated)')
    parser.add_argument('--cache', type=Path, help='folder to keep the rendered frames in')
    args = parser.parse_args(argv)
    frames = make_frames(args.seed, args.frames, args.cache)
    report = {'seed': args.seed, **run(frames, min(args.naive_frames, args.frames))}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f'{report["frames"]} frames {report["image"][0]}x{report["image"][1]}, '
              f'{report["voxel_size"] * 100:.0f} cm voxels, ego grid {report["grid"]}, '
              f'{report["world_voxels"]} world voxels')
        width = max(len(r['name']) for r in report['results'])
        for r in report['results']:
            print(f'{r["name"]:<{width}}  {r["value"]:10.3f} {r["unit"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
