"""Memory checkpoints: one compressed ``.npz`` holding the field config, decoder and scenes.

Layout (format ``scenemem-memory``, version 1)::

    header                  uint8 JSON: format, version, field config, scenes (origin, extent,
                            shapes), free-form metadata (training figures, source)
    decoder/<name>          float32 decoder weights
    scene/<scene>/level<i>  int8 (C, Z, Y, X) feature grid of level i, times the header's
                            per-level scale (symmetric 8-bit quantisation)
    scene/<scene>/observed  packed bits of the (X, Y, Z) observed-space mask

No pickled objects are read (``allow_pickle=False``). Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the target, so a crash leaves the old file or the
new one, never half of one. Any unreadable, truncated or mismatched file raises CheckpointError.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenemem_ros.config import ConfigError, config_from_dict, config_to_dict
from scenemem_ros.memory.config import FieldConfig
from scenemem_ros.memory.errors import CheckpointError
from scenemem_ros.memory.field import SceneGrid, SceneMemoryField

FORMAT = 'scenemem-memory'
VERSION = 1


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


def save_memory(field: SceneMemoryField, path: str | Path,
                metadata: dict[str, Any] | None = None) -> int:
    """Write ``field`` to ``path`` atomically; returns the file size in bytes."""
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
              'scenes': scenes, 'metadata': metadata or {}}
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    # allow_pickle is numpy's default, passed so mypy does not match **arrays against it.
    np.savez_compressed(buffer, allow_pickle=True, **arrays)
    payload = buffer.getvalue()
    atomic_write_bytes(Path(path), payload)
    return len(payload)


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
    if header.get('version') != VERSION:
        raise CheckpointError(f'{path}: checkpoint format version {header.get("version")} is not '
                              f'supported (this build reads version {VERSION})')
    return header


def load_memory(path: str | Path, device: str | torch.device = 'cpu'
                ) -> tuple[SceneMemoryField, dict[str, Any]]:
    """Read a checkpoint; returns the field (on ``device``, eval mode) and its metadata."""
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
    try:
        config = config_from_dict(FieldConfig, header['field'], 'checkpoint.field')
    except (ConfigError, KeyError) as error:
        raise CheckpointError(f'{path}: checkpoint config does not fit this build: {error}') \
            from error
    field = SceneMemoryField(config)
    try:
        decoder_state = {key[len('decoder/'):]: torch.from_numpy(value.astype(np.float32))
                         for key, value in arrays.items() if key.startswith('decoder/')}
        field.decoder.load_state_dict(decoder_state)
        for name, info in header['scenes'].items():
            grid = field.add_scene(name, np.array(info['origin']), np.array(info['extent']))
            _fill_scene(grid, name, info, arrays)
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f'{path}: checkpoint contents do not match its header: {error}') \
            from error
    field.to(device).eval()
    return field, dict(header.get('metadata', {}))


def _fill_scene(grid: SceneGrid, name: str, info: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> None:
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
