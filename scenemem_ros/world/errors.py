"""Errors raised by the world package."""

from scenemem_ros.errors import SceneMemError


class WorldError(SceneMemError):
    """Invalid world input: bad seeds or configs, unknown change kinds, missing furniture data."""
