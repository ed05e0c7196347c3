"""Three workers on one PostgreSQL lose nothing when one dies and another is stopped.

Three ``bridgebot run`` processes share one database, a Telegram forum group and a Discord
forum channel (the sandboxes enforcing the platforms' published limits), five topics open.
300 posts arrive from both platforms across the topics within a few seconds; mid-burst the
worker holding the most delivery targets is killed (SIGKILL: no clean stop of any kind) and
the Telegram poller (or the next busiest worker) is stopped (SIGTERM). The last one takes
the roles and the targets over and finishes: every post reaches the other platform once (a
copy whose confirmation died with the killed worker may be sent again: at most one such
message per crash), in order per topic, with no rate-limit answer beyond the first.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridgebot.store.postgres import PgDatabase

from .auxil.workers import workers
from .conftest import Build

TOPICS = 5
POSTS_EACH = 30  # per platform and topic: 5 × 30 × 2 = 300 posts
CRASHES = 1  # SIGKILLs: each may leave one message sent but not confirmed
NUMBER = re.compile(r"(?:· |-# )#(\d+)")

pytestmark = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


@dataclass(frozen=True)
class Post:
    topic: int  # 0-based, as in the titles
    number: int
    text: str

    @property
    def from_telegram(self) -> bool:
        return self.text.endswith("from Telegram")


async def wait_for(predicate: Callable[[], Any], timeout: float,
                   what: Callable[[], str]) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                if result := predicate():
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(what()) from None


@pytest.mark.timeout(150)
async def test_three_workers_lose_nothing_when_one_is_killed_and_one_stopped_mid_burst(
        tmp_path: Path, build: Build, request: pytest.FixtureRequest):
    # Five topics opened by one in-process bot without limits (setup, not what is tested:
    # opening them costs 20 Telegram messages, a minute at the published rate), then
    # stopped; the workers carry on from its database and its getUpdates offset.
    w = await build(telegram=("forum",), discord=("forum",))
    tg, dc = w.tg, w.dc
    assert tg is not None and dc is not None and isinstance(w.runtime.db, PgDatabase)
    forum, channel, guild = w.forum, w.forum_channel, w.guild
    for i in range(TOPICS):
        tg.user_sends(forum["id"], w.kristin.tg, f"/newtopic Topic {i}\nYour view?")
        await w.until(lambda n=i + 1: len(dc.threads(channel["id"])) == n
                      and len(tg.topics(forum["id"])) == n)
    await w.settle()
    await w.runtime.stop()
    dc_threads = [next(t["id"] for t in dc.threads(channel["id"]) if t["name"] == f"Topic {i}")
                  for i in range(TOPICS)]
    tg_threads = [next(t["message_thread_id"] for t in tg.topics(forum["id"])
                       if t["name"] == f"Topic {i}") for i in range(TOPICS)]
    dsn = w.runtime.db.dsn
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(dsn, tokens=True))
    tg_people = [tg.add_user(f"Telegrammer{i}") for i in range(5)]
    dc_people = [dc.add_member(guild["id"], f"discorder{i}", global_name=f"Discorder{i}")
                 for i in range(5)]

    def on_discord(t: int) -> list[list[int]]:
        """The post numbers each copy in topic ``t``'s Discord thread carries, in order."""
        return [[int(n) for n in NUMBER.findall(m["content"])] for m in w.mirrors(dc_threads[t])]

    def on_telegram(t: int) -> list[list[int]]:
        return [[int(n) for n in NUMBER.findall(m.get("text", ""))]
                for m in tg.chat_messages(forum["id"], tg_threads[t])
                if m.get("from", {}).get("is_bot") and " · Discord · #" in m.get("text", "")]

    def carried(t: int, telegram: bool) -> set[int]:
        return {n for ns in (on_discord(t) if telegram else on_telegram(t)) for n in ns}

    events: list[tuple[float, str]] = []  # the test's own steps, on the sandboxes' clock

    def timeline() -> None:
        """Every call the sandboxes answered and the test's steps, by time, beside the
        workers' logs."""
        lines = events + [(c.at, f"TG {c.method} {c.status} {str(c.params.get('text', ''))[:50]!r}")
                 for c in tg.calls if c.method != "getUpdates" or c.status != 200]
        lines += [(c.at, f"DC {c.method} {c.path[:40]} {c.status} "
                   f"{str(c.json.get('content', '') if isinstance(c.json, dict) else '')[:50]!r}")
                  for c in dc.calls]
        (tmp_path / "timeline.txt").write_text(
            "\n".join(f"{at:.3f} {line}" for at, line in sorted(lines)) + "\n")

    request.addfinalizer(timeline)

    async with workers(config, 3) as crew:
        async def roles() -> dict[str, list[str] | None]:
            return {x.name: await x.roles() for x in crew if x.running}

        for _ in range(300):
            now = await roles()
            taken = [r for rs in now.values() if rs for r in rs]
            if sorted(taken) == ["discord-gateway", "scheduler", "telegram-polling"] \
                    and None not in now.values():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the workers did not start: roles {await roles()}")
        await asyncio.sleep(1.0)  # the Discord gateway ready (the sandbox sends to the connected)

        tg.enforce_rate_limits = dc.enforce_rate_limits = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        events.append((started, "TEST burst starts"))

        a_third, killed = asyncio.Event(), asyncio.Event()

        async def burst() -> None:
            for p in range(POSTS_EACH):
                if p == POSTS_EACH // 3:
                    a_third.set()
                if p == 2 * POSTS_EACH // 3:  # on a slow machine: the last third after the kill
                    await killed.wait()
                for t in range(TOPICS):
                    tg.user_sends(forum["id"], tg_people[(p + t) % 5], f"t{t}t{p}x from Telegram",
                                  thread_id=tg_threads[t])
                    dc.user_sends(dc_threads[t], dc_people[(p + t) % 5], f"t{t}d{p}x from Discord")
                await asyncio.sleep(0.2)  # 300 posts in about 6 s

        writing = asyncio.create_task(burst())
        await a_third.wait()
        await wait_for(lambda: sum(len(carried(t, True)) for t in range(TOPICS)) >= 3
                       and sum(len(carried(t, False)) for t in range(TOPICS)) >= 3, 20,
                       lambda: "nothing was mirrored in the burst's first seconds")
        # The victim holds the most delivery targets (the others must see it dead and take
        # them over, their sends of the last minute counted); the one stopped cleanly is the
        # Telegram poller if another.
        scraped = await asyncio.gather(*(x.status() for x in crew))
        status = {x.name: s or ([], 0.0) for x, s in zip(crew, scraped, strict=True)}
        victim = max(crew, key=lambda x: (status[x.name][1], "telegram-polling" in status[x.name][0]))
        await victim.kill()
        killed.set()
        killed_at = loop.time() - started
        events.append((loop.time(), f"TEST killed {victim.name} {status}"))
        assert not writing.done(), "killed mid-burst"
        stopped = max((x for x in crew if x is not victim),
                      key=lambda x: ("telegram-polling" in status[x.name][0], status[x.name][1]))
        stopping = asyncio.create_task(stopped.terminate())
        events.append((loop.time(), f"TEST stopping {stopped.name}"))
        await writing
        written_at = loop.time() - started
        assert await stopping == 0, stopped.log.read_text()[-3000:]
        stopped_at = loop.time() - started
        events.append((loop.time(), f"TEST stopped {stopped.name}"))
        [survivor] = [x for x in crew if x.running]

        async def recorded() -> list[Post]:
            db = PgDatabase(dsn)
            await db.open()
            try:
                rows = await db.fetch("SELECT t.title, p.number, p.text FROM posts p JOIN topics t "
                                      "ON t.id = p.topic_id WHERE p.text LIKE '% from %' "
                                      "ORDER BY p.topic_id, p.number")
            finally:
                await db.close()
            return [Post(int(r[0].split()[-1]), r[1], r[2]) for r in rows]

        posts = await recorded()
        for _ in range(900):
            if len(posts) >= 2 * TOPICS * POSTS_EACH:
                break
            await asyncio.sleep(0.1)
            posts = await recorded()

        def expected(t: int, telegram: bool) -> set[int]:
            return {p.number for p in posts if p.topic == t and p.from_telegram == telegram}

        def complete() -> bool:
            return all(carried(t, k) >= expected(t, k) for t in range(TOPICS) for k in (True, False))

        def diagnosis() -> str:
            lines = [f"after {loop.time() - started:.1f} s ({victim.name} killed at "
                     f"{killed_at:.1f} s, {stopped.name} stopped at {stopped_at:.1f} s, "
                     f"{survivor.name} left; {len(posts)} posts recorded); missing:"]
            for t in range(TOPICS):
                lines.append(f"  topic {t}: on Discord "
                             f"{sorted(expected(t, True) - carried(t, True))}, on Telegram "
                             f"{sorted(expected(t, False) - carried(t, False))}")
            lines.append(f"429s: Telegram {tg.stats.too_many_requests}, "
                         f"Discord {dc.stats.too_many_requests}; timeline.txt and the workers' "
                         f"logs in {tmp_path}")
            lines.append(survivor.log.read_text()[-2000:])
            return "\n".join(lines)

        await wait_for(complete, 60, diagnosis)
        finished_at = loop.time() - started
        events.append((loop.time(), "TEST every post mirrored"))
        await asyncio.sleep(1.0)  # anything that would be sent twice has had time to be
        assert await survivor.terminate() == 0, survivor.log.read_text()[-3000:]

    print(f"\n{len(posts)} posts written over {written_at:.1f} s; {victim.name} killed at "
          f"{killed_at:.1f} s, {stopped.name} stopped at {stopped_at:.1f} s, every post mirrored "
          f"at {finished_at:.1f} s; 429s: Telegram {tg.stats.too_many_requests}, "
          f"Discord {dc.stats.too_many_requests}")

    for worker in crew:
        log = worker.log.read_text()
        assert " ERROR " not in log and "Traceback" not in log, (
            f"{worker.name} logged an error:\n{log[log.find(' ERROR '):][:3000]}")

    texts = Counter(p.text for p in posts)
    written = {f"t{t}{k}{p}x from {'Telegram' if k == 't' else 'Discord'}"
               for t in range(TOPICS) for k in "td" for p in range(POSTS_EACH)}
    assert set(texts) == written and set(texts.values()) == {1}, (
        f"every message recorded once: missing {sorted(written - set(texts))}, "
        f"twice {sorted(t for t, n in texts.items() if n > 1)}")
    again: list[str] = []
    for t in range(TOPICS):
        dc_numbers = [n for ns in on_discord(t) for n in ns]
        assert dc_numbers == sorted(expected(t, True)), (
            f"topic {t} on Discord: each Telegram post once, in order; shown {dc_numbers}")
        seen: set[int] = set()
        for numbers in on_telegram(t):
            if seen & set(numbers):
                again.append(f"topic {t}: {numbers}")
            seen |= set(numbers)
        tg_numbers = [n for ns in on_telegram(t) for n in ns]
        first_seen = list(dict.fromkeys(tg_numbers))
        assert first_seen == sorted(expected(t, False)), (
            f"topic {t} on Telegram: each Discord post, in order; shown {tg_numbers}")
    print(f"messages carrying posts: Discord {sum(len(on_discord(t)) for t in range(TOPICS))}, "
          f"Telegram {sum(len(on_telegram(t)) for t in range(TOPICS))}; Telegram messages sent "
          f"again: {again or 'none'}")
    assert len(again) <= CRASHES, f"Telegram: more copies sent again than crashes: {again}"
    assert tg.stats.too_many_requests <= 1 and dc.stats.too_many_requests <= 1, (
        f"429s beyond the first: Telegram {tg.stats.too_many_requests}, "
        f"Discord {dc.stats.too_many_requests}")
