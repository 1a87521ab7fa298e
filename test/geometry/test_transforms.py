"""Rotations and rigid transforms against transforms3d, scipy and explicit loops."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from transforms3d import quaternions as t3d_quaternions

from scenemem_ros.geometry import (
    BODY_FROM_OPTICAL,
    OPTICAL_FROM_BODY,
    GeometryError,
    body_to_optical_pose,
    compose,
    euler_to_matrix,
    invert_rigid,
    is_rigid,
    look_at,
    matrix_to_pose,
    matrix_to_quaternion,
    matrix_to_yaw_pitch_roll,
    optical_to_body_pose,
    orthonormalize,
    pose_to_matrix,
    quaternion_to_matrix,
    transform_points,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
    yaw_pitch_roll_to_matrix,
)


def random_quaternions(rng: np.random.Generator, *shape: int) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def random_rigid(rng: np.random.Generator, count: int) -> np.ndarray:
    return pose_to_matrix(rng.normal(size=(count, 3)), random_quaternions(rng, count))


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def test_quaternion_order_conversion_round_trips():
    q = random_quaternions(np.random.default_rng(0), 3, 2)
    np.testing.assert_array_equal(xyzw_to_wxyz(q)[..., 0], q[..., 3])
    np.testing.assert_array_equal(wxyz_to_xyzw(xyzw_to_wxyz(q)), q)


def test_quaternion_to_matrix_matches_scipy_and_transforms3d():
    q = random_quaternions(np.random.default_rng(1), 4, 5)
    matrices = quaternion_to_matrix(q)
    assert matrices.shape == (4, 5, 3, 3)
    np.testing.assert_allclose(matrices.reshape(-1, 3, 3),
                               Rotation.from_quat(q.reshape(-1, 4)).as_matrix(), atol=1e-12)
    for xyzw, matrix in zip(q.reshape(-1, 4), matrices.reshape(-1, 3, 3), strict=True):
        x, y, z, w = xyzw
        np.testing.assert_allclose(matrix, t3d_quaternions.quat2mat([w, x, y, z]), atol=1e-12)


def test_quaternion_is_normalised_and_zero_rejected():
    q = random_quaternions(np.random.default_rng(2), 3)
    np.testing.assert_allclose(quaternion_to_matrix(q * 7.5), quaternion_to_matrix(q))
    with pytest.raises(GeometryError):
        quaternion_to_matrix([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(GeometryError):
        quaternion_to_matrix([0.0, 0.0, np.nan, 1.0])
    with pytest.raises(GeometryError):
        quaternion_to_matrix([0.0, 0.0, 1.0])


def test_matrix_to_quaternion_round_trip_and_scipy():
    q = random_quaternions(np.random.default_rng(3), 50)
    recovered = matrix_to_quaternion(quaternion_to_matrix(q))
    canonical = q * np.where(q[:, 3:] < 0, -1.0, 1.0)
    np.testing.assert_allclose(recovered, canonical, atol=1e-12)
    assert (recovered[:, 3] >= 0).all()
    scipy_q = Rotation.from_quat(q).as_quat(canonical=True)
    np.testing.assert_allclose(recovered, scipy_q, atol=1e-12)
    for matrix in (np.diag([1.0, 1.0, -1.0]), 2 * np.eye(3), np.ones((3, 3))):
        with pytest.raises(GeometryError):
            matrix_to_quaternion(matrix)


def test_pose_matrix_round_trip():
    rng = np.random.default_rng(4)
    position = rng.normal(size=(6, 3))
    orientation = random_quaternions(rng, 6)
    matrix = pose_to_matrix(position, orientation)
    for i in range(6):
        np.testing.assert_allclose(matrix[i, :3, :3], Rotation.from_quat(orientation[i])
                                   .as_matrix(), atol=1e-12)
        np.testing.assert_array_equal(matrix[i, :3, 3], position[i])
        np.testing.assert_array_equal(matrix[i, 3], [0, 0, 0, 1])
    pose = matrix_to_pose(matrix)
    np.testing.assert_allclose(pose.position, position)
    np.testing.assert_allclose(np.abs((pose.orientation * orientation).sum(-1)), 1.0)
    single = pose_to_matrix([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(single, [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3],
                                           [0, 0, 0, 1]])


def test_invert_rigid_numpy_matches_inverse():
    matrices = random_rigid(np.random.default_rng(5), 8)
    np.testing.assert_allclose(invert_rigid(matrices), np.linalg.inv(matrices), atol=1e-12)


def test_invert_rigid_torch(device):
    matrices = torch.tensor(random_rigid(np.random.default_rng(6), 8), device=device)
    product = matrices @ invert_rigid(matrices)
    torch.testing.assert_close(product, torch.eye(4, device=device, dtype=torch.float64)
                               .expand(8, 4, 4))


def test_compose_matches_loop_product():
    matrices = random_rigid(np.random.default_rng(7), 4)
    expected = np.eye(4)
    for matrix in matrices:
        expected = expected @ matrix
    np.testing.assert_allclose(compose(*matrices), expected, atol=1e-12)
    np.testing.assert_array_equal(compose(matrices[0]), matrices[0])
    with pytest.raises(GeometryError):
        compose()


def naive_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = np.empty_like(points)
    for i, point in enumerate(points):
        out[i] = matrix[:3, :3] @ point + matrix[:3, 3]
    return out


def test_transform_points_numpy_matches_loop():
    rng = np.random.default_rng(8)
    matrix = random_rigid(rng, 1)[0]
    points = rng.normal(size=(20, 3))
    np.testing.assert_allclose(transform_points(matrix, points), naive_transform(matrix, points))
    np.testing.assert_allclose(transform_points(matrix, points[0]),
                               naive_transform(matrix, points[:1])[0])
    grid = points.reshape(4, 5, 3)
    np.testing.assert_allclose(transform_points(matrix, grid),
                               naive_transform(matrix, points).reshape(4, 5, 3))
    with pytest.raises(GeometryError):
        transform_points(matrix, points[:, :2])


def test_transform_points_torch_batched(device):
    rng = np.random.default_rng(9)
    matrices = random_rigid(rng, 3)
    points = rng.normal(size=(3, 10, 3))
    result = transform_points(torch.tensor(matrices, device=device),
                              torch.tensor(points, device=device, dtype=torch.float32))
    assert result.dtype == torch.float32 and result.device.type == device.type
    expected = np.stack([naive_transform(m, p) for m, p in zip(matrices, points, strict=True)])
    np.testing.assert_allclose(result.cpu().numpy(), expected, atol=1e-5)
    from_numpy_matrix = transform_points(matrices[0], torch.tensor(points[0], device=device))
    np.testing.assert_allclose(from_numpy_matrix.cpu().numpy(), expected[0], atol=1e-12)


def test_yaw_pitch_roll_convention():
    rng = np.random.default_rng(10)
    for yaw, pitch, roll in rng.uniform(-np.pi, np.pi, (20, 3)) * [1, 0.49, 1]:
        matrix = yaw_pitch_roll_to_matrix(yaw, pitch, roll)
        np.testing.assert_allclose(matrix, rot_z(yaw) @ rot_y(pitch) @ rot_x(roll), atol=1e-12)
        np.testing.assert_allclose(
            matrix, Rotation.from_euler('ZYX', [yaw, pitch, roll]).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(matrix_to_yaw_pitch_roll(matrix), (yaw, pitch, roll),
                                   atol=1e-9)


def test_euler_to_matrix_torch_matches_numpy(device):
    angles = np.random.default_rng(11).uniform(-np.pi, np.pi, (4, 5, 3))
    result = euler_to_matrix(torch.tensor(angles, device=device))
    assert result.shape == (4, 5, 3, 3)
    for index in np.ndindex(4, 5):
        np.testing.assert_allclose(result[index].cpu().numpy(),
                                   yaw_pitch_roll_to_matrix(*angles[index]), atol=1e-12)
    with pytest.raises(GeometryError):
        euler_to_matrix(torch.zeros(4, 2))


def test_euler_to_matrix_gradcheck():
    angles = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(euler_to_matrix, (angles,))


def test_is_rigid():
    rng = np.random.default_rng(12)
    matrices = random_rigid(rng, 5)
    assert is_rigid(matrices) and is_rigid(matrices[:, :3, :3])
    assert is_rigid(torch.tensor(matrices))
    reflection = matrices[0].copy()
    reflection[:3, 2] *= -1
    scaled = matrices[0].copy()
    scaled[:3, :3] *= 1.01
    projective = matrices[0].copy()
    projective[3, 0] = 0.1
    broken = matrices[0].copy()
    broken[0, 0] = np.nan
    for bad in (reflection, scaled, projective, broken, np.eye(2), np.zeros(4)):
        assert not is_rigid(bad)
    assert is_rigid(scaled, tol=0.1)


def test_orthonormalize_numpy_and_torch(device):
    rng = np.random.default_rng(13)
    matrices = random_rigid(rng, 6)
    noisy = matrices + rng.normal(scale=1e-3, size=matrices.shape) * [1, 1, 1, 0]
    fixed = orthonormalize(noisy)
    assert is_rigid(fixed, tol=1e-9)
    np.testing.assert_allclose(fixed, matrices, atol=1e-2)
    np.testing.assert_array_equal(fixed[:, :3, 3], noisy[:, :3, 3])
    fixed_torch = orthonormalize(torch.tensor(noisy, device=device))
    np.testing.assert_allclose(fixed_torch.cpu().numpy(), fixed, atol=1e-9)
    assert is_rigid(orthonormalize(np.diag([1.0, 1.0, -1.0])), tol=1e-9)


def test_look_at_points_optical_axis_at_target():
    rng = np.random.default_rng(14)
    up = np.array([0.0, 0.0, 1.0])
    for _ in range(10):
        eye, target = rng.normal(size=3), rng.normal(size=3)
        pose = look_at(eye, target, up)
        assert is_rigid(pose, tol=1e-9)
        np.testing.assert_allclose(pose[:3, 3], eye)
        in_camera = transform_points(invert_rigid(pose), target)
        np.testing.assert_allclose(in_camera[:2], 0.0, atol=1e-12)
        assert in_camera[2] == pytest.approx(np.linalg.norm(target - eye))
        assert abs(pose[:3, 0] @ up) < 1e-12
        assert pose[:3, 1] @ up < 0
    with pytest.raises(GeometryError):
        look_at([1, 2, 3], [1, 2, 3])
    with pytest.raises(GeometryError):
        look_at([0, 0, 0], [0, 0, 5])


def test_look_at_along_x_is_body_to_optical():
    pose = look_at([0, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(pose[:3, :3], BODY_FROM_OPTICAL, atol=1e-12)
    np.testing.assert_allclose(optical_to_body_pose(pose), np.eye(4), atol=1e-12)


def test_optical_body_constants():
    np.testing.assert_array_equal(BODY_FROM_OPTICAL @ [0, 0, 1], [1, 0, 0])
    np.testing.assert_array_equal(BODY_FROM_OPTICAL @ [1, 0, 0], [0, -1, 0])
    np.testing.assert_array_equal(BODY_FROM_OPTICAL @ [0, 1, 0], [0, 0, -1])
    np.testing.assert_array_equal(OPTICAL_FROM_BODY @ BODY_FROM_OPTICAL, np.eye(3))
    np.testing.assert_allclose(matrix_to_quaternion(BODY_FROM_OPTICAL), [-0.5, 0.5, -0.5, 0.5])
    np.testing.assert_allclose(BODY_FROM_OPTICAL,
                               yaw_pitch_roll_to_matrix(-np.pi / 2, 0.0, -np.pi / 2), atol=1e-12)
    with pytest.raises(ValueError):
        BODY_FROM_OPTICAL[0, 0] = 1.0


def test_optical_body_pose_round_trip(device):
    matrices = random_rigid(np.random.default_rng(15), 4)
    np.testing.assert_allclose(optical_to_body_pose(body_to_optical_pose(matrices)), matrices,
                               atol=1e-12)
    as_torch = torch.tensor(matrices, device=device, dtype=torch.float32)
    np.testing.assert_allclose(body_to_optical_pose(as_torch).cpu().numpy(),
                               body_to_optical_pose(matrices), atol=1e-6)
