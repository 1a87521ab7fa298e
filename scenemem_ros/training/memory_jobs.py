"""Back-ends of ``scenemem train memory``: where frames come from, fitting, saving."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scenemem_ros.data.bag import read_sequence_bag
from scenemem_ros.data.frame import Sequence
from scenemem_ros.errors import SceneMemError
from scenemem_ros.memory.checkpoint import load_memory, save_memory
from scenemem_ros.memory.config import MemoryConfig
from scenemem_ros.memory.field import SceneMemoryField
from scenemem_ros.memory.train import fit_scene
from scenemem_ros.training.synthesis import BEFORE_BAG


@dataclass(frozen=True)
class FrameSource:
    """Exactly one of: a bag, a ``scenemem world`` folder, or a dataset reader + path."""

    bag: Path | None = None
    world: Path | None = None
    dataset: str | None = None
    dataset_path: Path | None = None

    def __post_init__(self) -> None:
        given = [self.bag is not None, self.world is not None, self.dataset is not None]
        if sum(given) != 1:
            raise SceneMemError('give exactly one of --bag, --world or --dataset')
        if self.dataset is not None and self.dataset_path is None:
            raise SceneMemError('--dataset needs the dataset path')

    def default_scene_name(self) -> str:
        path = self.bag or self.world or self.dataset_path
        assert path is not None
        name = Path(path).resolve().name.replace('.', '_')
        return ''.join(c if c.isalnum() or c in '-_' else '_' for c in name) or 'scene'

    def read(self) -> Sequence:
        if self.bag is not None:
            return read_sequence_bag(self.bag).sequence
        if self.world is not None:
            bag = Path(self.world) / BEFORE_BAG
            if not bag.exists():
                raise SceneMemError(f'{self.world} holds no {BEFORE_BAG}; write it with '
                                    f'`scenemem world --seed S --out {self.world}`')
            return read_sequence_bag(bag).sequence
        from scenemem_ros.data.readers import open_source

        assert self.dataset is not None and self.dataset_path is not None
        return open_source(self.dataset, self.dataset_path).read()


def train_memory(source: FrameSource, out: Path, config: MemoryConfig, scene: str | None = None,
                 resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fit one scene and write it into ``out`` (added beside the scenes already there)."""
    sequence = source.read()
    if len(sequence) == 0:
        raise SceneMemError('the source holds no frames')
    scene = scene or source.default_scene_name()
    out = Path(out)
    metadata: dict[str, Any] = {}
    freeze_decoder = False
    if out.exists():
        field, metadata = load_memory(out)
        others = [name for name in field.scene_names() if name != scene]
        freeze_decoder = bool(others)
    else:
        field = SceneMemoryField(config.field)
    resume_path = out.with_name(out.name + '.resume.pt')
    if not resume and resume_path.exists():
        resume_path.unlink()
    report = fit_scene(field, scene, list(sequence), config.train, resume_path=resume_path,
                       freeze_decoder=freeze_decoder, progress=progress)
    training = dict(metadata.get('training', {}))
    training[scene] = asdict(report)
    metadata['training'] = training
    metadata['train_config'] = asdict(config.train)
    size = save_memory(field.cpu(), out, metadata)
    resume_path.unlink(missing_ok=True)
    return {**asdict(report), 'out': str(out), 'bytes': size,
            'scenes': field.scene_names(), 'decoder_frozen': freeze_decoder}


def memory_config(steps: int | None = None, max_frames: int | None = None,
                  seed: int | None = None, device: str | None = None,
                  base: MemoryConfig | None = None) -> MemoryConfig:
    """The default (or given) config with command-line overrides applied."""
    config = base or MemoryConfig()
    changes: dict[str, Any] = {k: v for k, v in dict(steps=steps, max_frames=max_frames,
                                                     seed=seed, device=device).items()
                               if v is not None}
    return replace(config, train=replace(config.train, **changes))


__all__ = ['FrameSource', 'train_memory', 'memory_config']
