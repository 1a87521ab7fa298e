"""Speed of the world package: scene generation, trajectory planning, depth rendering.

Run ``python benchmarks/world.py [--json] [--seed S] [--frames N]``. Measurements are a list of
named functions over a shared, lazily built context, so others can append their own (the bag
writer adds its MB/s here) without touching the table or JSON output.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scenemem_ros.world import (
    FurnitureConfig,
    NoiseConfig,
    RenderConfig,
    World,
    WorldConfig,
    default_camera,
    generate_world,
    plan_trajectory,
    render_depths,
)
from scenemem_ros.world.trajectory import Trajectory


class Context:
    """Inputs shared by measurements, built on first use."""

    def __init__(self, seed: int, frames: int) -> None:
        self.seed, self.frames = seed, frames
        self.camera = default_camera()

    @functools.cached_property
    def world(self) -> World:
        return generate_world(self.seed)

    @functools.cached_property
    def trajectory(self) -> Trajectory:
        return plan_trajectory(self.world, seed=self.seed)

    @functools.cached_property
    def poses(self) -> np.ndarray:
        step = max(1, len(self.trajectory) // self.frames)
        return self.trajectory.camera_to_world[::step][:self.frames]


@dataclass(frozen=True)
class Measurement:
    """A named number: ``run(context)`` returns the value in ``unit``."""

    name: str
    unit: str
    run: Callable[[Context], float]


def _seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _generation(source: str) -> Callable[[Context], float]:
    def run(context: Context) -> float:
        config = WorldConfig(furniture=FurnitureConfig(source=source))
        generate_world(context.seed, config)  # warms the model caches
        return _seconds(lambda: generate_world(context.seed, config))
    return run


def _render_fps(noise: bool) -> Callable[[Context], float]:
    def run(context: Context) -> float:
        config = RenderConfig(noise=NoiseConfig(enabled=noise))
        poses = context.poses
        render_depths(context.world, context.camera, poses[:1], config)  # builds the BVH
        return len(poses) / _seconds(lambda: render_depths(context.world, context.camera,
                                                           poses, config))
    return run


def _bag_write_mb_per_s(encoding: str) -> Callable[[Context], float]:
    def run(context: Context) -> float:
        import tempfile
        from pathlib import Path

        from scenemem_ros.data.bag import write_sequence_bag
        from scenemem_ros.data.frame import Frame, Sequence

        config = RenderConfig(noise=NoiseConfig(enabled=True))
        poses = context.poses
        depths = render_depths(context.world, context.camera, poses, config)
        frames = [Frame(stamp=0.1 * i, camera=context.camera, camera_to_world=pose, depth=depth)
                  for i, (pose, depth) in enumerate(zip(poses, depths, strict=True))]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / 'bench_bag'
            seconds = _seconds(lambda: write_sequence_bag(Sequence(frames), path,
                                                          depth_encoding=encoding))
            size = sum(f.stat().st_size for f in path.iterdir())
        return size / 1e6 / seconds
    return run


MEASUREMENTS: list[Measurement] = [
    Measurement('scene generation, primitives', 's', _generation('primitives')),
    Measurement('scene generation, furniture (cached models)', 's', _generation('sweethome3d')),
    Measurement('trajectory planning', 's',
                lambda c: _seconds(lambda: plan_trajectory(c.world, seed=c.seed))),
    Measurement('depth rendering 640x480, noise off', 'frames/s', _render_fps(False)),
    Measurement('depth rendering 640x480, noise on', 'frames/s', _render_fps(True)),
    Measurement('bag write 640x480 32FC1 (sqlite3)', 'MB/s', _bag_write_mb_per_s('32FC1')),
    Measurement('bag write 640x480 16UC1 (sqlite3)', 'MB/s', _bag_write_mb_per_s('16UC1')),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--frames', type=int, default=20, help='frames per rendering run')
    args = parser.parse_args(argv)
    context = Context(args.seed, args.frames)
    results = [{'name': m.name, 'value': m.run(context), 'unit': m.unit} for m in MEASUREMENTS]
    if args.json:
        print(json.dumps({'seed': args.seed, 'frames': args.frames, 'results': results},
                         indent=1))
    else:
        width = max(len(r['name']) for r in results)
        for r in results:
            print(f'{r["name"]:<{width}}  {r["value"]:10.3f} {r["unit"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
