"""Aligning a depth frame to the memory before comparing: the localiser's pose error.

A localiser is off by centimetres and a degree or so, slowly varying; compared from such a pose,
every object's side and every slanted surface looks moved, and the evidence of those frames
agrees with itself, so hysteresis does not remove it. The memory is a map: the frame is
registered to it first. Point-to-plane ICP with projective association (the KinectFusion
scheme): the memory's expected depth is rendered once from the given pose on a coarse grid of
pixels (``align_width`` columns), the frame's points are moved by the current estimate,
projected into that image and paired with the expected surface point and normal they land on;
pairs further apart than ``align_max_distance`` (real changes among them) are left out, the rest
weighted by a Huber loss; the 6x6 normal equations are solved only along the directions the
pairs constrain (a view of one wall and the floor does not pin a slide along both: that part of
the update stays zero instead of following noise).

The result is a camera-frame correction ``T``: the frame was taken from ``camera_to_world @ T``.
It is refused (identity) when too few pairs remain, or when it is larger than
``align_max_shift`` / ``align_max_turn_deg`` (a wrong minimum, or a localiser that is lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from scenemem_ros.changes.base import BaseGeometry
from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.changes.evidence import _sampled
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.memory.sampling import depth_edge_mask

HUBER = 0.02        # m: residuals beyond this count linearly
DEGENERATE = 0.02   # directions whose curvature is below this share of the largest stay put
MIN_PAIRS = 200
# the pairing limit over the iterations, in units of ``align_max_distance``
REACH_SCHEDULE = (2.0, 2.0, 1.0, 1.0, 1.0 / 3)
POINT_STRIDE = 2    # frame points from every n-th pixel of the expected image's sampling
CONVERGED = 2e-4    # update size (m, rotation times the lever) below which the iterations stop


@dataclass(frozen=True)
class Alignment:
    """The correction found for one frame.

    Attributes:
        correction: (4, 4) camera-frame transform ``T``; the frame's corrected pose is
            ``camera_to_world @ T`` (identity when refused or off).
        pairs: point pairs used in the last iteration.
        rms_before, rms_after: point-to-plane RMS (m) of those pairs at the identity and at
            the correction.
        accepted: False when the correction was refused (see the module doc).
    """

    correction: np.ndarray
    pairs: int
    rms_before: float
    rms_after: float
    accepted: bool

    @property
    def shift(self) -> float:
        """Length of the correction's translation (m)."""
        return float(np.linalg.norm(self.correction[:3, 3]))

    @property
    def turn_deg(self) -> float:
        """Angle of the correction's rotation (degrees)."""
        return float(np.rad2deg(Rotation.from_matrix(self.correction[:3, :3]).magnitude()))


IDENTITY = Alignment(np.eye(4), 0, float('nan'), float('nan'), False)


def _surface(expected: np.ndarray, rays: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, w) expected depth, (h, w, 3) rays (z = 1) -> (h * w, 3) unit normals facing the
    camera, (h * w,) plane offsets ``n . p`` of the expected points and (h * w,) bool usable
    (depth and normal finite, not on a depth edge)."""
    points = rays * expected[..., None]
    right = np.full_like(points, np.nan)
    down = np.full_like(points, np.nan)
    right[:, :-1] = points[:, 1:] - points[:, :-1]
    down[:-1] = points[1:] - points[:-1]
    normals = np.cross(right, down)
    with np.errstate(invalid='ignore', divide='ignore'):
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        offsets = np.sum(normals * points, axis=-1)
    flip = offsets > 0
    normals[flip] *= -1
    offsets[flip] *= -1
    usable = np.isfinite(offsets) & ~depth_edge_mask(expected)
    return normals.reshape(-1, 3), offsets.ravel(), usable.ravel()


def _step(moved: np.ndarray, normal: np.ndarray, residual: np.ndarray, lever: float
          ) -> np.ndarray:
    """Pairs' (K, 3) moved points, normals and (K,) residuals -> (6,) rotation vector and
    translation of the Gauss-Newton update, solved only along the directions the pairs
    constrain (eigenvalues of the normal equations, rotation scaled by ``lever`` metres, at
    least ``DEGENERATE`` of the largest); the others stay at zero."""
    jacobian = np.concatenate([np.cross(moved, normal) / lever, normal], axis=1)
    weight = np.minimum(1.0, HUBER / np.maximum(np.abs(residual), 1e-12))
    hessian = jacobian.T @ (weight[:, None] * jacobian)
    gradient = jacobian.T @ (weight * residual)
    values, vectors = np.linalg.eigh(hessian)
    kept = values >= DEGENERATE * values[-1]
    step = -vectors[:, kept] @ ((vectors[:, kept].T @ gradient) / values[kept])
    step[:3] /= lever
    return step


def align_to_memory(base: BaseGeometry, config: ChangeDetectorConfig, depth: np.ndarray,
                    camera: PinholeCamera, camera_to_world: np.ndarray) -> Alignment:
    """(H, W) depth (m), its camera and (4, 4) pose -> the ``Alignment`` of the frame to the
    memory's surface (``IDENTITY`` when ``align_iterations`` is 0)."""
    if config.align_iterations <= 0:
        return IDENTITY
    stride = config.stride(camera.width, config.align_width)
    observed, pixels, valid = _sampled(depth, camera, stride, config)
    # every other sampled pixel's point is enough to pin six numbers; the expected image
    # keeps the full sampling, which is what the pairing's accuracy depends on
    sparse = np.zeros_like(valid)
    sparse[::POINT_STRIDE, ::POINT_STRIDE] = valid[::POINT_STRIDE, ::POINT_STRIDE]
    if sparse.sum() < MIN_PAIRS:
        return IDENTITY
    pose = np.asarray(camera_to_world, dtype=np.float64)
    expected = base.renderer.render(pixels.camera, pose, max_range=config.max_range + 1.0)
    rays = pixels.rays.astype(np.float64)
    normals, offsets, usable = _surface(expected.astype(np.float64), rays)
    expected_flat = expected.ravel()
    frame_points = rays[sparse] * observed[sparse, None].astype(np.float64)
    lever = float(np.median(frame_points[:, 2]))
    small = pixels.camera
    rotation, translation = np.eye(3), np.zeros(3)
    rms_before = rms_after = float('nan')
    count, converged = 0, False
    for iteration in range(config.align_iterations + 1):
        moved = frame_points @ rotation.T + translation
        z = moved[:, 2]
        with np.errstate(invalid='ignore', divide='ignore'):
            u = np.rint(small.fx * moved[:, 0] / z + small.cx)
            v = np.rint(small.fy * moved[:, 1] / z + small.cy)
        inside = (z > 1e-3) & (u >= 0) & (u < small.width) & (v >= 0) & (v < small.height)
        flat = np.where(inside, v * small.width + u, 0).astype(np.int64)
        paired = inside & usable[flat]
        flat, moved = flat[paired], moved[paired]
        normal = normals[flat]
        residual = np.einsum('ij,ij->i', moved, normal) - offsets[flat]
        # wide pairing at first (a degree off moves far points by ~10 cm), then the limit, then
        # tight, so that an object added close to a wall stops pulling once the rest agrees
        reach = config.align_max_distance * REACH_SCHEDULE[min(iteration,
                                                               len(REACH_SCHEDULE) - 1)]
        close = (np.abs(residual) < reach) & \
            (np.abs(moved[:, 2] - expected_flat[flat]) < 2 * reach)
        count = int(close.sum())
        if count < MIN_PAIRS:
            return IDENTITY
        residual = residual[close]
        rms_after = float(np.sqrt(np.mean(residual * residual)))
        if iteration == 0:
            rms_before = rms_after
        if converged or iteration == config.align_iterations:
            break
        step = _step(moved[close], normal[close], residual, lever)
        turn = Rotation.from_rotvec(step[:3]).as_matrix()
        rotation, translation = turn @ rotation, turn @ translation + step[3:]
        converged = bool(np.abs(step[:3]).sum() * lever + np.abs(step[3:]).sum() < CONVERGED)
    correction = np.eye(4)
    correction[:3, :3], correction[:3, 3] = rotation, translation
    result = Alignment(correction, count, rms_before, rms_after, True)
    if result.shift > config.align_max_shift or result.turn_deg > config.align_max_turn_deg:
        return Alignment(np.eye(4), count, rms_before, rms_before, False)
    return result


__all__ = ['IDENTITY', 'Alignment', 'align_to_memory']
