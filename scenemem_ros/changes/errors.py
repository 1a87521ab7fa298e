"""Errors of change detection."""

from scenemem_ros.errors import SceneMemError


class ChangeDetectionError(SceneMemError):
    """Bad input to the change detector (a malformed frame, a bad config, no base geometry)."""
