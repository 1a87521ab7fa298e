"""What kind of change a cluster of changed voxels is, from the memory's 2D free map.

- an addition that splits the free space around it into more rooms than before is a blocked
  doorway, any other addition an added object;
- a removal whose surroundings are partly free and partly unknown to the memory (an exterior
  wall that opened onto space never seen) is a new room, any other removal a removed object;
- a removal and an addition of similar size make one moved object (see ``similar``).
"""

from __future__ import annotations

import enum

import numpy as np
from scipy import ndimage

from scenemem_ros.changes.base import BaseGeometry
from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.memory.overrides import Box, OverrideKind


class ChangeLabel(str, enum.Enum):
    """The detector's classes; the values match ``scenemem_ros.world.ChangeKind``."""

    DOORWAY_BLOCKED = 'doorway_blocked'
    OBJECT_ADDED = 'object_added'
    OBJECT_REMOVED = 'object_removed'
    OBJECT_MOVED = 'object_moved'
    NEW_ROOM = 'new_room'


OVERRIDE_KIND = {
    ChangeLabel.DOORWAY_BLOCKED: OverrideKind.BLOCKED_REGION,
    ChangeLabel.OBJECT_ADDED: OverrideKind.OBJECT_ADDED,
    ChangeLabel.OBJECT_REMOVED: OverrideKind.OBJECT_REMOVED,
    ChangeLabel.OBJECT_MOVED: OverrideKind.OBJECT_MOVED,
    ChangeLabel.NEW_ROOM: OverrideKind.CLEARED_REGION,
}


def footprint(base: BaseGeometry, voxels: np.ndarray) -> np.ndarray:
    """(N,) flat voxel indices -> (X, Y) bool columns they occupy."""
    ix, iy, _ = np.unravel_index(voxels, base.grid.shape)
    cells = np.zeros(base.grid.shape[:2], dtype=bool)
    cells[ix, iy] = True
    return cells


def _disc(radius_cells: int) -> np.ndarray:
    r = max(int(radius_cells), 0)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r


def _large_regions(free: np.ndarray, min_cells: int) -> int:
    labels, count = ndimage.label(free)
    if count == 0:
        return 0
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= min_cells).sum())


def blocks_passage(base: BaseGeometry, config: ChangeDetectorConfig, cells: np.ndarray) -> bool:
    """True when blocking ``cells`` (X, Y) splits the free space around them into more rooms.

    The test runs in the robot's configuration space: walls and the blocked cells both grow by
    ``robot_radius``, so a blocker that leaves a gap narrower than the robot between itself and
    a door jamb blocks the doorway even before the camera has seen all of it.
    """
    resolution = base.grid.resolution
    xs, ys = np.nonzero(cells)
    if xs.size == 0:
        return False
    pad = int(np.ceil(config.doorway_window / resolution))
    window = (slice(max(xs.min() - pad, 0), xs.max() + pad + 1),
              slice(max(ys.min() - pad, 0), ys.max() + pad + 1))
    free = base.free_2d[window]
    walls = base.known_2d[window] & ~free
    radius = int(np.ceil(config.robot_radius / resolution))
    if radius:
        disc = _disc(radius)
        free = free & ~ndimage.binary_dilation(walls, structure=disc)
        blocked = ndimage.binary_dilation(cells[window], structure=disc)
    else:
        blocked = cells[window]
    min_cells = int(np.ceil(config.min_region_area / resolution ** 2))
    return _large_regions(free & ~blocked, min_cells) > _large_regions(free, min_cells)


def opens_unknown(base: BaseGeometry, cells: np.ndarray, ring_cells: int = 3,
                  min_share: float = 0.2) -> bool:
    """True when the ring around ``cells`` (X, Y) is partly known-free and partly unknown."""
    padded = np.pad(cells, ring_cells)
    ring = ndimage.binary_dilation(padded, structure=_disc(ring_cells)) & ~padded
    known = np.pad(base.known_2d, ring_cells, constant_values=False)
    free = np.pad(base.free_2d, ring_cells, constant_values=False)
    total = ring.sum()
    if total == 0:
        return False
    return bool((ring & ~known).sum() / total >= min_share and
                (ring & free).sum() / total >= min_share)


def classify(base: BaseGeometry, config: ChangeDetectorConfig, voxels: np.ndarray,
             addition: bool) -> ChangeLabel:
    """(N,) flat voxel indices of one cluster -> its label (moves are paired later)."""
    cells = footprint(base, voxels)
    if addition:
        return ChangeLabel.DOORWAY_BLOCKED if blocks_passage(base, config, cells) \
            else ChangeLabel.OBJECT_ADDED
    return ChangeLabel.NEW_ROOM if opens_unknown(base, cells) else ChangeLabel.OBJECT_REMOVED


def cluster_box(base: BaseGeometry, config: ChangeDetectorConfig, voxels: np.ndarray,
                trim: float = 0.01) -> Box:
    """(N,) flat voxel indices -> the box they cover, dropped to the floor when close to it.

    The ``trim`` share of voxels at either end of each axis is left out, so that one stray
    voxel does not stretch the box.
    """
    index = np.stack(np.unravel_index(voxels, base.grid.shape), axis=1)
    origin = np.asarray(base.grid.origin)
    first = np.floor(np.quantile(index, trim, axis=0, method='higher'))
    last = np.ceil(np.quantile(index, 1 - trim, axis=0, method='lower'))
    low = origin + first * base.grid.resolution
    high = origin + (last + 1) * base.grid.resolution
    if low[2] - config.floor_height <= config.floor_snap:
        low[2] = min(low[2], config.floor_height)
    return Box(tuple(low), tuple(high))


def opening_to_floor(base: BaseGeometry, config: ChangeDetectorConfig, box: Box,
                     surface_in_place: np.ndarray) -> Box:
    """A new room's box dropped to the floor, unless wall has been seen in place below it.

    A new room is entered through an opening that reaches the floor, and the lower part of
    that opening is often hidden behind furniture when the camera first looks through it. A
    wall seen standing below the opening (``surface_in_place``, flat voxel indices' flags of
    ``EvidenceGrid``, above the floor and ``z_min``) along at least half of the box's length
    means it is no passage at that height (a window), and the box is left as seen; a few such
    voxels are the backs of furniture standing against the wall.
    """
    low, high = np.array(box.minimum), np.array(box.maximum)
    if low[2] <= config.floor_height:
        return box
    grid = base.grid
    origin, resolution = np.asarray(grid.origin), grid.resolution
    first = np.clip(np.floor((low - origin) / resolution + 1e-6).astype(int), 0, grid.shape)
    last = np.clip(np.ceil((high - origin) / resolution - 1e-6).astype(int), 0, grid.shape)
    # the floor itself (seen in place under any doorway) does not count: from the bottom of
    # the 2D tests' height band up
    bottom = int(np.clip(np.floor((max(config.z_min, config.floor_height + resolution)
                                   - origin[2]) / resolution + 1e-6), 0, grid.shape[2]))
    below = surface_in_place.reshape(grid.shape)[first[0]:last[0], first[1]:last[1],
                                                 bottom:first[2]]
    if below.size:
        columns: np.ndarray = np.any(below, axis=2)
        # along the wall: a box thicker than the wall has columns with no wall in them
        across = int(np.argmin(high[:2] - low[:2]))
        if np.any(columns, axis=across).mean() >= 0.5:
            return box
    low[2] = config.floor_height
    return Box(tuple(low), tuple(high))


def across_doorway(base: BaseGeometry, box: Box, reach: float = 0.5) -> Box:
    """A blocked doorway's box widened across the wall to cover the wall's thickness.

    One side of a blocker is often all the camera has seen: its box is then a thin slab in
    front of the doorway. The door jambs (occupied columns of the memory's height band just
    beyond the box's ends, within ``reach`` of it across the wall) show where the wall is;
    the box is stretched across to span them.
    """
    low, high = np.array(box.minimum), np.array(box.maximum)
    extent = high[:2] - low[:2]
    across = int(np.argmin(extent))
    along = 1 - across
    resolution = base.grid.resolution
    origin = np.asarray(base.grid.origin[:2])
    occupied = base.known_2d & ~base.free_2d
    centres = [origin[a] + (np.arange(base.grid.shape[a]) + 0.5) * resolution for a in (0, 1)]
    near_ends = ((centres[along] >= low[along] - 2 * resolution) &
                 (centres[along] <= low[along] + resolution)) | \
        ((centres[along] >= high[along] - resolution) &
         (centres[along] <= high[along] + 2 * resolution))
    within = (centres[across] >= low[across] - reach) & (centres[across] <= high[across] + reach)
    strip = near_ends[:, None] & within[None, :] if along == 0 else \
        within[:, None] & near_ends[None, :]
    jamb = np.argwhere(occupied & strip)
    if not len(jamb):
        return box
    wall = origin[across] + jamb[:, across] * resolution
    low[across] = min(low[across], float(wall.min()))
    high[across] = max(high[across], float(wall.max()) + resolution)
    return Box(tuple(low), tuple(high))


def similar(first: Box, second: Box, config: ChangeDetectorConfig) -> bool:
    """True when two boxes could hold the same object (volume ratio and height)."""
    ratio = first.volume() / max(second.volume(), 1e-9)
    ratio = max(ratio, 1 / ratio)
    heights = (first.maximum[2] - first.minimum[2], second.maximum[2] - second.minimum[2])
    return ratio <= config.move_volume_ratio and \
        abs(heights[0] - heights[1]) <= config.move_height_tolerance
