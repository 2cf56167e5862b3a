"""HTTP answers as podcast apps and browsers expect them: the right type, ETag and
Last-Modified with 304, byte ranges (206, several at once) and HEAD for files, gzip for text,
one uniform 404, and the security headers on every answer.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import Response

from . import ranges

SECURITY: Final[Mapping[str, str]] = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-robots-tag": "noindex, nofollow",
    # Revalidated on every use (a 304 costs a few bytes): a revoked client's cached copies,
    # a corrected session, a new release are all seen at the next request.
    "cache-control": "private, no-cache",
}
TYPES: Final[Mapping[str, str]] = {
    ".mp3": "audio/mpeg",
    ".xml": "application/rss+xml",
    ".html": "text/html; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".lrc": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}
TEXT_SUFFIXES: Final = frozenset({".xml", ".html", ".vtt", ".lrc", ".txt", ".json"})
GZIP_MIN_BYTES: Final = 512
"""Below this, gzip's header and the CPU cost more than they save."""
NOT_FOUND: Final = b"Not found\n"
GONE: Final = b"Access has ended\n"


def media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def not_found() -> Response:
    """The one 404: an unknown token, an unreleased session and a path that is not there."""
    return Response(NOT_FOUND, 404, dict(SECURITY), "text/plain; charset=utf-8")


def gone(body: bytes = GONE, kind: str = "text/plain; charset=utf-8") -> Response:
    return Response(body, 410, dict(SECURITY), kind)


@dataclass(frozen=True)
class Text:
    """A text body with its ETag and gzipped form, made once for many answers."""

    body: bytes
    etag: str
    zipped: bytes | None

    @classmethod
    def of(cls, body: bytes) -> Text:
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        small = len(body) < GZIP_MIN_BYTES
        return cls(body, etag, None if small else gzip.compress(body, compresslevel=6, mtime=0))


def text(request_headers: Headers, body: bytes | Text, kind: str, status: int = 200) -> Response:
    """A text answer: ETag from its bytes, 304 when the app has them, gzip when it takes it."""
    made = body if isinstance(body, Text) else Text.of(body)
    headers = {**SECURITY, "etag": made.etag, "vary": "Accept-Encoding"}
    if status == 200 and _fresh(request_headers, made.etag, None):
        return Response(None, 304, headers)
    if made.zipped is not None and "gzip" in request_headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(made.zipped, status, headers, kind)
    return Response(made.body, status, headers, kind)


def file(request_headers: Headers, path: Path, method: str) -> tuple[Response, int]:
    """A file from disk and the body bytes it carries: text read whole (small, gzipped),
    anything else streamed with ranges."""
    kind = media_type(path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        response = text(request_headers, path.read_bytes(), kind)
        return response, len(response.body)
    stat = os.stat(path)
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    modified = formatdate(stat.st_mtime, usegmt=True)
    headers = {**SECURITY, "etag": etag, "last-modified": modified}
    if _fresh(request_headers, etag, modified):
        return Response(None, 304, headers), 0
    made = ranges.plan(request_headers, stat.st_size, (etag, modified))
    response = ranges.answer(path, made, headers, kind, head=method == "HEAD")
    return response, 0 if method == "HEAD" else made.body_bytes


def _fresh(request_headers: Headers, etag: str, modified: str | None) -> bool:
    """Whether the app already has this version (RFC 9110 13.1: If-None-Match wins)."""
    if match := request_headers.get("if-none-match"):
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or etag in tags
    since = request_headers.get("if-modified-since")
    if since and modified:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(modified)
        except (TypeError, ValueError):
            return False
    return False
