"""Moved or replaced: the detector compares the slot encoder's shapes of a removal and an
addition (the bundled encoder, real torch on the CPU) before calling them one move."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from change_scenes import TABLE, apartment, walk

from scenemem_ros.changes import ChangeDetector, ChangeDetectorConfig, ChangeLabel
from scenemem_ros.changes.shapes import ChangeShape, shape_distance
from scenemem_ros.encoder import EncoderSession
from scenemem_ros.memory.overrides import Box

MOVED = ((5.5, 0.6, 0.0), (6.3, 1.4, 0.8))  # the table's box, elsewhere
# a table of the same box, but a top on four legs instead of a solid block
LEGGED = [((5.5, 0.6, 0.75), (6.3, 1.4, 0.8))] + [
    ((x, y, 0.0), (x + 0.06, y + 0.06, 0.75)) for x in (5.5, 6.24) for y in (0.6, 1.34)]


@pytest.fixture(scope='module')
def encoder():
    return EncoderSession(track=False).encode_frame


def replay(base, config, extra, encoder):
    detector = ChangeDetector(base, config, shape_encoder=encoder)
    for frame in walk(apartment(extra=extra, without_table=True)):
        detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
    return detector


def labels(detector):
    return sorted(o.label for o in detector.live_overrides().values())


def test_the_same_object_elsewhere_is_one_move(base, detector_config, encoder):
    detector = replay(base, detector_config, [MOVED], encoder)
    assert labels(detector) == [ChangeLabel.OBJECT_MOVED.value]
    move = next(iter(detector.live_overrides().values()))
    assert move.moved_from is not None
    assert move.moved_from.intersection_over_union(Box(*TABLE)) >= 0.25
    tracks = list(detector.tracks.values())
    assert all(t.shape is not None for t in tracks)
    distance = detector.shape_distance(*sorted(tracks, key=lambda t: t.addition))
    assert distance is not None and distance <= detector_config.move_shape_tolerance


def test_a_different_object_of_the_same_box_is_no_move(base, detector_config, encoder):
    # boxes alone call it a move ...
    assert labels(replay(base, detector_config, LEGGED, None)) == \
        [ChangeLabel.OBJECT_MOVED.value]
    # ... the shapes tell the legged table from the block
    detector = replay(base, detector_config, LEGGED, encoder)
    assert labels(detector) == [ChangeLabel.OBJECT_ADDED.value, ChangeLabel.OBJECT_REMOVED.value]
    removal, addition = sorted(detector.tracks.values(), key=lambda t: t.addition)
    distance = detector.shape_distance(removal, addition)
    assert distance is not None and distance > detector_config.move_shape_tolerance


class NoSlots:
    """An encoder that finds nothing: every look at a shape comes back empty."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, 0

    def __call__(self, depth, camera, camera_to_world):
        self.calls += 1
        slots = self.encoder(depth, camera, camera_to_world)
        return replace(slots, existence=np.zeros_like(slots.existence))


def test_changes_whose_shape_cannot_be_seen_fall_back_to_boxes(base, detector_config,
                                                               encoder):
    blind = NoSlots(encoder)
    detector = replay(base, detector_config, [MOVED], blind)
    assert labels(detector) == [ChangeLabel.OBJECT_MOVED.value]
    assert blind.calls >= 2
    assert all(t.shape is None and t.shape_looks >= 1 for t in detector.tracks.values())


def test_shapes_are_looked_at_only_every_few_frames(base, encoder):
    config = ChangeDetectorConfig(shape_every=1000)
    detector = replay(base, config, [MOVED], encoder)
    assert all(t.shape_looks == 1 for t in detector.tracks.values())
    off = replay(base, replace(config, move_shape_tolerance=0.0), [MOVED], encoder)
    assert all(t.shape_looks == 0 for t in off.tracks.values())


class Failing:
    """An encoder that raises: detection goes on, the error is counted, boxes decide."""

    def __call__(self, depth, camera, camera_to_world):
        raise RuntimeError('no GPU memory left')


def test_an_encoder_that_fails_costs_only_the_shapes(base, detector_config):
    detector = replay(base, detector_config, [MOVED], Failing())
    assert labels(detector) == [ChangeLabel.OBJECT_MOVED.value]
    assert detector.shape_errors >= 2 and 'no GPU memory left' in detector.last_shape_error


def test_cached_distances_follow_replaced_shapes(base, detector_config, encoder):
    detector = replay(base, detector_config, [MOVED], encoder)
    removal, addition = sorted(detector.tracks.values(), key=lambda t: t.addition)
    assert detector.shape_distance(removal, addition) is not None
    seen = addition.shape.points
    for step in range(20):  # freed shapes' ids are reused by new ones: never a stale distance
        addition.shape = ChangeShape(seen * [1.0, 1.0, 1.0 + step % 2], 1)
        expected = shape_distance(removal.shape, addition.shape, detector.shape_config)
        assert detector.shape_distance(removal, addition) == pytest.approx(expected)
