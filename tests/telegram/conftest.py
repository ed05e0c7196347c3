"""A real TelegramAdapter (python-telegram-bot) against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgebot.adapters.telegram.adapter import TelegramAdapter
from bridgebot.core.models import ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import telegram_adapter
from bridgebot.sandbox.telegram import FakeTelegram


@dataclass
class TelegramWorld:
    tg: FakeTelegram
    runtime: Runtime
    adapter: TelegramAdapter
    forum: dict
    group: dict
    facilitator: dict
    brittany: dict
    jessica: dict

    def sent(self, chat: dict) -> list:
        """sendMessage calls the bot made into ``chat``, in order."""
        return [c for c in self.tg.calls_to("sendMessage")
                if c.params.get("chat_id") == chat["id"] and c.status == 200]

    def message_id_of(self, chat: dict, text: str) -> int:
        """The id of the first bot message in ``chat`` whose HTML contains ``text``."""
        return next(c.response["result"]["message_id"] for c in self.sent(chat)
                    if text in c.params["text"])

    def bot_messages(self, chat: dict, thread_id: int | None = None) -> list[dict]:
        return [m for m in self.tg.chat_messages(chat["id"], thread_id)
                if m.get("from", {}).get("is_bot") and "text" in m]

    async def settle(self) -> None:
        """Wait until every queued update is handled and every delivery made."""
        await self.tg.wait_for(lambda: not self.tg.pending_updates())
        await self.runtime.drain()
        await self.tg.wait_for(lambda: not self.tg.pending_updates())
        await self.runtime.drain()


UNLIMITED = PlatformLimits(max_length=4096)


def make_adapter(tg: FakeTelegram, token: str, limits: PlatformLimits | None = UNLIMITED,
                 **settings) -> TelegramAdapter:
    """The demo's adapter against the fake; rate budgets off unless a test is about them."""
    return telegram_adapter(tg, token, limits=limits, **settings)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[TelegramWorld]:
    async with FakeTelegram() as tg:
        token = tg.add_bot(username="bridgebot_test_bot", first_name="Bridge Bot")
        facilitator = tg.add_user("Kristin", "Antin", username="kristin")
        forum = tg.add_chat("Allies forum", is_forum=True, owner=facilitator)
        group = tg.add_chat("Allies group", kind="supergroup")
        brittany = tg.add_user("Brittany", "Landorf", username="brittany_l")
        jessica = tg.add_user("Jessica")
        channels = (ChannelRef("telegram", str(forum["id"])), ChannelRef("telegram", str(group["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [Bridge("allies", channels)])
        adapter = make_adapter(tg, token)
        runtime.add_adapter(adapter)
        await runtime.start()
        try:
            yield TelegramWorld(tg, runtime, adapter, forum, group, facilitator, brittany, jessica)
        finally:
            await runtime.stop()
