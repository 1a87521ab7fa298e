"""Procedural indoor occupancy grids (rooms, walls, doors, furniture) for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from scenemem_ros.planning.errors import PlanningError


def indoor_occupancy(shape: tuple[int, int] = (400, 400), resolution: float = 0.05,
                     seed: int = 0, room_size: tuple[float, float] = (3.0, 6.0),
                     wall: float = 0.1, door: float = 0.9, furniture: int = 3,
                     margin: float = 0.3) -> np.ndarray:
    """(X, Y) int8 occupancy of a floor: rooms split recursively, one door per wall.

    ``margin`` metres around the outer walls are unknown (-1); walls and furniture are 100, the
    rest 0. Doors never face a wall end and furniture keeps ``door`` metres from the walls, so
    every room stays reachable for a robot narrower than ``door / 2``.
    """
    size_x, size_y = (int(v) for v in shape)
    thick = max(1, round(wall / resolution))
    border = round(margin / resolution)
    door_cells = max(1, round(door / resolution))
    low, high = (round(v / resolution) for v in room_size)
    if min(size_x, size_y) < 2 * (border + thick) + low or low < door_cells + 2 * thick:
        raise PlanningError(f'indoor_occupancy: shape {shape} at {resolution} m is too small '
                            f'for rooms of {room_size} m')
    rng = np.random.default_rng(seed)
    cells = np.full((size_x, size_y), -1, dtype=np.int8)
    x0, x1, y0, y1 = border, size_x - border, border, size_y - border
    cells[x0:x1, y0:y1] = 100
    cells[x0 + thick:x1 - thick, y0 + thick:y1 - thick] = 0
    # doors as (axis of the wall's normal, wall start, wall end, opening low, opening high)
    doors: list[tuple[int, int, int, int, int]] = []
    rooms: list[tuple[int, int, int, int]] = []

    def clashes(axis: int, cut: int, span: tuple[int, int]) -> bool:
        """Would a wall at ``cut`` (normal ``axis``) end in front of a door?"""
        for door_axis, start, _end, open_low, open_high in doors:
            if door_axis != axis and (start == span[0] - thick or start == span[1]) and \
                    cut < open_high + thick and cut + thick > open_low - thick:
                return True
        return False

    def split(rx0: int, rx1: int, ry0: int, ry1: int) -> None:
        axis = 0 if rx1 - rx0 >= ry1 - ry0 else 1
        low_end, high_end = (rx0, rx1) if axis == 0 else (ry0, ry1)
        span = (ry0, ry1) if axis == 0 else (rx0, rx1)
        if high_end - low_end <= high or high_end - low_end < 2 * low + thick:
            rooms.append((rx0, rx1, ry0, ry1))
            return
        for _ in range(50):
            cut = int(rng.integers(low_end + low, high_end - low - thick + 1))
            if not clashes(axis, cut, span):
                break
        else:
            rooms.append((rx0, rx1, ry0, ry1))
            return
        opening = int(rng.integers(span[0] + thick, span[1] - door_cells - thick + 1))
        if axis == 0:
            cells[cut:cut + thick, ry0:ry1] = 100
            cells[cut:cut + thick, opening:opening + door_cells] = 0
            doors.append((0, cut, cut + thick, opening, opening + door_cells))
            split(rx0, cut, ry0, ry1)
            split(cut + thick, rx1, ry0, ry1)
        else:
            cells[rx0:rx1, cut:cut + thick] = 100
            cells[opening:opening + door_cells, cut:cut + thick] = 0
            doors.append((1, cut, cut + thick, opening, opening + door_cells))
            split(rx0, rx1, ry0, cut)
            split(rx0, rx1, cut + thick, ry1)

    split(x0 + thick, x1 - thick, y0 + thick, y1 - thick)
    keep = door_cells
    for rx0, rx1, ry0, ry1 in rooms:
        inner_x, inner_y = rx1 - rx0 - 2 * keep, ry1 - ry0 - 2 * keep
        if inner_x < 4 or inner_y < 4:
            continue
        for _ in range(furniture):
            width = int(rng.integers(2, max(3, inner_x // 2)))
            depth = int(rng.integers(2, max(3, inner_y // 2)))
            px = int(rng.integers(rx0 + keep, rx1 - keep - width + 1))
            py = int(rng.integers(ry0 + keep, ry1 - keep - depth + 1))
            cells[px:px + width, py:py + depth] = 100
    return cells
