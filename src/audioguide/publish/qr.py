"""QR codes for print: the inline SVG that puts a session's link on the handout, and the choices
that make it scan from paper (error correction, quiet zone, printed size); segno encodes.

The SVG is drawn here from segno's module matrix rather than taken from segno's writer, so that
its size is in millimetres, it paints its own quiet zone, and it carries an accessible name.
"""

from __future__ import annotations

from html import escape
from typing import Final

import segno

ERROR_LEVEL: Final = "q"
"""At least Q (25 % of codewords recoverable): a handout gets folded, creased, smudged and
written on, and a fold line or a stain across a 3 cm code takes out a strip of modules that M
(15 %) does not always survive. H would cost a version more for a little more: at a fixed
printed size that means smaller modules, which a phone reads less easily from arm's length.
segno raises the level further (up to H) whenever that fits in the same version, for free."""
SYMBOL_MM: Final = 30.0
"""Printed width of the code itself, quiet zone not counted: a 3 cm code scans from about
30 cm, the distance at which someone holds a sheet of paper to photograph it."""
MIN_MODULE_MM: Final = 0.5
"""Below about half a millimetre per module an inkjet's dot gain and a phone's focus start to
blur modules together; a code whose data needs more modules than fit in SYMBOL_MM at this size
is printed larger instead (a 90-character URL at Q is version 8, 49 modules: 0.61 mm)."""
QUIET_ZONE_MODULES: Final = 4
"""The light margin ISO/IEC 18004 requires around a QR code, painted white by the SVG itself so
that a tinted card or a border drawn too close cannot eat into it."""


def qr_svg(data: str, *, label: str) -> str:
    """An inline `<svg>` QR code of `data`, named `label` for screen readers (`role="img"`, an
    `aria-label` and a `<title>`), sized in millimetres for print and the same for the same input.

    Raises ValueError for empty data, an empty label, or data beyond a QR code's capacity."""
    if not data:
        raise ValueError("a QR code needs data to encode")
    name = " ".join("".join(c if c.isprintable() else " " for c in label).split())
    if not name:
        raise ValueError("a QR code needs a label that says what it opens")
    # Micro QR is out: many phone camera apps do not read it.
    code = segno.make(data, error=ERROR_LEVEL, micro=False, boost_error=True)
    rows = [[bool(m) for m in row] for row in code.matrix_iter(scale=1, border=0)]
    modules = len(rows)
    module_mm = max(SYMBOL_MM / modules, MIN_MODULE_MM)
    side = modules + 2 * QUIET_ZONE_MODULES
    size = f"{side * module_mm:.2f}mm"
    text = escape(name, quote=True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'width="{size}" height="{size}" role="img" aria-label="{text}" '
        # crispEdges: anti-aliased seams between adjacent modules would print as faint lines.
        f'shape-rendering="crispEdges"><title>{text}</title>'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{_path(rows, QUIET_ZONE_MODULES)}"/></svg>'
    )


def _path(rows: list[list[bool]], offset: int) -> str:
    """The dark modules as one path: a rectangle per horizontal run, so the file stays small."""
    parts = []
    for y, row in enumerate(rows, start=offset):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            parts.append(f"M{start + offset} {y}h{x - start}v1h-{x - start}z")
    return "".join(parts)
