"""What a client's track depends on, as a hash: a rerun rebuilds only a track whose hash changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import __version__
from ..model import Interval, Routine, Sound, SoundFile, walk
from ..voices.natural import default_engine
from .jobs import (
    Job,
)


def job_digest(job: Job, routine: Routine) -> str:
    """What the track depends on: the routine as validated (every include and variable in
    place), the files it names, the options, the voice, the client and this version. Not the
    cache folder, nor where the values were written."""
    options = job.options
    spoken_by = options.voice or routine.voice.engine or default_engine()
    parts = {
        "audioguide": __version__,
        "routine": repr(routine),
        "files": {str(p): _file_hash(p) for p in _named_files(routine)},
        "variables": sorted(job.variables.items()),
        "voice": [spoken_by, options.rate, options.language],
        "options": [options.bed, options.length_s, options.target_lufs, options.bitrate_kbps],
        "sound_dirs": [str(p) for p in options.sound_dirs],
        "client": [job.client.name, job.client.feed_url, str(job.client.date)],
        "track": [job.track, job.album, list(job.outputs)],
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _named_files(routine: Routine) -> list[Path]:
    refs = [s.sound for s in walk(routine.steps) if isinstance(s, Sound | Interval)]
    files = [r.path for r in refs if isinstance(r, SoundFile)]
    if routine.bed and isinstance(routine.bed.sound, SoundFile):
        files.append(routine.bed.sound.path)
    files += [p for p in (routine.cover, routine.clinic.logo if routine.clinic else None) if p]
    return sorted(set(files))


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
