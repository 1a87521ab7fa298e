"""Camera trajectories: clearance, heights, room coverage, smoothness, pose conventions."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.world import (
    CompositionConfig,
    FurnitureConfig,
    TrajectoryConfig,
    WorldError,
    generate_composition,
    orbit_trajectory,
    plan_trajectory,
)


@pytest.fixture(scope='module')
def walk(primitive_world):
    return plan_trajectory(primitive_world, seed=0)


def test_trajectory_keeps_clear_of_all_geometry(primitive_world, walk):
    assert len(walk) > 50
    assert primitive_world.distance(walk.positions).min() >= 0.25


def test_trajectory_stays_at_camera_height_inside_the_apartment(primitive_world, walk):
    config = TrajectoryConfig()
    heights = walk.positions[:, 2]
    assert heights.min() >= config.height_min - 1e-9
    assert heights.max() <= config.height_max + 1e-9
    boxes = [r.box for r in primitive_world.layout.rooms] + [
        d.box for d in primitive_world.layout.doorways]
    inside = np.any([b.expanded(0.01).contains(walk.positions * [1, 1, 0]) for b in boxes],
                    axis=0)
    assert inside.all()


def test_trajectory_visits_every_room_through_doorways(primitive_world, walk):
    for room in primitive_world.layout.rooms:
        assert room.box.contains(walk.positions).sum() > 10, f'room {room.id} not visited'
    crossed = [d for d in primitive_world.layout.doorways
               if d.box.contains(walk.positions).any()]
    assert len(crossed) >= len(primitive_world.layout.rooms) - 1


def test_trajectory_is_smooth_and_well_formed(walk):
    config = TrajectoryConfig()
    assert np.allclose(np.diff(walk.stamps), 1 / config.rate_hz)
    steps = np.linalg.norm(np.diff(walk.positions, axis=0), axis=1)
    assert steps.max() <= 1.5 * config.speed / config.rate_hz
    rotations = walk.camera_to_world[:, :3, :3]
    assert np.allclose(np.einsum('nji,njk->nik', rotations, rotations), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    forward, down = rotations[:, :, 2], rotations[:, :, 1]
    turn = np.arccos(np.clip(np.einsum('ni,ni->n', forward[1:], forward[:-1]), -1, 1))
    assert np.degrees(turn).max() < 15
    assert np.all(down[:, 2] < 0), 'optical y must point down'
    pitch = np.degrees(np.arcsin(forward[:, 2]))
    assert pitch.max() <= 0 and pitch.min() >= -20


def test_trajectory_is_deterministic(primitive_world, walk):
    again = plan_trajectory(primitive_world, seed=0)
    assert np.array_equal(again.camera_to_world, walk.camera_to_world)
    other = plan_trajectory(primitive_world, seed=1)
    assert other.camera_to_world.shape != walk.camera_to_world.shape or not np.allclose(
        other.camera_to_world, walk.camera_to_world)
    with pytest.raises(WorldError, match='seed'):
        plan_trajectory(primitive_world, seed=-2)


def test_orbit_looks_at_a_composition():
    world = generate_composition(2, CompositionConfig(furniture=FurnitureConfig(
        source='primitives')))
    orbit = orbit_trajectory(world, frames=12)
    assert world.distance(orbit.positions).min() > 0.5
    with pytest.raises(WorldError, match='apartment'):
        plan_trajectory(world)
