"""A server that accepts connections and never answers (a proxy or firewall swallowing
requests): what every bounded look and connect is tested against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


async def _say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes
    writer.close()


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A silent server on 127.0.0.1 while the block runs; yields its port."""
    server = await asyncio.start_server(_say_nothing, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
