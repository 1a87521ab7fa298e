"""Classification of changed clusters against the memory's 2D free map."""

from __future__ import annotations

import numpy as np

from scenemem_ros.changes import ChangeDetectorConfig
from scenemem_ros.changes.classify import blocks_passage, opening_to_floor
from scenemem_ros.memory.overrides import Box


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


def _flat(base, point):
    """(3,) metres -> flat index of the voxel holding it."""
    grid = base.grid
    index = np.floor((np.asarray(point) - np.asarray(grid.origin)) / grid.resolution)
    return np.ravel_multi_index(index.astype(int), grid.shape)


def test_a_new_room_seen_above_furniture_opens_down_to_the_floor(base):
    config = ChangeDetectorConfig()
    seen = Box((3.8, 1.0, 0.7), (3.9, 1.6, 2.0))    # the upper part of an opening in a wall
    in_place = np.zeros(int(np.prod(base.grid.shape)), bool)
    opened = opening_to_floor(base, config, seen, in_place)
    assert opened.minimum[2] == config.floor_height
    assert opened.minimum[:2] == seen.minimum[:2] and opened.maximum == seen.maximum
    in_place[_flat(base, (3.85, 1.3, 2.5))] = True    # wall in place above it, or ...
    in_place[_flat(base, (3.85, 2.2, 0.3))] = True    # ... below but beside it, or ...
    in_place[_flat(base, (3.85, 1.3, 0.02))] = True   # ... the floor under it: no matter
    assert opening_to_floor(base, config, seen, in_place) == opened
    in_place[_flat(base, (3.85, 1.3, 0.3))] = True    # furniture against the wall below
    assert opening_to_floor(base, config, seen, in_place) == opened
    for y in np.arange(1.05, 1.6, 0.1):                 # wall standing below it: a window
        in_place[_flat(base, (3.85, y, 0.4))] = True
    assert opening_to_floor(base, config, seen, in_place) == seen
    thick = Box((3.7, 1.0, 0.7), (4.0, 1.6, 2.0))      # a box 0.3 m across the same wall
    assert opening_to_floor(base, config, thick, in_place) == thick
    grounded = Box((3.8, 1.0, 0.0), (3.9, 1.6, 2.0))
    assert opening_to_floor(base, config, grounded, in_place) == grounded
