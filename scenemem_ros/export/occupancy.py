"""Per-frame egocentric occupancy and visibility from posed depth (or point) frames, vectorised.

The computation behind ``scenemem export occupancy`` (numpy only; one pass over the frames,
then one over the kept poses and bit masks):

1. **Global map.** Every frame's depth pixels (every ``pixel_stride``-th in u and v) are
   back-projected; those inside the frame's own ego box are voxelised on a world lattice
   anchored at the world origin (cell ``floor(p / voxel_size)``) and marked in a dense,
   growing boolean grid. Point-only frames contribute their points. The first point seen in
   each voxel is kept as the downsampled cloud (``origin_pcd.ply``).
2. **Visibility** (per frame, ego grid). Ray casting against the depth image, done as a
   range-map lookup: each sampled pixel's ray is binned by its azimuth and elevation in the ego
   frame, and a bin keeps the shortest range any of its rays travelled before hitting a surface.
   An ego voxel is visible when its centre is no farther from the camera than the range of the
   bin its direction falls in plus half a voxel diagonal (so the voxel holding the surface is
   visible too). Bins no ray fell in (outside the view, no return) hide their voxels. Every
   voxel's bin and range are fixed for the ego grid, so a frame costs one binning of its pixels
   and one gather over the grid. The cells the frame's own points fall in are visible too.
   Point-only frames first render a depth image of the global map inside the ego box and of
   their own points (each splatted as a square of a voxel's projected size), then proceed the
   same way.
3. **Occupancy** (per frame, ego grid). The cells the frame's own points fall in, plus the
   cells of its surface shell (visible cells within a voxel diagonal of where their bin's rays
   end) whose centre lies in an occupied voxel of the global map, i.e. surfaces other frames
   saw where this frame's rays end too. Reading the map at ego cell centres (rather than
   moving map voxels into the rotated ego grid) leaves no resampling holes. A frame's
   occupancy is the union of its own and its history frames' (L3ROcc's sliding window), the
   latter moved into its ego grid as world points, as far as they lie inside its ego box.

Visibility follows the measured depth rather than L3ROcc's first occupied voxel of the map:
map voxels in front of what the camera measures now (noise, things that moved) do not block
the view, and the current frame does not count them as occupied.

Conventions: camera poses are optical (x right, y down, z forward) to world, world z up; ego
frame as in :class:`~scenemem_ros.export.config.OccupancyExportConfig`; ego voxel flat indices
are C order over (nx, ny, nz), as L3ROcc's ``x * (W * D) + y * D + z``.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import sparse

from scenemem_ros.data.frame import Frame
from scenemem_ros.export.config import OccupancyExportConfig
from scenemem_ros.export.errors import ExportError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import invert_rigid
from scenemem_ros.geometry.voxels import VoxelGrid

#: Largest dense world grid (cells) the global map may grow to.
MAX_WORLD_CELLS = 1 << 30
#: Quantisation steps of the pseudo-angles that index the bin look-up tables (per unit).
_LUT_STEPS = 16384


@dataclass(frozen=True)
class SphericalBins:
    """Directions -> bins of (azimuth, elevation), ``resolution`` radians square.

    Azimuth is measured in the ego frame from +y (forward) towards +x, elevation from the
    horizontal plane; bin ``ie * n_azimuth + ia``. No trigonometry per direction: azimuth is
    read through the "diamond angle" ``1 - x / (|x| + |y|)`` (``+2 (1 + x / (|x| + |y|))`` for
    y < 0), elevation through ``z / (hypot(x, y) + |z|)``; both are monotonic in the angle, and
    look-up tables on a 1/16384 grid of them give the angle's bin (a misplacement of at most
    ~2e-4 rad at bin edges, the same for pixels and voxels).
    """

    resolution: float

    @property
    def n_azimuth(self) -> int:
        return math.ceil(2 * math.pi / self.resolution)

    @property
    def n_elevation(self) -> int:
        return math.ceil(math.pi / self.resolution) + 1

    @property
    def count(self) -> int:
        return self.n_azimuth * self.n_elevation

    @functools.cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        steps = _LUT_STEPS
        diamond = (np.arange(4 * steps + 1) + 0.5) / steps  # in (0, 4]
        s = np.where(diamond < 2, 1 - diamond, diamond - 3)
        y = np.where(diamond < 2, 1 - np.abs(s), np.abs(s) - 1)
        azimuth = np.arctan2(s, y)
        ia = np.clip(np.floor((azimuth + np.pi) / self.resolution), 0, self.n_azimuth - 1)
        pseudo = (np.arange(2 * steps + 1) + 0.5) / steps - 1  # in (-1, 1]
        elevation = np.arctan2(pseudo, 1 - np.abs(pseudo))
        ie = np.clip(np.floor((elevation + np.pi / 2) / self.resolution), 0,
                     self.n_elevation - 1)
        return ia.astype(np.int32), (ie * self.n_azimuth).astype(np.int32)

    def index(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(P,) ego direction components (any length, not all zero) -> (P,) int32 bins."""
        azimuth_table, elevation_table = self._tables
        dtype = np.result_type(x, np.float32)
        tiny = np.finfo(dtype).tiny
        ax, ay = np.abs(x), np.abs(y)
        s = x / np.maximum(ax + ay, tiny)
        diamond = 1 - s
        diamond += (y < 0) * (2 + 2 * s)
        diamond *= _LUT_STEPS
        rho = np.sqrt(x * x + y * y)
        pseudo = z / np.maximum(rho + np.abs(z), tiny)
        pseudo += 1
        pseudo *= _LUT_STEPS
        azimuth = np.take(azimuth_table, diamond.astype(np.intp), mode='clip')
        return azimuth + np.take(elevation_table, pseudo.astype(np.intp), mode='clip')


def world_from_ego(camera_to_world: np.ndarray) -> np.ndarray:
    """(4, 4) optical camera pose -> (4, 4) pose of its ego frame (z up, y forward, x right).

    Forward is the optical axis projected on the horizontal plane; when the camera looks
    within ~0.6 deg of straight down (up), the image's up (down) direction is used instead.
    """
    pose = np.asarray(camera_to_world, dtype=np.float64)
    forward = pose[:3, 2].copy()
    forward[2] = 0.0
    if np.linalg.norm(forward) < 1e-2:
        forward = -pose[:3, 1] if pose[2, 2] < 0 else pose[:3, 1].copy()
        forward[2] = 0.0
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0])
    result = np.eye(4)
    result[:3, 0] = np.cross(forward, up)
    result[:3, 1] = forward
    result[:3, 2] = up
    result[:3, 3] = pose[:3, 3]
    return result


class EgoVisibility:
    """Visibility of every ego voxel from a range map: the per-voxel bin and range are fixed.

    Ranges are kept as uint16 millimetres plus one (0: no ray in the bin; 65535: 65.5 m or
    more), which halves the memory the per-frame gather over the whole grid walks through.

    Attributes:
        grid: the ego grid.
        bins: the spherical binning.
        centres: (cells,) float32 x, y and z of the voxel centres (C order).
        voxel_bin: (cells,) intp bin of each voxel centre's direction (C order).
        voxel_threshold: (cells,) uint16 the voxel is visible when its bin's range code is at
            least this: centre distance minus half a voxel diagonal, in mm plus one.
        shell_span: a visible voxel is in the surface shell when its bin's range code exceeds
            its threshold by at most this (the ray ends within half a voxel diagonal of it).
    """

    def __init__(self, grid: VoxelGrid, bins: SphericalBins) -> None:
        self.grid, self.bins = grid, bins
        axes = [(grid.origin[a] + (np.arange(grid.shape[a]) + 0.5) * grid.resolution
                 ).astype(np.float32) for a in range(3)]
        x, y, z = (v.reshape(-1) for v in np.meshgrid(*axes, indexing='ij'))
        self.centres = (x, y, z)
        self.voxel_bin = bins.index(x, y, z).astype(np.intp)  # intp: np.take converts others
        tolerance = 0.5 * math.sqrt(3.0) * grid.resolution
        distance = np.sqrt(x.astype(np.float64) ** 2 + y ** 2 + z ** 2) - tolerance
        self.voxel_threshold = (np.clip(np.ceil(distance * 1000.0), 0, 65533) + 1
                                ).astype(np.uint16)
        self.shell_span = np.uint16(math.ceil(2000.0 * tolerance))
        self._range_map = np.zeros(bins.count, dtype=np.uint16)
        self._touched = np.zeros(0, dtype=np.int32)
        self._gathered = np.empty(grid.num_cells, dtype=np.uint16)
        self._rays: dict[tuple[PinholeCamera, int], tuple[np.ndarray, ...]] = {}

    def rays(self, camera: PinholeCamera, stride: int) -> tuple[np.ndarray, ...]:
        """-> (P,) float32 x and y of the optical rays with z = 1 and (P,) their lengths, of
        the pixels ``[::stride, ::stride]`` in row-major order (cached per camera)."""
        key = (camera, stride)
        if key not in self._rays:
            v, u = np.mgrid[0:camera.height:stride, 0:camera.width:stride]
            x = ((u.ravel() - camera.cx) / camera.fx).astype(np.float32)
            y = ((v.ravel() - camera.cy) / camera.fy).astype(np.float32)
            self._rays[key] = (x, y, np.sqrt(x * x + y * y + 1).astype(np.float32))
        return self._rays[key]

    def range_map(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, ranges: np.ndarray
                  ) -> np.ndarray:
        """(P,) ego ray direction components, (P,) finite ranges in metres -> (bins,) uint16
        shortest range per bin in mm plus one, 0 where no ray fell (reused by the next call)."""
        out = self._range_map
        out[self._touched] = 0  # only the previous call's bins differ from 0
        index = self.bins.index(x, y, z)
        out[index] = 65535
        codes = np.minimum(ranges * np.float32(1000.0), np.float32(65534.0)).astype(np.uint16)
        codes += 1
        np.minimum.at(out, index, codes)
        self._touched = index
        return out

    def visible(self, range_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bins,) range map -> ((cells,) bool visibility in C order, (S,) the visible cells
        of the surface shell, where rays end)."""
        gathered = np.take(range_map, self.voxel_bin, out=self._gathered)
        visible = gathered >= self.voxel_threshold
        gathered -= self.voxel_threshold  # wraps around (to > span) where not visible
        return visible, np.flatnonzero(gathered <= self.shell_span)


@dataclass(frozen=True, eq=False)
class OccupancyExport:
    """The computed (or read back) export of one episode.

    Attributes:
        config: the settings used.
        stamps: (N,) float64 seconds.
        camera_to_world: (N, 4, 4) float64 optical camera poses.
        world_from_ego: (N, 4, 4) float64 ego frame poses.
        intrinsics: (N, 3, 3) float64 camera matrices K.
        image_size: (width, height) of the cameras.
        world_occupancy: (M, 3) float32 centres of the occupied world voxels.
        cloud: (M, 3) float32 downsampled cloud: one observed point per occupied world voxel.
        occupancy: (N, cells) uint8 CSR matrix, 1 where a frame's ego voxel is occupied.
        visibility: (N, ceil(cells / 8)) uint8 bit-packed (``np.packbits``) visibility rows.
    """

    config: OccupancyExportConfig
    stamps: np.ndarray
    camera_to_world: np.ndarray
    world_from_ego: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    world_occupancy: np.ndarray
    cloud: np.ndarray
    occupancy: sparse.csr_matrix
    visibility: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps)

    @property
    def grid(self) -> VoxelGrid:
        """The ego grid (origin = pc_range minimum, shape (nx, ny, nz))."""
        return self.config.ego_grid

    def occupancy_grid(self, index: int) -> np.ndarray:
        """(nx, ny, nz) bool occupancy of frame ``index``."""
        row = np.zeros(self.grid.num_cells, dtype=bool)
        start, end = self.occupancy.indptr[index], self.occupancy.indptr[index + 1]
        row[self.occupancy.indices[start:end]] = True
        return row.reshape(self.grid.shape)

    def visibility_grid(self, index: int) -> np.ndarray:
        """(nx, ny, nz) bool visibility of frame ``index``."""
        bits = np.unpackbits(self.visibility[index], count=self.grid.num_cells)
        return bits.astype(bool).reshape(self.grid.shape)


class _GrowingGrid:
    """A dense boolean world grid over integer cells that grows to hold what is added."""

    def __init__(self, margin: int) -> None:
        self.margin = margin
        self.low = np.zeros(3, dtype=np.int64)
        self.cells: np.ndarray = np.zeros((0, 0, 0), dtype=bool)

    def _grow(self, low: np.ndarray, high: np.ndarray) -> None:
        if self.cells.size:
            size = np.asarray(self.cells.shape)
            old_high = self.low + size
            # grow by at least half the current size along an axis that must grow
            low = np.where(low < self.low, np.minimum(low, self.low - size // 2), self.low)
            high = np.where(high > old_high, np.maximum(high, old_high + size // 2), old_high)
        else:
            low, high = low - self.margin, high + self.margin
        shape = high - low
        if int(np.prod(shape)) > MAX_WORLD_CELLS:
            raise ExportError(f'the global map would need {int(np.prod(shape)):,} cells '
                              f'(> {MAX_WORLD_CELLS:,}); use a larger voxel_size or a smaller '
                              'pc_range')
        cells = np.zeros(tuple(int(n) for n in shape), dtype=bool)
        if self.cells.size:
            offset = self.low - low
            cells[offset[0]:offset[0] + self.cells.shape[0],
                  offset[1]:offset[1] + self.cells.shape[1],
                  offset[2]:offset[2] + self.cells.shape[2]] = self.cells
        self.low, self.cells = low, cells

    def add(self, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(P,) int64 cell indices per axis -> (P,) bool, True for the first point of each
        newly set cell."""
        if len(i) == 0:
            return np.zeros(0, dtype=bool)
        low = np.array([i.min(), j.min(), k.min()])
        high = np.array([i.max(), j.max(), k.max()]) + 1
        if (not self.cells.size or (low < self.low).any()
                or (high > self.low + np.asarray(self.cells.shape)).any()):
            self._grow(low, high)
        ny, nz = self.cells.shape[1], self.cells.shape[2]
        flat = ((i - self.low[0]) * ny + (j - self.low[1])) * nz + (k - self.low[2])
        view = self.cells.reshape(-1)
        new = ~np.take(view, flat)
        if new.any():
            candidates = np.flatnonzero(new)
            _, first = np.unique(flat[candidates], return_index=True)
            new[:] = False
            new[candidates[first]] = True
            view[flat[new]] = True
        return new

    def occupied(self) -> np.ndarray:
        """(M, 3) int64 set cells in C order."""
        flat = np.flatnonzero(self.cells.reshape(-1))
        return np.stack(np.unravel_index(flat, self.cells.shape), axis=1) + self.low


class _FrameInfo:
    """What pass two needs of a frame: its pose, camera and, for point-only frames, points."""

    __slots__ = ('stamp', 'camera', 'camera_to_world', 'world_from_ego', 'points')

    def __init__(self, frame: Frame, ego: np.ndarray) -> None:
        self.stamp = frame.stamp
        self.camera = frame.camera
        self.camera_to_world = frame.camera_to_world
        self.world_from_ego = ego
        self.points = frame.points if frame.depth is None else None


def _splat_depth(points_camera: np.ndarray, voxel_size: float, camera: PinholeCamera,
                 max_radius: int) -> np.ndarray:
    """(P, 3) voxel centres in the optical frame -> (H, W) float32 depth (NaN empty) with each
    voxel drawn as a square of about its projected size (half-size capped at max_radius)."""
    z = points_camera[:, 2]
    front = z > 1e-3
    pts, z = points_camera[front], z[front]
    depth = np.full(camera.height * camera.width, np.inf, dtype=np.float32)
    if len(z):
        u = np.rint(camera.fx * pts[:, 0] / z + camera.cx).astype(np.int64)
        v = np.rint(camera.fy * pts[:, 1] / z + camera.cy).astype(np.int64)
        radius = np.clip(np.ceil(0.5 * max(camera.fx, camera.fy) * voxel_size / z - 0.5), 0,
                         max_radius).astype(np.int64)
        for r in np.unique(radius):
            pick = radius == r
            offsets = np.arange(-r, r + 1)
            uu = (u[pick, None, None] + offsets[None, None, :]).repeat(len(offsets), axis=1)
            vv = (v[pick, None, None] + offsets[None, :, None]).repeat(len(offsets), axis=2)
            zz = np.broadcast_to(z[pick, None, None], uu.shape)
            inside = (uu >= 0) & (uu < camera.width) & (vv >= 0) & (vv < camera.height)
            np.minimum.at(depth, (vv * camera.width + uu)[inside], zz[inside])
    depth[~np.isfinite(depth)] = np.nan
    return depth.reshape(camera.height, camera.width)


class _Visibility:
    """Per-frame visibility rows (packed) from depth images."""

    def __init__(self, config: OccupancyExportConfig, cameras: list[PinholeCamera]) -> None:
        self.config = config
        self.grid = config.ego_grid
        resolution = config.angular_resolution
        if resolution is None:
            focal = min(min(c.fx, c.fy) for c in cameras) if cameras else 500.0
            resolution = max(config.voxel_size / config.reach,
                             1.5 * config.pixel_stride / focal)
        self.ego = EgoVisibility(self.grid, SphericalBins(min(resolution, 0.2)))

    def from_depth(self, depth: np.ndarray, camera: PinholeCamera, ego_from_camera: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(H, W) depth -> ((cells,) bool visibility, (S,) int64 shell cells (see
        :meth:`EgoVisibility.visible`), (Q,) x, y, z float32 ego coordinates of the valid
        sampled pixels)."""
        stride = self.config.pixel_stride
        rx, ry, lengths = self.ego.rays(camera, stride)
        z = depth[::stride, ::stride].reshape(-1)
        valid = np.flatnonzero(np.isfinite(z))
        zv, rx, ry = np.take(z, valid), np.take(rx, valid), np.take(ry, valid)
        r = ego_from_camera[:3, :3].astype(np.float32)
        # ego direction of each ray (optical z = 1); the point is direction * depth
        dx = r[0, 0] * rx + r[0, 1] * ry + r[0, 2]
        dy = r[1, 0] * rx + r[1, 1] * ry + r[1, 2]
        dz = r[2, 0] * rx + r[2, 1] * ry + r[2, 2]
        range_map = self.ego.range_map(dx, dy, dz, np.take(lengths, valid) * zv)
        visible, shell = self.ego.visible(range_map)
        dx *= zv
        dy *= zv
        dz *= zv
        return visible, shell, (dx, dy, dz)


def _check_frames(count: int, sizes: set[tuple[int, int]]) -> tuple[int, int]:
    if count == 0:
        raise ExportError('the source holds no frames to export')
    if len(sizes) != 1:
        raise ExportError(f'frames have different image sizes {sorted(sizes)}; export one '
                          'camera at a time')
    return sizes.pop()


def compute_occupancy(frames: Iterable[Frame], config: OccupancyExportConfig | None = None
                      ) -> OccupancyExport:
    """Frames (depth or point-only, sorted by stamp) -> their egocentric occupancy export.

    See the module docstring for the method. Depth frames are read once, in order; only their
    poses are kept. The returned config has ``fps`` set (from the median stamp step if None).

    Raises:
        ExportError: no frames, frames of different image sizes, or a global map too large.
    """
    config = config or OccupancyExportConfig()
    grid = config.ego_grid
    world = _GrowingGrid(margin=int(math.ceil(config.reach / config.voxel_size)) + 1)
    infos: list[_FrameInfo] = []
    cloud: list[np.ndarray] = []
    packed_rows: list[np.ndarray | None] = []
    visibility: _Visibility | None = None
    sizes: set[tuple[int, int]] = set()

    inverse_voxel = np.float32(1.0 / config.voxel_size)
    observed_rows: list[np.ndarray] = []
    shells: list[np.ndarray] = []
    observed = np.zeros(grid.num_cells, dtype=bool)
    previous = np.zeros(0, dtype=np.intp)
    nx, ny, nz = grid.shape
    low32 = np.asarray(config.pc_range[:3], dtype=np.float32)
    high32 = (low32 + np.asarray(grid.shape) * np.float32(config.voxel_size)).astype(np.float32)
    for frame in frames:
        ego = world_from_ego(frame.camera_to_world)
        ego_from_camera = invert_rigid(ego) @ frame.camera_to_world
        sizes.add((frame.camera.width, frame.camera.height))
        infos.append(_FrameInfo(frame, ego))
        if visibility is None:
            visibility = _Visibility(config, [frame.camera])
        visible: np.ndarray | None = None
        if frame.depth is not None:
            visible, shell, (ex, ey, ez) = visibility.from_depth(frame.depth, frame.camera,
                                                                 ego_from_camera)
            shells.append(shell.astype(np.int32))
        else:
            assert frame.points is not None
            local = (frame.points.astype(np.float64) - ego[:3, 3]) @ ego[:3, :3]
            ex, ey, ez = (np.ascontiguousarray(local[:, a], dtype=np.float32) for a in range(3))
        inside = np.flatnonzero((ex >= low32[0]) & (ex < high32[0]) & (ey >= low32[1])
                                & (ey < high32[1]) & (ez >= low32[2]) & (ez < high32[2]))
        ex, ey, ez = np.take(ex, inside), np.take(ey, inside), np.take(ez, inside)
        # inside the box the offsets are >= 0, so truncation is floor; the minimum guards
        # against float32 rounding up to the far boundary
        cells = np.minimum(((ex - low32[0]) * inverse_voxel).astype(np.intp), nx - 1) * ny
        cells += np.minimum(((ey - low32[1]) * inverse_voxel).astype(np.intp), ny - 1)
        cells *= nz
        cells += np.minimum(((ez - low32[2]) * inverse_voxel).astype(np.intp), nz - 1)
        # the frame's own points: its observed cells, which it also sees
        observed[previous] = False
        observed[cells] = True
        previous = cells
        observed_rows.append(np.packbits(observed))
        if visible is not None:
            visible[cells] = True
            packed_rows.append(np.packbits(visible))
        else:
            packed_rows.append(None)  # needs the finished global map
            shells.append(np.zeros(0, dtype=np.int32))
        cos, sin = np.float32(ego[0, 0]), np.float32(ego[1, 0])  # the ego frame is yawed
        ox, oy, oz = (np.float32(v) for v in ego[:3, 3])
        world_points: list[np.ndarray] = [cos * ex - sin * ey + ox, sin * ex + cos * ey + oy,
                                          ez + oz]
        new = world.add(*(np.floor(c * inverse_voxel).astype(np.int64) for c in world_points))
        cloud.append(np.stack([c[new] for c in world_points], axis=1))
    size = _check_frames(len(infos), sizes)
    assert visibility is not None

    occupied = world.occupied()
    first_points = np.concatenate(cloud) if cloud else np.zeros((0, 3), np.float32)
    first_ijk = np.floor(first_points * inverse_voxel).astype(np.int64)
    indptr, indices = _occupancy_rows(infos, packed_rows, observed_rows, shells, world,
                                      visibility, config)
    stamps = np.array([i.stamp for i in infos])
    if config.fps is None:
        step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 0.0
        config = replace(config, fps=round(1.0 / step, 3) if step > 0 else 30.0)
    return OccupancyExport(
        config=config, stamps=stamps,
        camera_to_world=np.stack([i.camera_to_world for i in infos]),
        world_from_ego=np.stack([i.world_from_ego for i in infos]),
        intrinsics=np.stack([i.camera.matrix for i in infos]), image_size=size,
        world_occupancy=((occupied + 0.5) * config.voxel_size).astype(np.float32),
        cloud=_match_rows(occupied, first_ijk, first_points),
        occupancy=sparse.csr_matrix((np.ones(len(indices), dtype=np.uint8), indices, indptr),
                                    shape=(len(infos), grid.num_cells)),
        visibility=np.stack([row for row in packed_rows if row is not None]))


def _match_rows(sorted_ijk: np.ndarray, ijk: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(M, 3) cells, (M, 3) the same cells in another order with (M, 3) points -> the points
    in the order of ``sorted_ijk``."""
    def keys(cells: np.ndarray) -> np.ndarray:
        shifted = cells + (1 << 20)
        return (shifted[:, 0] << 42) | (shifted[:, 1] << 21) | shifted[:, 2]

    if len(sorted_ijk) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    order = np.argsort(keys(ijk))
    position = np.searchsorted(keys(ijk)[order], keys(sorted_ijk))
    return points[order[position]]


def _to_world(centres: tuple[np.ndarray, ...], rows: np.ndarray, world_from_ego: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ego grid cells ``rows`` -> world x, y, z of their centres (float32). The ego frame is a
    yawed, shifted world, so this is a 2D rotation and a shift."""
    x, y, z = (np.take(c, rows) for c in centres)
    cos, sin = np.float32(world_from_ego[0, 0]), np.float32(world_from_ego[1, 0])
    t = world_from_ego[:3, 3].astype(np.float32)
    return cos * x - sin * y + t[0], sin * x + cos * y + t[1], z + t[2]


def _world_lookup(world: _GrowingGrid, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                  inverse_voxel: np.float32) -> np.ndarray:
    """(K,) world points -> (K,) bool, True where the global map's voxel holding it is set."""
    shape = world.cells.shape
    i = np.floor(x * inverse_voxel).astype(np.int64) - world.low[0]
    j = np.floor(y * inverse_voxel).astype(np.int64) - world.low[1]
    k = np.floor(z * inverse_voxel).astype(np.int64) - world.low[2]
    inside = ((i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1]) & (k >= 0)
              & (k < shape[2]))
    flat = np.where(inside, (i * shape[1] + j) * shape[2] + k, 0)
    return inside & np.take(world.cells.reshape(-1), flat)


def _ego_cells(x: np.ndarray, y: np.ndarray, z: np.ndarray, world_from_ego: np.ndarray,
               grid: VoxelGrid) -> np.ndarray:
    """(K,) world points -> flat ego cells (of frame pose ``world_from_ego``) holding them,
    possibly repeated; points outside the ego box are dropped."""
    cos, sin = np.float32(world_from_ego[0, 0]), np.float32(world_from_ego[1, 0])
    t = world_from_ego[:3, 3].astype(np.float32)
    dx, dy = x - t[0], y - t[1]
    inverse = np.float32(1.0 / grid.resolution)
    nx, ny, nz = grid.shape
    ci = np.floor((cos * dx + sin * dy - np.float32(grid.origin[0])) * inverse).astype(np.int64)
    cj = np.floor((cos * dy - sin * dx - np.float32(grid.origin[1])) * inverse).astype(np.int64)
    ck = np.floor((z - t[2] - np.float32(grid.origin[2])) * inverse).astype(np.int64)
    inside = (ci >= 0) & (ci < nx) & (cj >= 0) & (cj < ny) & (ck >= 0) & (ck < nz)
    return ((ci * ny + cj) * nz + ck)[inside]


def _occupancy_rows(infos: list[_FrameInfo], packed_rows: list[Any],
                    observed_rows: list[np.ndarray], shells: list[np.ndarray],
                    world: _GrowingGrid, visibility: _Visibility, config: OccupancyExportConfig
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Fill the point-only frames' visibility and return the occupancy CSR (indptr, indices).

    A frame's visible occupancy is the cells its own points fall in, plus the cells of its
    surface shell (visible cells its rays end near) whose centre lies in an occupied voxel of
    the global map: surfaces other frames saw where this one's rays end too. Its history
    frames' visible occupancy is kept as world points (their cell centres) and binned into
    the frame's ego grid.
    """
    grid = config.ego_grid
    centres = visibility.ego.centres
    inverse_voxel = np.float32(1.0 / config.voxel_size)
    window: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque()
    indices: list[np.ndarray] = []
    for index, info in enumerate(infos):
        occupied = np.unpackbits(observed_rows[index], count=grid.num_cells).view(bool)
        shell = shells[index]
        if packed_rows[index] is None:
            packed_rows[index], shell = _point_frame_visibility(info, world, visibility,
                                                                occupied, config)
        x, y, z = _to_world(centres, shell, info.world_from_ego)
        occupied[shell[_world_lookup(world, x, y, z, inverse_voxel)]] = True
        now = np.flatnonzero(occupied)
        if window:
            hx, hy, hz = (np.concatenate(parts) for parts in zip(*window, strict=True))
            occupied[_ego_cells(hx, hy, hz, info.world_from_ego, grid)] = True
            indices.append(np.flatnonzero(occupied))
        else:
            indices.append(now)
        if config.history_len > 1 and index % config.history_step == 0:
            window.append(_to_world(centres, now, info.world_from_ego))
            if len(window) > config.history_len - 1:
                window.popleft()
    indptr = np.zeros(len(infos) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in indices], out=indptr[1:])
    return indptr, np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32)


def _point_frame_visibility(info: _FrameInfo, world: _GrowingGrid, visibility: _Visibility,
                            observed: np.ndarray, config: OccupancyExportConfig
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Packed visibility of a point-only frame: the global map inside its ego box and the
    frame's own points (also those beyond the box, which show the rays crossing it) are
    rendered as a depth image of its camera, each splatted as a square of a voxel's size, and
    that proceeds as a depth frame; the frame's (cells,) bool ``observed`` cells are visible.
    Returns the packed visibility and the shell cells."""
    ego = visibility.ego
    everything = np.arange(config.ego_grid.num_cells)
    x, y, z = _to_world(ego.centres, everything, info.world_from_ego)
    occupied = np.flatnonzero(_world_lookup(world, x, y, z, np.float32(1.0 / config.voxel_size)))
    world_points = np.stack([np.take(c, occupied) for c in (x, y, z)], axis=1)
    assert info.points is not None
    world_points = np.concatenate([world_points, info.points]).astype(np.float64)
    pose = info.camera_to_world
    points_camera = (world_points - pose[:3, 3]) @ pose[:3, :3]
    depth = _splat_depth(points_camera, config.voxel_size, info.camera, config.max_splat_radius)
    ego_from_camera = invert_rigid(info.world_from_ego) @ pose
    visible, shell, _ = visibility.from_depth(depth, info.camera, ego_from_camera)
    return np.packbits(visible | observed), shell


__all__ = ['EgoVisibility', 'OccupancyExport', 'SphericalBins', 'compute_occupancy',
           'world_from_ego']
