"""Training frames on disk: a ``FrameBank`` written once, trained on elsewhere.

Rendering synthetic worlds needs Open3D; training needs only torch. ``scenemem train encoder
--worlds N --save-frames FILE`` renders on a machine that has Open3D, and ``--frames FILE``
trains from the file on one that may not (a GPU box, a cluster node).

File layout (``.npz``, written atomically): ``depth_mm`` (N, H, W) uint16 millimetres (0: no
return; depth is rounded to 1 mm and clipped at 65.535 m), ``intrinsics`` (N, 3, 3) float32,
``camera_to_world`` (N, 4, 4) float32, ``clips`` (C, T) int64, ``format`` () int64 and, for
synthetic frames, ``target_depth_mm`` (N, H, W) uint16 true depth (optional).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.train import FrameBank
from scenemem_ros.memory.checkpoint import atomic_write_bytes

FRAME_FILE_FORMAT = 1
MAX_DEPTH_MM = np.iinfo(np.uint16).max


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """(N, H, W) float metres (NaN, inf or <= 0: invalid) -> (N, H, W) uint16 mm (0 invalid)."""
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
        millimetres = np.rint(np.where(valid, depth, 0.0) * 1000.0)
    return np.clip(millimetres, 0, MAX_DEPTH_MM).astype(np.uint16)


def millimetres_to_depth(millimetres: np.ndarray) -> np.ndarray:
    """(N, H, W) uint16 mm (0 invalid) -> (N, H, W) float32 metres (NaN invalid)."""
    depth = millimetres.astype(np.float32) / 1000.0
    depth[millimetres == 0] = np.nan
    return depth


def save_frame_bank(bank: FrameBank, path: Path) -> int:
    """Write ``bank`` to ``path`` (compressed, atomic); returns the file size in bytes."""
    buffer = io.BytesIO()
    arrays: dict[str, np.ndarray] = {
        'format': np.array(FRAME_FILE_FORMAT, dtype=np.int64),
        'depth_mm': depth_to_millimetres(bank.depth.numpy()),
        'intrinsics': bank.intrinsics.numpy().astype(np.float32),
        'camera_to_world': bank.camera_to_world.numpy().astype(np.float32),
        'clips': bank.clips.numpy().astype(np.int64)}
    if bank.target_depth is not None:
        arrays['target_depth_mm'] = depth_to_millimetres(bank.target_depth.numpy())
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    payload = buffer.getvalue()
    atomic_write_bytes(Path(path), payload)
    return len(payload)


def load_frame_bank(path: Path) -> FrameBank:
    """Read a file written by ``save_frame_bank``; a clear ``EncoderError`` when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise EncoderError(f'frame file {path} does not exist')
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data['format'])
            millimetres = data['depth_mm']
            intrinsics = data['intrinsics']
            camera_to_world = data['camera_to_world']
            clips = data['clips']
            targets = data['target_depth_mm'] if 'target_depth_mm' in data.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise EncoderError(f'{path} is not a readable frame file: {error}') from error
    if version != FRAME_FILE_FORMAT:
        raise EncoderError(f'{path}: frame file format {version}, this version reads '
                           f'{FRAME_FILE_FORMAT}')
    if millimetres.dtype != np.uint16 or millimetres.ndim != 3:
        raise EncoderError(f'{path}: depth_mm must be (N, H, W) uint16, got '
                           f'{millimetres.dtype} {millimetres.shape}')
    if clips.ndim != 2:
        raise EncoderError(f'{path}: clips must be (C, T), got {clips.shape}')
    if targets is not None and (targets.dtype != np.uint16 or targets.shape != millimetres.shape):
        raise EncoderError(f'{path}: target_depth_mm must be uint16 like depth_mm '
                           f'{millimetres.shape}, got {targets.dtype} {targets.shape}')
    return FrameBank(torch.from_numpy(millimetres_to_depth(millimetres)),
                     torch.from_numpy(intrinsics.astype(np.float32)),
                     torch.from_numpy(camera_to_world.astype(np.float32)),
                     torch.from_numpy(clips.astype(np.int64)),
                     None if targets is None else torch.from_numpy(millimetres_to_depth(targets)))


__all__ = ['FRAME_FILE_FORMAT', 'depth_to_millimetres', 'load_frame_bank',
           'millimetres_to_depth', 'save_frame_bank']
