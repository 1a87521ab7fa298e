"""Shapes of changes from slots: sampling, selection by box, comparison up to a move."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import pytest

from scenemem_ros.changes.shapes import (
    ChangeShape,
    ShapeConfig,
    change_shape,
    merge_shapes,
    sample_surfaces,
    shape_distance,
)
from scenemem_ros.memory.overrides import Box


@dataclass
class Slots:
    """World-frame slots as ``SlotSet`` holds them (the fields ``change_shape`` reads)."""

    centres: np.ndarray
    existence: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray


def cube(low, high) -> tuple[np.ndarray, np.ndarray]:
    """(8, 3) vertices, (12, 3) faces of an axis-aligned box."""
    mesh = o3d.geometry.TriangleMesh.create_box(*np.subtract(high, low)).translate(
        np.asarray(low, float))
    return np.asarray(mesh.vertices), np.asarray(mesh.triangles)


def slots_of(boxes, existence=None) -> Slots:
    parts = [cube(*b) for b in boxes]
    vertices = np.stack([p[0] for p in parts])
    return Slots(centres=vertices.mean(axis=1), vertices=vertices, faces=parts[0][1],
                 existence=np.ones(len(boxes)) if existence is None else np.asarray(existence))


def test_samples_lie_on_the_surface_spread_by_area():
    vertices, faces = cube((0, 0, 0), (2.0, 1.0, 1.0))
    points = sample_surfaces(vertices[None], faces, 6000, np.random.default_rng(0))
    on_face = np.isclose(points, 0) | np.isclose(points, [2.0, 1.0, 1.0])
    assert points.shape == (6000, 3) and on_face.any(axis=1).all()
    # the two 1 x 1 end faces hold 2 / 10 of the area
    share = np.isclose(points[:, 0], 0).mean() + np.isclose(points[:, 0], 2.0).mean()
    assert share == pytest.approx(0.2, abs=0.03)


def test_a_change_takes_the_slots_in_its_box_without_the_floor():
    table = ((1.0, 1.0, 0.0), (1.8, 1.8, 0.8))
    floor = ((-2.0, -2.0, -0.05), (4.0, 4.0, 0.0))
    wall = ((3.0, 0.0, 0.0), (3.1, 3.0, 2.5))
    faint = ((1.2, 1.2, 0.2), (1.6, 1.6, 0.6))
    slots = slots_of([table, floor, wall, faint], existence=[0.9, 0.9, 0.9, 0.1])
    shape = change_shape(slots, Box(*table), ShapeConfig())
    assert shape is not None and shape.slots == 1  # the table: not the floor (centred at
    # floor height), the wall (outside) or the faint slot (existence 0.1)
    assert shape.points[:, 2].min() >= ShapeConfig().floor_clearance
    assert np.all(shape.points[:, :2] >= 1.0 - 1e-9) and np.all(shape.points[:, :2] <= 1.8)


def test_no_shape_when_no_slot_covers_the_box():
    slots = slots_of([((5.0, 5.0, 0.0), (6.0, 6.0, 1.0))])
    assert change_shape(slots, Box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), ShapeConfig()) is None


def shape_of(box, yaw=0.0, shift=(0.0, 0.0)) -> ChangeShape:
    vertices, faces = cube(*box)
    centre = vertices.mean(axis=0)
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    vertices = (vertices - centre) @ turn.T + centre + [*shift, 0.0]
    points = sample_surfaces(vertices[None], faces, 3000, np.random.default_rng(1))
    return ChangeShape(points, 1)


def test_the_same_shape_moved_and_turned_is_close():
    table = ((0.0, 0.0, 0.0), (1.2, 0.6, 0.8))
    distance = shape_distance(shape_of(table), shape_of(table, yaw=0.7, shift=(3.0, -2.0)),
                              ShapeConfig())
    assert distance < 0.03  # two samplings, ~4 cm apart points, are ~2 cm apart


def test_a_different_shape_of_similar_volume_is_far():
    table = ((0.0, 0.0, 0.0), (1.2, 0.6, 0.8))
    column = ((0.0, 0.0, 0.0), (0.45, 0.45, 1.25))  # volume 0.25 vs 0.58 m^3: within 4x
    distance = shape_distance(shape_of(table), shape_of(column, shift=(2.0, 2.0)),
                              ShapeConfig())
    assert distance > 0.1


def test_a_slot_with_a_non_finite_vertex_is_left_out():
    table = ((1.0, 1.0, 0.0), (1.8, 1.8, 0.8))
    slots = slots_of([table, ((1.2, 1.2, 0.1), (1.6, 1.6, 0.5))])
    slots.vertices[1, 0] = np.nan
    shape = change_shape(slots, Box(*table), ShapeConfig())
    assert shape is not None and shape.slots == 1 and np.isfinite(shape.points).all()


def test_pooled_looks_keep_the_latest_views_in_equal_shares():
    config = ShapeConfig(samples=300, views=2)
    looks = [ChangeShape(np.full((300, 3), float(i)), 1) for i in range(3)]
    pooled = merge_shapes(looks[0], looks[1], config)
    assert pooled.views == 2 and len(pooled.points) == 300
    assert sorted(np.unique(pooled.points[:, 0])) == [0.0, 1.0]
    assert (pooled.points[:, 0] == 1.0).sum() == 150
    # a third look pushes the first one out
    latest = merge_shapes(pooled, looks[2], config)
    assert latest.views == 2 and sorted(np.unique(latest.points[:, 0])) == [1.0, 2.0]
    assert (latest.points[:, 0] == 2.0).sum() == 150
