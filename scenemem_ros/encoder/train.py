"""Training of the slot encoder: resumable, seeded, CPU or GPU, DDP when launched that way.

Phase one draws batches of single frames; phase two (``sequence_steps``) draws batches of short
clips and adds the temporal losses of ``encoder.sequence``. When ``torch.distributed`` is
initialised (``torchrun``: gloo on CPU, NCCL on CUDA), the model is wrapped in
``DistributedDataParallel``: every rank draws its own batches (seed + rank) and gradients are
averaged; only rank 0 writes files.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from scenemem_ros.config import config_to_dict
from scenemem_ros.encoder.config import EncoderConfig
from scenemem_ros.encoder.errors import EncoderCheckpointError, EncoderError
from scenemem_ros.encoder.losses import frame_losses, make_targets
from scenemem_ros.encoder.model import SlotEncoder
from scenemem_ros.encoder.sequence import sequence_losses
from scenemem_ros.memory.checkpoint import atomic_write_bytes

WARMUP_STEPS = 50
FINAL_LR_SHARE = 0.05
REPORT_WINDOW = 20


@dataclass(frozen=True, eq=False)
class FrameBank:
    """Training frames as tensors of one size.

    depth (N, H, W) float32 metres (NaN invalid), intrinsics (N, 3, 3), camera_to_world
    (N, 4, 4) optical-to-world poses, clips (C, T) int64 frame indices of consecutive frames
    (C may be 0: no phase two), optional target_depth (N, H, W) float32 true depth of the
    same pixels without sensor noise (synthetic frames) for the losses.
    """

    depth: torch.Tensor
    intrinsics: torch.Tensor
    camera_to_world: torch.Tensor
    clips: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3, dtype=torch.long))
    target_depth: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.depth.shape[0]
        if self.depth.dim() != 3 or n == 0:
            raise EncoderError(f'FrameBank.depth must be (N, H, W) with N > 0, '
                               f'got {tuple(self.depth.shape)}')
        if self.intrinsics.shape != (n, 3, 3):
            raise EncoderError(f'FrameBank.intrinsics must be ({n}, 3, 3), '
                               f'got {tuple(self.intrinsics.shape)}')
        if self.camera_to_world.shape != (n, 4, 4):
            raise EncoderError(f'FrameBank.camera_to_world must be ({n}, 4, 4), '
                               f'got {tuple(self.camera_to_world.shape)}')
        if self.clips.dim() != 2 or (self.clips.numel() and
                                     (self.clips.min() < 0 or self.clips.max() >= n)):
            raise EncoderError('FrameBank.clips must be (C, T) indices of frames')
        if self.target_depth is not None and self.target_depth.shape != self.depth.shape:
            raise EncoderError(f'FrameBank.target_depth must match depth '
                               f'{tuple(self.depth.shape)}, got '
                               f'{tuple(self.target_depth.shape)}')

    def __len__(self) -> int:
        return int(self.depth.shape[0])


@dataclass(frozen=True)
class EncoderFitReport:
    """What a fit did: steps run (first_step was resumed from), mean losses over the last
    steps, seconds, device, processes."""

    steps: int
    first_step: int
    frames: int
    clips: int
    losses: dict[str, float]
    seconds: float
    device: str
    world_size: int


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available (the rank's own under torchrun), else cpu."""
    if name == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0)))
        return torch.device('cpu')
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise EncoderError(f'unknown torch device {name!r}') from error
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise EncoderError(f'device {name!r} requested but CUDA is not available')
    return device


def distributed_context() -> tuple[int, int]:
    """(rank, world size) of an initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def learning_rate_factor(step: int, total: int) -> float:
    """Linear warm-up over WARMUP_STEPS, then cosine decay to FINAL_LR_SHARE at ``total``."""
    warmup = min(WARMUP_STEPS, max(1, total // 10))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(model: SlotEncoder, config: EncoderConfig) -> torch.optim.Optimizer:
    t = config.train
    bank = [model.bank.offsets]
    rest = [p for name, p in model.named_parameters() if not name.startswith('bank.')]
    return torch.optim.AdamW([{'params': rest, 'lr': t.learning_rate, 'base_lr': t.learning_rate},
                              {'params': bank, 'lr': t.prototype_learning_rate,
                               'base_lr': t.prototype_learning_rate, 'weight_decay': 0.0}],
                             weight_decay=t.weight_decay)


def save_resume(path: Path, model: SlotEncoder, optimizer: torch.optim.Optimizer,
                generator: torch.Generator, step: int, config: EncoderConfig) -> None:
    """Write the resumable state (weights, optimiser, batch generator, step) atomically."""
    state = {'step': step, 'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
             'generator': generator.get_state(), 'config': config_to_dict(config.model)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_resume(path: Path, config: EncoderConfig) -> dict[str, Any]:
    """Read a resume file written by ``save_resume`` for the same model config."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise EncoderCheckpointError(f'resume file {path} is corrupt or truncated: {error}') \
            from error
    if not isinstance(state, dict) or state.get('config') != config_to_dict(config.model):
        raise EncoderCheckpointError(f'resume file {path} was written for another model '
                                     f'config; delete it or train without --resume')
    return state


def _batch_losses(model: torch.nn.Module, bank: FrameBank, index: torch.Tensor,
                  config: EncoderConfig, generator: torch.Generator, device: torch.device,
                  clip_length: int = 0) -> dict[str, torch.Tensor]:
    depth = bank.depth[index].to(device)
    intrinsics = bank.intrinsics[index].to(device)
    poses = bank.camera_to_world[index].to(device)
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    assert isinstance(inner, SlotEncoder)
    camera = poses if inner.config.camera_vector else None
    output = model(depth, intrinsics, camera, config.loss.samples_per_face)
    target_depth = depth
    if bank.target_depth is not None and config.train.true_depth_targets:
        target_depth = bank.target_depth[index].to(device)
    targets = make_targets(target_depth, intrinsics, config.loss, inner.config.max_depth,
                           generator)
    losses = frame_losses(output, targets, config.loss)
    if clip_length:
        temporal = sequence_losses(output.slots, poses, clip_length, config.sequence,
                                   config.loss.active_threshold)
        losses.update(temporal)
        losses['total'] = (losses['total']
                           + config.sequence.prototype_change_weight
                           * temporal['prototype_change']
                           + config.sequence.acceleration_weight * temporal['acceleration'])
    return losses


def fit_encoder(model: SlotEncoder, bank: FrameBank, config: EncoderConfig, *,
                resume_path: Path | None = None, start_step: int = 0,
                progress: bool = True) -> EncoderFitReport:
    """Train ``model`` on ``bank`` up to ``config.train.total_steps`` steps.

    With ``resume_path`` the full state is saved there every ``checkpoint_every`` steps (rank 0)
    and, when the file exists, training continues from it. ``start_step`` continues the step
    count of an already trained model (fresh optimiser) when there is no resume file.
    """
    started = time.perf_counter()
    t = config.train
    rank, world_size = distributed_context()
    device = resolve_device(t.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    if t.sequence_steps and len(bank.clips) == 0:
        raise EncoderError('sequence_steps > 0 needs clips of consecutive frames')
    if len(bank.clips) and bank.clips.shape[1] != t.sequence_length:
        raise EncoderError(f'clips hold {bank.clips.shape[1]} frames, the config wants '
                           f'{t.sequence_length}')
    model.to(device)
    optimizer = _optimizer(model, config)
    generator = torch.Generator().manual_seed(t.seed + 1000 * rank)
    step = start_step
    if resume_path is not None and Path(resume_path).exists():
        state = load_resume(Path(resume_path), config)
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        generator.set_state(state['generator'])
        step = int(state['step'])
        if world_size > 1:  # every rank resumes the same weights; batches differ by rank
            generator.manual_seed(t.seed + 1000 * rank + step)
    first = done = step
    wrapped: torch.nn.Module = model
    if world_size > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index]
                                          if device.type == 'cuda' else None)
    model.train()
    total = t.total_steps
    history: dict[str, list[float]] = {}
    bar = tqdm(range(step, total), desc='encoder', unit='step', initial=step, total=total,
               disable=not progress or rank != 0)
    for step in bar:
        for group in optimizer.param_groups:
            group['lr'] = group['base_lr'] * learning_rate_factor(step, total)
        if step < t.steps:
            index = torch.randint(0, len(bank), (t.batch_size,), generator=generator)
            losses = _batch_losses(wrapped, bank, index, config, generator, device)
        else:
            clip = torch.randint(0, len(bank.clips), (t.batch_size,), generator=generator)
            index = bank.clips[clip].reshape(-1)
            losses = _batch_losses(wrapped, bank, index, config, generator, device,
                                   t.sequence_length)
        optimizer.zero_grad(set_to_none=True)
        losses['total'].backward()
        if t.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        for key, value in losses.items():
            values = history.setdefault(key, [])
            values.append(float(value.detach()))
            del values[:-REPORT_WINDOW]
        if step % 10 == 0:
            bar.set_postfix(total=f'{history["total"][-1]:.4f}',
                            chamfer=f'{history["chamfer"][-1]:.4f}')
        done = step + 1
        if resume_path is not None and rank == 0 and t.checkpoint_every \
                and done % t.checkpoint_every == 0:
            save_resume(Path(resume_path), model, optimizer, generator, done, config)
    model.eval()
    return EncoderFitReport(steps=done, first_step=first, frames=len(bank),
                            clips=len(bank.clips),
                            losses={k: float(np.mean(v)) for k, v in history.items()},
                            seconds=time.perf_counter() - started, device=str(device),
                            world_size=world_size)
