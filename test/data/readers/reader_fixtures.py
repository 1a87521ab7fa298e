"""Helpers for the reader tests: PNG writing and ray-cast depth of a known plane."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from scenemem_ros.geometry.camera import PinholeCamera


def write_png(path: Path, array: np.ndarray, bit_depth: int = 16) -> None:
    """(H, W) or (H, W, C) integers -> a PNG of ``bit_depth`` bits, written byte by byte."""
    image = np.asarray(array)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    dtype = '>u2' if bit_depth == 16 else 'u1'
    rows = image.astype(dtype).reshape(height, width * channels)
    raw = b''.join(b'\x00' + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)

    header = struct.pack('>IIBBBBB', width, height, bit_depth, colour_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
                     + chunk(b'IDAT', zlib.compress(raw, 1)) + chunk(b'IEND', b''))


def plane_depth(camera: PinholeCamera, camera_to_world: np.ndarray, normal, offset: float
                ) -> np.ndarray:
    """(H, W) z-depth of the world plane ``normal . p = offset`` seen by an OpenCV camera,
    0 where the ray misses (parallel or behind)."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                     np.ones_like(u)], axis=-1)
    directions = rays @ camera_to_world[:3, :3].T
    n = np.asarray(normal, dtype=np.float64)
    denominator = directions @ n
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (offset - n @ camera_to_world[:3, 3]) / denominator
    return np.where(np.isfinite(t) & (t > 0), t, 0.0)


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (4,) x, y, z, w (naive formula; test data only)."""
    from scenemem_ros.geometry.transforms import matrix_to_quaternion

    return matrix_to_quaternion(rotation)
