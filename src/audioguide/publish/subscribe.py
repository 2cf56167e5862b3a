"""The subscribe page: a self-contained HTML page that subscribes a phone's podcast app to a
client's private feed in one tap, or shows the feed's address to paste.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from types import MappingProxyType
from typing import Final
from urllib.parse import quote

from .feed import Feed, FeedError, check_url

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
