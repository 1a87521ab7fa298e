"""Voxel ray traversal against dense sampling of each segment."""

import time

import numpy as np
import pytest
import torch

from scenemem_ros.geometry import (
    GeometryError,
    VoxelGrid,
    free_and_occupied_counts,
    traverse_rays,
    visible_voxels,
)

GRID = VoxelGrid(origin=(-1.0, 0.5, -0.3), resolution=0.25, shape=(12, 9, 7))


def random_rays(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments inside, crossing, starting outside and missing the grid; some NaN endpoints."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(GRID.origin), GRID.maximum
    origins = rng.uniform(low - 1.0, high + 1.0, (count, 3))
    endpoints = rng.uniform(low - 1.0, high + 1.0, (count, 3))
    endpoints[::7] = origins[::7] + rng.normal(scale=0.3, size=(len(origins[::7]), 3))
    endpoints[5::23] = np.nan
    return origins, endpoints


def segment_samples(origin: np.ndarray, endpoint: np.ndarray, spacing: float) -> np.ndarray:
    """(S, 3) points every ``spacing`` metres along the segment, both ends included."""
    steps = max(1, int(np.ceil(np.linalg.norm(endpoint - origin) / spacing)))
    return origin + np.linspace(0.0, 1.0, steps + 1)[:, None] * (endpoint - origin)


def sampled_voxels(grid: VoxelGrid, samples: np.ndarray) -> list[int]:
    """Flat voxels met by the samples, in order of first appearance."""
    inside = grid.contains_point(samples)
    flat = grid.ravel(grid.point_to_index(samples[inside]))
    return list(dict.fromkeys(flat.tolist()))


def distance_to_voxel(grid: VoxelGrid, samples: np.ndarray, voxel: int) -> float:
    low = np.asarray(grid.origin) + grid.unravel(np.array(voxel)) * grid.resolution
    high = low + grid.resolution
    gaps = np.maximum(np.maximum(low - samples, samples - high), 0.0)
    return float(np.linalg.norm(gaps, axis=-1).min())


def per_ray(traversal) -> list[list[int]]:
    rays = [[] for _ in range(len(traversal.lengths))]
    for voxel, ray in zip(traversal.voxels.tolist(), traversal.ray_ids.tolist(), strict=True):
        rays[ray].append(voxel)
    return rays


def clip_to_range(origin, endpoint, max_range) -> tuple[np.ndarray, bool]:
    """-> (segment end, whether the endpoint is within range)."""
    length = np.linalg.norm(endpoint - origin)
    if max_range is None or length <= max_range:
        return endpoint, True
    return origin + (endpoint - origin) * max_range / length, False


@pytest.mark.parametrize('max_range', [None, 1.2])
def test_traversal_matches_dense_sampling(max_range):
    origins, endpoints = random_rays(300, seed=0)
    traversal = traverse_rays(GRID, origins, endpoints, max_range=max_range)
    assert isinstance(traversal.voxels, np.ndarray)
    spacing = GRID.resolution / 100
    for ray, voxels in enumerate(per_ray(traversal)):
        assert len(voxels) == traversal.lengths[ray]
        if not np.isfinite(endpoints[ray]).all():
            assert voxels == [] and not traversal.hits[ray]
            continue
        end, in_range = clip_to_range(origins[ray], endpoints[ray], max_range)
        samples = segment_samples(origins[ray], end, spacing)
        expected = sampled_voxels(GRID, samples)
        assert set(expected) <= set(voxels), ray
        assert len(set(voxels)) == len(voxels), ray
        for voxel in voxels:
            assert distance_to_voxel(GRID, samples, voxel) <= spacing, (ray, voxel)
        if voxels:
            steps = np.abs(np.diff(GRID.unravel(np.array(voxels)), axis=0)).sum(-1)
            assert (steps == 1).all(), ray
            if GRID.contains_point(origins[ray]):
                assert voxels[0] == expected[0], ray
            if GRID.contains_point(end):
                assert voxels[-1] == expected[-1], ray
        assert traversal.hits[ray] == (in_range and GRID.contains_point(end)), ray


def test_axis_aligned_and_face_rays():
    grid = VoxelGrid(origin=(0.0, 0.0, 0.0), resolution=1.0, shape=(4, 4, 4))
    origins = np.array([[0.1, 0.1, 0.1], [3.5, 2.0, 1.5], [0.5, 0.5, 0.5], [-2.0, 1.5, 1.5],
                        [2.5, 2.5, 2.5]])
    endpoints = np.array([[2.9, 0.1, 0.1], [0.5, 2.0, 1.5], [0.5, 0.5, 0.5], [9.0, 1.5, 1.5],
                          [2.5, 2.5, 9.0]])
    rays = per_ray(traverse_rays(grid, origins, endpoints))
    as_indices = [grid.unravel(np.array(r, dtype=np.int64)).tolist() for r in rays]
    assert as_indices[0] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert as_indices[1] == [[3, 2, 1], [2, 2, 1], [1, 2, 1], [0, 2, 1]]
    assert as_indices[2] == [[0, 0, 0]]
    assert as_indices[3] == [[i, 1, 1] for i in range(4)]
    assert as_indices[4] == [[2, 2, 2], [2, 2, 3]]


def test_torch_matches_numpy_and_endpoint_option(device):
    origins, endpoints = random_rays(200, seed=1)
    reference = traverse_rays(GRID, origins, endpoints)
    result = traverse_rays(GRID, torch.tensor(origins, device=device),
                           torch.tensor(endpoints, device=device, dtype=torch.float32))
    assert result.voxels.device.type == device.type
    for ours, theirs in zip(result, reference, strict=True):
        np.testing.assert_array_equal(ours.cpu().numpy(), theirs)
    carved = traverse_rays(GRID, origins, endpoints, include_endpoint=False)
    for ray, (full, free) in enumerate(zip(per_ray(reference), per_ray(carved), strict=True)):
        assert free == (full[:-1] if reference.hits[ray] else full)
    np.testing.assert_array_equal(carved.lengths, reference.lengths - reference.hits)


def test_single_origin_and_padded():
    rng = np.random.default_rng(2)
    endpoints = rng.uniform(-2, 4, (50, 3))
    origin = np.array([0.4, 1.3, 0.2])
    traversal = traverse_rays(GRID, origin, endpoints)
    np.testing.assert_array_equal(
        traversal.voxels, traverse_rays(GRID, np.tile(origin, (50, 1)), endpoints).voxels)
    padded = traversal.padded()
    assert padded.shape == (50, traversal.lengths.max())
    for ray, voxels in enumerate(per_ray(traversal)):
        assert padded[ray, :len(voxels)].tolist() == voxels
        assert (padded[ray, len(voxels):] == -1).all()
    padded_torch = traverse_rays(GRID, torch.tensor(origin), torch.tensor(endpoints)).padded()
    np.testing.assert_array_equal(padded_torch.numpy(), padded)


def test_empty_and_bad_input():
    empty = traverse_rays(GRID, np.zeros(3), np.zeros((0, 3)))
    assert empty.voxels.shape == (0,) and empty.lengths.shape == (0,)
    assert empty.padded().shape == (0, 0)
    miss = traverse_rays(GRID, np.array([[-5.0, -5.0, -5.0]]), np.array([[-5.0, 9.0, -5.0]]))
    assert miss.lengths.tolist() == [0] and not miss.hits[0]
    with pytest.raises(GeometryError):
        traverse_rays(GRID, np.zeros(3), np.zeros((4, 2)))
    with pytest.raises(GeometryError):
        traverse_rays(GRID, np.zeros((3, 3)), np.zeros((4, 3)))
    with pytest.raises(GeometryError):
        traverse_rays(GRID, np.zeros(3), np.zeros((4, 3)), max_range=0.0)


def test_free_and_occupied_counts_match_loop(device):
    origins, endpoints = random_rays(300, seed=3)
    max_range = 2.0
    traversal = traverse_rays(GRID, origins, endpoints, max_range=max_range)
    free = np.zeros(GRID.num_cells, dtype=np.int64)
    hit = np.zeros(GRID.num_cells, dtype=np.int64)
    for ray, voxels in enumerate(per_ray(traversal)):
        end, in_range = clip_to_range(origins[ray], endpoints[ray], max_range)
        if in_range and GRID.contains_point(end):
            hit[voxels[-1]] += 1
            assert voxels[-1] == GRID.ravel(GRID.point_to_index(end))
            voxels = voxels[:-1]
        for voxel in voxels:
            free[voxel] += 1
    counts = free_and_occupied_counts(GRID, origins, endpoints, max_range=max_range)
    np.testing.assert_array_equal(counts.free.reshape(-1), free)
    np.testing.assert_array_equal(counts.hit.reshape(-1), hit)
    counts_torch = free_and_occupied_counts(GRID, torch.tensor(origins, device=device),
                                            torch.tensor(endpoints, device=device),
                                            max_range=max_range)
    assert counts_torch.free.shape == GRID.shape
    np.testing.assert_array_equal(counts_torch.free.cpu().numpy(), counts.free)
    np.testing.assert_array_equal(counts_torch.hit.cpu().numpy(), counts.hit)


def naive_visible(grid, occupied, camera, query) -> bool:
    """Walk densely from the camera to the query centre; the first occupied voxel must be it."""
    target = int(grid.ravel(query))
    centre = grid.index_to_centre(query)
    camera_voxel = (int(grid.ravel(grid.point_to_index(camera)))
                    if grid.contains_point(camera) else None)
    for voxel in sampled_voxels(grid, segment_samples(camera, centre, grid.resolution / 100)):
        if voxel == target:
            return True
        if voxel != camera_voxel and occupied.reshape(-1)[voxel]:
            return False
    return True


# Generic camera positions: from "round" ones, rays to voxel centres can pass exactly through
# voxel edges, where which neighbour the DDA visits is a tie the dense walk cannot judge.
@pytest.mark.parametrize('camera', [[0.4137, 1.3291, 0.2173], [-1.8213, 3.1377, 0.9071]],
                         ids=['in', 'out'])
def test_visible_voxels_match_loop(camera, device):
    rng = np.random.default_rng(4)
    occupied = rng.random(GRID.shape) < 0.15
    camera = np.array(camera)
    if GRID.contains_point(camera):
        occupied[tuple(GRID.point_to_index(camera))] = True
    queries = np.stack([rng.integers(0, n, 150) for n in GRID.shape], axis=-1)
    queries[:3] = [[-1, 0, 0], [0, 9, 0], [0, 0, 7]]
    visible = visible_voxels(GRID, occupied, camera, queries)
    expected = [GRID.contains_index(q) and naive_visible(GRID, occupied, camera, q)
                for q in queries]
    np.testing.assert_array_equal(visible, expected)
    assert 0 < visible.sum() < len(queries) - 3
    visible_torch = visible_voxels(GRID, torch.tensor(occupied, device=device), camera,
                                   torch.tensor(queries, device=device))
    np.testing.assert_array_equal(visible_torch.cpu().numpy(), visible)


def test_many_rays_are_fast():
    grid = VoxelGrid(origin=(0.0, 0.0, 0.0), resolution=0.05, shape=(200, 200, 200))
    rng = np.random.default_rng(5)
    endpoints = torch.from_numpy(rng.uniform(0.0, 10.0, (20_000, 3)))
    start = time.perf_counter()
    counts = free_and_occupied_counts(grid, torch.tensor([5.0, 5.0, 1.0]), endpoints)
    elapsed = time.perf_counter() - start
    assert int(counts.hit.sum()) == 20_000
    assert elapsed < 10.0, f'20k rays took {elapsed:.2f} s'  # a per-ray Python loop takes minutes
