"""`bridgebot run` says which platforms it connected to; `--log-format json` for collectors."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bridgebot.logs import JsonFormatter, TextFormatter, hide_secrets

from .conftest import Build
from .test_health import problems


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


async def test_run_logs_json_lines_one_per_platform_connected_without_tokens(
        tmp_path: Path, build: Build, database: Callable[[Path], Path | str]):
    w = await build(start=False)  # bridgebot itself runs as a command against the fakes
    group, channel = w.group, w.channel
    tg_token, dc_token = w.tokens["telegram"], w.tokens["discord"]
    port = free_port()
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(database(tmp_path / "bridgebot.sqlite3"), health=f"port = {port}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    env.update(w.environment())
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
            assert (answer.status, problems(await answer.text())) == (200, "ok\n")
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
    assert any(m.startswith("telegram connected as @bridgebot_test_bot; bridging chats "
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
