"""Sweet Home 3D catalogue parsing and model normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from world_test_support import needs_furniture

from scenemem_ros.world import FurnitureConfig, WorldError
from scenemem_ros.world.furniture import (
    CatalogueEntry,
    library_files,
    load_catalogue,
    load_model,
    normalise_model,
    parse_obj,
    parse_properties,
)


def test_parse_properties():
    text = ('# comment\nid#1=Lib#chair\nname#1=Caf\\u00e9 chair\ncategory#1 = Living room\n'
            'tags#1=a, \\\n    b\n! other comment\nwidth#1:40.5\n')
    properties = parse_properties(text)
    assert properties == {'id#1': 'Lib#chair', 'name#1': 'Café chair',
                          'category#1': 'Living room', 'tags#1': 'a, b', 'width#1': '40.5'}


def test_parse_obj_triangulates_and_handles_negative_indices():
    text = ('v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\nvt 0 0\n'
            'f 1/1/1 2/1/1 3/1/1 4/1/1\nf -4 -3 -1\nusemtl x\n')
    mesh = parse_obj(text)
    assert mesh.vertices.shape == (4, 3)
    assert mesh.triangles.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 3]]


def test_normalise_model_stretches_to_catalogue_size_and_turns_z_up():
    # A y-up wedge: tall at the back (z = 0 in Sweet Home 3D, front is +z).
    raw = parse_obj('v 0 0 0\nv 2 0 0\nv 0 4 0\nv 0 0 6\nf 1 2 3\nf 1 3 4\nf 1 2 4\n')
    entry = CatalogueEntry('lib', 'wedge', 'Wedge', 'Office', width=0.5, depth=0.3, height=1.2,
                           model_path='w.obj', model_rotation=None, elevation=0.0,
                           door_or_window=False)
    mesh = normalise_model(raw, entry)
    low, high = mesh.bounds
    assert np.allclose(low, [-0.25, -0.15, 0.0]) and np.allclose(high, [0.25, 0.15, 1.2])
    top = mesh.vertices[np.argmax(mesh.vertices[:, 2])]
    assert top[1] == pytest.approx(0.15), 'the back (tall side) must face +y'


def test_missing_library_folder(tmp_path):
    with pytest.raises(WorldError, match='apt-get install sweethome3d-furniture'):
        library_files(str(tmp_path))


@needs_furniture
def test_real_catalogue_and_model_cache(tmp_path):
    config = FurnitureConfig(cache_dir=str(tmp_path))
    entries = load_catalogue(config.catalogue_dir)
    assert len(entries) > 100
    assert all(e.width > 0 and e.depth > 0 and e.height > 0 for e in entries)
    entry = next(e for e in entries if e.category == 'Bedroom' and not e.door_or_window)
    mesh = load_model(entry, config)
    low, high = mesh.bounds
    assert np.allclose(high - low, [entry.width, entry.depth, entry.height], atol=1e-6)
    assert len(mesh.triangles) <= config.max_triangles
    assert list(tmp_path.rglob('*.npz'))
