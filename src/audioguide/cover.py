"""A clean generated cover: people pick a track in their player by its picture.

1400 x 1400 pixels, the smallest square Apple Podcasts accepts; a calm two-tone background whose hue
comes from the title (so different routines look different, the same routine always the same),
the title in large type and the length below it. Pillow's bundled scalable font keeps it offline.
"""

from __future__ import annotations

import colorsys
import io
import textwrap
import zlib
from typing import Final

SIZE: Final = 1400
MARGIN: Final = 120


def cover_png(title: str, subtitle: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    hue = (zlib.crc32(title.encode("utf-8")) % 360) / 360
    top = _rgb(hue, 0.32, 0.30)
    bottom = _rgb((hue + 0.08) % 1, 0.45, 0.18)
    image = Image.new("RGB", (SIZE, SIZE), top)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):  # a vertical gradient, one line per row
        f = y / (SIZE - 1)
        draw.line(
            [(0, y), (SIZE, y)],
            fill=tuple(round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True)),
        )
    size = 150
    lines = textwrap.wrap(title, width=12) or [""]
    while size > 60:  # the largest type at which the title fits in the margins
        font = ImageFont.load_default(size=size)
        if max(draw.textlength(line, font=font) for line in lines) <= SIZE - 2 * MARGIN:
            break
        size -= 10
    font = ImageFont.load_default(size=size)
    y = MARGIN + 80
    for line in lines[:5]:
        draw.text((MARGIN, y), line, font=font, fill=(250, 250, 245))
        y += int(size * 1.15)
    draw.text(
        (MARGIN, SIZE - MARGIN - 70),
        subtitle,
        font=ImageFont.load_default(size=64),
        fill=(225, 235, 230),
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return round(r * 255), round(g * 255), round(b * 255)
