"""What the client receives on paper and on screen: a handout that describes every step with all
its numbers, who it is for and from whom, the feed to subscribe to (as a QR code that scans from
the printed PDF), a page and handout with no word of another language, and a cover that reads
as a thumbnail."""

from __future__ import annotations

import datetime as dt
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import pytest

from audioguide.language.library import bundled_routines
from audioguide.language.load import RoutineSource, parse_routine
from audioguide.model import Breathe, Client, Countdown, Exercise, Hold, Interval, walk
from audioguide.publish.cover import TITLE_MIN_PX, contrast, cover_layout, cover_png
from audioguide.publish.fonts import Face, fallback_paths, primary_path
from audioguide.publish.handout import handout_page, handout_rows
from audioguide.publish.outputs import Output, Track, no_audio, write_outputs
from audioguide.publish.page import folded_transcript, share_page
from audioguide.publish.pdf import html_to_pdf, html_to_png
from audioguide.session import Plan, lay_out, track_tags_for
from audioguide.strings import number_pattern, table
from audioguide.timing.compile import compile_timeline
from audioguide.voices.fake import FakeVoice
from chromium import (
    decode_qr,
    needs_chromium,
    needs_poppler,
    needs_zbar,
    pdf_page_size_mm,
    pdf_pages,
    pdf_text,
    pdf_to_png,
)

ARTIFACTS: Final = Path(__file__).parent.parent / "test-artifacts"
FEED_URL: Final = "https://feeds.example.org/c/6Jx0pQm3T9vYb2LkRw8sZa/feed.xml"
DAY: Final = dt.date(2025, 3, 4)
ANA: Final = Client("Ana Ruiz", feed_url=FEED_URL, date=DAY)

ROUTINE: Final = """\
title: Knee and breath
author: Sam
description: A home program for the knee, with breathing to finish.
clinic: {name: Sam's Physio, contact: 555 0100 or sam@physio.example}
notes: [Do it in the morning.]
steps:
  - say: Welcome.
  - safety: Stop if anything hurts.
  - exercise: Straight leg raise
    say: Lie on your back, one knee bent.
    sides: [right, left]
    sets: 2
    rest: 20s
    reps: 3
    rep:
      - say: Lift your leg.
      - hold: {duration: 4, countdown: 3}
      - say: Lower it slowly.
      - pause: 2
  - interval: Circuit
    work: 30s
    rest: 10s
    rounds: 2
    exercises: [Squats, Bridge]
  - section: Cool down
    steps:
      - say: Breathe slowly through your nose.
      - breathe: {pattern: 4-7-8, cycles: 4}
      - hold: {duration: 20s, halfway: true}
      - countdown: 3
"""

# Every number of the breathing, the interval and the rep step, as the handout writes them.
NUMBERS: Final = {
    "breathing": [
        "4-7-8 breathing (the relaxing breath)",
        "pattern 4-7-8-0",
        "breathe in 4 s, hold 7 s, breathe out 8 s",
        "4 breaths",
        "76 s in all",
        "about 3.2 breaths a minute",
    ],
    "interval": [
        "work 30 s",
        "rest 10 s",
        "2 rounds",
        "10 s to get ready",
        "counted down from 3",
        "In this order: 1. Squats, 2. Bridge",
        "2 min 40 s in all",
    ],
    "reps": [
        "2 sets",
        "3 reps",
        "each side, in this order: right side, left side",
        "rest 20 s between sets",
        "Lift your leg.",
        "hold 4 s, counted down from 3",
        "Lower it slowly.",
        "pause 2 s",
        "a rep)",
    ],
    "others": ["hold 20 s, halfway called", "from 3 to 1, one number a second"],
}

SPANISH: Final = """\
title: La rodilla en casa
author: Fisioterapia Sam
language: es
description: Un programa para la rodilla en casa.
clinic: {name: Fisioterapia Sam, contact: 555 0100}
notes: [Hazlo por la mañana.]
steps:
  - say: Hola.
  - safety: Para si algo te duele.
  - exercise: Elevación de pierna
    say: Túmbate boca arriba.
    sides: [right, left]
    sets: 2
    rest: 20s
    reps: 2
    rep: [Levanta la pierna., {hold: {duration: 10, countdown: 3, halfway: true}}, Bájala.]
  - interval: Circuito
    work: 30s
    rest: 10s
    exercises: [Sentadillas, Puente]
  - interval: {work: 20s, rounds: 2}
  - breathe: {pattern: box, cycles: 2}
  - hold: 10s
  - countdown: 3
"""


class _Visible(HTMLParser):
    """The text a reader sees (or hears from a screen reader): no style, script or markup."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in ("alt", "aria-label", "title") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _plan(text: str, name: str = "routine.yaml") -> Plan:
    routine = parse_routine(text, name=name)
    return Plan(routine, compile_timeline(routine, FakeVoice()))


# --- the handout describes every step ------------------------------------------------------------


def test_the_handout_carries_every_number_of_every_step() -> None:
    plan = _plan(ROUTINE)
    text = visible(handout_page(plan.timeline, plan.routine, client=ANA, day=DAY))
    for phrases in NUMBERS.values():
        for phrase in phrases:
            assert phrase in text, phrase
    rep = re.search(r"about ([\d.]+) s a rep", text)
    # One rep: its count, two lines and their gaps, a 4 s hold and a 2 s pause.
    assert rep and 8 < float(rep.group(1)) < 12


def test_every_step_the_client_does_has_a_row() -> None:
    plan = _plan(ROUTINE)
    rows = handout_rows(plan.routine, plan.timeline)
    described = {id(row.step) for row in rows}
    bodies = {id(s) for ex in walk(plan.routine.steps) if isinstance(ex, Exercise) for s in ex.body}
    for step in walk(plan.routine.steps):
        if isinstance(step, Exercise | Interval | Breathe | Hold | Countdown) and (
            id(step) not in bodies
        ):
            assert id(step) in described, step
    assert [r.title for r in rows] == [
        "Straight leg raise",
        "Circuit",
        "Cool down",
        "4-7-8 breathing (the relaxing breath)",
        "Hold",
        "Countdown",
    ]
    assert rows[2].heading
    assert rows[3].how == ("Breathe slowly through your nose.",)


def test_a_meditation_on_an_interval_fills_the_table() -> None:
    plan = _plan(
        "title: Sit\nsteps:\n  - interval: {name: Sitting, work: 5m, rounds: 3, rest: 1m}\n"
    )
    (row,) = handout_rows(plan.routine, plan.timeline)
    assert row.title == "Sitting" and "work 5\u00a0min" in row.dose and "3 rounds" in row.dose


def test_who_it_is_for_and_from_whom_on_handout_and_page() -> None:
    plan = _plan(ROUTINE)
    handout = handout_page(plan.timeline, plan.routine, client=ANA, day=DAY)
    page = share_page(plan.timeline, plan.routine, mp3_name="t.mp3", client=ANA)
    for html in (handout, page):
        text = visible(html)
        for part in ("For Ana Ruiz", "4 March 2025", "Sam's Physio"):
            assert part in text, part
        assert "Contact: 555 0100 or sam@physio.example" in text
        assert FEED_URL in text and "QR code of your private podcast feed" in text
        assert html.count("<svg") == 1
    alone = handout_page(plan.timeline, plan.routine, day=DAY)
    assert "<svg" not in alone and "For " not in visible(alone) and "4 March 2025" in alone


def test_the_tags_and_cover_carry_the_client() -> None:
    plan = _plan(ROUTINE)
    tags = track_tags_for(plan, ANA)
    assert tags.artist == "Sam's Physio" and tags.album == "For Ana Ruiz"
    assert tags.comment.startswith("For Ana Ruiz, 4 March 2025\n")
    assert tags.cover == cover_png("Knee and breath", "For Ana Ruiz\nSam's Physio")
    assert tags.cover != track_tags_for(plan).cover
    spanish = _plan(SPANISH)
    assert track_tags_for(spanish, ANA).album == "Para Ana Ruiz"


def test_the_transcript_folds_its_counts_into_their_cues() -> None:
    plan = _plan(ROUTINE)
    lines = [x.text for x in folded_transcript(plan.timeline, plan.routine)]
    count = number_pattern(table("en").speech["countdown"])
    assert not [t for t in lines if count.fullmatch(t) or re.fullmatch(r"\d+\.", t)]
    assert "1. Lift your leg. 3, 2, 1" in lines and "Lift your leg." not in lines
    assert sum("Lift your leg. 3, 2, 1" in t for t in lines) == 12  # 2 sets, 2 sides, 3 reps
    assert any(re.search(r"Next: Bridge\. 3, 2, 1$", t) for t in lines)
    page = share_page(plan.timeline, plan.routine, mp3_name="t.mp3", day=DAY)
    assert '<li data-start="' in page and ">3</li>" not in page


def test_a_spanish_page_and_handout_have_no_english_on_them() -> None:
    plan = _plan(SPANISH)
    en, es = table("en"), table("es")
    page = share_page(
        plan.timeline,
        plan.routine,
        mp3_name="t.mp3",
        cover_name="cover.png",
        handout_name="handout.html",
        pdf_name="handout.pdf",
        client=ANA,
    )
    handout = handout_page(plan.timeline, plan.routine, client=ANA, day=DAY)
    text = visible(page) + " " + visible(handout)
    english = {*en.speech.values(), *(str(v) for v in en.labels.values())}
    english -= {*es.speech.values(), *(str(v) for v in es.labels.values())}
    for label in english:
        fixed = re.split(r"\{\w+\}", label)
        for part in (p.strip(" .:") for p in fixed):
            if len(part) > 3:
                assert not re.search(rf"\b{re.escape(part)}\b", text), part
    # Every word on them is the routine's own, the client's, or the Spanish table's.
    allowed = " ".join(
        [
            *es.speech.values(),
            *(f"{v.one} {v.other}" if hasattr(v, "one") else str(v) for v in es.labels.values()),
            *es.months,
            *es.sides.values(),
            SPANISH,
            ANA.name,
            FEED_URL,
        ]
    )
    known = set(re.findall(r"[^\W\d_]+", allowed.lower()))
    unknown = {w for w in re.findall(r"[^\W\d_]+", text.lower()) if w not in known}
    assert not unknown, unknown
    assert '<html lang="es">' in page and '<html lang="es">' in handout


def test_the_cover_title_reads_at_thumbnail_size() -> None:
    for name, path in bundled_routines().items():
        title = RoutineSource.read(path).routine().title
        layout = cover_layout(title)
        assert contrast(layout.background, layout.ink) >= 7, name  # WCAG AAA
        # At a 100-pixel thumbnail its capitals stand at least 12 pixels tall.
        assert layout.title_px * 0.73 * 100 / 1400 >= 12, (name, layout.title_px)
        assert " ".join(layout.lines).replace("- ", "-") == title
    assert cover_layout("Entspannung für den Psoas-Muskel am Abend").title_px >= TITLE_MIN_PX


def test_the_cover_sets_accented_letters() -> None:
    if primary_path() is None:
        pytest.skip("no DejaVu font: sudo apt-get install fonts-dejavu-core fonts-dejavu-extra")
    from PIL import ImageFont

    font = ImageFont.truetype(str(primary_path()), 100)
    for letter in "áéíóúñüäöß çàèêôœ¿¡«»":
        if letter != " ":
            assert font.getmask(letter).getbbox() is not None, letter  # a glyph, not nothing


NAMES_IN_SCRIPTS = {
    "Chinese": ("李小龙", "王秀英"),
    "Japanese": ("さくら", "ひろし"),
    "Korean": ("김민준", "이서연"),
    "Devanagari": ("अनिता", "सुनील"),
    "Tamil": ("கமலா", "முருகன்"),
    "Thai": ("สมชาย", "มาลัย"),
    "Ethiopic": ("ሰላም", "አበበ"),
    "Arabic": ("فاطمة", "يوسف"),
    "Hebrew": ("שרה", "דוד"),
    "Greek": ("Ελένη", "Νίκος"),
}
"""Two names in each script a client's name may come in, as the cover draws them."""


@pytest.mark.parametrize("script", sorted(NAMES_IN_SCRIPTS))
def test_the_cover_draws_a_name_in_any_script_with_a_face_that_has_it(script: str) -> None:
    if primary_path() is None or not fallback_paths():
        pytest.skip("sudo apt-get install fonts-dejavu-extra fonts-noto-core fonts-wqy-microhei")
    from PIL import Image, ImageDraw

    first, second = NAMES_IN_SCRIPTS[script]
    face = Face(100)
    for name in (first, second):
        assert "".join(run for run, _ in face.runs(name)) == name  # nothing left out
        for run, path in face.runs(name):
            box = _glyph(path, "\U0010fffd")  # what the face draws for a letter it lacks
            for letter in run:
                assert _glyph(path, letter) != box, (name, letter, path)
    # Boxes would make two names of as many letters one picture: the names' own letters differ.
    band = (0, 1400 - 330, 1400, 1400)
    covers = [
        Image.open(io.BytesIO(cover_png("Knee", f"For {n}"))).crop(band) for n in (first, second)
    ]
    assert covers[0].tobytes() != covers[1].tobytes()
    assert face.length(ImageDraw.Draw(covers[0]), first) > 0


def test_what_no_face_draws_is_left_out_of_the_cover_not_boxed() -> None:
    runs = Face(100).runs("Lena Müller 🌻 🧘🏽‍♀️")
    assert "".join(run for run, _ in runs) == "Lena Müller  "
    assert "".join(run for run, _ in Face(100).runs("Ann ♀ ❤")) == "Ann ♀ ❤"  # DejaVu has them


def _glyph(path: Path | None, letter: str) -> bytes:
    from PIL import ImageFont

    font = ImageFont.truetype(str(path), 80) if path else ImageFont.load_default(size=80)
    return bytes(font.getmask(letter))


# --- printed and in a browser --------------------------------------------------------------------


def _write_share(tmp_path: Path, text: str, client: Client | None) -> Path:
    """The page, handout and PDF a share writes, without encoding any audio."""
    plan = _plan(text, name=str(tmp_path / "r.yaml"))
    track = Track(
        tmp_path / "r.mp3",
        plan.routine,
        plan.timeline,
        track_tags_for(plan, client),
        no_audio,
        (Output.PAGE, Output.HANDOUT, Output.PDF),
        128,
        client,
    )
    write_outputs(track)
    return tmp_path


@pytest.mark.integration
@needs_chromium
@needs_poppler
@needs_zbar
def test_the_printed_handout_carries_everything_and_its_qr_scans(tmp_path: Path) -> None:
    folder = _write_share(tmp_path, ROUTINE, ANA)
    pdf = folder / "handout.pdf"
    assert pdf_pages(pdf) == 1
    width, height = pdf_page_size_mm(pdf)
    assert abs(width - 210) < 1 and abs(height - 297) < 1
    text = " ".join(pdf_text(pdf).split())
    for phrases in NUMBERS.values():
        for phrase in phrases:
            assert phrase in text, phrase
    for part in ("For Ana Ruiz", "4 March 2025", "Sam's Physio", "555 0100", FEED_URL):
        assert part in text, part
    assert decode_qr(pdf_to_png(pdf, 1, dpi=150)) == [FEED_URL]


@pytest.mark.integration
@needs_chromium
@needs_poppler
@pytest.mark.parametrize("name", ["psoas-release", "psoas-strength", "desk-break", "tabata"])
def test_a_bundled_home_program_prints_on_one_page(tmp_path: Path, name: str) -> None:
    folder = _write_share(tmp_path, bundled_routines()[name].read_text(encoding="utf-8"), ANA)
    assert pdf_pages(folder / "handout.pdf") == 1


@pytest.mark.integration
@needs_chromium
@pytest.mark.parametrize("language", ["en", "es"])
def test_screenshots_at_phone_and_desktop_widths(tmp_path: Path, language: str) -> None:
    text = ROUTINE if language == "en" else SPANISH
    folder = _write_share(tmp_path, text, ANA)
    ARTIFACTS.mkdir(exist_ok=True)
    for page in ("index", "handout"):
        for label, (w, h) in {"phone": (390, 844), "desktop": (1280, 800)}.items():
            png = ARTIFACTS / f"{page}-{language}-{label}.png"
            html_to_png(str(folder / f"{page}.html"), png, width=w, height=h)
            assert png.stat().st_size > 10_000
    html_to_pdf(folder / "handout.html", ARTIFACTS / f"handout-{language}.pdf")
    (ARTIFACTS / f"cover-{language}.png").write_bytes((folder / "cover.png").read_bytes())


HIIT: Final = """\
title: HIIT
steps:
  - say: Welcome.
  - pause: 2
  - section: Warm-up
    steps:
      - repeat: 2
        steps:
          - say: March on the spot.
          - say: Lift your knees and swing your arms.
          - pause: 30s
  - exercise: Squat
    say: Feet apart.
    sets: 2
    rest: 10-20s
    hold: 20-50s
  - say: Now slowly stand up.
  - pause: 8
"""


def test_a_section_of_lines_and_pauses_is_on_the_handout() -> None:
    """What the user wrote as a step (do this, for this long) is one, though no step kind says
    so; a short pause after a line is only room between lines."""
    plan = _plan(HIIT)
    rows = handout_rows(plan.routine, plan.timeline)
    assert [(r.title, r.how, r.dose) for r in rows[:2]] == [
        ("Warm-up", (), ()),
        ("March on the spot.", ("Lift your knees and swing your arms.",), ("30\u00a0s", "2 times")),
    ]
    assert [r.title for r in rows] == ["Warm-up", "March on the spot.", "Squat"]


def test_fitted_values_are_rounded_as_the_page_shows_them() -> None:
    routine = parse_routine(HIIT, name="hiit.yaml")
    fitted = lay_out(routine, FakeVoice(), 173)
    text = visible(handout_page(fitted.timeline, fitted.routine, day=DAY))
    hold, rest = re.search(r"hold ([\d.]+)\ss.*rest ([\d.]+)\ss between sets", text).groups()
    assert "." not in hold + rest, (hold, rest)
    squat = next(s for s in fitted.routine.steps if isinstance(s, Exercise))
    assert squat.body[0].duration_s != round(squat.body[0].duration_s)  # fitted, not whole
