"""What the memory says is there: the geometry every frame is compared with.

``BaseGeometry`` holds, at the detector's voxel resolution, which voxels the memory knows
(observed in training) and which of those are occupied, the 2D free map of the robot's height
band, and a ray caster for the depth the memory expects. It is built once from a memory
checkpoint (``from_memory``) or, in tests and ablations, from any voxel occupancy
(``from_voxels``), for example a world's exact ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import open3d as o3d
from scipy import ndimage

from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.changes.errors import ChangeDetectionError
from scenemem_ros.geometry.voxels import VoxelGrid
from scenemem_ros.memory.queries import BakedVolume, DepthRenderer, bake_scene, surface_mesh


@dataclass(frozen=True, eq=False)
class BaseGeometry:
    """The memory at the detector's resolution.

    Attributes:
        grid: the evidence voxel grid (world frame).
        occupied: (X, Y, Z) bool, the memory holds a surface or solid here.
        known: (X, Y, Z) bool, the memory was trained on observations of this voxel.
        near_occupied: (X, Y, Z) bool, ``occupied`` dilated by one voxel (noise tolerance).
        free_2d: (X, Y) bool, the height band is known and free in this column.
        known_2d: (X, Y) bool, the height band was observed in this column.
        renderer: expected depth images of the memory's surface.
    """

    grid: VoxelGrid
    occupied: np.ndarray
    known: np.ndarray
    near_occupied: np.ndarray
    free_2d: np.ndarray
    known_2d: np.ndarray
    renderer: DepthRenderer
    _lookups: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def lookup(self, name: str) -> np.ndarray:
        """(X*Y*Z + 1,) bool ``occupied`` or ``addable`` (``known`` and not ``near_occupied``: a
        point there is something new) by flat voxel index, with a False last entry, so that
        index -1 (outside the grid) reads False. Built once, read-only."""
        table = self._lookups.get(name)
        if table is None:
            if name == 'occupied':
                values = self.occupied
            elif name == 'addable':
                values = self.known & ~self.near_occupied
            else:
                raise ChangeDetectionError(f'no voxel lookup {name!r}')
            table = np.append(np.asarray(values, dtype=bool).ravel(), False)
            table.setflags(write=False)
            self._lookups[name] = table
        return table

    @classmethod
    def from_voxels(cls, grid: VoxelGrid, occupied: np.ndarray, known: np.ndarray,
                    mesh: o3d.geometry.TriangleMesh, config: ChangeDetectorConfig
                    ) -> BaseGeometry:
        """(X, Y, Z) bool occupied and known voxels plus the surface mesh to ray cast."""
        occupied = np.asarray(occupied, dtype=bool)
        known = np.asarray(known, dtype=bool)
        if occupied.shape != tuple(grid.shape) or known.shape != tuple(grid.shape):
            raise ChangeDetectionError(f'base voxels {occupied.shape}/{known.shape} do not match '
                                       f'the grid {tuple(grid.shape)}')
        near = ndimage.binary_dilation(occupied, structure=np.ones((3, 3, 3), bool))
        z_centres = grid.origin[2] + (np.arange(grid.shape[2]) + 0.5) * grid.resolution
        band = (z_centres >= config.z_min) & (z_centres <= config.z_max)
        if not band.any():
            raise ChangeDetectionError(f'height band [{config.z_min}, {config.z_max}] m misses '
                                       f'the base grid')
        known_2d = np.asarray(known[:, :, band].any(axis=2))
        free_2d = known_2d & ~np.asarray(occupied[:, :, band].any(axis=2))
        return cls(grid, occupied, known, near, free_2d, known_2d, DepthRenderer(mesh))

    @classmethod
    def from_baked(cls, volume: BakedVolume, config: ChangeDetectorConfig) -> BaseGeometry:
        """Pool a baked volume (a whole multiple finer than ``config.resolution``) to voxels."""
        factor = config.resolution / volume.grid.resolution
        pool = int(round(factor))
        if pool < 1 or abs(factor - pool) > 1e-6:
            raise ChangeDetectionError(
                f'detector resolution {config.resolution} is not a whole multiple of the baked '
                f'{volume.grid.resolution}')
        fine_occupied, fine_known = volume.occupied(), volume.observed
        shape = tuple(n // pool for n in volume.grid.shape)
        crop = tuple(slice(0, n * pool) for n in shape)
        split = (shape[0], pool, shape[1], pool, shape[2], pool)
        occupied = np.asarray(fine_occupied[crop].reshape(split).any(axis=(1, 3, 5)))
        known = np.asarray(fine_known[crop].reshape(split).any(axis=(1, 3, 5)))
        grid = VoxelGrid(origin=tuple(volume.grid.origin), resolution=config.resolution,
                         shape=shape)
        return cls.from_voxels(grid, occupied, known, surface_mesh(volume), config)

    @classmethod
    def from_memory(cls, field: object, scene: str, config: ChangeDetectorConfig,
                    bake_resolution: float | None = None) -> BaseGeometry:
        """Bake scene ``scene`` of a ``SceneMemoryField`` (at half the voxel size by default)."""
        fine = bake_resolution or config.resolution / 2
        return cls.from_baked(bake_scene(field, scene, fine), config)  # type: ignore[arg-type]
