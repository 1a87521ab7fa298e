"""Shared worlds for the world tests, built once per session."""

from __future__ import annotations

import pytest
from world_test_support import HAS_FURNITURE, PRIMITIVES

from scenemem_ros.world import generate_world


@pytest.fixture(scope='session')
def primitive_world():
    """A primitive-only apartment (fast, needs no furniture package)."""
    return generate_world(3, PRIMITIVES)


@pytest.fixture(scope='session')
def furnished_world():
    """An apartment with Sweet Home 3D furniture."""
    assert HAS_FURNITURE, 'sweethome3d-furniture is not installed: run `make test` to set up'
    return generate_world(1)


@pytest.fixture(scope='session')
def furniture_installed():
    assert HAS_FURNITURE, 'sweethome3d-furniture is not installed: run `make test` to set up'
