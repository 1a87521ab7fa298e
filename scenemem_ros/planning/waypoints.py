"""Fewer poses for the same path: drop the points a straight run passes through.

A grid path has one point per cell (about 300 for 15 m at 5 cm). Sent as ``nav_msgs/Path``
through rclpy, every pose is a Python message built, serialised and rebuilt on the client, which
costs far more than the search itself. ``thin_path`` keeps the first and last point, every point
where the direction changes, and enough points of each straight run that consecutive poses are
at most ``max_spacing`` apart: the polyline (and its length) is exactly the original one.
"""

from __future__ import annotations

import numpy as np

from scenemem_ros.planning.errors import PlanningError

COLLINEAR_TOLERANCE = 1e-9  # relative to the product of the two steps' lengths


def turning_points(path: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (M,) sorted indices of the first, the last and every point where the
    path turns (or stops, or doubles back)."""
    count = len(path)
    if count <= 2:
        return np.arange(count)
    before = path[1:-1] - path[:-2]
    after = path[2:] - path[1:-1]
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = np.einsum('ij,ij->i', before, after)
    scale = np.einsum('ij,ij->i', before, before) * np.einsum('ij,ij->i', after, after)
    straight = (np.abs(cross) <= COLLINEAR_TOLERANCE * np.sqrt(scale)) & (dot > 0)
    inner = np.flatnonzero(~straight) + 1
    return np.concatenate([[0], inner, [count - 1]])


def thin_path(path: np.ndarray, max_spacing: float) -> np.ndarray:
    """(N, 2) path, metres -> (M,) sorted indices of the poses to keep (M <= N).

    ``max_spacing`` 0 keeps every point; otherwise turning points are kept and straight runs
    keep a point whenever skipping it would leave a gap longer than ``max_spacing`` (a single
    step longer than that is kept as it is).
    """
    if not np.isfinite(max_spacing) or max_spacing < 0:
        raise PlanningError(f'max_spacing must be a finite number >= 0 (metres), '
                            f'got {max_spacing!r}')
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2:
        raise PlanningError(f'path must be (N, 2), got {path.shape}')
    if max_spacing == 0 or len(path) <= 2:
        return np.arange(len(path))
    corners = turning_points(path)
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    keep = [0]
    for first, last in zip(corners[:-1], corners[1:], strict=True):
        anchor = first
        for index in range(first + 1, last):
            if along[index + 1] - along[anchor] > max_spacing:
                keep.append(index)
                anchor = index
        keep.append(int(last))
    return np.asarray(keep, dtype=np.int64)


__all__ = ['thin_path', 'turning_points']
