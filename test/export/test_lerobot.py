"""The L3ROcc / LeRobot v2.1 episode folder: round trip, layout against the real example."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from export_fixtures import room_frames
from scipy import sparse

from scenemem_ros.data.readers import open_source
from scenemem_ros.export import (
    ExportError,
    OccupancyExportConfig,
    compute_occupancy,
    read_episode,
    write_episode,
)
from scenemem_ros.export.lerobot import META_FILES, read_ply, write_ply

REAL = (Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data' / 'interndata_n1_example'
        / 'traj_data' / 'matterport3d_zed' / '1LXtFkjw3qL' / 'trajectory_1')
CONFIG = OccupancyExportConfig(voxel_size=0.1, pc_range=(-2.0, 0.0, -1.2, 2.0, 4.0, 1.4),
                               history_len=3, history_step=2, task='walk the room')
L3ROCC_FILES = ['data/chunk-000/all_occ.npz', 'data/chunk-000/episode_000000.parquet',
                'data/chunk-000/origin_pcd.ply', 'meta/episodes.jsonl',
                'meta/episodes_stats.jsonl', 'meta/info.json', 'meta/tasks.jsonl',
                'videos/chunk-000/observation.occ.mask/mask_sequence.npz',
                'videos/chunk-000/observation.occ.view/occ_sequence.npz']


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    export = compute_occupancy(room_frames(), CONFIG)
    folder = tmp_path_factory.mktemp('export') / 'trajectory_0'
    summary = write_episode(export, folder)
    return export, folder, summary


def test_layout_is_l3roccs(written):
    _, folder, summary = written
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file())
    assert files == L3ROCC_FILES
    assert summary['frames'] == 6 and set(summary['bytes']) < set(L3ROCC_FILES)
    assert not list(folder.parent.glob('.*partial'))  # staging folder gone


def test_round_trip_reads_back_what_was_written(written):
    export, folder, _ = written
    again = read_episode(folder)
    assert again.config == export.config == replace(CONFIG, fps=30.0)
    assert again.image_size == export.image_size
    np.testing.assert_allclose(again.stamps, export.stamps, atol=1e-5)
    for name in ('camera_to_world', 'world_from_ego', 'intrinsics'):
        np.testing.assert_allclose(getattr(again, name), getattr(export, name), atol=2e-5)
    np.testing.assert_array_equal(again.world_occupancy, export.world_occupancy)
    np.testing.assert_array_equal(again.cloud, export.cloud)
    assert again.occupancy.shape == export.occupancy.shape
    np.testing.assert_array_equal(again.occupancy.indptr, export.occupancy.indptr)
    np.testing.assert_array_equal(again.occupancy.indices, export.occupancy.indices)
    np.testing.assert_array_equal(again.occupancy.data, export.occupancy.data)
    np.testing.assert_array_equal(again.visibility, export.visibility)
    for index in range(len(export)):
        np.testing.assert_array_equal(again.occupancy_grid(index), export.occupancy_grid(index))


def test_files_read_the_way_l3rocc_reads_them(written):
    export, folder, _ = written
    occ = sparse.load_npz(folder / 'videos/chunk-000/observation.occ.view/occ_sequence.npz')
    assert occ.format == 'csr' and occ.dtype == np.uint8
    assert occ.shape == (6, 40 * 40 * 26) and occ.nnz == export.occupancy.nnz
    with np.load(folder / 'videos/chunk-000/observation.occ.mask/mask_sequence.npz') as masks:
        assert str(masks['mode']) == 'packed' and tuple(masks['shape']) == (40, 40, 26)
        bits = np.unpackbits(masks['data'], axis=1)[:, :40 * 40 * 26]
        np.testing.assert_array_equal(bits[2].reshape(40, 40, 26), export.visibility_grid(2))
    with np.load(folder / 'data/chunk-000/all_occ.npz') as occupancy:
        assert occupancy['data'].dtype == np.float32 and occupancy['data'].shape[1] == 3
    # x * (W * D) + y * D + z, as L3ROcc's save_sequence_data flattens (H, W, D)
    x, y, z = 7, 11, 5
    flat = x * (40 * 26) + y * 26 + z
    assert export.occupancy_grid(0).reshape(-1)[flat] == export.occupancy_grid(0)[x, y, z]


def test_meta_matches_the_real_example(written):
    if not REAL.is_dir():
        pytest.skip(f'real example not found at {REAL}')
    _, folder, _ = written
    real_meta = sorted(p.name for p in (REAL / 'meta').iterdir())
    assert real_meta == sorted(p.name for p in (folder / 'meta').iterdir()) == sorted(META_FILES)
    real = json.loads((REAL / 'meta' / 'info.json').read_text())
    ours = json.loads((folder / 'meta' / 'info.json').read_text())
    assert list(ours) == list(real)  # same top-level keys, same order
    for key in ('codebase_version', 'data_path', 'video_path', 'chunks_size', 'splits'):
        assert ours[key] == real[key]
    assert set(real['features']) <= set(ours['features'])
    for name, feature in ours['features'].items():
        assert {'dtype', 'shape', 'names'} <= set(feature), name
        if name in real['features']:
            assert feature['dtype'] == real['features'][name]['dtype']
            assert feature['shape'] == real['features'][name]['shape']
            assert feature['names'] == real['features'][name]['names']
    # jsonl rows: same keys as the example (ours add start_stamp, scale, source)
    for name, extra in (('episodes.jsonl', {'scale', 'start_stamp', 'source'}),
                        ('tasks.jsonl', set()), ('episodes_stats.jsonl', set())):
        real_row = json.loads((REAL / 'meta' / name).read_text().splitlines()[0])
        our_row = json.loads((folder / 'meta' / name).read_text().splitlines()[0])
        assert set(our_row) == set(real_row) | extra, name
    real_stats = json.loads((REAL / 'meta' / 'episodes_stats.jsonl').read_text())['stats']
    our_stats = json.loads((folder / 'meta' / 'episodes_stats.jsonl').read_text())['stats']
    for name, entry in real_stats.items():
        assert set(our_stats[name]) == set(entry)
        assert np.asarray(our_stats[name]['min']).shape == np.asarray(entry['min']).shape
    # the parquet stores the matrices the way the example does
    real_table = pq.read_table(REAL / 'data' / 'chunk-000' / 'episode_000000.parquet')
    our_table = pq.read_table(folder / 'data' / 'chunk-000' / 'episode_000000.parquet')
    for name in real_table.column_names:
        assert our_table.schema.field(name).type == real_table.schema.field(name).type


def test_the_interndata_reader_reads_an_export_back(written):
    export, folder, _ = written
    reader = open_source('interndata', folder, cloud_file='origin_pcd.ply', max_range=10.0)
    sequence = reader.read()
    assert len(sequence) == len(export)
    poses = np.stack([frame.camera_to_world for frame in sequence])
    np.testing.assert_allclose(poses, export.camera_to_world, atol=2e-5)
    np.testing.assert_allclose(reader.base_poses, export.world_from_ego, atol=2e-5)
    assert sequence[0].camera.width == 80 and sequence[0].camera.height == 60
    assert len(reader.cloud) == len(export.cloud)


def test_ply_round_trip_and_the_real_cloud(tmp_path):
    points = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    write_ply(tmp_path / 'c.ply', points)
    np.testing.assert_array_equal(read_ply(tmp_path / 'c.ply'), points)
    (tmp_path / 'bad.ply').write_bytes(b'not a ply')
    with pytest.raises(ExportError, match='not a PLY'):
        read_ply(tmp_path / 'bad.ply')
    if REAL.is_dir():  # binary double xyz + uchar rgb
        assert read_ply(REAL / 'data' / 'chunk-000' / 'path.ply').shape == (72445, 3)


def test_existing_folders_and_broken_exports(written, tmp_path):
    export, folder, _ = written
    with pytest.raises(ExportError, match='exists already'):
        write_episode(export, folder)
    copy = tmp_path / 'copy'
    write_episode(export, copy)
    write_episode(export, copy, overwrite=True)
    (copy / 'videos/chunk-000/observation.occ.view/occ_sequence.npz').unlink()
    with pytest.raises(ExportError, match='occ_sequence.npz'):
        read_episode(copy)
    with pytest.raises(ExportError, match='info.json'):
        read_episode(tmp_path / 'nothing')
    if REAL.is_dir():
        with pytest.raises(ExportError, match='not a scenemem occupancy export'):
            read_episode(REAL)
