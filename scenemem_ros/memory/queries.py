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
from scenemem_ros.memory.baked import (  # re-exported: they were defined here
    FREE,
    OCCUPIED,
    UNKNOWN,
    OccupancyVolume,
    SceneBakeCache,
)
from scenemem_ros.memory.config import BakeConfig
from scenemem_ros.memory.errors import MemoryModelError
from scenemem_ros.memory.field import SceneMemoryField

if TYPE_CHECKING:  # open3d is imported where it is used: baking alone should start fast
    import open3d as o3d

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


def weights_fingerprint(field: SceneMemoryField) -> tuple[tuple[int, int], ...]:
    """(storage address, in-place version) of every parameter and buffer of ``field``.

    Any optimiser step, ``copy_`` or replaced scene changes it, which retires attached caches.
    """
    tensors = [*field.parameters(), *field.buffers()]
    return tuple((tensor.data_ptr(), tensor._version) for tensor in tensors)


def _valid_cache(field: SceneMemoryField, scene: str) -> SceneBakeCache | None:
    field.scene(scene)
    cache = field.bake_cache.get(scene)
    if cache is None or cache.fingerprint != weights_fingerprint(field):
        return None
    return cache


def cached_occupancy(field: SceneMemoryField, scene: str, minimum: np.ndarray,
                     maximum: np.ndarray, resolution: float) -> OccupancyVolume | None:
    """The box's occupancy cut from the checkpoint's baked cache, or None if it cannot serve it.

    It serves boxes at the cached resolution whose corner lies on the cached voxel lattice;
    voxels outside the cached box are unknown (as ``bake`` makes them outside the scene box).
    """
    cache = _valid_cache(field, scene)
    return None if cache is None else cache.occupancy(minimum, maximum, resolution)


def occupancy_volume(field: SceneMemoryField, scene: str, minimum: np.ndarray,
                     maximum: np.ndarray, resolution: float, use_cache: bool = True,
                     config: BakeConfig | None = None) -> OccupancyVolume:
    """(X, Y, Z) occupancy of a box: from the checkpoint's cache when it can, else baked."""
    if use_cache:
        cached = cached_occupancy(field, scene, minimum, maximum, resolution)
        if cached is not None:
            return cached
    volume = bake(field, scene, minimum, maximum, resolution, config)
    return OccupancyVolume(grid=volume.grid, occupied=volume.occupied(), observed=volume.observed)


def _voxel_centres(grid: VoxelGrid, index: torch.Tensor) -> torch.Tensor:
    origin = torch.tensor(grid.origin, dtype=torch.float32, device=index.device)
    return origin + (index.float() + 0.5) * grid.resolution


def _upsample(values: torch.Tensor, factor: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(A, B, C) -> (X, Y, Z) ``shape``: each value repeated ``factor`` times per axis, cropped."""
    for axis in range(3):
        values = values.repeat_interleave(factor, axis)
    return values[:shape[0], :shape[1], :shape[2]].contiguous()


def _observed_voxels(field: SceneMemoryField, scene: str, grid: VoxelGrid,
                     device: torch.device) -> torch.Tensor:
    """(X, Y, Z) bool: ``SceneGrid.observed_at`` of every voxel centre, one axis at a time.

    The mask is axis-aligned, so each axis's voxel centres map to mask indices independently;
    the arithmetic per coordinate is the same as ``observed_at``'s, so the result is identical
    without building the (X * Y * Z, 3) centres.
    """
    scene_grid = field.scene(scene)
    indices, inside = [], []
    for axis, count in enumerate(grid.shape):
        centres = torch.tensor(grid.origin[axis], dtype=torch.float32, device=device) + (
            torch.arange(count, device=device).float() + 0.5) * grid.resolution
        index = torch.floor((centres - scene_grid.origin[axis])
                            / scene_grid.observed_resolution).long()
        valid = (index >= 0) & (index < scene_grid.observed.shape[axis])
        indices.append(index.clamp(0, scene_grid.observed.shape[axis] - 1))
        inside.append(valid)
    mask = scene_grid.observed[indices[0]][:, indices[1]][:, :, indices[2]]
    return mask & inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]


def bake(field: SceneMemoryField, scene: str, minimum: np.ndarray, maximum: np.ndarray,
         resolution: float, config: BakeConfig | None = None) -> BakedVolume:
    """Evaluate scene ``scene`` on the voxel centres of a box, coarse to fine.

    The field is first evaluated once per block of 4x4x4 voxels; blocks near a surface (the
    block or a neighbour closer than 0.95 truncation) are refined, the rest take their block's
    value. Refinement first evaluates each 2x2x2 sub-block's centre: with the slope bound
    ``config.lipschitz`` (L) and the distance h from its centre to its voxels' centres, a centre
    value d with ``d - L h >= resolution / 2`` or ``d + L h <= 0`` decides every voxel of the
    sub-block (occupied, free and the sign of the distance), which then takes d; only the other
    sub-blocks are evaluated voxel by voxel (off by default, see ``BakeConfig``).
    ``config.dense`` evaluates every voxel instead (the reference).
    Outside the scene's box, and in space no camera observed, voxels are unknown (``observed``
    False, distance +truncation).
    """
    config = config or BakeConfig()
    if not (math.isfinite(resolution) and resolution > 0):
        raise MemoryModelError(f'bake resolution must be > 0, got {resolution!r}')
    grid = VoxelGrid.from_bounds(minimum, maximum, resolution)
    if grid.num_cells > 400_000_000:
        raise MemoryModelError(f'bake box of {grid.shape} voxels is too large')
    scene_grid = field.scene(scene)
    device = scene_grid.origin.device
    truncation = field.config.truncation
    observed = _observed_voxels(field, scene, grid, device)
    if config.dense:
        all_index = torch.nonzero(torch.ones(grid.shape, dtype=torch.bool, device=device))
        distance = field.signed_distance(scene, _voxel_centres(grid, all_index)).view(*grid.shape)
    else:
        distance = _coarse_to_fine(field, scene, grid, device, config.lipschitz)
    distance = torch.where(observed, distance, torch.full_like(distance, truncation))
    return BakedVolume(grid=grid, distance=distance.cpu().numpy(),
                       observed=observed.cpu().numpy(), truncation=truncation)


def _block_values(field: SceneMemoryField, scene: str, grid: VoxelGrid, index: torch.Tensor,
                  size: int) -> torch.Tensor:
    """(N, 3) block indices of ``size``-voxel blocks -> (N,) distance at the block centres."""
    centre_voxel = index.float() * size + (size - 1) / 2
    return field.signed_distance(scene, _voxel_centres(grid, centre_voxel))


def _coarse_to_fine(field: SceneMemoryField, scene: str, grid: VoxelGrid, device: torch.device,
                    lipschitz: float) -> torch.Tensor:
    """(X, Y, Z) float32 distance of ``grid``'s voxels, evaluated coarse to fine (see bake)."""
    truncation = field.config.truncation
    resolution = grid.resolution
    shape = torch.tensor(grid.shape, device=device)
    blocks = ((shape + REFINE_BLOCK - 1) // REFINE_BLOCK).tolist()
    block_index = torch.nonzero(torch.ones(blocks, dtype=torch.bool, device=device))
    block_distance = _block_values(field, scene, grid, block_index, REFINE_BLOCK).view(*blocks)
    near = (block_distance.abs() < 0.95 * truncation).float()[None, None]
    refine = functional.max_pool3d(near, 3, stride=1, padding=1)[0, 0] > 0
    if lipschitz > 0:
        step = REFINE_BLOCK // 2
        sub_shape = tuple(int(n) for n in (shape + step - 1) // step)
        sub_distance = _upsample(block_distance, 2, sub_shape)
        sub_refine = _upsample(refine, 2, sub_shape)
        sub_index = torch.nonzero(sub_refine)
        uncertain = torch.zeros(sub_shape, dtype=torch.bool, device=device)
        if sub_index.numel():
            values = _block_values(field, scene, grid, sub_index, step)
            sub_distance[sub_index[:, 0], sub_index[:, 1], sub_index[:, 2]] = values
            # the farthest voxel centre of a sub-block is this far from the sub-block's centre
            reach = lipschitz * resolution * (step - 1) * math.sqrt(3.0) / 2
            undecided = (values - reach < 0.5 * resolution) & (values + reach > 0)
            kept = sub_index[undecided]
            uncertain[kept[:, 0], kept[:, 1], kept[:, 2]] = True
        distance = _upsample(sub_distance, step, grid.shape)
        refine_voxels = _upsample(uncertain, step, grid.shape)
    else:
        distance = _upsample(block_distance, REFINE_BLOCK, grid.shape)
        refine_voxels = _upsample(refine, REFINE_BLOCK, grid.shape)
    fine_index = torch.nonzero(refine_voxels)
    if fine_index.numel():
        values = field.signed_distance(scene, _voxel_centres(grid, fine_index))
        distance[fine_index[:, 0], fine_index[:, 1], fine_index[:, 2]] = values
    return distance


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
                    maximum_xy: np.ndarray | None = None, use_cache: bool = True
                    ) -> tuple[GridSpec2D, np.ndarray]:
    """The 2D map of a height band: (spec, (X, Y) int8 with -1 unknown, 0 free, 100 occupied).

    The band is baked ``supersample`` times finer than ``resolution``; a cell is occupied when
    any of its fine voxels lies within a quarter fine voxel of the surface or behind it. Deciding
    at the finer scale keeps walls from spilling into the next cell when they sit near a cell
    border (about 0.80 -> 0.90 IoU against exact ground truth at 5 cm on a furnished apartment).
    The box defaults to the scene's; for it, a map baked into the checkpoint with the same
    resolution, band and supersampling is returned (a copy) instead of baking (``use_cache``).
    """
    if supersample < 1:
        raise MemoryModelError(f'supersample must be >= 1, got {supersample}')
    cache = _valid_cache(field, scene) if use_cache else None
    if cache is not None and minimum_xy is None and maximum_xy is None:
        cached = cache.navigation(resolution, z_min, z_max, supersample)
        if cached is not None:
            return cached
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
            # Open3D builds its BVH on the first query: do it now (configure time) rather than
            # in the first frame, which otherwise takes ~150 ms longer than the rest
            self.scene.cast_rays(o3d.core.Tensor.from_numpy(
                np.array([[0, 0, 0, 0, 0, 1]], np.float32)))

    def render(self, camera: PinholeCamera, camera_to_world: np.ndarray,
               max_range: float = 20.0) -> np.ndarray:
        """(H, W) float32 z-depth (m) the memory expects; NaN where nothing is within range."""
        rays = camera_rays(camera).reshape(-1, 3)
        pose = np.asarray(camera_to_world)
        # rows of (origin, direction); filled column by column (copies into (N, 3) halves of an
        # (N, 6) array are slow)
        query = np.empty((len(rays), 6), dtype=np.float32)
        for axis in range(3):
            query.reshape(-1)[axis::6] = pose[axis, 3]
        np.matmul(rays, pose.astype(np.float32)[:3, :3].T, out=query[:, 3:])
        rays_tensor = self._o3d.core.Tensor.from_numpy(query)
        hit = self.scene.cast_rays(rays_tensor)['t_hit'].numpy()
        depth = hit.reshape(camera.height, camera.width).astype(np.float32)
        depth[~np.isfinite(depth) | (depth > max_range)] = np.nan
        return depth
