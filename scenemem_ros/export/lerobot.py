"""Write and read an :class:`OccupancyExport` in the layout L3ROcc publishes (LeRobotDataset v2.1).

Layout (one episode; file names and info.json keys as in L3ROcc's InternData-N1 output, checked
against the real example under shared/data/interndata_n1_example and L3ROcc's
``generater/intern_vln_env.py`` and ``base.py``, found with the `search` tools)::

    data/chunk-000/all_occ.npz            'data': (M, 3) float32 occupied world voxel centres
                                          (+ 'voxel_size')
    data/chunk-000/origin_pcd.ply         downsampled cloud, binary PLY, float xyz + uchar rgb
    data/chunk-000/episode_000000.parquet per frame (nested list<list<float>> matrices):
        index, timestamp, frame_index, episode_index, task_index,
        observation.camera_intrinsic      (3, 3) K
        observation.camera_extrinsic      (4, 4) ego_from_camera, OpenGL camera axes (the
                                          N1 "base -> camera mount"; here a pure rotation)
        action                            (4, 4) world_from_camera, OpenGL camera axes (N1)
        observation.camera_intrinsic_occ  (3, 3) K (L3ROcc)
        observation.camera_extrinsic_occ  (4, 4) world_from_camera, OpenCV axes (L3ROcc)
    meta/info.json, episodes.jsonl, episodes_stats.jsonl, tasks.jsonl
    videos/chunk-000/observation.occ.view/occ_sequence.npz   scipy CSR (N, nx*ny*nz) uint8
    videos/chunk-000/observation.occ.mask/mask_sequence.npz  'data': (N, ceil(cells/8)) uint8
                                          np.packbits rows, 'shape': (nx, ny, nz), 'mode'

Ego voxel (x, y, z) has flat index ``x * ny * nz + y * nz + z`` (L3ROcc's ``x * (W * D) + y *
D + z``); the ego grid's origin is ``pc_range[:3]``. Because ``action`` and
``observation.camera_extrinsic`` follow the N1 conventions, the InternData reader
(``READERS['interndata']`` with ``cloud_file='origin_pcd.ply'``) reads an export back as
point frames. What L3ROcc keeps in its config.yaml (voxel size, pc_range, history) is recorded
in the ``info`` of the ``observation.occ.*`` features, so the export is self-describing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from scenemem_ros.export.config import OccupancyExportConfig
from scenemem_ros.export.errors import ExportError
from scenemem_ros.export.occupancy import OccupancyExport
from scenemem_ros.geometry.transforms import invert_rigid

CODEBASE_VERSION = 'v2.1'
CHUNK = 'chunk-000'
DATA_PATH = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
VIDEO_PATH = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
GLOBAL_OCC = f'data/{CHUNK}/all_occ.npz'
CLOUD = f'data/{CHUNK}/origin_pcd.ply'
PARQUET = f'data/{CHUNK}/episode_000000.parquet'
OCC_KEY = 'observation.occ.view'
MASK_KEY = 'observation.occ.mask'
OCC_SEQUENCE = f'videos/{CHUNK}/{OCC_KEY}/occ_sequence.npz'
MASK_SEQUENCE = f'videos/{CHUNK}/{MASK_KEY}/mask_sequence.npz'
META_FILES = ('info.json', 'episodes.jsonl', 'episodes_stats.jsonl', 'tasks.jsonl')
EGO_FRAME = 'ego: origin at the camera, x right, y forward (optical axis on the horizontal), z up'
#: (4, 4) OpenCV optical axes <-> OpenGL camera axes (its own inverse).
GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])
CLOUD_COLOUR = (180, 180, 180)


def _matrix_names(prefix: str, rows: int, cols: int) -> list[str]:
    return [f'{prefix}_{i}_{j}' for i in range(rows) for j in range(cols)]


def _features(export: OccupancyExport) -> dict[str, Any]:
    config, grid = export.config, export.grid
    width, height = export.image_size
    occ_info = {'voxel_size': config.voxel_size, 'pc_range': list(config.pc_range),
                'frame': EGO_FRAME, 'history_len': config.history_len,
                'history_step': config.history_step}
    mask_info = {'voxel_size': config.voxel_size, 'pc_range': list(config.pc_range),
                 'frame': EGO_FRAME, 'pixel_stride': config.pixel_stride,
                 'angular_resolution': config.angular_resolution,
                 'max_splat_radius': config.max_splat_radius}

    def matrix(prefix: str, rows: int, cols: int) -> dict[str, Any]:
        return {'dtype': 'float32', 'shape': [rows, cols],
                'names': _matrix_names(prefix, rows, cols)}

    scalar = {'shape': [1], 'names': None}
    intrinsic = matrix('intrinsic', 3, 3)
    intrinsic['info'] = {'image.width': width, 'image.height': height}
    return {
        'observation.camera_intrinsic': intrinsic,
        'observation.camera_extrinsic': matrix('extrinsic', 4, 4),
        'action': matrix('action', 4, 4),
        'timestamp': {'dtype': 'float32', **scalar},
        'frame_index': {'dtype': 'int64', **scalar},
        'episode_index': {'dtype': 'int64', **scalar},
        'index': {'dtype': 'int64', **scalar},
        'task_index': {'dtype': 'int64', **scalar},
        'observation.camera_intrinsic_occ': matrix('intrinsic', 3, 3),
        'observation.camera_extrinsic_occ': matrix('extrinsic', 4, 4),
        OCC_KEY: {'dtype': 'uint8', 'shape': list(grid.shape), 'names': ['x', 'y', 'z'],
                  'info': {'format': 'scipy.sparse csr (frames, x*ny*nz + y*nz + z)',
                           'path': OCC_SEQUENCE, **occ_info}},
        MASK_KEY: {'dtype': 'uint8', 'shape': list(grid.shape), 'names': ['x', 'y', 'z'],
                   'info': {'format': 'np.packbits rows (frames, ceil(cells / 8))',
                            'path': MASK_SEQUENCE, **mask_info}},
    }


def _fps(export: OccupancyExport) -> float:
    return float(export.config.fps) if export.config.fps is not None else 30.0


def _columns(export: OccupancyExport) -> dict[str, np.ndarray]:
    count = len(export)
    camera_gl = export.camera_to_world @ GL_FROM_CV
    ego_from_camera_gl = invert_rigid(export.world_from_ego) @ camera_gl
    return {
        'index': np.arange(count, dtype=np.int64),
        'timestamp': (export.stamps - export.stamps[0]).astype(np.float32),
        'frame_index': np.arange(count, dtype=np.int64),
        'episode_index': np.zeros(count, dtype=np.int64),
        'task_index': np.zeros(count, dtype=np.int64),
        'observation.camera_intrinsic': export.intrinsics.astype(np.float32),
        'observation.camera_extrinsic': ego_from_camera_gl.astype(np.float32),
        'action': camera_gl.astype(np.float32),
        'observation.camera_intrinsic_occ': export.intrinsics.astype(np.float32),
        'observation.camera_extrinsic_occ': export.camera_to_world.astype(np.float32),
    }


def _stats(columns: dict[str, np.ndarray]) -> dict[str, Any]:
    """LeRobot v2.1 episode stats as the example stores them: each of min/max/mean/std is the
    feature's shape with a leading 1 (scalars: [[v]]), count is [frames]."""
    stats = {}
    for name, values in columns.items():
        array = values.astype(np.float64).reshape(len(values), -1) if values.ndim == 1 else (
            values.astype(np.float64))
        entry = {key: getattr(np, key)(array, axis=0)[None].tolist()
                 for key in ('min', 'max', 'mean', 'std')}
        if values.dtype.kind == 'i':
            entry['min'] = np.asarray(entry['min']).astype(np.int64).tolist()
            entry['max'] = np.asarray(entry['max']).astype(np.int64).tolist()
        entry['count'] = [len(values)]
        stats[name] = entry
    return stats


def _save_npz(path: Path, compresslevel: int = 1, **arrays: Any) -> None:
    """Like ``np.savez_compressed`` (np.load reads it) with a faster zlib level."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)
            zf.writestr(f'{name}.npy', buffer.getvalue())


def write_ply(path: Path, points: np.ndarray, colour: tuple[int, int, int] = CLOUD_COLOUR
              ) -> None:
    """(N, 3) points -> binary little-endian PLY with float x, y, z and uchar red, green, blue."""
    vertex = np.zeros(len(points), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                          ('red', 'u1'), ('green', 'u1'), ('blue', 'u1')])
    for axis, name in enumerate('xyz'):
        vertex[name] = points[:, axis]
    vertex['red'], vertex['green'], vertex['blue'] = colour
    header = ('ply\nformat binary_little_endian 1.0\n'
              f'element vertex {len(points)}\n'
              'property float x\nproperty float y\nproperty float z\n'
              'property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n')
    path.write_bytes(header.encode('ascii') + vertex.tobytes())


_PLY_TYPES = {'char': 'i1', 'uchar': 'u1', 'short': '<i2', 'ushort': '<u2', 'int': '<i4',
              'uint': '<u4', 'float': '<f4', 'double': '<f8', 'int8': 'i1', 'uint8': 'u1',
              'int16': '<i2', 'uint16': '<u2', 'int32': '<i4', 'uint32': '<u4',
              'float32': '<f4', 'float64': '<f8'}


def read_ply(path: Path) -> np.ndarray:
    """Binary little-endian PLY with only a vertex element -> (N, 3) float32 x, y, z."""
    data = path.read_bytes()
    end = data.find(b'end_header\n')
    if not data.startswith(b'ply\n') or end < 0:
        raise ExportError(f'not a PLY file: {path}')
    lines = data[:end].decode('ascii', 'replace').splitlines()
    if 'format binary_little_endian 1.0' not in lines:
        raise ExportError(f'{path}: only binary_little_endian PLY is read')
    count, fields = 0, []
    for line in lines:
        words = line.split()
        if words[:2] == ['element', 'vertex']:
            count = int(words[2])
        elif words and words[0] == 'element':
            raise ExportError(f'{path}: unexpected element {words[1]!r}')
        elif words and words[0] == 'property':
            if words[1] not in _PLY_TYPES:
                raise ExportError(f'{path}: unsupported property type {words[1]!r}')
            fields.append((words[2], _PLY_TYPES[words[1]]))
    dtype = np.dtype(fields)
    body = data[end + len(b'end_header\n'):]
    if len(body) < count * dtype.itemsize:
        raise ExportError(f'{path}: truncated ({len(body)} bytes for {count} vertices)')
    vertex = np.frombuffer(body, dtype=dtype, count=count)
    return np.stack([vertex[a].astype(np.float32) for a in 'xyz'], axis=1)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text(''.join(json.dumps(row) + '\n' for row in rows), encoding='utf-8')


def write_episode(export: OccupancyExport, out: str | os.PathLike[str], *,
                  overwrite: bool = False, name: str = 'scenemem') -> dict[str, Any]:
    """Write ``export`` as one LeRobot v2.1 / L3ROcc episode folder at ``out``.

    The folder is staged beside ``out`` and renamed into place, so ``out`` never holds half an
    export. Returns a summary (paths, sizes, counts).

    Raises:
        ExportError: ``out`` exists without ``overwrite``, or writing fails.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(out)
    if target.exists() and not overwrite:
        raise ExportError(f'{target} exists already; pass overwrite to replace it')
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f'.{target.name}.', suffix='.partial',
                                        dir=target.parent))
    except OSError as exc:
        raise ExportError(f'{target}: cannot create the export: {exc}') from exc
    try:
        for folder in (f'data/{CHUNK}', 'meta', f'videos/{CHUNK}/{OCC_KEY}',
                       f'videos/{CHUNK}/{MASK_KEY}'):
            (staging / folder).mkdir(parents=True)
        count = len(export)
        occupancy = export.occupancy.tocsr()
        # the two big sequences compress in threads (zlib releases the GIL) meanwhile
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [pool.submit(_save_npz, staging / OCC_SEQUENCE, indices=occupancy.indices,
                                indptr=occupancy.indptr, format=np.bytes_(b'csr'),
                                shape=np.asarray(occupancy.shape), data=occupancy.data),
                    pool.submit(_save_npz, staging / MASK_SEQUENCE, data=export.visibility,
                                shape=np.asarray(export.grid.shape), mode=np.str_('packed'))]
            _save_npz(staging / GLOBAL_OCC, data=export.world_occupancy.astype(np.float32),
                      voxel_size=np.float64(export.config.voxel_size))
            write_ply(staging / CLOUD, export.cloud)
            columns = _columns(export)
            arrays = []
            for values in columns.values():
                if values.ndim == 1:
                    arrays.append(pa.array(values))
                else:
                    arrays.append(pa.array(values.tolist(),
                                           type=pa.list_(pa.list_(pa.float32()))))
            pq.write_table(pa.table(dict(zip(columns, arrays, strict=True))),
                           staging / PARQUET)
            for job in jobs:
                job.result()
        info = {'codebase_version': CODEBASE_VERSION, 'robot_type': 'unknown',
                'total_episodes': 1, 'total_frames': count, 'total_tasks': 1,
                'total_videos': 0, 'total_chunks': 1, 'chunks_size': 1000,
                'fps': _fps(export), 'splits': {'train': '0:1'}, 'data_path': DATA_PATH,
                'video_path': VIDEO_PATH, 'features': _features(export)}
        (staging / 'meta' / 'info.json').write_text(json.dumps(info, indent=4),
                                                     encoding='utf-8')
        _jsonl(staging / 'meta' / 'episodes.jsonl', [{
            'episode_index': 0, 'tasks': [export.config.task], 'length': count, 'scale': 1.0,
            'start_stamp': float(export.stamps[0]), 'source': name}])
        _jsonl(staging / 'meta' / 'tasks.jsonl', [{'task_index': 0,
                                                   'task': export.config.task}])
        _jsonl(staging / 'meta' / 'episodes_stats.jsonl', [{'episode_index': 0,
                                                            'stats': _stats(columns)}])
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
    except ExportError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f'{target}: writing the export failed: {exc}') from exc
    sizes = {path: (target / path).stat().st_size for path in
             (GLOBAL_OCC, CLOUD, PARQUET, OCC_SEQUENCE, MASK_SEQUENCE)}
    return {'out': str(target), 'frames': count, 'grid': list(export.grid.shape),
            'world_voxels': len(export.world_occupancy),
            'occupied_per_frame': round(export.occupancy.nnz / max(count, 1), 1),
            'bytes': sizes}


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ExportError(f'missing {path}')
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as exc:
        raise ExportError(f'bad JSON in {path}: {exc}') from None


def _read_jsonl(path: Path) -> list[Any]:
    if not path.is_file():
        raise ExportError(f'missing {path}')
    try:
        return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines()
                if line.strip()]
    except json.JSONDecodeError as exc:
        raise ExportError(f'bad JSON line in {path}: {exc}') from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ExportError(f'missing {path}')
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ExportError(f'cannot read {path}: {exc}') from None


def read_episode(folder: str | os.PathLike[str]) -> OccupancyExport:
    """Read an episode folder written by :func:`write_episode` back into an OccupancyExport.

    Raises:
        ExportError: a missing or malformed file, or files that disagree.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(folder)
    info = _read_json(root / 'meta' / 'info.json')
    features = info.get('features', {})
    if OCC_KEY not in features or MASK_KEY not in features:
        raise ExportError(f'{root}: meta/info.json declares no {OCC_KEY} / {MASK_KEY} '
                          'features (not a scenemem occupancy export)')
    occ_info, mask_info = features[OCC_KEY]['info'], features[MASK_KEY]['info']
    tasks = _read_jsonl(root / 'meta' / 'tasks.jsonl')
    episodes = _read_jsonl(root / 'meta' / 'episodes.jsonl')
    intrinsic_info = features['observation.camera_intrinsic'].get('info', {})
    config = OccupancyExportConfig(
        voxel_size=float(occ_info['voxel_size']), pc_range=tuple(occ_info['pc_range']),
        history_len=int(occ_info['history_len']), history_step=int(occ_info['history_step']),
        pixel_stride=int(mask_info['pixel_stride']),
        angular_resolution=mask_info['angular_resolution'],
        max_splat_radius=int(mask_info['max_splat_radius']), fps=float(info['fps']),
        task=tasks[0]['task'] if tasks else '')
    try:
        table = pq.read_table(root / PARQUET)
    except (pa.ArrowException, OSError) as exc:
        raise ExportError(f'cannot read {root / PARQUET}: {exc}') from None

    def column(name: str) -> np.ndarray:
        if name not in table.column_names:
            raise ExportError(f'{root / PARQUET} lacks column {name!r}')
        return np.asarray(table.column(name).to_pylist(), dtype=np.float64)

    stamps = column('timestamp') + float(episodes[0].get('start_stamp', 0.0))
    action = column('action')
    world_from_ego = action @ invert_rigid(column('observation.camera_extrinsic'))
    occ = _load_npz(root / OCC_SEQUENCE)
    occupancy = sparse.csr_matrix((occ['data'], occ['indices'], occ['indptr']),
                                  shape=tuple(int(v) for v in occ['shape']))
    masks = _load_npz(root / MASK_SEQUENCE)
    export = OccupancyExport(
        config=config, stamps=stamps, camera_to_world=column('observation.camera_extrinsic_occ'),
        world_from_ego=world_from_ego, intrinsics=column('observation.camera_intrinsic'),
        image_size=(int(intrinsic_info['image.width']), int(intrinsic_info['image.height'])),
        world_occupancy=_load_npz(root / GLOBAL_OCC)['data'], cloud=read_ply(root / CLOUD),
        occupancy=occupancy, visibility=masks['data'])
    cells = export.grid.num_cells
    if (occupancy.shape != (len(stamps), cells)
            or export.visibility.shape != (len(stamps), (cells + 7) // 8)
            or tuple(int(v) for v in masks['shape']) != export.grid.shape):
        raise ExportError(f'{root}: the occupancy {occupancy.shape}, masks '
                          f'{export.visibility.shape} and {len(stamps)} frames of grid '
                          f'{export.grid.shape} disagree')
    return export


__all__ = ['META_FILES', 'read_episode', 'read_ply', 'write_episode', 'write_ply']
