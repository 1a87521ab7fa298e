"""The learned scene field: per-scene multi-resolution feature grids + one shared decoder.

A point's features are trilinear samples of each level's grid, concatenated; the shared MLP decodes
them into a truncated signed distance to the nearest surface (positive in free space). Occupancy
probability is a steep sigmoid of it, so the 0.5 level set is the surface with sub-voxel accuracy.
This is a deliberate refinement of the design's "point -> occupancy" decoder: regressing a
truncated distance along camera rays trains faster and places surfaces more precisely than binary
occupancy labels, and occupancy follows from it exactly where it matters (at the surface).

Each scene also stores a coarse boolean mask of the space its training cameras observed; queries
outside it are "unknown", never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as functional
from torch import nn

from scenemem_ros.memory.config import FieldConfig
from scenemem_ros.memory.errors import MemoryModelError

if TYPE_CHECKING:
    from scenemem_ros.memory.baked import SceneBakeCache

QUERY_CHUNK = 1 << 18


class SceneGrid(nn.Module):
    """Per-scene latent features over an axis-aligned box.

    Level l holds a (C, Z_l, Y_l, X_l) parameter whose vertex (i, j, k) sits at
    ``origin + (i, j, k) * level_resolutions[l]``. ``observed`` is a (X, Y, Z) bool mask at
    ``observed_resolution`` whose voxel (i, j, k) covers ``origin + [idx, idx + 1) * res``.
    """

    origin: torch.Tensor
    extent: torch.Tensor
    observed: torch.Tensor

    def __init__(self, config: FieldConfig, origin: np.ndarray, extent: np.ndarray) -> None:
        super().__init__()
        self.register_buffer('origin', torch.as_tensor(origin, dtype=torch.float32).clone())
        self.register_buffer('extent', torch.as_tensor(extent, dtype=torch.float32).clone())
        self.levels = nn.ParameterList()
        self.level_resolutions = tuple(config.level_resolutions)
        for resolution in config.level_resolutions:
            counts = [int(math.ceil(float(e) / resolution)) + 1 for e in extent]
            shape = (config.features_per_level, counts[2], counts[1], counts[0])
            self.levels.append(nn.Parameter(torch.zeros(shape)))
        observed_shape = tuple(int(math.ceil(float(e) / config.observed_resolution))
                               for e in extent)
        self.observed_resolution = config.observed_resolution
        self.register_buffer('observed', torch.zeros(observed_shape, dtype=torch.bool))

    def features(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N, L * C) concatenated trilinear features (0 outside)."""
        samples = []
        for resolution, grid in zip(self.level_resolutions, self.levels, strict=False):
            span = torch.tensor([grid.shape[3] - 1, grid.shape[2] - 1, grid.shape[1] - 1],
                                dtype=points.dtype, device=points.device) * resolution
            normalized = 2.0 * (points - self.origin) / span - 1.0
            sampled = functional.grid_sample(grid.unsqueeze(0), normalized.view(1, -1, 1, 1, 3),
                                             mode='bilinear', padding_mode='zeros',
                                             align_corners=True)
            samples.append(sampled.view(grid.shape[0], -1).t())
        return torch.cat(samples, dim=1)

    def observed_at(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N,) bool: inside the box and in observed space."""
        index = torch.floor((points - self.origin) / self.observed_resolution).long()
        shape = torch.tensor(self.observed.shape, device=points.device)
        inside = ((index >= 0) & (index < shape)).all(dim=1)
        result = torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
        kept = index[inside]
        result[inside] = self.observed[kept[:, 0], kept[:, 1], kept[:, 2]]
        return result

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """((3,), (3,)) world-frame min and max corner of the scene box."""
        low = self.origin.detach().cpu().numpy().astype(np.float64)
        return low, low + self.extent.detach().cpu().numpy().astype(np.float64)


class SceneMemoryField(nn.Module):
    """Several scenes' grids and the decoder they share."""

    def __init__(self, config: FieldConfig) -> None:
        super().__init__()
        self.config = config
        inputs = len(config.level_resolutions) * config.features_per_level
        self.decoder = nn.Sequential(
            nn.Linear(inputs, config.decoder_hidden), nn.Softplus(beta=10.0),
            nn.Linear(config.decoder_hidden, config.decoder_hidden), nn.Softplus(beta=10.0),
            nn.Linear(config.decoder_hidden, 1))
        with torch.no_grad():
            # Start as "free space" (+truncation) everywhere, so unseen cells are not walls.
            last = self.decoder[-1]
            assert isinstance(last, nn.Linear)
            last.bias.fill_(1.0)
        self.scenes = nn.ModuleDict()
        # maps baked into the checkpoint this field was loaded from (see queries.SceneBakeCache)
        self.bake_cache: dict[str, SceneBakeCache] = {}

    def add_scene(self, name: str, origin: np.ndarray, extent: np.ndarray) -> SceneGrid:
        """Create (or replace) the grids of scene ``name`` over ``origin + [0, extent]``."""
        if not name or not name.replace('_', '').replace('-', '').isalnum():
            raise MemoryModelError(
                f'scene name must be letters, digits, "-" or "_", got {name!r}')
        if np.any(np.asarray(extent) <= 0):
            raise MemoryModelError(f'scene extent must be > 0, got {extent}')
        grid = SceneGrid(self.config, origin, extent)
        device = next(self.decoder.parameters()).device
        self.scenes[name] = grid.to(device)
        return grid

    def scene(self, name: str) -> SceneGrid:
        if name not in self.scenes:
            raise MemoryModelError(
                f'unknown scene {name!r}; this memory holds {sorted(self.scenes.keys())}')
        grid = self.scenes[name]
        assert isinstance(grid, SceneGrid)
        return grid

    def scene_names(self) -> list[str]:
        return list(self.scenes.keys())

    def decode(self, scene: str, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) points -> (N,) signed distance in truncation units (differentiable)."""
        return self.decoder(self.scene(scene).features(points)).squeeze(-1)

    def signed_distance(self, scene: str, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N,) truncated signed distance in metres (no grad, chunked)."""
        grid = self.scene(scene)
        device = grid.origin.device
        out = torch.empty(points.shape[0], dtype=torch.float32, device=device)
        with torch.no_grad():
            for start in range(0, points.shape[0], QUERY_CHUNK):
                chunk = points[start:start + QUERY_CHUNK].to(device=device, dtype=torch.float32)
                out[start:start + QUERY_CHUNK] = self.decode(scene, chunk)
        return out.clamp(-1.0, 1.0) * self.config.truncation

    def occupancy_probability(self, scene: str, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) world points -> (N,) probability that the point is inside matter."""
        distance = self.signed_distance(scene, points)
        return torch.sigmoid(-distance / self.surface_sharpness)

    @property
    def surface_sharpness(self) -> float:
        """Metres over which occupancy goes from 0.27 to 0.73 across a surface."""
        return self.config.level_resolutions[-1] / 8

    def grid_parameters(self) -> Iterator[nn.Parameter]:
        for grid in self.scenes.values():
            assert isinstance(grid, SceneGrid)
            yield from grid.levels
