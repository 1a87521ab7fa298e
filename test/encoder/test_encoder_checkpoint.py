"""Encoder checkpoints: round trip, and refusal of damaged or foreign files."""

import json

import numpy as np
import pytest
import torch
from encoder_test_support import TINY_MODEL, tiny_config

from scenemem_ros.encoder.checkpoint import load_encoder, read_header, save_encoder
from scenemem_ros.encoder.config import EncoderConfig
from scenemem_ros.encoder.errors import EncoderCheckpointError, EncoderError
from scenemem_ros.encoder.model import SlotEncoder


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = SlotEncoder(TINY_MODEL)
    path = tmp_path / 'encoder.npz'
    size = save_encoder(model, tiny_config(), path, step=7, metadata={'note': 'x'})
    assert size == path.stat().st_size
    return model, path


def test_round_trip_keeps_weights_config_and_step(saved):
    model, path = saved
    loaded, config, info = load_encoder(path)
    assert config == tiny_config()
    assert info == {'step': 7, 'metadata': {'note': 'x'}}
    assert not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, msg=name)
    depth = torch.rand(1, 24, 32) + 1
    intrinsics = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    model.eval()
    torch.testing.assert_close(model(depth, intrinsics).vertices,
                               loaded(depth, intrinsics).vertices)
    assert read_header(path)['step'] == 7


def test_truncated_garbage_and_missing_files_are_refused(saved, tmp_path):
    _, path = saved
    payload = path.read_bytes()
    for name, data in (('truncated.npz', payload[:len(payload) // 2]),
                       ('garbage.npz', b'not a checkpoint'), ('empty.npz', b'')):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(EncoderCheckpointError, match='corrupt or truncated'):
            load_encoder(tmp_path / name)
    with pytest.raises(EncoderCheckpointError, match='does not exist'):
        load_encoder(tmp_path / 'missing.npz')


def test_a_flipped_byte_is_caught(saved, tmp_path):
    _, path = saved
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 3] ^= 0xFF
    damaged = tmp_path / 'flipped.npz'
    damaged.write_bytes(bytes(payload))
    with pytest.raises(EncoderCheckpointError, match='corrupt'):
        load_encoder(damaged)


def rewrite(path, change):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(bytes(arrays['header']).decode())
    change(header, arrays)
    arrays['header'] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_other_formats_versions_and_configs_are_refused(saved):
    _, path = saved
    rewrite(path, lambda header, _: header.update(version=99))
    with pytest.raises(EncoderCheckpointError, match='version 99'):
        load_encoder(path)
    rewrite(path, lambda header, _: header.update(version=1, format='scenemem-memory'))
    with pytest.raises(EncoderCheckpointError, match='not a scenemem encoder'):
        load_encoder(path)
    rewrite(path, lambda header, _: header.update(format='scenemem-encoder'))
    rewrite(path, lambda header, _: header['config']['model'].update(num_prototypes=5))
    with pytest.raises(EncoderCheckpointError, match='weights do not match'):
        load_encoder(path)
    rewrite(path, lambda header, _: header['config']['model'].update(colour='red'))
    with pytest.raises(EncoderCheckpointError, match='config does not fit'):
        load_encoder(path)


def test_saving_refuses_a_model_of_another_config(tmp_path):
    with pytest.raises(EncoderError, match='another SlotEncoderConfig'):
        save_encoder(SlotEncoder(TINY_MODEL), EncoderConfig(), tmp_path / 'x.npz')


def test_a_checkpoint_from_before_anchor_frame_translation_keeps_camera_translation(saved):
    _, path = saved
    assert load_encoder(path)[1].model.translation_frame == 'anchor'
    rewrite(path, lambda header, _: [header['config']['model'].pop(key) for key in
                                     ('translation_frame', 'cluster_normal_weight')])
    model, config, _ = load_encoder(path)
    assert config.model.translation_frame == 'camera'
    assert model.config.translation_frame == 'camera'
    assert model.config.cluster_normal_weight == 0.0  # 3D-only k-means, as it was trained
