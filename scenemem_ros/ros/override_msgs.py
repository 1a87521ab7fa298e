"""Overrides <-> visualization_msgs/Marker: what RViz shows and what operators send.

A marker is a CUBE over the override's region; its ``text`` carries the full record as JSON so
nothing is lost on the wire. An operator may also send a bare CUBE (no JSON text): it becomes an
operator override whose kind is the marker's namespace when that names a kind (e.g.
``blocked_region``), else a blocked region, with id ``<ns>-<marker id>``.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from builtin_interfaces.msg import Duration
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from scenemem_ros.memory.errors import MemoryModelError
from scenemem_ros.memory.overrides import Box, Override, OverrideKind, OverrideSource
from scenemem_ros.ros.conversions import seconds_to_stamp

NAMESPACE = 'scenemem_overrides'
COLOURS = {
    OverrideKind.BLOCKED_REGION: (0.9, 0.1, 0.1),
    OverrideKind.OBJECT_ADDED: (0.9, 0.5, 0.1),
    OverrideKind.CLEARED_REGION: (0.1, 0.8, 0.2),
    OverrideKind.OBJECT_REMOVED: (0.1, 0.6, 0.9),
    OverrideKind.OBJECT_MOVED: (0.7, 0.2, 0.9),
}


def marker_id(override_id: str) -> int:
    """A stable int32 marker id for an override id."""
    return zlib.crc32(override_id.encode()) & 0x7FFFFFFF


def override_to_marker(override: Override, frame_id: str, stamp: float) -> Marker:
    marker = Marker()
    marker.header.frame_id = frame_id
    marker.header.stamp = seconds_to_stamp(stamp)
    marker.ns = NAMESPACE
    marker.id = marker_id(override.id)
    marker.type = Marker.CUBE
    marker.action = Marker.ADD
    low, high = override.region.minimum, override.region.maximum
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (
        (low[i] + high[i]) / 2 for i in range(3))
    marker.pose.orientation.w = 1.0
    marker.scale.x, marker.scale.y, marker.scale.z = (high[i] - low[i] for i in range(3))
    red, green, blue = COLOURS[override.kind]
    marker.color = ColorRGBA(r=red, g=green, b=blue, a=0.5)
    marker.lifetime = Duration(sec=0, nanosec=0)
    marker.text = json.dumps(override.to_dict(), separators=(',', ':'))
    return marker


def overrides_to_marker_array(overrides: list[Override], frame_id: str,
                              stamp: float) -> MarkerArray:
    """DELETEALL followed by one ADD per override: RViz shows exactly the live set."""
    clear = Marker()
    clear.header.frame_id = frame_id
    clear.ns = NAMESPACE
    clear.action = Marker.DELETEALL
    return MarkerArray(markers=[clear] + [override_to_marker(o, frame_id, stamp)
                                          for o in overrides])


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def marker_to_update(marker: Marker, now: float) -> tuple[str, Any]:
    """One marker -> ('put', Override) | ('delete', id) | ('clear', None).

    Raises MemoryModelError with the reason for anything malformed.
    """
    if marker.action == Marker.DELETEALL:
        return 'clear', None
    record: dict[str, Any] | None = None
    if marker.text.strip().startswith('{'):
        try:
            record = json.loads(marker.text)
        except json.JSONDecodeError as error:
            raise MemoryModelError(f'marker {marker.ns}/{marker.id}: text is not valid JSON '
                                   f'({error.msg})') from error
        if not isinstance(record, dict):
            raise MemoryModelError(f'marker {marker.ns}/{marker.id}: JSON text is not an object')
    identifier = str(record['id']) if record and 'id' in record else f'{marker.ns}-{marker.id}'
    if marker.action == Marker.DELETE:
        return 'delete', identifier
    if marker.action != Marker.ADD:
        raise MemoryModelError(f'marker {marker.ns}/{marker.id}: unsupported action '
                               f'{marker.action}')
    if record is not None:
        return 'put', Override.from_dict(record)
    if marker.type != Marker.CUBE:
        raise MemoryModelError(f'marker {marker.ns}/{marker.id}: operator overrides must be '
                               f'CUBE markers, got type {marker.type}')
    position, scale = marker.pose.position, marker.scale
    if not _finite(position.x, position.y, position.z, scale.x, scale.y, scale.z):
        raise MemoryModelError(f'marker {marker.ns}/{marker.id}: non-finite pose or scale')
    if min(scale.x, scale.y, scale.z) <= 0:
        raise MemoryModelError(f'marker {marker.ns}/{marker.id}: scale must be > 0 on every '
                               f'axis, got ({scale.x}, {scale.y}, {scale.z})')
    orientation = marker.pose.orientation
    if abs(abs(orientation.w) - 1.0) > 1e-3 and not (orientation.x == orientation.y ==
                                                       orientation.z == orientation.w == 0.0):
        raise MemoryModelError(f'marker {marker.ns}/{marker.id}: only axis-aligned boxes are '
                               f'supported (identity orientation)')
    kinds = {k.value: k for k in OverrideKind}
    kind = kinds.get(marker.ns, OverrideKind.BLOCKED_REGION)
    if kind is OverrideKind.OBJECT_MOVED:
        raise MemoryModelError('object_moved needs JSON text with moved_from')
    half = (scale.x / 2, scale.y / 2, scale.z / 2)
    centre = (position.x, position.y, position.z)
    region = Box(tuple(c - h for c, h in zip(centre, half, strict=True)),
                 tuple(c + h for c, h in zip(centre, half, strict=True)))
    lifetime = marker.lifetime.sec + marker.lifetime.nanosec * 1e-9
    return 'put', Override(id=identifier, kind=kind, region=region,
                           source=OverrideSource.OPERATOR, confidence=1.0, first_seen=now,
                           last_seen=now, expires_at=now + lifetime if lifetime > 0 else None,
                           label=marker.text)
