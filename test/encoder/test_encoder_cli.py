"""``scenemem train encoder`` / ``scenemem eval encoder`` on the command line."""

import json

import pytest
import yaml
from encoder_test_support import tiny_config

from scenemem_ros.cli import main
from scenemem_ros.config import config_to_dict

REQUIRED_KEYS = {'chamfer_l1_mean_cm', 'chamfer_l1_median_cm', 'fscore_5cm',
                 'front_surface_share', 'fps_cpu'}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp('cli')
    config = folder / 'encoder.yaml'
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(steps=2))))
    out = folder / 'encoder.npz'
    assert main(['train', 'encoder', '--worlds', '2', '--clips-per-world', '1', '--primitives',
                 '--no-demo-scene', '--config', str(config), '--out', str(out), '--quiet',
                 '--json']) == 0
    return out


def test_train_prints_one_json_object(trained, capsys):
    assert trained.exists()


def test_eval_json_has_the_issue_keys(trained, capsys, tmp_path):
    capsys.readouterr()
    picture = tmp_path / 'slots.png'
    assert main(['eval', 'encoder', '--model', str(trained), '--worlds', '1',
                 '--frames-per-world', '1', '--refine-steps', '1', '--identity-clips', '1',
                 '--primitives', '--threads', '1', '--no-motorcycle', '--picture', str(picture),
                 '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    assert REQUIRED_KEYS <= set(result)
    assert result['fps_cpu'] > 0 and result['frames'] == 1
    assert REQUIRED_KEYS - {'fps_cpu'} <= set(result['refined'])
    assert 'identity_consistency' in result
    # synthetic frames know their true depth: the front share's floor is measured on them
    assert 0.0 <= result['front_surface_share_noise_floor'] <= 1.0
    assert 0.0 <= result['front_surface_share_true'] <= 1.0
    assert picture.stat().st_size > 10_000


def test_bad_checkpoint_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'nope')
    assert main(['eval', 'encoder', '--model', str(bad), '--json']) == 2
    assert 'corrupt or truncated' in capsys.readouterr().err
