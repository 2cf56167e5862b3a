"""Which app made a request, from its User-Agent: the podcast apps clients use, or a browser.
The first pattern that matches names it; the order matters where one app's string holds
another's (Apple Podcasts' downloader says AppleCoreMedia; most apps also say Mozilla)."""

from __future__ import annotations

import functools
import re
from typing import Final

BROWSER: Final = "browser"
APPS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.I))
    for name, pattern in (
        ("gPodder", r"gpodder|mygpo"),
        ("AntennaPod", r"antennapod"),
        ("Pocket Casts", r"pocket ?casts"),
        ("Overcast", r"overcast"),
        ("Podcast Addict", r"podcastaddict|podcast addict"),
        ("Castro", r"castro"),
        ("Spotify", r"spotify"),
        ("Apple Podcasts", r"^podcasts/|itunes|applecoremedia|apple ?podcasts"),
        ("curl", r"^curl/"),
        ("Python", r"python|httpx|aiohttp"),
        (BROWSER, r"mozilla|chrome|safari|firefox"),
    )
)


@functools.lru_cache(maxsize=1024)
def app_of(user_agent: str) -> str:
    """The app's name, or "other" (an empty or unknown User-Agent)."""
    for name, pattern in APPS:
        if pattern.search(user_agent):
            return name
    return "other"
