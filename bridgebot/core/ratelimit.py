"""Rate budgets: stay inside each platform's published limits instead of collecting 429s.

Every adapter declares its platform's limits as data (:class:`PlatformLimits`); one
:class:`RateBudget` per process (the runtime's) is shared by the relay and the adapters,
so every message the bot sends counts against the same windows: mirrored posts, answers
to one person, forum-topic creation, notices. Limits are sliding windows ("20 per
60 s"), checked against the sends actually made, with a small safety margin so a
clock edge never tips a burst over the platform's own count.

Three scopes model the platforms' buckets: ``per_target`` counts every send into one
chat or channel (a Telegram group with all its forum topics; the Discord channel whose
webhook carries the mirrors), ``per_thread`` every send into one thread of it (Discord
counts each thread as a channel of its own), ``per_platform`` every send of the bot.

Who reserves what: the relay sends each topic of a chat as its own stream. A stream first
waits for its thread's windows, then takes its :meth:`RateBudget.turn` in the chat: turns
are handed out first come, first served (a stream that just sent queues behind the
others), so the chat's budget is shared fairly between topics and none starves. A turn
reserves the first message when the windows allow it; the relay counts further
messages of that delivery with :meth:`RateBudget.record`, and an adapter reserves those it
sends on its own (a forum topic it creates first) with :meth:`RateBudget.acquire`.
Messages outside the outbox (answers to one person) go through :meth:`RateBudget.send`,
which waits out a 429's ``retry_after`` and sends again. A 429 anywhere holds that chat
for everyone (:meth:`RateBudget.hold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridgebot.core import errors
from bridgebot.core.models import ChannelRef

log = logging.getLogger(__name__)

SAFETY = 1.05
# Idle chats leave the budget's maps once their windows are empty; the sweep runs every
# PRUNE_EVERY reservations, so the maps hold about the chats written to in the last minute.
PRUNE_EVERY = 256
# Which windows a send waits for: a chat's thread, the chat, the platform; a busy chat also
# its paced windows (``PlatformLimits.paced``); every send is counted in all of them.
SEND_SCOPES = ("thread", "target", "platform")
PACED_SCOPES = (*SEND_SCOPES, "paced")
ALL_SCOPES = PACED_SCOPES
# An answer to one person is tried again after a 429 (after the time Telegram or Discord
# asked for) for up to ANSWER_PATIENCE seconds, and after other failures ANSWER_TRIES times.
ANSWER_PATIENCE = 900.0
ANSWER_TRIES = 5
# An answer waits in line (in order, before the handler returns) at most this long;
# beyond it, it goes out in the background so the chat's other events are not held up.
INLINE_WAIT = 2.0
# A chat counts as pressed (its budget is the limit) for the span of its longest window
# (at most this long) after a turn had to wait for its windows.
PRESSED_SPAN = 10.0


@dataclass(frozen=True)
class Window:
    """At most ``count`` sends per ``seconds``."""

    count: int
    seconds: float


@dataclass(frozen=True)
class PlatformLimits:
    """A platform's published limits as sliding windows, per scope (see the module)."""

    per_target: tuple[Window, ...] = ()
    per_platform: tuple[Window, ...] = ()
    max_length: int = 2000  # what one combined message may hold
    per_thread: tuple[Window, ...] = ()
    # Per chat, applied only while several topics of the chat wait for their turn: spreads
    # a busy chat's sends over the longer windows instead of spending them at once.
    paced: tuple[Window, ...] = ()
    # While a chat's budget is the limit (a stream had to wait for its turn lately), a topic
    # still being written to (its last two posts less than ``settle`` s apart, the newest
    # less than ``settle`` s ago) lets the others go first and takes its turn once its posts
    # pause, at most ``settle_max`` s after it first waited for them: its message then
    # carries them all instead of leaving the last ones to a message of their own. Worth it
    # where turns come round quickly (Discord's webhook: 5 per 2 s), not where a turn given
    # up costs half a minute (a Telegram group). The relay decides (``Relay._settler``).
    settle: float = 0.0
    settle_max: float = 0.0


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
    """Per target and per platform send budgets for all adapters (one per process)."""

    def __init__(self, limits: dict[str, PlatformLimits] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.limits = dict(limits or {})
        self.clock = clock
        self._sleep = sleep
        self._targets: dict[ChannelRef, _Windowed] = {}
        self._threads: dict[ChannelRef, _Windowed] = {}
        self._paced: dict[ChannelRef, _Windowed] = {}
        self._recent: dict[ChannelRef, dict[ChannelRef, float]] = {}  # chat -> thread -> turn
        self._platforms: dict[str, _Windowed] = {}
        # chat -> (whose turn: a FIFO lock, how many streams hold or wait for it)
        self._turns: dict[ChannelRef, tuple[asyncio.Lock, int]] = {}
        self._held: dict[ChannelRef, float] = {}  # chat -> until when a 429 asked to wait
        self._pressed: dict[ChannelRef, float] = {}  # chat -> when a turn last had to wait
        self._later: dict[ChannelRef, asyncio.Task[None]] = {}  # answers being retried
        self._since_prune = 0

    def add(self, platform: str, limits: PlatformLimits) -> None:
        """Keep sends to ``platform`` inside ``limits`` (an adapter's declared limits)."""
        self.limits[platform] = limits

    def _for(self, target: ChannelRef, *, create: bool = True,
             scopes: tuple[str, ...] = ALL_SCOPES) -> Iterable[_Windowed]:
        """The windows of ``target``'s thread, chat and platform (those in ``scopes``); a look
        (``create=False``) adds no entry."""
        limits = self.limits.get(target.platform)
        if limits is None:
            return ()
        found: list[_Windowed] = []
        places: tuple[tuple[str, dict[Any, _Windowed], object, tuple[Window, ...]], ...] = (
            ("thread", self._threads, target, limits.per_thread),
            ("target", self._targets, target.chat, limits.per_target),
            ("platform", self._platforms, target.platform, limits.per_platform),
            ("paced", self._paced, target.chat, limits.paced),
        )
        for scope, table, key, windows in places:
            if scope not in scopes or not windows:
                continue
            if key not in table:
                if not create:
                    found.append(_Windowed(windows))
                    continue
                table[key] = _Windowed(windows)
            found.append(table[key])
        return found

    def wait_time(self, target: ChannelRef, sends: int = 1, *,
                  scopes: tuple[str, ...] = SEND_SCOPES) -> float:
        """Seconds until ``sends`` more messages to ``target`` fit every window (of the
        ``scopes`` named: the thread's, the chat's, the platform's)."""
        now = self.clock()
        wait = max(0.0, self._held.get(target.chat, now) - now)
        for budget in self._for(target, create=False, scopes=scopes):
            trial = _Windowed(budget.windows, deque(budget.sent))
            for _ in range(sends):
                step = trial.delay(now + wait)
                wait += step
                trial.record(now + wait)
        return wait

    def learn(self, target: ChannelRef, ages: Iterable[float]) -> None:
        """Count messages another worker sent into ``target``'s chat ``ages`` seconds ago
        (a chat taken over): in the chat's and its paced windows, so that the chat's
        limits hold across the hand-off."""
        now = self.clock()
        for budget in self._for(target.chat, scopes=("target", "paced")):
            merged = sorted([*budget.sent, *(now - max(0.0, age) for age in ages)])
            budget.sent.clear()
            for at in merged:
                budget.record(at)

    def record(self, target: ChannelRef, sends: int = 1) -> None:
        """Count ``sends`` messages to ``target`` as sent now (in every scope)."""
        if sends <= 0:
            return
        now = self.clock()
        for budget in self._for(target):
            for _ in range(sends):
                budget.record(now)
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self.prune()

    @contextlib.asynccontextmanager
    async def turn(self, target: ChannelRef,
                   settle: Callable[[bool], Awaitable[float]] | None = None,
                   ) -> AsyncIterator[float]:
        """One stream's turn to send into ``target``'s chat, the first message reserved.

        Streams of one chat (the topics of a forum) wait for their thread's windows on their
        own, then queue for the chat: asyncio's lock hands turns out in arrival order, so a
        stream that just sent waits behind every other one that was waiting. Yields the
        seconds waited, which tells the relay the chat is behind (and posts should be
        combined). The turn lasts until the send is answered, so two streams never both
        count on the last free place. Waiting for other streams' sends is not counted:
        only the budget's own waits say the chat is behind.

        ``settle`` is asked, once the windows allow the send and told whether the chat is
        under pressure (:meth:`pressed`), how much longer the stream would rather wait (its
        topic's posts are still arriving, see :attr:`PlatformLimits.settle`); when it names
        a pause, the turn goes to the streams waiting behind, nothing is reserved, and the
        stream queues again after the pause. ``settle`` bounds its own pauses.
        """
        slept = 0.0
        while (wait := self.wait_time(target, scopes=("thread",))) > 0:
            await self._sleep(wait)
            slept += wait
        key = target.chat
        lock, users = self._turns.get(key) or (asyncio.Lock(), 0)
        self._turns[key] = (lock, users + 1)
        try:
            while True:
                await lock.acquire()
                try:
                    # Several topics of the chat sent lately: it is busy, so it is paced.
                    scopes = PACED_SCOPES if self._busy_chat(target) else SEND_SCOPES
                    while (wait := self.wait_time(target, scopes=scopes)) > 0:
                        await self._sleep(wait)
                        slept += wait
                        self._press(target)
                    pause = await settle(self.pressed(target)) if settle is not None else 0.0
                except BaseException:
                    lock.release()
                    raise
                if pause <= 0:
                    break
                self._press(target)  # still a burst: the others may wait for more too
                lock.release()  # the others go first meanwhile
                await self._sleep(pause)
                slept += pause
            try:
                self.record(target)
                self._press_if_full(target, scopes)
                yield slept
            finally:
                lock.release()
        finally:
            lock, users = self._turns[key]
            if users <= 1:
                del self._turns[key]  # nobody waits: the chat's entry goes
            else:
                self._turns[key] = (lock, users - 1)

    async def acquire(self, target: ChannelRef, sends: int = 1) -> None:
        """Wait until ``sends`` messages to ``target`` fit, and count them as sent.

        Waiting and counting happen with no await between the last check and the count,
        so two tasks sending to one chat never both take the last free place.
        """
        while (wait := self.wait_time(target, sends)) > 0:
            await self._sleep(wait)
        self.record(target, sends)

    def _press(self, target: ChannelRef, at: float | None = None) -> None:
        """Note that ``target``'s chat is behind as of ``at`` (now when not given; kept only
        where a platform settles)."""
        limits = self.limits.get(target.platform)
        if limits is not None and limits.settle > 0:
            self._pressed[target.chat] = self.clock() if at is None else at

    def _press_if_full(self, target: ChannelRef, scopes: tuple[str, ...]) -> None:
        """A turn that took the chat's last free place presses the chat from when its
        windows open again, as a turn waiting for them then would.

        Waits are not the only sign: an adapter may wait out the platform's window inside
        the send (discord.py sleeps in a webhook send that leaves its bucket empty, until
        the bucket resets). The platform's window starts when the request arrives, after
        the work between this reservation and the send (building, recording the attempt:
        longer on PostgreSQL or a loaded machine); once that is longer than the safety
        margin, the next turn comes after the budget's window has opened again, no turn
        waits, and a burst would never count as one (its posts then go out a few at a
        time instead of combined)."""
        chat = tuple(scope for scope in scopes if scope in ("target", "paced"))
        if chat and (wait := self.wait_time(target, scopes=chat)) > 0:
            self._press(target, self.clock() + wait)

    def pressed(self, target: ChannelRef) -> bool:
        """Whether some stream of ``target``'s chat had to wait for the chat's windows, or
        took their last free place, within their span: the budget, not the posts coming
        in, is what limits it now."""
        limits = self.limits.get(target.platform)
        at = self._pressed.get(target.chat)
        if limits is None or at is None:
            return False
        span = max((w.seconds for w in limits.per_target), default=0.0)
        return self.clock() - at < min(span, PRESSED_SPAN) * SAFETY

    def _busy_chat(self, target: ChannelRef) -> bool:
        """Whether other threads (topics) of ``target``'s chat took a turn within its paced
        windows' span; notes this one's."""
        limits = self.limits.get(target.platform)
        if limits is None or not limits.paced:
            return False
        now = self.clock()
        span = max(w.seconds for w in limits.paced) * SAFETY
        recent = self._recent.setdefault(target.chat, {})
        for thread, at in list(recent.items()):
            if at <= now - span:
                del recent[thread]
        recent[target] = now
        return len(recent) > 1

    async def acquire_read(self, platform: str, requests: int = 1) -> None:
        """Wait until ``requests`` reads (a catch-up's history pages) fit the platform's
        own window, and count them: reads share the bot's global limit with every send,
        though not a chat's message windows."""
        place = ChannelRef(platform, "")
        while (wait := self.wait_time(place, requests, scopes=("platform",))) > 0:
            await self._sleep(wait)
        now = self.clock()
        for budget in self._for(place, scopes=("platform",)):
            for _ in range(requests):
                budget.record(now)

    def hold(self, target: ChannelRef, seconds: float) -> None:
        """The platform answered 429 for ``target``: nothing goes there for ``seconds``."""
        until = self.clock() + max(0.0, seconds)
        self._held[target.chat] = max(until, self._held.get(target.chat, until))

    def prune(self) -> None:
        """Forget chats whose windows are empty and holds that are over."""
        self._since_prune = 0
        now = self.clock()
        for table in (self._targets, self._threads, self._paced):
            for key, budget in list(table.items()):
                longest = max((w.seconds * SAFETY for w in budget.windows), default=0.0)
                if not budget.sent or budget.sent[-1] <= now - longest:
                    del table[key]
        for key in [k for k in self._recent if k not in self._paced]:
            del self._recent[key]
        for key, until in list(self._held.items()):
            if until <= now:
                del self._held[key]
        for key, at in list(self._pressed.items()):
            if at <= now - PRESSED_SPAN * SAFETY:
                del self._pressed[key]

    def tracked(self) -> int:
        """How many chats the budget holds anything about (tests, the soak benchmark)."""
        return (len(self._targets) + len(self._threads) + len(self._paced) + len(self._held)
                + len(self._pressed)
                + len(self._later) + len(self._turns) + len(self._recent))

    def max_length(self, platform: str) -> int:
        limits = self.limits.get(platform)
        return limits.max_length if limits else 2000

    # -- messages outside the outbox ---------------------------------------------

    async def send(self, target: ChannelRef, call: Callable[[], Awaitable[object]],
                   *, what: str = "answer") -> None:
        """Send one message outside the outbox (an answer to one person) inside the budget.

        ``call`` sends it and raises :mod:`~bridgebot.core.errors` delivery errors. It goes
        out now when the budget allows within ``INLINE_WAIT``; otherwise, or when the
        platform answers 429 or fails for a moment, it is sent again in the background
        after the wait the platform asked for, in order with the chat's other answers.
        Only a permanent refusal (the person blocked the bot) or running out of patience
        ends it, and both are logged with the chat: never silently dropped.
        """
        key = target.chat
        if key not in self._later and self.wait_time(target) <= INLINE_WAIT:
            await self.acquire(target)
            try:
                await call()
                return
            except errors.RateLimited as err:
                self.hold(target, err.retry_after)
                log.info("%s to %s rate-limited; sending it again in %.1fs", what, key,
                         err.retry_after)
            except (errors.TransientError, OSError, TimeoutError) as err:
                log.info("%s to %s failed (%s); sending it again", what, key, err)
            except errors.PermanentError as err:
                log.warning("could not send the %s to %s: %s", what, key, err)
                return
        before = self._later.get(key)
        task = asyncio.create_task(self._keep_trying(target, call, what, before),
                                   name=f"{what} to {key}")
        self._later[key] = task
        task.add_done_callback(
            lambda done: self._later.pop(key, None) if self._later.get(key) is done else None)

    async def _keep_trying(self, target: ChannelRef, call: Callable[[], Awaitable[object]],
                           what: str, before: asyncio.Task[None] | None) -> None:
        if before is not None:  # the chat's earlier answers go first
            await asyncio.gather(before, return_exceptions=True)
        give_up = self.clock() + ANSWER_PATIENCE
        failures = 0
        while True:
            await self.acquire(target)
            try:
                await call()
                return
            except errors.RateLimited as err:
                self.hold(target, err.retry_after)
                if self.clock() + err.retry_after > give_up:
                    log.warning("gave up the %s to %s: still rate-limited after %.0fs", what,
                                target.chat, ANSWER_PATIENCE)
                    return
                log.info("%s to %s rate-limited; sending it again in %.1fs", what, target.chat,
                         err.retry_after)
            except errors.PermanentError as err:
                log.warning("could not send the %s to %s: %s", what, target.chat, err)
                return
            except (errors.TransientError, OSError, TimeoutError) as err:
                failures += 1
                if failures >= ANSWER_TRIES:
                    log.warning("gave up the %s to %s after %d failures: %s", what, target.chat,
                                failures, err)
                    return
                await self._sleep(random.uniform(0.5, min(60.0, 2.0 ** failures)))
            except Exception:  # a bug must not vanish in a background task
                log.exception("sending the %s to %s failed", what, target.chat)
                return

    async def settle(self, timeout: float = 10.0) -> None:
        """Let answers being sent again finish (bounded), before shutting down."""
        pending = list(self._later.values())
        if pending:
            _, left = await asyncio.wait(pending, timeout=timeout)
            for task in left:
                log.warning("stopping before an answer could be sent again (%s)", task.get_name())
                task.cancel()
