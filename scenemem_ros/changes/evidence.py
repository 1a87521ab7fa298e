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
that sensor noise gives a voxel still has to recur over frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenemem_ros.changes.base import BaseGeometry
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
        removals_compared: False when this frame skipped the comparison with the expected
            depth (``removal_every``): its removal evidence is empty and means nothing.
    """

    added: np.ndarray
    removed: np.ndarray
    confirmed: np.ndarray
    compared_pixels: int
    added_pixels: int
    removed_pixels: int
    strong_added: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strong_removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    removals_compared: bool = True


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
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-3) or \
            abs(np.linalg.det(rotation) - 1) > 1e-3 or not np.allclose(pose[3], [0, 0, 0, 1]):
        raise ChangeDetectionError('camera_to_world is not a rigid transform')


def incidence(expected: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """(H, W) expected depth and (H, W, 3) rays -> (H, W) |cos| of the angle of incidence.

    Normals come from the expected surface's points and their right and lower neighbours;
    pixels at an image border or next to a missing neighbour get 1 (not filtered).
    """
    points = rays * expected[..., None]
    right = np.zeros_like(points)
    down = np.zeros_like(points)
    right[:, :-1] = points[:, 1:] - points[:, :-1]
    down[:-1] = points[1:] - points[:-1]
    normal = np.cross(right, down)
    norm = np.linalg.norm(normal, axis=-1) * np.linalg.norm(rays, axis=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        cosine = np.abs((normal * rays).sum(axis=-1)) / norm
    return np.where(np.isfinite(cosine), cosine, 1.0)


def _votes(flat: np.ndarray, min_pixels: int, strong_pixels: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Voxels with at least ``min_pixels`` and at least ``strong_pixels`` (if > 0) pixels."""
    if flat.size == 0:
        return flat.astype(np.int64), flat.astype(np.int64)
    voxels, counts = np.unique(flat, return_counts=True)  # sparse: no grid-sized arrays
    strong = voxels[counts >= strong_pixels] if strong_pixels else np.zeros(0, np.int64)
    return voxels[counts >= min_pixels], strong


def _paired_counts(first: np.ndarray, second: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A,) and (B,) flat voxel indices -> (V,) sorted voxels in either, and how many times
    each occurs in ``first`` and in ``second``."""
    voxels = np.union1d(first, second)
    return (voxels, np.bincount(np.searchsorted(voxels, first), minlength=len(voxels)),
            np.bincount(np.searchsorted(voxels, second), minlength=len(voxels)))


def _sampled(depth: np.ndarray, camera: PinholeCamera, stride: int,
             config: ChangeDetectorConfig) -> tuple[np.ndarray, PinholeCamera, np.ndarray]:
    """Every ``stride``-th pixel: (h, w) depth, its camera, (h, w) bool usable pixels."""
    observed = np.asarray(depth[::stride, ::stride], dtype=np.float32)
    small = camera.scaled(1.0 / stride) if stride > 1 else camera
    small = PinholeCamera(small.fx, small.fy, small.cx, small.cy, observed.shape[1],
                          observed.shape[0])
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(observed) & (observed > config.min_range) & \
            (observed < config.max_range)
    valid &= ~depth_edge_mask(np.where(valid, observed, np.nan), config.edge_jump)
    return observed, small, valid


def _voxels(grid: VoxelGrid, rays: np.ndarray, depth: np.ndarray, pose: np.ndarray
            ) -> np.ndarray:
    """(N, 3) rays and (N,) depths along them -> flat indices of the voxels hit (inside only)."""
    world = (rays * depth[:, None]) @ pose[:3, :3].T.astype(np.float32) + \
        pose[:3, 3].astype(np.float32)
    index = np.floor((world - np.asarray(grid.origin, np.float32)) / grid.resolution) \
        .astype(np.int64)
    inside = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)
    index = index[inside]
    return np.ravel_multi_index(index.T, grid.shape) if len(index) else np.zeros(0, np.int64)


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

    observed, small, valid = _sampled(depth, camera,
                                      config.stride(camera.width, config.addition_width),
                                     config)
    added_flat = _voxels(grid, camera_rays(small)[valid], observed[valid], pose)
    added_flat = added_flat[base.known.ravel()[added_flat] &
                            ~base.near_occupied.ravel()[added_flat]]

    added, strong_added = _votes(added_flat, config.min_pixels, config.strong_pixels)
    if not compare_removals:
        empty = np.zeros(0, np.int64)
        return FrameEvidence(added=added, removed=empty, confirmed=empty,
                             compared_pixels=int(valid.sum()), added_pixels=int(added_flat.size),
                             removed_pixels=0, strong_added=strong_added,
                             removals_compared=False)

    sparse, coarse, usable = _sampled(depth, camera,
                                      config.stride(camera.width, config.removal_width),
                                      config)
    expected = base.renderer.render(coarse, pose, max_range=config.max_range + 1.0)
    has_expected = np.isfinite(expected)
    rays = camera_rays(coarse)
    usable &= has_expected & (incidence(expected, rays) >= config.min_incidence)
    margin = config.margin + config.margin_per_m2 * np.square(np.nan_to_num(sparse))
    with np.errstate(invalid='ignore'):
        farther = usable & (sparse > expected + margin)
        agreeing = usable & (np.abs(sparse - expected) <= margin)
    # the expected surface point, pushed half a voxel behind the surface along the ray
    behind = expected + 0.5 * grid.resolution
    removed_flat = _voxels(grid, rays[farther], behind[farther], pose)
    removed_flat = removed_flat[base.occupied.ravel()[removed_flat]]
    agreeing_flat = _voxels(grid, rays[agreeing], behind[agreeing], pose)
    agreeing_flat = agreeing_flat[base.occupied.ravel()[agreeing_flat]]
    voxels, through, met = _paired_counts(removed_flat, agreeing_flat)
    removed = voxels[(through >= config.min_pixels) & (through >= 2 * met)]
    strong_removed = voxels[(through >= config.strong_pixels) & (through >= 4 * met)] \
        if config.strong_pixels else np.zeros(0, np.int64)
    confirmed = voxels[(met >= config.min_pixels) & (met > through)]
    return FrameEvidence(added=added, removed=removed, confirmed=confirmed,
                         compared_pixels=int(valid.sum()), added_pixels=int(added_flat.size),
                         removed_pixels=int(removed_flat.size), strong_added=strong_added,
                         strong_removed=strong_removed)


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

    def update(self, evidence: FrameEvidence, depth: np.ndarray, camera: PinholeCamera,
               camera_to_world: np.ndarray) -> None:
        """Add one frame's evidence and take away what the frame contradicts."""
        grid = self.base.grid
        for addition, support, strong in ((True, evidence.added, evidence.strong_added),
                                          (False, evidence.removed, evidence.strong_removed)):
            if not (addition or evidence.removals_compared):
                continue
            scores = self.scores[addition]
            holding = np.flatnonzero(scores > 0)
            holding = holding[~np.isin(holding, support, assume_unique=True)]
            against = holding[contradicted(holding, np.asarray(grid.origin), grid.resolution,
                                           grid.shape, depth, camera, camera_to_world,
                                           self.config, addition)]
            if not addition:
                against = np.union1d(against, evidence.confirmed[
                    scores[evidence.confirmed] > 0])
            scores[against] -= 1
            scores[support] = np.minimum(scores[support] + 1, self.config.max_score)
            scores[strong] = np.maximum(scores[strong], self.config.on_frames)
            changed = self.changed[addition]
            changed[support[scores[support] >= self.config.on_frames]] = True
            changed[against[scores[against] <= 0]] = False

    def changed_voxels(self, addition: bool) -> np.ndarray:
        """(X, Y, Z) bool voxels currently changed (additions or removals)."""
        return self.changed[addition].reshape(self.base.grid.shape)

    def reset(self) -> None:
        for array in (*self.scores.values(), *self.changed.values()):
            array[:] = 0
