"""One family of errors; the CLI turns any of them into `Error: ...` and exit code 1."""


class AudioguideError(Exception):
    """Base class: the message is complete, user-facing and says what to do next."""


class RoutineError(AudioguideError):
    """The routine file is malformed or asks for something impossible."""


class SoundError(AudioguideError):
    """A sound cannot be found or decoded."""


class VoiceError(AudioguideError):
    """The text-to-speech engine is missing, failed or gave a bad clip."""


class ExportError(AudioguideError):
    """The track cannot be encoded or written."""
