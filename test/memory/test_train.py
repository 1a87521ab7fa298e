"""Fitting a scene: convergence, determinism, resuming, adding scenes."""

import numpy as np
import pytest
import torch

from scenemem_ros.memory.config import FieldConfig, TrainConfig
from scenemem_ros.memory.errors import CheckpointError, MemoryModelError
from scenemem_ros.memory.field import SceneMemoryField
from scenemem_ros.memory.train import fit_scene, resolve_device

SMALL = FieldConfig(level_resolutions=(0.4, 0.2), features_per_level=2, decoder_hidden=8)


def quick(steps=6, **kw):
    values = dict(steps=steps, rays_per_step=256, rays_per_frame=500, device='cpu', seed=3,
                  checkpoint_every=0)
    values.update(kw)
    return TrainConfig(**values)


def grids(field):
    return [p.detach().clone() for p in field.parameters()]


def test_the_fit_learns_the_room(trained_room, box_room_frames):
    field, report = trained_room
    assert report.frames_selected == len(box_room_frames) and report.steps == 250
    surface = np.concatenate([f.world_points()[::40] for f in box_room_frames])
    distance = field.signed_distance('room', torch.from_numpy(surface)).abs()
    assert float(distance.median()) < 0.02
    free = torch.tensor([[1.0, 0.8, 1.2], [3.0, 2.2, 1.5], [2.0, 1.3, 1.5], [0.6, 2.4, 0.6]])
    assert (field.signed_distance('room', free) > 0.05).all()
    probability = field.occupancy_probability('room', torch.tensor([[2.0, 1.3, 0.74]]))
    assert 0.0 <= float(probability) <= 1.0


def test_equal_seeds_give_equal_models(box_room_frames):
    first, second = SceneMemoryField(SMALL), SceneMemoryField(SMALL)
    second.load_state_dict(first.state_dict())
    fit_scene(first, 'room', box_room_frames[:4], quick(), progress=False)
    fit_scene(second, 'room', box_room_frames[:4], quick(), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(grids(first), grids(second), strict=True))


def test_an_interrupted_fit_resumes_to_the_same_model(box_room_frames, tmp_path, monkeypatch):
    torch.manual_seed(1)
    reference = SceneMemoryField(SMALL)
    initial_state = {k: v.clone() for k, v in reference.state_dict().items()}
    fit_scene(reference, 'room', box_room_frames[:4], quick(steps=10), progress=False)

    resume = tmp_path / 'memory.npz.resume.pt'
    interrupted = SceneMemoryField(SMALL)
    interrupted.load_state_dict(initial_state)
    calls = {'n': 0}
    original_step = torch.optim.Adam.step

    def failing_step(self, *args, **kwargs):
        calls['n'] += 1
        if calls['n'] == 7:
            raise KeyboardInterrupt
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, 'step', failing_step)
    with pytest.raises(KeyboardInterrupt):
        fit_scene(interrupted, 'room', box_room_frames[:4],
                  quick(steps=10, checkpoint_every=4), resume_path=resume, progress=False)
    monkeypatch.setattr(torch.optim.Adam, 'step', original_step)
    assert resume.exists()
    resumed = SceneMemoryField(SMALL)
    resumed.load_state_dict(initial_state)
    fit_scene(resumed, 'room', box_room_frames[:4], quick(steps=10, checkpoint_every=4),
              resume_path=resume, progress=False)
    for a, b in zip(grids(reference), grids(resumed), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_resume_file_of_another_scene_is_refused(box_room_frames, tmp_path):
    resume = tmp_path / 'r.pt'
    field = SceneMemoryField(SMALL)
    fit_scene(field, 'room', box_room_frames[:2], quick(steps=4, checkpoint_every=2),
              resume_path=resume, progress=False)
    assert resume.exists()
    with pytest.raises(CheckpointError, match='belongs to scene'):
        fit_scene(SceneMemoryField(SMALL), 'other', box_room_frames[:2],
                  quick(steps=4, checkpoint_every=2), resume_path=resume, progress=False)
    resume.write_bytes(b'garbage')
    with pytest.raises(CheckpointError, match='unreadable'):
        fit_scene(SceneMemoryField(SMALL), 'room', box_room_frames[:2], quick(steps=4),
                  resume_path=resume, progress=False)


def test_adding_a_scene_with_a_frozen_decoder_keeps_the_first(box_room_frames):
    field = SceneMemoryField(SMALL)
    fit_scene(field, 'first', box_room_frames[:3], quick(), progress=False)
    probe = torch.rand(64, 3) * 3
    before = field.signed_distance('first', probe)
    fit_scene(field, 'second', box_room_frames[3:6], quick(), freeze_decoder=True,
              progress=False)
    assert torch.equal(field.signed_distance('first', probe), before)
    assert field.scene_names() == ['first', 'second']


def test_bad_requests_are_refused(box_room_frames):
    with pytest.raises(MemoryModelError, match='unknown scene'):
        SceneMemoryField(SMALL).signed_distance('nowhere', torch.zeros(1, 3))
    with pytest.raises(MemoryModelError, match='scene name'):
        SceneMemoryField(SMALL).add_scene('bad name!', np.zeros(3), np.ones(3))
    with pytest.raises(MemoryModelError, match='steps must be >= 1'):
        TrainConfig(steps=0)
    if not torch.cuda.is_available():
        with pytest.raises(MemoryModelError, match='CUDA is not available'):
            resolve_device('cuda')
    assert resolve_device('auto').type in ('cpu', 'cuda')
