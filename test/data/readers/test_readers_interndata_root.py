"""InternData reader: a dataset root (or any folder above one trajectory) is accepted."""

from __future__ import annotations

import pytest

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers.interndata import trajectory_folder


def _trajectory(folder):
    (folder / 'meta').mkdir(parents=True)
    (folder / 'meta' / 'info.json').write_text('{}')
    return folder


def test_the_one_trajectory_below_a_root_is_found(tmp_path):
    trajectory = _trajectory(tmp_path / 'traj_data' / 'matterport3d_zed' / 'scene' /
                             'trajectory_1')
    assert trajectory_folder(tmp_path) == trajectory
    assert trajectory_folder(trajectory) == trajectory


def test_several_or_no_trajectories_are_named(tmp_path):
    _trajectory(tmp_path / 'scene' / 'trajectory_1')
    _trajectory(tmp_path / 'scene' / 'trajectory_2')
    with pytest.raises(DataError, match='holds 2 trajectories.*trajectory_1.*trajectory_2'):
        trajectory_folder(tmp_path)
    with pytest.raises(DataError, match='missing LeRobot info.json'):
        trajectory_folder(tmp_path / 'scene' / 'trajectory_1' / 'meta')
    with pytest.raises(DataError, match='missing InternData trajectory folder'):
        trajectory_folder(tmp_path / 'nowhere')
