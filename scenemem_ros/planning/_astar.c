/*
 * Exact A* (and plain Dijkstra) over a grid's move bit masks, for scenemem_ros.planning.
 *
 * Plain C with no Python API: scenemem_ros/planning/native.py loads the shared library with
 * ctypes, which releases the GIL for the whole call, so concurrent plans run in parallel.
 *
 * Cells are flat indices ``x * size_y + y``. ``moves[c]`` has bit k set when move k of
 * (+x, -x, +y, -y, +x+y, +x-y, -x+y, -x-y) leaves cell c (the first ``connectivity`` moves are
 * used); moves cost 1 or sqrt(2) cells.
 *
 * The heuristic is the largest of the octile (8-connected) or Manhattan (4-connected) distance
 * to the targets' bounding box and, per active landmark l, ``low[l] - D_l(v)`` and
 * ``D_l(v) - high[l]``, where ``D_l`` is the landmark's exact distance field and low/high are
 * its extremes over the targets. Every term is consistent, so is their maximum, and a node's
 * cost is final when it leaves the heap.
 *
 * Landmark distances are stored per cell (``distances[cell * n_landmarks + l]``), so the
 * bounds of one cell share a cache line or two.
 *
 * Per-thread state lives in a caller-owned array of ``cell_t`` (16 bytes per cell, zeroed once):
 * ``state`` is 2 * generation when the cell has been reached in this query and
 * 2 * generation + 1 once settled. Nothing needs clearing between queries; the caller bumps the
 * generation.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define SQRT2 1.4142135623730951
#define TIE 1e-9 /* cells: equally short paths to several targets */

typedef struct {
    double cost;
    int32_t parent;
    uint32_t state;
} cell_t;

typedef struct {
    double f;
    double g;
    int32_t node;
} entry_t;

typedef struct {
    entry_t *items;
    int64_t size;
    int64_t capacity;
} heap_t;

/* a before b: smaller f, then the larger g (deeper nodes first on equal f) */
static inline int before(const entry_t *a, const entry_t *b) {
    return a->f < b->f || (a->f == b->f && a->g > b->g);
}

static int heap_push(heap_t *heap, double f, double g, int32_t node) {
    if (heap->size == heap->capacity) {
        int64_t capacity = heap->capacity ? 2 * heap->capacity : 1024;
        entry_t *items = realloc(heap->items, (size_t)capacity * sizeof(entry_t));
        if (items == NULL) {
            return -1;
        }
        heap->items = items;
        heap->capacity = capacity;
    }
    entry_t item = {f, g, node};
    int64_t i = heap->size++;
    while (i > 0) {
        int64_t up = (i - 1) / 2;
        if (!before(&item, &heap->items[up])) {
            break;
        }
        heap->items[i] = heap->items[up];
        i = up;
    }
    heap->items[i] = item;
    return 0;
}

static entry_t heap_pop(heap_t *heap) {
    entry_t top = heap->items[0];
    entry_t last = heap->items[--heap->size];
    int64_t n = heap->size, i = 0;
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && before(&heap->items[child + 1], &heap->items[child])) {
            child++;
        }
        if (!before(&heap->items[child], &last)) {
            break;
        }
        heap->items[i] = heap->items[child];
        i = child;
    }
    if (n > 0) {
        heap->items[i] = last;
    }
    return top;
}

typedef struct {
    int32_t size_y;
    int32_t connectivity;
    int32_t use_box;
    int32_t box[4]; /* x0, x1, y0, y1 of the targets */
    int32_t n_active;
    int32_t n_landmarks;
    const double *distances;
    const int32_t *active;
    const double *low;
    const double *high;
} heuristic_t;

static inline double gap(int32_t v, int32_t low, int32_t high) {
    return v < low ? (double)(low - v) : (v > high ? (double)(v - high) : 0.0);
}

static inline double heuristic(const heuristic_t *h, int32_t node) {
    double best = 0.0;
    if (h->use_box) {
        int32_t x = node / h->size_y, y = node % h->size_y;
        double ax = gap(x, h->box[0], h->box[1]), ay = gap(y, h->box[2], h->box[3]);
        if (h->connectivity == 4) {
            best = ax + ay;
        } else {
            best = (ax > ay ? ax : ay) + (SQRT2 - 1.0) * (ax > ay ? ay : ax);
        }
    }
    const double *here = h->distances + (int64_t)node * h->n_landmarks;
    for (int32_t l = 0; l < h->n_active; l++) {
        double d = here[h->active[l]];
        double below = h->low[l] - d, above = d - h->high[l];
        if (below > best) {
            best = below;
        }
        if (above > best) {
            best = above;
        }
    }
    return best;
}

/*
 * Shortest path from any source (with its initial cost) to any target.
 *
 * n_targets == 0 runs Dijkstra over the whole component instead (no heuristic), leaving the
 * exact distance of every reached cell in ``cells[c].cost`` (state 2 * generation + 1).
 * The heuristic uses landmarks ``active[0 .. n_active)`` of ``distances`` ((count, n_landmarks)
 * row-major), with ``low``/``high`` (n_active) their extremes over the targets.
 *
 * result[0]: index of the chosen target (-1: none reachable, -2: out of memory)
 * result[1]: number of cells settled
 * result[2]: number of cells written to ``path`` (target first, source last)
 * length[0]: path cost including the source's initial cost
 * Returns result[0].
 */
int64_t scenemem_astar(int32_t size_x, int32_t size_y, int32_t connectivity,
                       const uint8_t *moves, cell_t *cells, uint32_t generation,
                       const int64_t *sources, const double *source_costs, int32_t n_sources,
                       const int64_t *targets, int32_t n_targets, const double *distances,
                       int32_t n_landmarks, const int32_t *active, const double *low,
                       const double *high, int32_t n_active, int32_t *path, int64_t *result,
                       double *length) {
    const uint32_t seen = 2u * generation, done = 2u * generation + 1u;
    const int64_t count = (int64_t)size_x * size_y;
    int32_t delta[8];
    double step[8];
    const int32_t offsets[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1},
                                   {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};
    for (int k = 0; k < 8; k++) {
        delta[k] = offsets[k][0] * size_y + offsets[k][1];
        step[k] = (offsets[k][0] && offsets[k][1]) ? SQRT2 : 1.0;
    }
    heuristic_t h = {size_y, connectivity, n_targets > 0, {0, 0, 0, 0},
                     n_targets > 0 ? n_active : 0, n_landmarks, distances, active, low, high};
    if (n_targets > 0) {
        h.box[0] = h.box[2] = INT32_MAX;
        h.box[1] = h.box[3] = INT32_MIN;
        for (int32_t t = 0; t < n_targets; t++) {
            int32_t x = (int32_t)(targets[t] / size_y), y = (int32_t)(targets[t] % size_y);
            h.box[0] = x < h.box[0] ? x : h.box[0];
            h.box[1] = x > h.box[1] ? x : h.box[1];
            h.box[2] = y < h.box[2] ? y : h.box[2];
            h.box[3] = y > h.box[3] ? y : h.box[3];
        }
    }
    heap_t heap = {NULL, 0, 0};
    result[0] = -1;
    result[1] = 0;
    result[2] = 0;
    length[0] = INFINITY;
    for (int32_t s = 0; s < n_sources; s++) {
        int64_t node = sources[s];
        if (node < 0 || node >= count) {
            continue;
        }
        cell_t *cell = &cells[node];
        if (cell->state == seen && cell->cost <= source_costs[s]) {
            continue;
        }
        cell->state = seen;
        cell->cost = source_costs[s];
        cell->parent = -1;
        if (heap_push(&heap, source_costs[s] + heuristic(&h, (int32_t)node), source_costs[s],
                      (int32_t)node)) {
            free(heap.items);
            result[0] = -2;
            return -2;
        }
    }
    int64_t settled = 0, best = -1;
    double best_cost = INFINITY;
    while (heap.size > 0) {
        entry_t top = heap_pop(&heap);
        int32_t node = top.node;
        if (best >= 0 && top.f > best_cost + TIE) {
            break;
        }
        if (cells[node].state == done || top.g != cells[node].cost) {
            continue; /* a stale entry */
        }
        cells[node].state = done;
        settled++;
        if (n_targets > 0 && top.f <= best_cost + TIE) {
            for (int32_t t = 0; t < n_targets && (best < 0 || t < best); t++) {
                if (targets[t] == node) {
                    if (best < 0) {
                        best_cost = top.g;
                    }
                    best = t;
                    break;
                }
            }
            if (best >= 0 && n_targets == 1) {
                break;
            }
        }
        uint8_t bits = moves[node];
        for (int32_t k = 0; k < connectivity; k++) {
            if (!((bits >> k) & 1u)) {
                continue;
            }
            int32_t next = node + delta[k];
            double g = top.g + step[k];
            cell_t *cell = &cells[next];
            if (cell->state == done || (cell->state == seen && cell->cost <= g)) {
                continue;
            }
            cell->state = seen;
            cell->cost = g;
            cell->parent = node;
            if (heap_push(&heap, g + heuristic(&h, next), g, next)) {
                free(heap.items);
                result[0] = -2;
                return -2;
            }
        }
    }
    free(heap.items);
    result[1] = settled;
    if (best < 0) {
        return result[0];
    }
    int64_t n = 0;
    for (int32_t node = (int32_t)targets[best]; node >= 0; node = cells[node].parent) {
        path[n++] = node;
    }
    result[0] = best;
    result[2] = n;
    length[0] = cells[targets[best]].cost;
    return best;
}
