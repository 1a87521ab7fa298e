"""Scene-memory speed: training, cold start -> load -> bake, override application.

    python benchmarks/memory.py [--json] [--frames 300] [--device auto] [--steps 1500]
                                [--model FILE]

Builds a 20 x 20 m apartment (16 rooms), renders a walk through it at 640x480, trains a memory on
`--frames` frames (or takes `--model`, a checkpoint of such a scene), then times, each in fresh
Python processes: interpreter start -> `import torch` alone; start -> checkpoint loaded
(`load_memory`, builds the torch field); start -> the 20 x 20 x 3 m box's occupancy at 5 cm from
the checkpoint's baked cache, once through `load_memory` (torch imported: the old path) and once
through `open_memory` (torch-free: the new path, asserted in the process), side by side with
their ratio; start -> the 2D navigation grid a `LiveMap` serves (torch-free from the cache);
start -> the same box baked from the weights (no cache: what any other box or resolution costs).
It also times the application of one override to the 2D map and reports the voxel agreement of
the cached occupancy and of the coarse-to-fine bake with a dense bake.
Targets (issue 3): start -> baked < 2 s on the CPU, one override < 1 ms, training on 300
frames < 10 min on the CPU and < 1 min on an H100/H200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scenemem_ros.memory.config import MemoryConfig
from scenemem_ros.memory.field import SceneMemoryField
from scenemem_ros.memory.overrides import Box, Override, OverrideKind, apply_to_grid_2d
from scenemem_ros.memory.train import fit_scene
from scenemem_ros.training.synthesis import subsample
from scenemem_ros.world import (
    LayoutConfig,
    WorldConfig,
    default_camera,
    generate_world,
    plan_trajectory,
    render_sequence,
)

BOX_MIN, BOX_MAX = (0.0, 0.0, -0.1), (20.0, 20.0, 2.9)

COLD_IMPORT = """
import sys, time
started = float(sys.argv[1])
import torch
print(time.time() - started)
"""

COLD_BAKE = """
import sys, time
started = float(sys.argv[2])
import numpy as np
low, high = np.array({low}), np.array({high})
if sys.argv[3] == 'torch_free':
    from scenemem_ros.memory.checkpoint import open_memory
    memory = open_memory(sys.argv[1])
    loaded = time.time()
    volume = memory.occupancy_volume(memory.scene_names()[0], low, high, 0.05)
    assert not memory.field_loaded and 'torch' not in sys.modules, 'the cached path needed torch'
elif sys.argv[3] == 'live_map':
    from scenemem_ros.memory.live_map import LiveMap, LiveMapConfig
    live = LiveMap(LiveMapConfig(model_path=sys.argv[1]))
    loaded = time.time()
    volume = live.memory.occupancy_volume(live.scene, low, high, 0.05)
    assert 'torch' not in sys.modules, 'LiveMap needed torch: the cached grid did not fit'
else:
    from scenemem_ros.memory.checkpoint import load_memory
    from scenemem_ros.memory.queries import cached_occupancy, occupancy_volume
    field, _ = load_memory(sys.argv[1])
    loaded = time.time()
    scene = field.scene_names()[0]
    if sys.argv[3] == 'cached':
        volume = cached_occupancy(field, scene, low, high, 0.05)
        assert volume is not None, 'the checkpoint holds no baked cache for this box'
    else:
        volume = occupancy_volume(field, scene, low, high, 0.05, use_cache=False)
done = time.time()
print(loaded - started, done - started, volume.grid.num_cells)
"""

# what each fresh-process path runs: (load_memory + cached_occupancy) is the old cached path
PATHS = ('cached', 'torch_free', 'live_map', 'uncached')


def big_apartment_frames(frames: int, seed: int = 5) -> list:
    layout = LayoutConfig(room_count_min=16, room_count_max=16, grid_columns=4, grid_rows=4,
                          room_size_min=4.8, room_size_max=5.0)
    world = generate_world(seed, WorldConfig(layout=layout))
    trajectory = subsample(plan_trajectory(world, seed=seed), frames)
    return list(render_sequence(world, trajectory, default_camera(640, 480)))


def cold_bake(path: Path, repeats: int = 3) -> dict[str, float]:
    """Medians over ``repeats`` fresh processes, the paths interleaved."""
    script = COLD_BAKE.format(low=list(BOX_MIN), high=list(BOX_MAX))
    imports: list[float] = []
    loads: dict[str, list[float]] = {kind: [] for kind in PATHS}
    totals: dict[str, list[float]] = {kind: [] for kind in PATHS}
    cells = 0
    for _ in range(repeats):
        output = subprocess.run([sys.executable, '-c', COLD_IMPORT, repr(time.time())],
                                capture_output=True, text=True, check=True).stdout.split()
        imports.append(float(output[0]))
        for path_kind in PATHS:
            output = subprocess.run(
                [sys.executable, '-c', script, str(path), repr(time.time()), path_kind],
                capture_output=True, text=True, check=True).stdout.split()
            loads[path_kind].append(float(output[0]))
            totals[path_kind].append(float(output[1]))
            cells = int(output[2])
    results = {'cold_import_torch_s': float(np.median(imports)),
               'cold_load_s': float(np.median(loads['cached'] + loads['uncached'])),
               'cold_open_torch_free_s': float(np.median(loads['torch_free'])),
               'cold_live_map_s': float(np.median(loads['live_map'])),
               'cold_load_and_cached_s': float(np.median(totals['cached'])),
               'cold_torch_free_cached_s': float(np.median(totals['torch_free'])),
               'cold_load_and_bake_s': float(np.median(totals['uncached'])),
               'baked_voxels': cells, 'repeats': repeats}
    results['cached_speedup'] = (results['cold_load_and_cached_s']
                                 / results['cold_torch_free_cached_s'])
    return results


def load_average() -> str:
    try:
        return ' '.join(Path('/proc/loadavg').read_text().split()[:3])
    except OSError:
        return '?'


def agreement(path: Path) -> dict[str, float]:
    """Voxel agreement of the cached and the coarse-to-fine occupancy with a dense bake."""
    from scenemem_ros.memory.checkpoint import load_memory
    from scenemem_ros.memory.config import BakeConfig
    from scenemem_ros.memory.queries import cached_occupancy, occupancy_volume

    field, _ = load_memory(path)
    scene, low, high = field.scene_names()[0], np.array(BOX_MIN), np.array(BOX_MAX)
    started = time.perf_counter()
    dense = occupancy_volume(field, scene, low, high, 0.05, use_cache=False,
                             config=BakeConfig(dense=True))
    dense_s = time.perf_counter() - started
    started = time.perf_counter()
    fast = occupancy_volume(field, scene, low, high, 0.05, use_cache=False)
    warm_s = time.perf_counter() - started
    cached = cached_occupancy(field, scene, low, high, 0.05)
    results = {'warm_dense_bake_s': dense_s, 'warm_bake_s': warm_s,
               'occupied_voxels_dense': int(dense.occupied.sum())}
    for name, volume in (('bake', fast), ('cached', cached)):
        if volume is None:
            continue
        differ = int((volume.occupied != dense.occupied).sum()
                     + (volume.observed != dense.observed).sum())
        results[f'{name}_voxels_differing_from_dense'] = differ
        results[f'{name}_agreement'] = 1.0 - differ / dense.grid.num_cells
    return results


def override_apply(repeats: int = 2000) -> float:
    cells = np.zeros((400, 400), np.int8)
    override = Override(id='door', kind=OverrideKind.BLOCKED_REGION,
                        region=Box((4.0, 4.0, 0.0), (5.0, 4.3, 2.0)))
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        apply_to_grid_2d(cells, np.zeros(2), 0.05, (0.1, 1.8), [override])
        timings.append(time.perf_counter() - started)
    return float(np.median(timings) * 1000)


def train_big(args: argparse.Namespace, path: Path) -> dict[str, object]:
    """Render the apartment, fit it, save it (with its baked cache) to ``path``."""
    from dataclasses import replace

    from scenemem_ros.memory.checkpoint import save_memory

    started = time.perf_counter()
    frames = big_apartment_frames(args.frames)
    render_s = time.perf_counter() - started
    config = MemoryConfig()
    train = replace(config.train, steps=args.steps, device=args.device, checkpoint_every=0)
    field = SceneMemoryField(config.field)
    report = fit_scene(field, 'big', frames, train, progress=not args.json)
    started = time.perf_counter()
    save_memory(field.cpu(), path)
    return {'render_s': render_s, 'frames': report.frames_selected, 'steps': report.steps,
            'train_s': report.seconds, 'train_device': report.device,
            'save_with_cache_s': time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--steps', type=int, default=MemoryConfig().train.steps)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--model', type=Path, default=None,
                        help='time this checkpoint instead of training one')
    parser.add_argument('--repeats', type=int, default=3,
                        help='fresh processes per cold-start path (medians are reported)')
    args = parser.parse_args()
    results: dict[str, object] = {'machine': platform.processor() or platform.machine(),
                                  'cpus': os.cpu_count(), 'load_average_before': load_average(),
                                  'torch_threads': torch.get_num_threads(),
                                  'cuda': torch.cuda.get_device_name(0)
                                  if torch.cuda.is_available() else None}
    with tempfile.TemporaryDirectory() as folder:
        path = args.model or Path(folder) / 'big.npz'
        if args.model is None:
            results.update(train_big(args, path))
        results['model_bytes'] = path.stat().st_size
        results.update(cold_bake(path, args.repeats))
        results['load_average_after'] = load_average()
        results.update(agreement(path))
    results['override_apply_ms'] = override_apply()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    rows = []
    if 'train_s' in results:
        rows += [('frames rendered (640x480)', f'{results["frames"]}',
                  f'{results["render_s"]:.1f} s'),
                 (f'training {results["steps"]} steps ({results["train_device"]})',
                  '< 600 s CPU', f'{results["train_s"]:.1f} s'),
                 ('save with baked cache', '', f'{results["save_with_cache_s"]:.1f} s')]
    rows += [('cold start -> import torch', '', f'{results["cold_import_torch_s"]:.2f} s'),
             ('cold start -> model loaded (load_memory)', '', f'{results["cold_load_s"]:.2f} s'),
             ('cold start -> checkpoint open (torch-free)', '',
              f'{results["cold_open_torch_free_s"]:.2f} s'),
             ('cold start -> LiveMap grid (torch-free)', '',
              f'{results["cold_live_map_s"]:.2f} s'),
             ('cold start -> 20x20x3 m @5 cm, cached, old', '< 2 s',
              f'{results["cold_load_and_cached_s"]:.2f} s'),
             ('cold start -> 20x20x3 m @5 cm, cached, new', '< 2 s',
              f'{results["cold_torch_free_cached_s"]:.2f} s'),
             ('  old / new', '', f'{results["cached_speedup"]:.1f}x'),
             ('cold start -> 20x20x3 m @5 cm, baked', '< 2 s',
              f'{results["cold_load_and_bake_s"]:.2f} s'),
             ('bake in a warm process', '', f'{results["warm_bake_s"]:.2f} s'),
             ('dense bake in a warm process', '', f'{results["warm_dense_bake_s"]:.2f} s'),
             ('voxels differing from dense: bake', '',
              f'{results.get("bake_voxels_differing_from_dense", "-")}'),
             ('voxels differing from dense: cache', '',
              f'{results.get("cached_voxels_differing_from_dense", "-")}'),
            ('apply one override (400x400 map)', '< 1 ms',
             f'{results["override_apply_ms"]:.4f} ms'),
            ('checkpoint size', '', f'{results["model_bytes"]:,} B')]
    print(f'{"measurement":<46}{"target":>14}{"measured":>14}')
    for name, target, value in rows:
        print(f'{name:<46}{target:>14}{value:>14}')
    print(f'machine: {results["machine"]}, {results["cpus"]} CPUs, torch threads '
          f'{results["torch_threads"]}, cuda: {results["cuda"]}, load average '
          f'{results["load_average_before"]} before, {results["load_average_after"]} after; '
          f'medians of {results["repeats"]} fresh processes per path')
    return 0


if __name__ == '__main__':
    sys.exit(main())
