"""The private podcast feed: a client's RSS 2.0 feed of weekly sessions, with the iTunes and
Podcasting 2.0 tags, kept out of every directory and search (subscribe.py makes its page).

It is a pure function of a `Feed`: no clock, no network, no files. The same Feed gives the same
bytes, so a rebuild that changes nothing leaves feed.xml as it was (and apps see no new episode),
and a feed with no episodes is a valid feed (that is how a client's access is revoked).

The XML is made with xml.etree.ElementTree: it escapes text and attributes correctly and
declares the namespaces; nothing outside the standard library does this job better for a feed
this small.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from ..errors import AudioguideError

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
    """Plain text: anything in it (<, &, quotes, emoji) is shown as written, never as markup
    (the feed holds it as HTML: description_html)."""
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
        check_url("audio_url", self.audio_url)
        for name in ("image_url", "chapters_url", "transcript_url"):
            value = getattr(self, name)
            if value is not None:
                check_url(name, value)


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
        check_url("feed_url", self.feed_url)
        check_url("link", self.link)
        check_url("image_url", self.image_url)
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
    _text(item, "description", description_html(episode.description))
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


def description_html(text: str) -> str:
    """An episode's plain-text description as the HTML podcast apps read it as.

    Apps render an item's description as HTML (Apple Podcasts, AntennaPod, gPodder), so plain
    text written as it is would be markup: `<img onerror=...>` a live tag, the text around it
    gone. Here every `<`, `>` and `&` is a numeric character reference (the one form every
    reader, gPodder's podcastparser too, turns back into the character), each line break a <br>,
    and the whole a paragraph: what an app shows is the text as written."""
    escaped = text.replace("\r\n", "\n").translate(_HTML_TEXT)
    return f"<p>{'<br>'.join(escaped.split(chr(10)))}</p>"


_HTML_TEXT: Final = {ord(c): f"&#{ord(c)};" for c in "<>&"}


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


def check_url(what: str, url: str) -> None:
    parts = urlsplit(url)
    unsafe = any(c.isspace() or not c.isprintable() or c in '<>"' for c in url)
    if parts.scheme not in ("http", "https") or not parts.hostname or unsafe:
        raise FeedError(
            f"{what} {url!r} is not an absolute http(s) URL: podcast apps fetch nothing else"
        )
