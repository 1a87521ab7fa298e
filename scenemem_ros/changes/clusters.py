"""Clusters of changed voxels, from their sorted flat indices (no dense grid pass).

Two changed voxels belong to one cluster when a chain of changed voxels links them with each
step at most ``2 * reach + 1`` voxels apart along every axis (Chebyshev distance). That is
exactly what dilating the changed set by ``reach`` 26-connected steps and labelling the result
gives, without touching the empty voxels in between: a k-d tree finds the close pairs and a
sparse graph gives the components. Clusters come in the order the dense labelling numbers
them (by the first voxel of their dilated footprint in C order, clipped at the grid's edge)
and hold their voxels in ascending flat order.

Cost: the close pairs number up to N * (2 * reach + 1)^3 for N changed voxels; with the
defaults (10 cm voxels, 0.4 m gap: reach 2) that is at most 125 per voxel, far less than
dilating the grid. A much finer grid or larger gap over a large changed region would make the
dense route the cheaper one.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def cluster_voxels(indices: np.ndarray, shape: tuple[int, ...], reach: int,
                   min_voxels: int) -> list[np.ndarray]:
    """(N,) sorted flat indices of changed voxels in a grid of ``shape`` -> the clusters of at
    least ``min_voxels`` voxels, each an (M,) sorted array of flat indices."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return []
    coordinates = np.stack(np.unravel_index(indices, shape), axis=1)
    count = len(indices)
    if count > 1:
        pairs = cKDTree(coordinates).query_pairs(2 * reach + 1 + 1e-9, p=np.inf,
                                                 output_type='ndarray')
        graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                           shape=(count, count))
        _, labels = connected_components(graph, directed=False)
    else:
        labels = np.zeros(1, dtype=np.int64)
    sizes = np.bincount(labels)
    corners = np.maximum(coordinates - reach, 0)
    # the first voxel of each component's dilated footprint in C order
    order = np.lexsort((corners[:, 2], corners[:, 1], corners[:, 0]))
    first_of = np.full(len(sizes), -1, dtype=np.int64)
    seen_labels = labels[order]
    _, first_positions = np.unique(seen_labels, return_index=True)
    first_of[seen_labels[first_positions]] = first_positions
    clusters = []
    members = np.argsort(labels, kind='stable')  # ascending indices within each label
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for label in np.argsort(first_of, kind='stable'):
        if sizes[label] < min_voxels:
            continue
        clusters.append(indices[members[starts[label]:starts[label + 1]]])
    return clusters


__all__ = ['cluster_voxels']
