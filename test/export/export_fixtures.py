"""An exactly rendered box room (numpy ray-box intersection) for the export tests."""

from __future__ import annotations

import numpy as np

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at

ROOM_LOW = np.array([0.0, 0.0, 0.0])
ROOM_HIGH = np.array([6.0, 5.0, 2.5])
CAMERA = PinholeCamera(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)


def room_depth(camera: PinholeCamera, camera_to_world: np.ndarray) -> np.ndarray:
    """(H, W) float32 z-depth of the inside of the room box seen from inside it."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                     np.ones_like(u)], axis=-1)
    directions = rays @ camera_to_world[:3, :3].T
    origin = camera_to_world[:3, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        t_low = (ROOM_LOW - origin) / directions
        t_high = (ROOM_HIGH - origin) / directions
    exits = np.where(directions > 0, t_high, np.where(directions < 0, t_low, np.inf))
    return exits.min(axis=-1).astype(np.float32)  # rays have z = 1: t is the depth


def room_pose(index: int) -> np.ndarray:
    """A camera 1.2 m up walking along x and looking around (yaw and pitch change)."""
    eye = np.array([1.0 + 0.15 * index, 1.5 + 0.05 * index, 1.2])
    yaw = 0.15 * index
    pitch = -0.15 + 0.05 * (index % 3)
    target = eye + [np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)]
    return look_at(eye, target)


def room_frames(count: int = 6, camera: PinholeCamera = CAMERA) -> Sequence:
    frames = [Frame(stamp=100.0 + i / 30.0, camera=camera, camera_to_world=room_pose(i),
                    depth=room_depth(camera, room_pose(i))) for i in range(count)]
    return Sequence(frames=frames, name='room')


def surface_distance(points: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N,) distance to the nearest room wall, floor or ceiling."""
    return np.minimum(np.abs(points - ROOM_LOW), np.abs(points - ROOM_HIGH)).min(axis=1)
