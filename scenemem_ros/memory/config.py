"""Configs of the scene memory: the field, its training and its queries."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from scenemem_ros.memory.errors import MemoryModelError


def _positive(owner: str, name: str, value: float) -> None:
    if not value > 0:
        raise MemoryModelError(f'{owner}.{name} must be > 0, got {value!r}')


@dataclass(frozen=True)
class FieldConfig:
    """Architecture of the learned field (saved inside every checkpoint).

    Attributes:
        level_resolutions: cell sizes (m) of the per-scene feature grids, coarse to fine.
        features_per_level: feature channels per grid level.
        decoder_hidden: width of the shared decoder's two hidden layers.
        truncation: distance (m) at which the learned signed distance saturates.
        observed_resolution: cell size (m) of the per-scene observed-space mask.
        padding: margin (m) added around the observed points when a scene's bounds are set.
    """

    level_resolutions: tuple[float, ...] = (0.4, 0.16, 0.08)
    features_per_level: int = 4
    decoder_hidden: int = 32
    truncation: float = 0.16
    observed_resolution: float = 0.05
    padding: float = 0.3

    def __post_init__(self) -> None:
        if not self.level_resolutions:
            raise MemoryModelError('FieldConfig.level_resolutions must not be empty')
        for value in self.level_resolutions:
            _positive('FieldConfig', 'level_resolutions', value)
        if list(self.level_resolutions) != sorted(self.level_resolutions, reverse=True):
            raise MemoryModelError(f'FieldConfig.level_resolutions must go coarse to fine, '
                                   f'got {self.level_resolutions}')
        for name in ('features_per_level', 'decoder_hidden'):
            if getattr(self, name) < 1:
                raise MemoryModelError(f'FieldConfig.{name} must be >= 1, '
                                       f'got {getattr(self, name)}')
        for name in ('truncation', 'observed_resolution'):
            _positive('FieldConfig', name, getattr(self, name))
        if self.padding < 0:
            raise MemoryModelError(f'FieldConfig.padding must be >= 0, got {self.padding}')


@dataclass(frozen=True)
class TrainConfig:
    """Offline fitting of one scene.

    Attributes:
        steps: optimiser steps.
        rays_per_step: rays drawn per step.
        surface_samples: samples per ray within +-truncation of the hit.
        free_samples: samples per ray between the camera and the truncation band.
        max_frames: frames kept by maximum-coverage selection (0 keeps all).
        coverage_resolution: voxel size (m) for maximum-coverage frame selection.
        rays_per_frame: valid pixels kept per selected frame (random, seeded).
        grid_learning_rate, decoder_learning_rate: Adam learning rates.
        max_range: depth beyond this (m) is ignored.
        seed: seeds every random choice; equal seeds give equal models.
        checkpoint_every: steps between resumable snapshots (0: only at the end).
        device: torch device ('cpu', 'cuda', 'cuda:1', 'auto').
    """

    steps: int = 1500
    rays_per_step: int = 4096
    surface_samples: int = 6
    free_samples: int = 4
    max_frames: int = 300
    coverage_resolution: float = 0.1
    rays_per_frame: int = 20000
    grid_learning_rate: float = 0.02
    decoder_learning_rate: float = 0.003
    max_range: float = 8.0
    seed: int = 0
    checkpoint_every: int = 500
    device: str = 'auto'

    def __post_init__(self) -> None:
        for name in ('steps', 'rays_per_step', 'surface_samples', 'rays_per_frame'):
            if getattr(self, name) < 1:
                raise MemoryModelError(f'TrainConfig.{name} must be >= 1, '
                                       f'got {getattr(self, name)}')
        for name in ('free_samples', 'max_frames', 'checkpoint_every', 'seed'):
            if getattr(self, name) < 0:
                raise MemoryModelError(f'TrainConfig.{name} must be >= 0, '
                                       f'got {getattr(self, name)}')
        for name in ('coverage_resolution', 'grid_learning_rate', 'decoder_learning_rate',
                     'max_range'):
            _positive('TrainConfig', name, getattr(self, name))


@dataclass(frozen=True)
class MemoryConfig:
    """Everything about a memory: its field and how it is trained."""

    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


@dataclass(frozen=True)
class BakeConfig:
    """How a box is baked to voxels (see ``queries.bake``).

    Attributes:
        dense: evaluate the field on every voxel; the reference the faster paths are measured
            against.
        lipschitz: assumed bound on the slope of the learned distance. Inside near-surface
            blocks the field is first evaluated once per 2x2x2 sub-block; a sub-block whose
            centre value, moved by ``lipschitz`` times its half-diagonal, stays clear of the
            band [0, resolution / 2] takes that value for all its voxels. 0 (the default) turns
            the stage off and every voxel of a near-surface block is evaluated: the learned
            distance is steeper than 2 in places, so on the demo memory L = 1.5 misjudged
            0.5 % of the occupied voxels, and L = 3 (4 voxels in 89,000) was barely faster.
    """

    dense: bool = False
    lipschitz: float = 0.0

    def __post_init__(self) -> None:
        if not self.lipschitz >= 0:
            raise MemoryModelError(f'BakeConfig.lipschitz must be >= 0, got {self.lipschitz!r}')


@dataclass(frozen=True)
class BakeCacheConfig:
    """What ``save_memory`` bakes into a checkpoint so a robot gets its maps without baking.

    Attributes:
        volume: store each scene's occupancy (and observed mask) over its box, bit-packed, at
            the scene's training resolution (``FieldConfig.observed_resolution``), baked densely.
        nav_resolution: cell size (m) of the stored 2D navigation grid; 0 stores none.
        z_min, z_max: its height band (m); the defaults are ``LiveMapConfig``'s.
        supersample: its supersampling (see ``queries.navigation_grid``).
    """

    volume: bool = True
    nav_resolution: float = 0.05
    z_min: float = 0.1
    z_max: float = 1.8
    supersample: int = 3

    def __post_init__(self) -> None:
        if self.nav_resolution < 0:
            raise MemoryModelError(
                f'BakeCacheConfig.nav_resolution must be >= 0, got {self.nav_resolution!r}')
        if not self.z_max > self.z_min:
            raise MemoryModelError(f'BakeCacheConfig needs z_max > z_min, got '
                                   f'z_min={self.z_min}, z_max={self.z_max}')
        if self.supersample < 1:
            raise MemoryModelError(
                f'BakeCacheConfig.supersample must be >= 1, got {self.supersample}')
