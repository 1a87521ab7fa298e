"""Errors raised by the encoder package."""

from scenemem_ros.errors import SceneMemError


class EncoderError(SceneMemError):
    """Bad encoder configuration or input (wrong shapes, empty frames, unknown device)."""


class EncoderCheckpointError(SceneMemError):
    """An encoder checkpoint is missing, corrupt, truncated or of another format or version."""
