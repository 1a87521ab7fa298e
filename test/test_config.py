"""YAML -> typed config dataclasses."""

from dataclasses import dataclass, field

import pytest

from scenemem_ros.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_component_config,
)


@dataclass(frozen=True)
class InnerConfig:
    radius: float = 0.2
    name: str = 'inner'

    def __post_init__(self) -> None:
        if self.radius <= 0:
            raise ValueError(f'InnerConfig.radius must be > 0, got {self.radius}')


@dataclass(frozen=True)
class OuterConfig:
    count: int = 3
    enabled: bool = True
    size: tuple[float, float] = (1.0, 2.0)
    inner: InnerConfig = field(default_factory=InnerConfig)
    label: str | None = None


def test_nested_values_and_defaults():
    config = config_from_dict(OuterConfig, {'count': 5, 'inner': {'radius': 1}})
    assert config == OuterConfig(count=5, inner=InnerConfig(radius=1.0))
    assert isinstance(config.inner.radius, float)


def test_round_trip_through_plain_dict():
    config = OuterConfig(count=7, size=(3.0, 4.0), label='x')
    assert config_from_dict(OuterConfig, config_to_dict(config)) == config


@pytest.mark.parametrize('values, message', [
    ({'cuont': 1}, "unknown key(s) ['cuont']"),
    ({'count': 1.5}, 'OuterConfig.count: expected an integer'),
    ({'enabled': 'yes'}, 'OuterConfig.enabled: expected true or false'),
    ({'size': [1.0]}, 'OuterConfig.size: expected 2 items'),
    ({'inner': {'radius': -1.0}}, 'radius must be > 0, got -1.0'),
])
def test_bad_values_name_the_field(values, message):
    with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(']', r'\]')
                       .replace('(', r'\(').replace(')', r'\)')):
        config_from_dict(OuterConfig, values)


def test_nav2_style_file(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('node_a:\n  ros__parameters:\n    outer:\n      count: 9\n')
    assert load_component_config(OuterConfig, path, 'node_a', 'outer').count == 9
    assert load_component_config(OuterConfig, path, 'node_b', 'outer') == OuterConfig()
    (tmp_path / 'bad.yaml').write_text('a: [1,\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_component_config(OuterConfig, tmp_path / 'bad.yaml', 'node_a', 'outer')
    with pytest.raises(ConfigError, match='cannot read config file'):
        load_component_config(OuterConfig, tmp_path / 'missing.yaml', 'node_a', 'outer')
