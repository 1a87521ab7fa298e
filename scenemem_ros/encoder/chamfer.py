"""Exact nearest neighbours between point sets, chunked for memory, with exact gradients.

The search (which sample is nearest) runs without autograd, either on chunks of query points so
that memory stays at ``chunk_size x M`` (torch, any device) or with scipy k-d trees (CPU). The
distance to the chosen sample is then recomputed with autograd, which gives the same value and
the same (sub)gradient as a differentiable ``min`` over all pairs without storing the pair
matrix. Coordinates are centred per frame before the torch search so that float32 keeps its
precision far from the origin.

Ragged batches come as padded tensors plus lengths (the PyTorch3D way).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from scenemem_ros.encoder.errors import EncoderError


def _check(points: torch.Tensor, name: str) -> None:
    if points.dim() != 3 or points.shape[-1] != 3:
        raise EncoderError(f'{name} must be (B, N, 3), got {tuple(points.shape)}')


def nearest_indices(queries: torch.Tensor, targets: torch.Tensor, chunk_size: int = 4096,
                    groups: int = 1) -> torch.Tensor:
    """(B, N, 3) queries, (B, G * S, 3) targets in ``groups`` blocks of S -> (B, N, G) int64
    index (within its block) of the nearest target of each block. No gradient."""
    _check(queries, 'queries')
    _check(targets, 'targets')
    if targets.shape[1] % groups:
        raise EncoderError(f'{targets.shape[1]} targets do not split into {groups} groups')
    per_group = targets.shape[1] // groups
    if per_group == 0:
        raise EncoderError('targets must not be empty')
    with torch.no_grad():
        centre = targets.mean(dim=1, keepdim=True)
        q = queries.detach() - centre
        t = targets.detach() - centre
        out = []
        for first in range(0, q.shape[1], chunk_size):
            distances = torch.cdist(q[:, first:first + chunk_size], t)  # (B, n, G * S)
            distances = distances.view(distances.shape[0], distances.shape[1], groups, per_group)
            out.append(distances.argmin(dim=-1))
        if not out:
            return torch.zeros(queries.shape[0], 0, groups, dtype=torch.long,
                               device=queries.device)
        return torch.cat(out, dim=1)


BACKENDS = ('auto', 'torch', 'kdtree')


def mutual_nearest_indices(points: torch.Tensor, lengths: torch.Tensor | None,
                           samples: torch.Tensor, chunk_size: int = 4096,
                           backend: str = 'auto') -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 3) padded points with (B,) lengths, (B, K, S, 3) samples of K groups ->
    (B, N, K) index (within its group) of each point's nearest sample of each group, and
    (B, K * S) index of each sample's nearest valid point (0 when a frame has none).

    Exact, without autograd. ``backend``: 'torch' makes one pass over the pair matrix,
    ``chunk_size`` points at a time (any device); 'kdtree' uses scipy k-d trees (one per
    group, CPU, an order of magnitude faster there); 'auto' picks 'kdtree' for CPU tensors.
    """
    _check(points, 'points')
    if samples.dim() != 4 or samples.shape[-1] != 3 or samples.shape[0] != points.shape[0]:
        raise EncoderError(f'samples must be ({points.shape[0]}, K, S, 3), '
                           f'got {tuple(samples.shape)}')
    if backend not in BACKENDS:
        raise EncoderError(f'backend must be one of {BACKENDS}, got {backend!r}')
    batch, count = points.shape[:2]
    groups, per_group = samples.shape[1:3]
    if per_group == 0:
        raise EncoderError('samples must not be empty')
    if backend == 'kdtree' or (backend == 'auto' and points.device.type == 'cpu'):
        return _kdtree_indices(points, lengths, samples)
    with torch.no_grad():
        flat = samples.detach().reshape(batch, groups * per_group, 3)
        centre = flat.mean(dim=1, keepdim=True)
        t = flat - centre
        q = points.detach() - centre
        t_norm = (t * t).sum(-1)
        valid = torch.ones(batch, count, dtype=torch.bool, device=points.device)
        if lengths is not None:
            valid = torch.arange(count, device=points.device).view(1, -1) \
                < lengths.view(-1, 1).to(points.device)
        to_samples = []
        best = torch.full((batch, groups * per_group), float('inf'), device=points.device,
                          dtype=t.dtype)
        best_index = torch.zeros(batch, groups * per_group, dtype=torch.long,
                                 device=points.device)
        for first in range(0, count, chunk_size):
            chunk = q[:, first:first + chunk_size]
            q_norm = (chunk * chunk).sum(-1)
            squared = torch.baddbmm(t_norm.unsqueeze(1), chunk, t.transpose(1, 2), alpha=-2.0)
            to_samples.append(squared.view(batch, -1, groups, per_group).argmin(dim=-1))
            squared = squared + q_norm.unsqueeze(-1)
            squared = squared.masked_fill(~valid[:, first:first + chunk_size, None],
                                          float('inf'))
            value, index = squared.min(dim=1)
            better = value < best
            best = torch.where(better, value, best)
            best_index = torch.where(better, index + first, best_index)
        if to_samples:
            nearest_sample = torch.cat(to_samples, dim=1)
        else:
            nearest_sample = torch.zeros(batch, 0, groups, dtype=torch.long,
                                         device=points.device)
        return nearest_sample, best_index


def _kdtree_indices(points: torch.Tensor, lengths: torch.Tensor | None, samples: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    batch, count = points.shape[:2]
    groups, per_group = samples.shape[1:3]
    p = points.detach().cpu().double().numpy()
    s = samples.detach().cpu().double().numpy()
    sizes = [count] * batch if lengths is None else [int(n) for n in lengths.cpu()]
    to_samples = np.zeros((batch, count, groups), dtype=np.int64)
    to_points = np.zeros((batch, groups * per_group), dtype=np.int64)
    for b in range(batch):
        for k in range(groups):
            to_samples[b, :, k] = cKDTree(s[b, k]).query(p[b], workers=1)[1]
        if sizes[b] > 0:
            to_points[b] = cKDTree(p[b, :sizes[b]]).query(s[b].reshape(-1, 3), workers=1)[1]
    return (torch.from_numpy(to_samples).to(points.device),
            torch.from_numpy(to_points).to(points.device))


def gather_group_distances(points: torch.Tensor, samples: torch.Tensor, index: torch.Tensor
                           ) -> torch.Tensor:
    """(B, N, 3) points, (B, K, S, 3) samples, (B, N, K) chosen sample per group ->
    (B, N, K) differentiable distances."""
    batch, groups, per_group, _ = samples.shape
    flat_index = index + torch.arange(groups, device=index.device).view(1, 1, groups) * per_group
    flat = samples.reshape(batch, groups * per_group, 3)
    nearest = torch.gather(flat, 1, flat_index.reshape(batch, -1, 1).expand(-1, -1, 3))
    return (points.unsqueeze(2) - nearest.view(batch, points.shape[1], groups, 3)).norm(dim=-1)


def gather_distances(queries: torch.Tensor, targets: torch.Tensor, index: torch.Tensor
                     ) -> torch.Tensor:
    """(B, M, 3) queries, (B, N, 3) targets, (B, M) chosen target -> (B, M) distances."""
    nearest = torch.gather(targets, 1, index.unsqueeze(-1).expand(-1, -1, 3))
    return (queries - nearest).norm(dim=-1)


def point_to_group_distances(points: torch.Tensor, samples: torch.Tensor,
                             chunk_size: int = 4096, backend: str = 'auto') -> torch.Tensor:
    """(B, N, 3) points, (B, K, S, 3) samples of K groups -> (B, N, K) distance from each
    point to the nearest sample of each group (differentiable in both inputs)."""
    index, _ = mutual_nearest_indices(points, None, samples, chunk_size, backend)
    return gather_group_distances(points, samples, index)


def nearest_distances(queries: torch.Tensor, targets: torch.Tensor,
                      target_lengths: torch.Tensor | None = None,
                      chunk_size: int = 4096) -> torch.Tensor:
    """(B, N, 3) queries, (B, M, 3) padded targets with (B,) lengths -> (B, N) distance of
    each query to its nearest valid target (differentiable in both)."""
    _check(queries, 'queries')
    _check(targets, 'targets')
    if target_lengths is not None:
        count = torch.arange(targets.shape[1], device=targets.device).view(1, -1)
        padding = count >= target_lengths.view(-1, 1)
        # padded targets are pushed far away so that they are never nearest
        far = targets.detach().abs().amax() * 4 + 1e3
        targets = torch.where(padding.unsqueeze(-1), torch.full_like(targets, float(far)),
                              targets)
    index = nearest_indices(queries, targets, chunk_size).squeeze(-1)  # (B, N)
    nearest = torch.gather(targets, 1, index.unsqueeze(-1).expand(-1, -1, 3))
    return (queries - nearest).norm(dim=-1)


def point_to_group_distances_naive(points: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """Reference for ``point_to_group_distances`` with explicit loops (tests only)."""
    batch, count = points.shape[:2]
    groups = samples.shape[1]
    rows = []
    for b in range(batch):
        per_point = []
        for n in range(count):
            per_point.append(torch.stack([
                torch.stack([(points[b, n] - samples[b, k, s]).norm()
                             for s in range(samples.shape[2])]).min()
                for k in range(groups)]))
        rows.append(torch.stack(per_point) if per_point else points.new_zeros(0, groups))
    return torch.stack(rows)
