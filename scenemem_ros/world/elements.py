"""The parts a world is made of: boxes, rooms, doorways, the room layout and object instances.

Every element converts to and from plain dicts (``to_dict``/``from_dict``) for the JSON metadata.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.mesh import TriMesh

STRUCTURE_CATEGORIES = ('wall', 'floor', 'ceiling')


@dataclass(frozen=True)
class Box:
    """Axis-aligned box between corners ``min`` and ``max`` (3 floats each, metres)."""

    min: tuple[float, float, float]
    max: tuple[float, float, float]

    def __post_init__(self) -> None:
        low = tuple(float(x) for x in self.min)
        high = tuple(float(x) for x in self.max)
        if len(low) != 3 or len(high) != 3:
            raise WorldError(f'Box corners must have 3 coordinates, got {low} and {high}')
        if any(h < lo for lo, h in zip(low, high, strict=True)):
            raise WorldError(f'Box.max {high} must be >= Box.min {low}')
        object.__setattr__(self, 'min', low)
        object.__setattr__(self, 'max', high)

    @classmethod
    def from_arrays(cls, low: np.ndarray, high: np.ndarray) -> Box:
        """Box from two (3,) arrays."""
        return cls(tuple(np.asarray(low, float)), tuple(np.asarray(high, float)))

    @property
    def low(self) -> np.ndarray:
        """(3,) min corner."""
        return np.array(self.min)

    @property
    def high(self) -> np.ndarray:
        """(3,) max corner."""
        return np.array(self.max)

    @property
    def size(self) -> np.ndarray:
        """(3,) edge lengths."""
        return self.high - self.low

    @property
    def centre(self) -> np.ndarray:
        """(3,) centre."""
        return (self.high + self.low) / 2

    def expanded(self, margin: float) -> Box:
        """The box grown by ``margin`` on every side (shrunk when negative)."""
        return Box.from_arrays(self.low - margin, np.maximum(self.high + margin,
                                                             self.low - margin))

    def union(self, other: Box) -> Box:
        """Smallest box holding both."""
        return Box.from_arrays(np.minimum(self.low, other.low), np.maximum(self.high, other.high))

    def overlaps(self, other: Box) -> bool:
        """Whether the interiors intersect."""
        return bool(np.all(self.low < other.high) and np.all(other.low < self.high))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) bool, inside or on the boundary."""
        points = np.asarray(points, float)
        return np.all((points >= self.low) & (points <= self.high), axis=-1)

    @property
    def polygon(self) -> np.ndarray:
        """(4, 2) counter-clockwise xy corners of the footprint."""
        (x0, y0, _), (x1, y1, _) = self.min, self.max
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    def to_dict(self) -> dict[str, Any]:
        return {'min': list(self.min), 'max': list(self.max)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Box:
        return cls(tuple(data['min']), tuple(data['max']))


@dataclass(frozen=True)
class Room:
    """A rectangular room.

    Attributes:
        id: room number, unique within the world.
        kind: 'living room', 'bedroom', 'kitchen', 'bathroom' or 'office'.
        outline: box between the wall centre lines, z from 0 to the wall height.
        box: free interior (outline minus half a wall thickness on each side).
    """

    id: int
    kind: str
    outline: Box
    box: Box

    def to_dict(self) -> dict[str, Any]:
        return {'id': self.id, 'kind': self.kind, 'outline': self.outline.to_dict(),
                'box': self.box.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Room:
        return cls(int(data['id']), data['kind'], Box.from_dict(data['outline']),
                   Box.from_dict(data['box']))


@dataclass(frozen=True)
class Doorway:
    """An opening in a wall.

    Attributes:
        id: doorway number, unique within the world.
        rooms: the two room ids it joins; -1 stands for the outside.
        box: the opening: doorway width along the wall, wall thickness across, z from 0 to the
            doorway height (a lintel fills the wall above).
        along_axis: 0 when the wall runs along x, 1 when it runs along y.
    """

    id: int
    rooms: tuple[int, int]
    box: Box
    along_axis: int

    @property
    def across_axis(self) -> int:
        """The axis one walks along to pass through."""
        return 1 - self.along_axis

    def to_dict(self) -> dict[str, Any]:
        return {'id': self.id, 'rooms': list(self.rooms), 'box': self.box.to_dict(),
                'along_axis': self.along_axis}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Doorway:
        return cls(int(data['id']), (int(data['rooms'][0]), int(data['rooms'][1])),
                   Box.from_dict(data['box']), int(data['along_axis']))


@dataclass(frozen=True)
class Layout:
    """Rooms and doorways of an apartment, and the grid lines the rooms' outlines snap to.

    Attributes:
        rooms, doorways: the rooms and the openings between them.
        grid_x, grid_y: sorted wall centre-line coordinates.
    """

    rooms: tuple[Room, ...] = ()
    doorways: tuple[Doorway, ...] = ()
    grid_x: tuple[float, ...] = ()
    grid_y: tuple[float, ...] = ()

    def room(self, room_id: int) -> Room:
        """The room with this id."""
        for room in self.rooms:
            if room.id == room_id:
                return room
        raise WorldError(f'no room with id {room_id}')

    def to_dict(self) -> dict[str, Any]:
        return {'rooms': [r.to_dict() for r in self.rooms],
                'doorways': [d.to_dict() for d in self.doorways],
                'grid_x': list(self.grid_x), 'grid_y': list(self.grid_y)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        return cls(tuple(Room.from_dict(r) for r in data['rooms']),
                   tuple(Doorway.from_dict(d) for d in data['doorways']),
                   tuple(data['grid_x']), tuple(data['grid_y']))


@dataclass(frozen=True, eq=False)
class Instance:
    """One object of the world: a wall piece, a floor slab, a furniture model or a primitive.

    Attributes:
        id: instance number, unique within the world (ids are never reused after removal).
        category: 'wall', 'floor', 'ceiling', 'box', 'cylinder' or a furniture name ('bed').
        model: where the mesh came from: 'structure', 'primitive' or 'library/catalogue id'.
        pose: (4, 4) float64 local -> world transform (rotation about z plus translation).
        local_mesh: the mesh in the local frame.
        closed: whether the mesh is watertight, so its interior counts as solid occupancy.
        room: id of the room it stands in, -1 for none.
        group: what the piece belongs to; wall pieces carry their wall's edge key.
    """

    id: int
    category: str
    model: str
    pose: np.ndarray
    local_mesh: TriMesh
    closed: bool = False
    room: int = -1
    group: str = ''

    def __post_init__(self) -> None:
        pose = np.asarray(self.pose, dtype=np.float64)
        if pose.shape != (4, 4):
            raise WorldError(f'Instance.pose must be 4x4, got shape {pose.shape}')
        object.__setattr__(self, 'pose', pose)

    @functools.cached_property
    def mesh(self) -> TriMesh:
        """The mesh in world coordinates (computed once)."""
        return self.local_mesh.transformed(self.pose)

    @property
    def bounds(self) -> Box:
        """World axis-aligned bounds."""
        low, high = self.mesh.bounds
        return Box.from_arrays(low, high)

    @property
    def is_structure(self) -> bool:
        """Walls, floors and ceilings."""
        return self.category in STRUCTURE_CATEGORIES

    def metadata(self) -> dict[str, Any]:
        """Everything but the mesh, as a JSON-ready dict."""
        return {'id': self.id, 'category': self.category, 'model': self.model,
                'pose': self.pose.tolist(), 'bounds': self.bounds.to_dict(),
                'closed': self.closed, 'room': self.room, 'group': self.group}


def pose_from_xy_yaw(x: float, y: float, yaw: float, z: float = 0.0) -> np.ndarray:
    """(4, 4) transform rotating by ``yaw`` radians about z, then translating to (x, y, z)."""
    c, s = np.cos(yaw), np.sin(yaw)
    pose = np.eye(4)
    pose[:2, :2] = [[c, -s], [s, c]]
    pose[:3, 3] = (x, y, z)
    return pose
