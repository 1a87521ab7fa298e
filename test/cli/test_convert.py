"""``scenemem convert``: dataset readers -> rosbag2 bags that read back equal."""

from __future__ import annotations

import numpy as np
import pytest
from cli_fixtures import make_tum, parse_json, run_cli, wall_depth

from scenemem_ros.data.bag import bag_info, read_sequence_bag
from scenemem_ros.data.convert import render_points_depth
from scenemem_ros.data.frame import Frame
from scenemem_ros.data.readers import TumReader
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at


@pytest.mark.parametrize('encoding, atol', [('32FC1', 0.0), ('16UC1', 5e-4 + 1e-6)])
def test_tum_converts_to_a_bag_that_reads_back_equal(tmp_path, capsys, encoding, atol):
    source = make_tum(tmp_path)
    bag = tmp_path / 'tum_bag'
    status, out, err = run_cli(['convert', '--format', 'tum', source, '--out', bag,
                                '--encoding', encoding, '--json'], capsys)
    assert status == 0, err
    summary = parse_json(out)
    assert summary['frames'] == 3 and summary['rendered_from_points'] == 0
    meta = (bag / 'metadata.yaml').read_text()
    assert 'version: 8' in meta and 'storage_identifier: sqlite3' in meta
    assert {t.name for t in bag_info(bag).topics} == {
        '/camera/depth/image_rect', '/camera/depth/camera_info', '/camera/pose'}
    expected = TumReader(source).read()
    result = read_sequence_bag(bag)
    assert result.report.total_skipped == 0 and result.sequence.world_frame == 'map'
    assert len(result.sequence) == len(expected)
    for got, want in zip(result.sequence, expected, strict=True):
        assert got.stamp == pytest.approx(want.stamp, abs=1e-9)
        assert got.camera == want.camera
        np.testing.assert_allclose(got.camera_to_world, want.camera_to_world, atol=1e-9)
        np.testing.assert_array_equal(np.isnan(got.depth), np.isnan(want.depth))
        valid = np.isfinite(want.depth)
        np.testing.assert_allclose(got.depth[valid], want.depth[valid], rtol=0, atol=atol)


def test_subsampling_and_mcap(tmp_path, capsys):
    source = make_tum(tmp_path, stamps=(1.0, 1.1, 1.2, 1.3, 1.4))
    bag = tmp_path / 'every_other'
    status, out, _ = run_cli(['convert', '--format', 'tum', source, '--out', bag, '--stride',
                              '2', '--storage', 'mcap'], capsys)
    assert status == 0 and 'frames: 3' in out
    assert bag_info(bag).storage == 'mcap' and len(read_sequence_bag(bag).sequence) == 3


def test_help_names_the_topics_and_the_point_only_rule(capsys):
    status, out, _ = run_cli(['convert', '--help'], capsys)
    assert status == 0
    for text in ('/camera/depth/image_rect', 'ros2 bag play', 'sparse depth', 'hd-epic'):
        assert text in ' '.join(out.split())


def test_bad_input_gives_one_clear_line_and_status_2(tmp_path, capsys):
    status, _, err = run_cli(['convert', '--format', 'kitti', tmp_path, '--out',
                              tmp_path / 'b'], capsys)
    assert status == 2 and "invalid choice: 'kitti'" in err
    status, _, err = run_cli(['convert', '--format', 'tum', tmp_path / 'nowhere', '--out',
                              tmp_path / 'b'], capsys)
    assert status == 2 and 'missing' in err and 'Traceback' not in err
    source = make_tum(tmp_path)
    status, _, err = run_cli(['convert', '--format', 'tum', source, '--out',
                              tmp_path / 'x.bag'], capsys)
    assert status == 2 and 'must not end in .bag' in err
    (tmp_path / 'taken').mkdir()
    status, _, err = run_cli(['convert', '--format', 'tum', source, '--out',
                              tmp_path / 'taken'], capsys)
    assert status == 2 and 'exists already' in err
    status, _, err = run_cli(['convert', '--format', 'tum', source, '--out', tmp_path / 'b',
                              '--reader-option', 'stride'], capsys)
    assert status == 2 and 'KEY=VALUE' in err
    status, _, err = run_cli(['convert', '--format', 'tum', source, '--out', tmp_path / 'b',
                              '--reader-option', 'nope=1'], capsys)
    assert status == 2 and 'no option' in err


def test_point_only_frames_become_sparse_depth(tmp_path, capsys):
    # an InternData-layout episode (written by the occupancy export) holds point-only frames
    from scenemem_ros.data.frame import Sequence
    from scenemem_ros.export import OccupancyExportConfig, compute_occupancy, write_episode

    camera = PinholeCamera(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
    frames = []
    for i in range(3):
        pose = look_at([0.2 * i, 0.0, 1.0], [3.0, 0.3 * i, 1.1])
        depth = wall_depth(camera, pose).astype(np.float32)
        frames.append(Frame(stamp=float(i) / 30, camera=camera, camera_to_world=pose,
                            depth=depth))
    config = OccupancyExportConfig(voxel_size=0.1, pc_range=(-2, 0, -1.2, 2, 4, 1.4))
    write_episode(compute_occupancy(Sequence(frames), config), tmp_path / 'episode')
    bag = tmp_path / 'points_bag'
    status, out, err = run_cli(['convert', '--format', 'interndata', tmp_path / 'episode',
                                '--reader-option', 'cloud_file=origin_pcd.ply', '--out', bag,
                                '--json'], capsys)
    assert status == 0, err
    summary = parse_json(out)
    assert summary['frames'] == 3 and summary['rendered_from_points'] == 3
    assert 0.02 < summary['valid_pixel_share'] < 1.0
    for frame in read_sequence_bag(bag).sequence:
        points = frame.world_points()
        assert len(points) > 50 and np.abs(points[:, 0] - 3.0).max() < 0.06  # on the wall


def test_render_points_depth_keeps_the_nearest_point():
    camera = PinholeCamera(fx=10.0, fy=10.0, cx=4.5, cy=4.5, width=10, height=10)
    pose = np.eye(4)
    points = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [5.0, 0.0, 1.0]])
    depth = render_points_depth(points, camera, pose)
    assert np.isfinite(depth).sum() == 1  # behind the camera and outside the image: dropped
    assert depth[4, 4] == 1.0  # u = v = 4.5 rounds to 4; the nearer of the two points wins
