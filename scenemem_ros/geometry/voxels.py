"""Regular grids: 3D voxel grids and 2D occupancy-grid cells.

Cell ``idx`` covers the half-open box ``[origin + idx * resolution, origin + (idx + 1) *
resolution)`` on every axis, so a point's cell is ``floor((p - origin) / resolution)``. Flat
indices are C order (last axis fastest), matching ``numpy.ravel_multi_index`` and a
``(nx, ny, nz)`` array's memory layout. Methods take numpy arrays or torch tensors and return the
same type (torch results stay on the input's device). torch is never imported here: a tensor can
only be passed once its caller has imported it, so numpy-only users start without it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from scenemem_ros.geometry.errors import GeometryError

if TYPE_CHECKING:
    import torch
    from typing_extensions import TypeIs

ArrayT = TypeVar('ArrayT', np.ndarray, 'torch.Tensor')


def _is_tensor(value: object) -> TypeIs[torch.Tensor]:
    """``_is_tensor(value)`` without importing torch (no torch, no tensors)."""
    module = sys.modules.get('torch')
    return module is not None and isinstance(value, module.Tensor)


@dataclass(frozen=True)
class _RegularGrid:
    """Axis-aligned grid of ``ndim`` dimensions; see :class:`VoxelGrid` and :class:`GridSpec2D`.

    Attributes:
        origin: (ndim,) metres, the minimum corner of cell (0, ..., 0).
        resolution: cell edge length in metres (> 0).
        shape: (ndim,) number of cells per axis (each > 0).
    """

    ndim: ClassVar[int] = 0

    origin: tuple[float, ...]
    resolution: float
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        name = type(self).__name__
        origin = tuple(float(v) for v in np.asarray(self.origin, dtype=np.float64).reshape(-1))
        shape = tuple(int(v) for v in np.asarray(self.shape).reshape(-1))
        if len(origin) != self.ndim or not all(math.isfinite(v) for v in origin):
            raise GeometryError(f'{name}.origin must be {self.ndim} finite numbers, '
                                f'got {self.origin!r}')
        if not (math.isfinite(self.resolution) and self.resolution > 0):
            raise GeometryError(f'{name}.resolution must be finite and > 0, '
                                f'got {self.resolution!r}')
        if len(shape) != self.ndim or min(shape) <= 0:
            raise GeometryError(f'{name}.shape must be {self.ndim} positive ints, '
                                f'got {self.shape!r}')
        object.__setattr__(self, 'origin', origin)
        object.__setattr__(self, 'resolution', float(self.resolution))
        object.__setattr__(self, 'shape', shape)

    @classmethod
    def from_bounds(cls, minimum: Sequence[float] | np.ndarray,
                    maximum: Sequence[float] | np.ndarray, resolution: float):
        """Grid with origin ``minimum`` and ``ceil((maximum - minimum) / resolution)`` cells.

        A relative slack of 1e-9 keeps ``from_bounds(0, 2, 0.1)`` at 20 cells, not 21.
        """
        low = np.asarray(minimum, dtype=np.float64)
        high = np.asarray(maximum, dtype=np.float64)
        if low.shape != (cls.ndim,) or high.shape != (cls.ndim,) or (high <= low).any():
            raise GeometryError(f'{cls.__name__}.from_bounds needs ({cls.ndim},) minimum < '
                                f'maximum, got {low.tolist()} and {high.tolist()}')
        if not (math.isfinite(resolution) and resolution > 0):
            raise GeometryError(f'{cls.__name__}.resolution must be finite and > 0, '
                                f'got {resolution!r}')
        cells = np.ceil((high - low) / resolution * (1 - 1e-9))
        return cls(origin=tuple(low), resolution=resolution,
                   shape=tuple(int(n) for n in np.maximum(cells, 1)))

    @property
    def num_cells(self) -> int:
        """Total number of cells."""
        return math.prod(self.shape)

    @property
    def maximum(self) -> np.ndarray:
        """(ndim,) metres, the far corner of the last cell."""
        return np.asarray(self.origin) + np.asarray(self.shape) * self.resolution

    @property
    def strides(self) -> tuple[int, ...]:
        """Flat-index step per axis (C order)."""
        return tuple(math.prod(self.shape[axis + 1:]) for axis in range(self.ndim))

    def _constant(self, values: Sequence[float], like: ArrayT, dtype=None) -> ArrayT:
        if _is_tensor(like):
            import torch

            return torch.tensor(values, device=like.device, dtype=dtype or like.dtype)
        return np.asarray(values, dtype=dtype or like.dtype)

    def _check(self, array: ArrayT, name: str) -> None:
        if array.ndim < 1 or array.shape[-1] != self.ndim:
            raise GeometryError(f'{name} must have shape (..., {self.ndim}), '
                                f'got {tuple(array.shape)}')

    def _float_points(self, points: ArrayT) -> ArrayT:
        self._check(points, 'points')
        if _is_tensor(points):
            return points if points.is_floating_point() else points.double()
        points = np.asarray(points)
        return points if np.issubdtype(points.dtype, np.floating) else points.astype(np.float64)

    def _continuous_index(self, points: ArrayT) -> ArrayT:
        points = self._float_points(points)
        return (points - self._constant(self.origin, points)) / self.resolution

    def point_to_index(self, points: ArrayT) -> ArrayT:
        """(..., ndim) points -> (..., ndim) int64 cell indices (may lie outside the grid).

        Non-finite points give undefined indices; mask them with :meth:`contains_point`.
        """
        scaled = self._continuous_index(points)
        if _is_tensor(scaled):
            import torch

            return torch.floor(scaled).long()
        with np.errstate(invalid='ignore'):
            return np.floor(scaled).astype(np.int64)

    def contains_point(self, points: ArrayT) -> ArrayT:
        """(..., ndim) points -> (...,) bool, True where the point lies in a cell (NaN: False)."""
        scaled = self._continuous_index(points)
        upper = self._constant(self.shape, scaled)
        return _all_last((scaled >= 0) & (scaled < upper))

    def contains_index(self, indices: ArrayT) -> ArrayT:
        """(..., ndim) integer indices -> (...,) bool, True inside the grid."""
        self._check(indices, 'indices')
        upper = self._constant(self.shape, indices)
        return _all_last((indices >= 0) & (indices < upper))

    def index_to_centre(self, indices: ArrayT) -> ArrayT:
        """(..., ndim) integer indices -> (..., ndim) cell centres in metres.

        numpy gives float64; torch gives the default float dtype (float indices keep theirs).
        """
        self._check(indices, 'indices')
        if _is_tensor(indices):
            import torch

            dtype = indices.dtype if indices.is_floating_point() else torch.get_default_dtype()
            indices = indices.to(dtype)
        else:
            indices = np.asarray(indices, dtype=np.float64)
        return self._constant(self.origin, indices) + (indices + 0.5) * self.resolution

    def ravel(self, indices: ArrayT) -> ArrayT:
        """(..., ndim) integer indices inside the grid -> (...,) int64 flat indices (C order)."""
        self._check(indices, 'indices')
        if _is_tensor(indices):
            import torch

            strides = torch.tensor(self.strides, device=indices.device)
            return (indices.long() * strides).sum(-1)
        return (np.asarray(indices, dtype=np.int64) * np.asarray(self.strides)).sum(axis=-1)

    def unravel(self, flat: ArrayT) -> ArrayT:
        """(...,) int64 flat indices -> (..., ndim) int64 indices (C order)."""
        columns = []
        remainder = flat
        for stride in self.strides:
            columns.append(remainder // stride)
            remainder = remainder % stride
        if _is_tensor(flat):
            import torch

            return torch.stack(columns, dim=-1).long()
        return np.stack(columns, axis=-1).astype(np.int64)

    def point_counts(self, points: ArrayT) -> ArrayT:
        """(..., ndim) points -> ``shape`` int64 array counting the points in each cell.

        Points outside the grid or non-finite are ignored.
        """
        inside = self.contains_point(points)
        if _is_tensor(points):
            import torch

            flat = self.ravel(self.point_to_index(points[inside]))
            return torch.bincount(flat, minlength=self.num_cells).view(self.shape)
        flat_np = self.ravel(self.point_to_index(np.asarray(points)[inside]))
        counts = np.bincount(flat_np, minlength=self.num_cells).astype(np.int64)
        return counts.reshape(self.shape)


def _all_last(mask: ArrayT) -> ArrayT:
    """(..., D) bool -> (...,) bool, True where the whole last axis is."""
    if _is_tensor(mask):
        return mask.all(-1)
    return np.asarray(np.all(mask, axis=-1))


@dataclass(frozen=True)
class VoxelGrid(_RegularGrid):
    """3D voxel grid spec: origin (x, y, z) metres, resolution metres, shape (nx, ny, nz)."""

    ndim: ClassVar[int] = 3


@dataclass(frozen=True)
class GridSpec2D(_RegularGrid):
    """2D grid spec (occupancy grids): origin (x, y) metres, resolution metres, shape (nx, ny).

    Note ``nav_msgs/OccupancyGrid`` stores rows along y (index ``y * width + x``), i.e. the
    transpose of this (nx, ny) C-order layout; the ROS conversion module handles that.
    """

    ndim: ClassVar[int] = 2
