"""The `audioguide` command: thin click commands over the library. Every library error becomes
one `Error:` line and exit code 1 in one place (app.Group.invoke).
"""

from .app import cli, main  # each command's module is imported when it is asked for (app.py)

__all__ = ["cli", "main"]
