"""Rate budgets: stay inside each platform's published limits instead of collecting 429s.

Every adapter declares its platform's limits as data (:class:`PlatformLimits`); the
relay asks the budget before each send and waits, or combines queued posts, when a
target or the whole platform is at its limit. Limits are sliding windows ("20 per
60 s"), checked against the sends actually made, with a small safety margin so a
clock edge never tips a burst over the platform's own count.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bridgebot.core.models import ChannelRef

SAFETY = 1.05


@dataclass(frozen=True)
class Window:
    """At most ``count`` sends per ``seconds``."""

    count: int
    seconds: float


@dataclass(frozen=True)
class PlatformLimits:
    per_target: tuple[Window, ...] = ()
    per_platform: tuple[Window, ...] = ()
    max_length: int = 2000  # what one combined message may hold


@dataclass
class _Windowed:
    windows: tuple[Window, ...]
    sent: deque[float] = field(default_factory=deque)

    def delay(self, now: float) -> float:
        wait = 0.0
        for window in self.windows:
            span = window.seconds * SAFETY
            recent = [t for t in self.sent if t > now - span]
            if len(recent) >= window.count:
                wait = max(wait, recent[-window.count] + span - now)
        return wait

    def record(self, now: float) -> None:
        self.sent.append(now)
        longest = max((w.seconds * SAFETY for w in self.windows), default=0.0)
        while self.sent and self.sent[0] <= now - longest:
            self.sent.popleft()


class RateBudget:
    """Per target and per platform send budgets for all adapters."""

    def __init__(self, limits: dict[str, PlatformLimits],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._targets: dict[ChannelRef, _Windowed] = {}
        self._platforms: dict[str, _Windowed] = {}

    def _for(self, target: ChannelRef) -> Iterable[_Windowed]:
        limits = self.limits.get(target.platform)
        if limits is None:
            return ()
        key = target.chat
        if key not in self._targets:
            self._targets[key] = _Windowed(limits.per_target)
        if target.platform not in self._platforms:
            self._platforms[target.platform] = _Windowed(limits.per_platform)
        return (self._targets[key], self._platforms[target.platform])

    def wait_time(self, target: ChannelRef, sends: int = 1) -> float:
        """Seconds until ``sends`` more messages to ``target`` fit every window."""
        now = self.clock()
        wait = 0.0
        for budget in self._for(target):
            trial = _Windowed(budget.windows, deque(budget.sent))
            for _ in range(sends):
                step = trial.delay(now + wait)
                wait += step
                trial.record(now + wait)
        return wait

    def record(self, target: ChannelRef, sends: int = 1) -> None:
        now = self.clock()
        for budget in self._for(target):
            for _ in range(sends):
                budget.record(now)

    def max_length(self, platform: str) -> int:
        limits = self.limits.get(platform)
        return limits.max_length if limits else 2000
