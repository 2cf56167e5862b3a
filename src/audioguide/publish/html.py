"""What every page the tool writes shares: its assets (CSS, JS and HTML templates, files in
assets/ shipped with the package), and the blocks that say who a page is for and from whom.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Sequence
from html import escape
from importlib import resources
from typing import Final

from ..model import Client, Routine
from ..strings import Register, Table, table
from .qr import qr_svg

_LOGO_TYPES: Final = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@functools.cache
def asset(name: str) -> str:
    """A file of assets/ (a page's CSS, JS or template), read once."""
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def for_line(language: str, client: Client | None, day: dt.date) -> str:
    """Who the track is for, and its date."""
    t = table(language)
    who = [labelled(t.label("for_client", name=_SLOT), name=client.name)] if client else []
    return f'<p class="for">{" &middot; ".join([*who, escape(t.date(day))])}</p>'


_SLOT: Final = "\ue000"
"""Where a name goes in a label, until it is escaped (a private-use character no name holds)."""


def isolated(text: str) -> str:
    """Text a user wrote (a name, a title), escaped and isolated in <bdi>: an Arabic or Hebrew
    name keeps its own direction without reordering the words, numbers and dots around it
    ("Pour فاطمة الزهراء · 6 décembre 2026" stays in that order)."""
    return f"<bdi>{escape(text)}</bdi>"


def labelled(label: str, **names: str) -> str:
    """`label` escaped, with each of `names` isolated where its slot stands: `label` is the
    string table's, made with _SLOT for the name (`t.label("for_client", name=_SLOT)`)."""
    out = escape(label)
    for name in names.values():
        out = out.replace(_SLOT, isolated(name), 1)
    return out


def script_json(data: object) -> str:
    """`data` as JSON to put inside a <script> element. Only `</script` would end the element,
    but `<!--` followed by `<script` makes the parser read on past the real end, taking the page's
    own script for data; so every `<`, `>` and `&` is written as its \\u escape, which JSON reads
    back as the same character; U+2028 and U+2029 too, which older JavaScript ends a line at."""
    text = json.dumps(data, ensure_ascii=False)
    return text.translate(_SCRIPT_SAFE)


_SCRIPT_SAFE: Final = {ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}


def clinic_block(routine: Routine) -> str:
    """Who made it: the clinic's logo, name and contact; "" for a routine without a clinic."""
    t = table(routine.language)
    clinic = routine.clinic
    if clinic is None:
        return ""
    logo = ""
    if clinic.logo is not None:
        kind = _LOGO_TYPES.get(clinic.logo.suffix.lower(), "image/png")
        data = base64.b64encode(clinic.logo.read_bytes()).decode("ascii")
        logo = f'<img class="logo" src="data:{kind};base64,{data}" alt="">'
    contact = (
        f'<p class="contact">{escape(t.label("contact", contact=clinic.contact))}</p>'
        if clinic.contact
        else ""
    )
    return (
        f'<div class="clinic">{logo}<div><p class="clinic-name">{escape(clinic.name)}</p>'
        f"{contact}</div></div>"
    )


def subscribe(language: str, client: Client | None, register: Register | None = None) -> str:
    """The client's private page (else their feed) as a QR code and its address in text; ""
    without one."""
    address = client and (client.page_url or client.feed_url)
    if not address:
        return ""
    t = table(language, register)
    url = escape(address)
    return (
        f'<section class="subscribe"><div class="qr">'
        f"{qr_svg(address, label=t.label('qr_label'))}</div>"
        f"<div><h2>{escape(t.label('subscribe_heading'))}</h2>"
        f"<p>{escape(t.label('subscribe_text'))}</p>"
        f'<p class="url"><a href="{url}">{url}</a></p></div></section>'
    )


def section_list(t: Table, key: str, items: Sequence[str]) -> str:
    """A titled list (safety lines, notes), or "" when there is nothing in it."""
    if not items:
        return ""
    lis = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f'<section class="{key}"><h2>{escape(t.label(key))}</h2><ul>{lis}</ul></section>'
