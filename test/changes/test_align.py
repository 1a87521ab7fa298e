"""Registration of a frame to the memory before comparing (a localiser's pose error)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from change_scenes import apartment, walk
from scipy.spatial.transform import Rotation

from scenemem_ros.changes import ChangeDetector, ChangeDetectorConfig
from scenemem_ros.changes.align import IDENTITY, align_to_memory


def _off(pose: np.ndarray, metres: tuple[float, float], degrees: float) -> np.ndarray:
    """The pose a localiser off by a planar shift and a yaw would report."""
    wrong = pose.copy()
    wrong[:3, :3] = Rotation.from_euler('z', degrees, degrees=True).as_matrix() @ pose[:3, :3]
    wrong[:2, 3] += metres
    return wrong


def _error(pose: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    delta = np.linalg.inv(truth) @ pose
    return (float(np.linalg.norm(delta[:3, 3])),
            float(np.rad2deg(Rotation.from_matrix(delta[:3, :3]).magnitude())))


@pytest.fixture(scope='module')
def aligning(detector_config) -> ChangeDetectorConfig:
    return replace(detector_config, align_iterations=10, align_width=160)


def test_a_frame_off_by_centimetres_and_a_degree_is_put_back(base, aligning):
    frames = walk(apartment(), count=8, width=320, height=240, noise=0.003)
    errors = []
    for frame, (shift, turn) in zip(frames, [((0.05, -0.03), 1.0), ((-0.04, 0.02), -0.8)] * 4,
                                    strict=True):
        wrong = _off(frame.camera_to_world, shift, turn)
        alignment = align_to_memory(base, aligning, frame.depth, frame.camera, wrong)
        assert alignment.accepted and alignment.rms_after < alignment.rms_before
        errors.append(_error(wrong @ alignment.correction, frame.camera_to_world))
    metres, degrees = np.median(errors, axis=0)
    assert metres < 0.015 and degrees < 0.3, errors


def test_alignment_is_off_by_default_and_refuses_what_it_cannot_trust(base, detector_config,
                                                                     aligning):
    frame = walk(apartment(), count=3, width=320, height=240)[1]
    assert align_to_memory(base, detector_config, frame.depth, frame.camera,
                           frame.camera_to_world) is IDENTITY
    blank = np.full_like(frame.depth, np.nan)      # nothing to align on
    assert align_to_memory(base, aligning, blank, frame.camera, frame.camera_to_world) \
        is IDENTITY
    strict = replace(aligning, align_max_shift=0.01, align_max_turn_deg=0.1)
    far_off = _off(frame.camera_to_world, (0.06, 0.0), 1.5)
    refused = align_to_memory(base, strict, frame.depth, frame.camera, far_off)
    assert not refused.accepted and np.array_equal(refused.correction, np.eye(4))


def test_a_drifting_localiser_raises_no_removals_once_frames_are_aligned(base, detector_config,
                                                                        aligning):
    frames = walk(apartment(), count=20, width=320, height=240, noise=0.003)
    removed = {}
    for name, config in (('exact', detector_config), ('aligned', aligning)):
        detector = ChangeDetector(base, config)
        removed[name] = 0
        for frame in frames:
            wrong = _off(frame.camera_to_world, (0.05, 0.03), 1.0)
            report = detector.process(frame.depth, frame.camera, wrong, frame.stamp)
            removed[name] += report.evidence.removed_pixels
        if name == 'aligned':
            assert _error(detector.world_correction @ wrong, frame.camera_to_world)[0] < 0.02
    assert removed['exact'] > 1000
    assert removed['aligned'] < 0.1 * removed['exact'], removed
