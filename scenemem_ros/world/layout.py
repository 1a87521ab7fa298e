"""Apartment layouts: rooms on a grid, walls with thickness, doorways with lintels, floor slabs.

Rooms take cells of a grid whose column widths and row depths are random. Walls stand on the grid
lines (centred on them); every room side is one wall *edge*, shared by the two rooms it separates,
and a doorway cuts an opening of the doorway size into its edge, leaving a lintel above.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scenemem_ros.world.config import LayoutConfig
from scenemem_ros.world.elements import Box, Doorway, Instance, Layout, Room
from scenemem_ros.world.mesh import box_mesh

ROOM_KINDS = ('living room', 'bedroom', 'kitchen', 'bathroom', 'office')
JAMB_MIN = 0.3  # shortest wall left between a doorway and the room corner


class Edge(NamedTuple):
    """A wall centre line: along ``along_axis`` (0 = x, 1 = y) at ``fixed``, from start to end."""

    along_axis: int
    fixed: float
    start: float
    end: float

    @property
    def key(self) -> str:
        return f'{self.along_axis}:{self.fixed:.4f}:{self.start:.4f}:{self.end:.4f}'


def outline_edges(outline: Box) -> list[Edge]:
    """The four wall edges of a room outline (y min, y max, x min, x max)."""
    (x0, y0, _), (x1, y1, _) = outline.min, outline.max
    return [Edge(0, y0, x0, x1), Edge(0, y1, x0, x1), Edge(1, x0, y0, y1), Edge(1, x1, y0, y1)]


def _edge_box(edge: Edge, along: tuple[float, float], z: tuple[float, float],
              thickness: float) -> Box:
    low, high = np.zeros(3), np.zeros(3)
    low[edge.along_axis], high[edge.along_axis] = along
    low[1 - edge.along_axis] = edge.fixed - thickness / 2
    high[1 - edge.along_axis] = edge.fixed + thickness / 2
    low[2], high[2] = z
    return Box.from_arrays(low, high)


def wall_boxes(edge: Edge, doorway_centres: list[float], config: LayoutConfig) -> list[Box]:
    """Boxes of the wall on ``edge`` with openings centred at ``doorway_centres`` along it.

    The wall runs half a thickness past both ends so perpendicular walls close the corners.
    """
    t, w, height = config.wall_thickness, config.doorway_width, config.wall_height
    boxes, cursor = [], edge.start - t / 2
    for centre in sorted(doorway_centres):
        if centre - w / 2 > cursor + 1e-6:
            boxes.append(_edge_box(edge, (cursor, centre - w / 2), (0.0, height), t))
        boxes.append(_edge_box(edge, (centre - w / 2, centre + w / 2),
                               (config.doorway_height, height), t))
        cursor = centre + w / 2
    if edge.end + t / 2 > cursor + 1e-6:
        boxes.append(_edge_box(edge, (cursor, edge.end + t / 2), (0.0, height), t))
    return boxes


def doorway_box(edge: Edge, centre: float, config: LayoutConfig) -> Box:
    """The opening of a doorway centred at ``centre`` along ``edge``."""
    w = config.doorway_width
    return _edge_box(edge, (centre - w / 2, centre + w / 2), (0.0, config.doorway_height),
                     config.wall_thickness)


def box_instance(instance_id: int, category: str, box: Box, room: int = -1,
                 group: str = '', model: str = 'structure') -> Instance:
    """A closed box instance posed at the box centre."""
    pose = np.eye(4)
    pose[:3, 3] = box.centre
    half = box.size / 2
    return Instance(instance_id, category, model, pose, box_mesh(-half, half), closed=True,
                    room=room, group=group)


def room_from_outline(room_id: int, kind: str, outline: Box, config: LayoutConfig) -> Room:
    """A room whose free interior is the outline minus half a wall on each side."""
    inset = np.array([config.wall_thickness / 2] * 2 + [0.0])
    return Room(room_id, kind, outline, Box.from_arrays(outline.low + inset,
                                                         outline.high - inset))


def slab_instances(room: Room, first_id: int, config: LayoutConfig) -> list[Instance]:
    """Floor slab (top at z = 0) and, when configured, ceiling slab under/over one room."""
    t, ft = config.wall_thickness / 2, config.floor_thickness
    (x0, y0, _), (x1, y1, _) = room.outline.min, room.outline.max
    slabs = [('floor', (-ft, 0.0))]
    if config.ceiling:
        slabs.append(('ceiling', (config.wall_height, config.wall_height + ft)))
    return [box_instance(first_id + i, category, Box((x0 - t, y0 - t, z0), (x1 + t, y1 + t, z1)),
                         room=room.id)
            for i, (category, (z0, z1)) in enumerate(slabs)]


def wall_instances(edges: dict[str, Edge], doorways: dict[str, list[float]], first_id: int,
                   config: LayoutConfig) -> list[Instance]:
    """Wall pieces of every edge (keyed by ``Edge.key``), ids counting up from ``first_id``."""
    instances: list[Instance] = []
    for key in sorted(edges):
        for box in wall_boxes(edges[key], doorways.get(key, []), config):
            instances.append(box_instance(first_id + len(instances), 'wall', box, group=key))
    return instances


def _grow_cells(rng: np.random.Generator, config: LayoutConfig) -> list[tuple[int, int]]:
    count = int(rng.integers(config.room_count_min, config.room_count_max + 1))
    cells = [(int(rng.integers(config.grid_columns)), int(rng.integers(config.grid_rows)))]
    while len(cells) < count:
        frontier = sorted({(c + dc, r + dr) for c, r in cells
                           for dc, dr in ((1, 0), (-1, 0), (0, 1), (0, -1))
                           if 0 <= c + dc < config.grid_columns and 0 <= r + dr < config.grid_rows}
                          - set(cells))
        cells.append(frontier[int(rng.integers(len(frontier)))])
    return cells


def _connections(rng: np.random.Generator, cells: list[tuple[int, int]],
                 config: LayoutConfig) -> list[tuple[int, int]]:
    """Room index pairs to join with doorways: a random spanning tree plus a few extras."""
    pairs = [(a, b) for a in range(len(cells)) for b in range(a + 1, len(cells))
             if abs(cells[a][0] - cells[b][0]) + abs(cells[a][1] - cells[b][1]) == 1]
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    parent = list(range(len(cells)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    chosen = []
    for a, b in pairs:
        if root(a) != root(b):
            parent[root(a)] = root(b)
            chosen.append((a, b))
        elif rng.random() < config.extra_doorway_probability:
            chosen.append((a, b))
    return chosen


def shared_edge(a: Box, b: Box) -> Edge | None:
    """The wall edge two adjacent room outlines share, or None."""
    for edge in outline_edges(a):
        if edge in outline_edges(b):
            return edge
    return None


def doorway_centre(rng: np.random.Generator, edge: Edge, config: LayoutConfig) -> float:
    """A random doorway position along ``edge`` that leaves jambs at both corners."""
    margin = config.wall_thickness / 2 + JAMB_MIN + config.doorway_width / 2
    return float(rng.uniform(edge.start + margin, edge.end - margin))


def generate_layout(rng: np.random.Generator,
                    config: LayoutConfig) -> tuple[Layout, list[Instance]]:
    """A random layout and its structure instances (walls, floor and ceiling slabs), ids from 0."""
    sizes = [rng.uniform(config.room_size_min, config.room_size_max, n)
             for n in (config.grid_columns, config.grid_rows)]
    grid_x, grid_y = (np.concatenate([[0.0], np.cumsum(s)]).round(4) for s in sizes)
    cells = _grow_cells(rng, config)
    kinds = ['living room'] + [ROOM_KINDS[1:][i] for i in rng.permutation(len(ROOM_KINDS) - 1)]
    kinds += [str(rng.choice(ROOM_KINDS)) for _ in range(len(cells))]
    rooms = [room_from_outline(i, kinds[i], Box((grid_x[c], grid_y[r], 0.0),
                                                (grid_x[c + 1], grid_y[r + 1],
                                                 config.wall_height)), config)
             for i, (c, r) in enumerate(cells)]
    doorways: list[Doorway] = []
    openings: dict[str, list[float]] = {}
    for a, b in _connections(rng, cells, config):
        edge = shared_edge(rooms[a].outline, rooms[b].outline)
        assert edge is not None
        centre = doorway_centre(rng, edge, config)
        doorways.append(Doorway(len(doorways), (a, b), doorway_box(edge, centre, config),
                                edge.along_axis))
        openings.setdefault(edge.key, []).append(centre)
    edges = {edge.key: edge for room in rooms for edge in outline_edges(room.outline)}
    instances: list[Instance] = []
    for room in rooms:
        instances += slab_instances(room, len(instances), config)
    instances += wall_instances(edges, openings, len(instances), config)
    layout = Layout(tuple(rooms), tuple(doorways), tuple(grid_x.tolist()),
                    tuple(grid_y.tolist()))
    return layout, instances
