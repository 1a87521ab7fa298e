"""Config of the grid planner (ROS parameters ``planner.<field>``, see ``ros/planner_node``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scenemem_ros.planning.errors import PlanningError


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class PlannerConfig:
    """How occupancy becomes obstacles, and how the planner moves between cells.

    Attributes:
        robot_radius: metres; every cell whose centre lies within this distance of an obstacle
            cell's centre is blocked (exact Euclidean disc inflation; 0 disables inflation).
        connectivity: 8 (moves to all neighbours, diagonals cost sqrt(2) cells) or 4 (moves
            along the axes only).
        occupied_threshold: occupancy values >= this (1..100) are obstacles.
        unknown_is_free: treat unknown cells (-1) as free; otherwise they are obstacles and
            are inflated like occupied cells.
        start_escape: a start in a blocked cell that is not itself occupied (inside the
            inflation band, or on an unknown cell) first leaves along the shortest route through
            non-occupied cells, at most robot_radius plus two cells long, to free space; without
            it such a start fails with START_IN_OBSTACLE.
        landmarks: exact distance fields precomputed per map (0..64) for the search's
            heuristic. More make long detours (rooms, doors) cheaper to plan and the map
            slower to build (one full Dijkstra and 8 bytes per cell each); 0 plans with the
            octile distance alone. Paths are optimal either way.
    """

    robot_radius: float = 0.2
    connectivity: int = 8
    occupied_threshold: int = 50
    unknown_is_free: bool = False
    start_escape: bool = True
    landmarks: int = 8

    def __post_init__(self) -> None:
        if not (_is_number(self.robot_radius) and math.isfinite(self.robot_radius)
                and self.robot_radius >= 0):
            raise PlanningError(f'PlannerConfig.robot_radius must be a finite number >= 0 '
                                f'(metres), got {self.robot_radius!r}')
        if not _is_int(self.connectivity) or self.connectivity not in (4, 8):
            raise PlanningError(f'PlannerConfig.connectivity must be 4 or 8, '
                                f'got {self.connectivity!r}')
        if not _is_int(self.occupied_threshold) or not 1 <= self.occupied_threshold <= 100:
            raise PlanningError(f'PlannerConfig.occupied_threshold must be an int in 1..100, '
                                f'got {self.occupied_threshold!r}')
        if not _is_int(self.landmarks) or not 0 <= self.landmarks <= 64:
            raise PlanningError(f'PlannerConfig.landmarks must be an int in 0..64, '
                                f'got {self.landmarks!r}')
        for name in ('unknown_is_free', 'start_escape'):
            if not isinstance(getattr(self, name), bool):
                raise PlanningError(f'PlannerConfig.{name} must be a bool, '
                                    f'got {getattr(self, name)!r}')
        object.__setattr__(self, 'robot_radius', float(self.robot_radius))
