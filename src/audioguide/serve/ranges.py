"""A file's answer to a Range request (RFC 9110 14): the whole file (200), one range (206,
streamed here: one trip to the thread pool per megabyte read), several ranges (206
multipart/byteranges, left to Starlette's FileResponse), or 416. The plan is made before
anything is sent, so the events store records what the answer carries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

CHUNK_BYTES: Final = 1024 * 1024
"""Read per trip to the thread pool: Starlette's FileResponse reads 64 KB a trip and makes
about 16 trips for one 256 KB range (open, seek, reads, close); one trip doubled the range
answers per second (scripts/bench_serve.py)."""
MAX_RANGES: Final = 16
"""More ranges in one request are answered with the whole file (a client seeking needs one or
two; many small ones are how a request is made expensive)."""


@dataclass(frozen=True)
class Plan:
    status: int
    ranges: tuple[tuple[int, int], ...]
    """(first byte, end) pairs, end exclusive."""
    size: int

    @property
    def body_bytes(self) -> int:
        return sum(end - first for first, end in self.ranges)


def plan(headers: Headers, size: int, validators: tuple[str, str]) -> Plan:
    """What to send for the request's Range (and If-Range) header."""
    whole = Plan(200, ((0, size),), size)
    spec = headers.get("range", "")
    if_range = headers.get("if-range")
    if not spec or (if_range is not None and if_range not in validators):
        return whole
    ranges = _parse(spec, size)
    if ranges is None or len(ranges) > MAX_RANGES:
        return whole  # a Range header that is not one is ignored (RFC 9110 14.2)
    return Plan(206, tuple(ranges), size) if ranges else Plan(416, (), size)


def _parse(spec: str, size: int) -> list[tuple[int, int]] | None:
    unit, _, sets = spec.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    ranges = []
    for part in sets.split(","):
        first_text, dash, last_text = part.strip().partition("-")
        if not dash or not (first_text + last_text).isdigit():
            return None
        if not first_text:  # the last N bytes
            count = min(int(last_text), size)
            if count:
                ranges.append((size - count, size))
            continue
        first = int(first_text)
        end = min(int(last_text) + 1, size) if last_text else size
        if last_text and int(last_text) < first:
            return None
        if first < size:
            ranges.append((first, end))
    return ranges


def answer(
    path: Path, the_plan: Plan, headers: Mapping[str, str], kind: str, head: bool
) -> Response:
    common = {**headers, "accept-ranges": "bytes"}
    if the_plan.status == 416:
        return Response(None, 416, {**common, "content-range": f"bytes */{the_plan.size}"})
    if len(the_plan.ranges) > 1:
        return FileResponse(path, headers=dict(headers), media_type=kind)
    first, end = the_plan.ranges[0]
    if the_plan.status == 206:
        common["content-range"] = f"bytes {first}-{end - 1}/{the_plan.size}"
    return Part(path, first, end, the_plan.status, common, kind, head)


class Part(Response):
    """Bytes [first, end) of a file, streamed."""

    def __init__(
        self,
        path: Path,
        first: int,
        end: int,
        status: int,
        headers: Mapping[str, str],
        kind: str,
        head: bool,
    ) -> None:
        self.path, self.first, self.end, self.head = path, first, end, head
        self.status_code = status
        self.media_type = kind
        self.background = None
        self.init_headers({**headers, "content-length": str(end - first)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        if self.head or self.first == self.end:
            await send({"type": "http.response.body", "body": b""})
            return
        fd = await anyio.to_thread.run_sync(os.open, self.path, os.O_RDONLY)
        try:
            offset = self.first
            while offset < self.end:
                count = min(CHUNK_BYTES, self.end - offset)
                chunk = await anyio.to_thread.run_sync(os.pread, fd, count, offset)
                if not chunk:
                    break  # the file was cut short under us: the length said is not met
                offset += len(chunk)
                more = offset < self.end
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            os.close(fd)
