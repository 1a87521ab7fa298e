"""Errors raised by the data package."""

from scenemem_ros.errors import SceneMemError


class DataError(SceneMemError):
    """Invalid or unreadable data: malformed frames, bags or dataset files."""
