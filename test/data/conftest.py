"""Synthetic depth sequences for the data tests (no world generator, no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.geometry.camera import PinholeCamera

BASE_STAMP = 1_700_000_000.0


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3,) axis, angle (rad) -> (3, 3) rotation (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def make_sequence(count: int = 4, height: int = 48, width: int = 64, seed: int = 0,
                  dt: float = 0.1) -> Sequence:
    """``count`` frames of a tilted plane with NaN holes, moving camera, epoch-sized stamps."""
    rng = np.random.default_rng(seed)
    camera = PinholeCamera(fx=52.5, fy=51.0, cx=31.7, cy=23.2, width=width, height=height)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for i in range(count):
        depth = 1.2 + 0.5 * i + 0.013 * u + 0.021 * v + rng.uniform(0, 1e-3, (height, width))
        depth[5:9, 10:20] = np.nan
        depth[rng.random((height, width)) < 0.05] = np.nan
        pose = np.eye(4)
        pose[:3, :3] = rotation(rng.normal(size=3), rng.uniform(0.1, 3.0))
        pose[:3, 3] = rng.normal(size=3)
        frames.append(Frame(stamp=BASE_STAMP + dt * i + 0.000123, camera=camera,
                            camera_to_world=pose, depth=depth.astype(np.float32)))
    return Sequence(frames=frames, name='synthetic')


@pytest.fixture
def sequence() -> Sequence:
    return make_sequence()


@pytest.fixture
def sequence_factory():
    """The :func:`make_sequence` factory, for tests that need other sizes or counts."""
    return make_sequence
