"""ChangeDetector on exact geometry: each change kind, no false alarms, hysteresis, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from change_scenes import DOORWAY, TABLE, apartment, walk

from scenemem_ros.changes import (
    ChangeDetectionError,
    ChangeDetector,
    ChangeDetectorConfig,
    ChangeLabel,
    UpdateAction,
    compare_frame,
)
from scenemem_ros.memory.overrides import Box, OverrideKind

BLOCKER = ((3.75, 1.02, 0.0), (4.25, 1.98, 1.8))
CRATE = ((5.5, 0.8, 0.0), (6.3, 1.6, 0.9))


def run(base, config, frames):
    detector = ChangeDetector(base, config)
    log = []
    for index, frame in enumerate(frames):
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
        log += [(index, u) for u in report.updates]
    return detector, log


def only_live(detector):
    live = list(detector.live_overrides().values())
    assert len(live) == 1, [(o.label, o.region) for o in live]
    return live[0]


def test_the_unchanged_scene_publishes_nothing(base, detector_config):
    detector, log = run(base, detector_config, walk(apartment(), noise=0.003))
    assert log == [] and detector.live_overrides() == {}


def test_a_blocked_doorway_is_found_and_blocks(base, detector_config):
    detector, log = run(base, detector_config, walk(apartment(extra=[BLOCKER])))
    override = only_live(detector)
    assert override.label == ChangeLabel.DOORWAY_BLOCKED.value
    assert override.kind is OverrideKind.BLOCKED_REGION
    assert override.region.intersection_over_union(Box(*BLOCKER)) >= 0.25
    assert Box(*DOORWAY).intersection_over_union(override.region) > 0


def test_an_added_object_is_an_addition_not_a_doorway(base, detector_config):
    detector, _ = run(base, detector_config, walk(apartment(extra=[CRATE])))
    override = only_live(detector)
    assert override.label == ChangeLabel.OBJECT_ADDED.value
    assert override.region.intersection_over_union(Box(*CRATE)) >= 0.25


def test_a_removed_object_is_found(base, detector_config):
    detector, _ = run(base, detector_config, walk(apartment(without_table=True)))
    override = only_live(detector)
    assert override.label == ChangeLabel.OBJECT_REMOVED.value
    assert override.region.intersection_over_union(Box(*TABLE)) >= 0.25


def test_a_removal_and_a_similar_addition_make_one_move(base, detector_config):
    moved = ((5.5, 0.6, 0.0), (6.3, 1.4, 0.8))
    detector, log = run(base, detector_config, walk(apartment(extra=[moved],
                                                              without_table=True)))
    override = only_live(detector)
    assert override.label == ChangeLabel.OBJECT_MOVED.value
    assert override.region.intersection_over_union(Box(*moved)) >= 0.25
    assert override.moved_from is not None
    assert override.moved_from.intersection_over_union(Box(*TABLE)) >= 0.25


def test_a_change_that_goes_away_is_deleted(base, detector_config):
    frames = walk(apartment(extra=[CRATE]), count=40)
    detector, log = run(base, detector_config, frames)
    assert detector.live_overrides()
    published = next(iter(detector.live_overrides()))
    later = walk(apartment(), count=40)
    deletions = []
    for frame in later:
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world,
                                  10 + frame.stamp)
        deletions += [u for u in report.updates if u.action is UpdateAction.DELETE]
    assert [u.override_id for u in deletions] == [published]
    assert detector.live_overrides() == {}


def test_evidence_needs_several_frames(base):
    config = ChangeDetectorConfig(on_frames=3, confirm_frames=2, strong_pixels=0)
    frames = walk(apartment(extra=[CRATE]), count=40)
    frame = max(frames, key=lambda f: compare_frame(base, config, f.depth, f.camera,
                                                    f.camera_to_world).added.size)
    detector = ChangeDetector(base, config)
    published_at = None
    for step in range(6):
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world, step)
        if report.updates and published_at is None:
            published_at = step
    assert published_at == config.on_frames + config.confirm_frames - 2


def test_a_strong_glimpse_is_changed_at_once(base):
    config = ChangeDetectorConfig(on_frames=3, confirm_frames=2, strong_pixels=2)
    frames = walk(apartment(extra=[CRATE]), count=40)
    frame = max(frames, key=lambda f: compare_frame(base, config, f.depth, f.camera,
                                                    f.camera_to_world).added.size)
    evidence = compare_frame(base, config, frame.depth, frame.camera, frame.camera_to_world)
    assert np.isin(evidence.strong_added, evidence.added).all()
    assert evidence.strong_added.size
    detector = ChangeDetector(base, config)
    published_at = None
    for step in range(4):
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world, step)
        if report.updates and published_at is None:
            published_at = step
    assert published_at == config.confirm_frames - 1


def test_a_move_upgrades_the_removal_it_was_published_as(base, detector_config):
    moved = ((5.5, 0.6, 0.0), (6.3, 1.4, 0.8))
    _, log = run(base, detector_config, walk(apartment(extra=[moved], without_table=True)))
    puts = [u.override for _, u in log if u.action is UpdateAction.PUT]
    first_removal = next(o for o in puts if o.label == ChangeLabel.OBJECT_REMOVED.value)
    move = next(o for o in puts if o.label == ChangeLabel.OBJECT_MOVED.value)
    assert move.id == first_removal.id
    assert first_removal.id not in [u.override_id for _, u in log
                                    if u.action is UpdateAction.DELETE]


def loop_puts(base, config, laps=3):
    frames = walk(apartment(extra=[BLOCKER, CRATE]), count=30, noise=0.003)
    detector = ChangeDetector(base, config)
    puts = 0
    for lap in range(laps):
        for frame in frames:
            report = detector.process(frame.depth, frame.camera, frame.camera_to_world,
                                      lap * 3.0 + frame.stamp)
            puts += sum(u.action is UpdateAction.PUT for u in report.updates)
    return puts, detector


def test_reshaped_boxes_are_republished_at_most_once_per_interval(base):
    eager, _ = loop_puts(base, ChangeDetectorConfig(republish_iou=1.0, urgent_iou=1.0))
    damped, detector = loop_puts(base, ChangeDetectorConfig(republish_interval=1000.0,
                                                            urgent_iou=0.0))
    live = detector.live_overrides()
    assert len(live) == 2
    # once each, plus at most one kind change (an addition that turns out to be a doorway)
    assert damped <= len(live) + 1 < eager


@pytest.mark.parametrize('mutate, message', [
    (lambda d, p: (d[:10], p), 'camera is'),
    (lambda d, p: (d[None], p), '2D array'),
    (lambda d, p: (d, p * np.nan), 'finite 4x4'),
    (lambda d, p: (d, np.diag([2.0, 1, 1, 1]) @ p), 'rigid'),
])
def test_malformed_frames_are_refused_clearly(base, detector_config, mutate, message):
    frame = walk(apartment(), count=2)[0]
    depth, pose = mutate(frame.depth, frame.camera_to_world)
    with pytest.raises(ChangeDetectionError, match=message):
        ChangeDetector(base, detector_config).process(depth, frame.camera, pose, 0.0)


def test_nan_and_zero_depth_give_no_evidence(base, detector_config):
    frame = walk(apartment(), count=2)[0]
    detector = ChangeDetector(base, detector_config)
    for depth in (np.full_like(frame.depth, np.nan), np.zeros_like(frame.depth),
                  np.full_like(frame.depth, np.inf)):
        report = detector.process(depth, frame.camera, frame.camera_to_world, 0.0)
        assert report.evidence.compared_pixels == 0 and report.updates == []


@pytest.mark.parametrize('field, value', [('resolution', 0.0), ('on_frames', 0),
                                          ('max_range', float('nan')), ('max_score', 1),
                                          ('strong_pixels', 1), ('republish_iou', 1.5),
                                          ('urgent_iou', 0.95), ('republish_interval', -1.0),
                                          ('patch_frames', 0), ('patch_frames', 4),
                                          ('min_agreement', 1.2)])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ChangeDetectionError, match=field):
        ChangeDetectorConfig(**{field: value})


def test_removals_compared_every_other_frame_are_still_found(base, detector_config):
    from dataclasses import replace

    config = replace(detector_config, removal_every=2)
    detector = ChangeDetector(base, config)
    compared = []
    for frame in walk(apartment(without_table=True)):
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
        compared.append(report.evidence.removals_compared)
    assert compared[:4] == [True, False, True, False]
    override = only_live(detector)
    assert override.label == ChangeLabel.OBJECT_REMOVED.value
    assert override.region.intersection_over_union(Box(*TABLE)) >= 0.25


def test_time_going_back_does_not_break_the_tracks(base, detector_config):
    """A bag replayed a second time: stamps restart while a change is being tracked."""
    frames = walk(apartment(extra=[CRATE]), count=20)
    detector = ChangeDetector(base, detector_config)
    published = []
    for _lap in range(2):
        for frame in frames:
            report = detector.process(frame.depth, frame.camera, frame.camera_to_world,
                                      frame.stamp)
            published += [u for u in report.updates if u.action is UpdateAction.PUT]
    span = frames[-1].stamp - frames[0].stamp
    # the clock went on through the restart: two laps' worth of time has passed
    assert published and detector.latest_stamp == pytest.approx(frames[-1].stamp + span)
    for update in published:
        assert update.override.last_seen >= update.override.first_seen
    assert len(detector.live_overrides()) == 1

    detector.reset()
    assert detector.latest_stamp == -np.inf
