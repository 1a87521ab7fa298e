"""Scripted scene changes: an "after" world plus a ground-truth change record.

``apply_change(world, kind, seed)`` looks ``kind`` up in ``CHANGES``, a registry of functions
``(world, rng) -> (after_world, ChangeRecord)``. Each record's regions are boxes where the
occupancy of the two worlds differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from scenemem_ros.world.config import WorldConfig
from scenemem_ros.world.elements import Box, Doorway, Instance, Layout, pose_from_xy_yaw
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.furnish import (
    ROOM_CATEGORIES,
    ObjectModel,
    RoomPlanner,
    pick_model,
    placed_instance,
    room_doorways,
    rotated_rect,
    usable_entries,
)
from scenemem_ros.world.furniture import CatalogueEntry
from scenemem_ros.world.generate import check_seed
from scenemem_ros.world.layout import (
    ROOM_KINDS,
    box_instance,
    doorway_box,
    doorway_centre,
    outline_edges,
    room_from_outline,
    slab_instances,
    wall_boxes,
)
from scenemem_ros.world.scene import World

BLOCKER_DEPTH = 0.5  # depth across the wall of the box that blocks a doorway
BLOCKER_HEIGHT = 1.8
SPOT_ATTEMPTS = 200


class ChangeKind(str, Enum):
    """What changed."""

    DOORWAY_BLOCKED = 'doorway_blocked'
    OBJECT_MOVED = 'object_moved'
    OBJECT_REMOVED = 'object_removed'
    OBJECT_ADDED = 'object_added'
    NEW_ROOM = 'new_room'


@dataclass(frozen=True)
class ChangeRecord:
    """Ground truth of one change.

    Attributes:
        kind: the change kind.
        object_ids: instances added, removed or moved (for new_room: the new walls and floor
            and the wall pieces replaced by the doorway's).
        regions: boxes where occupancy differs between before and after.
        description: one human-readable sentence.
    """

    kind: ChangeKind
    object_ids: tuple[int, ...]
    regions: tuple[Box, ...]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {'kind': self.kind.value, 'object_ids': list(self.object_ids),
                'regions': [r.to_dict() for r in self.regions], 'description': self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeRecord:
        return cls(parse_kind(data['kind']), tuple(int(i) for i in data['object_ids']),
                   tuple(Box.from_dict(r) for r in data['regions']), data['description'])


def save_change(record: ChangeRecord, path: str) -> None:
    """Write the record as JSON."""
    with open(path, 'w', encoding='utf-8') as stream:
        json.dump(record.to_dict(), stream, indent=1)


def load_change(path: str) -> ChangeRecord:
    """Read a record written by ``save_change``."""
    with open(path, encoding='utf-8') as stream:
        return ChangeRecord.from_dict(json.load(stream))


def parse_kind(kind: ChangeKind | str) -> ChangeKind:
    """The ChangeKind named ``kind``; WorldError listing the valid kinds otherwise."""
    try:
        return ChangeKind(kind)
    except ValueError:
        valid = ', '.join(k.value for k in ChangeKind)
        raise WorldError(f'unknown change kind {kind!r}; valid kinds: {valid}') from None


def _require_apartment(world: World, kind: ChangeKind) -> None:
    if not world.layout.rooms or not isinstance(world.config, WorldConfig):
        raise WorldError(f'{kind.value} needs an apartment world with rooms')


def _xy_rect(box: Box) -> np.ndarray:
    return np.array([*box.min[:2], *box.max[:2]])


def _find_spot(world: World, rng: np.random.Generator, footprint: np.ndarray,
               also_occupied: list[np.ndarray]) -> tuple[float, float, float, int] | None:
    """A free (x, y, yaw, room) for ``footprint``, keeping walkways open in apartments."""
    objects = [o for o in world.objects]
    if world.layout.rooms:
        assert isinstance(world.config, WorldConfig)
        for index in rng.permutation(len(world.layout.rooms)):
            room = world.layout.rooms[index]
            occupied = [_xy_rect(o.bounds) for o in objects if o.bounds.overlaps(room.box)]
            planner = RoomPlanner(room, room_doorways(room, world.layout.doorways),
                                  world.config.furnish, occupied + also_occupied)
            spot = planner.place(rng, footprint)
            if spot is not None:
                return (*spot, room.id)
        return None
    floor = world.bounds
    rects = [_xy_rect(o.bounds) for o in objects] + also_occupied
    for _ in range(SPOT_ATTEMPTS):
        yaw = rng.uniform(-np.pi, np.pi)
        centre = rng.uniform(floor.low[:2], floor.high[:2])
        rect = rotated_rect(centre, footprint, yaw)
        inside = np.all(rect[:2] >= floor.low[:2]) and np.all(rect[2:] <= floor.high[:2])
        if inside and not any(np.all(rect[:2] < r[2:]) and np.all(r[:2] < rect[2:])
                              for r in rects):
            return float(centre[0]), float(centre[1]), float(yaw), -1
    return None


def _pick_object(world: World, rng: np.random.Generator, kind: ChangeKind) -> Instance:
    objects = world.objects
    if not objects:
        raise WorldError(f'{kind.value} needs a world with at least one object')
    return objects[int(rng.integers(len(objects)))]


def block_doorway(world: World, rng: np.random.Generator) -> tuple[World, ChangeRecord]:
    """A box filling a random doorway's opening, sticking out into both rooms."""
    _require_apartment(world, ChangeKind.DOORWAY_BLOCKED)
    if not world.layout.doorways:
        raise WorldError('doorway_blocked needs a world with doorways')
    doorway = world.layout.doorways[int(rng.integers(len(world.layout.doorways)))]
    low, high = doorway.box.low.copy(), doorway.box.high.copy()
    low[doorway.along_axis] += 0.01
    high[doorway.along_axis] -= 0.01
    centre = doorway.box.centre[doorway.across_axis]
    low[doorway.across_axis], high[doorway.across_axis] = (centre - BLOCKER_DEPTH / 2,
                                                           centre + BLOCKER_DEPTH / 2)
    high[2] = min(BLOCKER_HEIGHT, doorway.box.max[2] - 0.05)
    blocker = box_instance(world.next_id(), 'box', Box.from_arrays(low, high), model='primitive',
                           room=doorway.rooms[0])
    a, b = doorway.rooms
    record = ChangeRecord(ChangeKind.DOORWAY_BLOCKED, (blocker.id,), (blocker.bounds,),
                          f'doorway {doorway.id} between rooms {a} and {b} blocked by a box')
    return world.replaced(world.instances + (blocker,)), record


def remove_object(world: World, rng: np.random.Generator) -> tuple[World, ChangeRecord]:
    """A random object taken away."""
    target = _pick_object(world, rng, ChangeKind.OBJECT_REMOVED)
    after = world.replaced([i for i in world.instances if i.id != target.id])
    return after, ChangeRecord(ChangeKind.OBJECT_REMOVED, (target.id,), (target.bounds,),
                               f'{target.category} {target.id} removed')


def move_object(world: World, rng: np.random.Generator) -> tuple[World, ChangeRecord]:
    """A random object moved to a free spot clear of where it stood."""
    objects = list(world.objects)
    for index in rng.permutation(len(objects)):
        target = objects[index]
        footprint = (target.local_mesh.bounds[1] - target.local_mesh.bounds[0])[:2]
        others = world.replaced([i for i in world.instances if i.id != target.id])
        spot = _find_spot(others, rng, footprint, [_xy_rect(target.bounds)])
        if spot is None:
            continue
        x, y, yaw, room = spot
        local_centre = (target.local_mesh.bounds[0] + target.local_mesh.bounds[1]) / 2
        pose = pose_from_xy_yaw(x, y, yaw)
        pose[:3, 3] -= pose[:3, :3] @ np.array([*local_centre[:2], 0.0])
        moved = Instance(target.id, target.category, target.model, pose, target.local_mesh,
                         closed=target.closed, room=room)
        after = others.replaced(others.instances + (moved,))
        return after, ChangeRecord(ChangeKind.OBJECT_MOVED, (target.id,),
                                   (target.bounds, moved.bounds),
                                   f'{target.category} {target.id} moved to room {room}')
    raise WorldError('object_moved found no object with a free spot to move to')


def _placeable_entries(world: World) -> tuple[CatalogueEntry, ...]:
    """Catalogue pieces a change may put down (none for a primitives-only world)."""
    furniture = world.config.furniture
    if furniture.source == 'primitives':
        return ()
    categories = tuple(sorted({c for cs in ROOM_CATEGORIES.values() for c in cs}))
    return usable_entries(furniture, categories, 2.0)


def add_object(world: World, rng: np.random.Generator) -> tuple[World, ChangeRecord]:
    """A new object (catalogue piece or primitive, per the world's furniture config)."""
    furniture = world.config.furniture
    entries = _placeable_entries(world)
    for _ in range(10):
        model: ObjectModel = pick_model(rng, furniture, entries)
        spot = _find_spot(world, rng, model.footprint, [])
        if spot is not None:
            added = placed_instance(world.next_id(), model, *spot)
            return world.replaced(world.instances + (added,)), ChangeRecord(
                ChangeKind.OBJECT_ADDED, (added.id,), (added.bounds,),
                f'{added.category} {added.id} added in room {added.room}')
    raise WorldError('object_added found no free spot')


def replace_object(world: World, rng: np.random.Generator, max_volume_ratio: float = 2.0,
                   max_height_difference: float = 0.3, attempts: int = 200
                   ) -> tuple[World, tuple[ChangeRecord, ChangeRecord]]:
    """A random object taken away and a *different* one of similar size put down elsewhere.

    Different means another catalogue model, or for primitives another kind (a box for a
    cylinder). The two boxes' volumes differ by less than ``max_volume_ratio`` and their
    heights by less than ``max_height_difference`` (m), so a change detector that compares
    boxes alone would call the pair one moved object. Returns the world after and the two
    records (removed, added).
    """
    furniture = world.config.furniture
    entries = _placeable_entries(world)
    objects = list(world.objects)
    if not objects:
        raise WorldError('replace_object needs a world with at least one object')
    for _ in range(attempts):
        target = objects[int(rng.integers(len(objects)))]
        model: ObjectModel = pick_model(rng, furniture, entries)
        size = target.local_mesh.bounds[1] - target.local_mesh.bounds[0]
        new_size = model.mesh.bounds[1] - model.mesh.bounds[0]
        ratio = float(np.prod(size) / max(float(np.prod(new_size)), 1e-9))
        same = (model.category, model.model) == (target.category, target.model)
        if same or max(ratio, 1 / ratio) > max_volume_ratio or \
                abs(float(size[2] - new_size[2])) > max_height_difference:
            continue
        others = world.replaced([i for i in world.instances if i.id != target.id])
        spot = _find_spot(others, rng, model.footprint, [_xy_rect(target.bounds)])
        if spot is None:
            continue
        added = placed_instance(world.next_id(), model, *spot)
        after = others.replaced(others.instances + (added,))
        return after, (
            ChangeRecord(ChangeKind.OBJECT_REMOVED, (target.id,), (target.bounds,),
                         f'{target.category} {target.id} removed'),
            ChangeRecord(ChangeKind.OBJECT_ADDED, (added.id,), (added.bounds,),
                         f'{added.category} {added.id} added in room {added.room} (similar '
                         f'size, different object)'))
    raise WorldError('replace_object found no object with a similar-sized replacement')


def _new_room_candidates(layout: Layout, config: WorldConfig,
                         rng: np.random.Generator) -> list[tuple[int, int, Box, tuple, tuple]]:
    """(host room id, side, new outline, grid_x, grid_y) for every free exterior side."""
    height = config.layout.wall_height
    candidates = []
    for room in layout.rooms:
        for side, edge in enumerate(outline_edges(room.outline)):
            across = 1 - edge.along_axis
            lines = layout.grid_y if across == 1 else layout.grid_x
            outward = 1 if side in (1, 3) else -1
            beyond = [g for g in lines if (g - edge.fixed) * outward > 1e-6]
            if beyond:
                far = min(beyond, key=lambda g: abs(g - edge.fixed))
                new_lines = tuple(lines)
            else:
                far = edge.fixed + outward * rng.uniform(config.layout.room_size_min,
                                                         config.layout.room_size_max)
                new_lines = tuple(sorted(lines + (round(far, 4),)))
            low, high = np.zeros(3), np.array([0.0, 0.0, height])
            low[edge.along_axis], high[edge.along_axis] = edge.start, edge.end
            low[across], high[across] = sorted((edge.fixed, far))
            outline = Box.from_arrays(low, high)
            if any(outline.overlaps(other.outline) for other in layout.rooms):
                continue
            grid_x, grid_y = (layout.grid_x, new_lines) if across == 1 else (new_lines,
                                                                             layout.grid_y)
            candidates.append((room.id, side, outline, grid_x, grid_y))
    return candidates


def add_room(world: World, rng: np.random.Generator) -> tuple[World, ChangeRecord]:
    """A new empty room behind an exterior wall, opened with a doorway."""
    _require_apartment(world, ChangeKind.NEW_ROOM)
    assert isinstance(world.config, WorldConfig)
    config = world.config.layout
    candidates = _new_room_candidates(world.layout, world.config, rng)
    if not candidates:
        raise WorldError('new_room found no exterior wall with space behind it')
    host_id, side, outline, grid_x, grid_y = candidates[int(rng.integers(len(candidates)))]
    host = world.layout.room(host_id)
    edge = outline_edges(host.outline)[side]
    room = room_from_outline(max(r.id for r in world.layout.rooms) + 1,
                             str(rng.choice(ROOM_KINDS)), outline, config)
    centre = doorway_centre(rng, edge, config)
    doorway = Doorway(max((d.id for d in world.layout.doorways), default=-1) + 1,
                      (host.id, room.id), doorway_box(edge, centre, config), edge.along_axis)
    replaced = [i for i in world.instances if i.group == edge.key]
    kept = [i for i in world.instances if i.group != edge.key]
    next_id = world.next_id()
    added = [box_instance(next_id + n, 'wall', box, group=edge.key)
             for n, box in enumerate(wall_boxes(edge, [centre], config))]
    existing = {i.group for i in world.instances if i.group}
    for new_edge in outline_edges(outline):
        if new_edge.key not in existing:
            added += [box_instance(next_id + len(added), 'wall', box, group=new_edge.key)
                      for box in wall_boxes(new_edge, [], config)]
    added += slab_instances(room, next_id + len(added), config)
    layout = Layout(world.layout.rooms + (room,), world.layout.doorways + (doorway,), grid_x,
                    grid_y)
    after = world.replaced(kept + added, layout)
    reach = outline.expanded(config.wall_thickness / 2)
    region = Box((reach.min[0], reach.min[1], -config.floor_thickness),
                 (reach.max[0], reach.max[1], config.wall_height))
    ids = tuple(sorted(i.id for i in added + replaced))
    side_name = ('-y', '+y', '-x', '+x')[side]
    return after, ChangeRecord(
        ChangeKind.NEW_ROOM, ids, (region, doorway.box),
        f'new {room.kind} (room {room.id}) opened through the {side_name} wall of room '
        f'{host.id}')


Change = Callable[[World, np.random.Generator], tuple[World, ChangeRecord]]
CHANGES: dict[ChangeKind, Change] = {
    ChangeKind.DOORWAY_BLOCKED: block_doorway,
    ChangeKind.OBJECT_MOVED: move_object,
    ChangeKind.OBJECT_REMOVED: remove_object,
    ChangeKind.OBJECT_ADDED: add_object,
    ChangeKind.NEW_ROOM: add_room,
}


def apply_change(world: World, kind: ChangeKind | str, seed: int = 0) -> tuple[World,
                                                                               ChangeRecord]:
    """The world after a scripted change of ``kind`` and its record (deterministic in seed)."""
    change = CHANGES[parse_kind(kind)]
    return change(world, np.random.default_rng(check_seed(seed)))
