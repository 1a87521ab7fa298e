"""Frame files: a FrameBank written by --save-frames and trained on with --frames."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from encoder_test_support import tiny_config

from scenemem_ros.cli import main
from scenemem_ros.config import config_to_dict
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.frame_file import (
    depth_to_millimetres,
    load_frame_bank,
    millimetres_to_depth,
    save_frame_bank,
)
from scenemem_ros.encoder.train import FrameBank


def small_bank(frames: int = 6, height: int = 12, width: int = 16) -> FrameBank:
    generator = torch.Generator().manual_seed(0)
    depth = 0.5 + 4 * torch.rand(frames, height, width, generator=generator)
    depth[0, 0, 0] = float('nan')
    depth[1, 2, 3] = 0.0
    intrinsics = torch.tensor([[20.0, 0, 8], [0, 20, 6], [0, 0, 1]]).expand(frames, 3, 3)
    poses = torch.eye(4).expand(frames, 4, 4).clone()
    poses[:, 0, 3] = torch.arange(frames, dtype=torch.float32)
    return FrameBank(depth, intrinsics.clone(), poses, torch.tensor([[0, 1, 2], [3, 4, 5]]))


def test_round_trip_keeps_frames_to_the_millimetre(tmp_path):
    bank = small_bank()
    path = tmp_path / 'frames.npz'
    assert save_frame_bank(bank, path) == path.stat().st_size
    loaded = load_frame_bank(path)
    assert loaded.depth.shape == bank.depth.shape
    valid = torch.isfinite(bank.depth) & (bank.depth > 0)
    assert torch.equal(torch.isfinite(loaded.depth), valid)
    assert (loaded.depth[valid] - bank.depth[valid]).abs().max() <= 0.0005 + 1e-6
    assert torch.equal(loaded.intrinsics, bank.intrinsics)
    assert torch.equal(loaded.camera_to_world, bank.camera_to_world)
    assert torch.equal(loaded.clips, bank.clips)


def test_round_trip_keeps_the_true_depth_targets(tmp_path):
    bank = small_bank()
    assert load_frame_bank(_saved(bank, tmp_path / 'a.npz')).target_depth is None
    truth = bank.depth + 0.01
    with_truth = FrameBank(bank.depth, bank.intrinsics, bank.camera_to_world, bank.clips, truth)
    loaded = load_frame_bank(_saved(with_truth, tmp_path / 'b.npz'))
    assert loaded.target_depth is not None
    valid = torch.isfinite(truth) & (truth > 0)
    assert (loaded.target_depth[valid] - truth[valid]).abs().max() <= 0.0005 + 1e-6
    with pytest.raises(EncoderError, match='target_depth'):
        FrameBank(bank.depth, bank.intrinsics, bank.camera_to_world, bank.clips, truth[:, :5])


def _saved(bank: FrameBank, path):
    save_frame_bank(bank, path)
    return path


def test_millimetres_clip_and_mark_invalid():
    depth = np.array([[[np.nan, -1.0, 0.0, 1.2344, 70.0, np.inf]]])
    millimetres = depth_to_millimetres(depth)
    assert millimetres.tolist() == [[[0, 0, 0, 1234, 65535, 0]]]
    back = millimetres_to_depth(millimetres)
    assert np.isnan(back[0, 0, :3]).all() and back[0, 0, 3] == pytest.approx(1.234)


@pytest.mark.parametrize('payload', [b'', b'not a zip', b'PK\x03\x04 truncated'])
def test_unreadable_files_are_clear_errors(tmp_path, payload):
    path = tmp_path / 'bad.npz'
    path.write_bytes(payload)
    with pytest.raises(EncoderError, match='not a readable frame file'):
        load_frame_bank(path)


def test_missing_file_and_wrong_format_are_clear_errors(tmp_path):
    with pytest.raises(EncoderError, match='does not exist'):
        load_frame_bank(tmp_path / 'absent.npz')
    path = tmp_path / 'old.npz'
    np.savez(path, format=np.int64(99), depth_mm=np.zeros((1, 2, 2), np.uint16),
             intrinsics=np.eye(3)[None], camera_to_world=np.eye(4)[None],
             clips=np.zeros((0, 3), np.int64))
    with pytest.raises(EncoderError,
                       match=r'old.npz: frame file format 99, this version reads 1$'):
        load_frame_bank(path)


def test_save_frames_then_train_from_them(tmp_path, capsys):
    config = tmp_path / 'encoder.yaml'
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(steps=2))))
    frames = tmp_path / 'frames.npz'
    assert main(['train', 'encoder', '--worlds', '1', '--clips-per-world', '1', '--primitives',
                 '--no-demo-scene', '--config', str(config), '--save-frames', str(frames),
                 '--json']) == 0
    written = json.loads(capsys.readouterr().out)
    assert written['frames'] == 3 and written['clips'] == 1 and frames.exists()
    out = tmp_path / 'encoder.npz'
    assert main(['train', 'encoder', '--frames', str(frames), '--config', str(config),
                 '--out', str(out), '--quiet', '--json']) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained['data'] == {'frames': str(frames)} and trained['frames'] == 3
    assert out.exists()


def test_frames_of_another_size_are_refused(tmp_path, capsys):
    config = tmp_path / 'encoder.yaml'
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(steps=1))))
    frames = tmp_path / 'frames.npz'
    save_frame_bank(small_bank(height=10, width=10), frames)
    assert main(['train', 'encoder', '--frames', str(frames), '--config', str(config),
                 '--out', str(tmp_path / 'x.npz'), '--quiet']) == 2
    assert 'the model takes' in capsys.readouterr().err


def test_training_from_frames_never_imports_open3d(tmp_path):
    """The GPU-box path: only torch (and numpy/scipy) are needed to train from a frame file."""
    config = tmp_path / 'encoder.yaml'
    tiny = tiny_config(steps=1)
    config.write_text(yaml.safe_dump(config_to_dict(tiny)))
    frames = tmp_path / 'frames.npz'
    save_frame_bank(small_bank(height=tiny.model.input_height,
                               width=tiny.model.input_width), frames)
    script = ('import sys\n'
              'from scenemem_ros.cli import main\n'
              f'status = main(["train", "encoder", "--frames", {str(frames)!r}, "--config", '
              f'{str(config)!r}, "--out", {str(tmp_path / "e.npz")!r}, "--quiet"])\n'
              'assert status == 0, status\n'
              'loaded = sorted(m for m in sys.modules if m.split(".")[0] in '
              '("open3d", "rclpy", "rosbags", "matplotlib"))\n'
              'print(loaded)\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '[]'
