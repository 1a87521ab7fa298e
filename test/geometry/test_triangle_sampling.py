"""Area-uniform points on triangles."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.geometry.sampling import sample_triangles, triangle_areas


def test_points_lie_on_their_triangles_in_proportion_to_area():
    small = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]          # area 0.5, z = 0
    large = [[0.0, 0.0, 5.0], [3.0, 0.0, 5.0], [0.0, 3.0, 5.0]]          # area 4.5, z = 5
    corners = np.array([small, large])
    assert triangle_areas(corners) == pytest.approx([0.5, 4.5])
    points = sample_triangles(corners, 20000, np.random.default_rng(0))
    on_large = points[:, 2] == 5.0
    assert on_large.mean() == pytest.approx(0.9, abs=0.01)
    # inside each triangle: x, y >= 0 and x + y within its leg
    legs = np.where(on_large, 3.0, 1.0)
    assert np.all(points[:, :2] >= 0) and np.all(points[:, :2].sum(axis=1) <= legs + 1e-12)
    # uniform inside: a quarter of the large triangle's points fall in its half-leg corner
    corner = on_large & (points[:, :2].sum(axis=1) <= 1.5)
    assert corner.sum() / on_large.sum() == pytest.approx(0.25, abs=0.02)


def test_degenerate_triangles_are_sampled_uniformly():
    flat = np.zeros((3, 3, 3))
    flat[1] += 1.0
    points = sample_triangles(flat, 300, np.random.default_rng(0))
    assert points.shape == (300, 3) and set(np.unique(points[:, 0])) == {0.0, 1.0}
