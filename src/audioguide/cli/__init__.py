"""The `audioguide` command: thin click commands over the library. Every library error becomes
one `Error:` line and exit code 1 in one place (app.Group.invoke).
"""

from . import cache, many, track  # noqa: F401  (each registers its commands on the group)
from .app import cli, main

__all__ = ["cli", "main"]
