"""The compiled grid search (``_astar.c``), loaded with ctypes.

``setup.py`` builds ``_astar.c`` into a shared library next to this module (``pip install``,
``pip install -e``, ``colcon build``). It has no Python API: ctypes calls it and releases the
GIL for the whole call, so plans from several threads run in parallel. When the library is
missing (a source tree that was never built, a machine without a C compiler), :data:`LIBRARY`
is None and ``search`` falls back to its scipy implementation; either way one log line says
which is used.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOGGER = logging.getLogger(__name__)
_LIBRARY_STEM = '_astar'
_GENERATIONS = 2**31 - 2  # state values 2 * generation (+1) must fit in uint32


def library_path() -> Path | None:
    """The built shared library beside this module, or None when it was never built."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f'{_LIBRARY_STEM}{suffix}'
        if candidate.is_file():
            return candidate
    return None


def _load() -> ctypes.CDLL | None:
    path = library_path()
    if path is None:
        LOGGER.warning('compiled planner search not built (no %s*.so beside %s); using the '
                       'slower scipy search. Rebuild with `pip install -e .` or `make venv`.',
                       _LIBRARY_STEM, Path(__file__).name)
        return None
    try:
        library = ctypes.CDLL(str(path))
        function = library.scenemem_astar
    except (OSError, AttributeError) as error:
        LOGGER.warning('compiled planner search %s could not be loaded (%s); using the slower '
                       'scipy search', path, error)
        return None
    pointer = ctypes.c_void_p
    function.restype = ctypes.c_int64
    function.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,  # size_x, y, conn
                         pointer, pointer, ctypes.c_uint32,  # moves, cells, generation
                         pointer, pointer, ctypes.c_int32,  # sources, source_costs, count
                         pointer, ctypes.c_int32,  # targets, count
                         pointer, ctypes.c_int32,  # distances, landmarks per cell
                         pointer, pointer, pointer, ctypes.c_int32,  # active, low, high, count
                         pointer, pointer, pointer]  # path, result, length
    LOGGER.info('planner search: compiled A* %s', path.name)
    return library


#: The loaded library, or None when the scipy fallback is in use.
LIBRARY = _load()


class _Workspace:
    """Per-thread, per-grid-size search state: reused between queries, never cleared."""

    def __init__(self, count: int) -> None:
        self.cells = np.zeros(count, dtype=CELL_DTYPE)
        self.path = np.empty(count, dtype=np.int32)
        self.result = np.zeros(3, dtype=np.int64)
        self.length = np.zeros(1, dtype=np.float64)
        self.generation = 0

    def next_generation(self) -> int:
        self.generation += 1
        if self.generation > _GENERATIONS:
            self.cells['state'] = 0
            self.generation = 1
        return self.generation


#: The C ``cell_t``: per-cell search state in a workspace.
CELL_DTYPE = np.dtype([('cost', np.float64), ('parent', np.int32), ('state', np.uint32)])
_LOCAL = threading.local()


def _workspace(count: int) -> _Workspace:
    spaces: dict[int, _Workspace] = getattr(_LOCAL, 'spaces', None) or {}
    _LOCAL.spaces = spaces
    space = spaces.get(count)
    if space is None:
        spaces.clear()  # one grid size per thread at a time keeps memory bounded
        space = spaces[count] = _Workspace(count)
    return space


def _address(array: np.ndarray) -> int:
    return int(array.ctypes.data)


@dataclass(frozen=True)
class NativeResult:
    """Outcome of :func:`astar`.

    Attributes:
        target: index of the chosen target, -1 when none is reachable.
        path: (N,) int64 flat cells from a source to the target.
        length: cost of the path in cells, including its source's initial cost.
        settled: cells taken off the heap.
    """

    target: int
    path: np.ndarray
    length: float
    settled: int


def astar(shape: tuple[int, int], connectivity: int, moves: np.ndarray, sources: np.ndarray,
          source_costs: np.ndarray, targets: np.ndarray, distances: np.ndarray,
          active: np.ndarray, low: np.ndarray, high: np.ndarray) -> NativeResult:
    """Exact shortest path from any source to any target (the first target on equal lengths).

    Args:
        shape: (X, Y) cells.
        connectivity: 4 or 8.
        moves: (X * Y,) uint8 C-contiguous move bit masks (``moves.move_masks``).
        sources: (S,) int64 flat cells; source_costs: (S,) float64 initial costs >= 0.
        targets: (T,) int64 flat cells, T >= 1, in order of preference.
        distances: (X * Y, K) float64 C-contiguous landmark distances per cell.
        active: (A,) landmark columns the heuristic uses.
        low, high: (A,) float64 each active landmark's minimum and maximum over the targets.

    Raises:
        RuntimeError: the library is not loaded, or the search ran out of memory.
    """
    if LIBRARY is None:
        raise RuntimeError('the compiled planner search is not available')
    if len(targets) == 0:
        raise ValueError('astar needs at least one target')
    result = _run(shape, connectivity, moves, sources, source_costs, targets, distances, active,
                  low, high)
    assert isinstance(result, NativeResult)
    return result


def distance_field(shape: tuple[int, int], connectivity: int, moves: np.ndarray,
                   source: int) -> np.ndarray:
    """(X * Y,) float64 exact distance in cells from flat cell ``source`` (inf: unreachable)."""
    if LIBRARY is None:
        raise RuntimeError('the compiled planner search is not available')
    space = _run(shape, connectivity, moves, np.array([source], dtype=np.int64), np.zeros(1),
                 np.zeros(0, dtype=np.int64), np.zeros((shape[0] * shape[1], 0)),
                 np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0), keep=True)
    assert isinstance(space, _Workspace)
    settled = space.cells['state'] == 2 * space.generation + 1
    return np.where(settled, space.cells['cost'], np.inf)


def _run(shape: tuple[int, int], connectivity: int, moves: np.ndarray, sources: np.ndarray,
         source_costs: np.ndarray, targets: np.ndarray, distances: np.ndarray,
         active: np.ndarray, low: np.ndarray, high: np.ndarray, keep: bool = False
         ) -> NativeResult | _Workspace:
    assert LIBRARY is not None
    count = shape[0] * shape[1]
    if moves.dtype != np.uint8 or moves.size != count or not moves.flags.c_contiguous:
        raise ValueError('moves must be a C-contiguous uint8 array with one entry per cell')
    if distances.dtype != np.float64 or distances.ndim != 2 or len(distances) != count or \
            not distances.flags.c_contiguous:
        raise ValueError('distances must be C-contiguous (cells, landmarks) float64')
    active = np.ascontiguousarray(active, dtype=np.int32)
    if len(active) and (active.min() < 0 or active.max() >= distances.shape[1]):
        raise ValueError(f'active landmarks must lie in 0..{distances.shape[1] - 1}')
    sources = np.ascontiguousarray(sources, dtype=np.int64)
    source_costs = np.ascontiguousarray(source_costs, dtype=np.float64)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    high = np.ascontiguousarray(high, dtype=np.float64)
    if len(source_costs) != len(sources) or len(low) != len(active) or len(high) != len(active):
        raise ValueError('sources/source_costs and active/low/high must have equal lengths')
    for cells, role in ((sources, 'sources'), (targets, 'targets')):
        if len(cells) and (cells.min() < 0 or cells.max() >= count):
            raise ValueError(f'{role} must be flat cells in 0..{count - 1}')
    space = _workspace(count)
    generation = space.next_generation()
    LIBRARY.scenemem_astar(
        shape[0], shape[1], connectivity, _address(moves), _address(space.cells), generation,
        _address(sources), _address(source_costs), len(sources), _address(targets),
        len(targets), _address(distances), distances.shape[1], _address(active),
        _address(low), _address(high), len(active), _address(space.path),
        _address(space.result), _address(space.length))
    target, settled, steps = (int(v) for v in space.result)
    if target == -2:
        raise RuntimeError('the compiled planner search ran out of memory')
    if keep:
        return space
    path = space.path[:steps][::-1].astype(np.int64)
    return NativeResult(target, path, float(space.length[0]), settled)
