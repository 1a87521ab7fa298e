"""Camera poses by stamp, looked up the way tf2 does: exact, else interpolated, never
extrapolated.

A depth image must be paired with the pose the camera had *at its stamp*. Taking the nearest
pose within a slop pairs a depth image with its neighbour's pose whenever its own pose message
was dropped or is late (a loaded machine drops pose messages long before it drops depth), and a
pose 33 ms off on a turning camera turns walls into "changes". So a lookup returns the pose with
the same stamp (``exact_tolerance`` only absorbs the rounding of stamps to float seconds), or
interpolates between the two poses that bracket the stamp (translation linearly, rotation by
slerp) when each is within ``max_gap`` of it; a stamp newer than every pose waits; anything else
is missing. No pose counts as "close enough": a publisher that falls behind and catches up sends
frames a fraction of a millisecond apart, and a millisecond tolerance then gave a depth image
the previous frame's pose (the cause of the false overrides of the session-6 soaks). Two
bracketing poses further apart than a camera can move in the time between them
(``max_linear_speed``, ``max_angular_speed``: a relocalisation, a replayed bag looping back to
its start, a dropped pose between two frames sent back to back) are not interpolated: the
lookup says the pose jumped.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from scenemem_ros.changes.errors import ChangeDetectionError


class PoseLookup(Enum):
    """Outcome of ``PoseBuffer.lookup``."""

    EXACT = 'exact'
    INTERPOLATED = 'interpolated'
    WAIT = 'wait'          # no pose at or after the stamp yet: a later one may still come
    MISSING = 'missing'    # the stamp is older than the buffer, or its neighbours are too far
    JUMPED = 'jumped'      # its neighbours are further apart than the camera can move


@dataclass(frozen=True)
class PoseBufferConfig:
    """Attributes:
        capacity: poses kept (oldest dropped first).
        exact_tolerance: seconds within which a pose counts as taken at the stamp: the
            rounding of stamps to float seconds, not a slop (any other stamp is interpolated).
        max_gap: seconds a bracketing pose may be from the stamp for interpolation.
        max_linear_speed: m/s; bracketing poses further apart than this times the time
            between them are a jump, not motion, and are not interpolated.
        max_angular_speed: rad/s; the same for their rotation.
    """

    capacity: int = 400
    exact_tolerance: float = 1e-6
    max_gap: float = 0.05
    max_linear_speed: float = 5.0
    max_angular_speed: float = 2 * np.pi

    def __post_init__(self) -> None:
        if self.capacity < 2:
            raise ChangeDetectionError(f'PoseBufferConfig.capacity must be >= 2, '
                                       f'got {self.capacity}')
        if not (0 <= self.exact_tolerance <= self.max_gap):
            raise ChangeDetectionError(
                f'PoseBufferConfig needs 0 <= exact_tolerance <= max_gap, got '
                f'{self.exact_tolerance} and {self.max_gap}')
        if not (self.max_linear_speed > 0 and self.max_angular_speed > 0):
            raise ChangeDetectionError(
                f'PoseBufferConfig speeds must be > 0, got {self.max_linear_speed} m/s and '
                f'{self.max_angular_speed} rad/s')


class PoseBuffer:
    """Time-ordered (4, 4) rigid poses; ``lookup(stamp)`` -> (PoseLookup, pose or None)."""

    def __init__(self, config: PoseBufferConfig | None = None) -> None:
        self.config = config or PoseBufferConfig()
        self._stamps: deque[float] = deque(maxlen=self.config.capacity)
        self._poses: deque[np.ndarray] = deque(maxlen=self.config.capacity)

    def __len__(self) -> int:
        return len(self._stamps)

    def clear(self) -> None:
        self._stamps.clear()
        self._poses.clear()

    def add(self, stamp: float, pose: np.ndarray) -> None:
        """Keep a (4, 4) pose taken at ``stamp`` seconds. A stamp older than the newest one
        means time went back (a bag restarted, sim time reset): the buffer starts over. A
        repeated stamp replaces the pose."""
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ChangeDetectionError(f'a pose must be a finite (4, 4) matrix, got {pose.shape}')
        if self._stamps and stamp < self._stamps[-1]:
            self.clear()
        if self._stamps and stamp == self._stamps[-1]:
            self._poses[-1] = pose
            return
        self._stamps.append(float(stamp))
        self._poses.append(pose)

    def lookup(self, stamp: float) -> tuple[PoseLookup, np.ndarray | None]:
        """The pose at ``stamp``: exact, interpolated between its neighbours, or why not."""
        if not self._stamps:
            return PoseLookup.WAIT, None
        stamps = self._stamps
        after = bisect.bisect_left(stamps, stamp)
        config = self.config
        nearest = min((index for index in (after - 1, after) if 0 <= index < len(stamps)),
                      key=lambda index: abs(stamps[index] - stamp))
        if abs(stamps[nearest] - stamp) <= config.exact_tolerance:
            return PoseLookup.EXACT, self._poses[nearest]
        if after == len(stamps):
            return PoseLookup.WAIT, None
        if after == 0:
            return PoseLookup.MISSING, None
        t0, t1 = stamps[after - 1], stamps[after]
        if stamp - t0 > config.max_gap or t1 - stamp > config.max_gap:
            return PoseLookup.MISSING, None
        first, second = self._poses[after - 1], self._poses[after]
        if jumped(first, second, t1 - t0, config):
            return PoseLookup.JUMPED, None
        return PoseLookup.INTERPOLATED, interpolate_pose(first, second, (stamp - t0) / (t1 - t0))


def jumped(first: np.ndarray, second: np.ndarray, seconds: float,
           config: PoseBufferConfig) -> bool:
    """True when two (4, 4) poses ``seconds`` apart differ by more than the camera can move."""
    distance = float(np.linalg.norm(second[:3, 3] - first[:3, 3]))
    relative = first[:3, :3].T @ second[:3, :3]
    angle = float(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0)))
    return distance > config.max_linear_speed * seconds or \
        angle > config.max_angular_speed * seconds


def interpolate_pose(first: np.ndarray, second: np.ndarray, fraction: float) -> np.ndarray:
    """(4, 4), (4, 4), fraction in [0, 1] -> (4, 4): linear translation, slerp rotation."""
    rotations = Rotation.from_matrix(np.stack([first[:3, :3], second[:3, :3]]))
    pose = np.eye(4)
    pose[:3, :3] = Slerp([0.0, 1.0], rotations)([fraction]).as_matrix()[0]
    pose[:3, 3] = (1 - fraction) * first[:3, 3] + fraction * second[:3, 3]
    return pose
