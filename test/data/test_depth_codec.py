"""Depth codec: REP 118 encodings with hand-built odd buffers (padding, big-endian)."""

from __future__ import annotations

import array

import numpy as np
import pytest

from scenemem_ros.data.depth_codec import decode_depth, encode_depth
from scenemem_ros.data.errors import DataError


def _padded(samples: np.ndarray, pad: int, fill: int = 0xAB) -> tuple[bytes, int]:
    """(H, W) typed samples -> bytes with ``pad`` garbage bytes after each row, and the step."""
    raw = samples.view(np.uint8).reshape(samples.shape[0], -1)
    rows = np.full((raw.shape[0], raw.shape[1] + pad), fill, dtype=np.uint8)
    rows[:, :raw.shape[1]] = raw
    return rows.tobytes(), rows.shape[1]


def _depth() -> np.ndarray:
    depth = np.linspace(0.3, 9.0, 5 * 7, dtype=np.float32).reshape(5, 7)
    depth[1, 2] = np.nan
    return depth


def test_32fc1_round_trip_is_exact_and_invalid_becomes_nan():
    depth = _depth().astype(np.float64)
    depth[0, 0], depth[0, 1], depth[0, 2] = np.inf, -1.0, 0.0
    data, step = encode_depth(depth, '32FC1')
    assert data.dtype == np.uint8 and step == 7 * 4 and data.size == 5 * step
    out = decode_depth(data, 7, 5, step, '32FC1', False)
    assert out.dtype == np.float32 and out.shape == (5, 7)
    invalid = np.zeros((5, 7), bool)
    invalid[0, :3] = True
    invalid[1, 2] = True
    np.testing.assert_array_equal(np.isnan(out), invalid)
    np.testing.assert_array_equal(out[~invalid], depth.astype(np.float32)[~invalid])


def test_16uc1_round_trip_rounds_to_millimetres():
    depth = _depth().astype(np.float64)
    depth[4, 6] = 70.0  # beyond 65.535 m: not representable, becomes invalid
    depth[4, 5] = 0.0004  # rounds to 0 mm: invalid
    data, step = encode_depth(depth, '16UC1')
    assert step == 7 * 2
    samples = data.view('<u2').reshape(5, 7)
    assert samples[1, 2] == 0 and samples[4, 6] == 0 and samples[4, 5] == 0
    assert samples[0, 0] == 300
    out = decode_depth(data.tobytes(), 7, 5, step, '16UC1', 0)
    expected_nan = np.isnan(depth) | (depth > 65.535) | (depth < 0.0005)
    np.testing.assert_array_equal(np.isnan(out), expected_nan)
    assert np.abs(out[~expected_nan] - depth[~expected_nan]).max() <= 0.0005 + 1e-6


def test_decode_honours_step_padding_32fc1():
    depth = _depth()
    data, step = _padded(depth.astype('<f4'), pad=5)  # odd padding: rows are unaligned
    out = decode_depth(data, 7, 5, step, '32FC1', False)
    np.testing.assert_array_equal(out, depth)


@pytest.mark.parametrize('encoding', ['16UC1', 'mono16'])
def test_decode_big_endian_padded_16uc1(encoding):
    mm = np.array([[0, 1, 258, 65535], [1000, 2500, 0, 513]], dtype='>u2')
    data, step = _padded(mm, pad=4)
    out = decode_depth(data, 4, 2, step, encoding, True)
    expected = mm.astype(np.float64) / 1000
    expected[mm == 0] = np.nan
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # The same bytes read little-endian give different (wrong) numbers: byte order matters.
    assert not np.allclose(decode_depth(data, 4, 2, step, encoding, False), out,
                           equal_nan=True)


def test_decode_big_endian_32fc1():
    depth = _depth()
    data, step = _padded(depth.astype('>f4'), pad=3)
    out = decode_depth(bytearray(data), 7, 5, step, '32FC1', 1)
    np.testing.assert_array_equal(out, depth)


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_encode_big_endian_with_step_round_trips(encoding):
    depth = _depth()
    data, step = encode_depth(depth, encoding, big_endian=True, step=7 * 4 + 6)
    assert step == 34 and data.size == 5 * 34
    out = decode_depth(data, 7, 5, step, encoding, True)
    tol = 0 if encoding == '32FC1' else 0.0005 + 1e-6
    np.testing.assert_allclose(out, depth, atol=tol)


@pytest.mark.parametrize('kind', ['bytes', 'memoryview', 'array', 'list'])
def test_decode_accepts_common_buffers(kind):
    depth = _depth()
    data, step = encode_depth(depth, '32FC1')
    buffer = {'bytes': data.tobytes(), 'memoryview': memoryview(data.tobytes()),
              'array': array.array('B', data.tobytes()), 'list': data.tolist()}[kind]
    np.testing.assert_array_equal(decode_depth(buffer, 7, 5, step, '32FC1'), depth)


@pytest.mark.parametrize('args, match', [
    ((b'\0' * 40, 5, 2, 20, 'rgb8', False), 'unsupported depth encoding'),
    ((b'\0' * 39, 5, 2, 20, '32FC1', False), 'holds 39 bytes, expected'),
    ((b'\0' * 41, 5, 2, 20, '32FC1', False), 'holds 41 bytes'),
    ((b'\0' * 40, 5, 2, 19, '32FC1', False), 'step 19 is shorter'),
    ((b'', 0, 2, 0, '16UC1', False), 'size must be > 0'),
    ((object(), 5, 2, 20, '32FC1', False), 'not a byte buffer'),
])
def test_decode_rejects_bad_input(args, match):
    with pytest.raises(DataError, match=match):
        decode_depth(*args)


def test_encode_rejects_bad_input():
    with pytest.raises(DataError, match='cannot encode depth as'):
        encode_depth(np.ones((2, 2)), 'mono8')
    with pytest.raises(DataError, match='shape'):
        encode_depth(np.ones((2, 2, 1)), '32FC1')
    with pytest.raises(DataError, match='shorter than a row'):
        encode_depth(np.ones((2, 3)), '16UC1', step=5)
