"""Choosing object models and placing them in rooms without overlaps or blocked walkways.

Footprints are axis-aligned xy rectangles ``(x0, y0, x1, y1)``. A placement is accepted when it
stays inside the room, keeps ``object_gap`` from other objects, stays out of the doorway approach
zones and the room centre, and leaves every doorway of the room joined to the room centre by a
walkway of ``walkway_width``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from scenemem_ros.world.config import FurnishConfig, FurnitureConfig
from scenemem_ros.world.elements import Doorway, Instance, Room, pose_from_xy_yaw
from scenemem_ros.world.furniture import CatalogueEntry, load_catalogue, load_model
from scenemem_ros.world.mesh import TriMesh, box_mesh, cylinder_mesh

ROOM_CATEGORIES = {
    'living room': ('Living room', 'Miscellaneous'),
    'bedroom': ('Bedroom',),
    'kitchen': ('Kitchen',),
    'bathroom': ('Bathroom',),
    'office': ('Office',),
}
MIN_MODEL_HEIGHT = 0.35  # lower catalogue pieces (trays, books, toys) are left out
MIN_MODEL_FOOTPRINT = 0.3  # so are pieces whose width and depth are both smaller
WALL_PLACEMENT_SHARE = 0.7
RASTER = 0.1  # cell size of the walkway check


@dataclass(frozen=True, eq=False)
class ObjectModel:
    """A mesh ready to place: local frame z up, centred footprint, resting on z = 0.

    Attributes:
        category, model: as in ``Instance``.
        mesh: the local mesh.
        closed: whether the mesh is watertight.
    """

    category: str
    model: str
    mesh: TriMesh
    closed: bool

    @property
    def footprint(self) -> np.ndarray:
        """(2,) width and depth of the local bounds."""
        low, high = self.mesh.bounds
        return (high - low)[:2]


def usable_entries(config: FurnitureConfig, categories: tuple[str, ...],
                   max_height: float) -> tuple[CatalogueEntry, ...]:
    """Floor-standing catalogue pieces of ``categories`` that fit the size limits."""
    return tuple(e for e in load_catalogue(config.catalogue_dir)
                 if e.category in categories and not e.door_or_window and e.elevation <= 0
                 and max(e.width, e.depth) <= config.max_footprint and e.height <= max_height
                 and e.height >= MIN_MODEL_HEIGHT
                 and max(e.width, e.depth) >= MIN_MODEL_FOOTPRINT)


def primitive_model(rng: np.random.Generator) -> ObjectModel:
    """A random box or cylinder."""
    if rng.random() < 0.6:
        size = rng.uniform([0.3, 0.3, 0.3], [1.2, 0.9, 1.2])
        return ObjectModel('box', 'primitive', box_mesh(-size * [0.5, 0.5, 0], size * [
            0.5, 0.5, 1]), closed=True)
    radius, height = rng.uniform(0.15, 0.4), rng.uniform(0.3, 1.2)
    return ObjectModel('cylinder', 'primitive', cylinder_mesh(radius, height), closed=True)


def pick_model(rng: np.random.Generator, config: FurnitureConfig,
               entries: tuple[CatalogueEntry, ...]) -> ObjectModel:
    """A catalogue piece from ``entries`` or, by ``primitive_share`` chance, a primitive."""
    if config.source == 'primitives' or not entries or rng.random() < config.primitive_share:
        return primitive_model(rng)
    entry = entries[int(rng.integers(len(entries)))]
    return ObjectModel(entry.name.lower(), entry.key, load_model(entry, config), closed=False)


def rotated_rect(centre: np.ndarray, footprint: np.ndarray, yaw: float) -> np.ndarray:
    """(4,) xy bounds of a centred ``footprint`` rectangle rotated by ``yaw``."""
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    half = 0.5 * np.array([c * footprint[0] + s * footprint[1], s * footprint[0] + c *
                           footprint[1]])
    return np.concatenate([centre - half, centre + half])


def rect_distance(rects: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(R, 4) rectangles, (P, 2) points -> (P,) distance to the nearest rectangle (0 inside)."""
    if len(rects) == 0:
        return np.full(len(points), np.inf)
    dx = np.maximum(np.maximum(rects[None, :, 0] - points[:, None, 0], 0),
                    points[:, None, 0] - rects[None, :, 2])
    dy = np.maximum(np.maximum(rects[None, :, 1] - points[:, None, 1], 0),
                    points[:, None, 1] - rects[None, :, 3])
    return np.hypot(dx, dy).min(axis=1)


class RoomPlanner:
    """Free-space bookkeeping for one room while objects are added."""

    def __init__(self, room: Room, doorways: list[Doorway], config: FurnishConfig,
                 occupied: list[np.ndarray] | None = None) -> None:
        self.room, self.config = room, config
        self.interior = np.array([*room.box.min[:2], *room.box.max[:2]])
        self.centre = (self.interior[:2] + self.interior[2:]) / 2
        self.occupied = list(occupied or [])
        self.keep_out, anchors = [], [self.centre]
        for doorway in doorways:
            across, along = doorway.across_axis, doorway.along_axis
            low, high = doorway.box.low[:2].copy(), doorway.box.high[:2].copy()
            low[across] -= config.doorway_clearance
            high[across] += config.doorway_clearance
            low[along] -= 0.2
            high[along] += 0.2
            self.keep_out.append(np.concatenate([low, high]))
            anchor = doorway.box.centre[:2].copy()
            inward = np.sign(self.centre[across] - anchor[across])
            anchor[across] += inward * (doorway.box.size[across] / 2 + config.walkway_width / 2
                                        + RASTER)
            anchors.append(anchor)
        cells = np.ceil((self.interior[2:] - self.interior[:2]) / RASTER).astype(int)
        axes = [self.interior[i] + (np.arange(cells[i]) + 0.5) * RASTER for i in range(2)]
        self.raster = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)
        border = np.minimum(self.raster - self.interior[:2], self.interior[2:] - self.raster)
        self.border_blocked = border.min(axis=-1) < config.walkway_width / 2
        self.anchor_cells = [tuple(np.clip(((a - self.interior[:2]) / RASTER).astype(int), 0,
                                           cells - 1)) for a in anchors]

    def fits(self, rect: np.ndarray) -> bool:
        """Whether ``rect`` is inside the room, clear of objects, zones and the walkway."""
        gap = self.config.object_gap
        if np.any(rect[:2] < self.interior[:2] - 1e-9) or np.any(rect[2:] >
                                                                 self.interior[2:] + 1e-9):
            return False
        for other in self.occupied:
            if np.all(rect[:2] < other[2:] + gap) and np.all(other[:2] < rect[2:] + gap):
                return False
        for zone in self.keep_out:
            if np.all(rect[:2] < zone[2:]) and np.all(zone[:2] < rect[2:]):
                return False
        if rect_distance(rect[None], self.centre[None])[0] < self.config.centre_clearance:
            return False
        return self.walkway_open(self.occupied + [rect])

    def walkway_open(self, rects: list[np.ndarray]) -> bool:
        """Whether every anchor (centre, doorway approaches) lies in one free component."""
        distance = rect_distance(np.array(rects).reshape(-1, 4),
                                 self.raster.reshape(-1, 2)).reshape(self.raster.shape[:2])
        free = (distance >= self.config.walkway_width / 2) & ~self.border_blocked
        for cell in self.anchor_cells:
            free[cell] = free[cell] or distance[cell] >= self.config.walkway_width / 2
        labels, _ = ndimage.label(free)
        found = {labels[cell] for cell in self.anchor_cells}
        return len(found) == 1 and 0 not in found

    def place(self, rng: np.random.Generator, footprint: np.ndarray) -> tuple[float, float,
                                                                              float] | None:
        """A random accepted (x, y, yaw) for ``footprint``, recorded as occupied; else None."""
        gap = self.config.object_gap
        x0, y0, x1, y1 = self.interior
        for _ in range(self.config.placement_attempts):
            if rng.random() < WALL_PLACEMENT_SHARE:
                side = int(rng.integers(4))  # the back faces this wall: -y, +y, -x, +x
                yaw = (np.pi, 0.0, np.pi / 2, -np.pi / 2)[side]
                size = footprint if side < 2 else footprint[::-1]
                if np.any(size + 2 * gap > self.interior[2:] - self.interior[:2]):
                    continue
                along = rng.uniform(x0 + gap + size[0] / 2, x1 - gap - size[0] / 2) \
                    if side < 2 else rng.uniform(y0 + gap + size[1] / 2, y1 - gap - size[1] / 2)
                across = (y0 + gap + size[1] / 2, y1 - gap - size[1] / 2,
                          x0 + gap + size[0] / 2, x1 - gap - size[0] / 2)[side]
                centre = np.array([along, across] if side < 2 else [across, along])
            else:
                yaw = rng.uniform(-np.pi, np.pi)
                centre = rng.uniform(self.interior[:2], self.interior[2:])
            rect = rotated_rect(centre, footprint, yaw)
            if self.fits(rect):
                self.occupied.append(rect)
                return float(centre[0]), float(centre[1]), float(yaw)
        return None


def placed_instance(instance_id: int, model: ObjectModel, x: float, y: float, yaw: float,
                    room: int = -1) -> Instance:
    """An instance of ``model`` standing at (x, y) turned by ``yaw``."""
    return Instance(instance_id, model.category, model.model, pose_from_xy_yaw(x, y, yaw),
                    model.mesh, closed=model.closed, room=room)


def room_doorways(room: Room, doorways: tuple[Doorway, ...]) -> list[Doorway]:
    """The doorways opening into ``room``."""
    return [d for d in doorways if room.id in d.rooms]


def furnish_rooms(rng: np.random.Generator, rooms: tuple[Room, ...],
                  doorways: tuple[Doorway, ...], furnish: FurnishConfig,
                  furniture: FurnitureConfig, max_height: float,
                  first_id: int) -> list[Instance]:
    """Objects for every room, ids counting up from ``first_id``."""
    instances: list[Instance] = []
    for room in rooms:
        entries = () if furniture.source == 'primitives' else usable_entries(
            furniture, ROOM_CATEGORIES[room.kind], max_height)
        planner = RoomPlanner(room, room_doorways(room, doorways), furnish)
        count = int(rng.integers(furnish.objects_per_room_min, furnish.objects_per_room_max + 1))
        for _ in range(count):
            model = pick_model(rng, furniture, entries)
            spot = planner.place(rng, model.footprint)
            if spot is not None:
                instances.append(placed_instance(first_id + len(instances), model, *spot,
                                                 room=room.id))
    return instances
