"""Exact shortest paths on a grid: A* with landmark (ALT) and octile bounds.

Two interchangeable back-ends, registered in :data:`SEARCH_BACKENDS`:

* ``'compiled'`` (the default when built): a binary-heap A* in C (``_astar.c``, loaded by
  ``native``) that stops at the first target and runs without the GIL, so threads plan in
  parallel. It uses the heuristic described below directly.
* ``'scipy'`` (the fallback when the library was not built): the same heuristic, with the heap
  work done by scipy's compiled ``dijkstra`` on a per-query graph of reduced costs, as follows.

A* with a consistent heuristic ``h`` settles nodes in the order Dijkstra does on the reduced
costs ``w(u, v) + h(v) - h(u) >= 0``, so scipy's compiled ``dijkstra`` does the heap work on a
per-query graph of reduced costs. ``h`` is the largest of

* the octile (8-connected) or Manhattan (4-connected) distance to the targets' bounding box, and
* the landmark bounds ``|D_l(v) - D_l(t)|`` (triangle inequality), where ``D_l`` is the exact
  distance field of landmark ``l``, precomputed per map. Landmarks are spread by farthest-point
  sampling, so in rooms-and-doors maps (where the octile distance badly underestimates) ``h``
  is usually close to the true distance.

scipy's Dijkstra cannot stop at a target, so it runs with ``limit = delta`` on reduced
distances: it settles exactly the nodes ``v`` with ``dist(v) + h(v) <= h(start) + delta``. Lower
bounds of ``dist + h`` per 8 x 8 block of cells (from per-block minima and maxima of every
``D_l`` and from block rectangles) select the only blocks such nodes can lie in, and only those
blocks' cells enter the graph. When no target is settled, ``delta`` doubles, up to the landmark
upper bound ``min_l D_l(s) + D_l(t)`` (the path via the landmark), where a target must be found.
Exactness never depends on the landmarks' quality, only the amount of work does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from scenemem_ros.planning import native
from scenemem_ros.planning.errors import PlanningError
from scenemem_ros.planning.moves import MOVE_CELLS, MOVES

SQRT2_MINUS_1 = math.sqrt(2.0) - 1.0
#: Edge of the square blocks used to select the cells of a search, in cells.
BLOCK = 8
#: Landmarks whose bound is evaluated per cell in one query (the strongest at the start), by
#: the scipy search and by the compiled one (whose per-cell bounds share cache lines).
ACTIVE_LANDMARKS = 4
COMPILED_ACTIVE_LANDMARKS = 8
#: Components smaller than this (cells) get no landmark.
MIN_LANDMARK_COMPONENT = 256
#: First round's slack over the heuristic: ``INITIAL_DETOUR * h(start) + INITIAL_SLACK`` cells.
INITIAL_DETOUR = 0.02
INITIAL_SLACK = 2.0
#: Slack growth factor between rounds.
GROWTH = 2.0
_TOLERANCE = 1e-7  # cells; reduced costs are clipped at 0, so sums drift by ~1e-12 at most


def step_distance(dx: np.ndarray, dy: np.ndarray, connectivity: int) -> np.ndarray:
    """(...) cell offsets -> (...) float64 shortest move-path length on an empty grid."""
    ax = np.abs(np.asarray(dx, dtype=np.float64))
    ay = np.abs(np.asarray(dy, dtype=np.float64))
    if connectivity == 4:
        return ax + ay
    return np.maximum(ax, ay) + SQRT2_MINUS_1 * np.minimum(ax, ay)


def _gap(low_a: np.ndarray | int, high_a: np.ndarray | int, low_b: np.ndarray | int,
         high_b: np.ndarray | int) -> np.ndarray:
    """Cells between the intervals [low_a, high_a] and [low_b, high_b] (0 if they overlap)."""
    return np.maximum(np.maximum(np.subtract(low_b, high_a), np.subtract(low_a, high_b)), 0)


@dataclass(frozen=True, eq=False)
class SearchIndex:
    """Per-map structures for :func:`shortest_path` (read-only, shared between threads).

    Attributes:
        shape: (X, Y) cells.
        connectivity: 4 or 8.
        labels: (X * Y,) int32 component of each cell (0: blocked).
        neighbours: (X * Y, C) int32 flat index reached by each of the C moves; the cell itself
            where the move is not allowed.
        moves: (X * Y,) uint8 move bit masks (``moves.move_masks``), for the compiled search.
        landmarks: (K,) int64 flat indices of the landmarks.
        distances: (K, X * Y) float64 exact distance (cells) from each landmark; inf where
            unreachable. A transposed view of ``cell_distances``.
        cell_distances: (X * Y, K) float64 C-contiguous, the same distances per cell (the
            compiled search reads one cell's bounds from one place).
        block_min, block_max: (K, BX, BY) per-block extremes of each distance field over the
            block's reachable cells (+inf / -inf when it has none).
        block_cells: (BX, BY, BLOCK * BLOCK) int32 flat indices of each block's free cells, -1
            padding.
        free_count: number of free cells.
    """

    shape: tuple[int, int]
    connectivity: int
    labels: np.ndarray
    neighbours: np.ndarray
    moves: np.ndarray
    landmarks: np.ndarray
    distances: np.ndarray
    cell_distances: np.ndarray
    block_min: np.ndarray
    block_max: np.ndarray
    block_cells: np.ndarray
    free_count: int


def build_index(free: np.ndarray, moves: np.ndarray, labels: np.ndarray, connectivity: int,
                landmark_count: int) -> SearchIndex:
    """(X, Y) free mask, move bit masks and component labels -> a :class:`SearchIndex`."""
    size_x, size_y = free.shape
    count = size_x * size_y
    flat = np.arange(count, dtype=np.int32).reshape(size_x, size_y)
    neighbours = np.empty((count, connectivity), dtype=np.int32)
    for k, (dx, dy) in enumerate(MOVES[:connectivity].tolist()):
        allowed = ((moves >> k) & 1).astype(bool)
        target = flat.copy()
        target[allowed] = flat[allowed] + (dx * size_y + dy)
        neighbours[:, k] = target.reshape(-1)
    flat_labels = np.ascontiguousarray(labels.reshape(-1), dtype=np.int32)
    flat_moves = np.ascontiguousarray(moves.reshape(-1), dtype=np.uint8)
    landmarks, distances = _landmarks(neighbours, flat_moves, flat_labels, connectivity,
                                      landmark_count, (size_x, size_y))
    blocks_x, blocks_y = -(-size_x // BLOCK), -(-size_y // BLOCK)
    padded = np.full((blocks_x * BLOCK, blocks_y * BLOCK), -1, dtype=np.int32)
    padded[:size_x, :size_y] = np.where(free, flat, -1)
    block_cells = padded.reshape(blocks_x, BLOCK, blocks_y, BLOCK).transpose(0, 2, 1, 3)
    block_cells = np.ascontiguousarray(block_cells.reshape(blocks_x, blocks_y, BLOCK * BLOCK))
    block_min = np.full((len(landmarks), blocks_x, blocks_y), np.inf)
    block_max = np.full((len(landmarks), blocks_x, blocks_y), -np.inf)
    for index, field in enumerate(distances):
        grid = np.full((blocks_x * BLOCK, blocks_y * BLOCK), np.inf)
        grid[:size_x, :size_y] = field.reshape(size_x, size_y)
        grid = grid.reshape(blocks_x, BLOCK, blocks_y, BLOCK)
        block_min[index] = grid.min(axis=(1, 3))
        grid[~np.isfinite(grid)] = -np.inf
        block_max[index] = grid.max(axis=(1, 3))
    cell_distances = np.ascontiguousarray(distances.T)
    for array in (neighbours, flat_moves, flat_labels, landmarks, cell_distances, block_min,
                  block_max, block_cells):
        array.setflags(write=False)
    return SearchIndex((size_x, size_y), connectivity, flat_labels, neighbours, flat_moves,
                       landmarks, cell_distances.T, cell_distances, block_min, block_max,
                       block_cells, int(free.sum()))


def _full_graph(neighbours: np.ndarray, connectivity: int) -> sparse.csr_array:
    count = neighbours.shape[0]
    sources = np.repeat(np.arange(count, dtype=np.int32), connectivity)
    targets = neighbours.reshape(-1)
    weights = np.tile(MOVE_CELLS[:connectivity], count)
    keep = targets != sources
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(sources[keep], minlength=count), out=indptr[1:])
    return sparse.csr_array((weights[keep], targets[keep], indptr), shape=(count, count))


def _landmarks(neighbours: np.ndarray, moves: np.ndarray, labels: np.ndarray,
               connectivity: int, wanted: int, shape: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Farthest-point landmarks: a corner cell of each large component, then the cells farthest
    from every landmark of their component. Returns (K,) flat indices, (K, N) distances.

    The distance fields come from the compiled Dijkstra when it is built, else from scipy's."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros((0, labels.size)))
    if wanted <= 0:
        return empty
    sizes = np.bincount(labels)
    sizes[0] = 0
    eligible = np.flatnonzero(sizes >= MIN_LANDMARK_COMPONENT)
    if len(eligible) == 0:
        return empty
    eligible = eligible[np.argsort(-sizes[eligible], kind='stable')]
    size_y = shape[1]
    if native.LIBRARY is not None:
        def field_from(cell: int) -> np.ndarray:
            return native.distance_field(shape, connectivity, moves, cell)
    else:
        graph = _full_graph(neighbours, connectivity)

        def field_from(cell: int) -> np.ndarray:
            return np.asarray(dijkstra(graph, indices=cell))
    cells = np.arange(labels.size)
    corner = cells // size_y + cells % size_y
    chosen: list[int] = []
    fields: list[np.ndarray] = []
    nearest = np.full(labels.size, np.inf)
    allowed = np.isin(labels, eligible)
    for component in eligible[:wanted].tolist():
        members = np.flatnonzero(labels == component)
        chosen.append(int(members[np.argmin(corner[members])]))
        fields.append(field_from(chosen[-1]))
        nearest = np.minimum(nearest, fields[-1])
    while len(chosen) < wanted:
        score = np.where(allowed & np.isfinite(nearest), nearest, -1.0)
        best = int(np.argmax(score))
        if score[best] <= 0:
            break
        chosen.append(best)
        fields.append(field_from(best))
        nearest = np.minimum(nearest, fields[-1])
    return np.asarray(chosen, dtype=np.int64), np.ascontiguousarray(np.stack(fields))


@dataclass(frozen=True)
class SearchResult:
    """Outcome of :func:`shortest_path`.

    Attributes:
        cells: (N, 2) int64 cells from the chosen source to the chosen target (both included).
        source: index into ``sources`` of the first cell.
        target: index into ``targets`` of the last cell.
        length: path length in cells, including the chosen source's initial cost.
        expansions: nodes reached by the searches, summed over rounds.
        rounds: number of limited searches run.
    """

    cells: np.ndarray
    source: int
    target: int
    length: float
    expansions: int
    rounds: int


def default_backend() -> str:
    """``'compiled'`` when the C search is built and loaded, else ``'scipy'``."""
    return 'compiled' if native.LIBRARY is not None else 'scipy'


def shortest_path(index: SearchIndex, sources: np.ndarray, source_costs: np.ndarray,
                  targets: np.ndarray, backend: str | None = None) -> SearchResult | None:
    """The shortest path from any source to any target over the free cells of ``index``.

    Args:
        index: the map's :class:`SearchIndex`.
        sources: (S, 2) int64 free cells; a path from source j costs ``source_costs[j]`` more.
        source_costs: (S,) float64 >= 0 initial costs in cells.
        targets: (T, 2) int64 free cells, in order of preference among equally short paths.
        backend: a key of :data:`SEARCH_BACKENDS`; None picks :func:`default_backend`.

    Returns:
        The path minimising ``source_costs[j] + length`` (ties: the earlier target; lengths
        within 1e-9 cells count as equal in the compiled search), or None when no target
        shares a component with a source.

    Raises:
        PlanningError: an unknown backend, or ``'compiled'`` when it is not built.
    """
    name = default_backend() if backend is None else backend
    search = SEARCH_BACKENDS.get(name)
    if search is None:
        raise PlanningError(f'unknown search backend {name!r}; choose one of '
                            f'{sorted(SEARCH_BACKENDS)}')
    if name == 'compiled' and native.LIBRARY is None:
        raise PlanningError('the compiled search backend is not built (see planning/native.py)')
    return search(index, np.asarray(sources, dtype=np.int64),
                  np.asarray(source_costs, dtype=np.float64), np.asarray(targets, dtype=np.int64))


def _landmark_bounds(index: SearchIndex, source_flat: np.ndarray, target_flat: np.ndarray,
                     active_count: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks usable for a query and their extremes over the targets.

    Returns (U,) usable landmarks (finite at every source and target), (K, S) every
    landmark's distances at the sources, (U,) minima and maxima over the targets, and (A,) the
    rows of ``used`` strongest at the sources (at most ``active_count``), strongest first.
    """
    at_sources = index.distances[:, source_flat]
    at_targets = index.distances[:, target_flat]
    usable = np.isfinite(at_sources).all(axis=1) & np.isfinite(at_targets).all(axis=1)
    used = np.flatnonzero(usable)
    low_t = at_targets[used].min(axis=1) if len(used) else np.zeros(0)
    high_t = at_targets[used].max(axis=1) if len(used) else np.zeros(0)
    landmark_h = np.maximum(low_t[:, None] - at_sources[used], at_sources[used] - high_t[:, None])
    active_rows = (np.argsort(-landmark_h.max(axis=1), kind='stable')[:active_count]
                   if len(used) else np.zeros(0, dtype=np.int64))
    return used, at_sources, low_t, high_t, active_rows


def _compiled_shortest_path(index: SearchIndex, sources: np.ndarray, source_costs: np.ndarray,
                            targets: np.ndarray) -> SearchResult | None:
    """:func:`shortest_path` by the C A* (``native.astar``), GIL released while it runs."""
    size_y = index.shape[1]
    source_flat = sources[:, 0] * size_y + sources[:, 1]
    target_flat = targets[:, 0] * size_y + targets[:, 1]
    components = np.unique(index.labels[source_flat])
    if not np.isin(index.labels[target_flat], components).any():
        return None
    used, _, low_t, high_t, active_rows = _landmark_bounds(index, source_flat, target_flat,
                                                       COMPILED_ACTIVE_LANDMARKS)
    found = native.astar(index.shape, index.connectivity, index.moves, source_flat,
                         source_costs, target_flat, index.cell_distances, used[active_rows],
                         low_t[active_rows], high_t[active_rows])
    if found.target < 0:  # the component check above rules this out
        return None
    path_cells = np.stack([found.path // size_y, found.path % size_y], axis=1)
    matching = np.flatnonzero(source_flat == found.path[0])
    source = int(matching[np.argmin(source_costs[matching])])
    return SearchResult(cells=path_cells, source=source, target=found.target,
                        length=float(source_costs[source]) + path_cells_length(path_cells),
                        expansions=found.settled, rounds=1)


def _scipy_shortest_path(index: SearchIndex, sources: np.ndarray, source_costs: np.ndarray,
                         targets: np.ndarray) -> SearchResult | None:
    """:func:`shortest_path` by rounds of scipy's limited Dijkstra on reduced costs."""
    size_x, size_y = index.shape
    connectivity = index.connectivity
    source_flat = sources[:, 0] * size_y + sources[:, 1]
    target_flat = targets[:, 0] * size_y + targets[:, 1]
    components = np.unique(index.labels[source_flat])
    if not np.isin(index.labels[target_flat], components).any():
        return None

    # landmarks that reach every source and target
    used, at_sources, low_t, high_t, active_rows = _landmark_bounds(
        index, source_flat, target_flat, ACTIVE_LANDMARKS)
    active = used[active_rows]
    target_box = (int(targets[:, 0].min()), int(targets[:, 0].max()),
                  int(targets[:, 1].min()), int(targets[:, 1].max()))

    def heuristic(flat_cells: np.ndarray) -> np.ndarray:
        """(n,) flat cells -> (n,) h: octile gap to the targets' box, active landmarks."""
        cells_x, cells_y = np.divmod(flat_cells, size_y)
        h = step_distance(_gap(cells_x, cells_x, target_box[0], target_box[1]),
                          _gap(cells_y, cells_y, target_box[2], target_box[3]), connectivity)
        for row, landmark in zip(active_rows.tolist(), active.tolist(), strict=True):
            field = index.distances[landmark][flat_cells]
            np.maximum(h, low_t[row] - field, out=h)
            np.maximum(h, field - high_t[row], out=h)
        return h

    source_h = source_costs + heuristic(source_flat)
    start_h = float(source_h.min())
    via_landmark = (np.min(source_costs[None, :] + at_sources[used], axis=1) + low_t
                    if len(used) else np.zeros(0))
    cap = float(via_landmark.min()) - start_h if len(used) else math.inf
    region_bound = _block_bounds(index, used, sources, source_costs, at_sources[used],
                                 target_box, low_t, high_t)
    ceiling = 2.0 * index.free_count + 1.0  # beyond any path length
    local_of = np.full(size_x * size_y, -1, dtype=np.int32)
    delta = max(INITIAL_DETOUR * start_h + INITIAL_SLACK, 0.0)
    expansions = rounds = 0
    while True:
        rounds += 1
        delta = min(delta, max(cap, 0.0))
        unlimited = delta >= ceiling
        chosen_x, chosen_y = np.nonzero(region_bound <= start_h + delta + _TOLERANCE
                                        if not unlimited else np.isfinite(region_bound))
        cells = index.block_cells[chosen_x, chosen_y].reshape(-1)
        cells = cells[cells >= 0]
        labels = index.labels[cells]
        cells = cells[labels == components[0] if len(components) == 1 else
                      np.isin(labels, components)]
        nodes = len(cells)
        local_of[cells] = np.arange(nodes, dtype=np.int32)
        # node ``nodes`` is a sink: moves leaving the region go there at infinite cost; moves a
        # cell does not have are self loops (the neighbour table points at the cell itself)
        h = np.append(heuristic(cells), np.inf)
        linked = local_of[index.neighbours[cells]].view(np.uint32)
        np.minimum(linked, nodes, out=linked)  # -1 (not in the region) -> the sink
        linked = linked.view(np.int32)
        weights = h[linked]
        weights -= h[:nodes, None]
        weights += MOVE_CELLS[:connectivity]
        np.maximum(weights, 0.0, out=weights)
        indptr = np.empty(nodes + 2, dtype=np.int32)
        indptr[:-1] = np.arange(0, connectivity * nodes + 1, connectivity, dtype=np.int32)
        indptr[-1] = connectivity * nodes
        data, indices = weights.reshape(-1), linked.reshape(-1)
        local_sources = local_of[source_flat]
        virtual = nodes + 1
        if len(sources) == 1:
            origin, size = int(local_sources[0]), nodes + 1
        else:  # a virtual start node, appended as the last row, with one edge per source
            present = local_sources >= 0  # a source outside the region cannot be settled
            origin, size = virtual, nodes + 2
            indptr = np.append(indptr, connectivity * nodes + int(present.sum()))
            indptr = indptr.astype(np.int32)
            data = np.concatenate([data, np.maximum(source_h[present] - start_h, 0.0)])
            indices = np.concatenate([indices, local_sources[present]])
        graph = sparse.csr_array((data, indices, indptr), shape=(size, size))
        distance, predecessors = dijkstra(graph, directed=True, indices=origin,
                                          return_predecessors=True,
                                          limit=np.inf if unlimited else delta + _TOLERANCE)
        expansions += int(np.count_nonzero(np.isfinite(distance)))
        local_targets = local_of[target_flat]
        lengths = np.full(len(targets), np.inf)
        inside = local_targets >= 0
        lengths[inside] = distance[local_targets[inside]] + start_h  # h(target) = 0
        best = int(np.argmin(lengths))  # first minimum: the preferred target on ties
        if np.isfinite(lengths[best]) and (unlimited or
                                           lengths[best] <= delta + start_h + _TOLERANCE):
            break
        if delta >= cap and not unlimited:  # only rounding can get here: finish unlimited
            cap, delta = math.inf, ceiling
        else:
            delta = max(delta * GROWTH, 1.0)
        local_of[cells] = -1
    chain = [int(local_targets[best])]
    while True:  # back to a source: its predecessor is -9999 or the virtual start
        previous = int(predecessors[chain[-1]])
        if previous < 0 or previous == virtual:
            break
        chain.append(previous)
    path = cells[np.asarray(chain[::-1], dtype=np.int64)].astype(np.int64)
    path_cells = np.stack([path // size_y, path % size_y], axis=1)
    source = int(np.flatnonzero(source_flat == path[0])[0])
    return SearchResult(cells=path_cells, source=source, target=best,
                        length=float(source_costs[source]) + path_cells_length(path_cells),
                        expansions=expansions, rounds=rounds)


#: Search implementations by name (see the module docstring); :func:`shortest_path` picks one.
SEARCH_BACKENDS: dict[str, Callable[[SearchIndex, np.ndarray, np.ndarray, np.ndarray],
                                    SearchResult | None]] = {
    'compiled': _compiled_shortest_path,
    'scipy': _scipy_shortest_path,
}


def _block_bounds(index: SearchIndex, used: np.ndarray, sources: np.ndarray,
                  source_costs: np.ndarray, at_sources: np.ndarray,
                  target_box: tuple[int, int, int, int], low_t: np.ndarray,
                  high_t: np.ndarray) -> np.ndarray:
    """(BX, BY) lower bound of ``dist(v) + h(v)`` over each block's cells (inf: unreachable).

    ``dist(v) >= min_j cost_j + d(source_j, v)`` is bounded below by the octile gap between the
    sources' box and the block, and by the landmark triangle bounds over the block's extremes;
    ``h(v)`` likewise (the bounds that define it, taken over the block).
    """
    size_x, size_y = index.shape
    blocks_x, blocks_y = index.block_cells.shape[:2]
    block_x0 = np.arange(blocks_x) * BLOCK
    block_x1 = np.minimum(block_x0 + BLOCK, size_x) - 1
    block_y0 = np.arange(blocks_y) * BLOCK
    block_y1 = np.minimum(block_y0 + BLOCK, size_y) - 1
    connectivity = index.connectivity
    to_sources = step_distance(
        _gap(block_x0, block_x1, int(sources[:, 0].min()), int(sources[:, 0].max()))[:, None],
        _gap(block_y0, block_y1, int(sources[:, 1].min()), int(sources[:, 1].max()))[None, :],
        connectivity)
    to_targets = step_distance(
        _gap(block_x0, block_x1, target_box[0], target_box[1])[:, None],
        _gap(block_y0, block_y1, target_box[2], target_box[3])[None, :], connectivity)
    low_s = at_sources.min(axis=1)
    high_s = at_sources.max(axis=1)
    with np.errstate(invalid='ignore'):  # inf - inf on blocks a landmark never reaches
        for row, landmark in enumerate(used.tolist()):
            block_min, block_max = index.block_min[landmark], index.block_max[landmark]
            np.fmax(to_sources, low_s[row] - block_max, out=to_sources)
            np.fmax(to_sources, block_min - high_s[row], out=to_sources)
            np.fmax(to_targets, low_t[row] - block_max, out=to_targets)
            np.fmax(to_targets, block_min - high_t[row], out=to_targets)
    return float(source_costs.min()) + to_sources + to_targets


def path_cells_length(cells: np.ndarray) -> float:
    """(N, 2) cells of a path of unit moves -> its length in cells (1 or sqrt(2) per move)."""
    if len(cells) < 2:
        return 0.0
    steps = np.abs(np.diff(cells, axis=0)).sum(axis=1)
    diagonal = int(np.count_nonzero(steps == 2))
    return float(len(steps) - diagonal) + diagonal * math.sqrt(2.0)
