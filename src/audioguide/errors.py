"""One family of errors; the CLI turns any of them into `Error: ...` and exit code 1."""


class AudioguideError(Exception):
    """Base class: the message is complete, user-facing and says what to do next.

    It is always one line: a newline or other control character in a value it quotes (a key, a
    file name, an engine's output) is shown escaped, as `\\n`, so it cannot break the line."""

    def __str__(self) -> str:
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in super().__str__())


class RoutineError(AudioguideError):
    """The routine file is malformed or asks for something impossible."""


class SoundError(AudioguideError):
    """A sound cannot be found or decoded."""


class VoiceError(AudioguideError):
    """The text-to-speech engine is missing, failed or gave a bad clip."""


class ExportError(AudioguideError):
    """The track cannot be encoded or written."""
