"""Classification of changed clusters against the memory's 2D free map."""

from __future__ import annotations

import numpy as np

from scenemem_ros.changes import ChangeDetectorConfig
from scenemem_ros.changes.classify import blocks_passage


def cells_of(base, low, high):
    """(X, Y) bool columns whose centres lie in the rectangle [low, high]."""
    grid = base.grid
    centres = [grid.origin[a] + (np.arange(grid.shape[a]) + 0.5) * grid.resolution
               for a in (0, 1)]
    inside = [(c >= lo) & (c <= hi) for c, lo, hi in zip(centres, low, high, strict=True)]
    return inside[0][:, None] & inside[1][None, :]


def test_a_blocker_leaving_a_gap_narrower_than_the_robot_blocks_the_doorway(base):
    # the doorway spans y in [1.0, 2.0]; the blocker's seen face covers [1.0, 1.7]: the 0.3 m
    # left beside the jamb is narrower than the robot (radius 0.2)
    config = ChangeDetectorConfig(robot_radius=0.2)
    assert blocks_passage(base, config, cells_of(base, (3.8, 1.0), (3.9, 1.7)))


def test_a_blocker_leaving_room_for_the_robot_does_not(base):
    config = ChangeDetectorConfig(robot_radius=0.2)
    assert not blocks_passage(base, config, cells_of(base, (3.8, 1.0), (3.9, 1.3)))


def test_an_object_in_the_open_blocks_nothing(base):
    config = ChangeDetectorConfig(robot_radius=0.2)
    assert not blocks_passage(base, config, cells_of(base, (5.5, 0.8), (6.3, 1.6)))
