"""Phase two: matching, temporal losses, tracking and the identity consistency metric."""

import numpy as np
import pytest
import torch

from scenemem_ros.encoder.config import SequenceLossConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.sequence import (
    SEQUENCE_LOSS_KEYS,
    SlotTracker,
    identity_consistency,
    match_slots,
    sequence_losses,
    slot_labels,
)
from scenemem_ros.encoder.slots import Slots

CONFIG = SequenceLossConfig(match_gate=0.5)


def slots_at(centres, logits=None, existence=None):
    """Slots of B frames from (B, K, 3) camera-frame centres."""
    centres = torch.as_tensor(centres, dtype=torch.float64)
    batch, count = centres.shape[:2]
    logits = torch.zeros(batch, count, 2, dtype=torch.float64) if logits is None else \
        torch.as_tensor(logits, dtype=torch.float64)
    existence = torch.ones(batch, count, dtype=torch.float64) if existence is None else \
        torch.as_tensor(existence, dtype=torch.float64)
    zeros = torch.zeros(batch, count, 3, dtype=torch.float64)
    return Slots(zeros + 0.2, centres, zeros, logits, existence)


def test_matching_follows_motion_and_refuses_far_slots():
    a = np.array([[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]])
    b = np.array([[1.1, 0, 0], [0.1, 0, 0], [9.0, 0, 0]])
    weights = np.full((3, 2), 0.5)
    active = np.ones(3, dtype=bool)
    assert match_slots(a, weights, active, b, weights, active, CONFIG) == [(0, 1), (1, 0)]
    inactive = np.array([True, False, True])
    assert match_slots(a, weights, inactive, b, weights, active, CONFIG) == [(0, 1)]


def test_constant_velocity_costs_nothing_and_jerks_cost():
    poses = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    steady = slots_at([[[0.0, 0, 2], [1, 0, 2]], [[0.1, 0, 2], [1, 0.1, 2]],
                       [[0.2, 0, 2], [1, 0.2, 2]]])
    losses = sequence_losses(steady, poses, 3, CONFIG)
    assert tuple(losses) == SEQUENCE_LOSS_KEYS
    assert float(losses['acceleration']) == pytest.approx(0.0, abs=1e-12)
    assert float(losses['prototype_change']) == pytest.approx(0.0, abs=1e-12)
    jerky = slots_at([[[0.0, 0, 2], [1, 0, 2]], [[0.3, 0, 2], [1, 0, 2]],
                      [[0.3, 0, 2], [1, 0, 2]]])
    # slot 0: x = 0, 0.3, 0.3 -> acceleration -0.3; slot 1 still
    assert float(sequence_losses(jerky, poses, 3, CONFIG)['acceleration']) == \
        pytest.approx(0.3 ** 2 / 2)


def test_acceleration_is_measured_in_the_world_frame():
    # the camera moves 0.1 m per frame along x while the object stands still in the world
    poses = torch.eye(4, dtype=torch.float64).repeat(3, 1, 1)
    poses[:, 0, 3] = torch.tensor([0.0, 0.1, 0.2])
    still = slots_at([[[1.0, 0, 2]], [[0.9, 0, 2]], [[0.8, 0, 2]]])
    assert float(sequence_losses(still, poses, 3, CONFIG)['acceleration']) == \
        pytest.approx(0.0, abs=1e-12)


def test_prototype_change_of_matched_slots_is_penalised_with_gradient():
    poses = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    logits = torch.tensor([[[2.0, 0]], [[0.0, 2]], [[0.0, 2]]], dtype=torch.float64,
                          requires_grad=True)
    slots = slots_at([[[0.0, 0, 2]]] * 3, logits=logits)
    losses = sequence_losses(slots, poses, 3, SequenceLossConfig(match_prototype_cost=0.0))
    assert float(losses['prototype_change'].detach()) > 0.1
    losses['prototype_change'].backward()
    assert logits.grad.abs().sum() > 0


def test_sequence_losses_need_whole_clips():
    with pytest.raises(EncoderError, match='clips'):
        sequence_losses(slots_at(torch.zeros(4, 1, 3)), torch.eye(4).expand(4, 4, 4), 3,
                        CONFIG)


def test_identity_consistency_on_a_hand_built_case():
    labels = [np.array([7, 8, -1]), np.array([7, 8, 9]), np.array([8, 7, 9])]
    links = [[(0, 0), (1, 1), (2, 2)],  # two labelled links kept; one with an unknown end
             [(0, 0), (1, 1), (2, 2)]]  # slots 0 and 1 swapped objects; slot 2 kept
    assert identity_consistency(labels, links) == pytest.approx(3 / 5)
    # slot 0 -> 1 changes object (7 -> 8); slot 1 -> 0 keeps it (8 -> 8)
    assert identity_consistency(labels, [[(0, 1)], [(1, 0)]]) == pytest.approx(0.5)
    assert np.isnan(identity_consistency([np.array([-1]), np.array([-1])], [[(0, 0)]]))
    with pytest.raises(EncoderError, match='link'):
        identity_consistency(labels, links[:1])


def test_slot_labels_take_the_majority_instance():
    owner = np.array([0, 0, 0, 1, 1, -1, 2])
    instances = np.array([3, 3, 4, 5, -1, 6, 6])
    assert slot_labels(owner, instances, 4).tolist() == [3, 5, 6, -1]
    assert slot_labels(owner, instances, 4, min_points=2).tolist() == [3, -1, -1, -1]


def test_tracker_keeps_ids_of_matched_slots():
    tracker = SlotTracker(CONFIG)
    weights = np.full((3, 2), 0.5)
    first = tracker.update(np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]]), weights,
                           np.array([True, True, False]))
    assert first.tolist() == [0, 1, -1]
    second = tracker.update(np.array([[1.05, 0, 0], [0.05, 0, 0], [3, 0, 0]]), weights,
                            np.ones(3, dtype=bool))
    assert second.tolist() == [1, 0, 2]
    assert tracker.last_links == [(0, 1), (1, 0)]
    tracker.reset()
    assert tracker.update(np.zeros((1, 3)), weights[:1], np.ones(1, bool)).tolist() == [0]
