"""``scenemem eval changes``: first sight counts pixels that show the change, and the whole
evaluation runs end to end on a small changed world of the bundled scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenemem_ros.data.frame import Frame
from scenemem_ros.errors import SceneMemError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.memory.overrides import Box
from scenemem_ros.training.change_eval import (
    ChangeEvalConfig,
    evaluate_changes,
    gauss_markov,
    jittered_poses,
    sight_pixels,
)

MODEL = Path(__file__).resolve().parents[2] / 'models' / 'memory_demo.npz'
CAMERA = PinholeCamera(fx=10.0, fy=10.0, cx=4.0, cy=3.0, width=8, height=6)


def frame_looking_along_z(depth: np.ndarray) -> Frame:
    return Frame(stamp=0.0, camera=CAMERA, camera_to_world=np.eye(4),
                 depth=depth.astype(np.float32))


def test_pixels_on_surface_the_change_left_alone_are_no_sight():
    """A wall 3 m ahead lies in the changed region's box, but only the left half of the image
    sees something different (a new opening: 5 m instead of 3 m)."""
    before = np.full((6, 8), 3.0, np.float32)
    after = before.copy()
    after[:, :4] = 5.0
    box = Box((-10.0, -10.0, 2.5), (10.0, 10.0, 5.5))
    frame = frame_looking_along_z(after)
    assert sight_pixels(frame, [box], None, 0.1) == 48          # old rule: all in the box
    assert sight_pixels(frame, [box], (before, after), 0.1) == 24  # only the opening
    assert sight_pixels(frame, [box], (before, before), 0.1) == 0


def test_a_change_seen_outside_every_box_is_no_sight_and_nan_counts_as_different():
    before = np.full((6, 8), 3.0, np.float32)
    after = before.copy()
    after[0, 0] = np.nan          # the surface vanished (out of range now)
    after[5, 7] = 1.0             # something appeared 1 m ahead
    box_far = Box((-10.0, -10.0, 2.5), (10.0, 10.0, 3.5))
    box_near = Box((-10.0, -10.0, 0.5), (10.0, 10.0, 1.5))
    frame = frame_looking_along_z(after)
    assert sight_pixels(frame, [box_far], (before, after), 0.1) == 2   # both: before in box
    assert sight_pixels(frame, [box_near], (before, after), 0.1) == 1  # the new surface only
    far_away = Box((20.0, 20.0, 20.0), (21.0, 21.0, 21.0))
    assert sight_pixels(frame, [far_away], (before, after), 0.1) == 0


@pytest.fixture(scope='module')
def blocked_world(tmp_path_factory):
    from scenemem_ros.cli import main

    out = tmp_path_factory.mktemp('eval') / 'blocked'
    assert main(['world', '--seed', '31', '--out', str(out), '--change', 'doorway_blocked',
                 '--frames', '60', '--width', '160', '--height', '120']) == 0
    return out


def test_eval_changes_scores_a_blocked_doorway_end_to_end(blocked_world, capsys):
    from scenemem_ros.cli import main

    status = main(['eval', 'changes', '--model', str(MODEL), '--world', str(blocked_world),
                   '--unchanged-frames', '20', '--json'])
    assert status == 0
    results = json.loads(capsys.readouterr().out)
    for key in ('precision', 'recall', 'f1', 'voxel_f1', 'false_per_1000_frames',
                'frames_to_detect', 'per_kind'):
        assert key in results
    world = results['worlds'][0]
    assert world['kind'] == 'doorway_blocked' and world['found'], world
    assert results['recall'] == 1.0 and results['per_kind']['doorway_blocked']['found'] == 1
    assert world['first_sight_frame'] is not None
    assert world['frames_to_detect'] == max(world['published_frame'] -
                                            world['first_sight_frame'], 0)
    assert results['unchanged_frames'] == 20


def test_first_sight_ignores_the_box_before_the_change_is_in_view(blocked_world):
    results = evaluate_changes(MODEL, [blocked_world],
                               eval_config=ChangeEvalConfig(unchanged_frames=0))
    strict = evaluate_changes(MODEL, [blocked_world],
                              eval_config=ChangeEvalConfig(unchanged_frames=0,
                                                           sight_tolerance=1e9))
    # with an impossible tolerance no pixel ever shows the change
    assert strict['worlds'][0]['first_sight_frame'] is None
    assert results['worlds'][0]['first_sight_frame'] is not None


def test_gauss_markov_has_its_spread_and_its_memory():
    rng = np.random.default_rng(3)
    stamps = np.arange(20000) * 0.1
    values = gauss_markov(stamps, 0.05, 2.0, 2, rng)
    assert values.shape == (20000, 2)
    assert np.allclose(values.std(axis=0), 0.05, rtol=0.1)
    lag = 10   # 1 s apart: correlation exp(-1 / 2)
    correlation = np.mean(values[lag:] * values[:-lag]) / np.mean(values * values)
    assert correlation == pytest.approx(np.exp(-0.5), abs=0.05)
    assert not gauss_markov(stamps[:5], 0.0, 2.0, 1, rng).any()


def test_pose_drift_is_planar_and_slow_and_jitter_is_not():
    count = 400
    poses = np.repeat(np.eye(4)[None], count, axis=0)
    # an optical frame looking along world +x: right = -y, down = -z, forward = +x
    poses[:, :3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    poses[:, 2, 3] = 1.2
    stamps = np.arange(count) / 30.0
    drift = jittered_poses(poses, ChangeEvalConfig(pose_drift_m=0.05, pose_drift_deg=1.0,
                                                   pose_drift_s=5.0), stamps)
    assert np.array_equal(drift[:, 2, 3], poses[:, 2, 3])        # height untouched
    assert np.allclose(drift[:, :3, 1], [0, 0, -1])              # down stays down: no roll
    assert np.allclose(drift[:, 2, 2], 0)                        # forward stays level
    headings = np.degrees(np.arctan2(drift[:, 1, 2], drift[:, 0, 2]))
    assert 0.2 < np.std(headings) < 3                            # a yaw about world z
    steps = np.linalg.norm(np.diff(drift[:, :2, 3], axis=0), axis=1)
    assert 0 < np.median(steps) < 0.01                           # slow: ~5 cm over seconds
    jitter = jittered_poses(poses, ChangeEvalConfig(pose_noise_m=0.05))
    assert np.median(np.linalg.norm(np.diff(jitter[:, :2, 3], axis=0), axis=1)) > 0.03
    with pytest.raises(SceneMemError, match='stamp'):
        jittered_poses(poses, ChangeEvalConfig(pose_drift_m=0.05))
    with pytest.raises(SceneMemError, match='time constant'):
        ChangeEvalConfig(pose_drift_s=0.0)
