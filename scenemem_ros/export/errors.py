"""Errors raised by the export package."""

from scenemem_ros.errors import SceneMemError


class ExportError(SceneMemError):
    """An export that cannot be made or read: bad settings, unusable frames, malformed files."""
