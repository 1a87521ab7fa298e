"""``scenemem export occupancy``: bags, world folders and dataset readers -> L3ROcc episodes."""

from __future__ import annotations

import json

import numpy as np
from cli_fixtures import make_tum, parse_json, run_cli, wall_depth

from scenemem_ros.data.bag import write_sequence_bag
from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.export import OccupancyExportConfig, compute_occupancy, read_episode
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at

CAMERA = PinholeCamera(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
SMALL = ['--voxel-size', '0.1', '--range', '-2', '0', '-1.2', '2', '4', '1.4']


def wall_sequence(count: int = 4) -> Sequence:
    frames = []
    for i in range(count):
        pose = look_at([0.2 * i, 0.0, 1.0], [3.0, 0.3 * i, 1.1])
        frames.append(Frame(stamp=10.0 + i / 30, camera=CAMERA, camera_to_world=pose,
                            depth=wall_depth(CAMERA, pose).astype(np.float32)))
    return Sequence(frames=frames, name='wall')


def test_a_bag_exports_to_what_the_library_computes(tmp_path, capsys):
    sequence = wall_sequence()
    bag = write_sequence_bag(sequence, tmp_path / 'run')
    out = tmp_path / 'episode'
    status, text, err = run_cli(['export', 'occupancy', bag, '--out', out, *SMALL,
                                 '--history-len', '2', '--history-step', '1', '--task',
                                 'look at the wall', '--json'], capsys)
    assert status == 0, err
    summary = parse_json(text)
    assert summary['frames'] == 4 and summary['grid'] == [40, 40, 26]
    assert summary['occupied_per_frame'] > 10
    episode = read_episode(out)
    config = OccupancyExportConfig(voxel_size=0.1, pc_range=(-2, 0, -1.2, 2, 4, 1.4),
                                   history_len=2, history_step=1, task='look at the wall')
    expected = compute_occupancy(sequence, config)
    assert episode.config == expected.config
    assert (episode.occupancy != expected.occupancy).nnz == 0
    np.testing.assert_array_equal(episode.visibility, expected.visibility)
    tasks = (out / 'meta' / 'tasks.jsonl').read_text()
    assert json.loads(tasks)['task'] == 'look at the wall'


def test_a_world_folder_and_a_dataset_reader(tmp_path, capsys):
    world = tmp_path / 'world_run'
    write_sequence_bag(wall_sequence(), world / 'before_bag')
    status, text, err = run_cli(['export', 'occupancy', world, '--out', tmp_path / 'a',
                                 *SMALL], capsys)
    assert status == 0, err
    assert 'frames: 4' in text
    status, text, err = run_cli(['export', 'occupancy', make_tum(tmp_path), '--format', 'tum',
                                 '--out', tmp_path / 'b', '--max-frames', '2', '--json'],
                                capsys)
    assert status == 0, err
    assert parse_json(text)['frames'] == 2 and parse_json(text)['grid'] == [100, 140, 60]
    info = json.loads((tmp_path / 'b' / 'meta' / 'info.json').read_text())
    assert info['total_frames'] == 2 and info['fps'] == 10.0  # TUM fixture stamps 0.1 s apart


def test_bad_settings_and_sources_give_status_2(tmp_path, capsys):
    bag = write_sequence_bag(wall_sequence(2), tmp_path / 'run')
    status, _, err = run_cli(['export', 'occupancy', bag, '--out', tmp_path / 'x', '--range',
                              '1', '0', '0', '2', '2', '2'], capsys)
    assert status == 2 and 'pc_range must contain the camera' in err
    status, _, err = run_cli(['export', 'occupancy', tmp_path / 'nothing', '--out',
                              tmp_path / 'x'], capsys)
    assert status == 2 and 'no such bag' in err
    status, _, err = run_cli(['export', 'occupancy', bag, '--out', tmp_path / 'x',
                              '--reader-option', 'depth_topic=/nope'], capsys)
    assert status == 2 and "'/nope' is not in the bag" in err
    status, _, _ = run_cli(['export', 'occupancy', bag, '--out', tmp_path / 'x', *SMALL],
                           capsys)
    assert status == 0
    status, _, err = run_cli(['export', 'occupancy', bag, '--out', tmp_path / 'x', *SMALL],
                             capsys)
    assert status == 2 and 'exists already' in err
    status, out, _ = run_cli(['export', 'occupancy', '--help'], capsys)
    assert status == 0 and 'occ_sequence.npz' in out


def test_train_memory_reads_a_recording_through_the_rosbag_reader(tmp_path, capsys):
    sequence = wall_sequence(3)
    bag = write_sequence_bag(sequence, tmp_path / 'rec')
    status, text, err = run_cli(['train', 'memory', '--dataset', 'rosbag', bag, '--out',
                                 tmp_path / 'memory.npz', '--steps', '2', '--quiet', '--json'],
                                capsys)
    assert status == 0, err
    result = parse_json(text)
    assert result['frames_total'] == 3 and result['steps'] == 2
    assert (tmp_path / 'memory.npz').is_file()
