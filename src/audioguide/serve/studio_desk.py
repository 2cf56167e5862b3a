"""The studio's work, without HTTP: a routine's folder, the text being edited checked and planned
as it is typed, any span of it mixed as the build mixes it, and the file saved, built and shared
exactly as the command line does.

Every routine read or written, and every build, lies inside the routine's folder
(paths.resolve_inside); speech goes to the speech cache, as a build's does. The plan
while typing times speech not yet spoken by its words (Session.plan's estimate, milliseconds),
and speaks it in the background, so the next plan, and anything played, is exact.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import AudioguideError, Problems, RoutineError
from ..files import write_atomic
from ..language.load import RoutineSource
from ..language.yamlfile import YMap, read_text
from ..model import Client
from ..options import BY_COLUMN, OptionError, Options, options_from
from ..paths import resolve_inside
from ..session import BuildResult, Plan, Session, channels_of
from ..strings import clock, plural
from ..text import MAX_NAME_CHARS, problem
from ..voices.choose import VoicePool, voice_options
from ..voices.sample import voice_sample, wav_bytes
from .studio_play import wav_stream

SETTINGS: Final = ("voice", "rate", "length")
"""The build options the studio's form sets, by their clients-file column (options.BY_COLUMN)."""
KEPT_DRAFTS: Final = 16
"""Drafts kept to play from: a player may still be reading one a few edits old."""


class Refused(AudioguideError):
    """A request the studio will not carry out: a path outside the folder (HTTP 403)."""

    status = 403


class Stale(Refused):
    """A save over a file changed on disk since the page read it (HTTP 409)."""

    status = 409


class BadRequest(Refused):
    """A request the page would never make (HTTP 400)."""

    status = 400


class Gone(Refused):
    """A draft no longer kept (HTTP 404)."""

    status = 404


@dataclass(frozen=True)
class Draft:
    """One state of the editor: the text and the form, validated for those values."""

    source: RoutineSource
    options: Options
    variables: Mapping[str, str]


@dataclass
class Checked:
    """What the page shows for a draft: its problems (each as the CLI prints it, with its line)
    or its plan."""

    id: str
    name: str
    """The file as messages name it: as the command line would, from where the studio runs."""
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plan: Plan | None = None
    estimated: bool = False


@dataclass
class Desk:
    """A routine's folder open in the studio, with one pool of voices for every draft."""

    folder: Path
    options: Options = Options()
    voices: VoicePool = field(default_factory=VoicePool)
    _drafts: OrderedDict[str, Draft] = field(default_factory=OrderedDict)
    _exact: dict[str, Plan] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _speaking: set[str] = field(default_factory=set)
    """The drafts kept whose speech is being spoken, or was."""

    def close(self) -> None:
        self.voices.close()

    # --- files ----------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """A routine file of the folder by its name; anything outside it is refused."""
        path = resolve_inside(name, self.folder)
        if path is None or path.suffix.lower() not in (".yaml", ".yml"):
            raise Refused(f"{name}: the studio reads and writes only routines in {self.folder}")
        return path

    def files(self) -> list[str]:
        return sorted(
            p.name for p in self.folder.iterdir() if p.suffix.lower() in (".yaml", ".yml")
        )

    def read(self, name: str) -> tuple[str, str]:
        """The file's text and its version (a hash of its bytes)."""
        path = self.path(name)
        return read_text(path), version(path.read_bytes())

    def on_disk(self, name: str) -> str:
        """The file's version now ("" when it is gone): the page says when it is not its own."""
        path = self.path(name)
        try:
            return version(path.read_bytes())
        except OSError:
            return ""

    def save(self, name: str, text: str, base: str) -> str:
        """Write `text` over the file, atomically, unless the file changed since `base` (its
        version when the page read it): then nothing is written. The new version."""
        path = self.path(name)
        if self.on_disk(name) != base:
            raise Stale(
                f"{path.name} changed on disk since it was opened: nothing was saved; copy your "
                "text aside, reload, and make your changes again"
            )
        data = text.encode("utf-8")
        write_atomic(path, data)
        return version(data)

    # --- drafts ---------------------------------------------------------------------------

    def check(self, name: str, text: str, settings: Mapping[str, Any]) -> Checked:
        """The draft validated and planned, speech not yet spoken timed by its words."""
        path = self.path(name)
        key = version(repr((name, text, sorted(settings.items()))).encode())
        checked = Checked(key, shown(path))
        try:
            draft = self._draft(path, text, settings)
            self._keep(key, draft)
            session = self._session(draft, checked.warnings.append)
            plan = session.plan(draft.variables, estimate=True)
        except Problems as e:
            checked.problems = [_problem(p, checked.name) for p in e.errors]
            return checked
        except AudioguideError as e:
            checked.problems = [_problem(e, checked.name)]
            return checked
        checked.plan, checked.estimated = plan, plan.estimated
        with self._lock:
            start = plan.estimated and key not in self._speaking
            self._speaking.add(key)
        if start:
            threading.Thread(target=self._speak, args=(key,), daemon=True).start()
        return checked

    def _keep(self, key: str, draft: Draft) -> None:
        with self._lock:
            self._drafts[key] = draft
            self._drafts.move_to_end(key)
            while len(self._drafts) > KEPT_DRAFTS:
                old, _ = self._drafts.popitem(last=False)
                self._exact.pop(old, None)
                self._speaking.discard(old)

    def exact(self, key: str) -> tuple[Session, Plan]:
        """The draft's plan with every line spoken (from the cache when warm)."""
        with self._lock:
            draft = self._drafts.get(key)
            plan = self._exact.get(key)
        if draft is None:
            raise Gone("that version of the routine is gone: play it again")
        session = self._session(draft)
        if plan is None:
            plan = session.plan(draft.variables)
            with self._lock:
                self._exact[key] = plan
        return session, plan

    def _speak(self, key: str) -> None:
        # A problem is the page's to show, when it asks for this draft's audio.
        with contextlib.suppress(AudioguideError):
            self.exact(key)

    def _draft(self, path: Path, text: str, settings: Mapping[str, Any]) -> Draft:
        # Named as the command line names it when typed from here, so messages read the same.
        named = Path(shown(path))
        source = RoutineSource.parse(text, name=str(named), base_dir=named.parent, path=named)
        values = {c: str(settings[c]).strip() for c in SETTINGS if str(settings.get(c) or "")}
        parsed = {}
        for column, value in values.items():
            option = BY_COLUMN[column]
            try:
                parsed[option.field] = option.parse(value)
            except OptionError as e:
                raise RoutineError(f"{option.flag} {value!r} is not {e}") from None
        variables = settings.get("vars") or {}
        if not isinstance(variables, dict):
            raise RoutineError("vars must be a mapping of names to values")
        names = set(source.var_names)
        chosen = {str(k): str(v) for k, v in variables.items() if k in names and v != ""}
        return Draft(source, options_from(parsed, self.options), chosen)

    def _session(self, draft: Draft, warn: Callable[[str], None] | None = None) -> Session:
        return Session(draft.source, draft.options, warn, self.voices)

    # --- sound ----------------------------------------------------------------------------

    def play(self, key: str, start_sample: int, end_sample: int | None) -> Iterator[bytes]:
        """The draft's track from `start_sample` to `end_sample` (its end when None), mixed as
        the build mixes it, as a WAV stream."""
        session, plan = self.exact(key)
        total = plan.timeline.total_samples
        start = min(max(0, start_sample), total)
        end = total if end_sample is None else min(max(start, end_sample), total)
        track = session.track(self.folder / "studio.mp3", plan, session.options, ())
        return wav_stream(track.audio(None, start), end - start, channels_of(plan.timeline))

    def sample(self, key: str, voice: str) -> bytes:
        """The voice saying its sample in the draft's language, as `audioguide voices --sample`
        says it (and through the same speech cache)."""
        _, plan = self.exact(key)
        options = self.options
        said = voice_sample(
            voice, plan.routine.language, rate=options.rate, cache_dir=options.cache_dir
        )
        return wav_bytes(said.samples)

    def voices_for(self, language: str) -> list[dict[str, str]]:
        listed = [
            {"spec": o.spec, "gender": o.gender, "description": o.description}
            for o in voice_options(language)
        ]
        own = self.options.voice
        if own and all(v["spec"] != own for v in listed):
            listed.insert(0, {"spec": own, "gender": "", "description": "as the studio started"})
        return listed

    # --- build and share -------------------------------------------------------------------

    def build(self, name: str, settings: Mapping[str, Any]) -> BuildResult:
        """The saved file built as `audioguide build` builds it: output/NAME.mp3 in the folder."""
        from ..publish.outputs import outputs_for

        path, session, variables = self._saved(name, settings)
        output = self.folder / "output" / f"{path.stem}.mp3"
        return session.build(output, variables, outputs=outputs_for("build"))

    def share(self, name: str, settings: Mapping[str, Any], client: str = "") -> BuildResult:
        """The saved file shared as `audioguide share [--client NAME]` shares it: the folder
        output/NAME/ in the routine's folder."""
        from ..publish.outputs import outputs_for

        path, session, variables = self._saved(name, settings)
        if client and (wrong := problem(client, "name", MAX_NAME_CHARS)):
            raise RoutineError(f"the client's name: {wrong}")
        if client and "client" in session.source.var_names:
            variables = {"client": client, **variables}
        output = self.folder / "output" / path.stem / f"{path.stem}.mp3"
        return session.build(
            output,
            variables,
            outputs=outputs_for("share"),
            client=Client(client) if client else None,
        )

    def _saved(
        self, name: str, settings: Mapping[str, Any]
    ) -> tuple[Path, Session, dict[str, str]]:
        path = self.path(name)
        draft = self._draft(path, self.read(name)[0], settings)
        return path, self._session(draft), dict(draft.variables)


def built(result: BuildResult, folder: Path) -> str:
    """What `build` prints, with the files named inside the folder."""
    tl = result.timeline
    size_mb = result.path.stat().st_size / 1e6
    return (
        f"Wrote {result.path.relative_to(folder)} ({clock(tl.total_s)}, "
        f"{plural(len(tl.chapters), 'chapter')}, {size_mb:.1f} MB)"
    )


def shown(path: Path) -> str:
    """The path relative to the working folder when inside it, as a user would type it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def var_defaults(source: RoutineSource) -> dict[str, str]:
    raw = source.doc.get("vars") if isinstance(source.doc, YMap) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, YMap) else {}


def _problem(error: AudioguideError, name: str) -> dict[str, Any]:
    """One problem as the CLI prints it, with its line when it lies in the file edited."""
    where = error.where
    line = where.line if where is not None and where.file == name else 0
    return {"line": line, "message": f"Error: {error}"}
