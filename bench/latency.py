"""Mirror latency: bot-side time for one post to cross from one platform to the other.

One bridge links one Telegram group and one Discord text channel, with 50 topics open
on it (a community runs many topics in the same two chats; it is also the hardest
shape for the relay, whose deliveries to one chat go out one after another). People
reply at a steady 20 posts/s spread over the 50 topics, first on Telegram, then on
Discord. The real adapters run against the fakes with their rate budgets off
(``PlatformLimits()``): at 20 posts/s into one chat the platforms' own limits would
otherwise decide the latency, and those are the burst benchmark's subject.

Clocks: both fakes stamp ``RecordedCall.at`` with ``time.monotonic`` (after handling
the request), the same clock as the send times taken here. Telegram→Discord runs from
``user_sends`` (the update is queued and the bot's waiting ``getUpdates`` long poll is
woken at once) to the fake Discord recording the webhook execution; the getUpdates
answer that carried the update is reported as a breakdown. Discord→Telegram runs from
``user_sends`` (MESSAGE_CREATE goes onto the gateway at once) to the fake Telegram
recording ``sendMessage``. The fakes share the bot's event loop, so their own request
handling is inside these figures: they are an upper bound on the bot's own time.

Two more readings put the percentiles in context: a few lone posts a second apart,
each finding the relay idle (a relay on a polling interval would add up to that
interval to them; bridgebot's is woken by the commit that queued the delivery), and
the event loop's own lag during the steady runs (a 5 ms sleep waking late), which is
where the 2-core machine's other load, full garbage collections and the GIL show up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Row, World, percentile, quiet_logs, sandbox, wait_until
from bridgebot.core.models import ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter

TOPICS = 50
RATE = 20.0  # posts per second, steady
P50_TARGET_MS = 20.0
P99_TARGET_MS = 100.0
TOKEN = re.compile(r"\b((?:tg|dc|tw|dw|ti|di)\d{5}x)\b")
IDLE_RATE = 1.0  # posts per second after the relay has gone idle: polling would show here
WEBHOOK_EXECUTE = re.compile(r"^/webhooks/\d+/[^/]+$")


@dataclass
class Direction:
    """Latencies (ms) of one direction; ``handoff`` is Telegram's getUpdates hand-off."""

    name: str
    latencies: list[float]
    handoff: list[float]
    lost: int
    lag: list[float] = field(default_factory=list)  # event-loop lag (ms) during the steady runs
    gc_pauses: list[float] = field(default_factory=list)  # full (gen 2) collections, ms


@dataclass
class Places:
    """Where each topic lives on each platform, read from the store once topics are open."""

    tg_root: dict[int, int] = field(default_factory=dict)  # topic -> Telegram root message
    dc_thread: dict[int, str] = field(default_factory=dict)  # topic -> Discord thread


async def _open_topics(world: World, runtime: Runtime, topics: int) -> Places:
    """The facilitator opens ``topics`` topics from Telegram; wait until each is on both."""
    tg_ref = ChannelRef("telegram", str(world.group["id"]))
    dc_ref = ChannelRef("discord", str(world.channel["id"]))
    for i in range(topics):
        world.tg.user_sends(world.group["id"], world.facilitator,
                            f"/newtopic Topic {i}\nWhat worked for you, part {i}?")
    places = Places()

    async def placed() -> bool:
        for topic_id in range(1, topics + 1):
            if topic_id in places.dc_thread:
                continue
            _, root = await runtime.store.topic_place(topic_id, tg_ref)
            thread, _ = await runtime.store.topic_place(topic_id, dc_ref)
            if root is None or thread is None:
                return False
            places.tg_root[topic_id], places.dc_thread[topic_id] = int(root), thread
        return True

    for _ in range(2400):  # two minutes at most
        if await placed():
            break
        await asyncio.sleep(0.05)
    else:
        raise TimeoutError("the topics were not opened on both platforms")
    await runtime.drain(60)
    return places


async def _send_steadily(count: int, prefix: str, send: Callable[[int, str], None],
                         rate: float = RATE) -> dict[str, float]:
    """Call ``send(i, token)`` at a steady ``rate`` on an absolute schedule (no drift);
    return token -> monotonic time it was handed to the fake."""
    sent: dict[str, float] = {}
    start = time.monotonic() + 0.05
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        token = f"{prefix}{i:05d}x"
        sent[token] = time.monotonic()
        send(i, token)
    return sent


class Arrivals:
    """token -> ``at`` of the first fake call that carried it, read incrementally from a
    fake's call log so that watching for arrivals stays cheap however long the run."""

    def __init__(self, calls: list[Any], carried: Callable[[Any], str | None]) -> None:
        self.calls = calls
        self.carried = carried
        self.seen = 0
        self.found: dict[str, float] = {}

    def poll(self) -> dict[str, float]:
        while self.seen < len(self.calls):
            call = self.calls[self.seen]
            self.seen += 1
            text = self.carried(call)
            for token in TOKEN.findall(text or ""):
                self.found.setdefault(token, call.at)
        return self.found


def _webhook_content(call: Any) -> str | None:
    """What a successful Discord webhook execution posted."""
    if call.method != "POST" or call.status != 200 or not WEBHOOK_EXECUTE.match(call.path):
        return None
    return str(call.json.get("content", "")) if isinstance(call.json, dict) else None


def _sent_text(call: Any) -> str | None:
    """What a successful Telegram sendMessage posted."""
    if call.method != "sendMessage" or call.status != 200:
        return None
    return str(call.params.get("text", ""))


def _handed_text(call: Any) -> str | None:
    """The texts a getUpdates answer handed to the bot."""
    if call.method != "getUpdates":
        return None
    return "\n".join((u.get("message") or {}).get("text", "")
                     for u in call.response.get("result") or [])


class LoopLag:
    """How late a 5 ms sleep wakes up on the shared event loop. Whatever holds the loop or
    the CPU (other processes on the 2 cores, the GIL held by the database threads, full
    garbage collections, the fakes, the bot) delays every post in flight by as much, so
    latency outliers are read against it."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc_pauses: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._gc_started = 0.0

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info.get("generation") == 2:
            self.gc_pauses.append((time.perf_counter() - self._gc_started) * 1000)

    async def _watch(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(0.005)
            self.lags.append((time.monotonic() - asked - 0.005) * 1000)

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _direction(world: World, places: Places, count: int, from_telegram: bool,
                     prefix: str, rate: float = RATE) -> Direction:
    topic_ids = sorted(places.tg_root)
    if from_telegram:
        def send(i: int, token: str) -> None:
            topic = topic_ids[i % len(topic_ids)]
            world.tg.user_sends(world.group["id"], world.tg_people[i % len(world.tg_people)],
                                f"{token} a steady reply", reply_to=places.tg_root[topic])
        arrivals = Arrivals(world.dc.calls, _webhook_content)
    else:
        def send(i: int, token: str) -> None:
            topic = topic_ids[i % len(topic_ids)]
            world.dc.user_sends(places.dc_thread[topic], world.dc_people[i % len(world.dc_people)],
                                f"{token} a steady reply")
        arrivals = Arrivals(world.tg.calls, _sent_text)
    arrivals.seen = len(arrivals.calls)  # only calls made from now on
    sent = await _send_steadily(count, prefix, send, rate)
    lost = 0
    try:
        await wait_until(lambda: all(t in arrivals.poll() for t in sent), 30,
                         "not every post was mirrored")
    except TimeoutError:
        lost = sum(1 for t in sent if t not in arrivals.poll())
    arrived = arrivals.poll()
    latencies = [(arrived[t] - sent[t]) * 1000 for t in sent if t in arrived]
    handoff: list[float] = []
    if from_telegram:
        handed = Arrivals(world.tg.calls, _handed_text).poll()
        handoff = [(handed[t] - sent[t]) * 1000 for t in sent if t in handed]
    name = "Telegram→Discord" if from_telegram else "Discord→Telegram"
    return Direction(name, latencies, handoff, lost)


async def measure(posts: int, warmup: int = 20, idle: int = 5) -> list[Direction]:
    """Both directions at RATE posts/s over TOPICS topics, after a short warm-up; then
    ``idle`` lone posts each way, a second apart, each finding the relay idle (a relay
    that polled would add up to its interval to these)."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, quiet_logs():
        async with sandbox(people=50) as world:
            runtime = Runtime(Path(tmp) / "bridgebot.sqlite3", [world.bridge])
            runtime.add_adapter(telegram_adapter(world.tg, world.tg_token,
                                                 limits=PlatformLimits(max_length=4096)))
            runtime.add_adapter(discord_adapter(world.dc, world.dc_token, world.guild["id"],
                                                limits=PlatformLimits()))
            await runtime.start()
            try:
                places = await _open_topics(world, runtime, TOPICS)
                # Warm-up: first webhook use, first send per thread, caches.
                await _direction(world, places, warmup, True, "tw")
                await _direction(world, places, warmup, False, "dw")
                lag = LoopLag()
                lag.start()
                try:
                    steady = [await _direction(world, places, posts, True, "tg"),
                              await _direction(world, places, posts, False, "dc")]
                finally:
                    await lag.stop()
                steady[0].lag, steady[0].gc_pauses = lag.lags, lag.gc_pauses
                lone = [await _direction(world, places, idle, True, "ti", IDLE_RATE),
                        await _direction(world, places, idle, False, "di", IDLE_RATE)]
                for d in lone:
                    d.name += " lone posts"
                return steady + lone
            finally:
                await runtime.stop()


def rows(directions: list[Direction]) -> list[Row]:
    out: list[Row] = []
    for d in directions:
        if d.name.endswith("lone posts"):
            out.append(Row("latency", f"{d.name} after idle, median", percentile(d.latencies, 50),
                           "ms", "", None, f"{len(d.latencies)} posts 1 s apart, {d.lost} lost; max "
                           f"{max(d.latencies, default=math.nan):.1f} ms: woken by new work, "
                           "no polling interval"))
            continue
        p50, p99 = percentile(d.latencies, 50), percentile(d.latencies, 99)
        note = f"{len(d.latencies)} posts at {RATE:.0f}/s over {TOPICS} topics"
        if d.lost:
            note += f"; {d.lost} not mirrored within 30 s"
        out.append(Row("latency", f"{d.name} p50", p50, "ms", f"≤ {P50_TARGET_MS:.0f} ms",
                       p50 <= P50_TARGET_MS and not d.lost, note))
        out.append(Row("latency", f"{d.name} p99", p99, "ms", f"≤ {P99_TARGET_MS:.0f} ms",
                       p99 <= P99_TARGET_MS and not d.lost,
                       f"max {max(d.latencies, default=math.nan):.1f} ms"))
        if d.lag:
            pauses = f"{len(d.gc_pauses)} full GCs, longest {max(d.gc_pauses):.0f} ms" \
                if d.gc_pauses else "no full GC"
            out.append(Row("latency", "event-loop lag during the steady runs, p99", percentile(d.lag, 99),
                           "ms", "", None, f"max {max(d.lag):.0f} ms; {pauses}; a 5 ms sleep "
                           "waking late: other processes, GIL, GC, fakes and bot together"))
        if d.handoff:
            out.append(Row("latency", f"{d.name}: of which getUpdates hand-off p50",
                           percentile(d.handoff, 50), "ms", "", None,
                           f"p99 {percentile(d.handoff, 99):.1f} ms (long poll woken at once)"))
    return out


async def run(quick: bool) -> list[Row]:
    return rows(await measure(100 if quick else 300, warmup=10 if quick else 20,
                              idle=3 if quick else 5))
