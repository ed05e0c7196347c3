"""Kill the bot mid-burst (SIGKILL) and start it again: every post on every target, once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .auxil.postgres import STORES
from .conftest import Build


def numbers(texts: list[str]) -> list[int]:
    return [int(n) for t in texts for n in re.findall(r"(?:· |-# )#(\d+)", t)]


async def start_bot(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "--config", str(config), "run",
        cwd=config.parent, env=env, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
    )


async def wait_for(predicate, timeout: float, what: str | Callable[[], str]):
    try:
        async with asyncio.timeout(timeout):
            while True:
                if result := predicate():
                    return result
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(what() if callable(what) else what) from None


@pytest.mark.timeout(150)
@pytest.mark.parametrize("store", STORES, indirect=True)
async def test_a_killed_bot_restarts_without_losing_or_duplicating_posts(
        tmp_path: Path, build: Build, database: Callable[[Path], Path | str]):
    w = await build(start=False)  # the bot runs as a command, killed and started again
    tg, dc, group, channel, guild = w.tg, w.dc, w.group, w.channel, w.guild
    assert tg is not None and dc is not None
    kristin, jessica = w.kristin.tg, w.jessica.dc
    people = [tg.add_user(f"Telegrammer{i}") for i in range(5)]
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(database(tmp_path / "data" / "bridgebot.sqlite3"), tokens=True))
    log = tmp_path / "bot.log"
    bot = await start_bot(config, log)
    try:
        await wait_for(lambda: dc.commands(guild["id"]) and tg.calls_to("getUpdates"), 30,
                       "the bot did not connect")
        tg.user_sends(group["id"], kristin, "/newtopic Crash test\nReply away.")
        thread = (await wait_for(lambda: dc.threads(channel["id"]), 20, "no topic thread"))[0]
        root = await wait_for(lambda: next((
            m for m in tg.chat_messages(group["id"]) if m.get("from", {}).get("is_bot")
            and m.get("text", "").startswith("Crash test")), None), 20, "no topic message")

        def on_discord() -> list[str]:
            return [m["content"] for m in dc.channel_messages(thread["id"]) if m.get("webhook_id")]

        def on_telegram() -> list[str]:
            return [m.get("text", "") for m in tg.chat_messages(group["id"])
                    if m.get("from", {}).get("is_bot") and "· Discord · #" in m.get("text", "")]

        for i in range(30):
            tg.user_sends(group["id"], people[i % 5], f"telegram {i}", reply_to=root["message_id"])
            dc.user_sends(thread["id"], jessica, f"discord {i}")
            await asyncio.sleep(0.01)
        await wait_for(lambda: len(numbers(on_discord())) >= 3, 30, "nothing mirrored")
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        # People keep writing while the bot is down.
        for i in range(30, 35):
            tg.user_sends(group["id"], people[i % 5], f"telegram {i}", reply_to=root["message_id"])
            dc.user_sends(thread["id"], jessica, f"discord {i}")
        bot = await start_bot(config, log)
        await wait_for(lambda: len(set(numbers(on_discord()))) >= 35
                       and len(set(numbers(on_telegram()))) >= 35, 90,
                       lambda: f"not everything arrived after the restart: on Discord "
                       f"{sorted(set(numbers(on_discord())))}, on Telegram "
                       f"{sorted(set(numbers(on_telegram())))}")
        await asyncio.sleep(1.0)  # anything that would be sent twice has had time to be
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
    assert bot.returncode == 0, log.read_text()[-3000:]

    exported = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "--config", str(config), "export", "1",
        "--format", "json", cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")})
    data = json.loads((await exported.communicate())[0])
    texts = [p["text"] for p in data["posts"]]
    expected = {f"telegram {i}" for i in range(35)} | {f"discord {i}" for i in range(35)}
    assert sorted(texts) == sorted(expected), "every message is exactly one post"
    by_text = {p["text"]: p["number"] for p in data["posts"]}
    telegram_posts = sorted(by_text[f"telegram {i}"] for i in range(35))
    discord_posts = sorted(by_text[f"discord {i}"] for i in range(35))

    on_dc = numbers(on_discord())
    assert sorted(on_dc) == telegram_posts, "Discord: every Telegram post exactly once"
    assert on_dc == sorted(on_dc), "in the order they were accepted"
    on_tg = numbers(on_telegram())
    assert sorted(set(on_tg)) == discord_posts
    duplicated = [n for n in set(on_tg) if on_tg.count(n) > 1]
    assert all(on_tg.count(n) == 2 for n in duplicated), "Telegram: at most one duplicate"
    first_seen = list(dict.fromkeys(on_tg))
    assert first_seen == sorted(first_seen), "in the order they were accepted"
