"""The map a robot runs on: the memory's navigation grid composed with the live overrides.

``LiveMap`` is what the ``scene_memory`` node wraps: it opens a checkpoint, takes the scene's 2D
grid from its baked cache (or bakes it once), restores the override journal, and recomposes the
grid whenever an override is put, removed or expires. Every change bumps ``version`` so planners
know when to refresh. When the checkpoint's cached grid matches the configured resolution, band
and supersampling, nothing here imports torch (see ``checkpoint.CachedMemory``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scenemem_ros.geometry.voxels import GridSpec2D
from scenemem_ros.memory.checkpoint import CachedMemory, open_memory
from scenemem_ros.memory.errors import MemoryModelError
from scenemem_ros.memory.journal import OverrideJournal
from scenemem_ros.memory.overrides import Override, apply_to_grid_2d

if TYPE_CHECKING:  # a field is only built when the checkpoint's cached grid does not fit
    from scenemem_ros.memory.field import SceneMemoryField


@dataclass(frozen=True)
class LiveMapConfig:
    """How the map is made from the memory.

    Attributes:
        model_path: memory checkpoint (.npz).
        scene: scene in the checkpoint; '' takes the only one.
        resolution: map cell size (m).
        z_min, z_max: the height band (m) the robot occupies.
        supersample: the band is baked this many times finer than the map (see navigation_grid).
        journal_path: override journal; '' keeps overrides in memory only.
        device: torch device for baking (used only when the cached grid does not fit).
    """

    model_path: str = ''
    scene: str = ''
    resolution: float = 0.05
    z_min: float = 0.1
    z_max: float = 1.8
    supersample: int = 3
    journal_path: str = ''
    device: str = 'cpu'

    def __post_init__(self) -> None:
        if not 0.005 <= self.resolution <= 1.0:
            raise MemoryModelError(
                f'LiveMapConfig.resolution must be in [0.005, 1.0] m, got {self.resolution}')
        if not self.z_max > self.z_min:
            raise MemoryModelError(f'LiveMapConfig needs z_max > z_min, got z_min={self.z_min}, '
                                   f'z_max={self.z_max}')
        if not 1 <= self.supersample <= 8:
            raise MemoryModelError(
                f'LiveMapConfig.supersample must be in [1, 8], got {self.supersample}')


class LiveMap:
    """Base grid + overrides, thread-safe. Raises CheckpointError for a bad model file."""

    def __init__(self, config: LiveMapConfig,
                 field: SceneMemoryField | CachedMemory | None = None) -> None:
        self.config = config
        if field is None:
            if not config.model_path:
                raise MemoryModelError('LiveMapConfig.model_path is empty: no memory to load')
            memory = open_memory(Path(config.model_path), config.device)
        elif isinstance(field, CachedMemory):
            memory = field
        else:
            memory = CachedMemory.from_field(field)
        self.memory = memory
        names = memory.scene_names()
        if config.scene:
            memory.check_scene(config.scene)
            self.scene = config.scene
        elif len(names) == 1:
            self.scene = names[0]
        else:
            raise MemoryModelError(f'the memory holds scenes {names}: set the scene to serve')
        self.spec, self.base_cells = memory.navigation_grid(
            self.scene, config.z_min, config.z_max, config.resolution, config.supersample)
        self._lock = threading.RLock()
        self._journal = OverrideJournal(config.journal_path) if config.journal_path else None
        self._overrides: dict[str, Override] = (self._journal.overrides() if self._journal
                                                else {})
        self.version = 0
        self._cells = self._compose(self._overrides.values(), None)

    @property
    def field(self) -> SceneMemoryField:
        """The memory's field (built on first access, importing torch)."""
        return self.memory.field

    @property
    def band(self) -> tuple[float, float]:
        return self.config.z_min, self.config.z_max

    def _compose(self, overrides: Iterable[Override], now: float | None) -> np.ndarray:
        cells = self.base_cells.copy()
        apply_to_grid_2d(cells, np.asarray(self.spec.origin), self.spec.resolution, self.band,
                         overrides, now)
        return cells

    def grid(self) -> tuple[GridSpec2D, np.ndarray, int]:
        """(spec, (X, Y) int8 cells, version) of the current map; the array must not be changed."""
        with self._lock:
            return self.spec, self._cells, self.version

    def overrides(self) -> dict[str, Override]:
        with self._lock:
            return dict(self._overrides)

    def put(self, override: Override, now: float | None = None) -> None:
        """Add or update an override (journaled first when persistence is on)."""
        with self._lock:
            if self._journal:
                self._journal.put(override)
            self._overrides[override.id] = override
            self._refresh(now)

    def remove(self, override_id: str, now: float | None = None) -> bool:
        with self._lock:
            if override_id not in self._overrides:
                return False
            if self._journal:
                self._journal.delete(override_id)
            del self._overrides[override_id]
            self._refresh(now)
            return True

    def clear(self) -> int:
        with self._lock:
            count = len(self._overrides)
            if self._journal:
                self._journal.clear()
            self._overrides.clear()
            self._refresh(None)
            return count

    def expire(self, now: float) -> list[str]:
        """Remove overrides whose expiry has passed; returns their ids."""
        with self._lock:
            gone = [o.id for o in self._overrides.values() if not o.active(now)]
            for override_id in gone:
                self.remove(override_id, now)
            return gone

    def what_if(self, hypothetical: Iterable[Override], now: float | None = None) -> np.ndarray:
        """The grid with ``hypothetical`` overrides added to the live ones.

        Nothing is committed.
        """
        with self._lock:
            merged = dict(self._overrides)
        merged.update({o.id: o for o in hypothetical})
        return self._compose(merged.values(), now)

    def save(self) -> str:
        """Compact the journal to disk; returns where (raises if persistence is off)."""
        with self._lock:
            if not self._journal:
                raise MemoryModelError('no journal_path is set: overrides are not persisted')
            self._journal.compact()
            return str(self._journal.path)

    def close(self) -> None:
        with self._lock:
            if self._journal:
                self._journal.close()
                self._journal = None

    def _refresh(self, now: float | None) -> None:
        self._cells = self._compose(self._overrides.values(), now)
        self.version += 1
