"""Bursts of 404s from one address are slowed down: someone trying tokens waits longer for each
wrong one, while a client who mistyped once is answered at once."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Final

MAX_ADDRESSES: Final = 10_000
"""Addresses remembered; beyond that the oldest are forgotten (memory stays bounded)."""


@dataclass(frozen=True)
class Limits:
    free: int = 20
    """404s per window answered at once."""
    window_s: float = 60.0
    step_s: float = 0.25
    """The delay added for each 404 past `free` in the window."""
    most_s: float = 5.0


class Throttle:
    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._misses: dict[str, deque[float]] = {}

    def miss(self, address: str, now: float | None = None) -> float:
        """Records a 404 for `address`; returns how long to wait before answering it."""
        now = time.monotonic() if now is None else now
        limits = self.limits
        misses = self._misses.pop(address, None) or deque()
        while misses and misses[0] < now - limits.window_s:
            misses.popleft()
        misses.append(now)
        self._misses[address] = misses  # most recent last: the oldest go first
        if len(self._misses) > MAX_ADDRESSES:
            del self._misses[next(iter(self._misses))]
        over = len(misses) - limits.free
        return 0.0 if over <= 0 else min(limits.most_s, over * limits.step_s)
