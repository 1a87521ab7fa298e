"""Scene generation: seeds, determinism, layout sanity, furniture placement, compositions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from world_test_support import PRIMITIVES, needs_furniture

from scenemem_ros.world import (
    CompositionConfig,
    FurnitureConfig,
    LayoutConfig,
    WorldConfig,
    WorldError,
    generate_composition,
    generate_world,
)


@pytest.mark.parametrize('seed', [-1, 1.5, '3', True])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(WorldError, match='seed'):
        generate_world(seed, PRIMITIVES)
    with pytest.raises(WorldError, match='seed'):
        generate_composition(seed)


def test_same_seed_same_world_other_seed_other_world(primitive_world):
    again = generate_world(3, PRIMITIVES)
    assert np.array_equal(again.mesh.vertices, primitive_world.mesh.vertices)
    assert np.array_equal(again.mesh.triangles, primitive_world.mesh.triangles)
    assert again.metadata() == primitive_world.metadata()
    other = generate_world(4, PRIMITIVES)
    assert other.mesh.vertices.shape != primitive_world.mesh.vertices.shape or not np.allclose(
        other.mesh.vertices, primitive_world.mesh.vertices)


def test_layout_is_a_connected_apartment(primitive_world):
    layout = primitive_world.layout
    config = primitive_world.config.layout
    assert config.room_count_min <= len(layout.rooms) <= config.room_count_max
    reached, frontier = {layout.rooms[0].id}, [layout.rooms[0].id]
    while frontier:
        room = frontier.pop()
        for doorway in layout.doorways:
            if room in doorway.rooms:
                other = doorway.rooms[1 - doorway.rooms.index(room)]
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
    assert reached == {r.id for r in layout.rooms}, 'every room is reachable through doorways'
    for a, b in itertools.combinations(layout.rooms, 2):
        assert not a.box.overlaps(b.box)
    for doorway in layout.doorways:
        width = doorway.box.size[doorway.along_axis]
        assert width == pytest.approx(config.doorway_width)
        assert doorway.box.max[2] == pytest.approx(config.doorway_height)
    assert min(i.bounds.max[2] for i in primitive_world.instances
               if i.category == 'floor') == pytest.approx(0.0)
    assert not any(i.category == 'ceiling' for i in primitive_world.instances)
    with_ceiling = generate_world(3, WorldConfig(layout=LayoutConfig(ceiling=True),
                                                 furniture=PRIMITIVES.furniture))
    assert sum(i.category == 'ceiling' for i in with_ceiling.instances) == len(layout.rooms)


def test_doorways_and_their_approaches_stay_clear(primitive_world):
    """Only floor under the opening and 0.9 m in front of it on both sides; a lintel above."""
    clearance = 0.9 * primitive_world.config.furnish.doorway_clearance
    for doorway in primitive_world.layout.doorways:
        low, high = doorway.box.low.copy(), doorway.box.high.copy()
        low[doorway.along_axis] += 0.05  # the grid may overshoot the box by a voxel
        high[doorway.along_axis] -= 0.05
        low[doorway.across_axis] -= clearance
        high[doorway.across_axis] += clearance
        low[2], high[2] = 0.02, doorway.box.max[2] - 0.05
        grid = primitive_world.occupancy(low, high, 0.025, solid=True)
        assert not grid.occupied.any(), f'doorway {doorway.id} is obstructed'
        lintel = doorway.box.centre.copy()
        lintel[2] = doorway.box.max[2] + 0.1
        assert primitive_world.distance(lintel[None])[0] < 0.11


def test_objects_do_not_overlap_and_stay_in_rooms(primitive_world):
    objects = primitive_world.objects
    assert len(objects) >= 2
    for a, b in itertools.combinations(objects, 2):
        assert not a.bounds.overlaps(b.bounds), f'{a.id} overlaps {b.id}'
    for obj in objects:
        room = primitive_world.layout.room(obj.room)
        assert np.all(obj.bounds.low[:2] >= room.box.low[:2] - 1e-9)
        assert np.all(obj.bounds.high[:2] <= room.box.high[:2] + 1e-9)
        assert obj.bounds.min[2] == pytest.approx(0.0, abs=1e-9)


@needs_furniture
def test_furnished_world_uses_catalogue_models(furnished_world):
    models = [o for o in furnished_world.objects if o.model != 'primitive']
    assert models, 'expected Sweet Home 3D furniture'
    for obj in models:
        library, _ = obj.model.split('/', 1)
        assert library
        size = obj.local_mesh.bounds[1] - obj.local_mesh.bounds[0]
        assert 0.3 <= size.max() <= 2.5
        assert obj.bounds.min[2] == pytest.approx(0.0, abs=1e-6)


def test_missing_furniture_package_is_explained(tmp_path):
    config = WorldConfig(furniture=FurnitureConfig(catalogue_dir=str(tmp_path)))
    with pytest.raises(WorldError, match='apt-get install sweethome3d-furniture'):
        generate_world(0, config)
    primitives = WorldConfig(furniture=FurnitureConfig(source='primitives',
                                                       catalogue_dir=str(tmp_path)))
    assert generate_world(0, primitives).objects


def test_composition_scatters_objects_on_a_floor():
    config = CompositionConfig(furniture=FurnitureConfig(source='primitives'))
    world = generate_composition(5, config)
    assert world.kind == 'composition' and not world.layout.rooms
    objects = world.objects
    assert config.object_count_min - 3 <= len(objects) <= config.object_count_max
    yaws = [np.arctan2(o.pose[1, 0], o.pose[0, 0]) for o in objects]
    assert len(set(np.round(yaws, 6))) == len(objects)
    half = config.area_size / 2
    for obj in objects:
        assert np.all(np.abs(obj.bounds.low[:2]) <= half + 1e-6)
        assert obj.bounds.min[2] == pytest.approx(0.0, abs=1e-9)
    again = generate_composition(5, config)
    assert np.array_equal(again.mesh.vertices, world.mesh.vertices)


@pytest.mark.parametrize('config, field', [
    (lambda: LayoutConfig(wall_thickness=-0.1), 'wall_thickness'),
    (lambda: LayoutConfig(room_count_min=5, room_count_max=4), 'room_count_min'),
    (lambda: FurnitureConfig(source='ikea'), 'source'),
    (lambda: CompositionConfig(scale_min=2.0), 'scale_min'),
])
def test_config_errors_name_the_field(config, field):
    with pytest.raises(WorldError, match=field):
        config()


def test_world_package_never_imports_ros():
    import ast
    import pathlib

    import scenemem_ros.world as package
    for path in pathlib.Path(package.__file__).parent.glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split('.')[0] in ('rclpy', 'rosbag2_py') or n.endswith('_msgs')
                           for n in names), f'{path.name} imports ROS'
