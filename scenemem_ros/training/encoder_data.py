"""Frames for the slot encoder: synthetic clips, recorded sequences, the Middlebury motorcycle.

Synthetic data mixes I-Scene style random object compositions (objects on a floor, no rooms:
spatial priors without semantics) and furnished apartments. Each world gives short clips of
consecutive frames (phase two needs them; phase one uses every frame on its own):
compositions are circled at a random radius, height and speed, looking at a random object;
apartments are walked along ``plan_trajectory``. Depth has the sensor noise model on.
Per-pixel ground-truth instance ids come with synthetic clips (for identity consistency), and
the true (noise-free) depth of the same rays, which training can use as the loss target while
the encoder sees the sensor depth (``EncoderTrainConfig.true_depth_targets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.train import FrameBank
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.world import (
    CompositionConfig,
    NoiseConfig,
    RenderConfig,
    World,
    WorldConfig,
    default_camera,
    generate_composition,
    generate_world,
    plan_trajectory,
)
from scenemem_ros.world.config import FurnitureConfig
from scenemem_ros.world.render import render_depth_pairs
from scenemem_ros.world.trajectory import camera_pose

# Middlebury 2014 "Motorcycle" calibration at the quarter resolution scikit-image ships:
# f = 3979.911 / 4, principal point (1244.772, 1019.507) / 4, baseline 193.001 mm,
# doffs = 124.343 / 4.
MOTORCYCLE_FOCAL = 994.978
MOTORCYCLE_CX, MOTORCYCLE_CY = 311.193, 254.877
MOTORCYCLE_BASELINE = 0.193001
MOTORCYCLE_DOFFS = 31.086


@dataclass(frozen=True)
class SyntheticSpec:
    """Which synthetic frames to make.

    Attributes:
        worlds: number of worlds; even indices are compositions, odd ones apartments.
        first_seed: seed of the first world (world i uses ``first_seed + i``).
        clips_per_world: clips drawn from each world.
        clip_length: consecutive frames per clip.
        width, height: rendered image size (the camera is 70 degrees across).
        noise: depth sensor noise on.
        primitives: boxes and cylinders only (no furniture catalogue needed).
        extra_apartment_seeds: apartments added beside the ``worlds`` (e.g. the demo scene).
    """

    worlds: int
    first_seed: int = 0
    clips_per_world: int = 8
    clip_length: int = 3
    width: int = 160
    height: int = 120
    noise: bool = True
    primitives: bool = False
    extra_apartment_seeds: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ('worlds', 'clips_per_world', 'clip_length', 'width', 'height'):
            if getattr(self, name) < 1:
                raise EncoderError(f'SyntheticSpec.{name} must be >= 1, '
                                   f'got {getattr(self, name)!r}')
        if self.first_seed < 0:
            raise EncoderError(f'SyntheticSpec.first_seed must be >= 0, got {self.first_seed}')


@dataclass(frozen=True, eq=False)
class Clip:
    """Consecutive frames of one world, (T, H, W) int32 instance ids (-1: nothing hit) and
    (T, H, W) float32 true depth without sensor noise (NaN: no return; None when unknown)."""

    frames: list[Frame]
    instance_ids: np.ndarray
    world: str
    true_depth: np.ndarray | None = None


def _furniture(primitives: bool) -> FurnitureConfig:
    return FurnitureConfig(source='primitives') if primitives else FurnitureConfig()


def render_instance_ids(world: World, camera: PinholeCamera, poses: np.ndarray) -> np.ndarray:
    """(B, 4, 4) poses -> (B, H, W) int32 id of the instance each pixel's ray hits (-1: none)."""
    import open3d as o3d

    v, u = np.meshgrid(np.arange(camera.height), np.arange(camera.width), indexing='ij')
    local = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                      np.ones(u.shape)], axis=-1).reshape(-1, 3)
    ids = np.empty((len(poses), camera.height, camera.width), dtype=np.int32)
    triangle_ids = world.triangle_instance_ids
    for i, pose in enumerate(np.asarray(poses)):
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], local.shape), local @ pose[:3, :3].T],
                              axis=1).astype(np.float32)
        hit = world.raycasting_scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
        primitive = hit['primitive_ids'].numpy().astype(np.int64)
        found = np.isfinite(hit['t_hit'].numpy()) & (primitive < len(triangle_ids))
        ids[i] = np.where(found, triangle_ids[np.where(found, primitive, 0)], -1).reshape(
            camera.height, camera.width)
    return ids


def composition_poses(world: World, rng: np.random.Generator, length: int,
                      rate_hz: float = 10.0) -> np.ndarray:
    """(T, 4, 4) consecutive poses circling a random object of a composition."""
    objects = world.objects or world.instances
    target = objects[int(rng.integers(len(objects)))].bounds
    centre = (np.asarray(target.low) + np.asarray(target.high)) / 2
    centre[:2] += rng.normal(0, 0.3, 2)
    radius = rng.uniform(1.2, 4.0)
    height = rng.uniform(0.5, 2.0)
    speed = rng.uniform(-0.6, 0.6) / radius  # rad/s, about 0-0.6 m/s along the circle
    angle = rng.uniform(0, 2 * np.pi) + speed * np.arange(length) / rate_hz
    positions = np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle),
                          np.full(length, height)], axis=1)
    aim_height = rng.uniform(0.0, max(0.1, centre[2]))
    yaw = angle + np.pi + rng.normal(0, 0.15)
    pitch = np.full(length, np.arctan2(aim_height - height, radius))
    return camera_pose(positions, yaw, pitch)


def world_clips(world: World, count: int, length: int, camera: PinholeCamera,
                render: RenderConfig, rng: np.random.Generator) -> list[Clip]:
    """``count`` clips of ``length`` consecutive frames of one world."""
    if world.kind == 'composition':
        poses = [composition_poses(world, rng, length) for _ in range(count)]
    else:
        walk = plan_trajectory(world, seed=int(rng.integers(1 << 16))).camera_to_world
        starts = rng.integers(0, max(1, len(walk) - length), count)
        poses = [walk[s:s + length] for s in starts]
    clips = []
    for index, clip_poses in enumerate(poses):
        first = index * length
        depth, true_depth = render_depth_pairs(world, camera, clip_poses, render,
                                               first_index=first)
        frames = [Frame(stamp=0.1 * t, camera=camera, camera_to_world=pose, depth=d)
                  for t, (pose, d) in enumerate(zip(clip_poses, depth, strict=True))]
        clips.append(Clip(frames, render_instance_ids(world, camera, clip_poses),
                          f'{world.kind}_{world.seed}', true_depth))
    return clips


def synthetic_clips(spec: SyntheticSpec) -> list[Clip]:
    """Clips of every world of ``spec`` (seeded, so the same spec gives the same frames)."""
    camera = default_camera(spec.width, spec.height)
    furniture = _furniture(spec.primitives)
    clips: list[Clip] = []
    worlds: list[World] = []
    for i in range(spec.worlds):
        seed = spec.first_seed + i
        if i % 2 == 0:
            worlds.append(generate_composition(seed, CompositionConfig(furniture=furniture)))
        else:
            worlds.append(generate_world(seed, WorldConfig(furniture=furniture)))
    for seed in spec.extra_apartment_seeds:
        worlds.append(generate_world(seed, WorldConfig(furniture=furniture)))
    for index, world in enumerate(worlds):
        rng = np.random.default_rng([spec.first_seed, index, world.seed])
        render = RenderConfig(noise=NoiseConfig(enabled=spec.noise,
                                                seed=(spec.first_seed + index) % (1 << 31)))
        clips += world_clips(world, spec.clips_per_world, spec.clip_length, camera, render, rng)
    return clips


def resize_frame(depth: np.ndarray, camera: PinholeCamera, height: int, width: int
                 ) -> tuple[np.ndarray, PinholeCamera]:
    """(H, W) depth -> (height, width) depth (nearest source pixel) and its intrinsics."""
    if depth.shape == (height, width):
        return depth, camera
    rows = ((np.arange(height) + 0.5) * depth.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * depth.shape[1] / width).astype(np.int64)
    sx, sy = width / depth.shape[1], height / depth.shape[0]
    resized = PinholeCamera(fx=camera.fx * sx, fy=camera.fy * sy, cx=(camera.cx + 0.5) * sx - 0.5,
                            cy=(camera.cy + 0.5) * sy - 0.5, width=width, height=height)
    return depth[rows][:, cols], resized


def bank_from_clips(clips: list[list[Frame]], height: int, width: int,
                    true_depths: list[np.ndarray | None] | None = None) -> FrameBank:
    """Clips of frames (any sizes) -> ``FrameBank`` at ``height x width``; clips shorter than
    the longest are used as single frames only. ``true_depths`` (one (T, H, W) array or None
    per clip) becomes the bank's ``target_depth`` when every clip has one."""
    frames: list[Frame] = [f for clip in clips for f in clip if f.depth is not None]
    if not frames:
        raise EncoderError('no depth frames to train on (point-only datasets have no depth)')
    if true_depths is not None and len(true_depths) != len(clips):
        raise EncoderError(f'{len(true_depths)} true depths for {len(clips)} clips')
    truths = true_depths if true_depths is not None else [None] * len(clips)
    use_truth = true_depths is not None and all(t is not None for t in truths)
    length = max(len(c) for c in clips)
    depth: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    intrinsics: list[np.ndarray] = []
    poses: list[np.ndarray] = []
    index_rows: list[list[int]] = []
    for c, clip in enumerate(clips):
        start = len(depth)
        for t, frame in enumerate(clip):
            if frame.depth is None:
                continue
            resized, camera = resize_frame(frame.depth, frame.camera, height, width)
            depth.append(resized)
            truth = truths[c]
            if use_truth and truth is not None:
                targets.append(resize_frame(truth[t], frame.camera, height, width)[0])
            intrinsics.append(camera.matrix)
            poses.append(frame.camera_to_world)
        if len(depth) - start == length:
            index_rows.append(list(range(start, start + length)))
    return FrameBank(torch.from_numpy(np.stack(depth).astype(np.float32)),
                     torch.tensor(np.stack(intrinsics), dtype=torch.float32),
                     torch.tensor(np.stack(poses), dtype=torch.float32),
                     torch.tensor(index_rows, dtype=torch.long).reshape(-1, length),
                     torch.from_numpy(np.stack(targets).astype(np.float32)) if use_truth
                     else None)


def sequence_clips(sequence: Sequence, length: int) -> list[list[Frame]]:
    """A recorded sequence cut into consecutive clips of ``length`` (the rest dropped)."""
    frames = [f for f in sequence if f.depth is not None]
    return [frames[i:i + length] for i in range(0, len(frames) - length + 1, length)]


def motorcycle_frame() -> Frame:
    """The Middlebury 2014 "Motorcycle" ground-truth disparity that scikit-image ships, as a
    depth frame: Z = f * B / (d + doffs) metres (2.1 - 5.0 m; invalid pixels NaN), identity
    pose."""
    from skimage import data as skimage_data

    _, _, disparity = skimage_data.stereo_motorcycle()
    disparity = np.asarray(disparity, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        depth = MOTORCYCLE_FOCAL * MOTORCYCLE_BASELINE / (disparity + MOTORCYCLE_DOFFS)
    depth = np.where(np.isfinite(disparity) & np.isfinite(depth) & (depth > 0), depth, np.nan)
    camera = PinholeCamera(fx=MOTORCYCLE_FOCAL, fy=MOTORCYCLE_FOCAL, cx=MOTORCYCLE_CX,
                           cy=MOTORCYCLE_CY, width=depth.shape[1], height=depth.shape[0])
    return Frame(stamp=0.0, camera=camera, camera_to_world=np.eye(4),
                 depth=depth.astype(np.float32), frame_id='motorcycle_optical_frame')
