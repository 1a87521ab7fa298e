"""Voxel occupancy of triangle meshes: exact surface voxels plus optional solid interiors.

Index convention: voxel (i, j, k) of a grid with corner ``origin`` and edge ``voxel_size`` covers
the half-open box [origin + (i, j, k) * size, origin + (i + 1, j + 1, k + 1) * size). A voxel is
*surface* occupied when a triangle intersects that box (separating-axis test, so exact up to
floating point: a triangle lying exactly on the plane between two voxels marks only the upper
one). A voxel is *solid* occupied when its centre lies inside a closed instance (walls, slabs,
primitives), decided by Open3D's ``RaycastingScene.compute_occupancy`` on that instance alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.mesh import TriMesh

MAX_CANDIDATE_SPAN = 6  # triangles are split until their bounds span at most this many voxels
PAIR_CHUNK = 1 << 20  # triangle-voxel pairs tested per batch


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """(X, Y, Z) bool ``occupied`` over voxels of edge ``voxel_size`` (3,) from corner
    ``origin`` (3,); see the module docstring for the index convention."""

    occupied: np.ndarray
    origin: np.ndarray
    voxel_size: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.occupied.shape)  # type: ignore[return-value]

    def centres(self) -> np.ndarray:
        """(X, Y, Z, 3) voxel centre coordinates."""
        axes = [self.origin[i] + (np.arange(n) + 0.5) * self.voxel_size[i]
                for i, n in enumerate(self.shape)]
        return np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N, 3) int64 voxel indices (may be outside the grid)."""
        return np.floor((np.asarray(points) - self.origin) / self.voxel_size).astype(np.int64)


@dataclass(frozen=True, eq=False)
class OccupancyGrid2D:
    """(X, Y) bool ``occupied``: some geometry lies in the cell between ``z_min`` and ``z_max``.

    Cell (i, j) covers [origin + (i, j) * resolution, origin + (i + 1, j + 1) * resolution).
    """

    occupied: np.ndarray
    origin: np.ndarray
    resolution: float
    z_min: float
    z_max: float

    def centres(self) -> np.ndarray:
        """(X, Y, 2) cell centre coordinates."""
        axes = [self.origin[i] + (np.arange(n) + 0.5) * self.resolution
                for i, n in enumerate(self.occupied.shape)]
        return np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)


def grid_shape(box_min: np.ndarray, box_max: np.ndarray, voxel_size: np.ndarray) -> np.ndarray:
    """(3,) voxel counts covering [box_min, box_max] (rounded up)."""
    extent = np.asarray(box_max, float) - np.asarray(box_min, float)
    if np.any(extent <= 0):
        raise WorldError(f'occupancy box must have max > min, got {box_min} and {box_max}')
    if np.any(np.asarray(voxel_size) <= 0):
        raise WorldError(f'occupancy resolution must be > 0, got {voxel_size}')
    return np.maximum(np.ceil(extent / voxel_size - 1e-9), 1).astype(np.int64)


def _split_large(corners: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """(T, 3, 3) triangles -> triangles covering the same surface, each spanning <= limit."""
    done = []
    while len(corners):
        span = corners.max(axis=1) - corners.min(axis=1)
        large = np.any(span > limit, axis=1)
        done.append(corners[~large])
        big = corners[large]
        a, b, c = big[:, 0], big[:, 1], big[:, 2]
        ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
        corners = np.concatenate([np.stack(t, axis=1) for t in
                                  ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return np.concatenate(done) if done else np.zeros((0, 3, 3))


def triangle_box_overlap(corners: np.ndarray, half: np.ndarray) -> np.ndarray:
    """(N, 3, 3) triangles relative to box centres, (3,) half sizes -> (N,) bool overlap.

    The separating-axis test of Akenine-Moeller: box axes, the triangle normal and the nine
    edge-axis cross products.
    """
    v0, v1, v2 = corners[:, 0], corners[:, 1], corners[:, 2]
    low = np.minimum(np.minimum(v0, v1), v2)
    high = np.maximum(np.maximum(v0, v1), v2)
    overlap = ~np.any((low > half) | (high < -half), axis=1)
    edges = (v1 - v0, v2 - v1, v0 - v2)
    normal = np.cross(edges[0], edges[1])
    overlap &= np.abs(np.einsum('ni,ni->n', normal, v0)) <= np.abs(normal) @ half
    for axis in range(3):
        u, w = (axis + 1) % 3, (axis + 2) % 3
        for edge in edges:
            # direction = unit(axis) x edge has components only along u and w.
            du, dw = -edge[:, w], edge[:, u]
            p0 = du * v0[:, u] + dw * v0[:, w]
            p1 = du * v1[:, u] + dw * v1[:, w]
            p2 = du * v2[:, u] + dw * v2[:, w]
            radius = np.abs(du) * half[u] + np.abs(dw) * half[w]
            overlap &= ~((np.minimum(np.minimum(p0, p1), p2) > radius)
                         | (np.maximum(np.maximum(p0, p1), p2) < -radius))
    return overlap


def surface_voxels(corners: np.ndarray, origin: np.ndarray, voxel_size: np.ndarray,
                   shape: np.ndarray) -> np.ndarray:
    """(T, 3, 3) triangles -> (X, Y, Z) bool voxels they intersect (half-open voxels)."""
    occupied = np.zeros(tuple(shape), dtype=bool)
    high = origin + shape * voxel_size
    keep = np.all(corners.max(axis=1) >= origin, axis=1) & np.all(corners.min(axis=1) < high,
                                                                   axis=1)
    corners = _split_large(corners[keep], MAX_CANDIDATE_SPAN * voxel_size)
    if len(corners) == 0:
        return occupied
    # Closed boxes [lo - tol, hi - eps + tol] stand in for the half-open voxels [lo, hi): eps
    # keeps faces on the upper plane out, tol (far below eps, far above rounding) keeps faces
    # on the lower plane in.
    epsilon, tolerance = 1e-6 * voxel_size, 1e-9 * voxel_size
    half = (voxel_size - epsilon) / 2
    low_index = np.clip(np.floor((corners.min(axis=1) - origin) / voxel_size), 0, shape - 1)
    high_index = np.clip(np.floor((corners.max(axis=1) - origin) / voxel_size), 0, shape - 1)
    low_index, high_index = low_index.astype(np.int64), high_index.astype(np.int64)
    spans = high_index - low_index + 1
    counts = spans.prod(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    first = 0
    while first < len(corners):
        last = max(first + 1, int(np.searchsorted(starts, starts[first] + PAIR_CHUNK)) - 1)
        last = min(last, len(corners))
        triangle = np.repeat(np.arange(first, last), counts[first:last])
        offset = np.arange(len(triangle)) - (starts[triangle] - starts[first])
        span = spans[triangle]
        step = np.stack([offset // (span[:, 1] * span[:, 2]),
                         (offset // span[:, 2]) % span[:, 1], offset % span[:, 2]], axis=1)
        index = low_index[triangle] + step
        centre = origin + index * voxel_size + half
        hit = triangle_box_overlap(corners[triangle] - centre[:, None, :], half + tolerance)
        occupied[tuple(index[hit].T)] = True
        first = last
    return occupied


def solid_voxels(meshes: Iterable[TriMesh], origin: np.ndarray, voxel_size: np.ndarray,
                 shape: np.ndarray) -> np.ndarray:
    """(X, Y, Z) bool voxels whose centre lies inside one of the closed ``meshes``."""
    occupied = np.zeros(tuple(shape), dtype=bool)
    for mesh in meshes:
        low, high = mesh.bounds
        first = np.clip(np.ceil((low - origin) / voxel_size - 0.5), 0, shape).astype(np.int64)
        last = np.clip(np.floor((high - origin) / voxel_size - 0.5) + 1, 0, shape).astype(
            np.int64)
        if np.any(last <= first):
            continue
        axes = [origin[i] + (np.arange(first[i], last[i]) + 0.5) * voxel_size[i]
                for i in range(3)]
        centres = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(mesh.to_open3d())
        inside = scene.compute_occupancy(
            o3d.core.Tensor.from_numpy(centres.reshape(-1, 3).astype(np.float32))).numpy() > 0.5
        block = tuple(slice(first[i], last[i]) for i in range(3))
        occupied[block] |= inside.reshape(centres.shape[:3])
    return occupied
