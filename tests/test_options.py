"""One table of build options: every field of Options has its row, and the command line, the
clients file's columns and a job's hash are all read from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from audioguide.cli import cli
from audioguide.clients.roster import RESERVED
from audioguide.options import BY_COLUMN, OPTIONS, OptionError, Options, audio_options


def test_every_field_of_options_has_one_row() -> None:
    fields = [f.name for f in dataclasses.fields(Options)]
    assert sorted(o.field for o in OPTIONS) == sorted(fields)


@pytest.mark.parametrize(
    ("command", "sound_only_too"),
    [
        ("build", True),
        ("share", True),
        ("batch", True),
        ("program", True),
        ("plan", False),
        ("check", False),
    ],
)
def test_each_command_takes_the_options_from_the_table(command: str, sound_only_too: bool) -> None:
    flags = {opt for p in cli.commands[command].params for opt in getattr(p, "opts", ())}
    for option in OPTIONS:
        assert (option.flag in flags) == (option.plans or sound_only_too), option.flag


def test_the_clients_file_sets_the_options_that_have_a_column() -> None:
    assert set(BY_COLUMN) == {"voice", "language", "rate", "length", "bed", "loudness"}
    assert set(BY_COLUMN) <= set(RESERVED)


def test_a_job_hash_holds_what_the_sound_depends_on_and_not_where_things_are_kept() -> None:
    base = audio_options(Options())
    assert audio_options(Options(cache_dir=Path("/elsewhere"), sound_dirs=(Path("x"),))) == base
    for change in ({"rate": 170}, {"bitrate_kbps": 192}, {"target_lufs": -18.0}, {"bed": "rain"}):
        assert audio_options(dataclasses.replace(Options(), **change)) != base


@pytest.mark.parametrize(
    ("flag", "text", "says"),
    [
        ("--rate", "500", "a speaking rate in words per minute from 60 to 400"),
        ("--length", "ten", "a length like 15m, 900s or 1:05:00"),
        ("--loudness", "-5", "a loudness in LUFS from -30 to -10"),
        ("--bitrate", "100", "an MP3 bitrate: 64, 80, 96, 112, 128, 160, 192, 224, 256, 320"),
    ],
)
def test_one_range_per_option_everywhere(flag: str, text: str, says: str) -> None:
    option = next(o for o in OPTIONS if o.flag == flag)
    with pytest.raises(OptionError, match=says):
        option.parse(text)
