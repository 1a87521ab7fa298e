"""Per-frame losses of the slot encoder, returned as a named dict of scalar tensors.

Terms (all in metres unless said otherwise):

* ``chamfer``: one-directional Chamfer from the depth points to the union of slot surfaces, as an
  *expected minimum over existing slots*: with slots sorted by distance ``d_1 <= d_2 <= ...`` and
  existence probabilities ``e``, a point costs ``sum_k e_k prod_{j<k} (1 - e_j) d_k`` plus
  ``prod_k (1 - e_k) * miss_distance``. Distances are exact nearest neighbours over the slots'
  surface samples (``encoder.chamfer``).
* ``min_share``: an existing slot that owns (in the expectation above) less than
  ``min_point_share`` of the frame's points is pushed to stop existing: ``-log(1 - e)`` times
  its relative shortfall.
* ``front``: slot surface in front of the observed depth (by more than ``front_margin``) is free
  space the sensor saw through. Such a sample costs its depth violation, softly capped at
  ``front_cap`` (``cap * tanh(v / cap)``: pushes it back), plus its distance to the nearest
  depth point, capped at ``front_cap`` (pulls it sideways onto observed surface: the depth
  lookup alone has no sideways gradient, so overhangs at silhouettes would never shrink);
  weighted by the (detached) existence: misplaced surface should move, not make its slot
  vanish.
* ``surface``: truncated distance from each slot surface sample to the nearest depth point,
  weighted by the (detached) existence (keeps slot surface on observed geometry).
* ``laplacian``, ``edge``: smoothness of the prototype offset fields.
* ``total``: the weighted sum.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from scenemem_ros.encoder.chamfer import (
    gather_distances,
    gather_group_distances,
    mutual_nearest_indices,
)
from scenemem_ros.encoder.config import EncoderLossConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.model import SlotOutput

LOSS_KEYS = ('chamfer', 'min_share', 'front', 'surface', 'laplacian', 'edge', 'total')
MIN_SAMPLE_DEPTH = 0.05  # samples closer than this to the camera plane are not projected


class FrameTargets(NamedTuple):
    """What a frame's losses compare the slots with.

    points (B, N, 3) camera-frame depth points padded to N, lengths (B,) valid counts;
    free_depth (B, H, W) depth for the front test (NaN: unknown) with intrinsics (B, 3, 3).
    """

    points: torch.Tensor
    lengths: torch.Tensor
    free_depth: torch.Tensor
    intrinsics: torch.Tensor


def sample_depth_points(depth: torch.Tensor, intrinsics: torch.Tensor, count: int,
                        generator: torch.Generator | None = None,
                        max_depth: float = float('inf')) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) depth, (B, 3, 3) K -> (B, count, 3) camera-frame points drawn without
    replacement from the valid pixels (padded with zeros) and (B,) lengths."""
    batch, height, width = depth.shape
    points = depth.new_zeros(batch, count, 3)
    lengths = torch.zeros(batch, dtype=torch.long, device=depth.device)
    valid = torch.isfinite(depth) & (depth > 0) & (depth <= max_depth)
    for b in range(batch):
        flat = torch.nonzero(valid[b].reshape(-1)).squeeze(1)
        if len(flat) > count:
            pick = torch.randperm(len(flat), generator=generator,
                                  device=generator.device if generator else 'cpu')[:count]
            flat = flat[pick.to(flat.device)]
        v = torch.div(flat, width, rounding_mode='floor')
        u = flat - v * width
        z = depth[b].reshape(-1)[flat]
        k = intrinsics[b].to(depth.dtype)
        x = (u.to(depth.dtype) - k[0, 2]) / k[0, 0] * z
        y = (v.to(depth.dtype) - k[1, 2]) / k[1, 1] * z
        points[b, :len(flat)] = torch.stack([x, y, z], dim=-1)
        lengths[b] = len(flat)
    return points, lengths


def free_space_depth(depth: torch.Tensor, invalid_is_free: bool, max_depth: float
                     ) -> torch.Tensor:
    """(B, H, W) depth (NaN invalid) -> (B, H, W) depth up to which space was seen free.

    Isolated dropouts take the largest valid neighbour (3 x 3); other invalid pixels become
    ``max_depth`` when ``invalid_is_free`` (no return: nothing there) and NaN (unknown) else.
    """
    valid = torch.isfinite(depth) & (depth > 0)
    known = torch.where(valid, depth, torch.zeros_like(depth))
    pooled = F.max_pool2d(known.unsqueeze(1), 3, 1, 1).squeeze(1)
    rest = torch.full_like(depth, max_depth if invalid_is_free else float('nan'))
    return torch.where(valid, depth, torch.where(pooled > 0, pooled, rest))


def front_violation(samples: torch.Tensor, free_depth: torch.Tensor, intrinsics: torch.Tensor,
                    margin: float, lookup: str = 'nearest') -> torch.Tensor:
    """(B, K, S, 3) camera-frame samples, (B, H, W) free-space depth, (B, 3, 3) K ->
    (B, K, S) metres by which each sample lies in front of the depth beyond ``margin`` (0 for
    samples outside the image, behind the camera plane or over unknown pixels).

    ``lookup`` 'nearest' reads the depth at the nearest pixel: the violation then has a
    gradient along the camera axis only. 'bilinear' interpolates between the four pixels
    around the projection (where all four are known), so the violation also depends on where
    the sample projects: at grazing incidence a sample a little above a floor is far in front
    along its ray, and the short way out of free space is down onto the floor, a direction
    only the interpolated depth's image gradient points along."""
    batch, height, width = free_depth.shape
    k = intrinsics.to(samples.dtype)
    z = samples[..., 2]
    safe_z = z.clamp_min(MIN_SAMPLE_DEPTH)
    u = k[:, 0, 0].view(-1, 1, 1) * samples[..., 0] / safe_z + k[:, 0, 2].view(-1, 1, 1)
    v = k[:, 1, 1].view(-1, 1, 1) * samples[..., 1] / safe_z + k[:, 1, 2].view(-1, 1, 1)
    col = torch.round(u.detach()).long()
    row = torch.round(v.detach()).long()
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height) & (z > MIN_SAMPLE_DEPTH)
    observed = _depth_at(free_depth, row, col).view_as(z)
    if lookup == 'bilinear':
        smooth, smooth_known = _bilinear_depth(free_depth, u, v)
        use = smooth_known & (z > MIN_SAMPLE_DEPTH)
        observed = torch.where(use, smooth, observed)
    known = inside & torch.isfinite(observed)
    gap = torch.where(known, observed, z) - z - margin
    return torch.where(known, F.relu(gap), torch.zeros_like(gap))


def _depth_at(free_depth: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """(B, H, W) depth, (B, ...) integer pixel rows and columns -> (B, M) depths (indices
    clamped into the image)."""
    batch, height, width = free_depth.shape
    flat = (row.clamp(0, height - 1) * width + col.clamp(0, width - 1)).reshape(batch, -1)
    return torch.gather(free_depth.reshape(batch, -1), 1, flat)


def _bilinear_depth(free_depth: torch.Tensor, u: torch.Tensor, v: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) depth, (B, ...) pixel coordinates (centres at integers) -> depth interpolated
    between the four surrounding pixels (differentiable in u, v; 0 where not known) and
    whether all four lie in the image and are known."""
    height, width = free_depth.shape[1:]
    col = torch.floor(u.detach())
    row = torch.floor(v.detach())
    du, dv = u - col, v - row
    col_i, row_i = col.long(), row.long()
    inside = (col_i >= 0) & (col_i + 1 < width) & (row_i >= 0) & (row_i + 1 < height)
    corners = [_depth_at(free_depth, row_i + dr, col_i + dc).view_as(u)
               for dr in (0, 1) for dc in (0, 1)]
    known = inside
    for corner in corners:
        known = known & torch.isfinite(corner)
    top_left, top_right, bottom_left, bottom_right = (
        torch.nan_to_num(c, nan=0.0, posinf=0.0, neginf=0.0) for c in corners)
    top = (1 - du) * top_left + du * top_right
    bottom = (1 - du) * bottom_left + du * bottom_right
    value = (1 - dv) * top + dv * bottom
    return torch.where(known, value, torch.zeros_like(value)), known


def ellipsoid_area(scale: torch.Tensor) -> torch.Tensor:
    """(..., 3) semi-axes -> (...) approximate ellipsoid surface area (Knud Thomsen's
    formula, within ~1 %): the area of a slot whose prototype blend stays near the unit
    sphere."""
    p = 1.6075
    a, b, c = scale.abs().clamp_min(1e-6).unbind(-1)
    return 4 * torch.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)


def expected_minimum(distances: torch.Tensor, existence: torch.Tensor, miss_distance: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, K) point-to-slot distances, (B, K) existence -> (B, N) expected distance to the
    nearest existing slot and (B, N, K) probability that each slot is that nearest one."""
    order = distances.detach().argsort(dim=-1)
    sorted_distances = torch.gather(distances, -1, order)
    sorted_existence = torch.gather(existence.unsqueeze(1).expand_as(distances), -1, order)
    survive = torch.cumprod(1 - sorted_existence, dim=-1)
    before = torch.cat([torch.ones_like(survive[..., :1]), survive[..., :-1]], dim=-1)
    weights = sorted_existence * before
    expected = (weights * sorted_distances).sum(-1) + survive[..., -1] * miss_distance
    ownership = torch.zeros_like(weights).scatter(-1, order, weights)
    return expected, ownership


def _point_mask(targets: FrameTargets) -> torch.Tensor:
    count = torch.arange(targets.points.shape[1], device=targets.points.device)
    return (count.view(1, -1) < targets.lengths.view(-1, 1)).to(targets.points.dtype)


def frame_losses(output: SlotOutput, targets: FrameTargets, config: EncoderLossConfig
                 ) -> dict[str, torch.Tensor]:
    """``SlotOutput`` of B frames and their ``FrameTargets`` -> dict of () losses
    (keys ``LOSS_KEYS``), each averaged over the frames."""
    samples, existence = output.samples, output.slots.existence
    if samples.shape[0] != targets.points.shape[0]:
        raise EncoderError(f'{samples.shape[0]} frames of slots but {targets.points.shape[0]} '
                           f'frames of targets')
    mask = _point_mask(targets)
    counts = mask.sum(1).clamp_min(1)
    to_samples, to_points = mutual_nearest_indices(targets.points, targets.lengths, samples,
                                                   config.chunk_size)
    distances = gather_group_distances(targets.points, samples, to_samples)
    expected, ownership = expected_minimum(distances, existence, config.miss_distance)
    chamfer = ((expected * mask).sum(1) / counts).mean()

    share = ((ownership * mask.unsqueeze(-1)).sum(1) / counts.unsqueeze(-1)).detach()
    if config.min_point_share > 0:
        starving = F.relu(config.min_point_share - share) / config.min_point_share
        # -log(1 - e): its gradient does not vanish when the existence saturates near 1
        min_share = (-torch.log1p(-existence.clamp(max=1 - 1e-6)) * starving).mean()
    else:
        min_share = chamfer.new_zeros(())

    batch, slots, per_slot, _ = samples.shape
    # distance of every surface sample to its nearest depth point (3D): a gradient that also
    # moves surface sideways, towards what was observed
    back = gather_distances(samples.reshape(batch, slots * per_slot, 3), targets.points,
                            to_points).view(batch, slots, per_slot)
    has_points = (targets.lengths > 0).to(back.dtype).view(-1, 1, 1)
    # existence is detached: surface in the wrong place should move, not make its slot vanish
    weight = existence.detach().unsqueeze(-1) * has_points

    violation = front_violation(samples, targets.free_depth, targets.intrinsics,
                                config.front_margin, config.front_lookup)
    in_front = (violation > 0).to(back.dtype)
    capped = config.front_cap * torch.tanh(violation / config.front_cap)
    capped_back = back.clamp_max(config.front_cap)
    front_weight = weight
    if config.front_area_weighted:
        area = ellipsoid_area(output.slots.scale.detach())  # (B, K)
        alive = existence.detach()
        mean_area = (area * alive).sum(1, keepdim=True) / alive.sum(1, keepdim=True).clamp_min(
            1e-6)
        front_weight = weight * (area / mean_area.clamp_min(1e-9)).unsqueeze(-1)
    front = (front_weight * in_front * (capped + capped_back)).mean()
    surface = (weight * back.clamp_max(config.surface_truncation)).mean()

    losses = {'chamfer': chamfer, 'min_share': min_share, 'front': front, 'surface': surface,
              'laplacian': output.laplacian, 'edge': output.edge}
    losses['total'] = (config.chamfer_weight * chamfer + config.min_share_weight * min_share
                       + config.front_weight * front + config.surface_weight * surface
                       + config.laplacian_weight * output.laplacian
                       + config.edge_weight * output.edge)
    return losses


def make_targets(depth: torch.Tensor, intrinsics: torch.Tensor, config: EncoderLossConfig,
                 max_depth: float, generator: torch.Generator | None = None) -> FrameTargets:
    """(B, H, W) depth, (B, 3, 3) K -> ``FrameTargets`` with ``config.depth_points`` points."""
    points, lengths = sample_depth_points(depth, intrinsics, config.depth_points, generator,
                                          max_depth)
    return FrameTargets(points, lengths,
                        free_space_depth(depth, config.invalid_is_free, max_depth), intrinsics)
