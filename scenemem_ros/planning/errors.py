"""Errors raised by the planning package."""

from scenemem_ros.errors import SceneMemError


class PlanningError(SceneMemError):
    """Invalid planning input: a malformed occupancy grid, config, start, goal or tolerance."""
