"""Encoder slots -> visualization_msgs/MarkerArray for RViz.

Each active slot becomes one TRIANGLE_LIST marker (its deformed-icosphere mesh in the world
frame, coloured by its dominant prototype, ``id`` = the slot's tracked identity) in namespace
``scenemem_slots``; the array starts with a DELETEALL of that namespace so RViz shows exactly
the latest frame's slots.
"""

from __future__ import annotations

import colorsys

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from scenemem_ros.encoder.session import SlotSet
from scenemem_ros.ros.conversions import seconds_to_stamp

SLOT_NAMESPACE = 'scenemem_slots'


def prototype_colour(prototype: int, count: int) -> ColorRGBA:
    """A distinct, stable colour per prototype index (hue wheel)."""
    red, green, blue = colorsys.hsv_to_rgb((prototype % max(count, 1)) / max(count, 1), 0.7, 0.9)
    return ColorRGBA(r=red, g=green, b=blue, a=0.6)


def slot_set_to_marker_array(slot_set: SlotSet, stamp: float,
                             threshold: float = 0.5) -> MarkerArray:
    """The active slots (existence > ``threshold``) of one frame as RViz mesh markers.

    slot_set.vertices (K, V, 3) and slot_set.faces (F, 3) give each marker F triangles.
    """
    clear = Marker()
    clear.header.frame_id = slot_set.frame_id
    clear.ns = SLOT_NAMESPACE
    clear.action = Marker.DELETEALL
    markers = [clear]
    active = slot_set.active(threshold)
    prototypes = int(slot_set.prototype_weights.shape[1]) if len(slot_set) else 1
    faces = np.asarray(slot_set.faces, dtype=np.int64).reshape(-1)
    for k in range(len(active)):
        triangles = np.asarray(active.vertices[k], dtype=np.float64)[faces]
        if not np.isfinite(triangles).all():
            continue
        marker = Marker()
        marker.header.frame_id = slot_set.frame_id
        marker.header.stamp = seconds_to_stamp(stamp)
        marker.ns = SLOT_NAMESPACE
        marker.id = int(active.ids[k]) & 0x7FFFFFFF
        marker.type = Marker.TRIANGLE_LIST
        marker.action = Marker.ADD
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.y = marker.scale.z = 1.0
        marker.color = prototype_colour(int(active.prototype[k]), prototypes)
        marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in triangles]
        marker.text = f'slot {int(active.ids[k])} prototype {int(active.prototype[k])} ' \
                      f'p={float(active.existence[k]):.2f}'
        markers.append(marker)
    return MarkerArray(markers=markers)
