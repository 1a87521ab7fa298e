"""The moves between grid cells and where each is allowed.

Moves (``MOVES``, in this order): +x, -x, +y, -y, then the diagonals (+x+y, +x-y, -x+y, -x-y),
costing 1 and sqrt(2) cells; 4-connectivity uses the first four. A move joins two free cells; a
diagonal is also refused when *both* cells it passes between (its two orthogonal neighbours) are
blocked, so a path never squeezes through the corner point of two blocked cells. With that rule,
8-connected and 4-connected free space have the same connected components.
"""

from __future__ import annotations

import numpy as np

#: (8, 2) int64 cell offsets of the moves; 4-connectivity uses the first four.
MOVES = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)],
                 dtype=np.int64)
#: (8,) move lengths in cells.
MOVE_CELLS = np.hypot(MOVES[:, 0], MOVES[:, 1])
MOVES.setflags(write=False)
MOVE_CELLS.setflags(write=False)


def move_masks(free: np.ndarray, connectivity: int) -> np.ndarray:
    """(X, Y) bool free cells -> (X, Y) uint8: bit k set where move ``MOVES[k]`` is allowed."""
    size_x, size_y = free.shape
    padded = np.zeros((size_x + 2, size_y + 2), dtype=bool)
    padded[1:-1, 1:-1] = free

    def shifted(dx: int, dy: int) -> np.ndarray:
        return padded[1 + dx:1 + dx + size_x, 1 + dy:1 + dy + size_y]

    masks = np.zeros(free.shape, dtype=np.uint8)
    for k, (dx, dy) in enumerate(MOVES[:connectivity].tolist()):
        allowed = free & shifted(dx, dy)
        if dx and dy:
            allowed &= shifted(dx, 0) | shifted(0, dy)
        masks |= allowed.astype(np.uint8) << k
    return masks
