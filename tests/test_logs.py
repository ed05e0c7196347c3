"""`bridgebot run` says which platforms it connected to; `--log-format json` for collectors."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bridgebot.logs import JsonFormatter, TextFormatter, hide_secrets
from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def read_until(stream: asyncio.StreamReader, lines: list[str], *needles: str) -> None:
    async with asyncio.timeout(30):
        while not all(any(n in line for line in lines) for n in needles):
            line = await stream.readline()
            assert line, "bridgebot exited early:\n" + "".join(lines)
            lines.append(line.decode())


async def test_run_logs_json_lines_one_per_platform_connected_without_tokens(tmp_path: Path):
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="allies_bridge_bot")
        group = tg.add_chat("Allies")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        port = free_port()
        config = tmp_path / "bridgebot.toml"
        config.write_text(
            f'database = "{tmp_path / "bridgebot.sqlite3"}"\n\n'
            f'[telegram]\nbase_url = "{tg.url}"\n\n'
            f'[discord]\napi_base_url = "{dc.api_base}"\nguilds = [{guild["id"]}]\n\n'
            f'[health]\nport = {port}\n\n'
            f'[[bridges]]\nname = "allies"\ntelegram_chats = [{group["id"]}]\n'
            f'discord_channels = [{channel["id"]}]\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
        env.update(BRIDGEBOT_TELEGRAM__TOKEN=tg_token, BRIDGEBOT_DISCORD__TOKEN=dc_token)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridgebot.cli", "--log-format", "json", "--config", str(config),
            "run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        lines: list[str] = []
        try:
            await read_until(process.stderr, lines, "telegram connected", "discord connected",
                             "bridgebot is running")
            async with aiohttp.ClientSession() as http, \
                    http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                assert (answer.status, await answer.text()) == (200, "ok\n")
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(process.communicate(), 30)
    lines += (rest or b"").decode().splitlines(keepends=True)
    assert process.returncode == 0, "".join(lines)
    entries = [json.loads(line) for line in lines if line.strip()]
    assert all(set(e) >= {"time", "level", "logger", "message"} for e in entries)
    connected = [e["message"] for e in entries if " connected as " in e["message"]]
    assert len(connected) == 2
    assert any(m.startswith("telegram connected as @allies_bridge_bot; bridging chats "
                            f"{group['id']}") for m in connected)
    assert any(m.startswith("discord connected as") and channel["id"] in m for m in connected)
    text = "".join(lines)
    assert tg_token not in text and dc_token not in text
    assert tg_token.split(":")[1] not in text


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("telegram.ext", logging.INFO, __file__, 1, message, args, None)


def test_configured_secrets_and_token_shaped_strings_are_blanked_in_both_formats():
    hide_secrets(["short-but-configured-secret"])
    line = record("POST %s failed; secret %s; webhook %s",
                  "http://127.0.0.1:1/bot7000000001:AAabcdefghijklmnopqrstuvwxyz0123456/getMe",
                  "short-but-configured-secret",
                  "https://discord.com/api/webhooks/123456/abcdefghijklmnopqrstuvwxyz012345")
    entry = json.loads(JsonFormatter().format(line))
    assert entry["logger"] == "telegram.ext" and entry["level"] == "INFO"
    assert entry["time"].endswith("+00:00")
    for shown in (entry["message"], TextFormatter().format(line)):
        assert "AAabcdefghijklmnopqrstuvwxyz0123456" not in shown
        assert "short-but-configured-secret" not in shown
        assert "abcdefghijklmnopqrstuvwxyz012345" not in shown
        assert "/webhooks/123456/***" in shown and "failed" in shown
