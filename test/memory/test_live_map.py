"""LiveMap on a checkpoint: the cached grid without torch, the same grid as a baked one."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DEMO = Path(__file__).resolve().parents[2] / 'models' / 'memory_demo.npz'
HEAVY = ('torch', 'open3d', 'scipy', 'rosbags', 'skimage')

FRESH_PROCESS = """
import json, sys
import numpy as np
from scenemem_ros.memory.checkpoint import open_memory
from scenemem_ros.memory.live_map import LiveMap, LiveMapConfig

path = sys.argv[1]
live = LiveMap(LiveMapConfig(model_path=path))
memory = open_memory(path)
volume = memory.occupancy_volume('demo', np.array({low}), np.array({high}), 0.05)
print(json.dumps({{
    'loaded': sorted(name for name in {heavy} if name in sys.modules),
    'field_built': live.memory.field_loaded or memory.field_loaded,
    'spec': [live.spec.origin, live.spec.resolution, live.spec.shape],
    'cells': live.grid()[1].tolist(),
    'occupied': np.packbits(volume.occupied).tolist(),
    'observed': np.packbits(volume.observed).tolist(),
}}))
"""

LOW, HIGH = [1.0, 2.0, 0.0], [2.5, 3.0, 1.5]


@pytest.fixture(scope='module')
def fresh_process() -> dict:
    """What a fresh interpreter reads from the demo checkpoint's cache (and what it imported)."""
    assert DEMO.is_file(), f'{DEMO} is bundled with the repository and must be there'
    script = FRESH_PROCESS.format(low=LOW, high=HIGH, heavy=HEAVY)
    output = subprocess.run([sys.executable, '-c', script, str(DEMO)], capture_output=True,
                            text=True, check=True, timeout=300).stdout
    return json.loads(output)


def test_the_cached_grid_loads_without_torch(fresh_process):
    assert fresh_process['loaded'] == []
    assert not fresh_process['field_built']


def test_the_torch_free_grid_equals_the_fields(fresh_process):
    from scenemem_ros.geometry.voxels import GridSpec2D, VoxelGrid
    from scenemem_ros.memory.checkpoint import load_memory
    from scenemem_ros.memory.config import BakeConfig
    from scenemem_ros.memory.live_map import LiveMap, LiveMapConfig
    from scenemem_ros.memory.queries import occupancy_volume

    field, _ = load_memory(DEMO)
    live = LiveMap(LiveMapConfig(), field=field)
    spec, cells, _ = live.grid()
    origin, resolution, shape = fresh_process['spec']
    assert spec == GridSpec2D(origin=tuple(origin), resolution=resolution, shape=tuple(shape))
    assert np.array_equal(np.array(fresh_process['cells'], dtype=np.int8), cells)
    # the cached box equals a dense bake of the loaded weights, voxel for voxel
    baked = occupancy_volume(field, 'demo', np.array(LOW), np.array(HIGH), 0.05, use_cache=False,
                             config=BakeConfig(dense=True))
    assert baked.grid == VoxelGrid.from_bounds(LOW, HIGH, 0.05)
    count = baked.grid.num_cells
    for name in ('occupied', 'observed'):
        bits = np.unpackbits(np.array(fresh_process[name], dtype=np.uint8), count=count)
        assert np.array_equal(bits.reshape(baked.grid.shape).astype(bool),
                              getattr(baked, name))
    assert baked.occupied.any() and baked.observed.any()


def test_a_band_off_the_cache_builds_the_field_and_bakes(trained_room, tmp_path):
    from scenemem_ros.memory.checkpoint import load_memory, open_memory, save_memory
    from scenemem_ros.memory.config import BakeCacheConfig
    from scenemem_ros.memory.live_map import LiveMap, LiveMapConfig

    field, _ = trained_room
    path = tmp_path / 'room.npz'
    save_memory(field.cpu(), path, cache=BakeCacheConfig(nav_resolution=0.1, supersample=2))
    loaded, _ = load_memory(path)
    for band, built in (((0.1, 1.8), False), ((0.2, 1.5), True)):
        config = LiveMapConfig(model_path=str(path), resolution=0.1, z_min=band[0],
                               z_max=band[1], supersample=2)
        served = LiveMap(config)
        assert served.memory.field_loaded == built
        reference = LiveMap(config, field=loaded)
        assert served.spec == reference.spec
        assert np.array_equal(served.base_cells, reference.base_cells)
    served = LiveMap(LiveMapConfig(resolution=0.1, supersample=2), field=open_memory(path))
    assert served.scene == 'room' and not served.memory.field_loaded
