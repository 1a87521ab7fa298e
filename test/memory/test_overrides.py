"""Override records and their composition with grids."""

import numpy as np
import pytest

from scenemem_ros.geometry.voxels import VoxelGrid
from scenemem_ros.memory.errors import MemoryModelError
from scenemem_ros.memory.overrides import (
    Box,
    Override,
    OverrideKind,
    OverrideSource,
    apply_to_grid_2d,
    apply_to_voxels,
)


def make(kind=OverrideKind.BLOCKED_REGION, **kw):
    values = dict(id='door-1', kind=kind, region=Box((1.0, 1.0, 0.0), (1.5, 2.0, 2.0)),
                  first_seen=1.0, last_seen=2.0)
    values.update(kw)
    return Override(**values)


def test_round_trip_every_kind():
    for kind in OverrideKind:
        moved = (Box((0.0, 0.0, 0.0), (0.5, 0.5, 0.5)) if kind is OverrideKind.OBJECT_MOVED
                 else None)
        record = make(kind, moved_from=moved, source=OverrideSource.OPERATOR, expires_at=9.0,
                      label='chair')
        assert Override.from_dict(record.to_dict()) == record


@pytest.mark.parametrize('changes, message', [
    ({'id': 'bad id'}, 'Override.id'),
    ({'confidence': 1.5}, 'confidence'),
    ({'last_seen': 0.5}, 'before first_seen'),
    ({'kind': OverrideKind.OBJECT_MOVED}, 'moved_from'),
])
def test_invalid_records_are_refused(changes, message):
    with pytest.raises(MemoryModelError, match=message):
        make(**changes)


def test_malformed_dicts_are_refused():
    for data in ({}, {'id': 'x', 'kind': 'nope', 'region': {'min': [0, 0, 0], 'max': [1, 1, 1]}},
                 {'id': 'x', 'kind': 'blocked_region', 'region': {'min': [0, 0], 'max': [1, 1]}},
                 {'id': 'x', 'kind': 'blocked_region',
                  'region': {'min': [0, 0, 0], 'max': [0, 1, 1]}}):
        with pytest.raises(MemoryModelError):
            Override.from_dict(data)


def test_box_iou():
    a = Box((0, 0, 0), (2, 2, 2))
    assert a.intersection_over_union(a) == pytest.approx(1.0)
    assert a.intersection_over_union(Box((1, 0, 0), (3, 2, 2))) == pytest.approx(1 / 3)
    assert a.intersection_over_union(Box((5, 5, 5), (6, 6, 6))) == 0.0


def naive_apply_2d(cells, origin, resolution, overrides):
    result = cells.copy()
    for override in sorted(overrides, key=lambda o: (o.first_seen, o.id)):
        effects = [(override.region, 100 if override.kind in (
            OverrideKind.BLOCKED_REGION, OverrideKind.OBJECT_ADDED) else 0)]
        if override.kind is OverrideKind.OBJECT_MOVED:
            effects = [(override.moved_from, 0), (override.region, 100)]
        for box, value in effects:
            for i in range(cells.shape[0]):
                for j in range(cells.shape[1]):
                    x = origin[0] + (i + 0.5) * resolution
                    y = origin[1] + (j + 0.5) * resolution
                    if (box.minimum[0] <= x <= box.maximum[0]
                            and box.minimum[1] <= y <= box.maximum[1]):
                        result[i, j] = value
    return result


def test_2d_composition_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    cells = rng.choice(np.array([-1, 0, 100], np.int8), size=(40, 30))
    overrides = []
    for index, kind in enumerate(list(OverrideKind) * 2):
        low = rng.uniform(-0.5, 1.5, 3)
        low[2] = 0.0
        box = Box(tuple(low), tuple(low + rng.uniform(0.1, 1.0, 3)))
        moved = Box(tuple(low + 0.3), tuple(low + 0.8)) if kind is OverrideKind.OBJECT_MOVED \
            else None
        overrides.append(make(kind, id=f'o{index}', region=box, moved_from=moved,
                              first_seen=float(rng.integers(0, 5)), last_seen=9.0))
    fast = cells.copy()
    apply_to_grid_2d(fast, np.array([0.0, 0.0]), 0.05, (0.1, 1.5), overrides)
    assert np.array_equal(fast, naive_apply_2d(cells, (0.0, 0.0), 0.05, overrides))


def test_expired_and_out_of_band_overrides_do_nothing():
    cells = np.zeros((20, 20), np.int8)
    apply_to_grid_2d(cells, np.zeros(2), 0.1, (0.1, 1.5), [make(expires_at=5.0)], now=6.0)
    assert not cells.any()
    high = make(region=Box((0.0, 0.0, 1.8), (1.0, 1.0, 2.4)))
    apply_to_grid_2d(cells, np.zeros(2), 0.1, (0.1, 1.5), [high])
    assert not cells.any()
    apply_to_grid_2d(cells, np.zeros(2), 0.1, (0.1, 1.5), [make(expires_at=5.0)], now=4.0)
    assert (cells == 100).sum() == 5 * 10


def test_voxel_composition():
    grid = VoxelGrid.from_bounds((0, 0, 0), (2, 2, 2), 0.1)
    occupied = np.zeros(grid.shape, bool)
    observed = np.zeros(grid.shape, bool)
    apply_to_voxels(occupied, observed, grid, [make(region=Box((0.0, 0.0, 0.0), (0.5, 0.3, 0.2)))])
    assert occupied.sum() == 5 * 3 * 2 and observed.sum() == 5 * 3 * 2
