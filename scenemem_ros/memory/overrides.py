"""Override records layered on the base memory, and their composition with baked grids.

Each record says that a box of space now differs from what the memory learned. Queries compose
base + overrides in order of ``first_seen`` (then id); a what-if query composes a hypothetical list
without committing anything.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from scenemem_ros.memory.errors import MemoryModelError

if TYPE_CHECKING:  # keeps this module (and the journal) free of the torch import at run time
    from scenemem_ros.geometry.voxels import VoxelGrid


class OverrideKind(enum.Enum):
    """What changed. Blocking kinds make their region occupied, clearing kinds make it free."""

    BLOCKED_REGION = 'blocked_region'
    CLEARED_REGION = 'cleared_region'
    OBJECT_REMOVED = 'object_removed'
    OBJECT_ADDED = 'object_added'
    OBJECT_MOVED = 'object_moved'


class OverrideSource(enum.Enum):
    DETECTED = 'detected'
    OPERATOR = 'operator'


OCCUPYING_KINDS = {OverrideKind.BLOCKED_REGION, OverrideKind.OBJECT_ADDED}
CLEARING_KINDS = {OverrideKind.CLEARED_REGION, OverrideKind.OBJECT_REMOVED}


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in the world frame: (3,) minimum and maximum corners in metres."""

    minimum: tuple[float, float, float]
    maximum: tuple[float, float, float]

    def __post_init__(self) -> None:
        low = tuple(float(v) for v in self.minimum)
        high = tuple(float(v) for v in self.maximum)
        if len(low) != 3 or len(high) != 3:
            raise MemoryModelError(f'Box corners need 3 numbers, got {self.minimum}, '
                                   f'{self.maximum}')
        if not all(math.isfinite(v) for v in low + high):
            raise MemoryModelError(f'Box corners must be finite, got {low}, {high}')
        if any(h <= lo for lo, h in zip(low, high, strict=False)):
            raise MemoryModelError(f'Box needs minimum < maximum on every axis, got {low}, {high}')
        object.__setattr__(self, 'minimum', low)
        object.__setattr__(self, 'maximum', high)

    def volume(self) -> float:
        return float(np.prod(np.subtract(self.maximum, self.minimum)))

    def intersection_over_union(self, other: Box) -> float:
        low = np.maximum(self.minimum, other.minimum)
        high = np.minimum(self.maximum, other.maximum)
        inter = float(np.prod(np.clip(high - low, 0, None)))
        union = self.volume() + other.volume() - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict[str, list[float]]:
        return {'min': list(self.minimum), 'max': list(self.maximum)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Box:
        return cls(tuple(data['min']), tuple(data['max']))


@dataclass(frozen=True)
class Override:
    """One change on top of the memory.

    Attributes:
        id: unique, stable identifier (letters, digits, '-', '_', '.').
        kind: what changed.
        region: the box that is now occupied (blocked, added) or free (cleared, removed); for
            a moved object, the box it moved to.
        source: detected by the change detector or entered by an operator.
        confidence: in [0, 1].
        first_seen, last_seen: seconds (ROS time).
        expires_at: seconds after which the override no longer applies; None never expires.
        moved_from: for OBJECT_MOVED, the box the object left (becomes free).
        label: free text for people (what was seen).
    """

    id: str
    kind: OverrideKind
    region: Box
    source: OverrideSource = OverrideSource.DETECTED
    confidence: float = 1.0
    first_seen: float = 0.0
    last_seen: float = 0.0
    expires_at: float | None = None
    moved_from: Box | None = None
    label: str = ''

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in '-_.' for c in self.id):
            raise MemoryModelError(f'Override.id must be letters, digits, "-", "_" or ".", '
                                   f'got {self.id!r}')
        if not 0.0 <= self.confidence <= 1.0:
            raise MemoryModelError(f'Override.confidence must be in [0, 1], got {self.confidence}')
        if not (math.isfinite(self.first_seen) and math.isfinite(self.last_seen)):
            raise MemoryModelError('Override first_seen/last_seen must be finite')
        if self.last_seen < self.first_seen:
            raise MemoryModelError(f'Override.last_seen {self.last_seen} is before first_seen '
                                   f'{self.first_seen}')
        if (self.kind is OverrideKind.OBJECT_MOVED) != (self.moved_from is not None):
            raise MemoryModelError('Override.moved_from is required for object_moved and only '
                                   'for it')

    def active(self, now: float | None) -> bool:
        return self.expires_at is None or now is None or now < self.expires_at

    def seen_again(self, stamp: float, confidence: float | None = None) -> Override:
        return replace(self, last_seen=max(self.last_seen, stamp),
                       confidence=self.confidence if confidence is None else confidence)

    def to_dict(self) -> dict[str, Any]:
        return {'id': self.id, 'kind': self.kind.value, 'region': self.region.to_dict(),
                'source': self.source.value, 'confidence': self.confidence,
                'first_seen': self.first_seen, 'last_seen': self.last_seen,
                'expires_at': self.expires_at, 'label': self.label,
                'moved_from': self.moved_from.to_dict() if self.moved_from else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Override:
        try:
            return cls(id=str(data['id']), kind=OverrideKind(data['kind']),
                       region=Box.from_dict(data['region']),
                       source=OverrideSource(data.get('source', 'detected')),
                       confidence=float(data.get('confidence', 1.0)),
                       first_seen=float(data.get('first_seen', 0.0)),
                       last_seen=float(data.get('last_seen', data.get('first_seen', 0.0))),
                       expires_at=None if data.get('expires_at') is None
                       else float(data['expires_at']),
                       moved_from=Box.from_dict(data['moved_from']) if data.get('moved_from')
                       else None,
                       label=str(data.get('label', '')))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, MemoryModelError):
                raise
            raise MemoryModelError(f'malformed override record {data!r}: {error}') from error


def _box_slices(grid_origin: np.ndarray, resolution: float, shape: tuple[int, ...],
                box: Box) -> tuple[slice, ...] | None:
    """Index slices of the cells whose centres lie inside ``box`` (None if none do)."""
    dims = len(shape)
    low = np.ceil((np.asarray(box.minimum[:dims]) - grid_origin) / resolution - 0.5).astype(int)
    high = np.floor((np.asarray(box.maximum[:dims]) - grid_origin) / resolution - 0.5).astype(
        int) + 1
    low = np.clip(low, 0, shape)
    high = np.clip(high, 0, shape)
    if (high <= low).any():
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=False))


def ordered(overrides: Iterable[Override], now: float | None = None) -> list[Override]:
    """Active overrides in application order (first seen, then id)."""
    return sorted((o for o in overrides if o.active(now)), key=lambda o: (o.first_seen, o.id))


def apply_to_voxels(occupied: np.ndarray, observed: np.ndarray, grid: VoxelGrid,
                    overrides: Iterable[Override], now: float | None = None) -> None:
    """Compose overrides onto (X, Y, Z) bool occupied/observed arrays, in place."""
    origin = np.asarray(grid.origin)
    for override in ordered(overrides, now):
        for box, value in _effects(override):
            index = _box_slices(origin, grid.resolution, grid.shape, box)
            if index is not None:
                occupied[index] = value
                observed[index] = True


def apply_to_grid_2d(cells: np.ndarray, origin_xy: np.ndarray, resolution: float,
                     z_band: tuple[float, float], overrides: Iterable[Override],
                     now: float | None = None) -> None:
    """Compose overrides onto an (X, Y) int8 occupancy grid (-1/0/100) of a height band, in place.

    A box that does not reach into the band changes nothing; one that does sets the cells under
    it occupied (blocking kinds) or free (clearing kinds). For exact 3D composition use
    ``apply_to_voxels`` and project again.
    """
    for override in ordered(overrides, now):
        for box, value in _effects(override):
            if box.maximum[2] <= z_band[0] or box.minimum[2] >= z_band[1]:
                continue
            index = _box_slices(np.asarray(origin_xy), resolution, cells.shape, box)
            if index is not None:
                cells[index] = 100 if value else 0


def _effects(override: Override) -> list[tuple[Box, bool]]:
    if override.kind in OCCUPYING_KINDS:
        return [(override.region, True)]
    if override.kind in CLEARING_KINDS:
        return [(override.region, False)]
    assert override.moved_from is not None
    return [(override.moved_from, False), (override.region, True)]
