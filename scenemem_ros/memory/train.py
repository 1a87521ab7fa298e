"""Offline fitting of one scene into a memory: resumable, seeded, with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scenemem_ros.data.frame import Frame
from scenemem_ros.memory.config import TrainConfig
from scenemem_ros.memory.errors import CheckpointError, MemoryModelError
from scenemem_ros.memory.field import SceneMemoryField
from scenemem_ros.memory.sampling import (
    build_ray_bank,
    observed_mask,
    sample_along_rays,
    select_max_coverage,
)


@dataclass(frozen=True)
class FitReport:
    """What one fit did: frames used, steps run, final loss, seconds."""

    scene: str
    frames_total: int
    frames_selected: int
    rays: int
    steps: int
    final_loss: float
    seconds: float
    device: str


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else is passed to torch."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise MemoryModelError(f'unknown torch device {name!r}') from error
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise MemoryModelError(f'device {name!r} requested but CUDA is not available')
    return device


def _scene_box(bank_points: torch.Tensor, padding: float) -> tuple[np.ndarray, np.ndarray]:
    low = bank_points.min(dim=0).values
    high = bank_points.max(dim=0).values
    origin = low.cpu().numpy().astype(np.float64) - padding
    extent = high.cpu().numpy().astype(np.float64) + padding - origin
    return origin, extent


def fit_scene(field: SceneMemoryField, scene: str, frames: Sequence[Frame], config: TrainConfig,
              *, resume_path: Path | None = None, freeze_decoder: bool = False,
              progress: bool = True) -> FitReport:
    """Fit scene ``scene`` of ``field`` to posed frames (depth or points).

    Frames are chosen by maximum coverage, rays drawn from them, and the grids (and the decoder,
    unless ``freeze_decoder``, as when adding a scene to a memory that already serves others)
    trained to regress the truncated distance along each ray. With ``resume_path`` the optimiser
    state is saved there every ``checkpoint_every`` steps and training picks up from it.
    """
    started = time.perf_counter()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    chosen = select_max_coverage(frames, config.max_frames, config.coverage_resolution,
                                 config.max_range, seed=config.seed)
    selected = [frames[i] for i in chosen]
    bank = build_ray_bank(selected, config.rays_per_frame, config.max_range, seed=config.seed)
    hits = bank.origins + bank.directions * bank.distances[:, None]
    field_config = field.config
    field.to(device)
    resume = _load_resume(resume_path, scene, config) if resume_path else None
    if resume is None:
        origin, extent = _scene_box(hits, field_config.padding)
        grid = field.add_scene(scene, origin, extent)
        mask = observed_mask(bank, origin, tuple(grid.observed.shape),
                             field_config.observed_resolution, seed=config.seed)
        grid.observed.copy_(mask.to(grid.observed.device))
    else:
        grid = field.add_scene(scene, np.array(resume['origin']), np.array(resume['extent']))
        field.load_state_dict(resume['field'], strict=False)
    bank = bank.to(device)
    groups = [{'params': list(grid.levels), 'lr': config.grid_learning_rate}]
    if not freeze_decoder:
        groups.append({'params': list(field.decoder.parameters()),
                       'lr': config.decoder_learning_rate})
    else:
        field.decoder.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    first_step = 0
    if resume is not None:
        optimizer.load_state_dict(resume['optimizer'])
        generator.set_state(resume['generator'])
        first_step = int(resume['step'])
    field.train()
    loss_value = float('nan')
    bar = tqdm(range(first_step, config.steps), desc=f'memory {scene}', disable=not progress,
               unit='step', initial=first_step, total=config.steps)
    for step in bar:
        ray_index = torch.randint(0, bank.origins.shape[0], (config.rays_per_step,),
                                  generator=generator, device=device)
        points, targets = sample_along_rays(bank, ray_index, field_config.truncation,
                                            config.surface_samples, config.free_samples,
                                            generator)
        predicted = field.decode(scene, points)
        # Near the surface the exact value matters; in free space only the sign does.
        weight = torch.where(targets.abs() < 1.0, 1.0, 0.25)
        loss = (weight * torch.nn.functional.smooth_l1_loss(predicted, targets, beta=0.1,
                                                            reduction='none')).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == config.steps - 1:
            loss_value = float(loss.detach())
            bar.set_postfix(loss=f'{loss_value:.4f}')
        done = step + 1
        if resume_path and config.checkpoint_every and done % config.checkpoint_every == 0 \
                and done < config.steps:
            _save_resume(resume_path, scene, config, field, grid, optimizer, generator, done)
    field.decoder.requires_grad_(True)
    field.eval()
    return FitReport(scene=scene, frames_total=len(frames), frames_selected=len(selected),
                     rays=int(bank.origins.shape[0]), steps=config.steps, final_loss=loss_value,
                     seconds=time.perf_counter() - started, device=str(device))


def _save_resume(path: Path, scene: str, config: TrainConfig, field: SceneMemoryField,
                 grid: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 generator: torch.Generator, step: int) -> None:
    from scenemem_ros.memory.checkpoint import atomic_write_bytes

    low, high = field.scene(scene).bounds
    state = {'scene': scene, 'seed': config.seed, 'step': step, 'origin': low.tolist(),
             'extent': (high - low).tolist(), 'field': field.state_dict(),
             'optimizer': optimizer.state_dict(), 'generator': generator.get_state()}
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load_resume(path: Path, scene: str, config: TrainConfig) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise CheckpointError(f'resume file {path} is unreadable: {error}') from error
    if state.get('scene') != scene or state.get('seed') != config.seed:
        raise CheckpointError(f'resume file {path} belongs to scene {state.get("scene")!r} '
                              f'seed {state.get("seed")}, not {scene!r} seed {config.seed}')
    return state
