"""What a changed object looks like, from the slot encoder: moved or replaced?

A removal and an addition of similar size are one moved object only if what left and what
arrived have the same shape. The slot encoder gives that shape: a removal's slots come from
the memory's expected depth (the object as the memory holds it, seen from the current pose),
an addition's from the observed depth. ``change_shape`` samples the surfaces of the slots
that cover a change's box; ``shape_distance`` compares two such samples up to the move itself
(a shift on the floor and a turn about the vertical).

Pure numpy and scipy: the encoder is passed in as any callable that turns a depth frame into
world-frame slots (``scenemem_ros.encoder.EncoderSession.encode_frame``), so that this module
does not need torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.spatial import cKDTree

from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.sampling import sample_triangles, triangle_areas
from scenemem_ros.memory.overrides import Box


class SlotSurfaces(Protocol):
    """The parts of ``scenemem_ros.encoder.SlotSet`` this module reads.

    centres (K, 3) world, existence (K,), vertices (K, V, 3) world, faces (F, 3) int.
    """

    @property
    def centres(self) -> np.ndarray: ...

    @property
    def existence(self) -> np.ndarray: ...

    @property
    def vertices(self) -> np.ndarray: ...

    @property
    def faces(self) -> np.ndarray: ...


# (H, W) float32 depth (m), intrinsics, (4, 4) optical-to-world pose -> world-frame slots
ShapeEncoder = Callable[[np.ndarray, PinholeCamera, np.ndarray], SlotSurfaces]


@dataclass(frozen=True)
class ShapeConfig:
    """How a change's shape is sampled from slots and compared.

    Attributes:
        margin: a slot belongs to a change when its centre lies in the change's box grown by
            this (m) and above ``floor_clearance``; its surface is kept within the same box
            (a floor slot, centred at floor height, is left out).
        floor_clearance: surface lower than this above the floor is left out (the floor
            under an object is no part of its shape).
        samples: points sampled over the chosen slots' surfaces (area-weighted).
        min_points: fewer points than this inside the box: no shape (the box is out of view
            or the slots missed it).
        yaw_steps: turns about the vertical tried when two shapes are compared; the best is
            then refined by ``yaw_refinements`` halvings of the step. The search runs on
            ``search_points`` of each shape's points; the distance is then measured on all of
            them at the turn found.
        align_iterations: horizontal shifts refined per turn (nearest-neighbour means).
        existence: slots with a lower existence probability are ignored.
        views: looks whose shapes are pooled (the latest ones, each a different view of the
            same object: more of it is seen); 1 keeps the latest look only.
    """

    margin: float = 0.15
    floor_clearance: float = 0.05
    samples: int = 2000
    min_points: int = 50
    yaw_steps: int = 16
    yaw_refinements: int = 3
    search_points: int = 300
    align_iterations: int = 4
    existence: float = 0.5
    views: int = 1


@dataclass(frozen=True)
class ChangeShape:
    """(N, 3) world points on the surfaces of the slots that cover one change, and how many
    slots they came from."""

    points: np.ndarray
    slots: int
    views: int = 1


def _grown(box: Box, margin: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    low = np.asarray(box.minimum, dtype=np.float64) - margin
    high = np.asarray(box.maximum, dtype=np.float64) + margin
    low[2] = max(low[2], floor)
    return low, high


def sample_surfaces(vertices: np.ndarray, faces: np.ndarray, count: int,
                    rng: np.random.Generator) -> np.ndarray:
    """(S, V, 3) vertices of S meshes sharing (F, 3) faces -> (count, 3) points spread over
    their surfaces by area."""
    triangles = vertices[:, faces].reshape(-1, 3, 3)  # (S * F, 3, 3)
    areas = triangle_areas(triangles)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros((0, 3))
    return sample_triangles(triangles, count, rng, areas)


def change_shape(slots: SlotSurfaces, box: Box, config: ShapeConfig,
                 floor_height: float = 0.0) -> ChangeShape | None:
    """World-frame slots and one change's box -> the change's shape, or None when fewer than
    ``config.min_points`` slot surface points fall in the box (out of view, or missed). Slots
    with a non-finite vertex are left out."""
    low, high = _grown(box, config.margin, floor_height + config.floor_clearance)
    centres = np.asarray(slots.centres, dtype=np.float64)
    vertices = np.asarray(slots.vertices, dtype=np.float64)
    chosen = (np.asarray(slots.existence) > config.existence) & \
        np.all((centres >= low) & (centres <= high), axis=1) & \
        np.isfinite(vertices).all(axis=(1, 2))
    if not chosen.any():
        return None
    rng = np.random.default_rng(0)
    points = sample_surfaces(vertices[chosen], np.asarray(slots.faces), config.samples, rng)
    inside = points[np.all((points >= low) & (points <= high), axis=1)]
    if len(inside) < config.min_points:
        return None
    return ChangeShape(inside, int(chosen.sum()))


def merge_shapes(earlier: ChangeShape, latest: ChangeShape, config: ShapeConfig) -> ChangeShape:
    """Pool the latest look with the earlier ones: up to ``config.views`` looks, each keeping
    an equal share of ``config.samples`` points (the oldest look's share goes first)."""
    views = min(earlier.views + 1, config.views)
    share = config.samples // views
    rng = np.random.default_rng(0)
    kept = earlier.points
    if views - 1 < earlier.views:  # drop the oldest look's points (they come first)
        kept = kept[len(kept) // earlier.views:]
    keep = rng.choice(len(kept), size=min(len(kept), share * (views - 1)), replace=False)
    fresh = rng.choice(len(latest.points), size=min(len(latest.points), share), replace=False)
    return ChangeShape(np.concatenate([kept[np.sort(keep)], latest.points[fresh]]),
                       max(earlier.slots, latest.slots), views)


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _aligned_distance(centred: np.ndarray, source_tree: cKDTree, target: np.ndarray,
                      target_tree: cKDTree, yaw: float, iterations: int) -> float:
    """Distance after turning ``centred`` (horizontal centroid at the origin; ``source_tree``
    over it) by ``yaw``, moving it onto the target's horizontal centroid and refining the shift
    ``iterations`` times. The turn and shift are rigid, so the target's nearest turned point is
    found by moving the target back instead (no tree is rebuilt)."""
    turn = _yaw(yaw)
    turned = centred @ turn.T
    shift = target[:, :2].mean(axis=0)
    best = np.inf
    for _ in range(iterations + 1):
        moved = turned.copy()
        moved[:, :2] += shift
        back = target.copy()
        back[:, :2] -= shift
        forward, to_target = target_tree.query(moved)
        backward, to_moved = source_tree.query(back @ turn)  # rows: turn.T @ (t - shift)
        best = min(best, 0.5 * float(forward.mean() + backward.mean()))
        shift = shift + 0.5 * ((target[to_target, :2] - moved[:, :2]).mean(axis=0)
                               + (target[:, :2] - moved[to_moved, :2]).mean(axis=0))
    return best


def _subsample(points: np.ndarray, count: int) -> np.ndarray:
    if len(points) <= count:
        return points
    return points[np.random.default_rng(0).choice(len(points), count, replace=False)]


def shape_distance(first: ChangeShape, second: ChangeShape, config: ShapeConfig) -> float:
    """Symmetric mean nearest-neighbour distance (m) between two shapes after the best
    horizontal shift and turn about the vertical (heights are kept: both stand on the floor).

    The turn is searched on ``search_points`` of each shape: ``yaw_steps`` turns, each from
    matched horizontal centroids with the shift refined ``align_iterations`` times (the mean
    offset of nearest neighbours, both ways), then ``yaw_refinements`` halvings of the step
    around the best. At that turn the shift is refined again on all points and the distance
    measured there. Two samplings of the same surface are themselves about half their point
    spacing apart.
    """
    centred = first.points.copy()
    centred[:, :2] -= first.points[:, :2].mean(axis=0)
    coarse, coarse_target = (_subsample(centred, config.search_points),
                             _subsample(second.points, config.search_points))
    trees = cKDTree(coarse), cKDTree(coarse_target)
    step = 2 * np.pi / config.yaw_steps
    scores = {yaw: _aligned_distance(coarse, trees[0], coarse_target, trees[1], yaw,
                                     config.align_iterations)
              for yaw in step * np.arange(config.yaw_steps)}
    yaw = min(scores, key=lambda angle: scores[angle])
    for _ in range(config.yaw_refinements):
        step /= 2
        for candidate in (yaw - step, yaw + step):
            scores[candidate] = _aligned_distance(coarse, trees[0], coarse_target, trees[1],
                                                  candidate, config.align_iterations)
        yaw = min(scores, key=lambda angle: scores[angle])
    return _aligned_distance(centred, cKDTree(centred), second.points, cKDTree(second.points),
                             yaw, config.align_iterations)
