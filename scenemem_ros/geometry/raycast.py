"""Ray traversal through a voxel grid (Amanatides & Woo DDA), vectorised over rays.

Every ray is the segment from an origin to an endpoint, clipped to the grid (and optionally to a
maximum range). Its traversal is every voxel the segment passes through, in order from the origin,
each exactly once. All rays step together: they are sorted by their voxel count (known up front:
the Manhattan distance between first and last voxel, plus one), so the rays still active at step
``k`` are a prefix and each step is a handful of tensor operations. Works on any torch device;
numpy inputs give numpy outputs. Arithmetic is float64 (float32 on devices without float64).
Where a segment passes exactly through a voxel edge or corner, only one of the neighbours that
merely touch it there is visited (which one is unspecified), as in the original algorithm.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from scenemem_ros.geometry.errors import GeometryError
from scenemem_ros.geometry.voxels import VoxelGrid

ArrayLike = np.ndarray | torch.Tensor


class RayTraversal(NamedTuple):
    """Voxels traversed by N rays, concatenated ray after ray (M entries in all).

    Attributes:
        voxels: (M,) int64 flat voxel indices, each ray's in order from its origin.
        ray_ids: (M,) int64 ray of each entry (non-decreasing).
        lengths: (N,) int64 entries per ray (0 for rays missing the grid or non-finite).
        hits: (N,) bool, True where the endpoint lies in the grid within ``max_range`` (the ray
            ended on a surface; its last voxel is then the endpoint's voxel).
    """

    voxels: ArrayLike
    ray_ids: ArrayLike
    lengths: ArrayLike
    hits: ArrayLike

    def padded(self, fill: int = -1) -> ArrayLike:
        """(N, L) flat voxel indices, L the longest ray, right-padded with ``fill``."""
        voxels, ray_ids, lengths = (_to_torch(v) for v in self[:3])
        width = int(lengths.max()) if lengths.numel() else 0
        out = torch.full((lengths.shape[0], width), fill, dtype=torch.int64, device=voxels.device)
        starts = torch.cumsum(lengths, 0) - lengths
        rows = torch.arange(voxels.shape[0], device=voxels.device) - starts[ray_ids]
        out[ray_ids, rows] = voxels
        return out if isinstance(self.voxels, torch.Tensor) else out.numpy()


class RayCounts(NamedTuple):
    """Per-voxel ray statistics, each of the grid's shape (nx, ny, nz), int64.

    Attributes:
        free: rays passing through the voxel without ending in it.
        hit: rays ending in the voxel (endpoint inside the grid and within range).
    """

    free: ArrayLike
    hit: ArrayLike


def _to_torch(array: ArrayLike) -> torch.Tensor:
    return array if isinstance(array, torch.Tensor) else torch.from_numpy(np.asarray(array))


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == 'mps' else torch.float64


def _prepare_rays(origins: ArrayLike, endpoints: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    ends = _to_torch(endpoints)
    if ends.dim() != 2 or ends.shape[1] != 3:
        raise GeometryError(f'endpoints must be (N, 3), got {tuple(ends.shape)}')
    dtype = _work_dtype(ends.device)
    ends = ends.to(dtype)
    starts = _to_torch(origins).to(device=ends.device, dtype=dtype)
    if starts.shape not in ((3,), (1, 3), tuple(ends.shape)):
        raise GeometryError(f'origins must be (3,) or (N, 3), got {tuple(starts.shape)}')
    return starts.expand_as(ends), ends


def _segment_clip(grid: VoxelGrid, starts: torch.Tensor, ends: torch.Tensor,
                  max_range: float | None):
    """Clip segments to range and grid -> (valid, hits, starts, ends, first, last).

    All (N,) or (N, 3): ``starts``/``ends`` are cleaned of NaN and cut at ``max_range``;
    ``first``/``last`` are the points where the segment enters and leaves the grid.
    """
    finite = torch.isfinite(starts).all(-1) & torch.isfinite(ends).all(-1)
    starts = torch.where(finite[:, None], starts, torch.zeros_like(starts))
    ends = torch.where(finite[:, None], ends, starts)
    hits = finite
    if max_range is not None:
        offset = ends - starts
        distance = offset.norm(dim=-1, keepdim=True)
        too_far = distance[:, 0] > max_range
        ends = torch.where(too_far[:, None], starts + offset * (max_range / distance), ends)
        hits = hits & ~too_far
    start_inside = grid.contains_point(starts)
    end_inside = grid.contains_point(ends)
    hits = hits & end_inside

    low = torch.tensor(grid.origin, dtype=starts.dtype, device=starts.device)
    high = torch.tensor(grid.maximum, dtype=starts.dtype, device=starts.device)
    direction = ends - starts
    t_low = (low - starts) / direction
    t_high = (high - starts) / direction
    parallel = direction == 0
    within_slab = (starts >= low) & (starts <= high)
    t_near = torch.where(parallel, torch.where(within_slab, -torch.inf, torch.inf),
                         torch.minimum(t_low, t_high)).amax(-1)
    t_far = torch.where(parallel, torch.where(within_slab, torch.inf, -torch.inf),
                        torch.maximum(t_low, t_high)).amin(-1)
    crosses = (t_near <= t_far) & (t_near <= 1) & (t_far >= 0)
    valid = finite & (start_inside | end_inside | crosses)

    t_first = torch.where(start_inside, torch.zeros_like(t_near), t_near.clamp(0, 1))
    t_last = torch.where(end_inside, torch.ones_like(t_far), t_far.clamp(0, 1))
    t_first = torch.minimum(t_first, t_last)
    first = torch.where(start_inside[:, None], starts, starts + t_first[:, None] * direction)
    last = torch.where(end_inside[:, None], ends, starts + t_last[:, None] * direction)
    return valid, hits, starts, ends, first, last


class _Table(NamedTuple):
    """Traversals as a table: column j holds ray ``order[j]``'s voxels, longest rays first.

    Attributes:
        voxels: (L, N) int32 or int64 flat indices; rows past a ray's length hold
            ``grid.num_cells`` (one past the last voxel).
        order: (N,) int64 ray of each column.
        lengths: (N,) int64 voxels per ray, in ray order.
        hits: (N,) bool, in ray order.
    """

    voxels: torch.Tensor
    order: torch.Tensor
    lengths: torch.Tensor
    hits: torch.Tensor

    def last_row_of(self, rays: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) bool ray mask -> (row, column) of those rays' last voxels (rays must be hits)."""
        columns = torch.nonzero(rays[self.order])[:, 0]
        return self.lengths[self.order[columns]] - 1, columns


def _trace(grid: VoxelGrid, origins: ArrayLike, endpoints: ArrayLike,
           max_range: float | None) -> _Table:
    if max_range is not None and not max_range > 0:
        raise GeometryError(f'max_range must be > 0, got {max_range!r}')
    starts, ends = _prepare_rays(origins, endpoints)
    valid, hits, starts, ends, first, last = _segment_clip(grid, starts, ends, max_range)
    upper = torch.tensor(grid.shape, device=ends.device) - 1
    first_index = grid.point_to_index(first).clamp(min=torch.zeros_like(upper), max=upper)
    last_index = grid.point_to_index(last).clamp(min=torch.zeros_like(upper), max=upper)
    remaining = (last_index - first_index).abs() * valid[:, None]
    lengths = (remaining.sum(-1) + 1) * valid
    order = torch.argsort(lengths, descending=True)
    voxels = _march(grid, starts[order], (ends - starts)[order], first_index[order],
                    last_index[order], remaining[order], lengths[order])
    return _Table(voxels, order, lengths, hits)


def _march(grid: VoxelGrid, starts: torch.Tensor, direction: torch.Tensor,
           first_index: torch.Tensor, last_index: torch.Tensor, remaining: torch.Tensor,
           lengths: torch.Tensor) -> torch.Tensor:
    """Rays sorted by descending length -> (L, N) table of their voxels (see ``_Table``).

    Inputs are (N, 3) except (N,) ``lengths``. Per-axis state is stored (3, N) so each step
    works on contiguous prefixes.
    """
    device = starts.device
    index_dtype = torch.int32 if grid.num_cells < 2**31 - 1 else torch.int64
    width = int(lengths[0]) if lengths.numel() else 0
    table = torch.full((width, lengths.shape[0]), grid.num_cells, dtype=index_dtype,
                       device=device)
    if width == 0:
        return table
    step = torch.sign(last_index - first_index)
    origin = torch.tensor(grid.origin, dtype=starts.dtype, device=device)
    boundary = origin + (first_index + (step > 0).long()) * grid.resolution
    remaining = remaining.T.to(index_dtype).contiguous()
    t_next = ((boundary - starts) / direction).T.contiguous()
    t_next.masked_fill_(remaining <= 0, torch.inf)
    t_delta = (grid.resolution / direction.abs()).T.contiguous()
    strides = torch.tensor(grid.strides, device=device)
    flat_step = (step * strides).T.to(index_dtype).contiguous()
    flat = (first_index * strides).sum(-1).to(index_dtype)

    for row, count in enumerate(_active_counts(lengths)):
        current = flat[:count]
        table[row, :count] = current
        t_x, t_y, t_z = t_next[:, :count]
        take_x = (t_x <= t_y) & (t_x <= t_z)
        take_y = (t_y <= t_z) & ~take_x
        take_z = ~(take_x | take_y)
        current += torch.where(take_x, flat_step[0, :count],
                               torch.where(take_y, flat_step[1, :count], flat_step[2, :count]))
        for axis, (t_axis, taken) in enumerate(((t_x, take_x), (t_y, take_y), (t_z, take_z))):
            left = remaining[axis, :count]
            left -= taken.to(index_dtype)
            t_axis += t_delta[axis, :count] * taken
            t_axis.masked_fill_(left <= 0, torch.inf)
    return table


def _active_counts(lengths_sorted: torch.Tensor) -> list[int]:
    """Descending (N,) lengths -> [number of rays longer than k for k in range(max length)]."""
    histogram = torch.bincount(lengths_sorted, minlength=int(lengths_sorted[0]) + 1)
    ended = torch.cumsum(histogram, 0)[:-1]
    return (lengths_sorted.shape[0] - ended).tolist()


def traverse_rays(grid: VoxelGrid, origins: ArrayLike, endpoints: ArrayLike, *,
                  include_endpoint: bool = True, max_range: float | None = None) -> RayTraversal:
    """(3,) or (N, 3) origins, (N, 3) endpoints -> voxels each segment passes through.

    Segments are clipped to the grid, and to ``max_range`` metres from their origin (a clipped
    ray is not a hit). With ``include_endpoint=False`` the endpoint's voxel is left out of rays
    that hit, so what remains is free space (the carving rule); rays that leave the grid or
    run out of range keep their last voxel. Non-finite rays traverse nothing.
    """
    table = _trace(grid, origins, endpoints, max_range)
    lengths = table.lengths
    if not include_endpoint:
        table.voxels[table.last_row_of(table.hits)] = grid.num_cells
        lengths = lengths - table.hits.long()
    device = lengths.device
    count = lengths.shape[0]
    column_of_ray = torch.empty_like(table.order)
    column_of_ray[table.order] = torch.arange(count, device=device)
    ray_ids = torch.repeat_interleave(torch.arange(count, device=device), lengths)
    ray_starts = torch.cumsum(lengths, 0) - lengths
    rows = torch.arange(ray_ids.shape[0], device=device) - ray_starts[ray_ids]
    width = table.voxels.shape[0]
    by_ray = table.voxels.T.contiguous().view(-1)
    voxels = by_ray[column_of_ray[ray_ids] * width + rows].long()
    if not isinstance(endpoints, torch.Tensor):
        return RayTraversal(*(v.cpu().numpy() for v in (voxels, ray_ids, lengths, table.hits)))
    return RayTraversal(voxels, ray_ids, lengths, table.hits)


def free_and_occupied_counts(grid: VoxelGrid, origins: ArrayLike, endpoints: ArrayLike,
                             max_range: float | None = None) -> RayCounts:
    """(3,) or (N, 3) origins, (N, 3) endpoints -> RayCounts of grid shape (free, hit).

    A voxel's free count is the rays passing through it before their endpoint's voxel; its hit
    count is the rays whose endpoint lies in it (endpoints beyond ``max_range`` do not count).
    """
    table = _trace(grid, origins, endpoints, max_range)
    last = table.last_row_of(table.hits)
    hit_voxels = table.voxels[last].long()
    table.voxels[last] = grid.num_cells
    free = torch.bincount(table.voxels.reshape(-1), minlength=grid.num_cells + 1)
    hit = torch.bincount(hit_voxels, minlength=grid.num_cells)
    free, hit = free[:-1].view(grid.shape), hit.view(grid.shape)
    if not isinstance(endpoints, torch.Tensor):
        return RayCounts(free.cpu().numpy(), hit.cpu().numpy())
    return RayCounts(free, hit)


def visible_voxels(grid: VoxelGrid, occupied: ArrayLike, camera_origin: ArrayLike,
                   query_indices: ArrayLike) -> ArrayLike:
    """(nx, ny, nz) bool occupancy, (3,) camera position, (Q, 3) voxel indices -> (Q,) bool.

    A query voxel is visible when the segment from the camera to its centre meets no occupied
    voxel before it, i.e. the first occupied voxel along the ray is the query voxel itself (or
    there is none). The voxel holding the camera is ignored, so a camera inside an occupied voxel
    is not blinded. Query voxels outside the grid are not visible.
    """
    occupied_t = _to_torch(occupied)
    if tuple(occupied_t.shape) != grid.shape:
        raise GeometryError(f'occupied must have the grid shape {grid.shape}, '
                            f'got {tuple(occupied_t.shape)}')
    device = occupied_t.device
    queries = _to_torch(query_indices).to(device)
    if queries.dim() != 2 or queries.shape[1] != 3:
        raise GeometryError(f'query_indices must be (Q, 3), got {tuple(queries.shape)}')
    camera = _to_torch(camera_origin).to(device=device, dtype=_work_dtype(device))
    in_grid = grid.contains_index(queries)
    safe_queries = torch.where(in_grid[:, None], queries, torch.zeros_like(queries))
    centres = grid.index_to_centre(safe_queries.to(camera.dtype))
    table = _trace(grid, camera, centres, max_range=None)
    table.voxels[table.last_row_of(table.hits)] = grid.num_cells
    blockers = torch.cat([occupied_t.reshape(-1).bool(),
                          torch.zeros(1, dtype=torch.bool, device=device)])
    if bool(grid.contains_point(camera)):
        blockers[grid.ravel(grid.point_to_index(camera))] = False
    blocked_columns = blockers[table.voxels.long()].any(0)
    blocked = torch.zeros_like(in_grid)
    blocked[table.order] = blocked_columns
    visible = in_grid & ~blocked
    return visible if isinstance(occupied, torch.Tensor) else visible.cpu().numpy()
