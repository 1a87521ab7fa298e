"""Settings of the egocentric occupancy export (the L3ROcc / LeRobot v2.1 layout)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenemem_ros.export.errors import ExportError
from scenemem_ros.geometry.voxels import VoxelGrid

#: L3ROcc's ``pc_range`` (its configs/config.yaml): x right -2..2, y forward 0..5.6, z up
#: -0.6..1.8 metres around the camera; with 4 cm voxels its ``occ_size`` is 100 x 140 x 60.
L3ROCC_PC_RANGE = (-2.0, 0.0, -0.6, 2.0, 5.6, 1.8)


@dataclass(frozen=True)
class OccupancyExportConfig:
    """How frames become per-frame egocentric occupancy and visibility.

    The egocentric (ego) frame of a camera sits at its optical centre with z up (world z),
    y forward (the optical axis projected onto the horizontal plane) and x to the right:
    L3ROcc's canonical base frame (forward +y, lateral x, up +z).

    Attributes:
        voxel_size: edge of a voxel in metres, world and ego grids alike (> 0).
        pc_range: ego box (x_min, y_min, z_min, x_max, y_max, z_max) in metres; each extent
            must be a whole number of voxels and the box must contain the camera (origin).
        history_len: frames whose visible occupancy is merged into a frame's occupancy (>= 1):
            the frame itself and the last ``history_len - 1`` frames before it with an index
            divisible by ``history_step`` (L3ROcc's sliding window). 1 (the default) keeps only
            the frame, as L3ROcc's LeRobot output (``occ_sequence.npz``) does; its
            visualisation pipeline uses 10 and 2.
        history_step: spacing of those history frames (>= 1).
        pixel_stride: every ``pixel_stride``-th depth pixel in u and v is used (>= 1).
        angular_resolution: bin size in radians of the spherical range map that decides
            visibility (> 0); None picks the larger of the angle one voxel spans at the box's
            far corner and 1.5 sampled pixels, so no bin inside the view is left empty.
        max_splat_radius: largest half-size in pixels of a voxel splatted into the depth image
            rendered for point-only frames (>= 0).
        fps: frame rate written to meta/info.json; None derives it from the stamps.
        task: the episode's task string (tasks.jsonl).
    """

    voxel_size: float = 0.04
    pc_range: tuple[float, float, float, float, float, float] = L3ROCC_PC_RANGE
    history_len: int = 1
    history_step: int = 2
    pixel_stride: int = 2
    angular_resolution: float | None = None
    max_splat_radius: int = 16
    fps: float | None = None
    task: str = 'egocentric occupancy of a recorded camera trajectory'

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not (math.isfinite(self.voxel_size) and self.voxel_size > 0):
            raise ExportError(f'{name}.voxel_size must be finite and > 0, got '
                              f'{self.voxel_size!r}')
        values = tuple(float(v) for v in self.pc_range)
        if len(values) != 6 or not all(math.isfinite(v) for v in values):
            raise ExportError(f'{name}.pc_range must be 6 finite numbers, got {self.pc_range!r}')
        low, high = np.asarray(values[:3]), np.asarray(values[3:])
        if (high <= low).any():
            raise ExportError(f'{name}.pc_range needs min < max on every axis, got {values}')
        if (low > 0).any() or (high < 0).any():
            raise ExportError(f'{name}.pc_range must contain the camera (0, 0, 0), got {values}')
        cells = (high - low) / self.voxel_size
        if np.abs(cells - np.round(cells)).max() > 1e-6:
            raise ExportError(f'{name}.pc_range extents {(high - low).tolist()} are not whole '
                              f'multiples of voxel_size {self.voxel_size}')
        object.__setattr__(self, 'pc_range', values)
        for field_name, minimum in (('history_len', 1), ('history_step', 1),
                                    ('pixel_stride', 1), ('max_splat_radius', 0)):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value < minimum:
                raise ExportError(f'{name}.{field_name} must be an int >= {minimum}, got '
                                  f'{value!r}')
        for field_name in ('angular_resolution', 'fps'):
            value = getattr(self, field_name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ExportError(f'{name}.{field_name} must be > 0 or None, got {value!r}')
        if self.angular_resolution is not None and self.angular_resolution > 0.2:
            raise ExportError(f'{name}.angular_resolution must be <= 0.2 rad, got '
                              f'{self.angular_resolution!r}')

    @property
    def ego_grid(self) -> VoxelGrid:
        """The ego voxel grid: origin (x_min, y_min, z_min), shape (nx, ny, nz)."""
        low, high = np.asarray(self.pc_range[:3]), np.asarray(self.pc_range[3:])
        shape = tuple(int(n) for n in np.round((high - low) / self.voxel_size))
        return VoxelGrid(origin=tuple(low), resolution=self.voxel_size, shape=shape)

    @property
    def reach(self) -> float:
        """Distance in metres from the camera to the ego box's farthest corner."""
        corners = np.array(np.meshgrid(*zip(self.pc_range[:3], self.pc_range[3:],
                                            strict=True))).reshape(3, -1)
        return float(np.linalg.norm(corners, axis=0).max())
