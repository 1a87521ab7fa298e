"""ROS parameters <-> config dataclasses.

Every field of a component's frozen dataclass becomes a parameter ``<prefix>.<field>`` (Nav2
style nesting: ``node: ros__parameters: <prefix>: {field: value}``) declared with a descriptor
(its documented meaning, and a range where one is given). Later changes are validated by building
the dataclass again: a value it rejects is refused with its message.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

ConfigT = TypeVar('ConfigT')


def _field_docs(cls: type) -> dict[str, str]:
    """Per-field text from the dataclass's 'Attributes:' docstring section."""
    docs: dict[str, str] = {}
    current: list[str] = []
    for line in (cls.__doc__ or '').splitlines():
        match = re.match(r'\s{4,8}([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*):\s*(.*)', line)
        if match:
            current = [name.strip() for name in match.group(1).split(',')]
            for name in current:
                docs[name] = match.group(2)
        elif current and line.strip():
            for name in current:
                docs[name] += ' ' + line.strip()
    return docs


def _descriptor(name: str, annotation: Any, doc: str,
                value_range: tuple[float, float] | None) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(name=name, description=doc)
    if value_range is not None:
        low, high = value_range
        if annotation is int:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=0)]
        elif annotation is float:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                                  to_value=float(high),
                                                                  step=0.0)]
    return descriptor


def declare_config(node: Node, prefix: str, config: Any,
                   ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Declare one parameter per field of ``config`` with its current value as default."""
    ranges = ranges or {}
    hints = typing.get_type_hints(type(config))
    docs = _field_docs(type(config))
    for field in dataclasses.fields(config):
        name = f'{prefix}.{field.name}'
        value = getattr(config, field.name)
        if isinstance(value, tuple):
            value = list(value)
        node.declare_parameter(name, value, _descriptor(name, hints[field.name],
                                                        docs.get(field.name, ''),
                                                        ranges.get(field.name)))


def read_config(node: Node, prefix: str, cls: type[ConfigT]) -> ConfigT:
    """Build ``cls`` from the node's current parameters (raises the dataclass's own errors)."""
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = node.get_parameter(f'{prefix}.{field.name}').value
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def validating_callback(node: Node, prefixes: Mapping[str, type]
                        ) -> Callable[[list[Parameter]], SetParametersResult]:
    """An on-set-parameters callback that refuses values the config dataclasses reject."""

    def check(parameters: list[Parameter]) -> SetParametersResult:
        for prefix, cls in prefixes.items():
            changed = {p.name[len(prefix) + 1:]: p.value for p in parameters
                       if p.name.startswith(prefix + '.')}
            if not changed:
                continue
            values = {}
            for field in dataclasses.fields(cls):
                value = changed.get(field.name, node.get_parameter(f'{prefix}.{field.name}').value)
                values[field.name] = tuple(value) if isinstance(value, list) else value
            try:
                cls(**values)
            except (TypeError, ValueError) as error:
                return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    return check
