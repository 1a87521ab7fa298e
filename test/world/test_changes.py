"""Scripted changes: every kind changes occupancy inside its recorded regions."""

from __future__ import annotations

import numpy as np
import pytest

from scenemem_ros.world import (
    CHANGES,
    ChangeKind,
    CompositionConfig,
    FurnitureConfig,
    WorldError,
    apply_change,
    generate_composition,
    load_change,
    replace_object,
    save_change,
)


def _differs(before, after, box) -> bool:
    low, high = box.low - 0.05, box.high + 0.05
    a = before.occupancy(low, high, 0.05, solid=True).occupied
    b = after.occupancy(low, high, 0.05, solid=True).occupied
    return bool(np.any(a != b))


def test_registry_covers_every_kind():
    assert set(CHANGES) == set(ChangeKind)


@pytest.mark.parametrize('kind', list(ChangeKind))
def test_change_regions_differ_in_occupancy(primitive_world, kind):
    after, record = apply_change(primitive_world, kind, seed=2)
    assert record.kind is kind and record.regions and record.description
    for region in record.regions:
        assert _differs(primitive_world, after, region), f'{kind.value}: {region} unchanged'
    ids_before = {i.id for i in primitive_world.instances}
    ids_after = {i.id for i in after.instances}
    if kind is ChangeKind.OBJECT_REMOVED:
        assert ids_before - ids_after == set(record.object_ids)
    if kind in (ChangeKind.OBJECT_ADDED, ChangeKind.DOORWAY_BLOCKED):
        assert ids_after - ids_before == set(record.object_ids)
    if kind is ChangeKind.OBJECT_MOVED:
        (moved,) = record.object_ids
        assert not np.allclose(primitive_world.instance(moved).pose, after.instance(moved).pose)
        assert not record.regions[0].overlaps(record.regions[1])
    if kind is ChangeKind.NEW_ROOM:
        assert len(after.layout.rooms) == len(primitive_world.layout.rooms) + 1
        new_doorway = after.layout.doorways[-1]
        assert after.layout.rooms[-1].id in new_doorway.rooms


def test_changes_are_deterministic_and_leave_the_original_alone(primitive_world):
    before = primitive_world.metadata()
    first = apply_change(primitive_world, 'object_moved', seed=5)
    second = apply_change(primitive_world, 'object_moved', seed=5)
    assert first[1] == second[1]
    assert first[0].metadata() == second[0].metadata()
    assert primitive_world.metadata() == before


def test_blocked_doorway_disconnects_free_space(primitive_world):
    after, record = apply_change(primitive_world, ChangeKind.DOORWAY_BLOCKED, seed=0)
    box = record.regions[0]
    grid = after.occupancy_2d(0.1, 1.5, 0.05, xy_min=box.low[:2] - 0.1,
                              xy_max=box.high[:2] + 0.1)
    assert grid.occupied.mean() > 0.5


def test_object_changes_on_compositions():
    world = generate_composition(1, CompositionConfig(furniture=FurnitureConfig(
        source='primitives')))
    for kind in ('object_moved', 'object_removed', 'object_added'):
        after, record = apply_change(world, kind, seed=1)
        assert all(_differs(world, after, r) for r in record.regions)
    with pytest.raises(WorldError, match='apartment'):
        apply_change(world, 'new_room')


def test_unknown_kind_lists_the_valid_ones(primitive_world):
    with pytest.raises(WorldError, match='doorway_blocked, object_moved'):
        apply_change(primitive_world, 'earthquake')


def test_change_record_round_trip(primitive_world, tmp_path):
    _, record = apply_change(primitive_world, 'new_room', seed=1)
    path = str(tmp_path / 'change.json')
    save_change(record, path)
    assert load_change(path) == record


@pytest.mark.parametrize('which', ['primitive', 'furnished'])
def test_a_replacement_is_a_different_object_of_similar_size(request, which):
    world = request.getfixturevalue(f'{which}_world')
    after, (removed, added) = replace_object(world, np.random.default_rng(5))
    gone, new = world.instance(removed.object_ids[0]), after.instance(added.object_ids[0])
    assert removed.kind is ChangeKind.OBJECT_REMOVED and added.kind is ChangeKind.OBJECT_ADDED
    assert gone.id not in [i.id for i in after.instances]
    assert new.id not in [i.id for i in world.instances]
    assert (new.category, new.model) != (gone.category, gone.model)
    size_gone, size_new = (np.ptp(i.local_mesh.bounds, axis=0) for i in (gone, new))
    ratio = np.prod(size_gone) / np.prod(size_new)
    assert 0.5 <= ratio <= 2.0
    assert abs(size_gone[2] - size_new[2]) <= 0.3 + 1e-9
    # put down clear of where the old one stood
    assert not gone.bounds.overlaps(new.bounds)
