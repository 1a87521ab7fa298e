"""Training: 2-step smoke runs, checkpoints that load, resuming, phase two, DDP on gloo."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from encoder_test_support import TINY_MODEL, TINY_SPEC, tiny_config

from scenemem_ros.config import config_to_dict
from scenemem_ros.encoder.checkpoint import load_encoder
from scenemem_ros.encoder.errors import EncoderCheckpointError, EncoderError
from scenemem_ros.encoder.model import SlotEncoder
from scenemem_ros.encoder.train import FrameBank, fit_encoder, learning_rate_factor
from scenemem_ros.training.encoder_jobs import train_encoder


def test_two_steps_write_a_checkpoint_that_loads(tmp_path):
    out = tmp_path / 'encoder.npz'
    summary = train_encoder(out, tiny_config(steps=2), spec=TINY_SPEC, progress=False)
    assert summary['steps'] == 2 and summary['first_step'] == 0
    assert summary['frames'] == 6 and summary['clips'] == 2
    assert set(summary['losses']) >= {'chamfer', 'front', 'total'}
    model, config, info = load_encoder(out)
    assert config == tiny_config(steps=2)
    assert info['step'] == 2
    assert info['metadata']['training']['steps'] == 2
    assert not out.with_name(out.name + '.resume.pt').exists()
    depth = torch.rand(1, 24, 32) + 1
    intrinsics = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    assert torch.isfinite(model(depth, intrinsics).vertices).all()


def test_resume_continues_the_step_count(tmp_path):
    out = tmp_path / 'encoder.npz'
    train_encoder(out, tiny_config(steps=2), spec=TINY_SPEC, progress=False)
    summary = train_encoder(out, tiny_config(steps=4), spec=TINY_SPEC, resume=True,
                            progress=False)
    assert summary['first_step'] == 2 and summary['steps'] == 4
    assert load_encoder(out)[2]['step'] == 4


def test_an_interrupted_run_resumes_exactly(tiny_bank, tmp_path):
    resume = tmp_path / 'state.resume.pt'
    torch.manual_seed(0)
    straight = SlotEncoder(TINY_MODEL)
    fit_encoder(straight, tiny_bank, tiny_config(steps=3), progress=False)
    torch.manual_seed(0)
    first = SlotEncoder(TINY_MODEL)
    fit_encoder(first, tiny_bank, tiny_config(steps=2), resume_path=resume, progress=False)
    second = SlotEncoder(TINY_MODEL)  # another process would start from scratch
    report = fit_encoder(second, tiny_bank, tiny_config(steps=3), resume_path=resume,
                         progress=False)
    assert report.first_step == 2 and report.steps == 3
    for (name, a), (_, b) in zip(straight.state_dict().items(), second.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_a_damaged_resume_file_is_refused(tiny_bank, tmp_path):
    resume = tmp_path / 'state.resume.pt'
    fit_encoder(SlotEncoder(TINY_MODEL), tiny_bank, tiny_config(steps=1), resume_path=resume,
                progress=False)
    resume.write_bytes(resume.read_bytes()[:100])
    with pytest.raises(EncoderCheckpointError, match='corrupt or truncated'):
        fit_encoder(SlotEncoder(TINY_MODEL), tiny_bank, tiny_config(steps=2),
                    resume_path=resume, progress=False)


def test_phase_two_trains_on_clips_with_temporal_losses(tiny_bank):
    report = fit_encoder(SlotEncoder(TINY_MODEL), tiny_bank,
                         tiny_config(steps=1, sequence_steps=2), progress=False)
    assert report.steps == 3
    assert {'prototype_change', 'acceleration'} <= set(report.losses)
    with pytest.raises(EncoderError, match='clips'):
        no_clips = FrameBank(tiny_bank.depth, tiny_bank.intrinsics, tiny_bank.camera_to_world)
        fit_encoder(SlotEncoder(TINY_MODEL), no_clips, tiny_config(steps=1, sequence_steps=1),
                    progress=False)


def test_losses_compare_slots_with_the_true_depth_when_the_bank_has_it(tiny_bank):
    shifted = FrameBank(tiny_bank.depth, tiny_bank.intrinsics, tiny_bank.camera_to_world,
                        tiny_bank.clips, tiny_bank.depth + 0.5)  # a "truth" 0.5 m farther

    def chamfer(bank, **train):
        torch.manual_seed(0)
        report = fit_encoder(SlotEncoder(TINY_MODEL), bank, tiny_config(steps=1,
                             sequence_steps=0, **train), progress=False)
        return report.losses['chamfer']

    plain = chamfer(tiny_bank)
    assert chamfer(shifted) > plain + 0.1
    assert chamfer(shifted, true_depth_targets=False) == pytest.approx(plain)


def test_learning_rate_warms_up_then_decays():
    factors = [learning_rate_factor(step, 1000) for step in range(1000)]
    assert factors[0] < factors[49] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.05, abs=0.01)


def _free_port() -> int:
    with socket.socket() as handle:
        handle.bind(('127.0.0.1', 0))
        return handle.getsockname()[1]


def test_ddp_on_two_cpu_processes_with_gloo(tmp_path):
    config = tmp_path / 'encoder.yaml'
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(steps=2))))
    out = tmp_path / 'encoder.npz'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MASTER_ADDR': '127.0.0.1'}
    command = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1',
               '--nproc-per-node', '2', '--master-addr', '127.0.0.1',
               '--master-port', str(_free_port()), '-m', 'scenemem_ros.cli', 'train', 'encoder',
               '--worlds', '2', '--clips-per-world', '1', '--primitives', '--no-demo-scene',
               '--config', str(config), '--out', str(out), '--quiet', '--json']
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads(chunk) for chunk in _json_objects(result.stdout)]
    assert len(summaries) == 2  # one per rank
    assert {s['world_size'] for s in summaries} == {2}
    assert sum('bytes' in s for s in summaries) == 1  # only rank 0 writes
    _, _, info = load_encoder(out)
    assert info['step'] == 2 and info['metadata']['training']['world_size'] == 2


def _json_objects(text: str) -> list[str]:
    objects, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == '{':
            if depth == 0:
                start = index
            depth += 1
        elif char == '}':
            depth -= 1
            if depth == 0:
                objects.append(text[start:index + 1])
    return objects
