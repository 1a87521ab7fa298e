"""Camera poses by stamp, looked up the way tf2 does: exact, else interpolated, never
extrapolated.

A depth image must be paired with the pose the camera had *at its stamp*. Taking the nearest
pose within a slop pairs a depth image with its neighbour's pose whenever its own pose message
was dropped or is late (a loaded machine drops pose messages long before it drops depth), and a
pose 33 ms off on a turning camera turns walls into "changes". So a lookup returns the pose with
the same stamp (within ``exact_tolerance``), or interpolates between the two poses that bracket
the stamp (translation linearly, rotation by slerp) when each is within ``max_gap`` of it; a
stamp newer than every pose waits; anything else is missing.
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


@dataclass(frozen=True)
class PoseBufferConfig:
    """Attributes:
        capacity: poses kept (oldest dropped first).
        exact_tolerance: seconds within which a pose counts as taken at the stamp.
        max_gap: seconds a bracketing pose may be from the stamp for interpolation.
    """

    capacity: int = 400
    exact_tolerance: float = 1e-3
    max_gap: float = 0.05

    def __post_init__(self) -> None:
        if self.capacity < 2:
            raise ChangeDetectionError(f'PoseBufferConfig.capacity must be >= 2, '
                                       f'got {self.capacity}')
        if not (0 <= self.exact_tolerance <= self.max_gap):
            raise ChangeDetectionError(
                f'PoseBufferConfig needs 0 <= exact_tolerance <= max_gap, got '
                f'{self.exact_tolerance} and {self.max_gap}')


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
        for index in (after - 1, after):
            if 0 <= index < len(stamps) and abs(stamps[index] - stamp) <= config.exact_tolerance:
                return PoseLookup.EXACT, self._poses[index]
        if after == len(stamps):
            return PoseLookup.WAIT, None
        if after == 0:
            return PoseLookup.MISSING, None
        t0, t1 = stamps[after - 1], stamps[after]
        if stamp - t0 > config.max_gap or t1 - stamp > config.max_gap:
            return PoseLookup.MISSING, None
        return PoseLookup.INTERPOLATED, interpolate_pose(self._poses[after - 1],
                                                         self._poses[after],
                                                         (stamp - t0) / (t1 - t0))


def interpolate_pose(first: np.ndarray, second: np.ndarray, fraction: float) -> np.ndarray:
    """(4, 4), (4, 4), fraction in [0, 1] -> (4, 4): linear translation, slerp rotation."""
    rotations = Rotation.from_matrix(np.stack([first[:3, :3], second[:3, :3]]))
    pose = np.eye(4)
    pose[:3, :3] = Slerp([0.0, 1.0], rotations)([fraction]).as_matrix()[0]
    pose[:3, 3] = (1 - fraction) * first[:3, 3] + fraction * second[:3, 3]
    return pose
