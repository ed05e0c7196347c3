"""What every benchmark shares: result rows, percentiles, the machine description, the
sandbox world (fake Telegram and Discord on 127.0.0.1 with one bridge) and quiet logging.

Figures are only comparable with the machine and its load next to them, so the
description and the load average travel with every result table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram


@dataclass
class Row:
    """One measured figure with its target; ``met`` is None when there is no target."""

    bench: str
    measure: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)  # per-run values behind a median

    def shown(self) -> str:
        """The value with a sensible number of digits for its size."""
        if math.isnan(self.value):
            return "n/a"
        if float(self.value).is_integer() and self.unit not in ("ms", "s", "x"):
            return f"{int(self.value)}"
        if abs(self.value) >= 100:
            return f"{self.value:.0f}"
        if abs(self.value) >= 10:
            return f"{self.value:.1f}"
        return f"{self.value:.2f}"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: an observed value, so p99 of 300 samples is the 297th."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def fsync_latency_ms(samples: int = 100) -> tuple[float, float]:
    """(p50, p99) of one 4 KiB write + fsync in the temp directory: what a durable commit
    costs at least on this disk, the floor under every synchronous=FULL figure."""
    fd, path = tempfile.mkstemp(prefix="bench-fsync-")
    took: list[float] = []
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            took.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return percentile(took, 50), percentile(took, 99)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with contextlib.suppress(OSError):
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    return math.nan


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM, Python, SQLite and the libraries that carry the traffic."""
    fsync50, fsync99 = fsync_latency_ms()
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "ram": f"{_ram_gib():.1f} GiB",
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "libraries": (f"discord.py {_version('discord.py')}, python-telegram-bot "
                      f"{_version('python-telegram-bot')}, aiosqlite {_version('aiosqlite')}, "
                      f"aiohttp {_version('aiohttp')}"),
        "kernel": platform.release(),
        "fsync (4 KiB, temp dir)": f"p50 {fsync50:.2f} ms, p99 {fsync99:.2f} ms",
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@contextlib.contextmanager
def quiet_logs(level: int = logging.WARNING) -> Iterator[None]:
    """Keep bridgebot's, discord.py's and aiohttp's INFO lines out of the results table
    (they are written at a few lines per topic, not per post, so timing is unaffected)."""
    root = logging.getLogger()
    previous = root.level
    if not root.handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    voice = logging.getLogger("discord.client")  # "PyNaCl is not installed": no voice here
    voice_level = voice.level
    voice.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)
        voice.setLevel(voice_level)


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
                     interval: float = 0.02) -> Any:
    """Poll ``predicate`` (the benchmark's own observer, not the bot) until it holds."""
    async with asyncio.timeout(timeout):
        while True:
            if result := predicate():
                return result
            await asyncio.sleep(interval)
    raise TimeoutError(what)  # pragma: no cover - asyncio.timeout raises first


@dataclass
class World:
    """Both fakes with one bridge: one Telegram group and one Discord text channel."""

    tg: FakeTelegram
    dc: FakeDiscord
    tg_token: str
    dc_token: str
    facilitator: dict[str, Any]
    group: dict[str, Any]
    guild: dict[str, Any]
    channel: dict[str, Any]
    tg_people: list[dict[str, Any]]
    dc_people: list[dict[str, Any]]

    @property
    def bridge(self) -> Bridge:
        return Bridge("bench", (ChannelRef("telegram", str(self.group["id"])),
                                ChannelRef("discord", str(self.channel["id"]))))


@contextlib.asynccontextmanager
async def sandbox(*, enforce_rate_limits: bool = False, people: int = 50,
                  heartbeat_ms: int = 5000) -> Any:
    """Start both fakes on 127.0.0.1 with a bot, a group, a guild with a text channel and
    ``people`` participants on each platform; stop them (and restore discord.py's
    endpoints) afterwards."""
    async with (FakeTelegram(enforce_rate_limits=enforce_rate_limits) as tg,
                FakeDiscord(heartbeat_interval_ms=heartbeat_ms,
                            enforce_rate_limits=enforce_rate_limits) as dc):
        tg_token = tg.add_bot(username="bridgebot_bench_bot")
        facilitator = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=facilitator)
        tg_people = [tg.add_user(f"Telegrammer{i}") for i in range(people)]
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        dc.add_member(guild["id"], "kristin", global_name="Kristin Antin", roles=[role["id"]])
        dc_people = [dc.add_member(guild["id"], f"discorder{i}", global_name=f"Discorder{i}")
                     for i in range(people)]
        try:
            yield World(tg, dc, tg_token, dc_token, facilitator, group, guild, channel,
                        tg_people, dc_people)
        finally:
            reset_api_base()
