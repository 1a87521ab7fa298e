"""Frame choice by maximum coverage, rays and ray samples."""

import itertools

import numpy as np
import torch

from scenemem_ros.memory.sampling import (
    build_ray_bank,
    depth_edge_mask,
    frame_hits,
    observed_mask,
    sample_along_rays,
    select_max_coverage,
)


def coverage(frames, indices, resolution=0.1):
    cells = set()
    for i in indices:
        cells |= {tuple(c) for c in np.floor(frame_hits(frames[i], 8.0) / resolution).astype(int)}
    return len(cells)


def test_greedy_coverage_is_close_to_the_best_subset(box_room_frames):
    frames = box_room_frames[:8]
    chosen = select_max_coverage(frames, 3, 0.1, points_per_frame=10**9)
    best = max(coverage(frames, subset) for subset in itertools.combinations(range(8), 3))
    assert len(chosen) == 3
    # greedy is within (1 - 1/e) of the optimum; on this room it is much closer
    assert coverage(frames, chosen) >= 0.9 * best


def test_all_frames_kept_without_budget(box_room_frames):
    assert select_max_coverage(box_room_frames, 0, 0.1) == list(range(len(box_room_frames)))


def test_depth_edges_are_masked():
    depth = np.full((6, 8), 2.0, np.float32)
    depth[:, 4:] = 4.0
    depth[0, 0] = np.nan
    edges = depth_edge_mask(depth)
    assert edges[:, 3].all() and edges[:, 4].all()
    assert not edges[2:, :3].any() and not edges[2:, 5:7].any()
    assert edges[0, 1] and edges[1, 0]


def test_ray_bank_hits_lie_on_the_frames_points(box_room_frames):
    bank = build_ray_bank(box_room_frames[:2], rays_per_frame=300, max_range=8.0)
    hits = (bank.origins + bank.directions * bank.distances[:, None]).numpy()
    assert hits.shape == (600, 3)
    assert np.allclose(np.linalg.norm(bank.directions.numpy(), axis=1), 1.0, atol=1e-5)
    reference = np.concatenate([frame_hits(f, 8.0) for f in box_room_frames[:2]])
    nearest = np.min(np.linalg.norm(hits[:50, None] - reference[None], axis=2), axis=1)
    assert nearest.max() < 1e-4


def test_sample_targets_are_the_distance_to_the_hit_along_the_ray():
    origins = torch.zeros(4, 3)
    directions = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.6, 0.8, 0]])
    distances = torch.tensor([2.0, 3.0, 1.0, 5.0])
    from scenemem_ros.memory.sampling import RayBank

    bank = RayBank(origins, directions, distances)
    generator = torch.Generator().manual_seed(0)
    points, targets = sample_along_rays(bank, torch.arange(4), 0.2, 5, 3, generator)
    assert points.shape == (32, 3) and targets.shape == (32,)
    t = points.norm(dim=1).view(4, 8)
    expected = ((distances[:, None] - t) / 0.2).clamp(-1, 1)
    assert torch.allclose(targets.view(4, 8), expected, atol=1e-5)
    near = targets.view(4, 8)[:, :5]
    assert (near >= -0.5 - 1e-6).all() and (near <= 1.0).all() and (near < 0).any()


def test_observed_mask_covers_the_rays_but_not_behind_the_hits():
    from scenemem_ros.memory.sampling import RayBank

    bank = RayBank(torch.tensor([[0.05, 0.05, 0.05]]), torch.tensor([[1.0, 0.0, 0.0]]),
                   torch.tensor([0.73]))
    mask = observed_mask(bank, np.zeros(3), (12, 3, 3), 0.1).numpy()
    assert mask[:8, 0, 0].all() and not mask[8:, 0, 0].any()
    assert mask.sum() == 8


def test_depth_edges_match_the_padded_formulation():
    """Each pair of neighbours compared once gives the mask of the 4-neighbour comparison with
    edge padding, bit for bit, also with NaN, inf, zero and negative depths."""

    def padded_reference(depth, relative_jump):
        padded = np.pad(depth, 1, mode='edge')
        centre = padded[1:-1, 1:-1]
        edge = np.zeros(depth.shape, dtype=bool)
        for neighbour in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2],
                          padded[1:-1, 2:]):
            with np.errstate(invalid='ignore'):
                edge |= ~(np.abs(neighbour - centre) <= relative_jump * centre)
        return edge

    rng = np.random.default_rng(0)
    for shape in ((48, 64), (1, 5), (5, 1), (1, 1), (2, 2), (3, 7)):
        for _ in range(30):
            depth = rng.uniform(0.5, 3.0, shape).astype(np.float32)
            for value, share in ((np.nan, 0.1), (np.inf, 0.05), (-1.0, 0.05), (0.0, 0.05)):
                depth[rng.random(shape) < share] = value
            depth[rng.random(shape) < 0.3] *= 1.04  # jumps either side of 5 %
            for array, jump in ((depth, 0.05), (depth.astype(np.float64), 0.02)):
                assert np.array_equal(depth_edge_mask(array, jump),
                                      padded_reference(array, jump))
