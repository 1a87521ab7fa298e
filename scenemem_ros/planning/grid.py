"""An occupancy grid prepared for planning: obstacles, inflation, moves and free-space components.

Cell convention (the same as ``geometry.voxels.GridSpec2D`` and ``ros.map_msgs``): ``cells`` is
indexed ``[ix, iy]`` (x first); cell (ix, iy) covers ``[origin + (ix, iy) * resolution,
origin + (ix + 1, iy + 1) * resolution)``, so its centre is ``origin + (i + 0.5) * resolution``
and a point falls in cell ``floor((p - origin) / resolution)``. Moves between cells: see
``planning.moves``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from scenemem_ros.planning.config import PlannerConfig
from scenemem_ros.planning.errors import PlanningError
from scenemem_ros.planning.moves import move_masks
from scenemem_ros.planning.search import SearchIndex, build_index


def inflate(obstacles: np.ndarray, radius_cells: float) -> np.ndarray:
    """(X, Y) bool obstacles -> (X, Y) bool: cells whose centre is within ``radius_cells`` of
    an obstacle cell's centre (inclusive, with a 1e-6 relative slack: OccupancyGrid stores the
    resolution as float32, so 0.2 m / 0.05 m may arrive as 3.99999994 cells)."""
    if radius_cells <= 0 or not obstacles.any():
        return obstacles.copy()
    if obstacles.all():
        return obstacles.copy()
    distance = ndimage.distance_transform_edt(~obstacles)
    squared = np.rint(distance * distance)  # exact integers: dx^2 + dy^2 of cell offsets
    limit = radius_cells * radius_cells
    return squared <= limit * (1.0 + 1e-6) + 1e-9


class PlanningGrid:
    """An immutable occupancy grid with its inflated obstacles, ready for :func:`plan`.

    Built once per map; every array is read-only, so any number of threads may plan on one
    grid at the same time.

    Attributes:
        cells: (X, Y) int8 occupancy as given (-1 unknown, 0 free .. 100 occupied).
        origin: (2,) float64 metres, the minimum corner of cell (0, 0).
        resolution: cell edge in metres.
        config: the :class:`PlannerConfig` the grid was built with.
        occupied: (X, Y) bool, cells >= ``config.occupied_threshold``.
        obstacles: (X, Y) bool, ``occupied`` plus unknown cells unless ``unknown_is_free``.
        blocked: (X, Y) bool, ``obstacles`` inflated by ``config.robot_radius``.
        free: (X, Y) bool, ``~blocked``: the cells a path may visit.
        moves: (X, Y) uint8, bit k set where move ``MOVES[k]`` leaves the cell.
        labels: (X, Y) int32 connected component of each free cell (0 on blocked cells).
    """

    def __init__(self, cells: np.ndarray, origin: Sequence[float] | np.ndarray,
                 resolution: float, config: PlannerConfig | None = None) -> None:
        config = PlannerConfig() if config is None else config
        if not isinstance(config, PlannerConfig):
            raise PlanningError(f'PlanningGrid config must be a PlannerConfig, '
                                f'got {type(config).__name__}')
        cells = _checked_cells(cells)
        origin_array = np.asarray(origin, dtype=np.float64) if _numeric(origin) else None
        if origin_array is None or origin_array.shape != (2,) or \
                not np.isfinite(origin_array).all():
            raise PlanningError(f'PlanningGrid origin must be 2 finite numbers (metres), '
                                f'got {origin!r}')
        if isinstance(resolution, bool) or not isinstance(resolution, (int, float, np.number)) \
                or not (math.isfinite(resolution) and resolution > 0):
            raise PlanningError(f'PlanningGrid resolution must be a finite number > 0 '
                                f'(metres), got {resolution!r}')
        self._config = config
        self._resolution = float(resolution)
        self._origin = _frozen(origin_array.copy())
        self._cells = _frozen(cells)
        self._occupied = _frozen(cells >= config.occupied_threshold)
        unknown = cells < 0
        obstacles = self._occupied | (unknown & (not config.unknown_is_free))
        self._obstacles = _frozen(obstacles)
        self._blocked = _frozen(inflate(obstacles, config.robot_radius / self._resolution))
        self._free = _frozen(~self._blocked)
        self._moves = _frozen(move_masks(self._free, config.connectivity))
        labels, self._component_count = ndimage.label(self._free)
        self._labels = _frozen(labels.astype(np.int32, copy=False))
        self._index = build_index(self._free, self._moves, self._labels, config.connectivity,
                                  config.landmarks)

    # -- read-only views ---------------------------------------------------------------------
    @property
    def cells(self) -> np.ndarray:
        return self._cells

    @property
    def origin(self) -> np.ndarray:
        return self._origin

    @property
    def resolution(self) -> float:
        return self._resolution

    @property
    def config(self) -> PlannerConfig:
        return self._config

    @property
    def shape(self) -> tuple[int, int]:
        """(X, Y) number of cells."""
        return self._cells.shape[0], self._cells.shape[1]

    @property
    def occupied(self) -> np.ndarray:
        return self._occupied

    @property
    def obstacles(self) -> np.ndarray:
        return self._obstacles

    @property
    def blocked(self) -> np.ndarray:
        return self._blocked

    @property
    def free(self) -> np.ndarray:
        return self._free

    @property
    def moves(self) -> np.ndarray:
        return self._moves

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def search_index(self) -> SearchIndex:
        """Landmark distances, neighbour table and blocks used by the search."""
        return self._index

    @property
    def landmarks(self) -> np.ndarray:
        """(K, 2) int64 cells of the search's landmarks."""
        flat = self._index.landmarks
        return np.stack([flat // self.shape[1], flat % self.shape[1]], axis=1)

    @property
    def component_count(self) -> int:
        """Number of connected components of free space."""
        return int(self._component_count)

    # -- coordinates -------------------------------------------------------------------------
    def point_to_cell(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) world points -> (..., 2) int64 cell indices (may lie outside the grid;
        non-finite points give undefined indices, see :meth:`contains_point`)."""
        scaled = (np.asarray(points, dtype=np.float64) - self._origin) / self._resolution
        with np.errstate(invalid='ignore'):
            return np.floor(scaled).astype(np.int64)

    def contains_point(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) world points -> (...,) bool, True where the point lies in a cell."""
        scaled = (np.asarray(points, dtype=np.float64) - self._origin) / self._resolution
        with np.errstate(invalid='ignore'):
            return ((scaled >= 0) & (scaled < np.asarray(self.shape))).all(axis=-1)

    def cell_centre(self, cells: np.ndarray) -> np.ndarray:
        """(..., 2) integer cell indices -> (..., 2) float64 cell centres in metres."""
        return self._origin + (np.asarray(cells, dtype=np.float64) + 0.5) * self._resolution

    def __repr__(self) -> str:
        return (f'PlanningGrid(shape={self.shape}, resolution={self._resolution}, '
                f'free={int(self._free.sum())}, components={self._component_count}, '
                f'config={self._config})')


def _numeric(value: object) -> bool:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in 'iuf'


def _checked_cells(cells: object) -> np.ndarray:
    if not isinstance(cells, np.ndarray):
        raise PlanningError(f'PlanningGrid cells must be a numpy array, got '
                            f'{type(cells).__name__}')
    if cells.ndim != 2 or cells.size == 0:
        raise PlanningError(f'PlanningGrid cells must be a non-empty (X, Y) array, '
                            f'got shape {cells.shape}')
    if cells.dtype.kind not in 'iu':
        raise PlanningError(f'PlanningGrid cells must be integers (int8 occupancy -1..100), '
                            f'got dtype {cells.dtype}')
    low, high = int(cells.min()), int(cells.max())
    if low < -1 or high > 100:
        raise PlanningError(f'PlanningGrid cells must hold -1 (unknown) or 0..100, '
                            f'found values in {low}..{high}')
    return np.array(cells, dtype=np.int8, copy=True)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array
