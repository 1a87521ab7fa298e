"""Memory checkpoints: one compressed ``.npz`` holding the field config, decoder and scenes.

Layout (format ``scenemem-memory``, version 2)::

    header                  uint8 JSON: format, version, field config, scenes (origin, extent,
                            shapes, cache specs), free-form metadata (training figures, source),
                            weights_sha256
    decoder/<name>          float32 decoder weights
    scene/<scene>/level<i>  int8 (C, Z, Y, X) feature grid of level i, times the header's
                            per-level scale (symmetric 8-bit quantisation)
    scene/<scene>/observed  packed bits of the (X, Y, Z) observed-space mask
    cache/<scene>/occupied  packed bits of the (X, Y, Z) baked occupancy at the training
    cache/<scene>/observed  resolution, and of its observed mask (optional)
    cache/<scene>/nav       int8 (X, Y) navigation grid (optional)

The cache holds what the stored (8-bit) weights bake to (the occupancy densely, voxel by voxel;
the 2D grid as ``navigation_grid`` makes it), so it equals a re-bake after loading;
``weights_sha256`` covers every ``decoder/`` and ``scene/`` array and is checked on load, so a
cache can never be served with other weights. Version 1 files (no cache, no hash) still load.

Reading needs numpy only: ``open_memory`` validates the file and serves the cached maps without
importing torch (see ``CachedMemory``); the field is built, importing torch, on the first query
the cache cannot answer. ``load_memory`` builds it at once.

No pickled objects are read (``allow_pickle=False``). Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the target, so a crash leaves the old file or the
new one, never half of one. Any unreadable, truncated or mismatched file raises CheckpointError.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenemem_ros.config import ConfigError, config_from_dict, config_to_dict
from scenemem_ros.geometry.voxels import GridSpec2D, VoxelGrid
from scenemem_ros.memory.baked import OCCUPIED, OccupancyVolume, SceneBakeCache
from scenemem_ros.memory.config import BakeCacheConfig, BakeConfig, FieldConfig
from scenemem_ros.memory.errors import CheckpointError, MemoryModelError

if TYPE_CHECKING:  # imported where a field is built: serving the cached maps needs no torch
    import torch

    from scenemem_ros.memory.field import SceneGrid, SceneMemoryField

FORMAT = 'scenemem-memory'
VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_CACHE = BakeCacheConfig()


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old or the new file, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, 'wb') as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def weights_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Hex SHA-256 of the ``decoder/`` and ``scene/`` arrays (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k.startswith(('decoder/', 'scene/'))):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f'{key}|{value.dtype.str}|{value.shape}|'.encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_memory(field: SceneMemoryField, path: str | Path,
                metadata: dict[str, Any] | None = None,
                cache: BakeCacheConfig | None = DEFAULT_CACHE) -> int:
    """Write ``field`` to ``path`` atomically; returns the file size in bytes.

    With ``cache`` (the default), each scene's maps are baked from the stored weights and
    written beside them (see the module docstring); ``None`` writes the weights only.
    """
    arrays: dict[str, np.ndarray] = {}
    scenes: dict[str, Any] = {}
    for name in field.scene_names():
        grid = field.scene(name)
        scales = []
        for index, level in enumerate(grid.levels):
            values = level.detach().cpu().numpy()
            scale = float(np.abs(values).max(initial=0.0)) / 127.0 or 1.0
            arrays[f'scene/{name}/level{index}'] = np.round(values / scale).astype(np.int8)
            scales.append(scale)
        observed = grid.observed.cpu().numpy()
        arrays[f'scene/{name}/observed'] = np.packbits(observed.reshape(-1))
        low, high = grid.bounds
        scenes[name] = {'origin': low.tolist(), 'extent': (high - low).tolist(),
                        'observed_shape': list(observed.shape), 'level_scales': scales}
    for key, value in field.decoder.state_dict().items():
        arrays[f'decoder/{key}'] = value.detach().cpu().numpy().astype(np.float32)
    header = {'format': FORMAT, 'version': VERSION, 'field': config_to_dict(field.config),
              'scenes': scenes, 'metadata': metadata or {},
              'weights_sha256': weights_sha256(arrays)}
    if cache is not None and scenes:
        stored = _build_field(header, arrays)
        for name in scenes:
            scenes[name]['cache'] = _bake_cache(stored, name, cache, arrays)
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    # allow_pickle is numpy's default, passed so mypy does not match **arrays against it.
    np.savez_compressed(buffer, allow_pickle=True, **arrays)
    payload = buffer.getvalue()
    atomic_write_bytes(Path(path), payload)
    return len(payload)


def _bake_cache(field: SceneMemoryField, name: str, config: BakeCacheConfig,
                arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Bake scene ``name``'s cached maps into ``arrays``; returns their header entry."""
    from scenemem_ros.memory.queries import bake, navigation_grid

    entry: dict[str, Any] = {}
    if config.volume:
        resolution = field.config.observed_resolution
        low, high = field.scene(name).bounds
        # A lattice through the world origin, so boxes on the usual grid can be cut from it.
        low = np.floor(low / resolution + 1e-6) * resolution
        high = np.ceil(high / resolution - 1e-6) * resolution
        # Dense: the cache is the exact reference the coarse-to-fine bake approximates.
        volume = bake(field, name, low, high, resolution, BakeConfig(dense=True))
        arrays[f'cache/{name}/occupied'] = np.packbits(volume.occupied().reshape(-1))
        arrays[f'cache/{name}/observed'] = np.packbits(volume.observed.reshape(-1))
        entry['volume'] = {'origin': list(volume.grid.origin), 'resolution': resolution,
                           'shape': list(volume.grid.shape)}
    if config.nav_resolution > 0:
        spec, cells = navigation_grid(field, name, config.z_min, config.z_max,
                                      config.nav_resolution, config.supersample,
                                      use_cache=False)
        arrays[f'cache/{name}/nav'] = cells.astype(np.int8)
        entry['nav'] = {'origin': list(spec.origin), 'resolution': spec.resolution,
                        'shape': list(spec.shape), 'z_min': config.z_min,
                        'z_max': config.z_max, 'supersample': config.supersample}
    return entry


def _read_header(archive: Any, path: Path) -> dict[str, Any]:
    if 'header' not in archive.files:
        raise CheckpointError(f'{path} is not a scenemem memory checkpoint (no header)')
    try:
        header = json.loads(bytes(archive['header']).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f'{path}: corrupt checkpoint header ({error})') from error
    if not isinstance(header, dict) or header.get('format') != FORMAT:
        found = header.get('format') if isinstance(header, dict) else None
        raise CheckpointError(f'{path} is not a scenemem memory checkpoint (format {found!r})')
    if header.get('version') not in READABLE_VERSIONS:
        raise CheckpointError(f'{path}: checkpoint format version {header.get("version")} is not '
                              f'supported (this build reads versions {READABLE_VERSIONS})')
    return header


def load_memory(path: str | Path, device: str | torch.device = 'cpu'
                ) -> tuple[SceneMemoryField, dict[str, Any]]:
    """Read a checkpoint; returns the field (on ``device``, eval mode) and its metadata.

    This imports torch and builds the field at once; ``open_memory`` defers both until a query
    needs the decoder.
    """
    memory = open_memory(path, device)
    return memory.field, memory.metadata


def open_memory(path: str | Path, device: str | torch.device = 'cpu') -> CachedMemory:
    """Read and validate a checkpoint (numpy only); the field is built on first need.

    Raises CheckpointError for a missing, corrupt, truncated, altered (SHA-256) or unsupported
    file, and for a cache that does not fit its header.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'memory checkpoint {path} does not exist')
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = _read_header(archive, path)
            arrays = {key: archive[key] for key in archive.files if key != 'header'}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise CheckpointError(f'{path} is corrupt or truncated: {error}') from error
    if header['version'] >= 2 and header.get('weights_sha256') != weights_sha256(arrays):
        raise CheckpointError(f'{path}: the stored weights do not match weights_sha256 in its '
                              f'header (the file was altered after it was written)')
    try:
        caches = {name: _read_cache(name, info['cache'], arrays)
                  for name, info in header['scenes'].items() if 'cache' in info}
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise CheckpointError(f'{path}: checkpoint contents do not match its header: {error}') \
            from error
    weights = {key: value for key, value in arrays.items() if not key.startswith('cache/')}
    return CachedMemory(path, header, weights, caches, device)


class CachedMemory:
    """A memory checkpoint opened for queries: cached maps from numpy, the field on demand.

    Until the field is built, ``navigation_grid`` for the cached band and ``cached_occupancy`` /
    ``occupancy_volume`` on the cached voxel lattice are cut from the checkpoint's baked cache
    without importing torch (the cache was baked from exactly these weights, checked by their
    SHA-256 at open). The first query the cache cannot answer (another band, resolution or box
    off the lattice), or the first access to ``field``, imports torch and builds the field (on
    ``device``, eval mode, cache attached) as ``load_memory`` does; from then on every query goes
    through the field and ``queries``, so a field changed in place retires the cache there.
    Results are identical either way. Thread-safe.

    Attributes:
        path: the checkpoint file ('' for ``from_field``).
        metadata: the checkpoint's free-form metadata (training figures, source).
        device: where the field is built.
    """

    def __init__(self, path: Path | str, header: dict[str, Any], arrays: dict[str, np.ndarray],
                 caches: dict[str, SceneBakeCache], device: str | torch.device = 'cpu') -> None:
        self.path = str(path)
        self.metadata: dict[str, Any] = dict(header.get('metadata', {}))
        self.device = device
        self._header = header
        self._arrays = arrays
        self._caches = caches
        self._scenes = list(header.get('scenes', {}))
        self._field: SceneMemoryField | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_field(cls, field: SceneMemoryField, metadata: dict[str, Any] | None = None
                   ) -> CachedMemory:
        """Wrap a field already in memory (its ``bake_cache``, if any, is what serves)."""
        memory = cls('', {'metadata': metadata or {}}, {}, {})
        memory._field = field
        return memory

    @property
    def field_loaded(self) -> bool:
        """True once the field is built (torch imported)."""
        return self._field is not None

    @property
    def field(self) -> SceneMemoryField:
        """The field (built on first access; imports torch). Raises CheckpointError."""
        with self._lock:
            if self._field is None:
                self._field = self._build()
            return self._field

    def _build(self) -> SceneMemoryField:
        from scenemem_ros.memory.queries import weights_fingerprint

        try:
            field = _build_field(self._header, self._arrays)
        except CheckpointError as error:
            raise CheckpointError(f'{self.path}: {error}') from error
        except (RuntimeError, KeyError, ValueError, TypeError) as error:
            raise CheckpointError(f'{self.path}: checkpoint contents do not match its header: '
                                  f'{error}') from error
        field.to(self.device).eval()
        fingerprint = weights_fingerprint(field)
        for name, cache in self._caches.items():
            field.bake_cache[name] = SceneBakeCache(cache.volume, cache.nav_key, cache.nav,
                                                    fingerprint)
        self._arrays, self._caches = {}, {}
        return field

    def _loaded(self) -> SceneMemoryField | None:
        with self._lock:
            return self._field

    def scene_names(self) -> list[str]:
        """The scenes the memory holds, in stored order."""
        field = self._loaded()
        return field.scene_names() if field is not None else list(self._scenes)

    def check_scene(self, scene: str) -> None:
        """Raise MemoryModelError (as ``SceneMemoryField.scene``) if ``scene`` is not held."""
        names = self.scene_names()
        if scene not in names:
            raise MemoryModelError(f'unknown scene {scene!r}; this memory holds {sorted(names)}')

    def cached_occupancy(self, scene: str, minimum: np.ndarray, maximum: np.ndarray,
                         resolution: float) -> OccupancyVolume | None:
        """``queries.cached_occupancy``: the box cut from the cache, or None (never bakes)."""
        field = self._loaded()
        if field is not None:
            from scenemem_ros.memory.queries import cached_occupancy

            return cached_occupancy(field, scene, minimum, maximum, resolution)
        self.check_scene(scene)
        cache = self._caches.get(scene)
        return None if cache is None else cache.occupancy(minimum, maximum, resolution)

    def occupancy_volume(self, scene: str, minimum: np.ndarray, maximum: np.ndarray,
                         resolution: float, use_cache: bool = True,
                         config: BakeConfig | None = None) -> OccupancyVolume:
        """``queries.occupancy_volume``: from the cache when it can, else baked (builds field)."""
        if use_cache:
            cached = self.cached_occupancy(scene, minimum, maximum, resolution)
            if cached is not None:
                return cached
        from scenemem_ros.memory.queries import occupancy_volume

        return occupancy_volume(self.field, scene, minimum, maximum, resolution,
                                use_cache=False, config=config)

    def navigation_grid(self, scene: str, z_min: float, z_max: float, resolution: float,
                        supersample: int = 3, minimum_xy: np.ndarray | None = None,
                        maximum_xy: np.ndarray | None = None, use_cache: bool = True
                        ) -> tuple[GridSpec2D, np.ndarray]:
        """``queries.navigation_grid``: the cached grid (a copy) if it matches, else baked."""
        field = self._loaded()
        if field is None and use_cache and minimum_xy is None and maximum_xy is None:
            self.check_scene(scene)
            cache = self._caches.get(scene)
            cached = None if cache is None else cache.navigation(resolution, z_min, z_max,
                                                                 supersample)
            if cached is not None:
                return cached
        from scenemem_ros.memory.queries import navigation_grid

        return navigation_grid(self.field, scene, z_min, z_max, resolution, supersample,
                               minimum_xy, maximum_xy, use_cache)


def _build_field(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> SceneMemoryField:
    """The field described by ``header`` with the stored (dequantised) weights, on the CPU."""
    try:
        config = config_from_dict(FieldConfig, header['field'], 'checkpoint.field')
    except (ConfigError, KeyError) as error:
        raise CheckpointError(f'checkpoint config does not fit this build: {error}') from error
    import torch

    from scenemem_ros.memory.field import SceneMemoryField

    field = SceneMemoryField(config)
    decoder_state = {key[len('decoder/'):]: torch.from_numpy(value.astype(np.float32))
                     for key, value in arrays.items() if key.startswith('decoder/')}
    field.decoder.load_state_dict(decoder_state)
    for name, info in header['scenes'].items():
        grid = field.add_scene(name, np.array(info['origin']), np.array(info['extent']))
        _fill_scene(grid, name, info, arrays)
    field.eval()
    return field


def _unpack(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    packed = arrays[key]
    if packed.dtype != np.uint8 or packed.size != (math.prod(shape) + 7) // 8:
        raise ValueError(f'{key} holds {packed.dtype} x {packed.size}, expected the packed bits '
                         f'of {shape}')
    return np.unpackbits(packed, count=math.prod(shape)).reshape(shape).astype(bool)


def _read_cache(name: str, entry: dict[str, Any], arrays: dict[str, np.ndarray]
                ) -> SceneBakeCache:
    """Scene ``name``'s cached maps (numpy; no fingerprint until a field is built)."""
    volume = None
    if 'volume' in entry:
        spec = entry['volume']
        grid = VoxelGrid(origin=tuple(float(v) for v in spec['origin']),
                         resolution=float(spec['resolution']),
                         shape=tuple(int(n) for n in spec['shape']))
        volume = OccupancyVolume(grid=grid,
                                 occupied=_unpack(arrays, f'cache/{name}/occupied', grid.shape),
                                 observed=_unpack(arrays, f'cache/{name}/observed', grid.shape))
    nav_key, nav = None, None
    if 'nav' in entry:
        spec = entry['nav']
        grid_2d = GridSpec2D(origin=tuple(float(v) for v in spec['origin']),
                             resolution=float(spec['resolution']),
                             shape=tuple(int(n) for n in spec['shape']))
        cells = arrays[f'cache/{name}/nav']
        if cells.dtype != np.int8 or tuple(cells.shape) != grid_2d.shape \
                or not np.isin(cells, (-1, 0, OCCUPIED)).all():
            raise ValueError(f'cache/{name}/nav is {cells.dtype} {cells.shape}, expected int8 '
                             f'{grid_2d.shape} of -1/0/100')
        nav_key = (grid_2d.resolution, float(spec['z_min']), float(spec['z_max']),
                   int(spec['supersample']))
        nav = (grid_2d, cells)
    return SceneBakeCache(volume=volume, nav_key=nav_key, nav=nav)


def _fill_scene(grid: SceneGrid, name: str, info: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> None:
    import torch

    scales = info['level_scales']
    for index, level in enumerate(grid.levels):
        stored = arrays[f'scene/{name}/level{index}']
        if tuple(stored.shape) != tuple(level.shape) or stored.dtype != np.int8:
            raise ValueError(f'scene {name} level {index} is {stored.dtype} {stored.shape}, '
                             f'expected int8 {tuple(level.shape)}')
        with torch.no_grad():
            level.copy_(torch.from_numpy(stored.astype(np.float32) * float(scales[index])))
    shape = tuple(info['observed_shape'])
    if shape != tuple(grid.observed.shape):
        raise ValueError(f'scene {name} observed mask shape {shape} != '
                         f'{tuple(grid.observed.shape)}')
    bits = np.unpackbits(arrays[f'scene/{name}/observed'])[:int(np.prod(shape))]
    grid.observed.copy_(torch.from_numpy(bits.reshape(shape).astype(bool)))
