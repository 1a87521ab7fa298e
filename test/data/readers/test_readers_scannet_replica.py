"""ScanNet (SensReader export) and Replica (NICE-SLAM) readers on fixture files."""

from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import plane_depth, write_png

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, ReplicaReader, ScanNetReader, SequenceSource
from scenemem_ros.data.readers.replica import REPLICA_CAMERA
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at

SCANNET_CAMERA = PinholeCamera(fx=57.7, fy=57.9, cx=31.6, cy=24.2, width=64, height=48)
FLOOR = ([0.0, 0.0, 1.0], 0.0)  # z = 0


def _scannet_pose(i: int) -> np.ndarray:
    return look_at([1.0 + 0.2 * i, 2.0, 1.5], [2.0 + 0.2 * i, 4.0, 0.0])


def make_scannet(root, bit_depth=16):
    scene = root / 'scene0000_00'
    intrinsic = np.eye(4)
    intrinsic[:3, :3] = SCANNET_CAMERA.matrix
    (scene / 'intrinsic').mkdir(parents=True)
    np.savetxt(scene / 'intrinsic' / 'intrinsic_depth.txt', intrinsic, fmt='%f')
    (scene / 'pose').mkdir()
    for i in range(4):
        pose = _scannet_pose(i)
        depth_mm = np.round(plane_depth(SCANNET_CAMERA, pose, *FLOOR) * 1000)
        write_png(scene / 'depth' / f'{i}.png', np.clip(depth_mm, 0, 255) if bit_depth == 8
                  else depth_mm, bit_depth)
        if i == 2:  # lost tracking, as ScanNet writes it
            pose = np.full((4, 4), -np.inf)
        np.savetxt(scene / 'pose' / f'{i}.txt', pose, fmt='%f')
    return scene


def test_scannet_floor_lands_on_the_floor(tmp_path):
    reader = ScanNetReader(make_scannet(tmp_path))
    assert isinstance(reader, SequenceSource) and READERS['scannet'] is ScanNetReader
    assert reader.camera == SCANNET_CAMERA and reader.skipped_invalid_poses == 1
    sequence = reader.read()
    assert [f.stamp * 30 for f in sequence] == pytest.approx([0, 1, 3])
    for frame in sequence:
        number = round(frame.stamp * 30)
        np.testing.assert_allclose(frame.camera_to_world, _scannet_pose(number), atol=1e-6)
        expected = plane_depth(SCANNET_CAMERA, _scannet_pose(number), *FLOOR)
        valid = np.isfinite(frame.depth)
        np.testing.assert_array_equal(valid, expected > 0.0005)
        np.testing.assert_allclose(frame.depth[valid], expected[valid], atol=6e-4)
        assert np.abs(frame.world_points()[:, 2]).max() < 0.01
    assert len(ScanNetReader(tmp_path / 'scene0000_00', stride=2)) == 2


@pytest.mark.parametrize('case', ['missing_pose', 'short_pose', 'eight_bit', 'not_rigid',
                                  'missing_intrinsics'])
def test_scannet_malformed_inputs_name_the_file(tmp_path, case):
    scene = make_scannet(tmp_path, bit_depth=8 if case == 'eight_bit' else 16)
    target = scene / 'pose' / '1.txt'
    if case == 'missing_pose':
        target.unlink()
    elif case == 'short_pose':
        np.savetxt(target, np.eye(4)[:3], fmt='%f')
    elif case == 'not_rigid':
        np.savetxt(target, np.diag([1.0, 1.0, -1.0, 1.0]), fmt='%f')
    elif case == 'eight_bit':
        target = scene / 'depth' / '0.png'
    elif case == 'missing_intrinsics':
        target = scene / 'intrinsic' / 'intrinsic_depth.txt'
        target.unlink()
    with pytest.raises(DataError, match=str(target)):
        ScanNetReader(scene).read()


def _replica_pose(i: int) -> np.ndarray:
    return look_at([0.5 * i, -1.0, 1.2], [0.5 * i + 1.0, 2.0, 0.3])


def make_replica(root, frames=2):
    scene = root / 'room0'
    rows = []
    for i in range(frames):
        depth = plane_depth(REPLICA_CAMERA, _replica_pose(i), *FLOOR)
        depth[depth > 10.0] = 0.0  # beyond the 16-bit range of the 6553.5 scale
        write_png(scene / 'results' / f'depth{i:06d}.png', np.round(depth * 6553.5))
        rows.append(' '.join(f'{v:.10e}' for v in _replica_pose(i).reshape(-1)))  # row-major
    (scene / 'traj.txt').write_text('\n'.join(rows) + '\n')
    return scene


def test_replica_scale_intrinsics_and_row_major_poses(tmp_path):
    reader = ReplicaReader(make_replica(tmp_path))
    assert READERS['replica'] is ReplicaReader
    assert reader.camera == PinholeCamera(fx=600.0, fy=600.0, cx=599.5, cy=339.5, width=1200,
                                          height=680)
    for i, frame in enumerate(reader):
        np.testing.assert_allclose(frame.camera_to_world, _replica_pose(i), atol=1e-9)
        expected = plane_depth(REPLICA_CAMERA, _replica_pose(i), *FLOOR)
        valid = np.isfinite(frame.depth)
        np.testing.assert_array_equal(valid, (expected > 0) & (expected <= 10.0))
        np.testing.assert_allclose(frame.depth[valid], expected[valid], atol=1 / 6553.5)
        assert np.abs(frame.world_points()[:, 2]).max() < 2e-3


@pytest.mark.parametrize('case', ['short_traj', 'columns', 'no_results'])
def test_replica_malformed_inputs_name_the_file(tmp_path, case):
    scene = make_replica(tmp_path)
    traj = scene / 'traj.txt'
    target = traj
    if case == 'short_traj':
        traj.write_text(traj.read_text().splitlines()[0] + '\n')
    elif case == 'columns':
        traj.write_text(traj.read_text() + '1 2 3\n')
    else:
        for png in (scene / 'results').glob('*.png'):
            png.unlink()
        target = scene / 'results'
    with pytest.raises(DataError, match=str(target)):
        ReplicaReader(scene)
