"""scenemem_ros.planning: exact shortest paths on inflated occupancy grids.

``PlanningGrid(cells, origin, resolution, PlannerConfig())`` prepares a map once (inflation,
moves, connected components); ``plan(grid, start_xy, goal_xy, tolerance)`` answers queries from
any number of threads and returns a :class:`PlanResult`. The search runs in C without the GIL
(``native``, built at install time) or, when that was not built, with scipy (``search``).
"""

from scenemem_ros.planning.config import PlannerConfig
from scenemem_ros.planning.errors import PlanningError
from scenemem_ros.planning.grid import PlanningGrid
from scenemem_ros.planning.moves import MOVE_CELLS, MOVES
from scenemem_ros.planning.planner import PlanFailure, PlanResult, plan
from scenemem_ros.planning.synthetic import indoor_occupancy

__all__ = [
    'MOVES',
    'MOVE_CELLS',
    'PlanFailure',
    'PlanResult',
    'PlannerConfig',
    'PlanningError',
    'PlanningGrid',
    'indoor_occupancy',
    'plan',
]
