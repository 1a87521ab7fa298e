"""Naive loop versions of the planner's parts, written independently for the tests."""

from __future__ import annotations

import heapq
import math

import numpy as np

STEPS_4 = [(1, 0), (-1, 0), (0, 1), (0, -1)]
STEPS_8 = STEPS_4 + [(1, 1), (1, -1), (-1, 1), (-1, -1)]


def naive_inflate(obstacles: np.ndarray, radius_cells: float) -> np.ndarray:
    """Mark every cell whose centre is within ``radius_cells`` of an obstacle cell's centre."""
    size_x, size_y = obstacles.shape
    blocked = obstacles.copy()
    reach = int(math.floor(radius_cells + 1e-6))
    limit = radius_cells * radius_cells * (1 + 1e-6) + 1e-9  # the documented slack
    for x, y in zip(*np.nonzero(obstacles), strict=True):
        for dx in range(-reach, reach + 1):
            for dy in range(-reach, reach + 1):
                nx, ny = x + dx, y + dy
                if 0 <= nx < size_x and 0 <= ny < size_y and dx * dx + dy * dy <= limit:
                    blocked[nx, ny] = True
    return blocked


def naive_allowed(passable: np.ndarray, x: int, y: int, dx: int, dy: int) -> bool:
    """Can a path step from (x, y) by (dx, dy)? Both cells passable; a diagonal also needs one
    of the two cells it passes between to be passable."""
    size_x, size_y = passable.shape
    nx, ny = x + dx, y + dy
    if not (0 <= x < size_x and 0 <= y < size_y and 0 <= nx < size_x and 0 <= ny < size_y):
        return False
    if not (passable[x, y] and passable[nx, ny]):
        return False
    return not (dx and dy and not passable[x + dx, y] and not passable[x, y + dy])


def naive_distances(passable: np.ndarray, connectivity: int,
                    sources: dict[tuple[int, int], float]) -> np.ndarray:
    """(X, Y) shortest path length in cells from the nearest source (heapq Dijkstra)."""
    steps = STEPS_8 if connectivity == 8 else STEPS_4
    distance = np.full(passable.shape, np.inf)
    heap = []
    for cell, cost in sources.items():
        if cost < distance[cell]:
            distance[cell] = cost
            heap.append((cost, cell))
    heapq.heapify(heap)
    while heap:
        value, (x, y) = heapq.heappop(heap)
        if value > distance[x, y]:
            continue
        for dx, dy in steps:
            if naive_allowed(passable, x, y, dx, dy):
                new = value + math.hypot(dx, dy)
                if new < distance[x + dx, y + dy]:
                    distance[x + dx, y + dy] = new
                    heapq.heappush(heap, (new, (x + dx, y + dy)))
    return distance


def random_cells(rng: np.random.Generator, shape: tuple[int, int], density: float,
                 unknown: float = 0.0) -> np.ndarray:
    """(X, Y) int8 occupancy: random obstacles (values 50..100), unknown cells, free (0..49)."""
    draw = rng.random(shape)
    cells = rng.integers(0, 50, shape).astype(np.int8)
    cells[draw < density] = rng.integers(50, 101, int((draw < density).sum()))
    cells[(draw >= density) & (draw < density + unknown)] = -1
    return cells


def path_is_valid(passable: np.ndarray, cells: np.ndarray, connectivity: int) -> bool:
    """Every step of ``cells`` is an allowed move on ``passable`` (or stays put)."""
    steps = set(STEPS_8 if connectivity == 8 else STEPS_4)
    for (x, y), (nx, ny) in zip(cells[:-1].tolist(), cells[1:].tolist(), strict=True):
        step = (nx - x, ny - y)
        if step == (0, 0):
            continue
        if step not in steps or not naive_allowed(passable, x, y, *step):
            return False
    return True
