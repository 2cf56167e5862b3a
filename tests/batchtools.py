"""What the tests of many clients share: a short routine with a name and a hold to vary, a
clients' folder without PDFs, and the processes a killed command left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioguide.publish import outputs

KNEE = """\
title: Knee
vars: {client: friend, hold: 3s}
steps:
  - say: Hello {client}.
  - exercise: Knee bend
    say: Bend the knee.
    reps: 2
    rep:
      - hold: "{hold}"
      - say: Release.
  - say: Goodbye.
"""


def without_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients' folders without the PDF handout, which takes Chromium a second or two a track:
    tests of many clients need every other output, not that one (test_pdf.py has it)."""
    for command in ("batch", "program"):
        chosen = tuple(o for o in outputs.COMMAND_OUTPUTS[command] if o is not outputs.Output.PDF)
        monkeypatch.setitem(outputs.COMMAND_OUTPUTS, command, chosen)


def session_processes(sid: int) -> list[str]:
    """Live processes (not zombies) in a session: what a killed command left running."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, _pgrp, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
            if int(session) == sid and state != "Z":
                left.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            continue  # it exited while we looked
    return left
