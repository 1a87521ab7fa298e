"""A minimal numpy triangle mesh plus box and cylinder primitives.

Meshes are plain arrays so they transform, concatenate and persist cheaply; ``to_open3d`` hands
them to Open3D's tensor API for ray casting and file I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from scenemem_ros.world.errors import WorldError

# The 12 triangles of a box over its 8 corners (corner bit 0 = x, bit 1 = y, bit 2 = z),
# wound counter-clockwise seen from outside so normals point out.
_BOX_TRIANGLES = np.array([
    [0, 2, 1], [1, 2, 3],  # z min
    [4, 5, 6], [5, 7, 6],  # z max
    [0, 1, 4], [1, 5, 4],  # y min
    [2, 6, 3], [3, 6, 7],  # y max
    [0, 4, 2], [2, 4, 6],  # x min
    [1, 3, 5], [3, 7, 5],  # x max
], dtype=np.int32)


@dataclass(frozen=True, eq=False)
class TriMesh:
    """(V, 3) float64 vertices and (T, 3) int32 vertex indices of triangles."""

    vertices: np.ndarray
    triangles: np.ndarray

    def __post_init__(self) -> None:
        vertices = np.ascontiguousarray(self.vertices, dtype=np.float64)
        triangles = np.ascontiguousarray(self.triangles, dtype=np.int32)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise WorldError(f'TriMesh.vertices must be (V, 3), got shape {vertices.shape}')
        if triangles.ndim != 2 or triangles.shape[1] != 3:
            raise WorldError(f'TriMesh.triangles must be (T, 3), got shape {triangles.shape}')
        if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
            raise WorldError('TriMesh.triangles index vertices out of range')
        object.__setattr__(self, 'vertices', vertices)
        object.__setattr__(self, 'triangles', triangles)

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) axis-aligned min and max corners."""
        if len(self.vertices) == 0:
            return np.zeros((2, 3))
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])

    def transformed(self, matrix: np.ndarray) -> TriMesh:
        """(4, 4) rigid or similarity transform applied to every vertex."""
        matrix = np.asarray(matrix, dtype=np.float64)
        return TriMesh(self.vertices @ matrix[:3, :3].T + matrix[:3, 3], self.triangles)

    def triangle_corners(self) -> np.ndarray:
        """(T, 3, 3) corner coordinates of every triangle."""
        return self.vertices[self.triangles]

    def area(self) -> float:
        """Total surface area in square metres."""
        corners = self.triangle_corners()
        cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        return float(0.5 * np.linalg.norm(cross, axis=1).sum())

    def to_open3d(self) -> o3d.t.geometry.TriangleMesh:
        """Open3D tensor mesh (float32 positions, int32 indices) for ray casting."""
        mesh = o3d.t.geometry.TriangleMesh()
        mesh.vertex.positions = o3d.core.Tensor.from_numpy(self.vertices.astype(np.float32))
        mesh.triangle.indices = o3d.core.Tensor.from_numpy(self.triangles.copy())
        return mesh


def concatenate(meshes: Iterable[TriMesh]) -> TriMesh:
    """One mesh holding all ``meshes`` (vertex indices offset, order kept)."""
    vertices, triangles, offset = [], [], 0
    for mesh in meshes:
        vertices.append(mesh.vertices)
        triangles.append(mesh.triangles + offset)
        offset += len(mesh.vertices)
    if not vertices:
        return TriMesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32))
    return TriMesh(np.concatenate(vertices), np.concatenate(triangles))


def box_mesh(box_min: np.ndarray, box_max: np.ndarray) -> TriMesh:
    """Closed axis-aligned box between (3,) corners ``box_min`` and ``box_max``."""
    box_min = np.asarray(box_min, dtype=np.float64)
    box_max = np.asarray(box_max, dtype=np.float64)
    if np.any(box_max <= box_min):
        raise WorldError(f'box_mesh needs box_max > box_min, got {box_min} and {box_max}')
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    return TriMesh(np.where(bits == 1, box_max, box_min), _BOX_TRIANGLES)


def cylinder_mesh(radius: float, height: float, segments: int = 24) -> TriMesh:
    """Closed z-axis cylinder standing on z = 0, centred on the z axis (capped prism)."""
    if radius <= 0 or height <= 0 or segments < 3:
        raise WorldError(f'cylinder_mesh needs radius, height > 0 and segments >= 3, got '
                         f'{radius}, {height}, {segments}')
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    bottom = np.concatenate([ring, np.zeros((segments, 1))], axis=1)
    top = np.concatenate([ring, np.full((segments, 1), height)], axis=1)
    centres = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, height]])
    vertices = np.concatenate([bottom, top, centres])
    i = np.arange(segments)
    j = (i + 1) % segments
    bottom_centre, top_centre = 2 * segments, 2 * segments + 1
    sides = np.concatenate([np.stack([i, j, i + segments], 1),
                            np.stack([j, j + segments, i + segments], 1)])
    caps = np.concatenate([np.stack([np.full(segments, bottom_centre), j, i], 1),
                           np.stack([np.full(segments, top_centre), i + segments,
                                     j + segments], 1)])
    return TriMesh(vertices, np.concatenate([sides, caps]))
