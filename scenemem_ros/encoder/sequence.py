"""Phase two: slots across frames. Matching, temporal losses, tracking and identity consistency.

Slots are matched between consecutive frames in the world frame (Hungarian assignment on the
centre distance plus ``match_prototype_cost`` times the L1 change of prototype weights; pairs
further apart than ``match_gate`` are refused). Matched slots carry one identity. The temporal
losses penalise a matched slot's change of prototype weights and, over three frames, its
acceleration ``x[t+1] - 2 x[t] + x[t-1]`` (constant velocity and gentle parabolic motion cost
little; jumps cost a lot).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from scenemem_ros.encoder.config import SequenceLossConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.slots import Slots

SEQUENCE_LOSS_KEYS = ('prototype_change', 'acceleration')


def match_slots(centres_a: np.ndarray, weights_a: np.ndarray, active_a: np.ndarray,
                centres_b: np.ndarray, weights_b: np.ndarray, active_b: np.ndarray,
                config: SequenceLossConfig) -> list[tuple[int, int]]:
    """(K, 3) world centres, (K, P) prototype weights, (K,) bool active of two frames ->
    sorted (i, j) pairs: slot i of the first frame is slot j of the second."""
    rows = np.flatnonzero(active_a)
    cols = np.flatnonzero(active_b)
    if len(rows) == 0 or len(cols) == 0:
        return []
    distance = np.linalg.norm(centres_a[rows, None] - centres_b[None, cols], axis=-1)
    change = np.abs(weights_a[rows, None] - weights_b[None, cols]).sum(-1)
    cost = distance + config.match_prototype_cost * change
    cost = np.where(distance <= config.match_gate, cost, 1e6)
    chosen_rows, chosen_cols = linear_sum_assignment(cost)
    return sorted((int(rows[r]), int(cols[c])) for r, c in zip(chosen_rows, chosen_cols,
                                                                strict=True)
                  if distance[r, c] <= config.match_gate)


def world_centres(slots: Slots, camera_to_world: torch.Tensor) -> torch.Tensor:
    """(B, K) slots in the camera frame, (B, 4, 4) poses -> (B, K, 3) world translations."""
    rotation = camera_to_world[:, :3, :3].to(slots.translation)
    return torch.einsum('bij,bkj->bki', rotation, slots.translation) \
        + camera_to_world[:, None, :3, 3].to(slots.translation)


def sequence_losses(slots: Slots, camera_to_world: torch.Tensor, clip_length: int,
                    config: SequenceLossConfig, active_threshold: float = 0.5
                    ) -> dict[str, torch.Tensor]:
    """Slots of B * T frames (clip-major: frame t of clip c at row c * T + t) and their
    (B * T, 4, 4) poses -> dict of () losses ``SEQUENCE_LOSS_KEYS``, averaged over matches."""
    total = slots.existence.shape[0]
    if clip_length < 2 or total % clip_length:
        raise EncoderError(f'{total} frames do not split into clips of {clip_length}')
    centres = world_centres(slots, camera_to_world)
    weights = slots.prototype_weights
    active = (slots.existence > active_threshold).detach().cpu().numpy()
    centres_np = centres.detach().cpu().numpy()
    weights_np = weights.detach().cpu().numpy()
    change_terms: list[torch.Tensor] = []
    acceleration_terms: list[torch.Tensor] = []
    for clip in range(total // clip_length):
        rows = [clip * clip_length + t for t in range(clip_length)]
        links = [dict(match_slots(centres_np[a], weights_np[a], active[a], centres_np[b],
                                  weights_np[b], active[b], config))
                 for a, b in zip(rows[:-1], rows[1:], strict=True)]
        for step, link in enumerate(links):
            if link:
                i = torch.tensor(list(link.keys()), device=centres.device)
                j = torch.tensor(list(link.values()), device=centres.device)
                change_terms.append(((weights[rows[step], i] - weights[rows[step + 1], j]) ** 2)
                                    .sum(-1))
        for step in range(len(links) - 1):
            chains = [(i, j, links[step + 1][j]) for i, j in links[step].items()
                      if j in links[step + 1]]
            if chains:
                index = torch.tensor(chains, device=centres.device)
                accel = (centres[rows[step + 2], index[:, 2]]
                         - 2 * centres[rows[step + 1], index[:, 1]]
                         + centres[rows[step], index[:, 0]])
                acceleration_terms.append((accel ** 2).sum(-1))
    zero = slots.existence.sum() * 0
    change = torch.cat(change_terms).mean() if change_terms else zero
    acceleration = torch.cat(acceleration_terms).mean() if acceleration_terms else zero
    return {'prototype_change': change, 'acceleration': acceleration}


def identity_consistency(labels: Sequence[np.ndarray],
                         links: Sequence[Sequence[tuple[int, int]]]) -> float:
    """Share of slot links that keep their object.

    ``labels[t]`` is (K,) the ground-truth instance each slot of frame t covers (-1: none or
    unknown) and ``links[t]`` the matched (i, j) pairs between frames t and t + 1. A link
    counts when both ends are labelled; it is consistent when the labels agree. NaN when no
    link counts.
    """
    if len(links) != len(labels) - 1:
        raise EncoderError(f'need one link list per consecutive pair of the {len(labels)} '
                           f'frames, got {len(links)}')
    good = counted = 0
    for t, pairs in enumerate(links):
        for i, j in pairs:
            a, b = int(labels[t][i]), int(labels[t + 1][j])
            if a >= 0 and b >= 0:
                counted += 1
                good += int(a == b)
    return good / counted if counted else float('nan')


def slot_labels(owner: np.ndarray, point_labels: np.ndarray, num_slots: int,
                min_points: int = 1) -> np.ndarray:
    """(N,) slot owning each depth point (-1: none), (N,) ground-truth instance of each point
    -> (K,) majority instance per slot (-1 for slots owning fewer than ``min_points``)."""
    labels = np.full(num_slots, -1, dtype=np.int64)
    for k in range(num_slots):
        mine = point_labels[(owner == k) & (point_labels >= 0)]
        if len(mine) >= min_points:
            values, counts = np.unique(mine, return_counts=True)
            labels[k] = int(values[np.argmax(counts)])
    return labels


class SlotTracker:
    """Gives slots identities that persist across frames (for markers and for phase two).

    ``update`` takes one frame's (K, 3) world centres, (K, P) prototype weights and (K,) active
    mask and returns (K,) int64 ids: a slot matched to one of the previous frame's active slots
    keeps its id; other active slots get new ids; inactive slots get -1.
    """

    def __init__(self, config: SequenceLossConfig | None = None) -> None:
        self.config = config or SequenceLossConfig()
        self.next_id = 0
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.last_links: list[tuple[int, int]] = []

    def reset(self) -> None:
        self.next_id = 0
        self.previous = None
        self.last_links = []

    def update(self, centres: np.ndarray, weights: np.ndarray, active: np.ndarray) -> np.ndarray:
        centres = np.asarray(centres, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        active = np.asarray(active, dtype=bool)
        ids = np.full(len(centres), -1, dtype=np.int64)
        self.last_links = []
        if self.previous is not None:
            old_centres, old_weights, old_active, old_ids = self.previous
            self.last_links = match_slots(old_centres, old_weights, old_active, centres, weights,
                                          active, self.config)
            for i, j in self.last_links:
                ids[j] = old_ids[i]
        for k in np.flatnonzero(active & (ids < 0)):
            ids[k] = self.next_id
            self.next_id += 1
        self.previous = (centres, weights, active, ids)
        return ids
