"""The subscribe page: a self-contained HTML page that subscribes a phone's podcast app to a
client's private feed in one tap, or shows the feed's address to paste.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from types import MappingProxyType
from typing import Final
from urllib.parse import quote

from .feed import Feed, FeedError, check_url
from .html import asset, isolated

# -- The subscribe page ---------------------------------------------------------------------

SUBSCRIBE_LABELS_EN: Final[Mapping[str, str]] = MappingProxyType(
    {
        # {title} and {author} are replaced by the feed's (escaped) title and author.
        "page_title": "Subscribe to {title}",
        "heading": "{title}",
        "from_author": "From {author}",
        "intro": (
            "Your sessions arrive in your podcast app, like any podcast. "
            "Open this page on your phone and tap the app you use."
        ),
        "private": "This feed is for you alone: please don't share its address.",
        "apps_heading": "Subscribe in one tap",
        "app_apple_podcasts": "Apple Podcasts",
        "app_overcast": "Overcast",
        "app_pocket_casts": "Pocket Casts",
        "app_antennapod": "AntennaPod",
        "app_podcast_addict": "Podcast Addict",
        "other_heading": "Another app?",
        "other_step_1": "Copy the feed address below.",
        "other_step_2": (
            "In your app, choose \u201cAdd by URL\u201d (often under + or Search) and paste it."
        ),
        "feed_url_label": "Feed address",
        "sessions_heading": "Play them here",
        "copy": "Copy address",
        "copied": "Copied.",
        "copy_failed": "Could not copy: select the address and copy it yourself.",
        "qr_heading": "On a computer? Scan this code with your phone's camera.",
        "qr_alt": "QR code to subscribe on your phone",
    }
)


@dataclass(frozen=True)
class AppLink:
    """A one-tap subscribe link: the label key of the app's name, and the URL that opens it."""

    label: str
    href: str


@dataclass(frozen=True)
class SessionLink:
    """A released session as the subscribe page lists it: its page plays it in the browser."""

    title: str
    when: str
    href: str


def app_links(feed_url: str) -> tuple[AppLink, ...]:
    """Each app's own subscribe URL for the feed, in the order the page shows them."""
    check_url("feed_url", feed_url)
    bare = feed_url.split("://", 1)[1]
    # Schemes that take the address in place of "https://" get it as a URI (non-ASCII
    # percent-encoded, existing escapes kept); a query parameter gets it fully encoded.
    bare = quote(bare, safe="/:?&=#%@!$'()*+,;~[]")
    whole = quote(feed_url, safe="")
    return (
        # Apple documents podcast:// as the feed URL with its scheme replaced.
        AppLink("app_apple_podcasts", f"podcast://{bare}"),
        # overcast.fm/podcasterinfo: x-callback-url add, the feed URL as the url parameter.
        AppLink("app_overcast", f"overcast://x-callback-url/add?url={whole}"),
        # Pocket Casts' documented form. The app puts http:// back in front; its Android code
        # also knows pktc://subscribehttps/, but that form is not documented for iOS.
        AppLink("app_pocket_casts", f"pktc://subscribe/{bare}"),
        # AntennaPod's documented deep link: the app claims it, so with AntennaPod installed no
        # request reaches the site. Its antennapod-subscribe:// scheme cannot carry an https
        # feed: browsers parse "https" as its host and drop the colon.
        AppLink("app_antennapod", f"https://antennapod.org/deeplink/subscribe?url={whole}"),
        AppLink("app_podcast_addict", f"podcastaddict://{bare}"),
    )


def subscribe_page(
    feed: Feed,
    *,
    labels: Mapping[str, str] = SUBSCRIBE_LABELS_EN,
    qr_svg: str | None = None,
    sessions: Sequence[SessionLink] = (),
) -> str:
    """A self-contained HTML page that subscribes a phone's podcast app to the feed.

    Every string a reader sees comes from `labels` (same keys as SUBSCRIBE_LABELS_EN); every
    value is escaped. `qr_svg` is an SVG document (an XML declaration is allowed) shown inline.
    """
    _check_labels(labels)
    plain = {"title": escape(feed.title), "author": escape(feed.author)}
    apart = {"title": isolated(feed.title), "author": isolated(feed.author)}

    def say(key: str, names: Mapping[str, str] = apart) -> str:
        # One pass, so a title that itself contains "{author}" stays as written. In the page's
        # text a name is isolated (<bdi>); in its <title> and attributes, where no tag can be,
        # it is escaped only.
        return _PLACEHOLDER.sub(lambda m: names[m[1]], escape(labels[key]))

    links = "\n".join(
        f'<li><a class="app" href="{escape(link.href)}" rel="noreferrer">{say(link.label)}</a></li>'
        for link in app_links(feed.feed_url)
    )
    qr = ""
    if qr_svg is not None:
        qr = (
            f'<section class="qr">\n<h2>{say("qr_heading")}</h2>\n'
            f'<div class="code" role="img" aria-label="{say("qr_alt", plain)}">'
            f"{_inline_svg(qr_svg)}</div>"
            "\n</section>"
        )
    return asset("subscribe.html").format(
        lang=escape(feed.language),
        csp=_CSP,
        css=asset("subscribe.css"),
        js=asset("subscribe.js"),
        page_title=say("page_title", plain),
        heading=say("heading"),
        from_author=say("from_author"),
        intro=say("intro"),
        private=say("private"),
        sessions=_sessions(say("sessions_heading"), sessions),
        apps_heading=say("apps_heading"),
        links=links,
        other_heading=say("other_heading"),
        step_1=say("other_step_1"),
        step_2=say("other_step_2"),
        url_label=say("feed_url_label"),
        feed_url=escape(feed.feed_url),
        copy=say("copy"),
        copied=say("copied", plain),
        copy_failed=say("copy_failed", plain),
        qr=qr,
    )


def _check_labels(labels: Mapping[str, str]) -> None:
    missing = sorted(set(SUBSCRIBE_LABELS_EN) - set(labels))
    unknown = sorted(set(labels) - set(SUBSCRIBE_LABELS_EN))
    if missing or unknown:
        raise FeedError(
            "subscribe page labels do not match SUBSCRIBE_LABELS_EN: "
            f"missing {missing}, unknown {unknown}"
        )


_PLACEHOLDER: Final = re.compile(r"\{(title|author)\}")
_SVG_PROLOG: Final = re.compile(
    r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S
)


def _sessions(heading: str, sessions: Sequence[SessionLink]) -> str:
    if not sessions:
        return ""
    items = "\n".join(
        f'<li><a href="{escape(s.href)}">{escape(s.title)}</a> <span class="when">'
        f"{escape(s.when)}</span></li>"
        for s in sessions
    )
    return f'<h2>{heading}</h2>\n<ul class="sessions">\n{items}\n</ul>'


def ended_page(language: str, title: str, text: str) -> str:
    """What a client whose access has ended finds at their page's address."""
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{escape(title)}</title>"
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;"
        "padding:0 1rem}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>\n"
    )


def _inline_svg(svg: str) -> str:
    """The SVG without its XML prolog (not allowed inside HTML), once it is known to be one
    well-formed svg element with nothing in it that runs or loads."""
    body = _SVG_PROLOG.sub("", svg, count=1).strip()
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise FeedError(f"the QR code is not a well-formed SVG: {e}") from e
    if _local(root.tag) != "svg":
        raise FeedError(f"the QR code is a <{_local(root.tag)}> element, not an <svg>")
    for element in root.iter():
        if _local(element.tag) in ("script", "foreignObject", "iframe"):
            raise FeedError(f"the QR code SVG has a <{_local(element.tag)}> element")
        for name, value in element.attrib.items():
            if _local(name).lower().startswith("on") or (
                _local(name) == "href" and not value.startswith("#")
            ):
                raise FeedError(f"the QR code SVG has a {_local(name)}= attribute")
    return body


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _sha256(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()


# Nothing may be fetched: no script but ours, no style but inline, images only as data: URLs.
_SCRIPT_HASH: Final = _sha256(asset("subscribe.js"))
_CSP: Final = (
    f"default-src 'none'; script-src '{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
