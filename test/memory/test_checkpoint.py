"""Memory checkpoints: round trip, atomic writes, and refusal of damaged files."""

import json
import zipfile

import numpy as np
import pytest
import torch

from scenemem_ros.memory.checkpoint import load_memory, save_memory, weights_sha256
from scenemem_ros.memory.config import BakeCacheConfig, BakeConfig, FieldConfig
from scenemem_ros.memory.errors import CheckpointError
from scenemem_ros.memory.field import SceneMemoryField


@pytest.fixture()
def field() -> SceneMemoryField:
    torch.manual_seed(0)
    memory = SceneMemoryField(FieldConfig(level_resolutions=(0.4, 0.2), features_per_level=2))
    for name, offset in (('kitchen', 0.0), ('lab-2', 5.0)):
        grid = memory.add_scene(name, np.array([offset, 0.0, 0.0]), np.array([2.0, 1.5, 1.0]))
        with torch.no_grad():
            for level in grid.levels:
                level.normal_()
        grid.observed[::2] = True
    return memory


def test_round_trip_keeps_every_scene(field, tmp_path):
    path = tmp_path / 'memory.npz'
    size = save_memory(field, path, {'note': 'x'})
    assert size == path.stat().st_size
    loaded, metadata = load_memory(path)
    assert metadata == {'note': 'x'}
    assert loaded.scene_names() == ['kitchen', 'lab-2']
    points = torch.rand(500, 3) * torch.tensor([2.0, 1.5, 1.0])
    for name, offset in (('kitchen', 0.0), ('lab-2', 5.0)):
        shifted = points + torch.tensor([offset, 0.0, 0.0])
        expected = field.signed_distance(name, shifted)
        # 8-bit features: the decoded distance moves by well under a millimetre per unit
        assert torch.allclose(loaded.signed_distance(name, shifted), expected, atol=0.01)
        assert torch.equal(loaded.scene(name).observed, field.scene(name).observed)


def test_truncated_and_garbage_files_are_refused(field, tmp_path):
    path = tmp_path / 'memory.npz'
    save_memory(field, path)
    payload = path.read_bytes()
    for name, data in (('truncated.npz', payload[:len(payload) // 2]),
                       ('garbage.npz', b'not a checkpoint at all'), ('empty.npz', b'')):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match='corrupt or truncated|not a scenemem'):
            load_memory(tmp_path / name)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_memory(tmp_path / 'missing.npz')


def rewrite_header(path, change, rehash=True):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(bytes(arrays['header']).decode())
    change(header, arrays)
    if rehash and 'weights_sha256' in header:
        header['weights_sha256'] = weights_sha256(arrays)
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize('change, message', [
    (lambda h, a: h.update(version=99), 'version 99 is not supported'),
    (lambda h, a: h.update(format='other'), 'not a scenemem memory checkpoint'),
    (lambda h, a: h['field'].update(truncation=-1.0), 'does not fit this build'),
    (lambda h, a: a.update({'scene/kitchen/level0': np.zeros((1, 1, 1, 1), np.int8)}),
     'do not match its header'),
    (lambda h, a: a.pop('decoder/0.weight'), 'do not match its header'),
    (lambda h, a: a.update({'cache/kitchen/nav': np.zeros((1, 1), np.int8)}),
     'do not match its header'),
    (lambda h, a: a.update({'cache/kitchen/occupied': np.zeros(3, np.uint8)}),
     'do not match its header'),
])
def test_mismatched_contents_are_refused(field, tmp_path, change, message):
    path = tmp_path / 'memory.npz'
    save_memory(field, path)
    rewrite_header(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_memory(path)


def test_a_failed_write_keeps_the_old_file(field, tmp_path, monkeypatch):
    path = tmp_path / 'memory.npz'
    save_memory(field, path)
    before = path.read_bytes()

    def broken_replace(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr('scenemem_ros.memory.checkpoint.os.replace', broken_replace)
    with pytest.raises(OSError):
        save_memory(field, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['memory.npz']
    assert zipfile.is_zipfile(path)


def test_altered_weights_are_refused_by_their_hash(field, tmp_path):
    path = tmp_path / 'memory.npz'
    save_memory(field, path)

    def flip(header, arrays):
        arrays['scene/kitchen/level1'] = arrays['scene/kitchen/level1'].copy()
        arrays['scene/kitchen/level1'].flat[0] += 1

    rewrite_header(path, flip, rehash=False)
    with pytest.raises(CheckpointError, match='do not match weights_sha256'):
        load_memory(path)


def test_version_1_files_still_load(field, tmp_path):
    path = tmp_path / 'memory.npz'
    save_memory(field, path, cache=None)

    def downgrade(header, arrays):
        header['version'] = 1
        del header['weights_sha256']

    rewrite_header(path, downgrade)
    loaded, _ = load_memory(path)
    assert loaded.bake_cache == {}
    points = torch.rand(200, 3) * torch.tensor([2.0, 1.5, 1.0])
    assert torch.allclose(loaded.signed_distance('kitchen', points),
                          field.signed_distance('kitchen', points), atol=0.01)


def test_cache_equals_a_bake_of_the_loaded_weights(field, tmp_path):
    from scenemem_ros.memory.queries import (
        cached_occupancy,
        navigation_grid,
        occupancy_volume,
    )

    with torch.no_grad():  # both signs of distance, so some voxels are occupied
        field.decoder[-1].bias.fill_(0.0)
    path = tmp_path / 'memory.npz'
    config = BakeCacheConfig(nav_resolution=0.1, z_min=0.1, z_max=0.9, supersample=2)
    save_memory(field, path, cache=config)
    loaded, _ = load_memory(path)
    assert sorted(loaded.bake_cache) == ['kitchen', 'lab-2']
    # a box on the cached lattice, reaching outside the scene box
    low, high = np.array([-0.2, 0.1, 0.0]), np.array([1.5, 1.9, 0.8])
    cached = cached_occupancy(loaded, 'kitchen', low, high, 0.05)
    baked = occupancy_volume(loaded, 'kitchen', low, high, 0.05, use_cache=False,
                             config=BakeConfig(dense=True))
    assert cached is not None and cached.grid == baked.grid
    assert np.array_equal(cached.occupied, baked.occupied)
    assert np.array_equal(cached.observed, baked.observed)
    assert baked.observed.any() and baked.occupied.any()
    # other resolutions and off-lattice boxes are baked
    assert cached_occupancy(loaded, 'kitchen', low, high, 0.1) is None
    assert cached_occupancy(loaded, 'kitchen', low + 0.01, high, 0.05) is None
    spec, cells = navigation_grid(loaded, 'lab-2', 0.1, 0.9, 0.1, 2)
    spec_baked, cells_baked = navigation_grid(loaded, 'lab-2', 0.1, 0.9, 0.1, 2, use_cache=False)
    assert spec == spec_baked and np.array_equal(cells, cells_baked)
    # changing the weights retires the cache
    with torch.no_grad():
        loaded.scene('kitchen').levels[0].mul_(2.0)
    assert cached_occupancy(loaded, 'kitchen', low, high, 0.05) is None


def test_open_memory_serves_the_cache_without_building_the_field(field, tmp_path):
    from scenemem_ros.memory.checkpoint import open_memory
    from scenemem_ros.memory.errors import MemoryModelError
    from scenemem_ros.memory.queries import cached_occupancy, navigation_grid

    with torch.no_grad():
        field.decoder[-1].bias.fill_(0.0)
    path = tmp_path / 'memory.npz'
    save_memory(field, path, {'note': 'y'},
                cache=BakeCacheConfig(nav_resolution=0.1, z_min=0.1, z_max=0.9, supersample=2))
    loaded, _ = load_memory(path)
    memory = open_memory(path)
    assert memory.scene_names() == ['kitchen', 'lab-2'] and memory.metadata == {'note': 'y'}
    low, high = np.array([-0.2, 0.1, 0.0]), np.array([1.5, 1.9, 0.8])
    cached = memory.occupancy_volume('kitchen', low, high, 0.05)
    spec, cells = memory.navigation_grid('lab-2', 0.1, 0.9, 0.1, 2)
    assert not memory.field_loaded
    reference = cached_occupancy(loaded, 'kitchen', low, high, 0.05)
    assert reference is not None and cached.grid == reference.grid
    assert np.array_equal(cached.occupied, reference.occupied)
    assert np.array_equal(cached.observed, reference.observed)
    expected_spec, expected_cells = navigation_grid(loaded, 'lab-2', 0.1, 0.9, 0.1, 2)
    assert spec == expected_spec and np.array_equal(cells, expected_cells)
    cells[:] = 0  # a copy: the cache is not changed through it
    assert not np.array_equal(memory.navigation_grid('lab-2', 0.1, 0.9, 0.1, 2)[1], cells)
    assert memory.cached_occupancy('kitchen', low, high, 0.1) is None
    with pytest.raises(MemoryModelError, match='unknown scene'):
        memory.navigation_grid('attic', 0.1, 0.9, 0.1, 2)
    assert not memory.field_loaded
    # what the cache cannot answer builds the field, and equals load_memory's answer
    other = memory.navigation_grid('lab-2', 0.2, 0.9, 0.1, 2)
    assert memory.field_loaded
    expected = navigation_grid(loaded, 'lab-2', 0.2, 0.9, 0.1, 2)
    assert other[0] == expected[0] and np.array_equal(other[1], expected[1])
    off = memory.occupancy_volume('kitchen', low + 0.01, high, 0.05)
    assert np.array_equal(off.occupied, memory.occupancy_volume(
        'kitchen', low + 0.01, high, 0.05, use_cache=False).occupied)
    # once built, the field's cache serves, and is retired when the weights change
    assert memory.cached_occupancy('kitchen', low, high, 0.05) is not None
    with torch.no_grad():
        memory.field.scene('kitchen').levels[0].mul_(2.0)
    assert memory.cached_occupancy('kitchen', low, high, 0.05) is None


def test_a_cache_that_does_not_fit_its_header_is_refused_at_open(field, tmp_path):
    from scenemem_ros.memory.checkpoint import open_memory

    path = tmp_path / 'memory.npz'
    save_memory(field, path)
    rewrite_header(path, lambda h, a: a.update({'cache/kitchen/nav': np.zeros((1, 1), np.int8)}))
    with pytest.raises(CheckpointError, match='do not match its header'):
        open_memory(path)
