"""Queries on a trained memory: baking to voxels, 2D occupancy, surface meshes, expected depth."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as functional

from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.voxels import GridSpec2D, VoxelGrid
from scenemem_ros.memory.errors import MemoryModelError
from scenemem_ros.memory.field import SceneMemoryField

if TYPE_CHECKING:  # open3d is imported where it is used: baking alone should start fast
    import open3d as o3d

UNKNOWN, FREE, OCCUPIED = -1, 0, 100
REFINE_BLOCK = 4


@dataclass(frozen=True, eq=False)
class BakedVolume:
    """A scene baked to voxels.

    Attributes:
        grid: the voxel grid spec.
        distance: (X, Y, Z) float32 truncated signed distance (m) at voxel centres.
        observed: (X, Y, Z) bool, the training cameras saw this voxel (else unknown).
        truncation: the distance at which ``distance`` saturates.
    """

    grid: VoxelGrid
    distance: np.ndarray
    observed: np.ndarray
    truncation: float

    def occupied(self) -> np.ndarray:
        """(X, Y, Z) bool: observed voxels within half a voxel of the surface, or behind it."""
        return self.observed & (self.distance < 0.5 * self.grid.resolution)

    def free(self) -> np.ndarray:
        """(X, Y, Z) bool: observed voxels clear of any surface."""
        return self.observed & ~(self.distance < 0.5 * self.grid.resolution)


def _voxel_centres(grid: VoxelGrid, index: torch.Tensor) -> torch.Tensor:
    origin = torch.tensor(grid.origin, dtype=torch.float32, device=index.device)
    return origin + (index.float() + 0.5) * grid.resolution


def bake(field: SceneMemoryField, scene: str, minimum: np.ndarray, maximum: np.ndarray,
         resolution: float) -> BakedVolume:
    """Evaluate scene ``scene`` on the voxel centres of a box, coarse to fine.

    The field is first evaluated once per block of 4x4x4 voxels; only blocks near a surface (the
    block or a neighbour closer than 0.95 truncation) are evaluated voxel by voxel, the rest take
    their block's value. Outside the scene's box, and in space no camera observed, voxels are
    unknown (``observed`` False, distance +truncation).
    """
    if not (math.isfinite(resolution) and resolution > 0):
        raise MemoryModelError(f'bake resolution must be > 0, got {resolution!r}')
    grid = VoxelGrid.from_bounds(minimum, maximum, resolution)
    if grid.num_cells > 400_000_000:
        raise MemoryModelError(f'bake box of {grid.shape} voxels is too large')
    scene_grid = field.scene(scene)
    device = scene_grid.origin.device
    truncation = field.config.truncation
    shape = torch.tensor(grid.shape, device=device)
    blocks = (shape + REFINE_BLOCK - 1) // REFINE_BLOCK
    block_index = torch.stack(torch.meshgrid(*(torch.arange(int(n), device=device)
                                                for n in blocks), indexing='ij'), -1).view(-1, 3)
    block_centre_voxel = block_index * REFINE_BLOCK + (REFINE_BLOCK - 1) / 2
    origin = torch.tensor(grid.origin, dtype=torch.float32, device=device)
    block_points = origin + (block_centre_voxel + 0.5) * resolution
    block_distance = field.signed_distance(scene, block_points).view(*blocks.tolist())
    near = (block_distance.abs() < 0.95 * truncation).float()[None, None]
    refine = functional.max_pool3d(near, 3, stride=1, padding=1)[0, 0] > 0
    distance = block_distance.repeat_interleave(REFINE_BLOCK, 0) \
        .repeat_interleave(REFINE_BLOCK, 1).repeat_interleave(REFINE_BLOCK, 2)
    distance = distance[:grid.shape[0], :grid.shape[1], :grid.shape[2]].contiguous()
    refine_voxels = refine.repeat_interleave(REFINE_BLOCK, 0).repeat_interleave(
        REFINE_BLOCK, 1).repeat_interleave(REFINE_BLOCK, 2)[:grid.shape[0], :grid.shape[1],
                                                           :grid.shape[2]]
    fine_index = torch.nonzero(refine_voxels)
    if fine_index.numel():
        values = field.signed_distance(scene, _voxel_centres(grid, fine_index))
        distance[fine_index[:, 0], fine_index[:, 1], fine_index[:, 2]] = values
    all_index = torch.stack(torch.meshgrid(*(torch.arange(n, device=device) for n in grid.shape),
                                           indexing='ij'), -1).view(-1, 3)
    observed = scene_grid.observed_at(_voxel_centres(grid, all_index)).view(*grid.shape)
    distance = torch.where(observed, distance, torch.full_like(distance, truncation))
    return BakedVolume(grid=grid, distance=distance.cpu().numpy(),
                       observed=observed.cpu().numpy(), truncation=truncation)


def bake_scene(field: SceneMemoryField, scene: str, resolution: float) -> BakedVolume:
    """Bake the scene's whole box."""
    low, high = field.scene(scene).bounds
    return bake(field, scene, low, high, resolution)


def occupancy_grid_2d(volume: BakedVolume, z_min: float, z_max: float
                      ) -> tuple[GridSpec2D, np.ndarray]:
    """Project a height band to a 2D grid: (spec, (X, Y) int8 with -1 unknown, 0 free, 100 occ).

    A cell is occupied when any voxel of the band in its column is occupied, free when the band
    was observed there and nothing is occupied, unknown otherwise.
    """
    if not z_max > z_min:
        raise MemoryModelError(f'height band needs z_max > z_min, got [{z_min}, {z_max}]')
    grid = volume.grid
    z_centres = grid.origin[2] + (np.arange(grid.shape[2]) + 0.5) * grid.resolution
    band = (z_centres >= z_min) & (z_centres <= z_max)
    if not band.any():
        raise MemoryModelError(
            f'height band [{z_min}, {z_max}] m holds no voxel of the baked box '
            f'[{grid.origin[2]:.2f}, {grid.maximum[2]:.2f}] m')
    occupied = volume.occupied()[:, :, band].any(axis=2)
    observed = volume.observed[:, :, band].any(axis=2)
    cells = np.full(grid.shape[:2], UNKNOWN, dtype=np.int8)
    cells[observed] = FREE
    cells[occupied] = OCCUPIED
    spec = GridSpec2D(origin=grid.origin[:2], resolution=grid.resolution, shape=grid.shape[:2])
    return spec, cells


def navigation_grid(field: SceneMemoryField, scene: str, z_min: float, z_max: float,
                    resolution: float, supersample: int = 3,
                    minimum_xy: np.ndarray | None = None,
                    maximum_xy: np.ndarray | None = None) -> tuple[GridSpec2D, np.ndarray]:
    """The 2D map of a height band: (spec, (X, Y) int8 with -1 unknown, 0 free, 100 occupied).

    The band is baked ``supersample`` times finer than ``resolution``; a cell is occupied when
    any of its fine voxels lies within a quarter fine voxel of the surface or behind it. Deciding
    at the finer scale keeps walls from spilling into the next cell when they sit near a cell
    border (about 0.80 -> 0.90 IoU against exact ground truth at 5 cm on a furnished apartment).
    The box defaults to the scene's.
    """
    if supersample < 1:
        raise MemoryModelError(f'supersample must be >= 1, got {supersample}')
    low, high = field.scene(scene).bounds
    low_xy = low[:2] if minimum_xy is None else np.asarray(minimum_xy, dtype=np.float64)
    high_xy = high[:2] if maximum_xy is None else np.asarray(maximum_xy, dtype=np.float64)
    spec = GridSpec2D.from_bounds(low_xy, high_xy, resolution)
    fine_resolution = resolution / supersample
    top = np.asarray(spec.origin) + np.asarray(spec.shape) * resolution
    fine = bake(field, scene, np.array([*spec.origin, z_min]), np.array([*top, z_max]),
                fine_resolution)
    nx, ny = spec.shape
    fx, fy = nx * supersample, ny * supersample
    occupied = fine.observed & (fine.distance < 0.25 * fine_resolution)
    shape = (nx, supersample, ny, supersample)
    occupied_cells = np.asarray(occupied.any(axis=2))[:fx, :fy].reshape(shape).any(axis=(1, 3))
    observed_cells = np.asarray(fine.observed.any(axis=2))[:fx, :fy].reshape(shape).any(
        axis=(1, 3))
    cells = np.full(spec.shape, UNKNOWN, dtype=np.int8)
    cells[observed_cells] = FREE
    cells[occupied_cells] = OCCUPIED
    return spec, cells


def surface_mesh(volume: BakedVolume) -> o3d.geometry.TriangleMesh:
    """Triangle mesh of the zero level set (marching cubes) in observed space.

    Cubes touching unobserved voxels are skipped, so no surface is invented where the field was
    never trained (behind walls, outside the cameras' view).
    """
    import open3d as o3d
    from skimage.measure import marching_cubes

    values = np.where(volume.observed, volume.distance, volume.truncation).astype(np.float32)
    padded = np.pad(values, 1, constant_values=volume.truncation)
    mask = np.pad(volume.observed, 1, constant_values=False)
    if not (padded[mask].min(initial=1.0) < 0 < padded[mask].max(initial=-1.0)):
        return o3d.geometry.TriangleMesh()
    vertices, faces, _, _ = marching_cubes(padded, level=0.0, mask=mask)
    vertices = (vertices - 1 + 0.5) * volume.grid.resolution + np.asarray(volume.grid.origin)
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices.astype(np.float64)),
                                     o3d.utility.Vector3iVector(faces.astype(np.int32)))
    return mesh


@functools.lru_cache(maxsize=16)
def camera_rays(camera: PinholeCamera) -> np.ndarray:
    """(H, W, 3) float32 optical-frame rays with z = 1, cached per camera (read-only)."""
    rays = camera.rays().numpy().astype(np.float32)
    rays.setflags(write=False)
    return rays


class DepthRenderer:
    """Expected depth images of a mesh (the memory's surface) by ray casting."""

    def __init__(self, mesh: o3d.geometry.TriangleMesh) -> None:
        import open3d as o3d

        self._o3d = o3d
        self.scene = o3d.t.geometry.RaycastingScene()
        if len(mesh.triangles):
            self.scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))

    def render(self, camera: PinholeCamera, camera_to_world: np.ndarray,
               max_range: float = 20.0) -> np.ndarray:
        """(H, W) float32 z-depth (m) the memory expects; NaN where nothing is within range."""
        rays = camera_rays(camera).reshape(-1, 3)
        directions = rays @ np.asarray(camera_to_world, dtype=np.float32)[:3, :3].T
        origin = np.broadcast_to(np.asarray(camera_to_world)[:3, 3], directions.shape)
        query = np.concatenate([origin, directions], axis=1).astype(np.float32)
        # open3d's stub wrongly makes Tensor's dtype and device required.
        rays_tensor = self._o3d.core.Tensor(query)  # type: ignore[call-overload]
        hit = self.scene.cast_rays(rays_tensor)['t_hit'].numpy()
        depth = hit.reshape(camera.height, camera.width).astype(np.float32)
        depth[~np.isfinite(depth) | (depth > max_range)] = np.nan
        return depth
