"""Depth image bytes <-> float32 metres, as in REP 118 (no ROS imports).

Shared by the rosbag2 code (``scenemem_ros.data.bag``) and the ROS edge
(``scenemem_ros.ros.conversions``), so a depth image decodes the same whether it came from a bag
or from a live topic.

Supported encodings:

* ``32FC1``: float32 metres; NaN, +-Inf and values <= 0 are invalid.
* ``16UC1`` (and its alias ``mono16``, which some depth drivers publish): uint16 millimetres;
  0 is invalid. Encoding rounds to the nearest millimetre; depths beyond 65.535 m become 0.

Both honour the ``step`` (bytes per row, possibly padded) and ``is_bigendian`` fields of a
``sensor_msgs/msg/Image``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scenemem_ros.data.errors import DataError

ENCODING_32FC1 = '32FC1'
ENCODING_16UC1 = '16UC1'

# encoding -> (numpy little-endian dtype, metres per stored unit)
_FORMATS: dict[str, tuple[str, float]] = {
    ENCODING_32FC1: ('<f4', 1.0),
    ENCODING_16UC1: ('<u2', 1e-3),
    'mono16': ('<u2', 1e-3),
}

#: Encodings accepted by :func:`decode_depth`.
DECODABLE_ENCODINGS = tuple(_FORMATS)
#: Encodings produced by :func:`encode_depth`.
ENCODABLE_ENCODINGS = (ENCODING_32FC1, ENCODING_16UC1)

_MAX_16UC1_MM = np.iinfo(np.uint16).max


def _format(encoding: str) -> tuple[np.dtype, float]:
    try:
        dtype, scale = _FORMATS[encoding]
    except (KeyError, TypeError):
        raise DataError(f'unsupported depth encoding {encoding!r}; expected one of '
                        f'{list(DECODABLE_ENCODINGS)}') from None
    return np.dtype(dtype), scale


def encode_depth(depth_m: np.ndarray, encoding: str = ENCODING_32FC1, *,
                 big_endian: bool = False, step: int | None = None) -> tuple[np.ndarray, int]:
    """(H, W) float metres -> ((step * H,) uint8 image bytes, step).

    Args:
        depth_m: (H, W) depth in metres; NaN, Inf and values <= 0 mark invalid pixels.
        encoding: ``'32FC1'`` (float32 metres, NaN invalid) or ``'16UC1'`` (uint16 millimetres,
            0 invalid; rounded, values above 65535 mm become 0).
        big_endian: store the samples big-endian (set ``Image.is_bigendian`` to match).
        step: bytes per row; None packs rows tightly, a larger value pads each row with zeros.

    Returns:
        The image bytes as a flat uint8 array (what rosbags serializes; use ``.tobytes()`` for an
        rclpy message) and the row step in bytes.

    Raises:
        DataError: an unknown encoding, a non-2-D array or a step shorter than a row.
    """
    if encoding not in ENCODABLE_ENCODINGS:
        raise DataError(f'cannot encode depth as {encoding!r}; expected one of '
                        f'{list(ENCODABLE_ENCODINGS)}')
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise DataError(f'depth must be a (H, W) array, got shape {depth.shape}')
    dtype, scale = _format(encoding)
    if big_endian:
        dtype = dtype.newbyteorder('>')
    height, width = depth.shape
    row_bytes = width * dtype.itemsize
    if step is None:
        step = row_bytes
    if step < row_bytes:
        raise DataError(f'step {step} is shorter than a row of {width} x {dtype.itemsize} bytes')
    valid = np.isfinite(depth) & (depth > 0)
    if encoding == ENCODING_32FC1:
        samples = np.where(valid, depth, np.nan).astype(dtype)
    else:
        with np.errstate(invalid='ignore'):
            mm = np.rint(np.where(valid, depth, 0.0) / scale)
        mm[(mm < 0) | (mm > _MAX_16UC1_MM)] = 0
        samples = mm.astype(dtype)
    raw = samples.view(np.uint8).reshape(height, row_bytes)
    if step == row_bytes:
        return np.ascontiguousarray(raw).reshape(-1), step
    padded = np.zeros((height, step), dtype=np.uint8)
    padded[:, :row_bytes] = raw
    return padded.reshape(-1), step


def decode_depth(data: Any, width: int, height: int, step: int, encoding: str,
                 is_bigendian: bool | int = False) -> np.ndarray:
    """Image bytes -> (H, W) float32 metres with NaN where invalid.

    Args:
        data: the ``Image.data`` buffer (bytes, bytearray, memoryview, array.array, a uint8 numpy
            array or a list of ints), ``step * height`` bytes long.
        width, height: image size in pixels.
        step: bytes per row, at least ``width`` times the sample size (larger means padding).
        encoding: ``'32FC1'``, ``'16UC1'`` or ``'mono16'``.
        is_bigendian: byte order of the samples.

    Raises:
        DataError: an unknown encoding, a bad size or step, or a buffer of the wrong length.
    """
    dtype, scale = _format(encoding)
    if is_bigendian:
        dtype = dtype.newbyteorder('>')
    width, height, step = int(width), int(height), int(step)
    if width <= 0 or height <= 0:
        raise DataError(f'depth image size must be > 0, got {width}x{height}')
    row_bytes = width * dtype.itemsize
    if step < row_bytes:
        raise DataError(f'depth image step {step} is shorter than a row of {width} {encoding} '
                        f'pixels ({row_bytes} bytes)')
    if isinstance(data, (list, tuple)):
        buffer = np.asarray(data, dtype=np.uint8)
    else:
        try:
            buffer = np.frombuffer(data, dtype=np.uint8)
        except (TypeError, ValueError) as exc:
            raise DataError(f'depth image data is not a byte buffer: {exc}') from None
    if buffer.size != step * height:
        raise DataError(f'depth image data holds {buffer.size} bytes, expected step * height = '
                        f'{step} * {height} = {step * height}')
    rows = buffer.reshape(height, step)[:, :row_bytes]
    samples = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    if encoding == ENCODING_32FC1:
        depth = samples.astype(np.float32)
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
        return depth
    depth = samples.astype(np.float32) * np.float32(scale)
    depth[samples == 0] = np.nan
    return depth
