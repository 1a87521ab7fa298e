"""Errors raised by the geometry package."""

from scenemem_ros.errors import SceneMemError


class GeometryError(SceneMemError):
    """Invalid geometric input: wrong shapes, non-finite intrinsics, bad rotations."""
