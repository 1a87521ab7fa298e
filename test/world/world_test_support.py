"""Constants shared by the world tests (a uniquely named module, unlike ``conftest``)."""

from __future__ import annotations

import os

import pytest

from scenemem_ros.world import FurnitureConfig, WorldConfig
from scenemem_ros.world.config import DEFAULT_CATALOGUE_DIR

HAS_FURNITURE = bool(os.path.isdir(DEFAULT_CATALOGUE_DIR) and any(
    name.endswith('.sh3f') for name in os.listdir(DEFAULT_CATALOGUE_DIR)))
# The set-up (make) installs the furniture package; a test that needs it fails without it rather
# than hiding a missing install step behind a skip.
needs_furniture = pytest.mark.usefixtures('furniture_installed')
PRIMITIVES = WorldConfig(furniture=FurnitureConfig(source='primitives'))
