"""Many topics at once, as shipped: the headline shapes of issue 15.

One Discord forum channel and one Telegram forum group on one bridge, 10 open topics, the
adapters' shipped budgets (``TelegramAdapter.limits``, ``DiscordAdapter.limits``) and the
sandboxes enforcing the published limits (Telegram: 1 message/s per chat, 20/min per group
shared by its forum topics, 30/s in all; Discord: 5 per 2 s per webhook, 30/min per
channel where each thread is a channel, 50 requests/s). docs/rate-limits.md has each
number's source.

The topics are opened before the limits are switched on: opening 10 topics costs 30
Telegram messages (the forum topic, its first message, the answer to /newtopic), a minute
and a half at 20 a minute, which is setup, not what is measured. Each direction and each
shape runs in a fresh sandbox, so one run's windows do not slow the next.

- **burst**: 100 posts spread over the 10 topics (interleaved) within 5 s; the time from
  the last post written until every post is visible on the other platform (the fake's own
  timestamp of the call that showed it), the messages used, 429s, order per topic.
- **steady**: 2 posts/s over the 10 topics for 60 s; each post's latency from written to
  visible, and the backlog (pending deliveries) sampled every 2 s. On Telegram the ten
  topics share the group's 20 messages a minute, so a topic can be served about every
  ``topics × 60 / 20`` = 30 s: the benchmark computes that floor from the published limits
  and gives p50 and p99 as a ratio to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Row, median, percentile, quiet_logs, wait_until
from bridgebot.adapters.discord.adapter import DiscordAdapter
from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.adapters.telegram.adapter import TelegramAdapter
from bridgebot.core.models import ChannelRef, DeliveryState
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram

TOPICS = 10
BURST_POSTS = 100
BURST_SPREAD = 5.0
STEADY_RATE = 2.0  # posts per second, over all topics
STEADY_SECONDS = 60.0
TOKEN = re.compile(r"t(\d+)p(\d+)x")
WEBHOOK_EXECUTE = re.compile(r"^/webhooks/\d+/[^/]+$")
# Targets (issue 15).
BURST_WITHIN = {"Telegram→Discord": 15.0, "Discord→Telegram": 45.0}
FEWER = 5.0
DISCORD_P50, DISCORD_P99 = 2.0, 6.0
FLOOR_RATIO = 1.3


def telegram_floor(topics: int = TOPICS) -> float:
    """Seconds between two turns of one topic when every topic of a forum group is busy:
    the group's per-minute window shared by all of them (published limits, as shipped)."""
    per_minute = next(w for w in TelegramAdapter.limits.per_target if w.seconds == 60.0)
    return topics * per_minute.seconds / per_minute.count


@dataclass
class Forum:
    """Both fakes, a Telegram forum group and a Discord forum channel on one bridge, the
    running bot and the 10 open topics' places."""

    tg: FakeTelegram
    dc: FakeDiscord
    runtime: Runtime
    group: dict[str, Any]
    channel: dict[str, Any]
    tg_people: list[dict[str, Any]]
    dc_people: list[dict[str, Any]]
    tg_threads: list[int]  # forum topic (message_thread_id) per topic
    dc_threads: list[str]  # Discord thread id per topic

    def write(self, from_telegram: bool, topic: int, n: int, text: str) -> None:
        if from_telegram:
            self.tg.user_sends(self.group["id"], self.tg_people[n % len(self.tg_people)], text,
                               thread_id=self.tg_threads[topic])
        else:
            self.dc.user_sends(self.dc_threads[topic], self.dc_people[n % len(self.dc_people)],
                               text)

    def shown(self, from_telegram: bool) -> list[tuple[str, float, str]]:
        """(text, when the fake showed it, topic place) of every message the bot posted on
        the other platform that carries posts, in order."""
        if from_telegram:
            return [(str(c.json.get("content", "")), c.at, str(c.query.get("thread_id")))
                    for c in self.dc.calls
                    if c.method == "POST" and c.status == 200 and WEBHOOK_EXECUTE.match(c.path)
                    and isinstance(c.json, dict) and TOKEN.search(str(c.json.get("content")))]
        return [(str(c.params.get("text", "")), c.at, str(c.params.get("message_thread_id")))
                for c in self.tg.calls
                if c.method == "sendMessage" and c.status == 200
                and TOKEN.search(str(c.params.get("text", "")))]

    def too_many(self, from_telegram: bool) -> int:
        """429s from the target platform."""
        return (self.dc if from_telegram else self.tg).stats.too_many_requests

    async def backlog(self) -> int:
        return len(await self.runtime.store.outbox([DeliveryState.PENDING]))


@contextlib.asynccontextmanager
async def forum(tmp: Path, people: int = 20) -> AsyncIterator[Forum]:
    """The headline shape with 10 topics open and the shipped limits switched on."""
    async with (FakeTelegram(enforce_rate_limits=False) as tg,
                FakeDiscord(heartbeat_interval_ms=5000, enforce_rate_limits=False) as dc):
        try:
            tg_token = tg.add_bot(username="bridgebot_bench_bot")
            facilitator = tg.add_user("Kristin", "Antin")
            group = tg.add_chat("Allies forum", is_forum=True, owner=facilitator)
            tg_people = [tg.add_user(f"Telegrammer{i}") for i in range(people)]
            dc_token = dc.add_bot("bridgebot")
            guild = dc.add_guild("New Tactics")
            channel = dc.add_forum_channel(guild["id"], "discussions")
            role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
            dc.add_member(guild["id"], "kristin", global_name="Kristin Antin", roles=[role["id"]])
            dc_people = [dc.add_member(guild["id"], f"discorder{i}", global_name=f"Discorder{i}")
                         for i in range(people)]
            tg_ref = ChannelRef("telegram", str(group["id"]))
            dc_ref = ChannelRef("discord", str(channel["id"]))
            runtime = Runtime(tmp / "bridgebot.sqlite3", [Bridge("bench", (tg_ref, dc_ref))])
            runtime.add_adapter(telegram_adapter(tg, tg_token, limits=PlatformLimits(
                max_length=TelegramAdapter.limits.max_length)))
            runtime.add_adapter(discord_adapter(dc, dc_token, guild["id"], limits=PlatformLimits(
                max_length=DiscordAdapter.limits.max_length)))
            await runtime.start()
            try:
                tg_threads: list[int] = []
                dc_threads: list[str] = []
                for i in range(TOPICS):
                    tg.user_sends(group["id"], facilitator, f"/newtopic Topic {i}\nYour view?")
                    tg_thread, dc_thread = await _opened(runtime, i + 1, tg_ref, dc_ref)
                    tg_threads.append(int(tg_thread))
                    dc_threads.append(dc_thread)
                await runtime.drain(60)
                # From here on: the shipped budgets, and the platforms counting.
                for adapter, limits in ((runtime.adapters["telegram"], TelegramAdapter.limits),
                                        (runtime.adapters["discord"], DiscordAdapter.limits)):
                    adapter.limits = limits  # type: ignore[attr-defined]
                    runtime.budget.add(adapter.platform, limits)
                tg.enforce_rate_limits = dc.enforce_rate_limits = True
                yield Forum(tg, dc, runtime, group, channel, tg_people, dc_people, tg_threads,
                            dc_threads)
            finally:
                await runtime.stop(grace=2.0)
        finally:
            reset_api_base()


async def _opened(runtime: Runtime, topic_id: int, tg_ref: ChannelRef,
                  dc_ref: ChannelRef) -> tuple[str, str]:
    for _ in range(600):
        (tg_thread, _), (dc_thread, _) = (await runtime.store.topic_place(topic_id, tg_ref),
                                          await runtime.store.topic_place(topic_id, dc_ref))
        if tg_thread is not None and dc_thread is not None:
            return tg_thread, dc_thread
        await asyncio.sleep(0.05)
    raise TimeoutError(f"topic {topic_id} was not opened on both platforms")


def _seen(messages: list[tuple[str, float, str]]) -> dict[tuple[int, int], float]:
    """(topic, post) -> when it became visible (the first message that carried it)."""
    out: dict[tuple[int, int], float] = {}
    for text, at, _ in messages:
        for t, p in TOKEN.findall(text):
            out.setdefault((int(t), int(p)), at)
    return out


def _in_order(messages: list[tuple[str, float, str]], posts: dict[int, int]) -> bool:
    """Every post of every topic exactly once, in its topic's order."""
    per_topic: dict[int, list[int]] = {}
    for text, _, _ in messages:
        for t, p in TOKEN.findall(text):
            per_topic.setdefault(int(t), []).append(int(p))
    return all(per_topic.get(t, []) == list(range(n)) for t, n in posts.items())


@dataclass
class Burst:
    direction: str
    posts: int
    after_last: float  # last post written -> every post visible
    messages: int
    rate_limited: int
    in_order: bool
    written_over: float


async def burst(from_telegram: bool, posts: int = BURST_POSTS, timeout: float = 120.0) -> Burst:
    direction = "Telegram→Discord" if from_telegram else "Discord→Telegram"
    with tempfile.TemporaryDirectory(prefix="bench-topics-") as tmp, quiet_logs():
        async with forum(Path(tmp)) as f:
            before, limited = len(f.shown(from_telegram)), f.too_many(from_telegram)
            counts = dict.fromkeys(range(TOPICS), 0)
            started = time.monotonic()
            for i in range(posts):
                t = i % TOPICS
                f.write(from_telegram, t, i, f"t{t}p{counts[t]}x my view")
                counts[t] += 1
                await asyncio.sleep(BURST_SPREAD / posts)
            last_written = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda: len(_seen(f.shown(from_telegram)[before:])) >= posts,
                                 timeout, f"{direction}: not every post arrived", interval=0.1)
            await asyncio.sleep(0.5)  # anything sent twice would show up now
            messages = f.shown(from_telegram)[before:]
            seen = _seen(messages)
            done = len(seen) >= posts
            return Burst(direction, posts,
                         (max(seen.values()) - last_written) if done else timeout,
                         len(messages), f.too_many(from_telegram) - limited,
                         done and _in_order(messages, counts), last_written - started)


@dataclass
class Steady:
    direction: str
    posts: int
    seconds: float
    latencies: list[float]
    backlog: list[int]
    rate_limited: int
    messages: int
    in_order: bool


async def steady(from_telegram: bool, seconds: float = STEADY_SECONDS,
                 timeout: float = 120.0) -> Steady:
    direction = "Telegram→Discord" if from_telegram else "Discord→Telegram"
    with tempfile.TemporaryDirectory(prefix="bench-topics-") as tmp, quiet_logs():
        async with forum(Path(tmp)) as f:
            before, limited = len(f.shown(from_telegram)), f.too_many(from_telegram)
            counts = dict.fromkeys(range(TOPICS), 0)
            written: dict[tuple[int, int], float] = {}
            backlog: list[int] = []
            posts = int(seconds * STEADY_RATE)
            started = time.monotonic()
            next_sample = started
            for i in range(posts):
                t = i % TOPICS
                written[(t, counts[t])] = time.monotonic()
                f.write(from_telegram, t, i, f"t{t}p{counts[t]}x steady")
                counts[t] += 1
                if time.monotonic() >= next_sample:
                    backlog.append(await f.backlog())
                    next_sample += 2.0
                delay = started + (i + 1) / STEADY_RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda: len(_seen(f.shown(from_telegram)[before:])) >= posts,
                                 timeout, f"{direction}: not every post arrived", interval=0.1)
            messages = f.shown(from_telegram)[before:]
            seen = _seen(messages)
            latencies = [seen[k] - at for k, at in written.items() if k in seen]
            return Steady(direction, posts, seconds, latencies, backlog,
                          f.too_many(from_telegram) - limited, len(messages),
                          len(seen) >= posts and _in_order(messages, counts))


def _growth(backlog: list[int]) -> tuple[bool, str]:
    """The backlog never grows: the last quarter of the run holds no more than the second
    quarter (after the first turns have filled the pipeline), with a little slack."""
    if len(backlog) < 8:
        return True, f"samples {backlog}"
    q = len(backlog) // 4
    early, late = median(backlog[q:2 * q]), median(backlog[-q:])
    return late <= early * 1.25 + 5, f"pending deliveries, median of the 2nd quarter {early:.0f}, " \
                                      f"of the last quarter {late:.0f}; max {max(backlog)}"


def burst_rows(results: list[Burst]) -> list[Row]:
    out: list[Row] = []
    for b in results:
        within = BURST_WITHIN[b.direction]
        out.append(Row("topics", f"burst {b.direction}: {b.posts} posts over {TOPICS} topics, "
                                 "all visible after the last", b.after_last, "s", f"≤ {within:.0f} s",
                       b.in_order and b.after_last <= within,
                       f"written over {b.written_over:.1f} s; "
                       + ("each once, in order per topic" if b.in_order else "ORDER OR COUNT WRONG")))
        ratio = b.posts / max(b.messages, 1)
        out.append(Row("topics", f"burst {b.direction}: posts per message", ratio, "x",
                       f"≥ {FEWER:.0f}x", ratio >= FEWER, f"{b.messages} messages"))
        out.append(Row("topics", f"burst {b.direction}: 429s from the target", b.rate_limited, "",
                       "0", b.rate_limited == 0, "sandbox enforcing the published limits"))
    return out


def steady_rows(results: list[Steady]) -> list[Row]:
    out: list[Row] = []
    floor = telegram_floor()
    for s in results:
        p50, p99 = percentile(s.latencies, 50), percentile(s.latencies, 99)
        grows_not, how = _growth(s.backlog)
        note = (f"{STEADY_RATE:g} posts/s over {TOPICS} topics for {s.seconds:.0f} s; "
                f"{len(s.latencies)}/{s.posts} delivered; {s.messages} messages")
        if s.direction == "Telegram→Discord":
            out.append(Row("topics", f"steady {s.direction}: p50", p50, "s",
                           f"≤ {DISCORD_P50:g} s", s.in_order and p50 <= DISCORD_P50, note))
            out.append(Row("topics", f"steady {s.direction}: p99", p99, "s",
                           f"≤ {DISCORD_P99:g} s", s.in_order and p99 <= DISCORD_P99,
                           "each once, in order per topic" if s.in_order else "ORDER OR COUNT WRONG"))
        else:
            out.append(Row("topics", f"steady {s.direction}: p50 / floor", p50 / floor, "x",
                           f"≤ {FLOOR_RATIO:g}x", s.in_order and p50 / floor <= FLOOR_RATIO,
                           f"p50 {p50:.1f} s; floor {floor:.0f} s = {TOPICS} topics sharing the "
                           f"group's 20 messages a minute; {note}"))
            out.append(Row("topics", f"steady {s.direction}: p99 / floor", p99 / floor, "x",
                           f"≤ {FLOOR_RATIO:g}x", s.in_order and p99 / floor <= FLOOR_RATIO,
                           f"p99 {p99:.1f} s; " + ("each once, in order per topic" if s.in_order
                                                   else "ORDER OR COUNT WRONG")))
        out.append(Row("topics", f"steady {s.direction}: backlog never grows",
                       float(s.backlog[-1]) if s.backlog else 0.0, "", "no growth", grows_not, how))
        out.append(Row("topics", f"steady {s.direction}: 429s from the target", s.rate_limited, "",
                       "0", s.rate_limited == 0, ""))
    return out


async def run(quick: bool) -> list[Row]:
    posts = BURST_POSTS // 2 if quick else BURST_POSTS
    seconds = 20.0 if quick else STEADY_SECONDS
    bursts = [await burst(True, posts), await burst(False, posts)]
    steadies = [await steady(True, seconds), await steady(False, seconds)]
    return burst_rows(bursts) + steady_rows(steadies)


def main(argv: list[str] | None = None, runner: Callable[..., Any] = asyncio.run) -> None:
    """``python -m bench.topics [--quick]``: only these shapes, as a table."""
    import sys

    from bench.__main__ import table

    rows = runner(run("--quick" in (argv if argv is not None else sys.argv[1:])))
    print(table(rows))


if __name__ == "__main__":
    main()
