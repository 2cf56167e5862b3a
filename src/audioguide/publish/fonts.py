"""Which face draws each letter of the cover: a client's name may be in any script.

The cover is set in DejaVu Sans Condensed Bold (Latin, Greek, Cyrillic, Arabic, Hebrew). A
letter it lacks is drawn in the first face that has it: Debian's Noto Sans bold faces
(fonts-noto-core: Devanagari, Bengali, Tamil, Thai, Ethiopic, Georgian and the rest, 12 MB)
and WenQuanYi Micro Hei (fonts-wqy-microhei: Chinese, Japanese and Korean in 1.6 MB, where
Noto's CJK package is 57 MB). A character no face has (an emoji: the colour emoji font is
bitmaps at one size) is left out, never drawn as a box. Which face has which letter is read
from each face's character map (fontTools), once per face and only when DejaVu lacks a letter.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont

PRIMARY: Final = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSansCondensed-Bold.ttf"),  # Fedora
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/Library/Fonts/Arial Bold.ttf"),  # macOS
    Path("C:/Windows/Fonts/arialbd.ttf"),
)
"""Bold faces with the accented letters of every language audioguide writes, first found wins."""
NOTO: Final = Path("/usr/share/fonts/truetype/noto")
CJK: Final = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
"""A regular face: drawn with a stroke, so it stands as bold as the rest."""
INVISIBLE: Final = frozenset("\u200d\ufe0e\ufe0f\u20e3")
"""Joiners and emoji selectors: they belong to what they join, and go with it."""


@functools.cache
def primary_path() -> Path | None:
    """The face the cover is set in; None for Pillow's own (regular, no accents)."""
    return next((p for p in PRIMARY if p.is_file()), None)


@functools.cache
def fallback_paths() -> tuple[Path, ...]:
    """Faces for the letters the primary lacks, in the order they are asked."""
    noto = sorted(NOTO.glob("NotoSans*-Bold.ttf")) if NOTO.is_dir() else []
    noto = [p for p in noto if not any(w in p.name for w in ("Display", "Mono", "Unjoined"))]
    return (*noto, *([CJK] if CJK.is_file() else []))


@functools.cache
def _letters(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    face = TTFont(path, lazy=True, fontNumber=0)
    try:
        return frozenset(face.getBestCmap())
    finally:
        face.close()


@functools.cache
def _face(path: Path | None, px: int) -> FreeTypeFont:
    from PIL import ImageFont

    if path is None:
        return ImageFont.load_default(size=px)  # type: ignore[return-value]
    return ImageFont.truetype(str(path), px)


def _face_for(char: str, current: Path | None) -> Path | bool | None:
    """The face that draws `char`; False when none does. A space or a mark stays in the face
    of the letters around it, so a name in one script is one run, shaped whole."""
    primary = primary_path()
    if primary is None:
        return None
    code = ord(char)
    neutral = unicodedata.category(char)[0] in "ZPM"
    if current is not None and neutral and code in _letters(current):
        return current
    if code in _letters(primary):
        return primary
    return next((p for p in fallback_paths() if code in _letters(p)), False)


@dataclass(frozen=True)
class Face:
    """Type of one size: measures and draws a line whatever its scripts."""

    px: int

    def runs(self, text: str) -> list[tuple[str, Path | None]]:
        """The text cut where the face changes; what no face draws left out."""
        runs: list[tuple[str, Path | None]] = []
        left_out = False
        for char in text:
            # What is joined to a left-out emoji goes with it ("🧘🏽\u200d♀️" leaves no "♀").
            if char in INVISIBLE or (left_out and unicodedata.category(char) == "So"):
                left_out = left_out or char == "\u200d"
                continue
            path = _face_for(char, runs[-1][1] if runs else None)
            left_out = path is False
            if path is False:
                continue
            assert path is None or isinstance(path, Path)
            if runs and runs[-1][1] == path:
                runs[-1] = (runs[-1][0] + char, path)
            else:
                runs.append((char, path))
        return runs

    def length(self, draw: ImageDraw, text: str) -> float:
        return sum(draw.textlength(run, font=_face(p, self.px)) for run, p in self.runs(text))

    def draw(self, draw: ImageDraw, xy: tuple[int, int], text: str, fill: object) -> None:
        x, y = xy
        for run, path in self.runs(text):
            face = _face(path, self.px)
            draw.text((x, y), run, font=face, fill=fill, stroke_width=self._stroke(path))  # type: ignore[arg-type]
            x += round(draw.textlength(run, font=face))

    def _stroke(self, path: Path | None) -> int:
        # Pillow's own face and the CJK face are regular: a stroke in the ink's colour makes them
        # bold, so their strokes survive being scaled down to a thumbnail.
        return max(self.px // 30, 1) if path in (None, CJK) else 0
