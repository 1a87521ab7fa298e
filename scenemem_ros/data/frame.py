"""Frame and Sequence: the one currency every reader, writer, trainer and node exchanges.

A ``Frame`` is one posed depth observation. Depth is float32 metres with NaN where invalid, the
pose is camera(optical frame)-to-world as a 4x4 float64 matrix (world z up, metres), and the stamp
is in seconds. Datasets without a depth camera (Aria MPS) instead carry ``points``: world-frame
points observed from that pose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from scenemem_ros.data.errors import DataError
from scenemem_ros.geometry.camera import PinholeCamera

DEFAULT_DEPTH_TOPIC = '/camera/depth/image_rect'
DEFAULT_CAMERA_INFO_TOPIC = '/camera/depth/camera_info'
DEFAULT_POSE_TOPIC = '/camera/pose'
DEFAULT_WORLD_FRAME = 'map'
DEFAULT_CAMERA_FRAME = 'camera_depth_optical_frame'


@dataclass(frozen=True, eq=False)
class Frame:
    """One posed observation.

    Attributes:
        stamp: time in seconds (float64).
        camera: pinhole intrinsics of ``depth``.
        camera_to_world: (4, 4) float64 rigid transform, optical frame -> world.
        depth: (H, W) float32 metres, NaN where invalid; None for point-only frames.
        points: (N, 3) float32 world-frame points for frames without depth; else None.
        frame_id: the optical frame's name.
    """

    stamp: float
    camera: PinholeCamera
    camera_to_world: np.ndarray
    depth: np.ndarray | None = None
    points: np.ndarray | None = None
    frame_id: str = DEFAULT_CAMERA_FRAME

    def __post_init__(self) -> None:
        if not np.isfinite(self.stamp):
            raise DataError(f'Frame.stamp must be finite, got {self.stamp!r}')
        pose = np.asarray(self.camera_to_world, dtype=np.float64)
        if pose.shape != (4, 4):
            raise DataError(f'Frame.camera_to_world must be 4x4, got shape {pose.shape}')
        if not np.isfinite(pose).all():
            raise DataError('Frame.camera_to_world holds non-finite values')
        object.__setattr__(self, 'camera_to_world', pose)
        if self.depth is None and self.points is None:
            raise DataError('Frame needs depth or points')
        if self.depth is not None:
            depth = np.asarray(self.depth, dtype=np.float32)
            if depth.shape != (self.camera.height, self.camera.width):
                raise DataError(
                    f'Frame.depth shape {depth.shape} does not match the camera '
                    f'{self.camera.height}x{self.camera.width} (HxW)')
            depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan))
            object.__setattr__(self, 'depth', depth.astype(np.float32, copy=False))
        if self.points is not None:
            points = np.asarray(self.points, dtype=np.float32)
            if points.ndim != 2 or points.shape[1] != 3:
                raise DataError(f'Frame.points must be (N, 3), got shape {points.shape}')
            object.__setattr__(self, 'points', points)

    def world_points(self) -> np.ndarray:
        """(N, 3) float32 world-frame points of every valid depth pixel (or the stored points)."""
        if self.depth is None:
            assert self.points is not None
            return self.points
        cam = self.camera
        v, u = np.nonzero(np.isfinite(self.depth))
        z = self.depth[v, u].astype(np.float64)
        local = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], axis=1)
        world = local @ self.camera_to_world[:3, :3].T + self.camera_to_world[:3, 3]
        return world.astype(np.float32)

    @property
    def camera_position(self) -> np.ndarray:
        """(3,) camera centre in the world frame."""
        return self.camera_to_world[:3, 3].copy()


@dataclass
class Sequence:
    """Time-ordered frames of one recording.

    Attributes:
        frames: the frames, sorted by stamp (checked).
        name: a human-readable name (scene or recording).
        world_frame: name of the fixed frame the poses are expressed in.
    """

    frames: list[Frame] = field(default_factory=list)
    name: str = 'sequence'
    world_frame: str = DEFAULT_WORLD_FRAME

    def __post_init__(self) -> None:
        stamps = [f.stamp for f in self.frames]
        if any(b < a for a, b in zip(stamps, stamps[1:], strict=False)):
            raise DataError(f'Sequence {self.name!r}: frame stamps are not sorted')

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]
