"""The private feed as podcast software reads it: gPodder's parser, ElementTree, a real client
(gpo) downloading over HTTP, and the subscribe page in HTML and in Chromium."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import podcastparser
import pytest
from mutagen.mp3 import MP3

from audioguide.publish.feed import (
    ATOM_NS,
    GOOGLEPLAY_NS,
    ITUNES_NS,
    PODCAST_NS,
    Episode,
    Feed,
    FeedError,
    feed_xml,
)
from audioguide.publish.subscribe import SUBSCRIBE_LABELS_EN, SessionLink, app_links, subscribe_page
from chromium import needs_chromium, watch
from chromium import page as browser
from podcast_client import GPO, GPO_MISSING, run_gpo, serve, subscribe_and_download

FEED_URL = "https://feeds.example.com/clients/sam/feed.xml?token=Ab+c/d=&week=6"
WEEK_1 = datetime(2024, 1, 8, 7, 30, tzinfo=UTC)
HOSTILE = '</title><script>alert("x")</script> & \'single\' "double" <b>bold</b> 🧘\u200d♀️'

IT = f"{{{ITUNES_NS}}}"
P = f"{{{PODCAST_NS}}}"
G = f"{{{GOOGLEPLAY_NS}}}"
A = f"{{{ATOM_NS}}}"


# -- Real MP3s, and the feed that lists them ------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A folder as the static host serves it: MP3s, their chapters and transcripts, a cover."""

    folder: Path
    names: tuple[str, ...]

    def episodes(self, base: str) -> tuple[Episode, ...]:
        return tuple(
            Episode(
                guid=f"sam-week-{n}",
                title=f"Week {n}: hips & lower back",
                description=f"Session {n}. Do it 3x this week; stop if anything hurts < 3/10.",
                published=WEEK_1 + timedelta(weeks=n - 1),
                number=n,
                audio_url=f"{base}/{name}.mp3",
                audio_bytes=(self.folder / f"{name}.mp3").stat().st_size,
                duration_s=MP3(self.folder / f"{name}.mp3").info.length,
                image_url=f"{base}/cover.png" if n == 1 else None,
                chapters_url=f"{base}/{name}.chapters.json",
                transcript_url=f"{base}/{name}.vtt",
            )
            for n, name in enumerate(self.names, start=1)
        )

    def feed(self, base: str, *, weeks: int | None = None) -> Feed:
        return Feed(
            title="Sam's weekly program",
            description="Your sessions from Lee's Physio, one a week.",
            author="Lee's Physio",
            feed_url=f"{base}/feed.xml",
            link=f"{base}/",
            image_url=f"{base}/cover.png",
            episodes=self.episodes(base)[:weeks],
            owner_email="lee@physio.example",
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("site")
    names = ("week-1", "week-2", "week-3")
    for seconds, name in enumerate(names, start=2):
        # Different lengths, so the sizes differ and a swapped enclosure would show.
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi"),
                *("-i", f"sine=frequency={220 * seconds}:duration={seconds}"),
                *("-c:a", "libmp3lame", "-b:a", "128k", str(folder / f"{name}.mp3")),
            ],
            check=True,
            timeout=60,
        )
        chapters = {"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Start"}]}
        (folder / f"{name}.chapters.json").write_text(json.dumps(chapters), encoding="utf-8")
        (folder / f"{name}.vtt").write_text(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nBreathe in.\n", encoding="utf-8"
        )
    (folder / "cover.png").write_bytes(base64.b64decode(_PNG_1PX))
    return Site(folder, names)


_PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
    "rkJggg=="
)


def parse(xml: bytes, url: str = FEED_URL) -> dict[str, Any]:
    result: dict[str, Any] = podcastparser.parse(url, io.BytesIO(xml))
    return result


# -- The feed through podcastparser ----------------------------------------------------------


def test_podcastparser_reads_every_episode_as_built(site: Site) -> None:
    feed = site.feed("https://cdn.example.com/sam")
    parsed = parse(feed_xml(feed), feed.feed_url)

    assert parsed["title"] == feed.title
    assert parsed["description"] == feed.description
    assert parsed["link"] == feed.link
    assert parsed["language"] == "en"
    assert parsed["cover_url"] == feed.image_url
    assert parsed["itunes_author"] == feed.author
    assert parsed["itunes_owner"] == {"name": feed.author, "email": feed.owner_email}
    assert parsed["itunes_categories"] == [["Health & Fitness"]]
    assert parsed["explicit"] is False
    assert parsed["type"] == "episodic"

    episodes = parsed["episodes"]
    expected = sorted(feed.episodes, key=lambda e: e.published, reverse=True)
    assert [e["guid"] for e in episodes] == [e.guid for e in expected]
    for got, want in zip(episodes, expected, strict=True):
        assert got["title"] == want.title
        assert got["description"] == want.description
        assert got["published"] == int(want.published.timestamp())
        assert abs(got["total_time"] - want.duration_s) <= 0.5
        assert got["number"] == want.number
        assert got["type"] == "full"
        assert got["enclosures"] == [
            {"url": want.audio_url, "file_size": want.audio_bytes, "mime_type": "audio/mpeg"}
        ]
        assert got.get("episode_art_url") == want.image_url
    # The real files: apps check the length they download against the one the feed states.
    sizes = {(site.folder / f"{n}.mp3").stat().st_size for n in site.names}
    assert {e["enclosures"][0]["file_size"] for e in episodes} == sizes


def test_chapters_and_transcript_links(site: Site) -> None:
    feed = site.feed("https://cdn.example.com/sam")
    xml = feed_xml(feed)
    items = ET.fromstring(xml).findall("channel/item")
    by_guid = {e.guid: e for e in feed.episodes}
    for item in items:
        episode = by_guid[item.findtext("guid", "")]
        chapters = item.findall(f"{P}chapters")
        transcripts = item.findall(f"{P}transcript")
        assert [c.attrib for c in chapters] == [
            {"url": episode.chapters_url, "type": "application/json+chapters"}
        ]
        assert [t.attrib for t in transcripts] == [
            {"url": episode.transcript_url, "type": "text/vtt"}
        ]
    parsed = {e["guid"]: e for e in parse(xml, feed.feed_url)["episodes"]}
    for guid, episode in by_guid.items():
        assert parsed[guid]["chapters_json_url"] == episode.chapters_url
        assert parsed[guid]["transcript_url"] == episode.transcript_url


# -- The XML itself ---------------------------------------------------------------------------


def test_xml_is_well_formed_namespaced_and_blocked_from_directories(site: Site) -> None:
    feed = site.feed("https://cdn.example.com/sam")
    xml = feed_xml(feed)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    xml.decode("utf-8")
    for prefix, uri in (
        ("itunes", ITUNES_NS),
        ("podcast", PODCAST_NS),
        ("atom", ATOM_NS),
        ("googleplay", GOOGLEPLAY_NS),
    ):
        # The conventional prefixes: plenty of apps match "itunes:duration" as a string.
        assert f'xmlns:{prefix}="{uri}"'.encode() in xml
    # The URI podcastparser (gPodder) maps to "podcast:"; see feed.PODCAST_NS.
    assert podcastparser.Namespace.NAMESPACES[PODCAST_NS] == "podcast"

    rss = ET.fromstring(xml)
    assert rss.tag == "rss"
    assert rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    assert channel.findtext(f"{IT}block") == "Yes"
    assert channel.findtext(f"{P}block") == "yes"
    assert channel.find(f"{P}block").attrib == {}  # type: ignore[union-attr]
    assert channel.findtext(f"{G}block") == "yes"
    assert channel.findtext(f"{P}locked") == "yes"
    assert channel.findtext(f"{IT}explicit") == "false"
    assert channel.findtext(f"{IT}type") == "episodic"
    assert channel.find(f"{IT}category").attrib == {"text": "Health & Fitness"}  # type: ignore[union-attr]
    assert channel.find(f"{IT}image").attrib == {"href": feed.image_url}  # type: ignore[union-attr]
    assert channel.find(f"{A}link").attrib == {  # type: ignore[union-attr]
        "href": feed.feed_url,
        "rel": "self",
        "type": "application/rss+xml",
    }
    items = channel.findall("item")
    assert len(items) == len(feed.episodes)
    dates = [parsedate_to_datetime(i.findtext("pubDate", "")) for i in items]
    assert dates == sorted(dates, reverse=True), "newest first"
    assert channel.findtext("lastBuildDate") == items[0].findtext("pubDate")
    for item in items:
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        assert re.fullmatch(
            r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", item.findtext("pubDate", "")
        )
        enclosure = item.find("enclosure")
        assert enclosure is not None and enclosure.get("type") == "audio/mpeg"
        assert re.fullmatch(r"\d+", item.findtext(f"{IT}duration", ""))
        assert item.findtext(f"{IT}episodeType") == "full"


def test_same_feed_gives_the_same_bytes(site: Site) -> None:
    feed = site.feed("https://cdn.example.com/sam")
    first = feed_xml(feed)
    time.sleep(1.1)  # a "now" anywhere in the output would show as a changed second
    assert feed_xml(feed) == first
    shuffled = replace(feed, episodes=tuple(reversed(feed.episodes)))
    assert feed_xml(shuffled) == first
    # The same instants in another time zone are the same feed.
    tokyo = timezone(timedelta(hours=9))
    elsewhere = replace(
        feed,
        episodes=tuple(replace(e, published=e.published.astimezone(tokyo)) for e in feed.episodes),
    )
    assert feed_xml(elsewhere) == first
    # Built from scratch in another process, with another local time zone.
    script = (
        "import sys, pickle; from audioguide.publish.feed import feed_xml; "
        "sys.stdout.buffer.write(feed_xml(pickle.loads(sys.stdin.buffer.read())))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(feed),
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "TZ": "Pacific/Chatham"},
    )
    assert other.stdout == first


def test_hostile_text_is_escaped_never_markup() -> None:
    episode = Episode(
        guid="w1",
        title=HOSTILE,
        description=f"{HOSTILE}\nSecond line ]]> a < b && c\x0c \ud800",
        published=WEEK_1,
        number=1,
        audio_url="https://cdn.example.com/w1.mp3?sig=a&b=c",
        audio_bytes=1000,
        duration_s=61.5,
    )
    feed = Feed(
        title=HOSTILE,
        description=HOSTILE,
        author=f"Dr. {HOSTILE}",
        feed_url=FEED_URL,
        link="https://example.com/s?a=1&b=2",
        image_url="https://example.com/c.png",
        episodes=(episode,),
    )
    xml = feed_xml(feed)
    assert b"<script>" not in xml and b"<b>" not in xml
    assert HOSTILE.encode() not in xml
    assert "🧘\u200d♀️".encode() in xml, "emoji are written as UTF-8, not dropped"
    channel = ET.fromstring(xml).find("channel")
    assert channel is not None
    assert channel.findtext("title") == HOSTILE
    assert channel.findtext(f"{IT}author") == f"Dr. {HOSTILE}"
    item = channel.find("item")
    assert item is not None
    assert item.findtext("title") == HOSTILE
    # A form feed is not allowed anywhere in XML 1.0: it is replaced, so the feed still parses.
    # Nor is a lone surrogate, which would not even encode as UTF-8.
    written = f"{HOSTILE}\nSecond line ]]> a < b && c\ufffd \ufffd"
    # The description is HTML (apps render it so) whose text is the text as written.
    html = item.findtext("description") or ""
    assert "<" not in html.removeprefix("<p>").removesuffix("</p>").replace("<br>", "")
    assert unescape(html.removeprefix("<p>").removesuffix("</p>").replace("<br>", "\n")) == written
    assert item.find("enclosure").get("url") == episode.audio_url  # type: ignore[union-attr]
    assert channel.find(f"{A}link").get("href") == FEED_URL  # type: ignore[union-attr]
    parsed = parse(xml)
    assert parsed["title"] == HOSTILE
    assert parsed["episodes"][0]["title"] == HOSTILE
    assert parsed["episodes"][0]["description"] == written
    assert parsed["episodes"][0]["enclosures"][0]["url"] == episode.audio_url


def test_an_empty_feed_is_valid_and_still_blocked() -> None:
    feed = Feed(
        title="Sam's weekly program",
        description="",
        author="Lee's Physio",
        feed_url=FEED_URL,
        link="https://example.com/",
        image_url="https://example.com/c.png",
    )
    xml = feed_xml(feed)
    channel = ET.fromstring(xml).find("channel")
    assert channel is not None
    assert channel.findall("item") == []
    assert channel.find("lastBuildDate") is None
    assert channel.findtext(f"{IT}block") == "Yes"
    assert channel.findtext(f"{P}block") == "yes"
    assert channel.find(f"{IT}owner") is None
    parsed = parse(xml)
    assert parsed["title"] == feed.title
    assert parsed["episodes"] == []


def _episode(**changes: Any) -> Episode:
    fields: dict[str, Any] = {
        "guid": "w1",
        "title": "Week 1",
        "description": "",
        "published": WEEK_1,
        "number": 1,
        "audio_url": "https://example.com/w1.mp3",
        "audio_bytes": 1000,
        "duration_s": 60.0,
    }
    return Episode(**(fields | changes))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: _episode(published=datetime(2024, 1, 8, 7, 30)), "no time zone"),
        (lambda: _episode(number=0), "must be 1 or more"),
        (lambda: _episode(audio_bytes=0), "MP3's size"),
        (lambda: _episode(duration_s=float("nan")), "0 or more"),
        (lambda: _episode(guid=" w1"), "guid"),
        (lambda: _episode(title="  "), "title of episode 'w1' is empty"),
        (lambda: _episode(audio_url="file:///tmp/w1.mp3"), "http(s) URL"),
        (lambda: _episode(chapters_url="javascript:alert(1)"), "http(s) URL"),
        (
            lambda: Feed("T", "", "A", "javascript:alert(1)", "https://e/", "https://e/c.png"),
            "http(s) URL",
        ),
        (
            lambda: Feed(
                "T", "", "A", FEED_URL, "https://e/", "https://e/c.png", language='en" x="'
            ),
            "language",
        ),
        (
            lambda: Feed(
                "T",
                "",
                "A",
                FEED_URL,
                "https://e/",
                "https://e/c.png",
                episodes=(_episode(), _episode(number=2)),
            ),
            "two episodes have the guid",
        ),
    ],
)
def test_what_no_app_could_use_is_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(FeedError, match=re.escape(message)):
        build()


# -- The subscribe page ---------------------------------------------------------------------


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})


class Page(HTMLParser):
    """Every tag with its attributes, the text of each element id, and script and style bodies."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag not in _VOID:
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_by_id[attributes["id"]] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self._open):
            while self._open.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        current = self._open[-1][0] if self._open else ""
        if current == "script":
            self.scripts.append(data)
        elif current == "style":
            self.styles.append(data)
        else:
            self.text.append(data)
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]

    def hrefs(self) -> list[str]:
        return [a["href"] for _, a in self.tags if "href" in a]


def page_feed(**changes: Any) -> Feed:
    fields: dict[str, Any] = {
        "title": "Sam's weekly program",
        "description": "",
        "author": "Lee's Physio",
        "feed_url": FEED_URL,
        "link": "https://feeds.example.com/clients/sam/",
        "image_url": "https://feeds.example.com/clients/sam/cover.png",
        "language": "en",
    }
    return Feed(**(fields | changes))


QR_SVG = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21" width="210" height="210">'
    '<path d="M0 0h7v7H0z M14 0h7v7h-7z M0 14h7v7H0z" fill="#000"/></svg>\n'
)


def test_page_escapes_user_text() -> None:
    feed = page_feed(
        title='<script>alert("t")</script> & Sam',
        author='<img src=x onerror="alert(1)"> Lee & Co',
    )
    html = subscribe_page(feed)
    page = Page(html)
    assert "<script>alert" not in html and "<img" not in html
    assert page.all("img") == []
    assert len(page.all("script")) == 1, "only the page's own copy script"
    text = "".join(page.text)
    assert '<script>alert("t")</script> & Sam' in text
    assert 'From <img src=x onerror="alert(1)"> Lee & Co' in text
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title == "Subscribe to &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; Sam"


def test_page_shows_the_feed_url_and_links_every_app_encoded() -> None:
    feed_url = "https://feeds.example.com/clients/s%C3%A9b/feed.xml?token=Ab+c/d=&week=6"
    html = subscribe_page(page_feed(feed_url=feed_url))
    page = Page(html)
    assert page.text_by_id["feed-url"] == feed_url
    # Written out by hand, from each app's documentation, rather than derived from the code.
    bare = "feeds.example.com/clients/s%C3%A9b/feed.xml?token=Ab+c/d=&week=6"
    encoded = (
        "https%3A%2F%2Ffeeds.example.com%2Fclients%2Fs%25C3%25A9b%2Ffeed.xml"
        "%3Ftoken%3DAb%2Bc%2Fd%3D%26week%3D6"
    )
    expected = {
        "Apple Podcasts": f"podcast://{bare}",
        "Overcast": f"overcast://x-callback-url/add?url={encoded}",
        "Pocket Casts": f"pktc://subscribe/{bare}",
        "AntennaPod": f"https://antennapod.org/deeplink/subscribe?url={encoded}",
        "Podcast Addict": f"podcastaddict://{bare}",
    }
    anchors = [a for a in page.all("a") if "app" in a.get("class", "")]
    assert len(anchors) == len(expected)
    labels = [SUBSCRIBE_LABELS_EN[link.label] for link in app_links(feed_url)]
    assert dict(zip(labels, [a["href"] for a in anchors], strict=True)) == expected
    for name in expected:
        assert f">{name}</a>" in html
    # The parameter decodes back to the exact feed URL, "+" and "&" included.
    for name in ("Overcast", "AntennaPod"):
        query = parse_qs(urlsplit(expected[name]).query)
        assert query == {"url": [feed_url]}
    # In the HTML source the "&" of the feed URL is an entity, never a bare ampersand.
    assert f'href="podcast://{bare.replace("&", "&amp;")}"' in html


def test_page_is_noindex_mobile_and_requests_nothing() -> None:
    html = subscribe_page(page_feed(language="fr-CA"), qr_svg=QR_SVG)
    page = Page(html)
    assert page.all("html") == [{"lang": "fr-CA"}]
    metas = page.all("meta")
    assert {"name": "robots", "content": "noindex, nofollow"} in metas
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert {"name": "referrer", "content": "no-referrer"} in metas
    csp = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    # The policy lets exactly the page's own script run: its hash is the script's.
    (script,) = page.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp

    assert [t for t, a in page.tags if "src" in a or "srcset" in a] == []
    assert page.all("link") == [] and page.all("img") == [] and page.all("iframe") == []
    assert not re.search(r"url\(|@import", "".join(page.styles))
    app_hrefs = {link.href for link in app_links(FEED_URL)}
    assert set(page.hrefs()) == app_hrefs
    web = [h for h in page.hrefs() if h.startswith(("http:", "https:", "//"))]
    assert web == [f"https://antennapod.org/deeplink/subscribe?url={_quote_all(FEED_URL)}"]
    assert not re.search(r"(?<![\w/])(src|href)\s*=\s*[\"']?(https?:)?//", script)


def _quote_all(url: str) -> str:
    return quote(url, safe="")


def test_page_shows_the_qr_code_inline_with_its_label() -> None:
    html = subscribe_page(page_feed(), qr_svg=QR_SVG)
    assert "<?xml" not in html
    assert html.count("<svg") == 1
    page = Page(html)
    (figure,) = [a for a in page.all("div") if a.get("role") == "img"]
    assert figure["aria-label"] == SUBSCRIBE_LABELS_EN["qr_alt"]
    assert SUBSCRIBE_LABELS_EN["qr_heading"] in html.replace("&#x27;", "'")
    assert "<svg" not in subscribe_page(page_feed())
    for bad in (
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://t.example/p.png"/></svg>',
        "<div>not an svg</div>",
        "<svg><unclosed></svg>",
    ):
        with pytest.raises(FeedError):
            subscribe_page(page_feed(), qr_svg=bad)


def test_page_takes_every_visible_string_from_labels() -> None:
    labels = {key: f"«{key}» <i>&" for key in SUBSCRIBE_LABELS_EN}
    labels["heading"] = "«heading» {title}"
    labels["from_author"] = "«from» {author}"
    sessions = [SessionLink("Session <1>", "7 December 2026", "01/")]
    html = subscribe_page(page_feed(), labels=labels, qr_svg=QR_SVG, sessions=sessions)
    page = Page(html)
    assert ("href", "01/") in [kv for _, a in page.tags for kv in a.items()]
    visible = "".join(page.text) + "".join(a.get("aria-label", "") for _, a in page.tags)
    visible += "".join(a.get(k, "") for _, a in page.tags for k in ("data-copied", "data-failed"))
    for key in SUBSCRIBE_LABELS_EN:
        if key not in ("heading", "from_author"):
            assert f"«{key}» <i>&" in visible, key
    assert "«heading» Sam's weekly program" in visible
    assert "«from» Lee's Physio" in visible
    assert "<i>" not in html, "labels are text too"
    for english in SUBSCRIBE_LABELS_EN.values():
        if "{" not in english:
            assert english not in visible, english
    with pytest.raises(FeedError, match="missing"):
        subscribe_page(page_feed(), labels={k: v for k, v in labels.items() if k != "copy"})


@pytest.mark.integration
@needs_chromium
def test_page_on_a_phone_sized_chromium(tmp_path: Path) -> None:
    page = tmp_path / "subscribe.html"
    page.write_text(subscribe_page(page_feed(), qr_svg=QR_SVG), encoding="utf-8")
    with browser(phone=True) as tab:
        seen = watch(tab)
        tab.goto(page.as_uri())
        # The copy button is hidden until the script runs: shown means the CSP let it run.
        assert tab.is_visible("#copy")
        tab.click("#copy")
        tab.wait_for_function("document.getElementById('copy-status').textContent !== ''")
        status = tab.inner_text("#copy-status")
        assert status in (SUBSCRIBE_LABELS_EN["copied"], SUBSCRIBE_LABELS_EN["copy_failed"])
        scroll = tab.evaluate("document.documentElement.scrollWidth")
        assert scroll <= tab.evaluate("innerWidth"), "nothing wider than a phone's screen"
        artifacts = Path(__file__).parent.parent / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        tab.screenshot(path=artifacts / "subscribe-page.png")
    assert seen.errors == [], seen.errors
    assert seen.urls and all(u.startswith(("file:", "data:")) for u in seen.urls), seen.urls


# -- A real podcast client --------------------------------------------------------------------


@pytest.mark.integration
def test_gpo_subscribes_and_downloads_every_episode_intact(site: Site, tmp_path: Path) -> None:
    if GPO is None:
        pytest.skip(GPO_MISSING)
    with serve(site.folder) as base:
        feed = site.feed(base, weeks=2)
        (site.folder / "feed.xml").write_bytes(feed_xml(feed))
        # Everything the feed names is served where it says (gpo itself fetches only the MP3s).
        for episode in feed.episodes:
            for url in (episode.chapters_url, episode.transcript_url):
                assert url is not None
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert response.status == 200

        result = subscribe_and_download(feed.feed_url, tmp_path / "listener")

        assert len(result.files) == len(feed.episodes), result.transcript
        originals = {Path(urlsplit(e.audio_url).path).name: e for e in feed.episodes}
        for file in result.files:
            assert file.name in originals, result.transcript
            assert file.read_bytes() == (site.folder / file.name).read_bytes()
            assert file.stat().st_size == originals[file.name].audio_bytes
        assert [(e.guid, e.title) for e in result.episodes] == [
            (e.guid, e.title) for e in sorted(feed.episodes, key=lambda e: e.number, reverse=True)
        ]
        assert all(e.downloaded for e in result.episodes)

        # Next week's rebuild: the two old episodes keep their guids, so exactly one is new.
        (site.folder / "feed.xml").write_bytes(feed_xml(site.feed(base)))
        update = run_gpo(["update", feed.feed_url], tmp_path / "listener")
        assert "1 new episode" in update, update
        download = run_gpo(["download", feed.feed_url], tmp_path / "listener")
        assert "1 episodes downloaded." in download, download
        week_3 = next((tmp_path / "listener" / "downloads").rglob("week-3.mp3"))
        assert week_3.read_bytes() == (site.folder / "week-3.mp3").read_bytes()

        # Revoked: the empty feed still parses for a real client, and offers nothing new.
        (site.folder / "feed.xml").write_bytes(feed_xml(replace(feed, episodes=())))
        revoked = run_gpo(["update", feed.feed_url], tmp_path / "listener")
        assert "[DONE]" in revoked and "0 new episodes" in revoked, revoked
