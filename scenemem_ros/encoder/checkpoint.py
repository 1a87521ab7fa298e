"""Encoder checkpoints: one compressed ``.npz`` with the config, the step and the weights.

Layout (format ``scenemem-encoder``, version 1)::

    header          uint8 JSON: format, version, config (``EncoderConfig``), step, metadata
    param/<name>    every entry of the model's state dict (float32 weights, int64 buffers)

No pickled objects are read. Writes are atomic (``memory.checkpoint.atomic_write_bytes``). Any
missing, unreadable, truncated or mismatched file raises ``EncoderCheckpointError``; a SHA-256
of the parameters catches flipped bytes that decompress without error.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenemem_ros.config import ConfigError, config_from_dict, config_to_dict
from scenemem_ros.encoder.config import EncoderConfig
from scenemem_ros.encoder.errors import EncoderCheckpointError, EncoderError
from scenemem_ros.encoder.model import SlotEncoder
from scenemem_ros.memory.checkpoint import atomic_write_bytes

FORMAT = 'scenemem-encoder'
VERSION = 1


def save_encoder(model: SlotEncoder, config: EncoderConfig, path: str | Path, step: int = 0,
                 metadata: dict[str, Any] | None = None) -> int:
    """Write ``model`` with its config to ``path`` atomically; returns the size in bytes."""
    if model.config != config.model:
        raise EncoderError('the model was built from another SlotEncoderConfig than config.model')
    arrays: dict[str, np.ndarray] = {}
    for key, value in model.state_dict().items():
        array = value.detach().cpu().numpy()
        arrays[f'param/{key}'] = array.astype(np.float32) if array.dtype.kind == 'f' else array
    header = {'format': FORMAT, 'version': VERSION, 'config': config_to_dict(config),
              'step': int(step), 'metadata': metadata or {}, 'sha256': _digest(arrays)}
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    payload = buffer.getvalue()
    atomic_write_bytes(Path(path), payload)
    return len(payload)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        if key.startswith('param/'):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def read_header(path: str | Path) -> dict[str, Any]:
    """The checkpoint's header (format, version, config, step, metadata), checked."""
    header, _ = _read(Path(path), arrays=False)
    return header


def _read(path: Path, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not path.is_file():
        raise EncoderCheckpointError(f'encoder checkpoint {path} does not exist')
    try:
        with np.load(path, allow_pickle=False) as archive:
            if 'header' not in archive.files:
                raise EncoderCheckpointError(f'{path} is not a scenemem encoder checkpoint '
                                             f'(no header)')
            try:
                header = json.loads(bytes(archive['header']).decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise EncoderCheckpointError(f'{path}: corrupt checkpoint header ({error})') \
                    from error
            values = {key: archive[key] for key in archive.files
                      if key != 'header' and arrays}
    except EncoderCheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, zlib.error) as error:
        raise EncoderCheckpointError(f'{path} is corrupt or truncated: {error}') from error
    if not isinstance(header, dict) or header.get('format') != FORMAT:
        found = header.get('format') if isinstance(header, dict) else None
        raise EncoderCheckpointError(f'{path} is not a scenemem encoder checkpoint '
                                     f'(format {found!r})')
    if header.get('version') != VERSION:
        raise EncoderCheckpointError(f'{path}: encoder checkpoint version '
                                     f'{header.get("version")} is not supported (this build '
                                     f'reads version {VERSION})')
    if arrays and header.get('sha256') != _digest(values):
        raise EncoderCheckpointError(f'{path} is corrupt: its parameters do not match the '
                                     f'checksum in its header')
    return header, values


def _migrated(config: Any) -> Any:
    """A checkpoint's config dict with fields added since it was written set to what that
    checkpoint was trained with (the dataclass defaults describe new models)."""
    if isinstance(config, dict) and isinstance(config.get('model'), dict):
        model = dict(config['model'])
        model.setdefault('translation_frame', 'camera')
        model.setdefault('cluster_normal_weight', 0.0)
        config = {**config, 'model': model}
    return config


def load_encoder(path: str | Path, device: str | torch.device = 'cpu'
                 ) -> tuple[SlotEncoder, EncoderConfig, dict[str, Any]]:
    """Read a checkpoint -> (model on ``device`` in eval mode, its config, header info with
    ``step`` and ``metadata``)."""
    path = Path(path)
    header, arrays = _read(path)
    try:
        config = config_from_dict(EncoderConfig, _migrated(header['config']),
                                  'checkpoint.config')
    except (ConfigError, EncoderError, KeyError, TypeError) as error:
        raise EncoderCheckpointError(f'{path}: checkpoint config does not fit this build: '
                                     f'{error}') from error
    model = SlotEncoder(config.model)
    state = {key[len('param/'):]: torch.from_numpy(np.array(value))
             for key, value in arrays.items() if key.startswith('param/')}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise EncoderCheckpointError(f'{path}: checkpoint weights do not match its config: '
                                     f'{error}') from error
    model.to(device).eval()
    return model, config, {'step': int(header.get('step', 0)),
                           'metadata': dict(header.get('metadata', {}))}
