"""Encoder data: synthetic clips with instance ids, banks, resizing, the motorcycle frame."""

import numpy as np
import pytest
import torch

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.training.encoder_data import (
    SyntheticSpec,
    bank_from_clips,
    motorcycle_frame,
    resize_frame,
)


def test_synthetic_clips_have_consecutive_frames_and_instance_ids(tiny_clips):
    assert [clip.world for clip in tiny_clips] == ['composition_0', 'apartment_1']
    for clip in tiny_clips:
        assert len(clip.frames) == 3
        assert clip.instance_ids.shape == (3, 24, 32)
        hit = clip.instance_ids >= 0
        depth = np.stack([f.depth for f in clip.frames])
        # every pixel with depth hit something (noise may drop a few depths)
        assert (hit | ~np.isfinite(depth)).all()
        assert np.isfinite(depth[hit]).mean() > 0.9
        steps = np.diff([f.camera_position for f in clip.frames], axis=0)
        assert np.linalg.norm(steps, axis=1).max() < 0.2  # 10 Hz consecutive poses


def test_synthetic_clips_carry_the_true_depth_of_the_same_rays(tiny_clips):
    for clip in tiny_clips:
        assert clip.true_depth is not None and clip.true_depth.shape == (3, 24, 32)
        sensor = np.stack([f.depth for f in clip.frames])
        both = np.isfinite(sensor) & np.isfinite(clip.true_depth)
        assert both.mean() > 0.5
        error = np.abs(sensor[both] - clip.true_depth[both])
        assert np.median(error) < 0.05  # the same surfaces ...
        assert error.max() > 0  # ... seen through the noise
        # dropouts leave no hole in the truth
        assert (np.isfinite(clip.true_depth) & ~np.isfinite(sensor)).any()


def test_bank_takes_the_true_depth_as_its_target_only_when_every_clip_has_one(tiny_clips):
    frames = [c.frames for c in tiny_clips]
    bank = bank_from_clips(frames, 12, 16, [c.true_depth for c in tiny_clips])
    assert bank.target_depth is not None and bank.target_depth.shape == bank.depth.shape
    assert not torch.equal(torch.nan_to_num(bank.target_depth), torch.nan_to_num(bank.depth))
    assert bank_from_clips(frames, 12, 16, [tiny_clips[0].true_depth, None]).target_depth \
        is None
    with pytest.raises(EncoderError, match='true depths'):
        bank_from_clips(frames, 12, 16, [tiny_clips[0].true_depth])


def test_bank_keeps_clips_of_full_length(tiny_clips):
    bank = bank_from_clips([c.frames for c in tiny_clips] + [tiny_clips[0].frames[:1]], 12, 16)
    assert bank.depth.shape == (7, 12, 16)
    assert bank.clips.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_resize_keeps_rays_through_the_same_points():
    camera = PinholeCamera.from_fov(64, 48, 70.0)
    depth = np.arange(64 * 48, dtype=np.float32).reshape(48, 64)
    small, scaled = resize_frame(depth, camera, 24, 32)
    assert small.shape == (24, 32) and (scaled.width, scaled.height) == (32, 24)
    assert small[0, 0] == depth[1, 1]
    assert scaled.fx == pytest.approx(camera.fx / 2)


def test_motorcycle_depth_is_metric():
    frame = motorcycle_frame()
    valid = np.isfinite(frame.depth)
    assert frame.depth.shape == (frame.camera.height, frame.camera.width)
    assert 0.9 < valid.mean() < 0.95
    assert 2.0 < np.nanmin(frame.depth) and np.nanmax(frame.depth) < 5.1


def test_spec_names_the_bad_field():
    with pytest.raises(EncoderError, match='worlds'):
        SyntheticSpec(worlds=0)
