"""`bridgebot run` when a platform is not there at start: unreachable, it is tried again with
backoff (one log line per attempt, with the reason, no traceback) and /healthz says it is not
connected yet; once it answers, the bridge runs. A refused token is one line naming the
platform, exit 2, at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp

from ..conftest import Build
from ..test_health import problems
from ..test_logs import free_port


async def read_until(stream: asyncio.StreamReader, lines: list[str], *needles: str) -> None:
    """Read log lines until each needle was seen (a loaded machine starts Python slowly)."""
    async with asyncio.timeout(90):
        while not all(any(n in line for line in lines) for n in needles):
            line = await stream.readline()
            assert line, "bridgebot exited early:\n" + "".join(lines)
            lines.append(line.decode())


@contextlib.asynccontextmanager
async def forwarder(port: int, target: int) -> AsyncIterator[None]:
    """From now on, 127.0.0.1:``port`` reaches 127.0.0.1:``target`` (before: refused)."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(connect, "127.0.0.1", port)
    async with server:
        yield


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    return {**env, **extra}


async def bridgebot(config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "--config", str(config), "run", cwd=config.parent,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def healthz(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/healthz") as answer:
        return answer.status, await answer.text()


async def test_telegram_unreachable_at_start_is_retried_and_healthz_says_so(
        tmp_path: Path, build: Build, database: Callable[[Path], Path | str]):
    w = await build(discord=(), start=False)
    assert w.tg is not None
    real = int(w.tg.url.rsplit(":", 1)[1].split("/")[0])
    gone = free_port()  # where bridgebot looks for Telegram: nothing listens there yet
    health = free_port()
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(database(tmp_path / "bridgebot.sqlite3"), health=f"port = {health}")
                      .replace(w.tg.url, f"http://127.0.0.1:{gone}"))
    process = await bridgebot(config, clean_env(w.environment()))
    lines: list[str] = []
    try:
        assert process.stderr is not None
        await read_until(process.stderr, lines, "(attempt 2)")
        status, body = await healthz(health)
        assert status == 503 and "telegram: not connected yet (attempt" in body
        async with forwarder(gone, real):
            await read_until(process.stderr, lines, "telegram connected", "bridgebot is running")
            status, body = await healthz(health)
            assert (status, problems(body)) == (200, "ok\n")
            process.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "".join(lines) + rest.decode()
    assert process.returncode == 0, text
    failures = [line for line in lines if "telegram: cannot connect" in line]
    assert len(failures) >= 2 and all("trying again in" in f for f in failures)
    assert "Traceback" not in text


async def test_a_refused_token_is_one_line_naming_the_platform_and_exit_2(
        tmp_path: Path, build: Build, database: Callable[[Path], Path | str]):
    w = await build(start=False)
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(database(tmp_path / "bridgebot.sqlite3")))
    wrong = {"telegram": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "discord": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    messages = {"telegram": "Telegram refused the bot token (telegram.token)",
                "discord": "Discord refused the bot token (discord.token)"}

    async def run_refused(platform: str) -> tuple[int | None, str]:
        env = clean_env(w.environment())
        env[f"BRIDGEBOT_{platform.upper()}__TOKEN"] = wrong[platform]
        process = await bridgebot(config, env)
        _, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode, err.decode()

    # Side by side: each is a whole bridgebot process.
    outcomes = await asyncio.gather(*(run_refused(p) for p in messages))
    for (platform, message), (code, text) in zip(messages.items(), outcomes, strict=True):
        assert code == 2, text
        said = [line for line in text.splitlines() if line.startswith("bridgebot: ")]
        assert len(said) == 1 and message in said[0], text
        assert "Traceback" not in text and wrong[platform] not in text
        assert "ERROR" not in text, "nothing left open: the other platform's start was closed"


async def test_discord_unreachable_at_start_is_retried_until_it_answers(
        tmp_path: Path, build: Build, database: Callable[[Path], Path | str]):
    """In process, the same path as `bridgebot run`: the start waits, /healthz says why."""
    from bridgebot.adapters.discord.adapter import DiscordAdapter
    from bridgebot.adapters.discord.settings import DiscordSettings
    from bridgebot.health import HealthServer
    from bridgebot.runtime import Runtime

    w = await build(telegram=(), start=False)
    assert w.dc is not None
    real = int(w.dc.api_base.split(":")[2].split("/")[0])
    gone = free_port()
    settings = DiscordSettings(token=w.tokens["discord"],
                               api_base_url=w.dc.api_base.replace(f":{real}/", f":{gone}/"),
                               guilds=[int(w.guild["id"])])
    runtime = Runtime(database(tmp_path / "unreachable.sqlite3"), [w.bridge])
    runtime.add_adapter(DiscordAdapter(settings, client_options={"guild_ready_timeout": 0.05}))
    health = HealthServer(runtime, "127.0.0.1", 0)
    await health.start()
    starting = asyncio.create_task(runtime.start())
    try:
        async with asyncio.timeout(20):
            while True:  # two attempts have failed
                if "attempt 2" in runtime.connecting.get("discord", ""):
                    break
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http, http.get(f"{health.url}/healthz") as answer:
            assert answer.status == 503
            assert "discord: not connected yet (attempt 2 failed: " in await answer.text()
        async with forwarder(gone, real):
            await asyncio.wait_for(starting, 30)
            assert runtime.connecting == {}
            async with aiohttp.ClientSession() as http, \
                    http.get(f"{health.url}/healthz") as answer:
                assert (answer.status, problems(await answer.text())) == (200, "ok\n")
            await runtime.stop()
    finally:
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        await health.stop()


async def test_a_gateway_closed_under_its_connection_by_a_stop_logs_no_error(caplog):
    """Another platform refused its token, so the runtime stops Discord while its gateway is
    still connecting: aiohttp then fails inside connect (its session closed). That is the
    stop asked for, not an error with a traceback; any other failure still is one."""
    import logging

    from pydantic import SecretStr

    from bridgebot.adapters.discord.adapter import DiscordAdapter
    from bridgebot.adapters.discord.settings import DiscordSettings

    class ClosedUnderIt:
        async def connect(self, reconnect: bool) -> None:
            raise AssertionError  # what aiohttp raised in CI: `assert transport is not None`

    adapter = DiscordAdapter(DiscordSettings(token=SecretStr("t"), guilds=[1]))
    adapter.client = ClosedUnderIt()  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG, logger="bridgebot"):
        adapter._stopping = True
        await adapter._connect()
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        adapter._stopping = False
        await adapter._connect()
        assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == [
            "the Discord gateway connection ended"]
