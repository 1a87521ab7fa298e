"""Constants shared by the world tests (a uniquely named module, unlike ``conftest``)."""

from __future__ import annotations

import os

import pytest

from scenemem_ros.world import FurnitureConfig, WorldConfig
from scenemem_ros.world.config import DEFAULT_CATALOGUE_DIR

HAS_FURNITURE = bool(os.path.isdir(DEFAULT_CATALOGUE_DIR) and any(
    name.endswith('.sh3f') for name in os.listdir(DEFAULT_CATALOGUE_DIR)))
needs_furniture = pytest.mark.skipif(not HAS_FURNITURE,
                                     reason='sweethome3d-furniture is not installed')
PRIMITIVES = WorldConfig(furniture=FurnitureConfig(source='primitives'))
