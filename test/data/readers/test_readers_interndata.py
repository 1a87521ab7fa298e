"""InternData-N1 (LeRobot v2.1) reader: a fixture trajectory and the real Matterport example."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, InternDataReader, SequenceSource

REAL = (Path(__file__).resolve().parents[3] / '..' / 'shared' / 'data' / 'interndata_n1_example'
        / 'traj_data' / 'matterport3d_zed' / '1LXtFkjw3qL' / 'trajectory_1')
K = [[168.0498046875, 0.0, 240.0], [0.0, 192.8, 135.0], [0.0, 0.0, 1.0]]
# base -> camera mount of the real example: 0.4365 m up, +90 deg about x
MOUNT = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.4365],
         [0.0, 0.0, 0.0, 1.0]]


def _action(x: float) -> np.ndarray:
    """world_from_camera (OpenGL axes) of a robot at (x, 0) facing +x, camera 0.4365 m up."""
    base = np.eye(4)
    base[:3, :3] = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # base y forward = +x
    base[:3, 3] = [x, 0.0, 0.0]
    return base @ np.asarray(MOUNT)


def make_interndata(root, rows=4, drop=None, action_shape=(4, 4)):
    import open3d as o3d
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / 'trajectory_1'
    (folder / 'meta').mkdir(parents=True)
    (folder / 'data' / 'chunk-000').mkdir(parents=True)
    features = {name: {'dtype': 'float32', 'shape': [3, 3] if 'intrinsic' in name else [4, 4]}
                for name in ('observation.camera_intrinsic', 'observation.camera_extrinsic',
                             'action')}
    features.update({name: {'dtype': 'int64', 'shape': [1]}
                     for name in ('frame_index', 'episode_index', 'task_index')})
    info = {'codebase_version': 'v2.1', 'fps': 30, 'total_frames': 2 * rows, 'chunks_size': 1000,
            'data_path': 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet',
            'features': features}
    (folder / 'meta' / 'info.json').write_text(json.dumps(info))
    actions = [_action(0.5 * i)[:action_shape[0], :action_shape[1]].tolist()
               for i in range(rows)]
    columns = {'index': list(range(rows)), 'observation.camera_intrinsic': [K] * rows,
               'observation.camera_extrinsic': [MOUNT] * rows, 'action': actions}
    if drop:
        columns.pop(drop)
    pq.write_table(pa.table(columns), folder / 'data' / 'chunk-000' / 'episode_000000.parquet')
    # a wall at x = 4 (in view) and one at x = -4 (behind), 1 m high, on a floor at z = 0
    y, z = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(0.0, 1.0, 11))
    wall = np.stack([np.full(y.size, 4.0), y.ravel(), z.ravel()], axis=1)
    behind = wall * [-1.0, 1.0, 1.0]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.vstack([wall, behind])))
    o3d.io.write_point_cloud(str(folder / 'data' / 'chunk-000' / 'path.ply'), cloud)
    return folder


def test_fixture_poses_points_and_missing_columns(tmp_path):
    reader = InternDataReader(make_interndata(tmp_path))
    assert isinstance(reader, SequenceSource) and READERS['interndata'] is InternDataReader
    assert reader.missing_columns == ['episode_index', 'frame_index', 'task_index']
    assert reader.declared_frames == 8 and len(reader) == 4
    assert len(reader.cloud) == 2 * 231
    sequence = reader.read()
    np.testing.assert_allclose([f.stamp for f in sequence], np.arange(4) / 30)
    for i, frame in enumerate(sequence):
        assert (frame.camera.width, frame.camera.height) == (480, 270)
        np.testing.assert_allclose(frame.camera_position, [0.5 * i, 0.0, 0.4365], atol=1e-6)
        np.testing.assert_allclose(frame.camera_to_world[:3, 2], [1.0, 0.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(frame.camera_to_world[:3, 1], [0.0, 0.0, -1.0], atol=1e-6)
        np.testing.assert_allclose(reader.base_poses[i][:3, 3], [0.5 * i, 0.0, 0.0], atol=1e-6)
        # only the wall ahead, within the frustum and max_range
        assert len(frame.points) > 0 and np.all(frame.points[:, 0] == pytest.approx(4.0))
    near = InternDataReader(tmp_path / 'trajectory_1', max_range=3.0).read()
    # the wall is 4.0, 3.5, 3.0 (+ 4 cm down to its nearest point) and 2.5 m away
    assert [len(f.points) > 0 for f in near] == [False, False, False, True]


@pytest.mark.parametrize('case', ['no_action', 'bad_shape', 'bad_version', 'no_cloud'])
def test_malformed_inputs_name_the_file(tmp_path, case):
    folder = make_interndata(tmp_path, drop='action' if case == 'no_action' else None,
                             action_shape=(3, 4) if case == 'bad_shape' else (4, 4))
    target = folder / 'data' / 'chunk-000' / 'episode_000000.parquet'
    if case == 'bad_version':
        target = folder / 'meta' / 'info.json'
        target.write_text(target.read_text().replace('v2.1', 'v3.0'))
    elif case == 'no_cloud':
        target = folder / 'data' / 'chunk-000' / 'path.ply'
        target.unlink()
    with pytest.raises(DataError, match=str(target)):
        InternDataReader(folder).read()


@pytest.mark.skipif(not REAL.is_dir(), reason=f'real InternData example absent: {REAL}')
def test_real_matterport_trajectory():
    reader = InternDataReader(REAL, hidden_point_removal=True)
    assert reader.declared_frames == 104 and len(reader) == 52
    assert reader.missing_columns == ['episode_index', 'frame_index', 'task_index', 'timestamp']
    cloud = reader.cloud
    assert cloud.shape == (72445, 3)
    floor = np.percentile(cloud[:, 2], 2)
    positions = reader.camera_poses[:, :3, 3]
    heights = positions[:, 2] - floor
    assert np.all(np.abs(heights - 0.44) < 0.05)  # ZED 0.4365 m above the floor
    np.testing.assert_allclose(reader.base_poses[:, 2, 3], floor, atol=0.05)
    np.testing.assert_allclose(reader.base_poses[:, 2, :3], [[0.0, 0.0, 1.0]] * 52, atol=1e-5)
    forward = reader.camera_poses[:, :3, 2]
    assert np.abs(forward[:, 2]).max() < 0.01  # looks horizontally
    travel = np.diff(positions, axis=0)
    travel /= np.linalg.norm(travel, axis=1, keepdims=True)
    assert np.mean(np.sum(forward[:-1] * travel, axis=1) > 0.9) > 0.9  # looks where it goes
    assert np.all(reader.camera_poses[:, :3, 1] @ [0.0, 0.0, 1.0] < -0.99)  # image down = down
    lo, hi = cloud.min(axis=0), cloud.max(axis=0)
    assert np.all((positions[:, :2] > lo[:2]) & (positions[:, :2] < hi[:2]))
    frames = list(InternDataReader(REAL, stride=17))
    for frame in frames:
        local = (frame.points - frame.camera_position) @ frame.camera_to_world[:3, :3]
        assert len(frame.points) > 1000 and np.all(local[:, 2] > 0)
        assert np.linalg.norm(local, axis=1).max() <= 5.0 + 1e-3
