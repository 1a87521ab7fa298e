"""Errors raised by the memory package."""

from scenemem_ros.errors import SceneMemError


class MemoryModelError(SceneMemError):
    """Bad memory configuration or query (unknown scene, empty box, bad resolution)."""


class CheckpointError(SceneMemError):
    """A checkpoint is missing, corrupt, truncated or of another format or version."""


class JournalError(SceneMemError):
    """An override journal cannot be opened or written."""
