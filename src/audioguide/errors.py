"""One family of errors, each knowing where it happened; the CLI turns any of them into
`Error: ...` and exit code 1, formatting the location in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class Where:
    """A place in a user's file: for messages only, never compared (see model._where)."""

    file: str
    line: int = 0
    step: str = ""
    """The step's path in the routine, e.g. "3.2" for the second rep step of step 3."""

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: step {self.step}" if self.step else place


class AudioguideError(Exception):
    """Base class: the message is complete, user-facing and says what to do next; `where`, when
    known, is shown in front of it.

    It is always one line: a newline or other control character in a value it quotes (a key, a
    file name, an engine's output) is shown escaped, as `\\n`, so it cannot break the line."""

    def __init__(self, message: str, where: Where | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def at(self, where: Where | None) -> Self:
        """The same error located at `where`, unless it already knows a more precise place."""
        if self.where is not None or where is None:
            return self
        located = type(self)(self.message, where)
        located.__cause__ = self.__cause__
        return located

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        # Made again with its place, in another process (a pool, a Dask worker).
        return (type(self), (self.message, self.where))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class RoutineError(AudioguideError):
    """The routine file is malformed or asks for something impossible."""


class SoundError(AudioguideError):
    """A sound cannot be found or decoded."""


class VoiceError(AudioguideError):
    """The text-to-speech engine is missing, failed or gave a bad clip."""


class ExportError(AudioguideError):
    """The track cannot be encoded or written."""


class Problems(AudioguideError):
    """Several independent mistakes found at once (the bad rows of a clients file), so the user
    fixes them all in one go; the CLI prints one `Error:` line for each."""

    def __init__(self, errors: Sequence[AudioguideError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = tuple(errors)

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        # Made again from its errors, not its text, in another process (a pool, a Dask worker).
        return (type(self), (self.errors,))
