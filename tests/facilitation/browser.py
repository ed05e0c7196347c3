"""A real headless Chromium driven over the DevTools protocol: open a page at a given
width, run JavaScript in it, take full-page screenshots.

Only the test suite uses it; the browser binary comes from the system (Debian ``chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    """The browser binary; in CI its absence is a failure, elsewhere a skip with the reason."""
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium); the archive page is not " \
             "checked in a real browser"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run installs it, so CI must have it")
    pytest.skip(reason)


class Tab:
    """One page of the browser, spoken to over its DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 60)
            if message.get("id") == call_id:
                assert "error" not in message, message["error"]
                return dict(message.get("result", {}))

    async def open(self, url: str, width: int, height: int = 900) -> None:
        """Load ``url`` in a ``width`` px wide phone-or-desktop viewport and wait for it."""
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=width < 600)
        await self.call("Page.navigate", url=url)
        for _ in range(200):
            if await self.js("document.readyState") == "complete":
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{url} did not load")

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        """The whole page, however long, as a PNG."""
        await self.call("Page.bringToFront")
        data = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(_write, path, base64.b64decode(data["data"]))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@asynccontextmanager
async def browser() -> AsyncIterator[Tab]:
    """A fresh Chromium with an empty profile, and its first tab."""
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            port = None
            while port is None:
                line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
                assert line, "chromium exited before listening"
                found = re.search(r"DevTools listening on ws://[\d.]+:(\d+)/", line)
                port = int(found[1]) if found else None
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    pages = [t for t in json.loads(await response.text()) if t["type"] == "page"]
                async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    yield Tab(ws)
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
