"""`bridgebot run` whose PostgreSQL server goes away under it (a crash, `pg_ctl stop -m
immediate`): its log says so in lines, not tracebacks, and a stop signal still ends it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridgebot.core.commands import CommandContext, run_command

from ..auxil.postgres import PostgresServer, missing_reason
from ..auxil.world import FACILITATOR, FORUM, person
from ..conftest import ROOMS, Build
from .test_start_faults import bridgebot, clean_env, read_until


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, to stop under the bot (not the session's). Durable (its
    own fsync and synchronous commit, unlike the tests' shared server): stopped with ``-m
    immediate``, a server without them loses commits it acknowledged, and a delivery the
    bot had marked done was sent again after the restart."""
    if (reason := missing_reason()) is not None:
        pytest.skip(reason)
    server = PostgresServer()
    server.start(durable=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.sqlite_only("the test's database is a PostgreSQL server of its own, stopped under the bot")
async def test_a_server_stopped_under_a_running_bot_is_logged_in_lines(
        tmp_path: Path, build: Build, own_server: PostgresServer):
    w = await build(discord=(), start=False)
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(own_server.fresh()))
    process = await bridgebot(config, clean_env(w.environment()))
    lines: list[str] = []
    rest = b""
    try:
        assert process.stderr is not None
        await read_until(process.stderr, lines, "bridgebot is running")
        own_server._run("pg_ctl", "-D", str(own_server.data / "db"), "-m", "immediate", "-w", "stop")
        # asyncpg's pool refilling itself, and the keeper's look for waiting deliveries
        # (every 5 s): each was a traceback at every attempt.
        await read_until(process.stderr, lines, "PostgreSQL: cannot reconnect the pool (",
                         "database unavailable (",
                         "looking for waiting deliveries failed: database unavailable")
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "".join(lines) + rest.decode()
    assert "Traceback" not in text, text
    assert process.returncode == 0, text


def start_again(server: PostgresServer) -> None:
    """The stopped server started again on its data and port (as a crashed one restarts)."""
    options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories="
               f"{server.data} -c max_connections=300")
    done = server._run("pg_ctl", "-D", str(server.data / "db"), "-o", options, "-w", "-t", "30",
                       "-l", str(server.data / "server.log"), "start")
    assert done.returncode == 0, done.stderr


@pytest.mark.sqlite_only("the test's database is a PostgreSQL server of its own, stopped under the bot")
async def test_the_relay_delivers_again_once_its_server_is_back(
        build: Build, own_server: PostgresServer):
    """The relay's look for due deliveries failing (the server gone) ended its loop for good:
    no delivery went out again until a restart, even with the server back."""
    w = await build(telegram=(), discord=(), console=ROOMS, database=own_server.fresh())
    assert w.console is not None
    await run_command(w.runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies\nIntro")
    await run_command(w.runtime.core, CommandContext(FACILITATOR, FORUM), "prompt", "Examples?")
    await w.runtime.drain()  # the topic's messages shown in the forum: a post there joins it
    _, said = await w.console.say("forum", person("Nadia Ali"), "Before")
    assert said.post is not None, said
    await w.runtime.drain()
    waiting = asyncio.Event()
    seen = logging.Handler()
    seen.emit = lambda record: waiting.set() if "deliveries wait" in record.getMessage() else None  # type: ignore[method-assign]
    relay_log = logging.getLogger("bridgebot.core.relay")
    relay_log.addHandler(seen)
    try:
        own_server._run("pg_ctl", "-D", str(own_server.data / "db"), "-m", "immediate", "-w", "stop")
        w.runtime.core.wake_relay()
        await asyncio.wait_for(waiting.wait(), 60)  # the relay's look failed
    finally:
        relay_log.removeHandler(seen)
    start_again(own_server)
    _, said = await w.console.say("forum", person("Brittany"), "Back again")
    assert said.post is not None, said
    await w.runtime.drain(30)
    shown = [s.text for s in w.console.visible("lounge")]
    assert "Back again" in shown[-1], shown
    assert len(shown) == len(set(shown)) == 4, f"each message once: {shown}"
