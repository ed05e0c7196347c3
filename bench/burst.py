"""Burst drain: 300 replies in one topic within 5 s, against the platforms' published limits.

The fakes enforce the limits (``enforce_rate_limits=True``: Telegram 1 message/s per
chat, 20/min per group, 30/s in all; Discord 5 per 2 s per webhook, 30/min per
channel's webhooks, 50 requests/s) and the adapters keep their real budgets
(``limits=None``). Each direction runs in a fresh sandbox so that one burst's windows
do not slow the other. The time is from the first reply to the last fake call that
made a post visible on the other platform (the fake's own ``at`` stamp, so the
observer's polling interval is not in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Row, World, quiet_logs, sandbox, wait_until
from bridgebot.core.models import ChannelRef
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter

POSTS = 300
SPREAD = 3.0  # seconds over which the replies arrive (the target says within 5 s)
NUMBER = re.compile(r"(?:· |-# )#(\d+)")
WEBHOOK_EXECUTE = re.compile(r"^/webhooks/\d+/[^/]+$")
# One message per post at the same limits: Discord lets a channel's webhooks post 30
# messages a minute, Telegram a bot 20 messages a minute into one group.
ONE_PER_POST = {"Telegram→Discord": POSTS / 30 * 60, "Discord→Telegram": POSTS / 20 * 60}
SPEEDUP_TARGET = 10.0


@dataclass
class Drain:
    direction: str
    posts: int
    seconds: float  # first reply -> last post visible on the other platform
    messages: int  # messages the bot used on the target to carry the posts
    rate_limited: int  # 429s received from the target platform
    rate_limited_other: int  # 429s from the origin platform (commands, topic opening)
    in_order: bool  # every post exactly once, in order, within the timeout
    sent_over: float  # seconds the replies took to write


def _on_discord(world: World, thread_id: str) -> list[tuple[str, float]]:
    """(content, at) of the bot's webhook messages in the topic's thread, in order."""
    return [(str(c.json.get("content", "")), c.at) for c in world.dc.calls
            if c.method == "POST" and c.status == 200 and WEBHOOK_EXECUTE.match(c.path)
            and c.query.get("thread_id") == thread_id and isinstance(c.json, dict)]


def _on_telegram(world: World) -> list[tuple[str, float]]:
    """(text, at) of the bot's sendMessage calls carrying Discord posts, in order."""
    return [(str(c.params.get("text", "")), c.at) for c in world.tg.calls
            if c.method == "sendMessage" and c.status == 200
            and "Discord · #" in str(c.params.get("text", ""))]


def _numbers(messages: list[tuple[str, float]]) -> list[int]:
    return [int(n) for text, _ in messages for n in NUMBER.findall(text)]


async def _open_topic(world: World, runtime: Runtime) -> tuple[int, str]:
    """Open one topic from Telegram; (Telegram root message id, Discord thread id)."""
    world.tg.user_sends(world.group["id"], world.facilitator,
                        "/newtopic Burst\nReply as fast as you can.")
    tg_ref = ChannelRef("telegram", str(world.group["id"]))
    dc_ref = ChannelRef("discord", str(world.channel["id"]))
    for _ in range(600):
        (_, root), (thread, _) = (await runtime.store.topic_place(1, tg_ref),
                                  await runtime.store.topic_place(1, dc_ref))
        if root is not None and thread is not None:
            return int(root), thread
        await asyncio.sleep(0.05)
    raise TimeoutError("the burst topic was not opened on both platforms")


async def drain(from_telegram: bool, posts: int = POSTS, timeout: float = 120.0) -> Drain:
    """One burst of ``posts`` replies from one platform; wait until all are on the other."""
    direction = "Telegram→Discord" if from_telegram else "Discord→Telegram"
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp, quiet_logs():
        async with sandbox(enforce_rate_limits=True, people=20) as world:
            runtime = Runtime(Path(tmp) / "bridgebot.sqlite3", [world.bridge])
            # The platforms' real budgets: limits=None keeps each adapter's published limits.
            runtime.add_adapter(telegram_adapter(world.tg, world.tg_token, limits=None))
            runtime.add_adapter(discord_adapter(world.dc, world.dc_token, world.guild["id"],
                                                limits=None))
            await runtime.start()
            try:
                root, thread = await _open_topic(world, runtime)
                await runtime.drain(60)
                tg_429, dc_429 = world.tg.stats.too_many_requests, world.dc.stats.too_many_requests

                def visible() -> list[tuple[str, float]]:
                    return _on_discord(world, thread) if from_telegram else _on_telegram(world)

                before = len(visible())
                started = time.monotonic()
                for i in range(posts):
                    if from_telegram:
                        world.tg.user_sends(world.group["id"], world.tg_people[i % 20],
                                            f"reply {i}", reply_to=root)
                    else:
                        world.dc.user_sends(thread, world.dc_people[i % 20], f"reply {i}")
                    if i % 30 == 29:
                        await asyncio.sleep(SPREAD / (posts / 30))
                sent_over = time.monotonic() - started
                with contextlib.suppress(TimeoutError):  # reported as out of order/count below
                    await wait_until(lambda: len(_numbers(visible()[before:])) >= posts, timeout,
                                     f"{direction}: not every post arrived", interval=0.05)
                await asyncio.sleep(0.5)  # anything sent twice would show up now
                messages = visible()[before:]
                numbers = _numbers(messages)
                tg_new = world.tg.stats.too_many_requests - tg_429
                dc_new = world.dc.stats.too_many_requests - dc_429
                complete = numbers == list(range(2, posts + 2))
                last = max((at for _, at in messages), default=started + timeout)
                return Drain(
                    direction, posts, last - started if complete else max(timeout, last - started),
                    len(messages), dc_new if from_telegram else tg_new,
                    tg_new if from_telegram else dc_new, complete, sent_over,
                )
            finally:
                await runtime.stop()


def rows(results: list[Drain]) -> list[Row]:
    out: list[Row] = []
    for d in results:
        one_per_post = ONE_PER_POST[d.direction] * d.posts / POSTS
        speedup = one_per_post / d.seconds
        out.append(Row("burst", f"{d.direction}: {d.posts} replies drained", d.seconds, "s",
                       f"≤ {one_per_post / SPEEDUP_TARGET:.0f} s", d.in_order
                       and speedup >= SPEEDUP_TARGET,
                       f"written over {d.sent_over:.1f} s; "
                       + ("each once, in order" if d.in_order else "ORDER OR COUNT WRONG")))
        out.append(Row("burst", f"{d.direction}: speed-up over one message per post", speedup, "x",
                       f"≥ {SPEEDUP_TARGET:.0f}x", speedup >= SPEEDUP_TARGET,
                       f"one per post: {one_per_post / 60:.0f} min"))
        out.append(Row("burst", f"{d.direction}: messages used", d.messages, "", "", None,
                       f"{d.posts / max(d.messages, 1):.0f} posts per message"))
        out.append(Row("burst", f"{d.direction}: 429s from the target", d.rate_limited, "",
                       "≤ 1 (none after the first)", d.rate_limited <= 1,
                       f"{d.rate_limited_other} from the origin platform"))
    return out


async def run(quick: bool) -> list[Row]:
    posts = 150 if quick else POSTS
    return rows([await drain(True, posts), await drain(False, posts)])
