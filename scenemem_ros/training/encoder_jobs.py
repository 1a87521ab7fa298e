"""Back-end of ``scenemem train encoder``: frames, (distributed) fitting, checkpoints, resume.

Frames come from ``--worlds N`` synthetic worlds (compositions and apartments, see
``training.encoder_data``) or from a recording through ``memory_jobs.FrameSource`` (``--bag``,
``--world``, ``--dataset``), or from a frame file written by ``--save-frames`` (``--frames``;
training from it needs torch only, not Open3D). Under ``torchrun`` every process builds the
same frames, trains on its own batches with gradients averaged (gloo on CPU, NCCL on CUDA),
and rank 0 writes the files. ``OUT.resume.pt`` holds the full training state every
``checkpoint_every`` steps; with ``resume`` training continues from it, or, when only ``OUT``
exists, from OUT's weights and step count.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from scenemem_ros.encoder.checkpoint import load_encoder, read_header, save_encoder
from scenemem_ros.encoder.config import EncoderConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.frame_file import load_frame_bank, save_frame_bank
from scenemem_ros.encoder.model import SlotEncoder, parameter_count
from scenemem_ros.encoder.train import FrameBank, distributed_context, fit_encoder

if TYPE_CHECKING:  # rendering (Open3D) and bag reading load only when frames are made here
    from scenemem_ros.training.encoder_data import SyntheticSpec
    from scenemem_ros.training.memory_jobs import FrameSource

DEMO_SCENE_SEED = 31  # the bundled demo apartment (training.demo.DEMO_SCENE)


def encoder_config(base: EncoderConfig | None = None, **overrides: Any) -> EncoderConfig:
    """The default (or given) config with non-None ``train`` field overrides applied."""
    config = base or EncoderConfig()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(config, train=replace(config.train, **changes))


def build_bank(config: EncoderConfig, spec: SyntheticSpec | None = None,
               source: FrameSource | None = None, frames: Path | None = None) -> FrameBank:
    """Training frames from synthetic worlds, a recorded source or a frame file (exactly
    one)."""
    if sum(x is not None for x in (spec, source, frames)) != 1:
        raise EncoderError('give exactly one of --worlds N, a recorded source, --frames FILE')
    if frames is not None:
        bank = load_frame_bank(frames)
        size = (config.model.input_height, config.model.input_width)
        if tuple(bank.depth.shape[1:]) != size:
            raise EncoderError(f'{frames} holds {tuple(bank.depth.shape[1:])} frames, the model '
                               f'takes {size} (render them at that size)')
        return bank
    from scenemem_ros.training.encoder_data import bank_from_clips, sequence_clips, synthetic_clips

    model = config.model
    if spec is not None:
        synthetic = synthetic_clips(spec)
        return bank_from_clips([clip.frames for clip in synthetic], model.input_height,
                               model.input_width, [clip.true_depth for clip in synthetic])
    assert source is not None
    sequence = source.read()
    clips = sequence_clips(sequence, config.train.sequence_length)
    if not clips:
        clips = [[frame] for frame in sequence if frame.depth is not None]
    return bank_from_clips(clips, model.input_height, model.input_width)


def _init_distributed() -> bool:
    """Start the process group when launched by torchrun; True when this call started it."""
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1 or not dist.is_available() \
            or dist.is_initialized():
        return False
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend)
    if backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    return True


def train_encoder(out: Path, config: EncoderConfig, *, spec: SyntheticSpec | None = None,
                  source: FrameSource | None = None, frames: Path | None = None,
                  resume: bool = False,
                  progress: bool = True, metadata: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """Build the frames, fit, and write ``out`` (rank 0); returns a summary."""
    started = time.perf_counter()
    out = Path(out)
    started_group = _init_distributed()
    try:
        rank, world_size = distributed_context()
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        bank = build_bank(config, spec, source, frames)
        torch.manual_seed(config.train.seed)
        model = SlotEncoder(config.model)
        resume_path = out.with_name(out.name + '.resume.pt')
        start_step = 0
        if not resume:
            if rank == 0:
                resume_path.unlink(missing_ok=True)
            if world_size > 1:
                dist.barrier()
        elif not resume_path.exists() and out.exists():
            previous, previous_config, info = load_encoder(out)
            if previous_config.model != config.model:
                raise EncoderError(f'{out} holds another model config; train without --resume')
            model.load_state_dict(previous.state_dict())
            start_step = info['step']
        report = fit_encoder(model, bank, config, resume_path=resume_path,
                             start_step=start_step, progress=progress)
        summary: dict[str, Any] = {
            **asdict(report), 'out': str(out), 'parameters': parameter_count(model),
            'data': _data_summary(spec, source, frames)}
        if rank == 0:
            info = {'training': {k: v for k, v in summary.items() if k != 'out'},
                    **(metadata or {})}
            summary['bytes'] = save_encoder(model.cpu(), config, out, report.steps, info)
            if report.steps >= config.train.total_steps:
                resume_path.unlink(missing_ok=True)
        if world_size > 1:
            dist.barrier()
        summary['wall_seconds'] = time.perf_counter() - started
        return summary
    finally:
        if started_group:
            dist.destroy_process_group()


def write_frames(out: Path, config: EncoderConfig, spec: SyntheticSpec | None = None,
                 source: FrameSource | None = None) -> dict[str, Any]:
    """Render or read the training frames and write them to ``out`` (``encoder.frame_file``)
    instead of training; returns what was written."""
    bank = build_bank(config, spec, source)
    size = save_frame_bank(bank, out)
    return {'frames_out': str(out), 'frames': len(bank), 'clips': int(bank.clips.shape[0]),
            'image': f'{bank.depth.shape[2]}x{bank.depth.shape[1]}', 'bytes': size}


def _data_summary(spec: SyntheticSpec | None, source: FrameSource | None,
                  frames: Path | None) -> dict[str, Any]:
    if spec is not None:
        return asdict(spec)
    if frames is not None:
        return {'frames': str(frames)}
    assert source is not None
    return {'source': str(source.bag or source.world or source.dataset_path)}


def checkpoint_summary(path: Path) -> dict[str, Any]:
    """Header of an encoder checkpoint (step, config, metadata) for printing."""
    return read_header(path)


__all__ = ['DEMO_SCENE_SEED', 'build_bank', 'write_frames', 'checkpoint_summary', 'encoder_config',
           'train_encoder']
