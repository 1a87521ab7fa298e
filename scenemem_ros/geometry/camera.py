"""Pinhole camera model and depth back-projection.

Conventions: OpenCV optical frame (x right, y down, z forward). Pixel (u, v) has its centre at
integer coordinates, so a pixel's ray is K^-1 [u, v, 1]. Depth is the z coordinate in metres
(not the ray length), as in REP 118 depth images. torch is imported by the functions that make
tensors, so the camera model itself (and the messages and frames built on it) loads without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scenemem_ros.geometry.errors import GeometryError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels.
        width, height: image size in pixels (> 0).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ('fx', 'fy', 'cx', 'cy'):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise GeometryError(f'PinholeCamera.{name} must be finite, got {value!r}')
        if self.fx <= 0 or self.fy <= 0:
            raise GeometryError(f'PinholeCamera focal lengths must be > 0, got fx={self.fx}, '
                                f'fy={self.fy}')
        if self.width <= 0 or self.height <= 0:
            raise GeometryError(f'PinholeCamera size must be > 0, got {self.width}x{self.height}')

    @classmethod
    def from_matrix(cls, matrix: np.ndarray | Sequence[Sequence[float]], width: int,
                    height: int) -> PinholeCamera:
        """Build from a 3x3 intrinsic matrix K (skew must be zero)."""
        k = np.asarray(matrix, dtype=np.float64)
        if k.shape != (3, 3):
            raise GeometryError(f'intrinsic matrix must be 3x3, got shape {k.shape}')
        if abs(k[0, 1]) > 1e-9:
            raise GeometryError(f'intrinsic matrix has non-zero skew {k[0, 1]}')
        return cls(fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]),
                   width=int(width), height=int(height))

    @classmethod
    def from_camera_info(cls, k: Sequence[float], width: int, height: int) -> PinholeCamera:
        """Build from CameraInfo-like fields: ``k`` is the row-major 3x3 K (9 numbers)."""
        values = np.asarray(list(k), dtype=np.float64)
        if values.size != 9:
            raise GeometryError(f'CameraInfo.k must hold 9 numbers, got {values.size}')
        if width <= 0 or height <= 0:
            raise GeometryError(f'CameraInfo size must be > 0, got {width}x{height}')
        return cls.from_matrix(values.reshape(3, 3), width, height)

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> PinholeCamera:
        """Square pixels, principal point at the image centre."""
        focal = 0.5 * width / np.tan(np.deg2rad(horizontal_fov_deg) / 2)
        return cls(fx=focal, fy=focal, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width,
                   height=height)

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) float64 intrinsic matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, factor: float) -> PinholeCamera:
        """Intrinsics of the image resized by ``factor`` (pixel-centre convention)."""
        return PinholeCamera(fx=self.fx * factor, fy=self.fy * factor,
                             cx=(self.cx + 0.5) * factor - 0.5, cy=(self.cy + 0.5) * factor - 0.5,
                             width=max(1, round(self.width * factor)),
                             height=max(1, round(self.height * factor)))

    def rays(self, device: torch.device | str = 'cpu',
             dtype: torch.dtype | None = None) -> torch.Tensor:
        """(H, W, 3) ray directions in the optical frame with z = 1 (``dtype`` float32)."""
        import torch

        dtype = dtype or torch.float32
        v, u = torch.meshgrid(torch.arange(self.height, device=device, dtype=dtype),
                              torch.arange(self.width, device=device, dtype=dtype), indexing='ij')
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        return torch.stack([x, y, torch.ones_like(x)], dim=-1)

    def project(self, points_camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 3) optical-frame points -> (..., 2) pixel coordinates (u, v) and (...,) depth."""
        import torch

        z = points_camera[..., 2]
        safe_z = torch.where(z.abs() > 1e-9, z, torch.full_like(z, 1e-9))
        u = self.fx * points_camera[..., 0] / safe_z + self.cx
        v = self.fy * points_camera[..., 1] / safe_z + self.cy
        return torch.stack([u, v], dim=-1), z


def intrinsics_tensor(cameras: Sequence[PinholeCamera], device: torch.device | str = 'cpu',
                      dtype: torch.dtype | None = None) -> torch.Tensor:
    """(B, 3, 3) intrinsic matrices for a list of cameras (``dtype`` float32)."""
    import torch

    dtype = dtype or torch.float32
    return torch.tensor(np.stack([c.matrix for c in cameras]), device=device, dtype=dtype)


def depth_to_points(depth: torch.Tensor, intrinsics: torch.Tensor,
                    camera_to_world: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, W) depth, (B, 3, 3) K, optional (B, 4, 4) pose -> (B, H, W, 3) points.

    Points are in the camera's optical frame, or in the world frame when ``camera_to_world`` is
    given. Invalid depth (NaN, Inf, <= 0) yields NaN points so callers can mask with
    ``torch.isfinite(points).all(-1)``. Works batched on any device and dtype.
    """
    import torch

    if depth.dim() != 3:
        raise GeometryError(f'depth must be (B, H, W), got shape {tuple(depth.shape)}')
    batch, height, width = depth.shape
    if intrinsics.shape != (batch, 3, 3):
        raise GeometryError(f'intrinsics must be ({batch}, 3, 3), got {tuple(intrinsics.shape)}')
    v, u = torch.meshgrid(torch.arange(height, device=depth.device, dtype=depth.dtype),
                          torch.arange(width, device=depth.device, dtype=depth.dtype),
                          indexing='ij')
    fx = intrinsics[:, 0, 0].view(batch, 1, 1)
    fy = intrinsics[:, 1, 1].view(batch, 1, 1)
    cx = intrinsics[:, 0, 2].view(batch, 1, 1)
    cy = intrinsics[:, 1, 2].view(batch, 1, 1)
    valid = torch.isfinite(depth) & (depth > 0)
    z = torch.where(valid, depth, torch.full_like(depth, float('nan')))
    x = (u.unsqueeze(0) - cx) / fx * z
    y = (v.unsqueeze(0) - cy) / fy * z
    points = torch.stack([x, y, z], dim=-1)
    if camera_to_world is not None:
        if camera_to_world.shape != (batch, 4, 4):
            raise GeometryError(
                f'camera_to_world must be ({batch}, 4, 4), got {tuple(camera_to_world.shape)}')
        rotation = camera_to_world[:, :3, :3].to(points.dtype)
        translation = camera_to_world[:, :3, 3].to(points.dtype)
        points = (torch.einsum('bij,bhwj->bhwi', rotation, points)
                  + translation.view(batch, 1, 1, 3))
    return points


def valid_points(points: torch.Tensor) -> torch.Tensor:
    """(..., 3) points possibly containing NaN -> (N, 3) finite points."""
    import torch

    flat = points.reshape(-1, 3)
    return flat[torch.isfinite(flat).all(dim=-1)]
