# mutagen ships py.typed but leaves its frame constructors unannotated.
# mypy: disable-error-code="no-untyped-call"
"""ID3 tags and chapters: title, artist, album, comment, cover, and CHAP frames under an ordered,
top-level CTOC (ID3v2 Chapter Frame Addendum 1.0), written with mutagen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mutagen import MutagenError
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TIT2,
    TPE1,
    TRCK,
    TSSE,
    CTOCFlags,
    Encoding,
    PictureType,
)
from mutagen.id3._tags import save_frame

from ..audio import SAMPLE_RATE
from ..cues import Chapter
from ..files import write_error
from ..text import UNSAFE, one_line

NO_OFFSET: Final = 0xFFFFFFFF
"""CHAP byte offsets unused: players go by the times (ID3v2 Chapter Frame Addendum 1.0)."""
ID3_VERSION: Final = 3
"""ID3v2.3: the version every player reads."""
TEXT_ENCODING: Final = Encoding.UTF16
"""v2.3 knows only Latin-1 and UTF-16."""


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str = ""
    album: str = ""
    genre: str = "Health & Fitness"
    comment: str = ""
    track: str = ""
    """Track number as "n/total" (TRCK), for the files of a split track."""
    cover: bytes = b""
    """Front cover (APIC), PNG or JPEG: players show it, and people pick a track by it."""
    language: str = "en"
    """The track's language (ISO 639-1), which the comment is in."""


class _InOrderID3(ID3):
    """ID3 that writes frames in the order they were added.

    mutagen sorts frames by size, which scrambles the CHAP frames; ffmpeg 5.1 (so mpv and other
    libavformat players) lists chapters in file order whatever the CTOC says (measured)."""

    def _write(self, config: Any) -> bytes:
        return b"".join(save_frame(frame, config=config) for frame in self.values())


def write_tags(
    part: Path, tags: Tags, chapters: Sequence[Chapter], encoded_by: str, path: Path
) -> None:
    id3 = _InOrderID3()
    id3.add(_title(tags.title))
    for text_frame, value in ((TPE1, tags.artist), (TALB, tags.album), (TCON, tags.genre)):
        if value:
            id3.add(text_frame(encoding=TEXT_ENCODING, text=one_line(value)))
    if tags.comment:
        text = _NOT_IN_ID3.sub("", tags.comment)
        id3.add(COMM(encoding=TEXT_ENCODING, lang=id3_language(tags.language), desc="", text=text))
    id3.add(TSSE(encoding=TEXT_ENCODING, text=encoded_by))
    if tags.track:
        id3.add(TRCK(encoding=TEXT_ENCODING, text=tags.track))
    if tags.cover:
        id3.add(
            APIC(
                encoding=TEXT_ENCODING,
                mime="image/png" if tags.cover.startswith(b"\x89PNG") else "image/jpeg",
                type=PictureType.COVER_FRONT,
                desc="Cover",
                data=tags.cover,
            )
        )
    for frame in _chapter_frames(tags.title, chapters):
        id3.add(frame)
    try:
        id3.update_to_v23()
        id3.save(part, v1=0, v2_version=ID3_VERSION)
    except (OSError, MutagenError) as e:
        raise write_error(path, _os_error(e)) from None


def _chapter_frames(title: str, chapters: Sequence[Chapter]) -> list[CHAP | CTOC]:
    """One CHAP per chapter, listed by a top-level, ordered CTOC (Chapter Frame Addendum 1.0)."""
    if not chapters:
        return []
    ids = [f"chp{i}" for i in range(len(chapters))]
    toc = CTOC(
        element_id="toc",
        flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
        child_element_ids=ids,
        sub_frames=[_title(title)],
    )
    return [
        toc,
        *(
            CHAP(
                element_id=element_id,
                start_time=_ms(c.start_sample),
                end_time=_ms(c.end_sample),
                start_offset=NO_OFFSET,
                end_offset=NO_OFFSET,
                sub_frames=[_title(c.title)],
            )
            for element_id, c in zip(ids, chapters, strict=True)
        ),
    ]


def _title(text: str) -> TIT2:
    return TIT2(encoding=TEXT_ENCODING, text=one_line(text))


def id3_language(language: str) -> str:
    """The ISO 639-2 code ID3 names a comment's language with ("fr" -> "fra"); "und"
    (undetermined) for a language not listed."""
    return _ISO_639_2.get(language.split("-")[0].lower(), "und")


_ISO_639_2: Final = {"en": "eng", "es": "spa", "de": "deu", "fr": "fra"}
"""ISO 639-2's terminological (T) codes, which are also ISO 639-3's: "deu" and "fra", not the
bibliographic "ger" and "fre"."""
_NOT_IN_ID3: Final = re.compile(f"{UNSAFE.pattern}|\r")
"""What a comment may not hold: mutagen splits a text frame's value at NUL into several (an
album in two), and players show the other controls as boxes. Line breaks stay, as LF."""


def _ms(sample: int) -> int:
    """Samples to whole milliseconds, half up, in integers so no float error creeps in."""
    return (sample * 1000 + SAMPLE_RATE // 2) // SAMPLE_RATE


def _os_error(error: Exception) -> OSError:
    """The OSError behind an error: mutagen wraps the one it hit in its own MutagenError."""
    for candidate in (error, *error.args, error.__cause__, error.__context__):
        if isinstance(candidate, OSError):
            return candidate
    return OSError(str(error))
