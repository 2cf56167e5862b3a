"""What a client's track and each file beside it depend on, as hashes: a rerun builds only a
track whose hash changed, and writes again only an output whose hash changed (never its audio).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..model import Routine, named_files
from ..options import audio_options
from ..publish.outputs import WRITERS, Output
from .jobs import Job


def audio_digest(job: Job, routine: Routine, voice: str) -> str:
    """What the MP3 depends on: the routine as validated (every include and variable in place),
    the files it names, the voice that speaks it, the options the sound depends on, what its
    tags say of the client, and this version. Not the cache folder, nor where values were
    written, nor anything only a file beside the track shows (the feed's address)."""
    return _hash(
        {
            "audioguide": __version__,
            "routine": repr(routine),
            "files": {str(p): _file_hash(p) for p in named_files(routine)},
            "variables": sorted(job.variables.items()),
            "voice": voice,
            "options": audio_options(job.options),
            "tags": [job.client.name, str(job.client.date), job.album],
            "session": [job.ref.number, job.ref.title, list(job.ref.notes)],
        }
    )


def output_digests(job: Job, audio: str) -> dict[Output, str]:
    """What each output depends on: the track, its writer's version, the client's feed, and
    for the page the files it links to."""
    linked = sorted(o.value for o in job.outputs if WRITERS[o].link)
    return {
        output: _hash(
            {
                "audio": audio,
                "output": output.value,
                "version": WRITERS[output].version,
                "feed": job.client.feed_url,
                "links": linked if output is Output.PAGE else [],
            }
        )
        for output in job.outputs
    }


def _hash(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_HASHES: dict[tuple[Path, int, int], str] = {}


def _file_hash(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]
