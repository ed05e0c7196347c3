"""One real Synapse for every Matrix test, and a world with Telegram, Discord and Matrix.

The homeserver is started once per session (a few seconds); each test gets fresh rooms,
a fresh bot database and fresh people, so tests stay independent. Without Synapse the
tests skip locally and FAIL in CI (``CI=true``) with the reason.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridgebot.core.models import ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram

from ..auxil.world import DISCORD_UNLIMITED, QUICK_BACKOFF, TELEGRAM_UNLIMITED, allies

try:
    from mautrix.client import Client
    from mautrix.types import EventType, PaginationDirection, RoomID

    from bridgebot.adapters.matrix.adapter import MatrixAdapter
    from bridgebot.adapters.matrix.synapse import LocalSynapse, MatrixUser, SynapseUnavailable
except ImportError as missing:  # the matrix extra is not installed
    MISSING: str | None = f"the matrix extra is not installed ({missing}): pip install -e '.[matrix]'"
else:
    MISSING = None

UNLIMITED = PlatformLimits(per_target=(), per_platform=(), max_length=6000)
_names = itertools.count(1)


def _unavailable(reason: str) -> None:
    """Fail in CI (the tests must run there), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Matrix tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSynapse]:
    if MISSING:
        _unavailable(MISSING)
    server = LocalSynapse(tmp_path_factory.mktemp("synapse"))
    try:
        server.start()
    except SynapseUnavailable as err:
        pytest.fail(f"Synapse did not start: {err}", pytrace=False)
    print(f"\nSynapse started in {server.start_seconds:.1f}s on {server.url}")
    yield server
    server.stop()


@dataclass
class Person:
    """A real Matrix user driven through mautrix's client API."""

    account: MatrixUser
    client: Client

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def say(self, room: str, text: str, *, thread: str | None = None,
                  reply_to: str | None = None, **extra: Any) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text, **extra}
        if thread is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread", "event_id": thread, "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread}}
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return str(await self.client.send_message_event(RoomID(room), EventType.ROOM_MESSAGE,
                                                        content))

    async def edit(self, room: str, event_id: str, text: str) -> str:
        new = {"msgtype": "m.text", "body": text}
        return str(await self.client.send_message_event(RoomID(room), EventType.ROOM_MESSAGE, {
            "msgtype": "m.text", "body": f"* {text}", "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}}))

    async def events(self, room: str) -> list[dict[str, Any]]:
        """The room's message events, oldest first, as raw JSON (redacted ones included)."""
        page = await self.client.get_messages(RoomID(room), PaginationDirection.BACKWARD, limit=200)
        return [e.serialize() for e in reversed(page.events)
                if e.type in (EventType.ROOM_MESSAGE, EventType.ROOM_REDACTION)]


@dataclass
class MatrixWorld:
    synapse: LocalSynapse
    tmp: Path
    tg: FakeTelegram
    dc: FakeDiscord
    room: str
    moderator: Person  # room creator: power level 100
    member: Person     # power level 0
    group: dict
    kristin: dict      # Telegram facilitator
    brittany: dict     # Telegram participant
    guild: dict
    channel: dict
    jessica: dict      # Discord participant
    tg_token: str
    dc_token: str
    runtime: Runtime | None = None
    people: list[Person] = field(default_factory=list)
    authors: str = "display_name"  # the bridge's rule; a test may restart with another
    database: Path | str = ""  # the test's store (tmp/bridgebot.sqlite3 when not given)

    def bridge(self) -> Bridge:
        return Bridge("allies", (ChannelRef("telegram", str(self.group["id"])),
                                 ChannelRef("discord", self.channel["id"]),
                                 ChannelRef("matrix", self.room)), authors=self.authors)

    def matrix_adapter(self) -> MatrixAdapter:
        return MatrixAdapter(self.synapse.appservice, limits=UNLIMITED)

    async def start(self) -> Runtime:
        """Start (or restart) bridgebot with all three platforms on the same database."""
        runtime = Runtime(self.database or self.tmp / "bridgebot.sqlite3", [self.bridge()],
                          relay_backoff=QUICK_BACKOFF)
        runtime.add_adapter(telegram_adapter(self.tg, self.tg_token, limits=TELEGRAM_UNLIMITED))
        runtime.add_adapter(discord_adapter(self.dc, self.dc_token, self.guild["id"],
                                            limits=DISCORD_UNLIMITED))
        runtime.add_adapter(self.matrix_adapter())
        await runtime.start()
        self.runtime = runtime
        return runtime

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def until(self, predicate: Callable[[], Awaitable[Any] | Any],
                    timeout: float = 20.0) -> Any:
        """Wait until ``predicate()`` (sync or async) is truthy, draining the relay between looks."""
        async with asyncio.timeout(timeout):
            while True:
                if self.runtime is not None:
                    await self.runtime.drain(timeout=timeout)
                result = predicate()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(0.05)

    async def matrix_events(self, where: Callable[[dict[str, Any]], bool],
                            timeout: float = 20.0) -> list[dict[str, Any]]:
        async def look() -> list[dict[str, Any]]:
            return [e for e in await self.member.events(self.room) if where(e)]
        return await self.until(look, timeout)  # type: ignore[no-any-return]

    def discord_mirrors(self, thread_id: str) -> list[dict]:
        return [m for m in self.dc.channel_messages(thread_id) if m.get("webhook_id")]

    def telegram_bot_messages(self) -> list[dict]:
        return [m for m in self.tg.chat_messages(self.group["id"])
                if m.get("from", {}).get("is_bot")]


async def _person(synapse: LocalSynapse, name: str, displayname: str) -> Person:
    account = await asyncio.to_thread(synapse.register, f"{name}{next(_names)}")
    client = Client(mxid=account.user_id, base_url=synapse.url, token=account.access_token)
    await client.set_displayname(displayname)
    return Person(account, client)


@pytest.fixture
async def matrix_world(synapse: LocalSynapse, tmp_path: Path,
                       database: Callable[[Path], Path | str]) -> AsyncIterator[MatrixWorld]:
    """The Allies world's Telegram group and Discord channel (from the builder, not started:
    MatrixWorld starts and restarts bridgebot itself) and a Matrix room on one bridge."""
    moderator = await _person(synapse, "kristin", "Kristin Antin")
    member = await _person(synapse, "amal", "Amal Haddad")
    bot = synapse.appservice.bot_user_id
    room = str(await moderator.client.create_room(name="Allies", invitees=[bot, member.user_id]))
    await member.client.join_room(RoomID(room))
    async with allies(tmp_path, start=False) as w:
        assert w.tg is not None and w.dc is not None
        world = MatrixWorld(synapse, tmp_path, w.tg, w.dc, room, moderator, member, w.group,
                            w.kristin.tg, w.brittany.tg, w.guild, w.channel, w.jessica.dc,
                            w.tokens["telegram"], w.tokens["discord"], people=[moderator, member],
                            database=database(tmp_path / "bridgebot.sqlite3"))
        try:
            await world.start()
            yield world
        finally:
            await world.stop()
            for person in world.people:
                await person.client.api.session.close()
