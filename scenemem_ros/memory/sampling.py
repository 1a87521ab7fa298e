"""Training data for the field: maximum-coverage frame choice, camera rays, ray samples.

Frame choice follows Video-3D LLM's maximum-coverage sampling: greedily keep the frame that adds
the most not-yet-seen voxels (lazy greedy; coverage is submodular, so stale gains are upper
bounds).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from scenemem_ros.data.frame import Frame
from scenemem_ros.memory.errors import MemoryModelError


class RayBank(NamedTuple):
    """Camera rays that hit a surface.

    Attributes:
        origins: (M, 3) float32 camera centres.
        directions: (M, 3) float32 unit directions.
        distances: (M,) float32 distance (m) from the origin to the hit along the ray.
    """

    origins: torch.Tensor
    directions: torch.Tensor
    distances: torch.Tensor

    def to(self, device: torch.device) -> RayBank:
        return RayBank(*(t.to(device) for t in self))


def depth_edge_mask(depth: np.ndarray, relative_jump: float = 0.05) -> np.ndarray:
    """(H, W) depth -> (H, W) bool, True at pixels next to a depth discontinuity.

    Depth sensors return "flying pixels" between foreground and background along such edges;
    a pixel whose depth differs from a 4-neighbour by more than ``relative_jump`` of its depth
    (or whose neighbour is invalid) is not trusted.
    """
    depth = np.asarray(depth)
    limit = relative_jump * depth
    with np.errstate(invalid='ignore'):
        # a pixel at the border is its own neighbour there (edge padding): it is an edge when
        # ~(|d - d| <= limit), which is when d is not finite or the limit is negative
        edge = ~(np.abs(depth - depth) <= limit)
        edge[1:-1, 1:-1] = False
        # each pair of 4-neighbours once: |a - b| == |b - a|
        for step in ((slice(1, None), slice(None)), (slice(None), slice(1, None))):
            back = tuple(slice(None, -1) if part.start else slice(None) for part in step)
            jump = np.abs(depth[step] - depth[back])
            edge[back] |= ~(jump <= limit[back])
            edge[step] |= ~(jump <= limit[step])
    return edge


def frame_hits(frame: Frame, max_range: float) -> np.ndarray:
    """(N, 3) float32 world points the frame observed within ``max_range`` of its camera.

    Depth pixels at depth discontinuities (possible flying pixels) are left out.
    """
    if frame.depth is not None:
        depth = np.where(depth_edge_mask(frame.depth), np.nan, frame.depth)
        frame = Frame(stamp=frame.stamp, camera=frame.camera,
                      camera_to_world=frame.camera_to_world, depth=depth,
                      frame_id=frame.frame_id)
    points = frame.world_points()
    if points.size == 0:
        return points.reshape(0, 3)
    distance = np.linalg.norm(points - frame.camera_position.astype(np.float32), axis=1)
    return points[(distance > 1e-3) & (distance <= max_range)]


def select_max_coverage(frames: Sequence[Frame], max_frames: int, resolution: float,
                        max_range: float = 8.0, points_per_frame: int = 5000,
                        seed: int = 0) -> list[int]:
    """Indices (in original order) of up to ``max_frames`` frames covering the most voxels.

    Each frame's hits are voxelised at ``resolution``; frames are taken greedily by new voxels
    until the budget is spent or no frame adds anything. ``max_frames`` = 0 keeps every frame.
    """
    if not frames:
        raise MemoryModelError('no frames to select from')
    if max_frames == 0 or max_frames >= len(frames):
        return list(range(len(frames)))
    rng = np.random.default_rng(seed)
    voxel_sets = []
    for frame in frames:
        hits = frame_hits(frame, max_range)
        if len(hits) > points_per_frame:
            hits = hits[rng.choice(len(hits), points_per_frame, replace=False)]
        voxel_sets.append(np.floor(hits / resolution).astype(np.int64))
    all_cells = np.concatenate(voxel_sets) if voxel_sets else np.zeros((0, 3), np.int64)
    _, inverse = np.unique(all_cells, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    ids_per_frame, start = [], 0
    for cells in voxel_sets:
        ids_per_frame.append(np.unique(inverse[start:start + len(cells)]))
        start += len(cells)
    covered = np.zeros(int(inverse.max(initial=-1)) + 1, dtype=bool)
    heap = [(-len(ids), index) for index, ids in enumerate(ids_per_frame)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < max_frames:
        _, index = heapq.heappop(heap)
        gain = int(np.count_nonzero(~covered[ids_per_frame[index]]))
        if gain == 0:
            break
        if heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, index))
            continue
        covered[ids_per_frame[index]] = True
        chosen.append(index)
    return sorted(chosen)


def build_ray_bank(frames: Sequence[Frame], rays_per_frame: int, max_range: float,
                   seed: int = 0) -> RayBank:
    """Up to ``rays_per_frame`` random hit rays per frame, from depth or from stored points."""
    rng = np.random.default_rng(seed)
    origins, directions, distances = [], [], []
    for frame in frames:
        hits = frame_hits(frame, max_range)
        if len(hits) == 0:
            continue
        if len(hits) > rays_per_frame:
            hits = hits[rng.choice(len(hits), rays_per_frame, replace=False)]
        origin = frame.camera_position.astype(np.float32)
        offsets = hits - origin
        length = np.linalg.norm(offsets, axis=1)
        origins.append(np.broadcast_to(origin, hits.shape))
        directions.append(offsets / length[:, None])
        distances.append(length)
    if not origins:
        raise MemoryModelError('the frames hold no valid depth within range')
    return RayBank(torch.from_numpy(np.concatenate(origins).astype(np.float32)),
                   torch.from_numpy(np.concatenate(directions).astype(np.float32)),
                   torch.from_numpy(np.concatenate(distances).astype(np.float32)))


def sample_along_rays(bank: RayBank, ray_index: torch.Tensor, truncation: float,
                      surface_samples: int, free_samples: int,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points near each chosen ray's hit and in its free space, with their training targets.

    Returns (S, 3) points and (S,) targets: the distance to the hit along the ray, in truncation
    units, clamped to [-1, 1] (positive in front of the surface). Surface samples fall from one
    truncation in front of the hit to half a truncation behind it (less behind, where thin walls
    end); free samples lie uniformly between 5 cm from the camera and the truncation band.
    """
    device = bank.origins.device
    origins = bank.origins[ray_index]
    directions = bank.directions[ray_index]
    hit = bank.distances[ray_index]
    count = ray_index.shape[0]
    near = torch.rand(count, surface_samples, generator=generator, device=device)
    near_t = hit[:, None] + (0.5 - 1.5 * near) * truncation
    parts_t = [near_t]
    if free_samples:
        far = torch.rand(count, free_samples, generator=generator, device=device)
        free_end = (hit - truncation).clamp(min=0.05)
        parts_t.append(0.05 + far * (free_end[:, None] - 0.05))
    t = torch.cat(parts_t, dim=1)
    targets = ((hit[:, None] - t) / truncation).clamp(-1.0, 1.0)
    points = origins[:, None, :] + t[..., None] * directions[:, None, :]
    return points.reshape(-1, 3), targets.reshape(-1)


def observed_mask(bank: RayBank, origin: np.ndarray, shape: tuple[int, ...],
                  resolution: float, max_rays: int = 400_000, seed: int = 0) -> torch.Tensor:
    """(X, Y, Z) bool: voxels that rays crossed or ended in.

    Space behind the hits stays unobserved on purpose: the field is trained only a short way
    behind each surface, so what it says deeper inside objects is not evidence.
    """
    rng = np.random.default_rng(seed)
    total = bank.origins.shape[0]
    chosen = rng.choice(total, min(total, max_rays), replace=False)
    origins = bank.origins[chosen].cpu().numpy()
    directions = bank.directions[chosen].cpu().numpy()
    distances = bank.distances[chosen].cpu().numpy()
    mask = np.zeros(shape, dtype=bool)
    dims = np.array(shape)
    step = resolution * 0.5
    for start in range(0, len(chosen), 20000):
        o, d, r = (a[start:start + 20000] for a in (origins, directions, distances))
        steps = int(np.ceil(r.max() / step)) + 1
        t = np.minimum(np.arange(steps, dtype=np.float32)[None, :] * step, r[:, None])
        points = o[:, None, :] + t[..., None] * d[:, None, :]
        index = np.floor((points.reshape(-1, 3) - origin) / resolution).astype(np.int64)
        keep = ((index >= 0) & (index < dims)).all(axis=1)
        index = index[keep]
        mask[index[:, 0], index[:, 1], index[:, 2]] = True
    return torch.from_numpy(mask)
