"""cluster_voxels: the same clusters, in the same order, as dilating and labelling the grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from scenemem_ros.changes.clusters import cluster_voxels

NEIGHBOURS_26 = np.ones((3, 3, 3), dtype=bool)


def dense_clusters(changed: np.ndarray, reach: int, min_voxels: int) -> list[np.ndarray]:
    """The reference: dilate the changed voxels by ``reach`` 26-connected steps, label."""
    joined = ndimage.binary_dilation(changed, NEIGHBOURS_26, iterations=reach) if reach \
        else changed
    labels, count = ndimage.label(joined, structure=NEIGHBOURS_26)
    labels = np.where(changed, labels, 0).ravel()
    clusters = []
    for label in range(1, count + 1):
        members = np.flatnonzero(labels == label)
        if len(members) >= min_voxels:
            clusters.append(members)
    return clusters


@pytest.mark.parametrize('seed', range(12))
def test_matches_dense_dilation_and_labelling(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(6, 30, 3))
    changed = np.zeros(shape, dtype=bool)
    for _ in range(rng.integers(1, 8)):  # blobs, some touching the grid's edges
        low = rng.integers(0, shape, 3)
        high = np.minimum(low + rng.integers(1, 6, 3), shape)
        changed[low[0]:high[0], low[1]:high[1], low[2]:high[2]] = True
    changed |= rng.random(shape) < 0.01  # scattered noise voxels
    reach = int(rng.integers(0, 4))
    min_voxels = int(rng.integers(1, 10))
    expected = dense_clusters(changed, reach, min_voxels)
    found = cluster_voxels(np.flatnonzero(changed), shape, reach, min_voxels)
    assert len(found) == len(expected)
    for a, b in zip(found, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_edge_cases():
    assert cluster_voxels(np.zeros(0, np.int64), (4, 4, 4), 2, 1) == []
    single = cluster_voxels(np.array([5]), (4, 4, 4), 2, 1)
    assert len(single) == 1 and single[0].tolist() == [5]
    assert cluster_voxels(np.array([5]), (4, 4, 4), 2, 2) == []
    # two voxels 2 * reach + 1 apart join; one more apart they do not
    shape = (20, 1, 1)
    assert len(cluster_voxels(np.array([0, 5]), shape, 2, 1)) == 1
    assert len(cluster_voxels(np.array([0, 6]), shape, 2, 1)) == 2
