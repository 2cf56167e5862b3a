"""The private podcast feed: a client's RSS 2.0 feed of weekly sessions, with the iTunes and
Podcasting 2.0 tags, kept out of every directory and search, and the page that subscribes to it.

Both are pure functions of a `Feed`: no clock, no network, no files. The same Feed gives the same
bytes, so a rebuild that changes nothing leaves feed.xml as it was (and apps see no new episode),
and a feed with no episodes is a valid feed (that is how a client's access is revoked).

The XML is made with xml.etree.ElementTree: it escapes text and attributes correctly and
declares the namespaces; nothing outside the standard library does this job better for a feed
this small. The page is plain escaped HTML with its CSS and JS inline and a Content Security
Policy that forbids every request, so it works opened from disk and never loads anything.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from types import MappingProxyType
from typing import Final
from urllib.parse import quote, urlsplit

from .errors import AudioguideError

ITUNES_NS: Final = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS: Final = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
"""The Podcasting 2.0 namespace as first published, which gPodder's parser (podcastparser) and
AntennaPod both recognise; its newer alias https://podcastindex.org/namespace/1.0 is not known to
podcastparser, so with it gPodder would see no chapters and no transcript."""
ATOM_NS: Final = "http://www.w3.org/2005/Atom"
GOOGLEPLAY_NS: Final = "http://www.google.com/schemas/play-podcasts/1.0"

# Many podcast apps match these prefixes literally instead of resolving namespaces, so the
# conventional ones are the only safe ones.
NAMESPACES: Final[Mapping[str, str]] = MappingProxyType(
    {"itunes": ITUNES_NS, "podcast": PODCAST_NS, "atom": ATOM_NS, "googleplay": GOOGLEPLAY_NS}
)

CATEGORY: Final = "Health & Fitness"
# Episodic, not serial: a client's current week is the session to do, so apps must list the
# newest first and download it on arrival; serial would make Apple Podcasts steer someone who
# subscribes in week 6 to week 1, and reverse the order gPodder and others show.
SHOW_TYPE: Final = "episodic"
AUDIO_TYPE: Final = "audio/mpeg"
CHAPTERS_TYPE: Final = "application/json+chapters"
TRANSCRIPT_TYPE: Final = "text/vtt"

_XML_ILLEGAL: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_EMAIL: Final = re.compile(r"[^\s@<>\"]+@[^\s@<>\"]+")


class FeedError(AudioguideError, ValueError):
    """A Feed or Episode that no podcast app could use (a naive date, a duplicate guid...)."""


@dataclass(frozen=True)
class Episode:
    """One session in the feed. `guid` is chosen by the caller and never changes across
    rebuilds: apps use it to tell a new episode from an old one re-published."""

    guid: str
    title: str
    description: str
    """Plain text: anything in it (<, &, quotes, emoji) is shown as written, never as markup."""
    published: datetime
    """Timezone-aware; a naive datetime would mean a different moment on every machine."""
    number: int
    audio_url: str
    audio_bytes: int
    """The MP3's exact length: apps compare it with what they downloaded."""
    duration_s: float
    image_url: str | None = None
    chapters_url: str | None = None
    """A Podcasting 2.0 JSON chapters file."""
    transcript_url: str | None = None
    """A WebVTT transcript."""

    def __post_init__(self) -> None:
        if not self.guid or self.guid != self.guid.strip() or _has_illegal(self.guid):
            raise FeedError(
                f"episode guid {self.guid!r} is empty or has surrounding spaces or control "
                "characters: use a stable id such as 'sam-2024-w06'"
            )
        _need_text(f"title of episode {self.guid!r}", self.title)
        if self.published.tzinfo is None or self.published.utcoffset() is None:
            raise FeedError(
                f"episode {self.guid!r}: published date {self.published.isoformat()} has no "
                "time zone: give it one (e.g. datetime(..., tzinfo=UTC))"
            )
        if self.number < 1:
            raise FeedError(f"episode {self.guid!r}: number {self.number} must be 1 or more")
        if self.audio_bytes < 1:
            raise FeedError(
                f"episode {self.guid!r}: audio_bytes {self.audio_bytes} must be the MP3's size"
            )
        if not math.isfinite(self.duration_s) or self.duration_s < 0:
            raise FeedError(
                f"episode {self.guid!r}: duration {self.duration_s} s must be 0 or more"
            )
        _need_url("audio_url", self.audio_url)
        for name in ("image_url", "chapters_url", "transcript_url"):
            value = getattr(self, name)
            if value is not None:
                _need_url(name, value)


@dataclass(frozen=True)
class Feed:
    """A client's private feed: its episodes in any order (the XML lists them newest first)."""

    title: str
    description: str
    author: str
    """The practitioner or clinic."""
    feed_url: str
    """Where this feed.xml is served (its atom:link rel="self")."""
    link: str
    """The subscribe page's URL."""
    image_url: str
    language: str = "en"
    episodes: tuple[Episode, ...] = ()
    owner_email: str | None = None

    def __post_init__(self) -> None:
        _need_text("feed title", self.title)
        _need_text("feed author", self.author)
        _need_url("feed_url", self.feed_url)
        _need_url("link", self.link)
        _need_url("image_url", self.image_url)
        if not _LANGUAGE.fullmatch(self.language):
            raise FeedError(
                f"feed language {self.language!r} is not a language code such as 'en' or 'fr-CA'"
            )
        if self.owner_email is not None and not _EMAIL.fullmatch(self.owner_email):
            raise FeedError(f"owner email {self.owner_email!r} is not an email address")
        seen: set[str] = set()
        for episode in self.episodes:
            if episode.guid in seen:
                # An app keeps one of two episodes with the same guid and silently drops the other.
                raise FeedError(f"two episodes have the guid {episode.guid!r}: give each its own")
            seen.add(episode.guid)


def feed_xml(feed: Feed) -> bytes:
    """The feed as RSS 2.0 in UTF-8: byte-identical for the same Feed."""
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", feed.title)
    _text(channel, "link", feed.link)
    _text(channel, "description", feed.description)
    _text(channel, "language", feed.language)
    newest = sorted(feed.episodes, key=lambda e: (e.published, e.number, e.guid), reverse=True)
    if newest:
        # The newest episode's date, not "now": a rebuild with nothing new must change no byte.
        _text(channel, "lastBuildDate", _rfc2822(newest[0].published))
    ET.SubElement(
        channel,
        _q(ATOM_NS, "link"),
        {"href": feed.feed_url, "rel": "self", "type": "application/rss+xml"},
    )
    image = ET.SubElement(channel, "image")
    _text(image, "url", feed.image_url)
    _text(image, "title", feed.title)
    _text(image, "link", feed.link)
    _text(channel, _q(ITUNES_NS, "author"), feed.author)
    ET.SubElement(channel, _q(ITUNES_NS, "image"), {"href": feed.image_url})
    ET.SubElement(channel, _q(ITUNES_NS, "category"), {"text": CATEGORY})
    _text(channel, _q(ITUNES_NS, "explicit"), "false")
    _text(channel, _q(ITUNES_NS, "type"), SHOW_TYPE)
    if feed.owner_email is not None:
        owner = ET.SubElement(channel, _q(ITUNES_NS, "owner"))
        _text(owner, _q(ITUNES_NS, "name"), feed.author)
        _text(owner, _q(ITUNES_NS, "email"), feed.owner_email)
    # A client's feed is theirs alone: no directory may list it, no search may show it, and
    # no host may import it.
    _text(channel, _q(ITUNES_NS, "block"), "Yes")
    _text(channel, _q(GOOGLEPLAY_NS, "block"), "yes")
    _text(channel, _q(PODCAST_NS, "block"), "yes")
    locked = {"owner": feed.owner_email} if feed.owner_email is not None else {}
    _text(channel, _q(PODCAST_NS, "locked"), "yes", locked)
    for episode in newest:
        _item(channel, episode)
    _register_namespaces()
    ET.indent(rss, space="  ")
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def _item(channel: ET.Element, episode: Episode) -> None:
    item = ET.SubElement(channel, "item")
    _text(item, "title", episode.title)
    _text(item, "description", episode.description)
    _text(item, "guid", episode.guid, {"isPermaLink": "false"})
    _text(item, "pubDate", _rfc2822(episode.published))
    ET.SubElement(
        item,
        "enclosure",
        {"url": episode.audio_url, "length": str(episode.audio_bytes), "type": AUDIO_TYPE},
    )
    # Whole seconds: the form Apple recommends and every parser reads.
    _text(item, _q(ITUNES_NS, "duration"), str(int(episode.duration_s + 0.5)))
    _text(item, _q(ITUNES_NS, "episode"), str(episode.number))
    _text(item, _q(ITUNES_NS, "episodeType"), "full")
    if episode.image_url is not None:
        ET.SubElement(item, _q(ITUNES_NS, "image"), {"href": episode.image_url})
    if episode.chapters_url is not None:
        ET.SubElement(
            item, _q(PODCAST_NS, "chapters"), {"url": episode.chapters_url, "type": CHAPTERS_TYPE}
        )
    if episode.transcript_url is not None:
        ET.SubElement(
            item,
            _q(PODCAST_NS, "transcript"),
            {"url": episode.transcript_url, "type": TRANSCRIPT_TYPE},
        )


def _register_namespaces() -> None:
    # ElementTree's prefix map is process-wide; registering again just before writing keeps
    # our prefixes even if other code registered different ones for the same URIs.
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def _text(
    parent: ET.Element, tag: str, text: str, attrib: Mapping[str, str] | None = None
) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_safe(v) for k, v in (attrib or {}).items()})
    element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    # ElementTree escapes markup but writes control characters (a form feed pasted from a word
    # processor) as they are, and any of them makes the whole feed unparseable.
    return _XML_ILLEGAL.sub("\ufffd", text)


def _has_illegal(text: str) -> bool:
    return _XML_ILLEGAL.search(text) is not None or any(c in text for c in "\t\n\r")


def _rfc2822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _need_text(what: str, value: str) -> None:
    if not value.strip():
        raise FeedError(f"the {what} is empty: podcast apps need one to show")


def _need_url(what: str, url: str) -> None:
    parts = urlsplit(url)
    unsafe = any(c.isspace() or not c.isprintable() or c in '<>"' for c in url)
    if parts.scheme not in ("http", "https") or not parts.hostname or unsafe:
        raise FeedError(
            f"{what} {url!r} is not an absolute http(s) URL: podcast apps fetch nothing else"
        )


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


def app_links(feed_url: str) -> tuple[AppLink, ...]:
    """Each app's own subscribe URL for the feed, in the order the page shows them."""
    _need_url("feed_url", feed_url)
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
) -> str:
    """A self-contained HTML page that subscribes a phone's podcast app to the feed.

    Every string a reader sees comes from `labels` (same keys as SUBSCRIBE_LABELS_EN); every
    value is escaped. `qr_svg` is an SVG document (an XML declaration is allowed) shown inline.
    """
    missing = sorted(set(SUBSCRIBE_LABELS_EN) - set(labels))
    unknown = sorted(set(labels) - set(SUBSCRIBE_LABELS_EN))
    if missing or unknown:
        raise FeedError(
            "subscribe page labels do not match SUBSCRIBE_LABELS_EN: "
            f"missing {missing}, unknown {unknown}"
        )

    names = {"title": escape(feed.title), "author": escape(feed.author)}

    def say(key: str) -> str:
        # One pass, so a title that itself contains "{author}" stays as written.
        return _PLACEHOLDER.sub(lambda m: names[m[1]], escape(labels[key]))

    links = "\n".join(
        f'<li><a class="app" href="{escape(link.href)}" rel="noreferrer">{say(link.label)}</a></li>'
        for link in app_links(feed.feed_url)
    )
    qr = ""
    if qr_svg is not None:
        qr = (
            f'<section class="qr">\n<h2>{say("qr_heading")}</h2>\n'
            f'<div class="code" role="img" aria-label="{say("qr_alt")}">{_inline_svg(qr_svg)}</div>'
            "\n</section>"
        )
    return _PAGE.format(
        lang=escape(feed.language),
        csp=_CSP,
        css=_CSS,
        js=_JS,
        page_title=say("page_title"),
        heading=say("heading"),
        from_author=say("from_author"),
        intro=say("intro"),
        private=say("private"),
        apps_heading=say("apps_heading"),
        links=links,
        other_heading=say("other_heading"),
        step_1=say("other_step_1"),
        step_2=say("other_step_2"),
        url_label=say("feed_url_label"),
        feed_url=escape(feed.feed_url),
        copy=say("copy"),
        copied=say("copied"),
        copy_failed=say("copy_failed"),
        qr=qr,
    )


_PLACEHOLDER: Final = re.compile(r"\{(title|author)\}")
_SVG_PROLOG: Final = re.compile(
    r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S
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


_JS: Final = """
(function () {
  var button = document.getElementById("copy");
  var address = document.getElementById("feed-url");
  var status = document.getElementById("copy-status");
  function report(ok) {
    status.textContent = ok ? button.dataset.copied : button.dataset.failed;
  }
  function selectAndCopy() {
    var range = document.createRange();
    range.selectNodeContents(address);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    report(ok);
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = address.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { report(true); }, selectAndCopy);
    } else {
      selectAndCopy();
    }
  });
})();
"""

_CSS: Final = """
:root { color-scheme: light dark; --accent: #2f6f5e; --soft: #eef4f2; --line: #c9d6d2; }
@media (prefers-color-scheme: dark) {
  :root { --accent: #7cc7b2; --soft: #1d2624; --line: #3a4744; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 34rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0 0.25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 2rem 0 0.75rem; }
.author { margin: 0 0 1rem; opacity: 0.8; }
.private { padding: 0.6rem 0.8rem; border-left: 4px solid var(--accent); background: var(--soft); }
.apps { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.6rem; }
.app { display: block; padding: 0.9rem 1rem; border-radius: 0.75rem; text-align: center;
  font-weight: 600; text-decoration: none; color: #fff; background: var(--accent); }
@media (prefers-color-scheme: dark) { .app { color: #10201b; } }
.app:focus-visible, button:focus-visible { outline: 3px solid currentColor; outline-offset: 2px; }
ol { padding-left: 1.4rem; }
.label { margin: 1rem 0 0.25rem; font-weight: 600; }
.url { margin: 0; padding: 0.7rem 0.8rem; border: 1px solid var(--line); border-radius: 0.5rem;
  background: var(--soft); }
.url code { font-size: 0.95rem; word-break: break-all; user-select: all; -webkit-user-select: all; }
.copy { margin: 0.6rem 0 0; display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; }
button { font: inherit; padding: 0.6rem 1.1rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid var(--accent); color: var(--accent); background: transparent; }
.qr .code { max-width: 14rem; background: #fff; padding: 0.75rem; border-radius: 0.5rem; }
.qr svg { display: block; width: 100%; height: auto; }
"""

# Nothing may be fetched: no script but ours, no style but inline, images only as data: URLs.
_CSP: Final = (
    f"default-src 'none'; script-src '{_sha256(_JS)}'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

_PAGE: Final = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{page_title}</title>
<style>{css}</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<p class="author">{from_author}</p>
<p>{intro}</p>
<p class="private">{private}</p>
<h2>{apps_heading}</h2>
<ul class="apps">
{links}
</ul>
<h2>{other_heading}</h2>
<ol>
<li>{step_1}</li>
<li>{step_2}</li>
</ol>
<p class="label" id="feed-url-label">{url_label}</p>
<p class="url"><code id="feed-url" aria-labelledby="feed-url-label">{feed_url}</code></p>
<p class="copy"><button type="button" id="copy" hidden data-copied="{copied}" \
data-failed="{copy_failed}">{copy}</button>
<span id="copy-status" role="status" aria-live="polite"></span></p>
{qr}
</main>
<script>{js}</script>
</body>
</html>
"""
