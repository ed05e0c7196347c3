"""``bridgebot run`` as real processes, several on one database: the workers of a
deployment, each with its own ``/healthz`` and ``/metrics`` port, to be killed (SIGKILL),
stopped (SIGTERM) or started again by a test.

The processes read the world's configuration (``World.config_toml(..., tokens=True)``) from
one file; the test's own ``BRIDGEBOT_*`` environment is left out so that only that file
(and the health port given here) configures them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Worker:
    """One ``bridgebot run`` process and its health server's port."""

    name: str
    config: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
        env["BRIDGEBOT_HEALTH__PORT"] = str(self.port)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridgebot.cli", "--config", str(self.config), "run",
            cwd=self.config.parent, env=env, stdout=self.log.open("ab"),
            stderr=asyncio.subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def kill(self) -> None:
        """SIGKILL, as a machine or an OOM killer ends it: no clean stop of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean stop) and its exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def _get(self, path: str) -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (aiohttp.ClientSession(timeout=timeout) as http,
                    http.get(f"http://127.0.0.1:{self.port}{path}") as answer):
            return answer.status, await answer.text()

    async def roles(self) -> list[str] | None:
        """The single-holder roles this worker says it holds (None while it does not answer)."""
        status = await self.status()
        return None if status is None else status[0]

    async def status(self) -> tuple[list[str], float] | None:
        """The roles it holds and how many target chats are leased to it now, from one
        ``/metrics`` scrape (None while it does not answer)."""
        metrics = await self.metrics()
        if metrics is None:
            return None
        roles = sorted(labels["role"] for name, labels, value in metrics
                       if name == "bridgebot_worker_role" and value)
        chats = sum(value for name, _, value in metrics if name == "bridgebot_worker_delivers_to")
        return roles, chats

    async def metrics(self) -> list[tuple[str, dict[str, str], float]] | None:
        """Every sample of its ``/metrics``, or None while it does not answer."""
        try:
            status, body = await self._get("/metrics")
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        if status != 200:
            return None
        return [(s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(body) for s in family.samples]


@contextlib.asynccontextmanager
async def workers(config: Path, count: int) -> AsyncIterator[list[Worker]]:
    """``count`` workers on ``config``, started together; whatever still runs at the end is
    stopped (SIGTERM, then SIGKILL)."""
    started = [Worker(f"worker-{i + 1}", config, config.parent / f"worker-{i + 1}.log")
               for i in range(count)]
    try:
        for worker in started:
            await worker.start()
        yield started
    finally:
        for worker in started:
            if worker.running:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        for worker in started:
            if worker.process is not None and worker.process.returncode is None:
                try:
                    await asyncio.wait_for(worker.process.wait(), 20)
                except TimeoutError:
                    await worker.kill()
