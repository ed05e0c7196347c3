"""/healthz and /metrics: ok only when the database and every platform are up."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.models import ChannelRef, DeliveryState
from bridgebot.core.service import Bridge
from bridgebot.health import HealthServer
from bridgebot.runtime import Runtime

from .auxil.world import FACILITATOR, FORUM, LOUNGE, World, person
from .conftest import Build


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.text(), answer.headers.get("Content-Type", "")


@dataclass
class Running:
    world: World
    health: HealthServer

    @property
    def runtime(self) -> Runtime:
        return self.world.runtime


@pytest.fixture
async def running(build: Build) -> AsyncIterator[Running]:
    """Both real adapters against the sandbox, and the health server beside them."""
    world = await build()
    health = HealthServer(world.runtime, "127.0.0.1", 0)
    await health.start()
    try:
        yield Running(world, health)
    finally:
        await health.stop()


def problems(body: str) -> str:
    """The body without its ``roles:`` line (on PostgreSQL a worker says which roles it holds)."""
    return "".join(line for line in body.splitlines(keepends=True) if not line.startswith("roles:"))


async def test_healthz_says_ok_when_the_database_and_both_platforms_are_up(running):
    status, body, _ = await get(f"{running.health.url}/healthz")
    assert (status, problems(body)) == (200, "ok\n")


async def test_healthz_is_503_naming_telegram_once_its_intake_has_stopped(running):
    await running.runtime.adapters["telegram"].stop()
    status, body, _ = await get(f"{running.health.url}/healthz")
    assert status == 503
    assert "telegram: " in body and "discord" not in problems(body) and "database" not in body


async def test_healthz_is_503_naming_discord_once_its_client_is_closed(running):
    await running.runtime.adapters["discord"].stop()
    status, body, _ = await get(f"{running.health.url}/healthz")
    assert status == 503
    assert "discord: not connected" in body and "telegram" not in problems(body)
    _, metrics, _ = await get(f"{running.health.url}/metrics")
    assert 'bridgebot_platform_up{platform="discord"} 0' in metrics
    assert 'bridgebot_platform_up{platform="telegram"} 1' in metrics
    assert "bridgebot_up 0" in metrics


async def test_healthz_is_503_when_the_database_is_closed(db_setting: Path | str):
    runtime = Runtime(db_setting, [Bridge("allies", (FORUM, LOUNGE))])
    health = HealthServer(runtime, "127.0.0.1", 0)
    await health.start()
    try:
        status, body, _ = await get(f"{health.url}/healthz")
        assert status == 503 and "database: database is not open" in body  # not opened yet
        await runtime.open()
        status, body, _ = await get(f"{health.url}/healthz")
        assert (status, problems(body)) == (200, "ok\n")
        await runtime.db.close()
        status, body, _ = await get(f"{health.url}/healthz")
        assert status == 503 and body.startswith("down\ndatabase: ")
        _, metrics, _ = await get(f"{health.url}/metrics")
        assert "bridgebot_database_up 0" in metrics and "bridgebot_posts_accepted" not in metrics
    finally:
        await health.stop()
        await runtime.db.close()


async def test_metrics_count_posts_deliveries_by_state_and_429s(db_setting: Path | str):
    # A Telegram chat on the bridge but no Telegram adapter: its deliveries stay pending.
    telegram = ChannelRef("telegram", "-1001")
    runtime = Runtime(db_setting, [Bridge("allies", (FORUM, LOUNGE, telegram))],
                      facilitators=[("console", FACILITATOR.user_id)])
    console = ConsoleAdapter()
    runtime.add_adapter(console)
    health = HealthServer(runtime, "127.0.0.1", 0)
    await health.start()
    await runtime.start()
    try:
        topic = await runtime.core.open_topic(FACILITATOR, FORUM, "Engaging allies", "Examples?")
        await runtime.drain()
        opening = (await runtime.store.posts(topic.id))[0]
        root = (await runtime.store.messages_on(FORUM, post_id=opening.id))[0]
        await console.say("forum", person("Brittany Landorf"), "From Jordan.", reply_to=root)
        await console.say("forum", person("Jessica"), "From AAAS.", reply_to=root)
        await runtime.drain()
        waiting = [e for e in await runtime.store.outbox([DeliveryState.PENDING])
                   if e.target.platform == "telegram"]
        assert len(waiting) == 3  # the topic and two posts
        await runtime.store.retry_later(waiting[0].id, time.time() + 3600, "429 Too Many Requests")
        await runtime.store.bury(waiting[1].id, "chat not found")
        runtime.metrics.rate_limited = 4
        status, metrics, content_type = await get(f"{health.url}/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        lines = set(metrics.splitlines())
        assert "bridgebot_posts_accepted 3.0" in lines  # the opening and two replies
        assert 'bridgebot_deliveries{state="pending"} 2.0' in lines
        assert 'bridgebot_deliveries{state="retrying"} 1.0' in lines
        assert 'bridgebot_deliveries{state="dead"} 1.0' in lines
        assert 'bridgebot_topics{state="open"} 1.0' not in lines
        assert 'bridgebot_topics{status="open"} 1.0' in lines
        assert "bridgebot_rate_limited_total 4.0" in lines
        assert "# TYPE bridgebot_rate_limited_total counter" in lines
        assert 'bridgebot_platform_up{platform="console"} 1.0' in lines
        # Outbox depth per platform: the Telegram chat has no adapter, so its pending rows wait.
        assert 'bridgebot_outbox_depth{platform="telegram"} 2.0' in lines
        assert 'bridgebot_outbox_depth{platform="console"} 0.0' in lines
        # Outcomes per platform (the topic in both rooms, two posts to the lounge), and how long
        # each post took to reach the other room.
        assert 'bridgebot_delivery_outcomes_total{outcome="delivered",platform="console"} 4.0' in lines
        assert 'bridgebot_mirror_latency_seconds_count{platform="console"} 2.0' in lines
        assert 'bridgebot_mirror_latency_seconds_bucket{le="+Inf",platform="console"} 2.0' in lines
        # The process itself, from the library's collectors.
        assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
        assert any(line.startswith("process_cpu_seconds_total ") for line in lines)
        assert any(line.startswith("python_info{") for line in lines)
        families = {f.name for f in text_string_to_metric_families(metrics)}
        assert {"bridgebot_up", "bridgebot_rate_limited", "bridgebot_mirror_latency_seconds",
                "bridgebot_outbox_depth", "process_open_fds"} <= families
        # Every sample line is "name{labels} number", as Prometheus parses it.
        samples = [line for line in lines if line and not line.startswith("#")]
        assert all(len(s.rsplit(" ", 1)) == 2 and float(s.rsplit(" ", 1)[1]) >= 0 for s in samples)
    finally:
        await runtime.stop()
        await health.stop()


async def test_healthz_is_503_naming_the_files_folder_once_it_cannot_be_written(running):
    files = running.runtime.core.files
    assert files is not None
    status, body, _ = await get(f"{running.health.url}/healthz")
    assert (status, problems(body)) == (200, "ok\n")
    # The folder's mount gone, say: something else where the files are written (refused
    # even to root, who may write where permissions say no).
    (files.root / "tmp").rename(files.root / "tmp-away")
    (files.root / "tmp").write_text("not a folder")
    status, body, _ = await get(f"{running.health.url}/healthz")
    assert status == 503
    assert f"files: the folder {files.root} cannot be written" in body
    assert "database" not in body and "telegram" not in problems(body)
    _, metrics, _ = await get(f"{running.health.url}/metrics")
    assert "bridgebot_files_writable 0" in metrics and "bridgebot_up 0" in metrics
