"""Per-frame comparison of a depth image with the memory, and evidence over frames.

Each compared pixel falls in one of three cases (``margin`` grows with depth squared, like the
sensor noise):

- observed depth shorter than expected by more than the margin, ending in a voxel the memory
  knows to be free (and not next to anything it holds): *something new* there;
- observed depth longer than expected by more than the margin: the ray passed through the
  surface the memory holds: *something gone* at the expected surface;
- observed and expected agree: the memory is confirmed there.

``EvidenceGrid`` turns those into per-voxel scores with hysteresis: a voxel gains one point per
frame in which at least ``min_pixels`` pixels support it and loses one per frame in which it is
seen as the memory says (seen through for an addition, seen again for a removal). Voxels with
score >= ``on_frames`` are *changed*; they stay changed until the score falls back to 0. A voxel
that ``strong_pixels`` pixels support in a single frame is changed at once (its score jumps to
``on_frames``): a clear glimpse through a new doorway is enough, while the thin, sparse support
that sensor noise gives a voxel still has to recur over frames. A patch of at least
``strong_cluster_voxels`` adjacent removal voxels seen through in one frame, each with at least
``min_pixels`` see-through pixels and at most a quarter as many meeting the surface (a new
doorway glimpsed near the edge of the range, where no voxel gets ``strong_pixels``), is changed
at once too (``patch_frames`` 1; with 2 a second frame must see it). Both shortcuts are taken
only from frames that agree with the memory over at least ``min_agreement`` of the compared
pixels: one frame paired with a wrong pose shows strong voxels and patches everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from scenemem_ros.changes.base import BaseGeometry
from scenemem_ros.changes.clusters import cluster_voxels
from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.changes.errors import ChangeDetectionError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.voxels import VoxelGrid
from scenemem_ros.memory.queries import camera_rays
from scenemem_ros.memory.sampling import depth_edge_mask


@dataclass(frozen=True, eq=False)
class FrameEvidence:
    """What one frame says, as flat voxel indices of the evidence grid.

    Attributes:
        added: (A,) voxels where at least ``min_pixels`` pixels saw something new.
        removed: (R,) voxels whose surface at least ``min_pixels`` pixels saw through, at
            least twice as many as saw it where the memory has it (thin or gappy objects,
            which rays partly pass, never gather removal evidence).
        confirmed: (C,) voxels where at least ``min_pixels`` pixels met the memory's surface
            and more of them than saw through it.
        compared_pixels: pixels that took part (valid, in range, off depth edges).
        added_pixels, removed_pixels: pixels of each case before the per-voxel threshold.
        strong_added, strong_removed: the subsets of ``added`` and ``removed`` with at least
            ``strong_pixels`` supporting pixels (removals: and at most a quarter as many that
            met the memory's surface); empty when ``strong_pixels`` is 0.
        patch_removed: the subset of ``removed`` lying in a patch of at least
            ``strong_cluster_voxels`` (see ``_strong_patches``); empty when that is 0.
        removals_compared: False when this frame skipped the comparison with the expected
            depth (``removal_every``): its removal evidence is empty and means nothing.
        expected_pixels: pixels compared with the expected depth (usable, with an expected
            surface met at a usable angle).
        agreeing_pixels: those of them where observed and expected depth agree. Their share
            says how well the frame's pose fits the memory: a frame paired with a wrong pose
            disagrees almost everywhere, a real change only in its part of the view.
    """

    added: np.ndarray
    removed: np.ndarray
    confirmed: np.ndarray
    compared_pixels: int
    added_pixels: int
    removed_pixels: int
    strong_added: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strong_removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    patch_removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    removals_compared: bool = True
    expected_pixels: int = 0
    agreeing_pixels: int = 0

    @property
    def agreement(self) -> float:
        """Share of ``expected_pixels`` that agree (1.0 when none were compared)."""
        return self.agreeing_pixels / self.expected_pixels if self.expected_pixels else 1.0


_EYE = np.eye(3)
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])


def check_frame(depth: np.ndarray, camera: PinholeCamera, camera_to_world: np.ndarray) -> None:
    """Refuse frames the comparison cannot use, with a message that says why."""
    if not isinstance(depth, np.ndarray) or depth.ndim != 2:
        raise ChangeDetectionError(f'depth must be a 2D array, got '
                                   f'{getattr(depth, "shape", type(depth).__name__)}')
    if depth.shape != (camera.height, camera.width):
        raise ChangeDetectionError(f'depth is {depth.shape[1]}x{depth.shape[0]} but the camera '
                                   f'is {camera.width}x{camera.height}')
    pose = np.asarray(camera_to_world, dtype=np.float64)
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise ChangeDetectionError('camera_to_world must be a finite 4x4 matrix')
    rotation = pose[:3, :3]
    # np.allclose(rotation @ rotation.T, I, atol=1e-3) and np.allclose(pose[3], [0, 0, 0, 1]),
    # written out (this runs on every frame)
    (a, b, c), (d, e, f), (g, h, i) = rotation.tolist()
    determinant = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if not (np.abs(rotation @ rotation.T - _EYE) <= 1e-3 + 1e-5 * _EYE).all() or \
            abs(determinant - 1) > 1e-3 or \
            not (np.abs(pose[3] - _LAST_ROW) <= 1e-8 + 1e-5 * _LAST_ROW).all():
        raise ChangeDetectionError('camera_to_world is not a rigid transform')


@dataclass(frozen=True, eq=False)
class SampledPixels:
    """Every ``stride``-th pixel of a camera's image and what the comparison needs of their rays.

    Attributes:
        camera: the intrinsics of the sampled (h, w) image.
        rays: (h, w, 3) float32 optical-frame rays with z = 1 (``camera_rays``).
        x, y, z: (h, w) float32 contiguous components of ``rays``.
        norm: (h, w) float32 length of each ray.
        columns: (3, h * w) float64 ``rays``, one row per component.
    """

    camera: PinholeCamera
    rays: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    norm: np.ndarray
    columns: np.ndarray


@functools.lru_cache(maxsize=16)
def sampled_pixels(camera: PinholeCamera, stride: int) -> SampledPixels:
    """The pixels ``depth[::stride, ::stride]`` of an image of ``camera`` (cached, read-only)."""
    height, width = -(-camera.height // stride), -(-camera.width // stride)
    small = camera.scaled(1.0 / stride) if stride > 1 else camera
    small = PinholeCamera(small.fx, small.fy, small.cx, small.cy, width, height)
    rays = camera_rays(small)
    x, y, z = (np.ascontiguousarray(rays[..., k]) for k in range(3))
    norm = np.linalg.norm(rays, axis=-1)
    columns = np.ascontiguousarray(rays.reshape(-1, 3).T, dtype=np.float64)
    for array in (rays, x, y, z, norm, columns):
        array.setflags(write=False)
    return SampledPixels(small, rays, x, y, z, norm, columns)


def incidence(expected: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """(H, W) expected depth and (H, W, 3) rays -> (H, W) |cos| of the angle of incidence.

    Normals come from the expected surface's points and their right and lower neighbours;
    pixels at an image border or next to a missing neighbour get 1 (not filtered).
    """
    return _incidence(expected, rays[..., 0], rays[..., 1], rays[..., 2],
                      np.linalg.norm(rays, axis=-1))


def _incidence(expected: np.ndarray, ray_x: np.ndarray, ray_y: np.ndarray, ray_z: np.ndarray,
               ray_norm: np.ndarray) -> np.ndarray:
    """``incidence`` on the rays' (H, W) components and lengths, one plane per component
    (the same operations in the same order as the cross product and norms of (H, W, 3)
    arrays, so the same float32 results, at a fraction of the cost)."""
    points = [component * expected for component in (ray_x, ray_y, ray_z)]
    right = [np.zeros_like(expected) for _ in range(3)]
    down = [np.zeros_like(expected) for _ in range(3)]
    for point, across, below in zip(points, right, down, strict=True):
        np.subtract(point[:, 1:], point[:, :-1], out=across[:, :-1])
        np.subtract(point[1:], point[:-1], out=below[:-1])
    (ax, ay, az), (bx, by, bz) = right, down
    normal_x = ay * bz - az * by
    normal_y = az * bx - ax * bz
    normal_z = ax * by - ay * bx
    norm = np.sqrt(normal_x * normal_x + normal_y * normal_y + normal_z * normal_z) * ray_norm
    with np.errstate(invalid='ignore', divide='ignore'):
        cosine = np.abs(normal_x * ray_x + normal_y * ray_y + normal_z * ray_z) / norm
    return np.where(np.isfinite(cosine), cosine, 1.0)


def _votes(flat: np.ndarray, min_pixels: int, strong_pixels: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Voxels with at least ``min_pixels`` and at least ``strong_pixels`` (if > 0) pixels."""
    if flat.size == 0:
        return flat.astype(np.int64), flat.astype(np.int64)
    voxels, counts = np.unique(flat, return_counts=True)  # sparse: no grid-sized arrays
    strong = voxels[counts >= strong_pixels] if strong_pixels else np.zeros(0, np.int64)
    return voxels[counts >= min_pixels], strong


def _strong_patches(voxels: np.ndarray, shape: tuple[int, ...], min_voxels: int) -> np.ndarray:
    """(N,) sorted flat voxel indices -> (M,) sorted subset lying in 26-connected patches of at
    least ``min_voxels`` voxels."""
    if voxels.size < min_voxels:
        return np.zeros(0, np.int64)
    patches = cluster_voxels(voxels, shape, 0, min_voxels)
    return np.sort(np.concatenate(patches)) if patches else np.zeros(0, np.int64)


def _paired_counts(first: np.ndarray, second: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A,) and (B,) flat voxel indices -> (V,) sorted voxels in either, and how many times
    each occurs in ``first`` and in ``second``."""
    # one sort of both sides: key 2v is voxel v seen in ``first``, 2v + 1 in ``second``
    keys = np.concatenate([2 * first, 2 * second + 1])
    if keys.size and keys.max() < 2**31:
        keys = keys.astype(np.int32)  # sorts faster
    keys, counts = np.unique(keys, return_counts=True)
    keys = keys.astype(np.int64)
    voxel = keys >> 1
    starts = np.ones(voxel.shape, dtype=bool)
    np.not_equal(voxel[1:], voxel[:-1], out=starts[1:])
    voxels = voxel[starts]
    slot = np.cumsum(starts) - 1
    in_first = (keys & 1) == 0
    through = np.zeros(voxels.shape, np.int64)
    met = np.zeros(voxels.shape, np.int64)
    through[slot[in_first]] = counts[in_first]
    met[slot[~in_first]] = counts[~in_first]
    return voxels, through, met


def _sampled(depth: np.ndarray, camera: PinholeCamera, stride: int,
             config: ChangeDetectorConfig) -> tuple[np.ndarray, SampledPixels, np.ndarray]:
    """Every ``stride``-th pixel: (h, w) depth, its pixels, (h, w) bool usable pixels."""
    observed = np.asarray(depth[::stride, ::stride], dtype=np.float32)
    pixels = sampled_pixels(camera, stride)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(observed) & (observed > config.min_range) & \
            (observed < config.max_range)
    valid &= ~depth_edge_mask(np.where(valid, observed, np.nan), config.edge_jump)
    return observed, pixels, valid


def _beyond_range(observed: np.ndarray, config: ChangeDetectorConfig) -> np.ndarray:
    """(h, w) depth -> (h, w) bool: finite returns at or beyond ``max_range``, not on a depth
    edge (flying pixels between a near edge and the far background are not trusted)."""
    with np.errstate(invalid='ignore'):
        beyond = np.isfinite(observed) & (observed >= config.max_range)
        if not beyond.any():
            return beyond
        usable = np.where(np.isfinite(observed) & (observed > config.min_range), observed, np.nan)
    return beyond & ~depth_edge_mask(usable, config.edge_jump)


def _near_expected_edge(expected: np.ndarray, camera: PinholeCamera,
                        config: ChangeDetectorConfig, jitter: float) -> np.ndarray:
    """(h, w) expected depth -> (h, w) bool: within ``jitter`` radians of view of a depth edge
    of the memory's expected image (where a slightly wrong pose looks past an object's side)."""
    radius = int(np.ceil(jitter * max(camera.fx, camera.fy)))
    filled = _small_holes_filled(expected, radius + 1)
    edges = depth_edge_mask(filled, config.edge_jump) & np.isfinite(filled)
    if radius <= 0 or not edges.any():
        return edges
    # dilation by ``radius`` 3x3 steps is a square of side 2 * radius + 1
    return _square_filter(edges, radius, np.maximum)


def _square_filter(image: np.ndarray, reach: int, reduce: np.ufunc) -> np.ndarray:
    """(h, w) image -> the ``reduce`` (``np.maximum`` or ``np.minimum``) over the square of
    side ``2 * reach + 1`` around each pixel, the part inside the image (what
    ``scipy.ndimage.maximum_filter`` / ``minimum_filter`` give with ``mode='nearest'``),
    separably with shifted slices: on the small sampled images here several times faster."""
    result = np.array(image, copy=True)
    for axis in (0, 1):
        source = result.copy()
        for step in range(1, reach + 1):
            if step >= result.shape[axis]:
                break
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(None, -step), slice(step, None)
            reduce(result[tuple(ahead)], source[tuple(behind)], out=result[tuple(ahead)])
            reduce(result[tuple(behind)], source[tuple(ahead)], out=result[tuple(behind)])
    return result


def _small_holes_filled(expected: np.ndarray, reach: int) -> np.ndarray:
    """(h, w) expected depth -> the same with holes (NaN) that closing the finite pixels by a
    square of ``2 * reach + 1`` fills given the nearest depth within ``reach`` pixels. Such
    holes are gaps in the memory's surface where rays slip through, not the silhouette of
    something against the unknown, and a view slightly off sees the same surface there: their
    rims are no depth edges."""
    finite = np.isfinite(expected)
    if finite.all() or not finite.any():
        return expected
    # closing by a square (as ``reach`` 3x3 steps); outside the image counts as unknown, so a
    # strip of NaN along the border is not taken for a hole
    padded = np.pad(finite, reach, constant_values=False)
    closed = _square_filter(_square_filter(padded, reach, np.maximum), reach,
                            np.minimum)[reach:-reach, reach:-reach]
    holes = closed & ~finite
    if not holes.any():
        return expected
    nearby = _square_filter(np.where(finite, expected, np.inf), reach, np.minimum)
    filled = expected.copy()
    holes &= np.isfinite(nearby)
    filled[holes] = nearby[holes]
    return filled


def _voxel_rays(grid: VoxelGrid, pixels: SampledPixels, pose: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(3, h * w) float64 world directions of the pixels' rays in voxels per metre of depth,
    and (3,) the camera's position in voxels from the grid's corner."""
    directions = (pose[:3, :3] / grid.resolution) @ pixels.columns
    start = (pose[:3, 3] - np.asarray(grid.origin, np.float64)) / grid.resolution
    return directions, start


def _voxel_image(grid: VoxelGrid, rays: tuple[np.ndarray, np.ndarray], depth: np.ndarray
                 ) -> np.ndarray:
    """``_voxel_rays`` and (h, w) depths along them -> (h, w) int64 flat index of the voxel
    each point falls in, -1 outside the grid or where the depth is not finite."""
    directions, start = rays
    depth64 = depth.astype(np.float64).ravel()
    # int32 is enough for the index of any grid that fits in memory; outside points wrap
    # around harmlessly before they are overwritten
    int_type, unsigned = (np.int32, np.uint32) if np.prod(grid.shape) < 2**31 \
        else (np.int64, np.uint64)
    flat = np.zeros(depth64.shape, int_type)
    outside = ~np.isfinite(depth64)
    coordinate = np.empty_like(depth64)
    with np.errstate(invalid='ignore', over='ignore'):
        for axis, size in enumerate(grid.shape):
            np.multiply(directions[axis], depth64, out=coordinate)
            coordinate += start[axis]
            index = np.floor(coordinate, out=coordinate).astype(int_type)
            # negative indices read as huge unsigned ones: one comparison per axis
            outside |= np.greater_equal(index.view(unsigned), size)
            flat *= size
            flat += index
    result = flat.astype(np.int64)
    result[outside] = -1
    return result.reshape(depth.shape)


def compare_frame(base: BaseGeometry, config: ChangeDetectorConfig, depth: np.ndarray,
                  camera: PinholeCamera, camera_to_world: np.ndarray,
                  compare_removals: bool = True) -> FrameEvidence:
    """(H, W) float32 depth (m, NaN/0 invalid), its camera and (4, 4) pose -> FrameEvidence.

    Additions need no expected depth: a point in a voxel the memory knows to be free (and not
    next to anything it holds) is new. Removals compare with the memory's expected depth, ray
    cast on a grid of about ``removal_width`` columns.
    """
    check_frame(depth, camera, camera_to_world)
    grid = base.grid
    pose = np.asarray(camera_to_world, dtype=np.float64)

    addition_stride = config.stride(camera.width, config.addition_width)
    observed, pixels, valid = _sampled(depth, camera, addition_stride, config)
    rays = _voxel_rays(grid, pixels, pose)
    flat = _voxel_image(grid, rays, observed)
    # a point is new in a voxel the memory knows and holds nothing in or next to
    added_flat = flat[valid & base.lookup('addable')[flat]]

    added, strong_added = _votes(added_flat, config.min_pixels, config.strong_pixels)
    if not compare_removals:
        empty = np.zeros(0, np.int64)
        return FrameEvidence(added=added, removed=empty, confirmed=empty,
                             compared_pixels=int(valid.sum()), added_pixels=int(added_flat.size),
                             removed_pixels=0, strong_added=strong_added,
                             removals_compared=False)

    removal_stride = config.stride(camera.width, config.removal_width)
    if removal_stride == addition_stride:
        sparse, coarse, usable = observed, pixels, valid.copy()
    else:
        sparse, coarse, usable = _sampled(depth, camera, removal_stride, config)
        rays = _voxel_rays(grid, coarse, pose)
    expected = base.renderer.render(coarse.camera, pose, max_range=config.max_range + 1.0)
    has_expected = np.isfinite(expected)
    cosine = _incidence(expected, coarse.x, coarse.y, coarse.z, coarse.norm)
    usable &= has_expected & (cosine >= config.min_incidence)
    jitter = np.deg2rad(config.pose_jitter_deg)
    with np.errstate(invalid='ignore', over='ignore', divide='ignore'):
        # NaN where the depth is (only usable pixels count)
        margin = config.margin + config.margin_per_m2 * np.square(sparse)
        if jitter > 0:   # a view off by ``jitter`` meets a slanted surface nearer or further
            margin = margin + expected * jitter * np.sqrt(1 - np.square(cosine)) / cosine
        farther = usable & (sparse > expected + margin)
        agreeing = usable & (np.abs(sparse - expected) <= margin)
        # a return from beyond max_range is too noisy to place a surface, but it says the ray
        # got at least that far: past any surface the memory expects clearly nearer (a glimpse
        # through a new doorway into the room behind it)
        beyond = _beyond_range(sparse, config) & has_expected & \
            (expected + config.margin + config.margin_per_m2 * config.max_range ** 2
             < config.max_range)
        farther |= beyond & (cosine >= config.min_incidence)
    if jitter > 0 and farther.any():   # next to an expected depth edge a view off by
        # ``jitter`` sees past it (nothing to filter in the frames with no see-through pixel)
        farther &= ~_near_expected_edge(expected, coarse.camera, config, jitter)
    # the expected surface point, pushed half a voxel behind the surface along the ray
    behind = expected + 0.5 * grid.resolution
    flat = _voxel_image(grid, rays, behind)
    on_surface = base.lookup('occupied')[flat]
    removed_flat = flat[farther & on_surface]
    agreeing_flat = flat[agreeing & on_surface]
    voxels, through, met = _paired_counts(removed_flat, agreeing_flat)
    removed = voxels[(through >= config.min_pixels) & (through >= 2 * met)]
    clear = through >= 4 * met
    strong_removed = voxels[(through >= config.strong_pixels) & clear] \
        if config.strong_pixels else np.zeros(0, np.int64)
    patches = _strong_patches(voxels[(through >= config.min_pixels) & clear], grid.shape,
                              config.strong_cluster_voxels) \
        if config.strong_cluster_voxels else np.zeros(0, np.int64)
    confirmed = voxels[(met >= config.min_pixels) & (met > through)]
    return FrameEvidence(added=added, removed=removed, confirmed=confirmed,
                         compared_pixels=int(valid.sum()), added_pixels=int(added_flat.size),
                         removed_pixels=int(removed_flat.size), strong_added=strong_added,
                         strong_removed=strong_removed, patch_removed=patches,
                         expected_pixels=int(usable.sum()),
                         agreeing_pixels=int(agreeing.sum()))


def contradicted(flat: np.ndarray, grid_origin: np.ndarray, resolution: float, shape: tuple,
                 depth: np.ndarray, camera: PinholeCamera, camera_to_world: np.ndarray,
                 config: ChangeDetectorConfig, addition: bool) -> np.ndarray:
    """(N,) voxels with evidence -> (N,) bool, this frame sees them as the memory says.

    An addition is contradicted when the ray through the voxel's centre ends clearly behind
    it (the space is free after all); a removal when the ray ends at it (the surface is back).
    Voxels out of view, or whose pixel is invalid, are not contradicted.
    """
    if flat.size == 0:
        return np.zeros(0, dtype=bool)
    centres = np.asarray(grid_origin) + (np.stack(np.unravel_index(flat, shape), axis=1) + 0.5) \
        * resolution
    pose = np.asarray(camera_to_world, dtype=np.float64)
    local = (centres - pose[:3, 3]) @ pose[:3, :3]
    z = local[:, 2]
    safe = np.where(z > 1e-6, z, 1.0)
    u = np.round(camera.fx * local[:, 0] / safe + camera.cx).astype(np.int64)
    v = np.round(camera.fy * local[:, 1] / safe + camera.cy).astype(np.int64)
    visible = (z > config.min_range) & (z < config.max_range) & (u >= 0) & \
        (u < camera.width) & (v >= 0) & (v < camera.height)
    seen = np.full(flat.shape, np.nan, dtype=np.float32)
    seen[visible] = depth[v[visible], u[visible]]
    margin = config.margin + config.margin_per_m2 * z * z + resolution
    with np.errstate(invalid='ignore'):
        if addition:
            return visible & (seen > z + margin)
        return visible & (np.abs(seen - z) <= margin)


class EvidenceGrid:
    """Per-voxel scores of additions and removals with hysteresis (see the module doc)."""

    def __init__(self, base: BaseGeometry, config: ChangeDetectorConfig) -> None:
        self.base = base
        self.config = config
        size = int(np.prod(base.grid.shape))
        self.scores = {True: np.zeros(size, np.int16), False: np.zeros(size, np.int16)}
        self.changed = {True: np.zeros(size, bool), False: np.zeros(size, bool)}
        # sorted flat indices of the voxels with score > 0 and of the changed ones, kept up to
        # date by ``update`` (sparse: no pass over the whole grid per frame)
        self._holding = {True: np.zeros(0, np.int64), False: np.zeros(0, np.int64)}
        self._changed = {True: np.zeros(0, np.int64), False: np.zeros(0, np.int64)}
        # memory surface voxels whose latest comparison found the surface in place
        self.surface_in_place = np.zeros(size, bool)
        # frames whose agreement with the memory was below ``min_agreement``
        self.untrusted_frames = 0

    def update(self, evidence: FrameEvidence, depth: np.ndarray, camera: PinholeCamera,
               camera_to_world: np.ndarray) -> None:
        """Add one frame's evidence and take away what the frame contradicts."""
        grid = self.base.grid
        empty = np.zeros(0, np.int64)
        # one-frame shortcuts only from a frame whose pose fits the memory
        trusted = self.trusts(evidence)
        if not trusted:
            self.untrusted_frames += 1
        for addition, support, strong, patch in (
                (True, evidence.added, evidence.strong_added if trusted else empty, empty),
                (False, evidence.removed, evidence.strong_removed if trusted else empty,
                 evidence.patch_removed if trusted else empty)):
            if not (addition or evidence.removals_compared):
                continue
            if not addition:
                self.surface_in_place[evidence.confirmed] = True
                self.surface_in_place[evidence.removed] = False
            scores = self.scores[addition]
            held = self._holding[addition]
            holding = held[~np.isin(held, support, assume_unique=True)]
            against = holding[contradicted(holding, np.asarray(grid.origin), grid.resolution,
                                           grid.shape, depth, camera, camera_to_world,
                                           self.config, addition)]
            if not addition:
                against = np.union1d(against, evidence.confirmed[
                    scores[evidence.confirmed] > 0])
            scores[against] -= 1
            scores[support] = np.minimum(scores[support] + 1, self.config.max_score)
            scores[strong] = np.maximum(scores[strong], self.config.on_frames)
            # a patch goes ``patch_frames - 1`` frames short of changed
            scores[patch] = np.maximum(scores[patch],
                                       self.config.on_frames - self.config.patch_frames + 1)
            changed = self.changed[addition]
            switched_on = support[scores[support] >= self.config.on_frames]
            changed[switched_on] = True
            changed[against[scores[against] <= 0]] = False
            # only ``against`` lost score, only ``support`` and ``strong`` (a subset of it in
            # any FrameEvidence from compare_frame) gained it; ``against`` and ``support`` are
            # disjoint
            held = np.union1d(held, np.concatenate([support, strong]))
            self._holding[addition] = held[scores[held] > 0]
            candidates = np.union1d(self._changed[addition], switched_on)
            self._changed[addition] = candidates[changed[candidates]]

    def trusts(self, evidence: FrameEvidence) -> bool:
        """True when the frame agrees with the memory enough (``min_agreement``) for its
        one-frame shortcuts to count."""
        return evidence.agreement >= self.config.min_agreement

    def changed_voxels(self, addition: bool) -> np.ndarray:
        """(X, Y, Z) bool voxels currently changed (additions or removals)."""
        return self.changed[addition].reshape(self.base.grid.shape)

    def changed_indices(self, addition: bool) -> np.ndarray:
        """(N,) sorted flat indices of ``changed_voxels`` (read-only)."""
        indices = self._changed[addition]
        indices.setflags(write=False)
        return indices

    def reset(self) -> None:
        for array in (*self.scores.values(), *self.changed.values(), self.surface_in_place):
            array[:] = 0
        for sets in (self._holding, self._changed):
            for addition in sets:
                sets[addition] = np.zeros(0, np.int64)
