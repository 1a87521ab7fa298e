"""Two rooms joined by a doorway, built from boxes, with exact base geometry (no training)."""

from __future__ import annotations

import numpy as np
import open3d as o3d

from scenemem_ros.changes import BaseGeometry, ChangeDetectorConfig
from scenemem_ros.data.frame import Frame
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at
from scenemem_ros.geometry.voxels import VoxelGrid

# rooms: x in [0, 4] and [4, 8], y in [0, 3], walls 0.1 thick, doorway at y in [1.0, 2.0]
BOUNDS = (np.array([-0.2, -0.2, -0.1]), np.array([8.2, 3.2, 2.6]))
DOORWAY = ((3.95, 1.0, 0.0), (4.05, 2.0, 2.1))
TABLE = ((1.0, 0.6, 0.0), (1.8, 1.4, 0.8))


def box(low, high) -> o3d.geometry.TriangleMesh:
    size = np.subtract(high, low)
    return o3d.geometry.TriangleMesh.create_box(*size).translate(np.asarray(low, float))


def apartment(extra=(), without_table=False) -> o3d.geometry.TriangleMesh:
    parts = [box((-0.1, -0.1, -0.1), (8.1, 3.1, 0.0)),  # floor
             box((-0.1, -0.1, 0.0), (0.0, 3.1, 2.5)), box((8.0, -0.1, 0.0), (8.1, 3.1, 2.5)),
             box((-0.1, -0.1, 0.0), (8.1, 0.0, 2.5)), box((-0.1, 3.0, 0.0), (8.1, 3.1, 2.5)),
             box((3.95, 0.0, 0.0), (4.05, 1.0, 2.5)), box((3.95, 2.0, 0.0), (4.05, 3.0, 2.5)),
             box((3.95, 1.0, 2.1), (4.05, 2.0, 2.5))]
    if not without_table:
        parts.append(box(*TABLE))
    parts += [box(*b) for b in extra]
    mesh = parts[0]
    for part in parts[1:]:
        mesh += part
    return mesh


def base_from_mesh(mesh: o3d.geometry.TriangleMesh, config: ChangeDetectorConfig
                   ) -> BaseGeometry:
    grid = VoxelGrid.from_bounds(*BOUNDS, config.resolution)
    index = np.stack(np.meshgrid(*(np.arange(n) for n in grid.shape), indexing='ij'), -1)
    centres = np.asarray(grid.origin) + (index.reshape(-1, 3) + 0.5) * grid.resolution
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    query = o3d.core.Tensor(centres.astype(np.float32))
    distance = scene.compute_distance(query).numpy()
    inside = scene.compute_occupancy(query).numpy() > 0.5
    occupied = ((distance < 0.5 * grid.resolution * np.sqrt(3)) | inside).reshape(grid.shape)
    return BaseGeometry.from_voxels(grid, occupied, np.ones(grid.shape, bool), mesh, config)


def walk(mesh: o3d.geometry.TriangleMesh, count: int = 40, width: int = 160, height: int = 120,
         noise: float = 0.0, seed: int = 0) -> list[Frame]:
    """Frames from a camera walking through both rooms and looking around."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    camera = PinholeCamera.from_fov(width, height, 80.0)
    rays = camera.rays().numpy().reshape(-1, 3)
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(count):
        t = index / max(count - 1, 1)
        eye = np.array([0.7 + 6.6 * t, 2.3 - 0.6 * np.sin(np.pi * t), 1.2])
        angle = 4 * np.pi * t
        target = eye + np.array([np.cos(angle), np.sin(angle) * 0.8, -0.3])
        pose = look_at(eye, target)
        directions = rays @ pose[:3, :3].T
        query = np.concatenate([np.broadcast_to(eye, directions.shape), directions], 1)
        depth = scene.cast_rays(o3d.core.Tensor(query.astype(np.float32)))['t_hit'].numpy()
        depth = depth.reshape(height, width).astype(np.float32)
        depth[~np.isfinite(depth)] = np.nan
        if noise:
            depth = depth + rng.normal(0, noise, depth.shape).astype(np.float32) * depth ** 2
        frames.append(Frame(stamp=0.1 * index, camera=camera, camera_to_world=pose, depth=depth))
    return frames
