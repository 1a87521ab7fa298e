"""TUM RGB-D reader on fixture files written in the published layout."""

from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import plane_depth, quaternion_xyzw, write_png

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, SequenceSource, TumReader
from scenemem_ros.data.readers.tum import TUM_INTRINSICS
from scenemem_ros.geometry.transforms import look_at

WALL_X = 3.0
DEPTH_STAMPS = [1.000, 1.033, 1.066, 5.000]  # the last has no groundtruth nearby


def _pose(t: float) -> np.ndarray:
    return look_at([0.1 * t, 0.2, 1.0], [WALL_X, 0.5 * t, 1.2])


def make_tum(root, name='rgbd_dataset_freiburg3_walls', bit_depth=16):
    folder = root / name
    (folder / 'depth').mkdir(parents=True)
    camera = TUM_INTRINSICS['freiburg3']
    lines = ['# depth maps', '# file: fixture', '# timestamp filename']
    for stamp in DEPTH_STAMPS:
        depth = plane_depth(camera, _pose(stamp), [1.0, 0.0, 0.0], WALL_X)
        values = np.round(depth * 5000).astype(np.uint16) if bit_depth == 16 else (
            np.clip(depth * 10, 0, 255).astype(np.uint8))
        write_png(folder / 'depth' / f'{stamp:.6f}.png', values, bit_depth)
        lines.append(f'{stamp:.6f} depth/{stamp:.6f}.png')
    (folder / 'depth.txt').write_text('\n'.join(lines) + '\n')
    gt = ['# ground truth trajectory', '# timestamp tx ty tz qx qy qz qw']
    for stamp in np.arange(0.99, 1.10, 0.01):
        pose = _pose(stamp)
        q = quaternion_xyzw(pose[:3, :3])
        gt.append(f'{stamp:.4f} ' + ' '.join(f'{v:.7f}' for v in [*pose[:3, 3], *q]))
    (folder / 'groundtruth.txt').write_text('\n'.join(gt) + '\n')
    return folder


def test_depth_intrinsics_and_poses_put_the_wall_back(tmp_path):
    reader = TumReader(make_tum(tmp_path))
    assert isinstance(reader, SequenceSource) and READERS['tum'] is TumReader
    assert reader.camera == TUM_INTRINSICS['freiburg3']
    assert reader.skipped_unposed == 1 and len(reader) == 3
    sequence = reader.read()
    assert [f.stamp for f in sequence] == DEPTH_STAMPS[:3]
    for frame in sequence:
        expected = plane_depth(frame.camera, _pose(frame.stamp), [1.0, 0.0, 0.0], WALL_X)
        valid = np.isfinite(frame.depth)
        assert valid.mean() > 0.99 and np.all(np.isnan(frame.depth[expected == 0]))
        np.testing.assert_allclose(frame.depth[valid], expected[valid], atol=2e-4)
        # nearest groundtruth stamp is within 5 ms: pose error bounded by the motion
        np.testing.assert_allclose(frame.camera_to_world, _pose(frame.stamp), atol=0.01)
        points = frame.world_points()
        assert np.abs(points[:, 0] - WALL_X).max() < 0.02


def test_intrinsics_option_override_and_subsampling(tmp_path):
    folder = make_tum(tmp_path, name='my_recording_without_sensor_name')
    with pytest.raises(DataError, match='intrinsics'):
        TumReader(folder)
    reader = TumReader(folder, intrinsics='freiburg3', stride=2)
    assert len(reader) == 2 and reader.camera.fx == 535.4
    custom = TUM_INTRINSICS['ros']
    assert TumReader(folder, camera=custom, max_frames=1).camera == custom
    assert len(TumReader(folder, intrinsics='freiburg3', start=1, max_frames=5)) == 2


def test_association_window(tmp_path):
    folder = make_tum(tmp_path)
    assert len(TumReader(folder, max_time_difference=5.0)) == 4


@pytest.mark.parametrize('case', ['missing_gt', 'eight_bit', 'columns', 'unsorted', 'nan_pose',
                                  'missing_png'])
def test_malformed_inputs_name_the_file(tmp_path, case):
    folder = make_tum(tmp_path, bit_depth=8 if case == 'eight_bit' else 16)
    gt = folder / 'groundtruth.txt'
    target = {'missing_gt': gt, 'columns': gt, 'unsorted': gt, 'nan_pose': gt,
              'eight_bit': folder / 'depth', 'missing_png': folder / 'depth'}[case]
    lines = gt.read_text().splitlines()
    if case == 'missing_gt':
        gt.unlink()
    elif case == 'columns':
        gt.write_text('\n'.join(lines + ['2.0 1 2 3 0 0 0']) + '\n')
    elif case == 'unsorted':
        gt.write_text('\n'.join(lines[:2] + [lines[3], lines[2]] + lines[4:]) + '\n')
    elif case == 'nan_pose':
        gt.write_text('\n'.join(lines + ['2.0 nan 0 0 0 0 0 1']) + '\n')
    elif case == 'missing_png':
        next((folder / 'depth').glob('*.png')).unlink()
    with pytest.raises(DataError, match=str(target).replace('\\', '\\\\')):
        TumReader(folder).read()
