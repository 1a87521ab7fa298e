"""Fixtures of the export tests (helpers live in export_fixtures.py)."""

import pytest
from export_fixtures import room_frames

from scenemem_ros.data.frame import Sequence


@pytest.fixture
def frames() -> Sequence:
    """Six exactly rendered 80x60 depth frames of a 6 x 5 x 2.5 m box room."""
    return room_frames()
