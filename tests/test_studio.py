"""The studio's server, spoken to over HTTP on 127.0.0.1 as the page speaks to it: what it refuses
(another Host or Origin, no token, a path outside the routine's folder, a save over a file edited
meanwhile), and what it answers (the CLI's own messages at their lines, a plan that follows the
text, the build's own samples from any chapter). The fake voice: fast and exact.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from audioguide import Options, Session
from audioguide.audio import Samples
from audioguide.cli import cli
from audioguide.language.library import bundled_routines
from audioguide.serve.studio import Studio
from audioguide.serve.studio_desk import Desk
from audioguide.serve.studio_play import read_wav

NAME = "psoas-release.yaml"


class Client:
    """The page's side of the conversation: the token as a header, JSON in and out."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def request(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        sent = {"X-Studio-Token": self.studio.token, "Content-Type": "application/json"}
        request = urllib.request.Request(
            self.studio.origin + path, data, {**sent, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()

    def json(self, path: str, body: Any = None) -> Any:
        status, data = self.request(path, body)
        assert status == 200, data
        return json.loads(data)

    def check(self, text: str, file: str = NAME, **settings: Any) -> Any:
        """The draft's check once its speech is spoken (at first it is timed by its words)."""
        body = {"file": file, "text": text, "settings": settings}
        for _ in range(600):
            checked = self.json("/api/check", body)
            if not checked["estimated"]:
                return checked
            time.sleep(0.05)
        raise AssertionError("the studio never finished speaking the draft")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(bundled_routines()["psoas-release"], tmp_path / NAME)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def client(folder: Path) -> Iterator[Client]:
    desk = Desk(folder, Options(voice="fake"))
    studio = Studio(desk, NAME)
    studio.start()
    try:
        yield Client(studio)
    finally:
        studio.stop()
        desk.close()


def test_another_host_or_origin_or_no_token_is_refused(client: Client) -> None:
    port = client.studio.port
    assert client.request("/api/open")[0] == 200
    for headers in (
        {"Host": f"evil.example:{port}"},  # a DNS-rebinding page's own name
        {"Host": "127.0.0.1:1"},
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{port + 1}"},
        {"X-Studio-Token": "guess"},
    ):
        status, body = client.request("/api/open", headers=headers)
        assert (status, body[:8]) == (403, b"Refused:"), headers
    status, _ = client.request(
        "/api/save", {"file": NAME, "text": "x", "version": ""}, {"Origin": "http://evil.example"}
    )
    assert status == 403
    # The page itself: with the token in its address, and it sets the cookie the player uses.
    bare = urllib.request.Request(client.studio.origin + "/")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bare, timeout=10)
    with refused.value:
        assert refused.value.code == 403
    with urllib.request.urlopen(client.studio.url, timeout=10) as page:
        assert b"audioguide studio" in page.read()
        assert "SameSite=strict" in page.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "name", ["../outside.yaml", "/etc/passwd", "sub/../../x.yaml", "a.txt", "link.yaml"]
)
def test_a_path_outside_the_routines_folder_is_refused(client: Client, name: str) -> None:
    outside = client.studio.desk.folder.parent / "outside.yaml"
    outside.write_text("title: not yours\n", encoding="utf-8")
    (client.studio.desk.folder / "link.yaml").symlink_to(outside)  # inside by name only
    for path, body in (
        (f"/api/open?file={name}", None),
        ("/api/check", {"file": name, "text": "title: x\n", "settings": {}}),
        ("/api/save", {"file": name, "text": "title: x\n", "version": ""}),
        ("/api/build", {"file": name, "settings": {}}),
    ):
        status, data = client.request(path, body)
        assert status == 403, (path, data)
        assert b"reads and writes only routines in" in data
    assert outside.read_text(encoding="utf-8") == "title: not yours\n"


def test_a_request_the_page_would_never_send_is_one_line(client: Client) -> None:
    for path, body in (
        ("/api/check", {"file": NAME}),
        ("/api/save", {"file": NAME, "text": 3, "version": ""}),
        ("/api/build", ["not", "an", "object"]),
        ("/play/abc.wav?from=-5", None),
    ):
        status, data = client.request(path, body)
        assert status == 400, (path, data)
        assert json.loads(data)["error"].startswith("Error: "), data
    request = urllib.request.Request(
        client.studio.origin + "/api/check", b"{not json", {"X-Studio-Token": client.studio.token}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value:
        assert refused.value.code == 400


def test_a_typo_is_shown_at_its_line_with_the_clis_message(
    client: Client, folder: Path, runner: CliRunner
) -> None:
    text = (folder / NAME).read_text(encoding="utf-8")
    line = text.splitlines().index("  - pause: 2") + 1
    typo = text.replace("  - pause: 2\n", "  - pause: two\n", 1)
    checked = client.check(typo)
    (folder / NAME).write_text(typo, encoding="utf-8")
    said = runner.invoke(cli, ["check", NAME, "--voice", "fake"])
    assert said.exit_code == 1
    assert checked["problems"] == [{"line": line, "message": said.output.strip()}]
    assert f"{NAME}:{line}: step 2: 'pause' needs a duration" in said.output
    assert "plan" not in checked
    fixed = client.check(text)
    assert fixed["problems"] == [] and fixed["plan"]["chapters"]


def test_the_plan_follows_the_text(client: Client, folder: Path) -> None:
    text = (folder / NAME).read_text(encoding="utf-8")
    before = client.check(text)["plan"]
    longer = text.replace("hold: {duration: 3,", "hold: {duration: 8,", 1)
    after = client.check(longer)["plan"]
    starts = [[s for s, _ in p["chapter_samples"]] for p in (before, after)]
    # The hold is in Back flattening's rep, four reps: every later chapter moves by 4 x 5 s.
    assert starts[1][:3] == starts[0][:3]
    assert [b - a for a, b in zip(starts[0][3:], starts[1][3:], strict=True)] == [4 * 5 * 44100] * 2
    # Each top-level step of the file has its span, from its own line.
    lines = [s["line"] for s in after["steps"]]
    assert lines == sorted(lines) and len(lines) == 19
    assert after["steps"][-1]["end"] <= after["total_samples"]
    # --length as the slider sets it: the fitted length is what the plan shows.
    ranged = text.replace("hold: {duration: 3,", "hold: {duration: 2-30,", 1)
    fitted = client.check(ranged, length="7m")
    assert fitted["problems"] == []
    assert fitted["plan"]["total_s"] == pytest.approx(420, abs=2)
    too_short = client.check(ranged, length="1m")["problems"]
    assert [p["message"][:45] for p in too_short] == [f"Error: {NAME}: cannot last 1:00: "]


def _mix(folder: Path, text: str) -> Samples:
    """The whole track as the build mixes it (what it hands the encoder), as int16 values."""
    path = folder / "whole.yaml"
    path.write_text(text, encoding="utf-8")
    with Session.open(path, Options(voice="fake")) as session:
        plan = session.plan()
        track = session.track(folder / "whole.mp3", plan, session.options, ())
        full = np.concatenate(list(track.audio()))
    return np.rint(np.clip(full * 32768.0, -32768, 32767)).reshape(len(full), -1)


def test_a_chapter_plays_with_the_builds_own_samples(client: Client, folder: Path) -> None:
    text = (folder / NAME).read_text(encoding="utf-8")
    checked = client.check(text)
    start, end = checked["plan"]["chapter_samples"][2]
    status, wav = client.request(f"/play/{checked['id']}.wav?from={start}&to={end}")
    assert status == 200
    played, channels = read_wav(wav)
    whole = _mix(folder, text)
    assert channels == whole.shape[1] and len(played) == end - start
    second = 44100
    assert np.count_nonzero(whole[start : start + 10 * second])  # not a silent stretch
    np.testing.assert_array_equal(played[: 10 * second], whole[start : start + 10 * second])
    # A step at a line, and a draft no longer known.
    step = checked["plan"]["steps"][3]
    _, wav = client.request(f"/play/{checked['id']}.wav?from={step['start']}&to={step['end']}")
    np.testing.assert_array_equal(read_wav(wav)[0], whole[step["start"] : step["end"]])
    assert client.request("/play/0123.wav")[0] == 404


SIDES = """\
title: Bed, pacer and sides
bed: rain
pacer: breath
pan: sides
steps:
  - say: Settle in, and let the rain carry you.
  - breathe: {pattern: 4-0-6-0, cycles: 2, guide: 1}
  - exercise: Leg lift
    sides: [right, left]
    reps: 2
    rep:
      - say: Lift the leg.
      - hold: {duration: 3s, countdown: 2}
  - exercise: Knee hug
    sides: [left, right]
    rep:
      - say: Hug the knee to your chest.
      - hold: 4s
  - say: Well done.
"""


def test_a_chapter_plays_with_the_bed_pacer_and_sides_the_build_has(
    client: Client, folder: Path
) -> None:
    (folder / "sides.yaml").write_text(SIDES, encoding="utf-8")
    checked = client.check(SIDES, file="sides.yaml")
    assert len(checked["plan"]["chapters"]) == 3
    start, end = checked["plan"]["chapter_samples"][2]
    _, wav = client.request(f"/play/{checked['id']}.wav?from={start}")
    played, channels = read_wav(wav)
    whole = _mix(folder, SIDES)
    assert channels == 2 and whole.shape[1] == 2  # panned: stereo, as the build is
    assert len(played) == len(whole) - start
    left, right = whole[start:end, 0], whole[start:end, 1]
    assert np.count_nonzero(left - right)  # a side's cues are off-centre
    np.testing.assert_array_equal(played[: end - start], whole[start:end])


def test_save_is_whole_and_never_over_an_edit_made_on_disk(client: Client, folder: Path) -> None:
    opened = client.json("/api/open")
    edited = opened["text"].replace("title: Psoas Release", "title: My Psoas", 1)
    saved = client.json("/api/save", {"file": NAME, "text": edited, "version": opened["version"]})
    assert (folder / NAME).read_text(encoding="utf-8") == edited
    # Someone edits the file in another editor; the page's next save must not overwrite it.
    (folder / NAME).write_text(edited + "# mine\n", encoding="utf-8")
    noticed = client.json("/api/check", {"file": NAME, "text": edited, "settings": {}})
    assert noticed["on_disk"] != saved["version"]  # the page says so before any save
    status, data = client.request(
        "/api/save", {"file": NAME, "text": edited + "# page\n", "version": saved["version"]}
    )
    assert status == 409 and b"changed on disk" in data
    assert (folder / NAME).read_text(encoding="utf-8") == edited + "# mine\n"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_the_hints_are_the_grammars_docs(client: Client) -> None:
    from audioguide.language.grammar import KINDS

    hints = client.json("/api/open")["hints"]
    assert hints["kinds"]["hold"]["keys"]["countdown"] == KINDS["hold"].keys[1].doc
    assert hints["routine"]["pan"].startswith("sides")


def test_the_voices_are_those_voices_lists_for_the_language(client: Client) -> None:
    from audioguide.voices.choose import voice_options

    opened = client.json("/api/open")
    assert opened["language"] == "en"
    assert [v["spec"] for v in opened["voices"]] == [
        "fake",  # the one the studio was started with
        *(o.spec for o in voice_options("en")),
    ]
    spanish = client.json("/api/voices?language=es")
    assert [v["spec"] for v in spanish] == ["fake", *(o.spec for o in voice_options("es"))]


def test_a_voices_sample_is_the_one_the_voices_command_says(
    client: Client, folder: Path, tmp_path: Path
) -> None:
    checked = client.check((folder / NAME).read_text(encoding="utf-8"))
    status, wav = client.request(f"/sample/{checked['id']}.wav?voice=fake")
    assert status == 200
    written = tmp_path / "sample.wav"
    result = CliRunner().invoke(cli, ["voices", "--sample", "fake", "-o", str(written)])
    assert result.exit_code == 0, result.output
    assert wav == written.read_bytes()
    samples, _ = read_wav(wav)
    assert np.abs(samples).max() > 0


def test_the_command_says_in_one_line_what_is_wrong(runner: CliRunner, folder: Path) -> None:
    result = runner.invoke(cli, ["studio", "nothere.yaml", "--no-open"])
    assert result.exit_code == 1
    assert result.output == ("Error: nothere.yaml: no such file; start one with `audioguide new`\n")
    result = runner.invoke(cli, ["studio", "psoas-relase", "--no-open"])
    assert result.exit_code == 1 and "did you mean 'psoas-release'?" in result.output
    taken = Studio(Desk(folder), NAME)
    taken.bind()
    try:
        port = str(taken.port)
        result = runner.invoke(cli, ["studio", NAME, "--no-open", "--port", port])
    finally:
        taken.close()
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use): choose another "
        "--port, or leave it out for any free one\n"
    )


@pytest.mark.integration
def test_share_writes_what_the_command_writes(client: Client, folder: Path) -> None:
    settings = {"vars": {"client": "ignored: share names the client"}, "rate": "170"}
    body = {"file": NAME, "settings": settings, "share": True, "client": "Zoë O'Brien"}
    shared = client.json("/api/build", body)
    assert shared["message"].startswith("Wrote output/psoas-release/psoas-release.mp3 (")
    command = ["share", NAME, "--client", "Zoë O'Brien", "--voice", "fake", "--rate", "170"]
    command += ["--var", "client=ignored: share names the client", "-o", "cli"]
    said = CliRunner().invoke(cli, command)
    assert said.exit_code == 0, said.output
    ours, theirs = folder / "output" / "psoas-release", folder / "cli"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    listed = sorted(f.removeprefix("output/psoas-release/") for f in shared["files"])
    assert listed == sorted(p.name for p in ours.iterdir())
    for name in ("psoas-release.mp3", "index.html", "handout.html", "psoas-release.vtt"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_the_command_copies_a_bundled_routine_prints_the_address_and_opens_it(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    monkeypatch.chdir(tmp_path)
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    monkeypatch.setattr(Studio, "serve", Studio.close)  # as if stopped at once with Ctrl-C
    first = runner.invoke(cli, ["studio", "desk-break"])
    assert first.exit_code == 0, first.output
    wrote, studio = first.output.splitlines()
    assert wrote == "Wrote desk-break.yaml (a copy of desk-break) to edit"
    assert studio.startswith("Studio for desk-break.yaml at http://127.0.0.1:")
    assert opened == [studio.split(" at ")[1].split()[0]]
    assert "?token=" in opened[0]
    (tmp_path / "desk-break.yaml").write_text("title: mine\n", encoding="utf-8")
    again = runner.invoke(cli, ["studio", "desk-break", "--no-open"])
    assert again.output.startswith("Studio for desk-break.yaml at ")  # the copy, kept as it is
    assert (tmp_path / "desk-break.yaml").read_text(encoding="utf-8") == "title: mine\n"
    assert len(opened) == 1
