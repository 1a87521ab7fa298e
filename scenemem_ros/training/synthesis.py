"""Synthetic scene + ground truth + rosbag2 recordings, as ``scenemem world`` writes them.

Folder layout::

    OUT/world/          the scene (World.save): world.json, mesh.ply, triangle_instance_ids.npy
    OUT/before_bag/     rosbag2 (sqlite3, metadata v8): depth, camera_info, pose along a walk
    OUT/after_world/    with a change: the scene after it
    OUT/change.json     with a change: the ground-truth change record
    OUT/after_bag/      with a change: the same walk through the changed scene
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from scenemem_ros.data.bag import write_sequence_bag
from scenemem_ros.world import (
    RenderConfig,
    Trajectory,
    World,
    WorldConfig,
    apply_change,
    default_camera,
    generate_world,
    plan_trajectory,
    render_sequence,
    save_change,
)
from scenemem_ros.world.config import FurnitureConfig, NoiseConfig
from scenemem_ros.world.errors import WorldError

WORLD_DIR, AFTER_WORLD_DIR, CHANGE_FILE = 'world', 'after_world', 'change.json'
BEFORE_BAG, AFTER_BAG = 'before_bag', 'after_bag'


@dataclass(frozen=True)
class SynthesisRequest:
    """What to synthesise (the ``scenemem world`` arguments)."""

    seed: int
    out: Path
    change: str | None = None
    frames: int = 0
    width: int = 640
    height: int = 480
    noise: bool = True
    primitives: bool = False
    encoding: str = '32FC1'
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise WorldError(f'seed must be >= 0, got {self.seed}')
        if self.frames < 0:
            raise WorldError(f'frames must be >= 0, got {self.frames}')
        if self.width < 8 or self.height < 8:
            raise WorldError(f'image size must be at least 8x8, got {self.width}x{self.height}')


def subsample(trajectory: Trajectory, frames: int) -> Trajectory:
    """``frames`` poses evenly spread along ``trajectory`` (all when 0 or more than it has)."""
    if frames == 0 or frames >= len(trajectory.stamps):
        return trajectory
    keep = np.unique(np.linspace(0, len(trajectory.stamps) - 1, frames).round().astype(int))
    return Trajectory(trajectory.stamps[keep], trajectory.camera_to_world[keep])


def world_config(primitives: bool) -> WorldConfig:
    if not primitives:
        return WorldConfig()
    return replace(WorldConfig(), furniture=FurnitureConfig(source='primitives'))


def synthesize(request: SynthesisRequest) -> dict[str, Any]:
    """Write the scene, its bag, and with a change the changed scene and its bag."""
    started = time.perf_counter()
    out = Path(request.out)
    for name in (BEFORE_BAG, AFTER_BAG):
        if (out / name).exists() and not request.overwrite:
            raise WorldError(f'{out / name} exists; pass --overwrite to replace it')
    world = generate_world(request.seed, world_config(request.primitives))
    trajectory = subsample(plan_trajectory(world, seed=request.seed), request.frames)
    camera = default_camera(request.width, request.height)
    render = RenderConfig() if request.noise else replace(
        RenderConfig(), noise=replace(NoiseConfig(), enabled=False))
    out.mkdir(parents=True, exist_ok=True)
    world.save(out / WORLD_DIR)
    summary: dict[str, Any] = {'seed': request.seed, 'out': str(out),
                               'objects': len(world.objects), 'rooms': len(world.layout.rooms),
                               'frames': len(trajectory.stamps)}
    summary['before_bag'] = str(_record(world, trajectory, camera, render, out / BEFORE_BAG,
                                        request, 'before'))
    if request.change:
        after, record = apply_change(world, request.change, seed=request.seed)
        after.save(out / AFTER_WORLD_DIR)
        save_change(record, str(out / CHANGE_FILE))
        summary['change'] = record.description
        # The robot walks the changed scene on a path planned in it: a blocked doorway is not
        # walked through, a new room may be visited.
        after_walk = subsample(plan_trajectory(after, seed=request.seed), request.frames)
        summary['after_frames'] = len(after_walk.stamps)
        summary['after_bag'] = str(_record(after, after_walk, camera, render, out / AFTER_BAG,
                                           request, 'after'))
    summary['seconds'] = round(time.perf_counter() - started, 2)
    return summary


def _record(world: World, trajectory: Trajectory, camera: Any, render: RenderConfig,
            path: Path, request: SynthesisRequest, name: str) -> Path:
    sequence = render_sequence(world, trajectory, camera, render, name=name)
    return write_sequence_bag(sequence, path, depth_encoding=request.encoding,
                              overwrite=request.overwrite)
