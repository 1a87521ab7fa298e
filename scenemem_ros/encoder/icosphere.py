"""The fixed icosphere every slot mesh starts from: vertices, faces, edges, neighbours.

Level 0 is the icosahedron (12 vertices, 20 faces); each level splits every face into four and
pushes the new vertices onto the unit sphere (level L: 10 * 4**L + 2 vertices, 20 * 4**L faces).
Faces are wound counter-clockwise seen from outside. Everything here is numpy and cached.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from scenemem_ros.encoder.errors import EncoderError


class Icosphere(NamedTuple):
    """(V, 3) float64 unit vertices, (F, 3) int64 faces, (E, 2) int64 unique edges (i < j),
    (V, D) int64 neighbour indices padded with the vertex itself and (V,) int64 degrees."""

    vertices: np.ndarray
    faces: np.ndarray
    edges: np.ndarray
    neighbours: np.ndarray
    degrees: np.ndarray


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    t = (1.0 + 5.0 ** 0.5) / 2.0
    vertices = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
                        dtype=np.float64)
    faces = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9],
                      [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2],
                      [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
                      [8, 6, 7], [9, 8, 1]], dtype=np.int64)
    return vertices / np.linalg.norm(vertices, axis=1, keepdims=True), faces


def _subdivide(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = list(vertices)
    midpoint: dict[tuple[int, int], int] = {}

    def middle(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in midpoint:
            point = (points[a] + points[b]) / 2
            points.append(point / np.linalg.norm(point))
            midpoint[key] = len(points) - 1
        return midpoint[key]

    new_faces = []
    for a, b, c in faces:
        ab, bc, ca = middle(a, b), middle(b, c), middle(c, a)
        new_faces += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
    return np.array(points), np.array(new_faces, dtype=np.int64)


@functools.lru_cache(maxsize=8)
def icosphere(level: int) -> Icosphere:
    """The unit icosphere of subdivision ``level`` (0 to 4); arrays are read-only."""
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 4:
        raise EncoderError(f'icosphere level must be an integer in [0, 4], got {level!r}')
    vertices, faces = _icosahedron()
    for _ in range(level):
        vertices, faces = _subdivide(vertices, faces)
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(pairs, axis=1), axis=0)
    lists: list[list[int]] = [[] for _ in range(len(vertices))]
    for i, j in edges:
        lists[i].append(int(j))
        lists[j].append(int(i))
    degrees = np.array([len(n) for n in lists], dtype=np.int64)
    neighbours = np.array([n + [v] * (int(degrees.max()) - len(n)) for v, n in enumerate(lists)],
                          dtype=np.int64)
    result = Icosphere(vertices, faces, edges, neighbours, degrees)
    for array in result:
        array.setflags(write=False)
    return result


def barycentric_pattern(samples_per_face: int) -> np.ndarray:
    """(S, 3) fixed barycentric weights of the surface samples placed on every face.

    1: the centroid; 3: one point towards each corner; 4: those and the centroid; 6: points
    towards each corner and each edge midpoint.
    """
    corner = np.array([[4, 1, 1], [1, 4, 1], [1, 1, 4]], dtype=np.float64) / 6
    edge = np.array([[5, 5, 2], [2, 5, 5], [5, 2, 5]], dtype=np.float64) / 12
    patterns = {
        1: np.array([[1, 1, 1]], dtype=np.float64) / 3,
        3: corner,
        4: np.concatenate([np.array([[1, 1, 1]]) / 3, corner]),
        6: np.concatenate([corner, edge]),
    }
    if samples_per_face not in patterns:
        raise EncoderError(f'samples_per_face must be one of {sorted(patterns)}, '
                           f'got {samples_per_face!r}')
    return patterns[samples_per_face]
