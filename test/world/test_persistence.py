"""World save/load round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scenemem_ros.world import WorldError, apply_change, load_world


def test_save_load_round_trip(primitive_world, tmp_path):
    world, _ = apply_change(primitive_world, 'new_room', seed=0)
    world.save(str(tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {'world.json', 'mesh.ply',
                                                    'triangle_instance_ids.npy'}
    loaded = load_world(str(tmp_path))
    assert loaded.seed == world.seed and loaded.kind == world.kind
    assert loaded.config == world.config
    assert loaded.layout == world.layout
    assert len(loaded.instances) == len(world.instances)
    for a, b in zip(world.instances, loaded.instances, strict=True):
        assert (a.id, a.category, a.model, a.closed, a.room, a.group) == (
            b.id, b.category, b.model, b.closed, b.room, b.group)
        assert np.array_equal(a.pose, b.pose)
        assert np.allclose(a.mesh.vertices, b.mesh.vertices, atol=1e-5)
        assert np.array_equal(a.mesh.triangles, b.mesh.triangles)
    assert np.array_equal(loaded.triangle_instance_ids, world.triangle_instance_ids)
    box = world.layout.rooms[0].box
    before = world.occupancy(box.low, box.high, 0.1, solid=True).occupied
    after = loaded.occupancy(box.low, box.high, 0.1, solid=True).occupied
    assert (before != after).mean() < 1e-3


def test_load_rejects_missing_or_foreign_files(primitive_world, tmp_path):
    with pytest.raises(WorldError, match='world.json'):
        load_world(str(tmp_path))
    primitive_world.save(str(tmp_path))
    meta = json.loads((tmp_path / 'world.json').read_text())
    meta['format_version'] = 99
    (tmp_path / 'world.json').write_text(json.dumps(meta))
    with pytest.raises(WorldError, match='format_version'):
        load_world(str(tmp_path))
