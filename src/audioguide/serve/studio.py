"""The studio's HTTP side: a Starlette app on 127.0.0.1 for one practitioner's browser.

It writes files, so every request must come from the page it served: the Host must be this
address (a DNS-rebinding page names its own host), an Origin, when a browser sends one, must be
this address too, and the session's token must come with it (in the URL the command printed, for
the first page; then as a header, or the cookie that page set, which a browser sends only to this
address: SameSite=Strict). Anything else is refused with 403 before it reaches a route.
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..audio import SAMPLE_RATE
from ..errors import AudioguideError
from ..language.grammar import KINDS
from ..language.keys import BED_KEYS, CLINIC_KEYS, ROUTINE_KEYS, VOICE_KEYS
from ..language.load import RoutineSource
from ..strings import clock
from ..timing.plan import plan_dict
from .studio_desk import BadRequest, Checked, Desk, Refused, built, var_defaults

TOKEN_HEADER: Final = "X-Studio-Token"
COOKIE: Final = "audioguide-studio"
ASSETS: Final = ("studio.html", "studio.css", "studio.js")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Studio:
    """The studio for one routine file of `desk`'s folder, on 127.0.0.1:port."""

    desk: Desk
    routine: str
    """The file opened first, by its name in the folder."""
    port: int = 0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _server: Any = None
    _socket: socket.socket | None = None
    _thread: threading.Thread | None = None

    def bind(self) -> None:
        """Take the port now (0: any free one), so the URL is known before serving."""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("127.0.0.1", self.port))
        except OSError as e:
            self._socket.close()
            raise AudioguideError(
                f"cannot listen on 127.0.0.1:{self.port} ({e.strerror or e}): choose another "
                "--port, or leave it out for any free one"
            ) from None
        # Listening at once: a browser opened on the address waits for the server, not refused.
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/?token={self.token}"

    def serve(self) -> None:
        """Serve until stopped (Ctrl-C, or `stop()` from another thread)."""
        import uvicorn

        if self._socket is None:
            self.bind()
        assert self._socket is not None
        config = uvicorn.Config(app(self), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self) -> None:
        """Serve from a thread; returns once the server answers."""
        self.bind()
        self._thread = threading.Thread(target=self.serve, name="audioguide-studio", daemon=True)
        self._thread.start()
        while self._server is None or not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the studio's server stopped at start")
            threading.Event().wait(0.01)

    def close(self) -> None:
        """Give the port back without serving (serving gives it back when it stops)."""
        if self._socket is not None:
            self._socket.close()

    def stop(self) -> None:
        """Stop a server `start` started, and wait for it."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()


def app(studio: Studio) -> ASGIApp:
    """The studio's routes behind its guard."""
    r = _Routes(studio, studio.desk)
    routes = [
        Route("/", r.page),
        Route("/assets/{name}", r.asset),
        Route("/api/open", r.open_file),
        Route("/api/voices", r.voices),
        Route("/api/check", r.check, methods=["POST"]),
        Route("/api/save", r.save, methods=["POST"]),
        Route("/api/build", r.build, methods=["POST"]),
        Route("/play/{id}.wav", r.play),
        Route("/sample/{id}.wav", r.sample),
    ]
    handlers = {AudioguideError: _error}
    return _Guard(Starlette(routes=routes, exception_handlers=handlers), studio)


@dataclass(frozen=True)
class _Routes:
    """Each route: the request's values handed to the desk, its answer as JSON or a stream."""

    studio: Studio
    desk: Desk

    def page(self, request: Request) -> Response:
        response = Response(_asset("studio.html"), media_type="text/html; charset=utf-8")
        response.set_cookie(COOKIE, self.studio.token, httponly=True, samesite="strict")
        response.headers["Cache-Control"] = "no-store"
        return response

    def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return PlainTextResponse("Not found", 404)
        kind = {"css": "text/css", "js": "text/javascript"}[name.rpartition(".")[2]]
        return Response(_asset(name), media_type=f"{kind}; charset=utf-8")

    def open_file(self, request: Request) -> Response:
        name = request.query_params.get("file") or self.studio.routine
        text, version = self.desk.read(name)
        source = RoutineSource.parse(text, name=name) if text.strip() else None
        return JSONResponse(
            {
                "file": self.desk.path(name).name,
                "files": self.desk.files(),
                "text": text,
                "version": version,
                "vars": var_defaults(source) if source else {},
                "language": _language(source),
                "voice": self.desk.options.voice or "",
                "voices": self.desk.voices_for(_language(source)),
                "hints": hints(),
            }
        )

    def voices(self, request: Request) -> Response:
        language = request.query_params.get("language") or "en"
        return JSONResponse(self.desk.voices_for(language))

    async def check(self, request: Request) -> Response:
        body = await _body(request, file=str, text=str, settings=dict)
        checked = await _thread(self.desk.check, body["file"], body["text"], body["settings"])
        on_disk = await _thread(self.desk.on_disk, body["file"])
        return JSONResponse(checked_json(checked) | {"on_disk": on_disk})

    async def save(self, request: Request) -> Response:
        body = await _body(request, file=str, text=str, version=str)
        version = await _thread(self.desk.save, body["file"], body["text"], body["version"])
        return JSONResponse({"version": version, "message": f"Saved {body['file']}"})

    async def build(self, request: Request) -> Response:
        body = await _body(request, file=str, settings=dict)
        name, settings = body["file"], body["settings"]
        if body.get("share"):
            client = str(body.get("client") or "")
            result = await _thread(self.desk.share, name, settings, client)
        else:
            result = await _thread(self.desk.build, name, settings)
        folder = self.desk.folder
        files = [str(p.relative_to(folder)) for p in (result.path, *result.companions)]
        return JSONResponse({"message": built(result, folder), "files": files})

    def play(self, request: Request) -> Response:
        q = request.query_params
        end = _sample(q["to"]) if q.get("to") else None
        return _wav(self.desk.play(request.path_params["id"], _sample(q.get("from") or "0"), end))

    def sample(self, request: Request) -> Response:
        voice = request.query_params.get("voice") or ""
        wav = self.desk.sample(request.path_params["id"], voice)
        return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})


class _Guard:
    """Host, Origin and token, checked before any route (see the module's docstring)."""

    def __init__(self, inner: ASGIApp, studio: Studio) -> None:
        self.inner, self.studio = inner, studio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        wrong = self.refusal(scope)
        if wrong:
            await PlainTextResponse(f"Refused: {wrong}", 403)(scope, receive, send)
            return
        await self.inner(scope, receive, send)

    def refusal(self, scope: Scope) -> str:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        port = self.studio.port
        hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if headers.get("host") not in hosts:
            return "this studio answers only at " + self.studio.origin
        origin = headers.get("origin")
        if origin is not None and origin not in {f"http://{h}" for h in hosts}:
            return "requests from other pages are not allowed"
        given = [headers.get(TOKEN_HEADER.lower(), ""), _cookie(headers.get("cookie", ""))]
        if scope["path"] == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given.append((query.get("token") or [""])[0])
        if not any(secrets.compare_digest(g, self.studio.token) for g in given if g):
            return "open the studio with the address `audioguide studio` printed"
        return ""


def checked_json(checked: Checked) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": checked.id,
        "problems": checked.problems,
        "warnings": checked.warnings,
        "estimated": checked.estimated,
    }
    if checked.plan is not None:
        timeline = checked.plan.timeline
        out["plan"] = plan_dict(timeline) | {
            "sample_rate": SAMPLE_RATE,
            "total_samples": timeline.total_samples,
            "length": clock(timeline.total_s),
            "chapter_samples": [[c.start_sample, c.end_sample] for c in timeline.chapters],
            "cue_samples": [[c.start_sample, c.end_sample] for c in timeline.cues],
            "steps": [
                {"line": s.line, "start": s.start_sample, "end": s.end_sample}
                for s in timeline.steps
                if s.file == checked.name
            ],
            "language": timeline.language,
        }
    return out


def hints() -> dict[str, Any]:
    """The step kinds and keys with the docs the grammar gives them."""
    return {
        "kinds": {
            k.name: {"doc": k.doc, "keys": {key.name: key.doc for key in k.keys}}
            for k in KINDS.values()
        },
        "routine": {k.name: k.doc for k in ROUTINE_KEYS},
        "voice": {k.name: k.doc for k in VOICE_KEYS},
        "bed": {k.name: k.doc for k in BED_KEYS},
        "clinic": {k.name: k.doc for k in CLINIC_KEYS},
    }


def _language(source: RoutineSource | None) -> str:
    from ..language.yamlfile import YMap

    doc = source.doc if source else None
    raw = doc.get("language") if isinstance(doc, YMap) else None
    return str(raw) if isinstance(raw, str) and raw else "en"


def _wav(stream: Any) -> Response:
    headers = {"Cache-Control": "no-store", "Accept-Ranges": "none"}
    return StreamingResponse(stream, media_type="audio/wav", headers=headers)


async def _error(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, Refused) else 422
    return JSONResponse({"error": f"Error: {exc}"}, status)


async def _thread(function: Callable[..., Any], *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


async def _body(request: Request, **kinds: type) -> dict[str, Any]:
    """The request's JSON object, with these keys of these types (what the page sends)."""
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the request's body is not JSON") from None
    if not isinstance(body, dict) or any(not isinstance(body.get(k), t) for k, t in kinds.items()):
        wanted = ", ".join(f"{k} ({t.__name__})" for k, t in kinds.items())
        raise BadRequest(f"the request needs a JSON object with {wanted}")
    return body


def _sample(text: str) -> int:
    if not text.isdigit():
        raise BadRequest(f"{text!r} is not a sample number: give a whole number, e.g. 44100")
    return int(text)


def _cookie(header: str) -> str:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("assets", name).read_bytes()
