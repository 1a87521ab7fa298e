"""Points spread uniformly by area over triangles (numpy; shared by the encoder's metrics and
the change detector's shapes)."""

from __future__ import annotations

import numpy as np


def triangle_areas(corners: np.ndarray) -> np.ndarray:
    """(T, 3, 3) triangle corners -> (T,) areas."""
    return 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                         corners[:, 2] - corners[:, 0]), axis=1)


def sample_triangles(corners: np.ndarray, count: int, rng: np.random.Generator,
                     areas: np.ndarray | None = None) -> np.ndarray:
    """(T, 3, 3) triangle corners -> (count, 3) points drawn uniformly by area (uniformly over
    the triangles when their total area is zero). ``areas``: the (T,) areas, if known."""
    areas = triangle_areas(corners) if areas is None else areas
    total = float(areas.sum())
    if total <= 0:
        face = rng.integers(0, len(corners), count)
    else:
        face = rng.choice(len(corners), count, p=areas / total)
    a, b = rng.random(count), rng.random(count)
    flip = a + b > 1
    a, b = np.where(flip, 1 - a, a), np.where(flip, 1 - b, b)
    chosen = corners[face]
    return chosen[:, 0] + a[:, None] * (chosen[:, 1] - chosen[:, 0]) \
        + b[:, None] * (chosen[:, 2] - chosen[:, 0])
