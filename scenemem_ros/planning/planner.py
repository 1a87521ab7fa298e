"""Shortest collision-free paths on a :class:`PlanningGrid` with nav_msgs/GetPlan semantics.

* The path is exactly optimal over the grid's free cells (``moves``: 8 or 4 neighbours, no
  diagonal between two blocked cells; ``search``: A* with landmark bounds).
* ``tolerance`` (metres): when the goal cell is blocked or cannot be reached, the path ends at the
  reachable free cell whose centre is nearest to the goal and within ``tolerance`` of it (equally
  near cells: the shortest path wins, then the lowest (ix, iy)). A goal outside the map fails
  whatever the tolerance (as in Nav2's planners).
* A start in a blocked cell that is not itself occupied (inside the inflation band, which a
  robot's estimated pose may well be, or on an unknown cell) escapes when
  ``config.start_escape`` is set: the path first follows the shortest route through non-occupied
  cells, at most ``robot_radius + 2 * resolution`` long, to a free cell, and the whole plan is
  the shortest over every such escape. A start on an occupied cell always fails.
* The path holds the visited cell centres in metres, except its first point, which is the start
  position, and its last, which is the goal position when the goal cell is reached (the cell
  centre when a tolerance cell is). A start and goal in one cell give two points.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from scenemem_ros.planning.errors import PlanningError
from scenemem_ros.planning.grid import PlanningGrid
from scenemem_ros.planning.moves import MOVE_CELLS, MOVES
from scenemem_ros.planning.search import shortest_path

#: Extra escape length allowed beyond the robot radius, in cells.
ESCAPE_MARGIN_CELLS = 2.0


class PlanFailure(Enum):
    """Why :func:`plan` found no path (``NONE`` on success)."""

    NONE = 'none'
    START_OUTSIDE_MAP = 'start_outside_map'
    GOAL_OUTSIDE_MAP = 'goal_outside_map'
    START_IN_OBSTACLE = 'start_in_obstacle'
    GOAL_IN_OBSTACLE = 'goal_in_obstacle'
    UNREACHABLE = 'unreachable'


@dataclass(frozen=True, eq=False)
class PlanResult:
    """Outcome of one :func:`plan` call.

    Attributes:
        success: True when ``path`` leads from the start to the goal (or a tolerance cell).
        reason: ``PlanFailure.NONE`` on success, else why not.
        path: (N, 2) float64 world xy in metres; (0, 2) on failure.
        cells: (N, 2) int64 grid cells of the path points; (0, 2) on failure.
        length: metres along the cell path (1 or sqrt(2) cells per move, the quantity the
            search minimises); 0 on failure.
        goal_offset: metres from the path's last point to the requested goal (0 unless the
            tolerance was used).
        expansions: grid cells the search reached (summed over its rounds).
        seconds: wall time of the call.
        message: a human-readable account of the outcome.
    """

    success: bool
    reason: PlanFailure
    path: np.ndarray
    cells: np.ndarray
    length: float
    goal_offset: float
    expansions: int
    seconds: float
    message: str


def plan(grid: PlanningGrid, start_xy: Sequence[float] | np.ndarray,
         goal_xy: Sequence[float] | np.ndarray, tolerance: float = 0.0, *,
         backend: str | None = None) -> PlanResult:
    """(2,) start and (2,) goal in world metres -> the shortest path on ``grid``.

    ``tolerance`` (metres, >= 0) applies when the goal cell is blocked or unreachable; see the
    module docstring for the start escape and the path's end points. ``backend`` names the
    search implementation (``search.SEARCH_BACKENDS``; None: the compiled one when built).
    Thread-safe; the compiled search runs without the GIL.

    Raises:
        PlanningError: start or goal not 2 finite numbers, tolerance not a finite number >= 0,
            an unknown or unavailable backend.
    """
    began = time.perf_counter()
    start = _point(start_xy, 'start')
    goal = _point(goal_xy, 'goal')
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)) or \
            not (math.isfinite(tolerance) and tolerance >= 0):
        raise PlanningError(f'tolerance must be a finite number >= 0 (metres), got {tolerance!r}')
    tolerance = float(tolerance)

    def failed(reason: PlanFailure, message: str, expansions: int = 0) -> PlanResult:
        return PlanResult(False, reason, np.zeros((0, 2)), np.zeros((0, 2), dtype=np.int64),
                          0.0, 0.0, expansions, time.perf_counter() - began, message)

    if not grid.contains_point(start):
        return failed(PlanFailure.START_OUTSIDE_MAP, f'start {_xy(start)} is outside the map '
                      f'{_bounds(grid)}')
    if not grid.contains_point(goal):
        return failed(PlanFailure.GOAL_OUTSIDE_MAP, f'goal {_xy(goal)} is outside the map '
                      f'{_bounds(grid)}')
    start_cell = grid.point_to_cell(start)
    goal_cell = grid.point_to_cell(goal)
    sx, sy = int(start_cell[0]), int(start_cell[1])

    # sources: the start cell, or the free cells an escape from the inflation band reaches
    escapes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    expansions = 0
    if grid.free[sx, sy]:
        sources = start_cell[None, :]
        source_costs = np.zeros(1)
    elif grid.occupied[sx, sy]:
        return failed(PlanFailure.START_IN_OBSTACLE,
                      f'start {_xy(start)} is on an occupied cell {(sx, sy)}')
    elif not grid.config.start_escape:
        return failed(PlanFailure.START_IN_OBSTACLE,
                      f'start {_xy(start)} is in a blocked cell {(sx, sy)} '
                      f'({_blocked_kind(grid, sx, sy)}) and start_escape is off')
    else:
        budget = grid.config.robot_radius / grid.resolution + ESCAPE_MARGIN_CELLS
        exits, escapes, expansions = _escape(grid, (sx, sy), budget)
        if not exits:
            return failed(PlanFailure.START_IN_OBSTACLE,
                          f'start {_xy(start)} is in a blocked cell {(sx, sy)} '
                          f'({_blocked_kind(grid, sx, sy)}) with no free cell within '
                          f'{budget * grid.resolution:.3f} m', expansions)
        sources = np.array(sorted(exits), dtype=np.int64)
        source_costs = np.array([exits[(int(x), int(y))] for x, y in sources])
    components = np.unique(grid.labels[sources[:, 0], sources[:, 1]])

    # targets: the goal cell, or the nearest reachable free cells within the tolerance
    gx, gy = int(goal_cell[0]), int(goal_cell[1])
    if grid.free[gx, gy] and grid.labels[gx, gy] in components:
        targets = goal_cell[None, :]
    else:
        targets = _tolerance_cells(grid, goal, tolerance, components)
        if len(targets) == 0:
            if grid.blocked[gx, gy]:
                return failed(PlanFailure.GOAL_IN_OBSTACLE,
                              f'goal {_xy(goal)} is in a blocked cell {(gx, gy)} '
                              f'({_blocked_kind(grid, gx, gy)}) and no reachable free cell '
                              f'lies within the tolerance {tolerance} m', expansions)
            return failed(PlanFailure.UNREACHABLE,
                          f'goal {_xy(goal)} is unreachable: free but not connected to the '
                          f'start {_xy(start)}, and no reachable free cell lies within the '
                          f'tolerance {tolerance} m', expansions)
    found = shortest_path(grid.search_index, sources, source_costs, targets, backend)
    if found is None:  # the component checks above rule this out
        return failed(PlanFailure.UNREACHABLE, f'no path from {_xy(start)} to {_xy(goal)}',
                      expansions)
    expansions += found.expansions
    escape = escapes.get((int(found.cells[0, 0]), int(found.cells[0, 1])), [])
    cells = np.concatenate([np.asarray(escape[:-1], dtype=np.int64).reshape(-1, 2),
                            found.cells])
    if len(cells) == 1:
        cells = np.concatenate([cells, cells])
    path = grid.cell_centre(cells)
    path[0] = start
    end = cells[-1]
    reached_goal = bool(end[0] == gx and end[1] == gy)
    if reached_goal:
        path[-1] = goal
    offset = 0.0 if reached_goal else float(np.hypot(*(path[-1] - goal)))
    length = found.length * grid.resolution
    message = f'{len(cells)} points, {length:.3f} m'
    if escape:
        message += f', leaving the inflation band over {len(escape) - 1} cells'
    if not reached_goal:
        message += f', ending {offset:.3f} m from the goal (tolerance {tolerance} m)'
    return PlanResult(True, PlanFailure.NONE, path, cells, length, offset, expansions,
                      time.perf_counter() - began, message)


def _point(value: Sequence[float] | np.ndarray, role: str) -> np.ndarray:
    try:
        point = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        point = None
    if point is None or point.shape != (2,) or not np.isfinite(point).all():
        raise PlanningError(f'{role} must be 2 finite numbers (x, y metres), got {value!r}')
    return point


def _xy(point: np.ndarray) -> str:
    return f'({point[0]:.3f}, {point[1]:.3f})'


def _bounds(grid: PlanningGrid) -> str:
    high = grid.origin + np.asarray(grid.shape) * grid.resolution
    return f'[{grid.origin[0]:.3f}, {high[0]:.3f}) x [{grid.origin[1]:.3f}, {high[1]:.3f})'


def _blocked_kind(grid: PlanningGrid, x: int, y: int) -> str:
    if grid.occupied[x, y]:
        return 'occupied'
    if grid.obstacles[x, y]:
        return 'unknown'
    return f'within robot_radius {grid.config.robot_radius} m of an obstacle'


def _escape(grid: PlanningGrid, start: tuple[int, int], budget: float
            ) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], list[tuple[int, int]]],
                       int]:
    """Shortest routes from a blocked, non-occupied start cell through non-occupied cells.

    Returns the free cells reached within ``budget`` cells with their route lengths, each one's
    route (start first), and the number of cells reached. Routes end at their first free cell.
    """
    occupied = grid.occupied
    size_x, size_y = grid.shape
    moves = [(int(dx), int(dy), float(cost)) for (dx, dy), cost in
             zip(MOVES[:grid.config.connectivity], MOVE_CELLS, strict=False)]
    best = {start: 0.0}
    previous: dict[tuple[int, int], tuple[int, int]] = {}
    heap = [(0.0, start)]
    exits: dict[tuple[int, int], float] = {}
    settled: set[tuple[int, int]] = set()
    while heap:
        cost, cell = heapq.heappop(heap)
        if cell in settled:
            continue
        settled.add(cell)
        x, y = cell
        if grid.free[x, y]:
            exits[cell] = cost
            continue
        for dx, dy, step in moves:
            nx, ny = x + dx, y + dy
            if not (0 <= nx < size_x and 0 <= ny < size_y) or occupied[nx, ny]:
                continue
            if dx and dy and occupied[x + dx, y] and occupied[x, y + dy]:
                continue
            new = cost + step
            if new <= budget + 1e-9 and new < best.get((nx, ny), math.inf):
                best[(nx, ny)] = new
                previous[(nx, ny)] = cell
                heapq.heappush(heap, (new, (nx, ny)))
    routes = {}
    for cell in exits:
        route = [cell]
        while route[-1] != start:
            route.append(previous[route[-1]])
        routes[cell] = route[::-1]
    return exits, routes, len(settled)


def _tolerance_cells(grid: PlanningGrid, goal: np.ndarray, tolerance: float,
                     components: np.ndarray) -> np.ndarray:
    """(T, 2) int64 reachable free cells whose centres are nearest to ``goal`` and within
    ``tolerance`` of it, sorted by (ix, iy); (0, 2) when there are none."""
    reach = tolerance / grid.resolution + 1.0
    centre = (goal - grid.origin) / grid.resolution
    size_x, size_y = grid.shape
    x0, x1 = max(0, math.floor(centre[0] - reach)), min(size_x, math.ceil(centre[0] + reach) + 1)
    y0, y1 = max(0, math.floor(centre[1] - reach)), min(size_y, math.ceil(centre[1] + reach) + 1)
    empty = np.zeros((0, 2), dtype=np.int64)
    if x0 >= x1 or y0 >= y1:
        return empty
    xs = np.arange(x0, x1)
    ys = np.arange(y0, y1)
    centres_x = grid.origin[0] + (xs + 0.5) * grid.resolution - goal[0]
    centres_y = grid.origin[1] + (ys + 0.5) * grid.resolution - goal[1]
    distance = np.hypot(centres_x[:, None], centres_y[None, :])
    allowed = (grid.free[x0:x1, y0:y1] & np.isin(grid.labels[x0:x1, y0:y1], components)
               & (distance <= tolerance + 1e-9))
    if not allowed.any():
        return empty
    nearest = distance[allowed].min()
    ties = np.argwhere(allowed & (distance <= nearest + 1e-9))
    return ties + np.array([x0, y0])
