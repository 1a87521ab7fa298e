"""Depth rendering with Open3D ray casting, a depth-camera noise model, and Frame/Sequence output.

Rays go through pixel centres (pixel (u, v) -> K^-1 [u, v, 1]) with z = 1 in the optical frame,
so Open3D's hit distance, measured in units of the ray direction's length, is the z-depth.
"""

from __future__ import annotations

import functools

import numpy as np
import open3d as o3d

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.world.config import NoiseConfig, RenderConfig
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.scene import World
from scenemem_ros.world.trajectory import Trajectory

DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_HFOV_DEG = 640, 480, 70.0
RAYS_PER_BATCH = 1 << 21


def default_camera(width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                   horizontal_fov_deg: float = DEFAULT_HFOV_DEG) -> PinholeCamera:
    """A depth camera like common RGB-D sensors: 640x480, 70 degrees across."""
    return PinholeCamera.from_fov(width, height, horizontal_fov_deg)


@functools.lru_cache(maxsize=8)
def _local_rays(camera: PinholeCamera) -> np.ndarray:
    """(H * W, 3) float32 optical-frame rays through pixel centres, z = 1."""
    v, u = np.meshgrid(np.arange(camera.height), np.arange(camera.width), indexing='ij')
    local = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                      np.ones(u.shape)], axis=-1)
    return local.reshape(-1, 3).astype(np.float32)


def _rays(camera: PinholeCamera, poses: np.ndarray) -> np.ndarray:
    """(B, 4, 4) poses -> (B, H * W, 6) float32 world rays (origin, direction with z_cam = 1)."""
    local = _local_rays(camera)
    rays = np.empty((len(poses), len(local), 6), dtype=np.float32)
    for i, pose in enumerate(poses):
        rays[i, :, :3] = pose[:3, 3]
        np.matmul(local, pose[:3, :3].T.astype(np.float32), out=rays[i, :, 3:])
    return rays


def render_clean_depths(world: World, camera: PinholeCamera, poses: np.ndarray) -> np.ndarray:
    """(B, 4, 4) camera-to-world poses -> (B, H, W) float32 exact z-depth, NaN where no hit."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    per_frame = camera.width * camera.height
    depths = np.empty((len(poses), camera.height, camera.width), dtype=np.float32)
    step = max(1, RAYS_PER_BATCH // per_frame)
    for first in range(0, len(poses), step):
        rays = _rays(camera, poses[first:first + step])
        rays_tensor = o3d.core.Tensor.from_numpy(rays)
        hits = world.raycasting_scene.cast_rays(rays_tensor)['t_hit'].numpy()
        hits = hits.reshape(-1, camera.height, camera.width)
        depths[first:first + step] = np.where(np.isfinite(hits), hits, np.nan)
    return depths


def _edge_partner(depth: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) depth -> (H, W) bool edge mask and (H, W) depth across the largest 4-neighbour
    jump (NaN neighbours ignored)."""
    padded = np.pad(depth, 1, mode='edge')
    largest = np.zeros_like(depth)
    partner = depth.copy()
    for neighbour in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        jump = np.abs(neighbour - depth)
        larger = jump > largest  # False where NaN
        largest = np.where(larger, jump, largest)
        partner = np.where(larger, neighbour, partner)
    with np.errstate(invalid='ignore'):
        edge = largest > threshold * np.fmin(depth, partner)
    return edge & np.isfinite(depth), partner


def apply_noise(depth: np.ndarray, config: NoiseConfig, frame_index: int = 0) -> np.ndarray:
    """(H, W) clean depth -> (H, W) float32 noisy depth (NaN invalid), seeded per frame.

    In order: flying pixels (edge pixels moved a uniform fraction of the way to the depth across
    the edge), Gaussian noise of standard deviation ``sigma_k * z**2``, random dropouts.
    """
    if not config.enabled:
        return depth.astype(np.float32, copy=True)
    rng = np.random.default_rng([config.seed, frame_index])
    depth = depth.astype(np.float32)
    edge, partner = _edge_partner(depth, config.edge_threshold)
    flying = edge & (rng.random(depth.shape, dtype=np.float32) < config.flying_pixel_probability)
    mix = rng.random(depth.shape, dtype=np.float32)
    noisy = np.where(flying, depth + mix * (partner - depth), depth)
    noisy += rng.standard_normal(depth.shape, dtype=np.float32) * np.float32(
        config.sigma_k) * noisy * noisy
    noisy[rng.random(depth.shape, dtype=np.float32) < config.dropout_probability] = np.nan
    return noisy


def clip_range(depth: np.ndarray, config: RenderConfig) -> np.ndarray:
    """Depth outside [min_range, max_range] (or non-positive) set to NaN."""
    with np.errstate(invalid='ignore'):
        valid = (depth >= config.min_range) & (depth <= config.max_range) & (depth > 0)
    return np.where(valid, depth, np.float32(np.nan)).astype(np.float32)


def render_depth(world: World, camera: PinholeCamera, camera_to_world: np.ndarray,
                 config: RenderConfig | None = None, frame_index: int = 0) -> np.ndarray:
    """(4, 4) optical-to-world pose -> (H, W) float32 z-depth in metres, NaN invalid."""
    return render_depths(world, camera, np.asarray(camera_to_world)[None], config,
                         first_index=frame_index)[0]


def render_depths(world: World, camera: PinholeCamera, poses: np.ndarray,
                  config: RenderConfig | None = None, first_index: int = 0) -> np.ndarray:
    """(B, 4, 4) poses -> (B, H, W) float32 depth with noise (frame i seeded by first_index+i)
    and range limits applied."""
    return render_depth_pairs(world, camera, poses, config, first_index)[0]


def render_depth_pairs(world: World, camera: PinholeCamera, poses: np.ndarray,
                       config: RenderConfig | None = None, first_index: int = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(B, 4, 4) poses -> (B, H, W) float32 sensor depth (as ``render_depths``) and the
    (B, H, W) float32 true depth of the same rays (no noise, same range limits): one ray cast
    for both."""
    config = config or RenderConfig()
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise WorldError(f'poses must be (B, 4, 4), got shape {poses.shape}')
    clean = render_clean_depths(world, camera, poses)
    noisy = np.stack([clip_range(apply_noise(d, config.noise, first_index + i), config)
                      for i, d in enumerate(clean)])
    true = np.stack([clip_range(d.astype(np.float32), config) for d in clean])
    return noisy, true


def render_frame(world: World, camera: PinholeCamera, camera_to_world: np.ndarray,
                 stamp: float = 0.0, config: RenderConfig | None = None,
                 frame_index: int = 0) -> Frame:
    """One rendered ``Frame``."""
    depth = render_depth(world, camera, camera_to_world, config, frame_index)
    return Frame(stamp=float(stamp), camera=camera, camera_to_world=camera_to_world, depth=depth)


def render_sequence(world: World, trajectory: Trajectory, camera: PinholeCamera | None = None,
                    config: RenderConfig | None = None, name: str | None = None,
                    batch: int = 8) -> Sequence:
    """A ``Sequence`` of depth frames along ``trajectory`` (frame i noise-seeded with i)."""
    camera = camera or default_camera()
    frames = []
    for first in range(0, len(trajectory), batch):
        poses = trajectory.camera_to_world[first:first + batch]
        depths = render_depths(world, camera, poses, config, first_index=first)
        frames += [Frame(stamp=float(trajectory.stamps[first + i]), camera=camera,
                         camera_to_world=poses[i], depth=depths[i]) for i in range(len(poses))]
    return Sequence(frames, name=name or f'{world.kind}_{world.seed}')
