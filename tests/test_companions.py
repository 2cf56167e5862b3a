from __future__ import annotations

import json

from audioguide.cues import CueKind, Timeline
from audioguide.language.load import parse_routine
from audioguide.publish.companions import chapter_lines, chapters_json, lrc, m3u, transcript, webvtt
from audioguide.timing.compile import compile_timeline
from audioguide.voices.fake import FakeVoice

ROUTINE = """
title: T
author: A
steps:
  - say: Welcome.
  - pause: 5
  - exercise: Lift
    hold: {duration: 4, countdown: 2}
  - section: Rest
    steps: [Breathe out slowly.]
"""


def timeline() -> Timeline:
    return compile_timeline(parse_routine(ROUTINE), FakeVoice())


def test_transcript_follows_the_speech_cues() -> None:
    tl = timeline()
    lines = transcript(tl)
    spoken = [c for c in tl.cues if c.kind is CueKind.SPEECH]
    assert [x.text for x in lines] == [c.text for c in spoken]
    assert [round(x.start_s * 44100) for x in lines] == [c.start_sample for c in spoken]


def test_webvtt() -> None:
    text = webvtt(timeline())
    assert text.startswith("WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.050\nWelcome.\n")
    assert text.count(" --> ") == len(transcript(timeline()))


def test_lrc_clears_the_line_after_a_long_silence() -> None:
    text = lrc(timeline())
    assert text.splitlines()[:5] == [
        "[ti:T]",
        "[ar:A]",
        "[length:00:15]",
        "[00:00.50]Welcome.",
        "[00:01.05]",
    ]


def test_chapter_lists() -> None:
    tl = timeline()
    assert chapter_lines(tl) == "00:00:00 Introduction\n00:00:06 Lift\n00:00:11 Rest\n"
    doc = json.loads(chapters_json(tl))
    assert doc["version"] == "1.2.0"
    assert [c["title"] for c in doc["chapters"]] == ["Introduction", "Lift", "Rest"]
    assert doc["chapters"][1]["startTime"] == round(tl.chapters[1].start_s, 3)
    assert doc["chapters"][-1]["endTime"] == round(tl.total_s, 3)


def test_m3u() -> None:
    assert m3u([("01 Intro.mp3", 7.4, "T: Intro")]) == (
        "#EXTM3U\n#EXTINF:7,T: Intro\n01 Intro.mp3\n"
    )
