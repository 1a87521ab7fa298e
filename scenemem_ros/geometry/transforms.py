"""Rotations, quaternions and rigid (SE(3)) transforms.

Conventions:

* Quaternions are ``(x, y, z, w)``, the order of ``geometry_msgs/Quaternion`` and
  ``tf_transformations``. transforms3d (which tf_transformations wraps) uses ``(w, x, y, z)``;
  the conversion happens here and nowhere else. Returned quaternions have ``w >= 0``.
* A 4x4 matrix ``a_from_b`` maps points in frame ``b`` to frame ``a``:
  ``p_a = R p_b + t``. ``compose(a_from_b, b_from_c)`` is ``a_from_c``.
* Yaw/pitch/roll is intrinsic z-y'-x'': ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``, the same matrix as
  static x-y-z (``tf_transformations.euler_matrix(roll, pitch, yaw)``), and ROS RPY in URDF.
* Camera optical frame (REP 103 ``*_optical_frame``): x right, y down, z forward. ROS body frame:
  x forward, y left, z up.

Functions on 4x4 matrices and points accept numpy arrays or torch tensors and return the same
type; quaternion and Euler conversions built on transforms3d are numpy-only (batched inputs
loop over transforms3d calls: fine for poses, not for per-point work; use ``euler_to_matrix``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from transforms3d import euler as t3d_euler
from transforms3d import quaternions as t3d_quaternions

from scenemem_ros.geometry.errors import GeometryError

ArrayT = TypeVar('ArrayT', np.ndarray, torch.Tensor)
ArrayLike = np.ndarray | Sequence[float] | Sequence[Sequence[float]]


class Pose(NamedTuple):
    """A pose split as in ``geometry_msgs/Pose``: (..., 3) position, (..., 4) xyzw orientation."""

    position: np.ndarray
    orientation: np.ndarray


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


BODY_FROM_OPTICAL = _read_only(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
"""(3, 3) rotation taking optical-frame vectors (x right, y down, z forward) to the body frame
(x forward, y left, z up). Its quaternion is (-0.5, 0.5, -0.5, 0.5) xyzw, i.e. RPY
(-pi/2, 0, -pi/2), the usual ``camera_link -> camera_optical_frame`` static transform."""

OPTICAL_FROM_BODY = _read_only(BODY_FROM_OPTICAL.T.copy())
"""(3, 3) inverse of :data:`BODY_FROM_OPTICAL`."""


def xyzw_to_wxyz(quaternion: ArrayLike) -> np.ndarray:
    """(..., 4) ROS-order quaternion -> (..., 4) transforms3d order."""
    q = np.asarray(quaternion, dtype=np.float64)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)


def wxyz_to_xyzw(quaternion: ArrayLike) -> np.ndarray:
    """(..., 4) transforms3d-order quaternion -> (..., 4) ROS order."""
    q = np.asarray(quaternion, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def _check_shape(array: np.ndarray, tail: tuple[int, ...], name: str) -> None:
    if array.ndim < len(tail) or array.shape[array.ndim - len(tail):] != tail:
        raise GeometryError(f'{name} must have shape (..., {", ".join(map(str, tail))}), '
                            f'got {array.shape}')
    if not np.isfinite(array).all():
        raise GeometryError(f'{name} must be finite')


def quaternion_to_matrix(quaternion_xyzw: ArrayLike) -> np.ndarray:
    """(..., 4) xyzw quaternion -> (..., 3, 3) rotation matrix. Non-unit input is normalised."""
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    _check_shape(q, (4,), 'quaternion')
    norms = np.linalg.norm(q, axis=-1)
    if (norms < 1e-12).any():
        raise GeometryError('quaternion must be non-zero')
    flat = xyzw_to_wxyz(q / norms[..., None]).reshape(-1, 4)
    matrices = np.stack([t3d_quaternions.quat2mat(wxyz) for wxyz in flat])
    return matrices.reshape(q.shape[:-1] + (3, 3))


def _check_rotation(rotation: np.ndarray, tol: float) -> None:
    if not is_rigid(rotation, tol):
        raise GeometryError(f'matrix is not a rotation within tolerance {tol}')


def matrix_to_quaternion(rotation: ArrayLike, tol: float = 1e-4) -> np.ndarray:
    """(..., 3, 3) rotation matrix -> (..., 4) xyzw unit quaternion with ``w >= 0``.

    Raises GeometryError when a matrix is further than ``tol`` from a rotation.
    """
    r = np.asarray(rotation, dtype=np.float64)
    _check_shape(r, (3, 3), 'rotation')
    _check_rotation(r, tol)
    flat = np.stack([t3d_quaternions.mat2quat(m) for m in r.reshape(-1, 3, 3)])
    flat = flat * np.where(flat[:, :1] < 0, -1.0, 1.0)
    return wxyz_to_xyzw(flat).reshape(r.shape[:-2] + (4,))


def pose_to_matrix(position: ArrayLike, orientation_xyzw: ArrayLike) -> np.ndarray:
    """(..., 3) position, (..., 4) xyzw orientation -> (..., 4, 4) rigid transform."""
    t = np.asarray(position, dtype=np.float64)
    _check_shape(t, (3,), 'position')
    rotation = quaternion_to_matrix(orientation_xyzw)
    batch = np.broadcast_shapes(t.shape[:-1], rotation.shape[:-2])
    matrix = np.zeros(batch + (4, 4))
    matrix[..., :3, :3] = rotation
    matrix[..., :3, 3] = t
    matrix[..., 3, 3] = 1.0
    return matrix


def matrix_to_pose(matrix: ArrayLike, tol: float = 1e-4) -> Pose:
    """(..., 4, 4) rigid transform -> Pose((..., 3) position, (..., 4) xyzw orientation)."""
    m = np.asarray(matrix, dtype=np.float64)
    _check_shape(m, (4, 4), 'matrix')
    return Pose(m[..., :3, 3].copy(), matrix_to_quaternion(m[..., :3, :3], tol))


def yaw_pitch_roll_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Angles in radians -> (3, 3) ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    return t3d_euler.euler2mat(yaw, pitch, roll, axes='rzyx')


def matrix_to_yaw_pitch_roll(rotation: ArrayLike, tol: float = 1e-4) -> tuple[float, float, float]:
    """(3, 3) rotation -> (yaw, pitch, roll) in radians, pitch in [-pi/2, pi/2]."""
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3):
        raise GeometryError(f'rotation must be (3, 3), got {r.shape}')
    _check_rotation(r, tol)
    yaw, pitch, roll = t3d_euler.mat2euler(r, axes='rzyx')
    return float(yaw), float(pitch), float(roll)


def euler_to_matrix(yaw_pitch_roll: torch.Tensor) -> torch.Tensor:
    """(..., 3) yaw, pitch, roll in radians -> (..., 3, 3) ``Rz(yaw) @ Ry(pitch) @ Rx(roll)``.

    Differentiable torch version of :func:`yaw_pitch_roll_to_matrix`, on the input's device.
    """
    if yaw_pitch_roll.shape[-1:] != (3,):
        raise GeometryError(f'angles must be (..., 3), got {tuple(yaw_pitch_roll.shape)}')
    cos = torch.cos(yaw_pitch_roll)
    sin = torch.sin(yaw_pitch_roll)
    cy, cp, cr = cos.unbind(-1)
    sy, sp, sr = sin.unbind(-1)
    rows = [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def _transpose(array: ArrayT) -> ArrayT:
    if isinstance(array, torch.Tensor):
        return array.transpose(-1, -2)
    return np.swapaxes(array, -1, -2)


def invert_rigid(matrix: ArrayT) -> ArrayT:
    """(..., 4, 4) rigid transform ``a_from_b`` -> (..., 4, 4) ``b_from_a``.

    Uses ``R^T`` rather than a general inverse, so the input must be rigid (see ``is_rigid``).
    """
    rotation_t = _transpose(matrix[..., :3, :3])
    translation = -(rotation_t @ matrix[..., :3, 3:4])
    inverse = matrix * 0
    inverse[..., :3, :3] = rotation_t
    inverse[..., :3, 3:4] = translation
    inverse[..., 3, 3] = 1
    return inverse


def compose(*matrices: ArrayT) -> ArrayT:
    """(..., 4, 4) transforms ``a_from_b, b_from_c, ...`` -> (..., 4, 4) ``a_from_z``."""
    if not matrices:
        raise GeometryError('compose needs at least one matrix')
    result = matrices[0]
    for matrix in matrices[1:]:
        result = result @ matrix
    return result


def transform_points(matrix: ArrayT, points: ArrayT) -> ArrayT:
    """(..., 4, 4) ``a_from_b``, (..., N, 3) or (3,) points in ``b`` -> same shape in ``a``.

    Leading dimensions broadcast as in ``matmul``: one (4, 4) matrix applies to any (..., 3)
    points; (B, 4, 4) matrices apply to (B, N, 3) points. A torch matrix is moved to the points'
    device and dtype; a numpy matrix with torch points is converted.
    """
    if isinstance(points, torch.Tensor):
        matrix = torch.as_tensor(matrix).to(points)
    elif isinstance(matrix, torch.Tensor):
        raise GeometryError('numpy points need a numpy matrix')
    if points.shape[-1] != 3 or matrix.shape[-2:] != (4, 4):
        raise GeometryError(f'need (..., 4, 4) matrix and (..., 3) points, got '
                            f'{tuple(matrix.shape)} and {tuple(points.shape)}')
    rotated = points @ _transpose(matrix[..., :3, :3])
    translation = matrix[..., :3, 3]
    if points.ndim > 1:
        translation = translation[..., None, :]
    return rotated + translation


def is_rigid(matrix: ArrayLike | torch.Tensor, tol: float = 1e-6) -> bool:
    """(..., 4, 4) rigid transforms or (..., 3, 3) rotations -> whether all of them are.

    Checks ``R^T R = I`` and ``det R = +1`` to ``tol``, and for 4x4 that the last row is
    (0, 0, 0, 1) and all entries are finite.
    """
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim < 2 or m.shape[-2:] not in ((3, 3), (4, 4)):
        return False
    if not np.isfinite(m).all():
        return False
    if m.shape[-1] == 4:
        bottom = m[..., 3, :]
        if np.abs(bottom - np.array([0.0, 0.0, 0.0, 1.0])).max(initial=0.0) > tol:
            return False
        m = m[..., :3, :3]
    gram_error = np.abs(_transpose(m) @ m - np.eye(3)).max(initial=0.0)
    det_error = np.abs(np.linalg.det(m) - 1.0).max(initial=0.0)
    return bool(gram_error <= tol and det_error <= tol)


def orthonormalize(matrix: ArrayT) -> ArrayT:
    """(..., 3, 3) or (..., 4, 4) -> nearest rotation (Frobenius norm, via SVD), same shape.

    For 4x4 input the translation is kept and the last row is reset to (0, 0, 0, 1).
    """
    rotation = matrix[..., :3, :3]
    if isinstance(matrix, torch.Tensor):
        u, _, vh = torch.linalg.svd(rotation)
        sign = torch.sign(torch.linalg.det(u @ vh))
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        u = torch.cat([u[..., :2], u[..., 2:] * sign[..., None, None]], dim=-1)
        result = matrix.clone()
    else:
        u, _, vh = np.linalg.svd(rotation)
        sign = np.sign(np.linalg.det(u @ vh))
        sign = np.where(sign == 0, 1.0, sign)
        u = np.concatenate([u[..., :2], u[..., 2:] * sign[..., None, None]], axis=-1)
        result = np.array(matrix, dtype=np.result_type(matrix, np.float32), copy=True)
    result[..., :3, :3] = u @ vh
    if matrix.shape[-1] == 4:
        result[..., 3, :3] = 0
        result[..., 3, 3] = 1
    return result


def look_at(eye: ArrayLike, target: ArrayLike, up: ArrayLike = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(3,) eye, (3,) target, (3,) world up -> (4, 4) ``world_from_optical`` camera pose.

    The optical z axis points from ``eye`` to ``target``, x is to the right and y down (so the
    image's "up" is as close to ``up`` as possible). Raises GeometryError when ``eye == target``
    or the viewing direction is parallel to ``up``.
    """
    eye_v, target_v, up_v = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    for name, value in (('eye', eye_v), ('target', target_v), ('up', up_v)):
        _check_shape(value, (3,), name)
    forward = target_v - eye_v
    if np.linalg.norm(forward) < 1e-12:
        raise GeometryError('look_at: eye and target coincide')
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up_v)
    if np.linalg.norm(right) < 1e-9 * max(1.0, float(np.linalg.norm(up_v))):
        raise GeometryError('look_at: viewing direction is parallel to up')
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    matrix = np.eye(4)
    matrix[:3, :3] = np.stack([right, down, forward], axis=-1)
    matrix[:3, 3] = eye_v
    return matrix


def _rotation_to_4x4(rotation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    return matrix


def optical_to_body_pose(world_from_optical: ArrayT) -> ArrayT:
    """(..., 4, 4) pose of an optical frame -> pose of the co-located body-convention frame."""
    return _right_multiply(world_from_optical, _rotation_to_4x4(OPTICAL_FROM_BODY))


def body_to_optical_pose(world_from_body: ArrayT) -> ArrayT:
    """(..., 4, 4) pose of a body-convention camera frame -> pose of its optical frame."""
    return _right_multiply(world_from_body, _rotation_to_4x4(BODY_FROM_OPTICAL))


def _right_multiply(matrix: ArrayT, constant: np.ndarray) -> ArrayT:
    if isinstance(matrix, torch.Tensor):
        return matrix @ torch.as_tensor(constant).to(matrix)
    return np.asarray(matrix) @ constant
