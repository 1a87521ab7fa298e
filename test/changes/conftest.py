"""Fixtures for change-detection tests (the scenes live in change_scenes.py)."""

from __future__ import annotations

import pytest
from change_scenes import apartment, base_from_mesh

from scenemem_ros.changes import BaseGeometry, ChangeDetectorConfig


@pytest.fixture(scope='session')
def detector_config() -> ChangeDetectorConfig:
    return ChangeDetectorConfig()


@pytest.fixture(scope='session')
def base(detector_config) -> BaseGeometry:
    return base_from_mesh(apartment(), detector_config)
