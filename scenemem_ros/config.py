"""Typed component configs from YAML.

Every component owns one frozen dataclass config. Parameter files follow Nav2's layout::

    scene_memory:
      ros__parameters:
        memory:            # one nested mapping per component
          resolution: 0.05

``config_from_dict`` builds a (possibly nested) dataclass from a mapping, refusing unknown keys
and wrong types with a message that names the field; ``load_component_config`` reads one
component's section of such a file. The ROS adapters map parameters onto the same dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from scenemem_ros.errors import SceneMemError

ConfigT = TypeVar('ConfigT')


class ConfigError(SceneMemError):
    """A config file or mapping does not fit its dataclass."""


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError('; '.join(errors))
    if typing.Literal is origin:
        if value not in args:
            raise ConfigError(f'{where}: {value!r} is not one of {list(args)}')
        return value
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f'{where}: expected a mapping, got {value!r}')
        return config_from_dict(annotation, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f'{where}: expected {len(args)} items, got {len(value)}')
            return tuple(_coerce(item, item_type, f'{where}[{index}]')
                         for index, (item, item_type) in enumerate(zip(value, args, strict=False)))
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, f'{where}[{i}]') for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f'{where}: expected a number, got {value!r}')
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{where}: expected an integer, got {value!r}')
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{where}: expected true or false, got {value!r}')
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f'{where}: expected a string, got {value!r}')
        return value
    if isinstance(annotation, type) and not isinstance(value, annotation):
        try:
            return annotation(value)
        except (TypeError, ValueError) as error:
            raise ConfigError(f'{where}: cannot make {annotation.__name__} of {value!r}') \
                from error
    return value


def config_from_dict(cls: type[ConfigT], values: Mapping[str, Any], where: str = '') -> ConfigT:
    """Build dataclass ``cls`` from ``values``; unspecified fields keep their defaults."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f'{cls!r} is not a dataclass')
    prefix = f'{where}.' if where else f'{cls.__name__}.'
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f'{prefix.rstrip(".")}: unknown key(s) {unknown}; '
                          f'known: {sorted(known)}')
    kwargs = {name: _coerce(value, hints[name], prefix + name) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f'{prefix.rstrip(".")}: {error}') from error


def config_to_dict(config: Any) -> dict[str, Any]:
    """Inverse of ``config_from_dict``: a plain YAML/JSON-ready mapping (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if hasattr(value, 'value') and hasattr(value, 'name'):  # enums
            return value.value
        return value

    result = plain(config)
    assert isinstance(result, dict)
    return result


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f'cannot read config file {path}: {error.strerror}') from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f'{path} is not valid YAML: {error}') from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping at the top level')
    return data


def load_component_config(cls: type[ConfigT], path: str | Path, node: str,
                          component: str) -> ConfigT:
    """Read ``node: ros__parameters: component: {...}`` from a Nav2-style file into ``cls``."""
    data = read_yaml(path)
    section = data.get(node, {}).get('ros__parameters', {}).get(component, {})
    return config_from_dict(cls, section, f'{node}.{component}')
