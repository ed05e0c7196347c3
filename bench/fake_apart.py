"""A fake platform (FakeTelegram or FakeDiscord) in a process of its own, for
``bench/ingest_chat.py``.

Why: run in the bot's process, the fakes' work (copying and serializing every update,
answering every request, pushing gateway events) is charged to the bot, although in
production the platform's servers are not on the bot's CPU. Here the fake runs in a
child process (``multiprocessing``, spawned) and is driven through a pipe: it sets up
the chat and tells the parent where it listens; the parent runs bridgebot against it.

``write`` writes every post in one synchronous loop of the child's event loop, so the
bot can see none of them before the last is written (the child answers no request
meanwhile); the child returns the ``time.monotonic()`` at which the loop ended (the
system's monotonic clock, the same in both processes), which is when the clock starts.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

TOPICS = 10
PEOPLE = 20


@dataclass
class Setup:
    """What the parent needs to run bridgebot against the child's fake."""

    url: str  # FakeTelegram.url or FakeDiscord.api_base
    token: str
    chat: str  # Telegram: the forum group's id; Discord: the forum channel's id
    guild: str  # Discord only


async def _telegram(conn: Connection) -> None:
    from bridgebot.sandbox.telegram import FakeTelegram

    async with FakeTelegram() as tg:
        token = tg.add_bot(username="bridgebot_bench_bot")
        owner = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies forum", is_forum=True, owner=owner)
        people = [tg.add_user(f"Telegrammer{i}") for i in range(PEOPLE)]
        conn.send(Setup(tg.url, token, str(group["id"]), ""))

        def write(posts: int, threads: list[str]) -> None:
            for n in range(posts):
                tg.user_sends(group["id"], people[n % PEOPLE], f"post {n}",
                              thread_id=int(threads[n % TOPICS]))

        await _serve(conn, write, lambda: not tg.pending_updates())


async def _discord(conn: Connection) -> None:
    from bridgebot.sandbox.discord import FakeDiscord

    async with FakeDiscord(heartbeat_interval_ms=5000) as dc:
        token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_forum_channel(guild["id"], "discussions")
        people = [dc.add_member(guild["id"], f"discorder{i}", global_name=f"Discorder{i}")
                  for i in range(PEOPLE)]
        conn.send(Setup(dc.api_base, token, str(channel["id"]), str(guild["id"])))

        def write(posts: int, threads: list[str]) -> None:
            for n in range(posts):
                dc.user_sends(threads[n % TOPICS], people[n % PEOPLE], f"post {n}")

        await _serve(conn, write, lambda: True)  # the gateway has no acknowledgement


async def _serve(conn: Connection, write: Any, acknowledged: Any) -> None:
    """Answer the parent's requests until it says stop (the fake serves meanwhile)."""
    loop = asyncio.get_running_loop()
    while True:
        request, *args = await loop.run_in_executor(None, conn.recv)
        if request == "write":
            write(*args)  # no await: the bot sees none before the last
            conn.send(time.monotonic())
        elif request == "acknowledged":
            conn.send(acknowledged())
        else:
            conn.send("stopped")
            return


def _main(shape: str, conn: Connection) -> None:
    asyncio.run(_telegram(conn) if shape == "telegram" else _discord(conn))


class FakeApart:
    """The child process and its pipe; ``async with`` starts it and stops it."""

    def __init__(self, shape: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_main, args=(shape, child), daemon=True)
        self.setup: Setup | None = None

    async def ask(self, *request: object) -> Any:
        self.conn.send(request)
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    async def __aenter__(self) -> FakeApart:
        self.process.start()
        loop = asyncio.get_running_loop()
        self.setup = await asyncio.wait_for(loop.run_in_executor(None, self.conn.recv), 60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.process.is_alive():
                await asyncio.wait_for(self.ask("stop"), 10)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 10)
            if self.process.is_alive():
                self.process.kill()
