"""Baked maps of a memory as plain numpy: what a checkpoint's cache holds and how it is cut.

This module, and everything it imports, stays free of ``torch`` (and of open3d, scipy): a
process that only serves the maps baked into a checkpoint (the 2D navigation grid, occupancy on
the cached voxel lattice) starts without paying for the decoder's framework. ``queries`` re-exports
these names, so code that already holds a field can keep importing them from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scenemem_ros.geometry.voxels import GridSpec2D, VoxelGrid

UNKNOWN, FREE, OCCUPIED = -1, 0, 100


@dataclass(frozen=True, eq=False)
class OccupancyVolume:
    """A scene's occupancy on voxels, without distances (what a robot plans on).

    Attributes:
        grid: the voxel grid spec.
        occupied: (X, Y, Z) bool, ``BakedVolume.occupied()``.
        observed: (X, Y, Z) bool, the training cameras saw this voxel (else unknown).
    """

    grid: VoxelGrid
    occupied: np.ndarray
    observed: np.ndarray


@dataclass(frozen=True, eq=False)
class SceneBakeCache:
    """Maps baked when a checkpoint was written, valid while the field's weights are unchanged.

    Attributes:
        volume: the scene's occupancy over its box (grid aligned to multiples of its resolution).
        nav_key: (resolution, z_min, z_max, supersample) of ``nav``.
        nav: (spec, (X, Y) int8 cells) of ``navigation_grid`` with ``nav_key`` over the scene box.
        fingerprint: ``queries.weights_fingerprint`` of the field the cache was attached to;
            empty while no field is built (the checkpoint's arrays, checked by their SHA-256,
            are then the only weights the cache can belong to).
    """

    volume: OccupancyVolume | None
    nav_key: tuple[float, float, float, int] | None
    nav: tuple[GridSpec2D, np.ndarray] | None
    fingerprint: tuple[tuple[int, int], ...] = ()

    def navigation(self, resolution: float, z_min: float, z_max: float, supersample: int
                   ) -> tuple[GridSpec2D, np.ndarray] | None:
        """(spec, a copy of the (X, Y) int8 cells) of the cached 2D grid if its key matches."""
        if self.nav is None or self.nav_key is None or not np.allclose(
                self.nav_key, (resolution, z_min, z_max, supersample), rtol=0, atol=1e-9):
            return None
        return self.nav[0], self.nav[1].copy()

    def occupancy(self, minimum: np.ndarray, maximum: np.ndarray, resolution: float
                  ) -> OccupancyVolume | None:
        """The box's occupancy cut from ``volume`` (see :func:`cut_box`), or None."""
        if self.volume is None:
            return None
        return cut_box(self.volume, minimum, maximum, resolution)


def cut_box(stored: OccupancyVolume, minimum: np.ndarray, maximum: np.ndarray,
            resolution: float) -> OccupancyVolume | None:
    """(X, Y, Z) occupancy of a box cut out of ``stored``, or None if it cannot serve it.

    It serves boxes at ``stored``'s resolution whose corner lies on its voxel lattice; voxels
    outside ``stored``'s box are unknown (as ``queries.bake`` makes them outside a scene box).
    """
    if not math.isclose(resolution, stored.grid.resolution, rel_tol=1e-9):
        return None
    grid = VoxelGrid.from_bounds(minimum, maximum, resolution)
    offset = (np.asarray(grid.origin) - np.asarray(stored.grid.origin)) / resolution
    shift = np.round(offset).astype(np.int64)
    if np.abs(offset - shift).max() > 1e-4:
        return None
    occupied = np.zeros(grid.shape, dtype=bool)
    observed = np.zeros(grid.shape, dtype=bool)
    low = np.maximum(shift, 0)
    high = np.minimum(shift + np.asarray(grid.shape), np.asarray(stored.grid.shape))
    if (high > low).all():
        source = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        target = tuple(slice(a - s, b - s) for a, b, s in zip(low, high, shift, strict=True))
        occupied[target] = stored.occupied[source]
        observed[target] = stored.observed[source]
    return OccupancyVolume(grid=grid, occupied=occupied, observed=observed)
