"""Telegram and Discord on one bridge: a reply crosses over and is answered back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.cli import load_archive
from bridgebot.core.export import to_markdown
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord_server import FakeDiscord, Permissions
from bridgebot.sandbox.telegram_server import FakeTelegram

from .discord.conftest import make_adapter as make_discord
from .telegram.conftest import make_adapter as make_telegram


async def until(runtime: Runtime, predicate, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while True:
            await runtime.drain()
            if result := predicate():
                return result
            await asyncio.sleep(0.01)


async def test_a_telegram_reply_reaches_discord_and_a_discord_answer_comes_back(tmp_path: Path):
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin_tg = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=kristin_tg)
        brittany = tg.add_user("Brittany", "Landorf", username="brittany_l")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        dc.add_member(guild["id"], "kristin", global_name="Kristin Antin", roles=[role["id"]])
        jessica = dc.add_member(guild["id"], "jessica", global_name="Jessica")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge])
        runtime.add_adapter(make_telegram(tg, tg_token))
        runtime.add_adapter(make_discord(dc, dc_token, guild["id"]))
        await runtime.start()
        try:
            tg.user_sends(group["id"], kristin_tg,
                          "/newtopic Engaging allies\nShare your examples of non-traditional allies.")
            thread = (await until(runtime, lambda: dc.threads(channel["id"])))[0]
            root = next(m for m in tg.chat_messages(group["id"]) if m.get("from", {}).get("is_bot")
                        and m.get("text", "").startswith("Engaging allies"))
            original = tg.user_sends(group["id"], brittany,
                                     "Engaging governmental allies in Jordan\n\nAn example from Jordan.",
                                     reply_to=root["message_id"])
            mirrored = (await until(runtime, lambda: [
                m for m in dc.channel_messages(thread["id"]) if m.get("webhook_id")]))[0]
            assert mirrored["author"]["username"] == "Brittany Landorf · Telegram"
            assert "An example from Jordan." in mirrored["content"]
            # Nothing identifying beyond the display name crossed to Discord.
            assert not any("brittany_l" in str(c.json) for c in dc.calls)
            dc.user_sends(thread["id"], jessica, "Thanks Brittany, this helps!",
                          reply_to=mirrored["id"])
            answer = (await until(runtime, lambda: [
                m for m in tg.chat_messages(group["id"]) if "Thanks Brittany" in m.get("text", "")
            ]))[0]
            assert answer["reply_to_message"]["message_id"] == original["message_id"]
            assert answer["text"].startswith("Jessica · Discord · #3")
            archive = await load_archive(runtime.store, 1)
            markdown = to_markdown(archive)
            assert "## Engaging governmental allies in Jordan" in markdown
            assert "### Re: Engaging governmental allies in Jordan" in markdown
            assert "#3 · Jessica · Discord" in markdown and "#2 · Brittany Landorf · Telegram" in markdown
        finally:
            await runtime.stop()
            reset_api_base()
