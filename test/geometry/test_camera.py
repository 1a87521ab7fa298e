"""PinholeCamera and depth back-projection against per-pixel loops."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from scenemem_ros.geometry import (
    GeometryError,
    PinholeCamera,
    depth_to_points,
    intrinsics_tensor,
    look_at,
    valid_points,
)


def naive_depth_to_points(depth: np.ndarray, intrinsics: np.ndarray,
                          camera_to_world: np.ndarray | None) -> np.ndarray:
    """(B, H, W), (B, 3, 3), (B, 4, 4) -> (B, H, W, 3), one pixel at a time."""
    batch, height, width = depth.shape
    points = np.full((batch, height, width, 3), np.nan)
    for b in range(batch):
        fx, fy, cx, cy = (intrinsics[b, 0, 0], intrinsics[b, 1, 1], intrinsics[b, 0, 2],
                          intrinsics[b, 1, 2])
        for v in range(height):
            for u in range(width):
                z = depth[b, v, u]
                if not math.isfinite(z) or z <= 0:
                    continue
                point = np.array([(u - cx) / fx * z, (v - cy) / fy * z, z])
                if camera_to_world is not None:
                    point = camera_to_world[b, :3, :3] @ point + camera_to_world[b, :3, 3]
                points[b, v, u] = point
    return points


def random_depth(rng: np.random.Generator, batch: int, height: int, width: int) -> np.ndarray:
    depth = rng.uniform(0.2, 5.0, (batch, height, width))
    bad = rng.integers(0, 5, depth.shape)
    depth[bad == 0] = np.nan
    depth[bad == 1] = 0.0
    depth[(bad == 2) & (rng.random(depth.shape) < 0.5)] = np.inf
    depth[(bad == 2) & (depth != np.inf)] = -1.0
    return depth


CAMERAS = [PinholeCamera(fx=50.0, fy=55.0, cx=3.2, cy=2.1, width=7, height=5),
           PinholeCamera.from_fov(width=7, height=5, horizontal_fov_deg=70.0)]


@pytest.mark.parametrize('with_pose', [False, True])
def test_depth_to_points_matches_pixel_loop(device, with_pose):
    rng = np.random.default_rng(0)
    depth = random_depth(rng, 2, 5, 7)
    intrinsics = np.stack([c.matrix for c in CAMERAS])
    poses = None
    if with_pose:
        poses = np.stack([look_at(rng.normal(size=3), rng.normal(size=3) + 3) for _ in range(2)])
    expected = naive_depth_to_points(depth, intrinsics, poses)
    points = depth_to_points(
        torch.tensor(depth, device=device), intrinsics_tensor(CAMERAS, device, torch.float64),
        None if poses is None else torch.tensor(poses, device=device))
    assert points.device.type == device.type
    np.testing.assert_allclose(points.cpu().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_depth_to_points_float32_and_bad_shapes():
    depth = torch.ones(1, 5, 7)
    points = depth_to_points(depth, intrinsics_tensor(CAMERAS[:1]))
    assert points.dtype == torch.float32 and points.shape == (1, 5, 7, 3)
    with pytest.raises(GeometryError):
        depth_to_points(torch.ones(5, 7), intrinsics_tensor(CAMERAS[:1]))
    with pytest.raises(GeometryError):
        depth_to_points(depth, intrinsics_tensor(CAMERAS))
    with pytest.raises(GeometryError):
        depth_to_points(depth, intrinsics_tensor(CAMERAS[:1]), torch.eye(4))


def test_rays_times_depth_is_back_projection(device):
    camera = CAMERAS[0]
    depth = torch.rand(1, camera.height, camera.width, device=device, dtype=torch.float64) + 0.5
    rays = camera.rays(device, torch.float64)
    points = depth_to_points(depth, intrinsics_tensor([camera], device, torch.float64))
    torch.testing.assert_close(rays * depth[0, ..., None], points[0])


def test_project_inverts_depth_to_points(device):
    camera = CAMERAS[0]
    depth = torch.rand(1, camera.height, camera.width, device=device, dtype=torch.float64) + 0.5
    points = depth_to_points(depth, intrinsics_tensor([camera], device, torch.float64))[0]
    pixels, z = camera.project(points)
    v, u = torch.meshgrid(torch.arange(camera.height, device=device, dtype=torch.float64),
                          torch.arange(camera.width, device=device, dtype=torch.float64),
                          indexing='ij')
    torch.testing.assert_close(pixels, torch.stack([u, v], dim=-1))
    torch.testing.assert_close(z, depth[0])


def test_valid_points_drops_nan_rows():
    points = torch.tensor([[[1.0, 2.0, 3.0], [math.nan, math.nan, math.nan]],
                           [[4.0, 5.0, 6.0], [1.0, math.inf, 2.0]]])
    torch.testing.assert_close(valid_points(points), torch.tensor([[1.0, 2.0, 3.0],
                                                                   [4.0, 5.0, 6.0]]))


@pytest.mark.parametrize('fields', [
    {'fx': 0.0}, {'fx': -1.0}, {'fy': 0.0}, {'fy': math.nan}, {'cx': math.inf},
    {'cy': math.nan}, {'width': 0}, {'height': -3},
])
def test_bad_intrinsics_raise(fields):
    good = {'fx': 500.0, 'fy': 500.0, 'cx': 319.5, 'cy': 239.5, 'width': 640, 'height': 480}
    with pytest.raises(GeometryError):
        PinholeCamera(**{**good, **fields})


def test_bad_matrix_and_camera_info_raise():
    with pytest.raises(GeometryError):
        PinholeCamera.from_matrix(np.eye(4), 640, 480)
    with pytest.raises(GeometryError):
        PinholeCamera.from_matrix([[500, 1, 320], [0, 500, 240], [0, 0, 1]], 640, 480)
    with pytest.raises(GeometryError):
        PinholeCamera.from_camera_info([500.0] * 8, 640, 480)
    with pytest.raises(GeometryError):
        PinholeCamera.from_camera_info([500, 0, 320, 0, 500, 240, 0, 0, 1], 0, 480)
    with pytest.raises(GeometryError):
        PinholeCamera.from_camera_info([0, 0, 320, 0, 500, 240, 0, 0, 1], 640, 480)


def test_from_camera_info_like_message():
    info = SimpleNamespace(k=[525.0, 0.0, 319.5, 0.0, 526.0, 239.5, 0.0, 0.0, 1.0],
                           width=640, height=480)
    camera = PinholeCamera.from_camera_info(info.k, info.width, info.height)
    assert camera == PinholeCamera(fx=525.0, fy=526.0, cx=319.5, cy=239.5, width=640,
                                   height=480)
    np.testing.assert_array_equal(camera.matrix.reshape(-1), info.k)
    assert PinholeCamera.from_matrix(camera.matrix, 640, 480) == camera


def test_from_fov_centres_the_principal_point():
    camera = PinholeCamera.from_fov(width=640, height=480, horizontal_fov_deg=90.0)
    assert camera.fx == pytest.approx(320.0) and camera.fy == camera.fx
    assert (camera.cx, camera.cy) == (319.5, 239.5)


def test_scaled_keeps_pixel_centres_consistent():
    camera = PinholeCamera(fx=525.0, fy=526.0, cx=319.5, cy=239.5, width=640, height=480)
    half = camera.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == (262.5, 263.0, 159.5, 119.5)
    assert camera.scaled(1.0) == camera
    assert half.scaled(2.0) == camera
    point = torch.tensor([[0.3, -0.2, 2.0]], dtype=torch.float64)
    full_pixel, _ = camera.project(point)
    half_pixel, _ = half.project(point)
    torch.testing.assert_close(half_pixel, (full_pixel + 0.5) * 0.5 - 0.5)
    with pytest.raises(GeometryError):
        camera.scaled(0.0)
