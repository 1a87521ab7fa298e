"""The root of every error scenemem_ros raises on bad input.

Each sub-package defines its own errors (``geometry.errors``, ``data.errors``, ...) deriving from
``SceneMemError``; the CLI and the nodes catch this class to print one clear line instead of a
traceback.
"""


class SceneMemError(ValueError):
    """Bad input or state that a user can fix; the message says what and where."""
