"""The reader registry, the shared protocol, options validation and the shared helpers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from reader_fixtures import write_png

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, open_source
from scenemem_ros.data.readers._common import associate_nearest, load_png16, visible_points
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at


def test_registry_names_and_shared_shape():
    assert set(READERS) == {'tum', 'scannet', 'replica', 'synthia', 'hd-epic', 'ego-exo4d',
                            'interndata', 'rosbag'}
    for reader in READERS.values():
        options = reader.Options
        assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen
        # isinstance(instance, SequenceSource) is checked on real instances in each test file
        for method in ('__iter__', '__len__', 'read'):
            assert callable(getattr(reader, method))


@pytest.mark.parametrize('name', sorted(READERS))
@pytest.mark.parametrize('bad', [{'stride': 0}, {'start': -1}, {'max_frames': 0}])
def test_options_are_validated(name, bad):
    field, value = next(iter(bad.items()))
    with pytest.raises(DataError, match=f'{field}.*{value}'):
        READERS[name].Options(**bad)


def test_unknown_format_and_option(tmp_path):
    with pytest.raises(DataError, match='unknown dataset format'):
        open_source('kitti', tmp_path)
    with pytest.raises(DataError, match='no option'):
        open_source('tum', tmp_path, strides=2)
    with pytest.raises(DataError, match='missing'):
        open_source('replica', tmp_path / 'nowhere')


def test_png16_checks_bit_depth_channels_and_signature(tmp_path):
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    write_png(tmp_path / 'ok.png', values)
    np.testing.assert_array_equal(load_png16(tmp_path / 'ok.png'), values)
    rgb = np.stack([values, values + 1, values + 2], axis=-1)
    write_png(tmp_path / 'rgb.png', rgb)
    np.testing.assert_array_equal(load_png16(tmp_path / 'rgb.png', channels=3), rgb)
    write_png(tmp_path / 'eight.png', values.astype(np.uint8), 8)
    with pytest.raises(DataError, match='16-bit.*eight.png'):
        load_png16(tmp_path / 'eight.png')
    with pytest.raises(DataError, match='1-channel.*rgb.png'):
        load_png16(tmp_path / 'rgb.png')
    (tmp_path / 'fake.png').write_bytes(b'not a png at all, just text' * 3)
    with pytest.raises(DataError, match='not a PNG.*fake.png'):
        load_png16(tmp_path / 'fake.png')


def test_associate_nearest_matches_a_naive_loop():
    rng = np.random.default_rng(0)
    reference = np.sort(rng.uniform(0, 10, 200))
    query = rng.uniform(-1, 11, 300)
    result = associate_nearest(query, reference, 0.03)
    for q, r in zip(query, result, strict=True):
        gaps = np.abs(reference - q)
        if gaps.min() <= 0.03:
            assert gaps[r] == gaps.min()
        else:
            assert r == -1


def test_visible_points_matches_a_naive_loop():
    rng = np.random.default_rng(1)
    camera = PinholeCamera(fx=50.0, fy=40.0, cx=31.5, cy=23.5, width=64, height=48)
    pose = look_at([0.5, -1.0, 1.0], [3.0, 2.0, 0.5])
    points = rng.uniform(-5, 5, (2000, 3))
    kept = visible_points(points, pose, camera, max_range=4.0)
    expected = []
    for p in points:
        x, y, z = np.linalg.inv(pose)[:3] @ np.append(p, 1.0)
        if z > 0 and np.linalg.norm([x, y, z]) <= 4.0:
            u, v = camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy
            if -0.5 <= u < camera.width - 0.5 and -0.5 <= v < camera.height - 0.5:
                expected.append(p)
    np.testing.assert_allclose(kept, np.array(expected).reshape(-1, 3))
