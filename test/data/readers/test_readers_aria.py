"""Aria MPS (HD-EPIC) and Ego-Exo4D readers on fixture CSVs in the published column layout."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, AriaMpsReader, EgoExo4DReader, SequenceSource

GRAPH = '40084458-f219-16ca-0c3c-8bd94ee06e6c'
TRAJECTORY_HEADER = (
    'graph_uid,tracking_timestamp_us,utc_timestamp_ns,tx_world_device,ty_world_device,'
    'tz_world_device,qx_world_device,qy_world_device,qz_world_device,qw_world_device,'
    'device_linear_velocity_x_device,device_linear_velocity_y_device,'
    'device_linear_velocity_z_device,angular_velocity_x_device,angular_velocity_y_device,'
    'angular_velocity_z_device,gravity_x_world,gravity_y_world,gravity_z_world,quality_score')
# Row of projectaria_tools core/mps/test/TestStaticCameraCalibration.cpp (leading space kept).
GOPRO = (
    'cam_uid,graph_uid,tx_world_cam,ty_world_cam,tz_world_cam,qx_world_cam,qy_world_cam,'
    'qz_world_cam,qw_world_cam,image_width,image_height,intrinsics_type,intrinsics_0,'
    'intrinsics_1,intrinsics_2,intrinsics_3,intrinsics_4,intrinsics_5,intrinsics_6,'
    'intrinsics_7,start_frame_idx,end_frame_idx\n'
    f' cam01,{GRAPH},1.691723,0.545741,-0.116511,-0.437056,-0.661141,0.501553,0.346871,3840,'
    '2160,KANNALABRANDTK3,1761.275757,1761.275757,1920.000000,1080.000000,0.036902,0.057131,'
    '-0.057154,0.018458,-1,-1\n')
T0_US = 1_000_000  # device clock, arbitrary origin
S = np.sin(np.pi / 4)


def make_mps(folder, gravity=(0.0, 0.0, -9.81), shuffle=False, observations=True,
             xyz=None):
    """2 s of 1 kHz poses: the device moves along +x, yawed 90 deg (device x -> world y)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [TRAJECTORY_HEADER]
    stamps = T0_US + np.arange(2001) * 1000
    if shuffle:
        stamps[[10, 11]] = stamps[[11, 10]]
    for us in stamps:
        x = (us - T0_US) * 1e-6
        rows.append(f'{GRAPH},{us},-1,{x:.6f},0,1.5,0,0,{S:.9f},{S:.9f},0,0,0,0,0,0,'
                    f'{gravity[0]},{gravity[1]},{gravity[2]},1')
    (folder / 'closed_loop_trajectory.csv').write_text('\n'.join(rows) + '\n')
    points = ['uid,graph_uid,px_world,py_world,pz_world,inv_dist_std,dist_std']
    xyz = [(uid * 0.1, 3.0, 1.0) for uid in range(20)] if xyz is None else xyz
    points += [f'{uid},{GRAPH},{x},{y},{z},0.001,0.005' for uid, (x, y, z) in enumerate(xyz)]
    points += [f'100,{GRAPH},0,0,0,0.05,0.005',   # inverse-distance too uncertain
               f'101,{GRAPH},0,0,0,0.001,0.5',    # distance too uncertain
               '102,other-graph,0,0,0,0.001,0.005']
    with gzip.open(folder / 'semidense_points.csv.gz', 'wt') as handle:
        handle.write('\n'.join(points) + '\n')
    if observations:
        obs = ['uid,frame_tracking_timestamp_us,camera_serial,u,v']
        for uid in [*range(20), 100, 101, 102]:  # point uid seen at t = uid * 0.1 s (+ 1 ms)
            obs.append(f'{uid},{T0_US + (uid % 20) * 100_000 + 1000},1WM103600M1292,10.5,20.5')
        with gzip.open(folder / 'semidense_observations.csv.gz', 'wt') as handle:
            handle.write('\n'.join(obs) + '\n')
    return folder


def test_poses_points_and_sampling(tmp_path):
    reader = AriaMpsReader(make_mps(tmp_path / 'P01' / 'slam'), sample_rate_hz=5.0)
    assert isinstance(reader, SequenceSource) and READERS['hd-epic'] is AriaMpsReader
    assert reader.graph_uid == GRAPH and len(reader.points) == 20
    sequence = reader.read()
    assert len(sequence) == 11  # 0, 0.2, ..., 2.0 s
    np.testing.assert_allclose([f.stamp for f in sequence], 1.0 + 0.2 * np.arange(11))
    for frame in sequence:
        x = frame.stamp - 1.0
        np.testing.assert_allclose(frame.camera_position, [x, 0.0, 1.5], atol=1e-6)
        # qx qy qz qw = (0, 0, sin 45, cos 45): a +90 deg yaw, so device x -> world +y
        np.testing.assert_allclose(frame.camera_to_world[:3, 0], [0.0, 1.0, 0.0], atol=1e-6)
        # seen within +-0.1 s: uid k (at x + 1 ms) and k - 1 (x - 99 ms), not k + 1 (x + 101
        # ms); the filtered uids 100-102, seen at 0, 0.1 and 0.2 s, never appear
        k = round(x / 0.1)
        expected = [uid for uid in range(20) if k - 1 <= uid <= k]
        np.testing.assert_allclose(np.sort(frame.points[:, 0]), np.array(expected) * 0.1,
                                   atol=1e-6)
        assert frame.depth is None


def test_frustum_fallback_without_observations(tmp_path):
    # points straight above the device (its optical z is world up here), 0.5 m apart
    xyz = [(0.01 * i, 0.0, 2.0 + 0.5 * i) for i in range(20)]
    folder = make_mps(tmp_path / 'mps', observations=False, xyz=xyz)
    frame = AriaMpsReader(folder, max_frames=1, max_range=4.0).read()[0]
    # device at z 1.5: points 0.5 .. 3.5 m ahead are kept; the one at 4.0 m (plus 7 cm aside)
    # and farther ones are beyond max_range
    np.testing.assert_allclose(np.sort(frame.points[:, 2]), 2.0 + 0.5 * np.arange(7),
                               atol=1e-6)


def test_ego_exo4d_take_with_static_cameras(tmp_path):
    take = tmp_path / 'takes' / 'cmu_bike01_2'
    make_mps(take / 'trajectory')
    (take / 'trajectory' / 'gopro_calibs.csv').write_text(GOPRO)
    reader = READERS['ego-exo4d'](take, max_frames=2)
    assert isinstance(reader, EgoExo4DReader) and reader.name == 'cmu_bike01_2'
    assert len(reader.read()) == 2
    camera = reader.static_cameras['cam01']
    assert (camera.width, camera.height, camera.start_frame_idx) == (3840, 2160, None)
    np.testing.assert_allclose(camera.world_from_camera[:3, 3], [1.691723, 0.545741, -0.116511])
    assert np.linalg.det(camera.world_from_camera[:3, :3]) == pytest.approx(1.0)
    pinhole = camera.pinhole()
    assert (pinhole.fx, pinhole.cx, pinhole.cy) == pytest.approx((1761.275757, 1920.0, 1080.0))


@pytest.mark.parametrize('case', ['unsorted', 'tilted', 'missing_column', 'missing_points',
                                  'bad_gopro'])
def test_malformed_inputs_name_the_file(tmp_path, case):
    folder = make_mps(tmp_path / 'take' / 'trajectory', shuffle=case == 'unsorted',
                      gravity=(0.0, -9.81, 0.0) if case == 'tilted' else (0.0, 0.0, -9.81))
    target = folder / 'closed_loop_trajectory.csv'
    if case == 'missing_column':
        text = target.read_text().replace('qw_world_device', 'qw')
        target.write_text(text)
    elif case == 'missing_points':
        target = folder / 'semidense_points.csv.gz'
        target.unlink()
    elif case == 'bad_gopro':
        target = folder / 'gopro_calibs.csv'
        target.write_text(GOPRO.replace('KANNALABRANDTK3', 'FISHEYE624'))
    with pytest.raises(DataError, match=str(target)):
        EgoExo4DReader(tmp_path / 'take')
