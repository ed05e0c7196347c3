"""Holding a copy on its way, so that a test decides what waits for the next turn.

A burst is combined when posts wait for a target's budget: which posts wait depends on how
fast each was taken in, and that differs between the stores and with the machine's load.
A test that needs a combined message (to see it rewritten, say) holds the first copy
while it is being sent, writes the rest, and lets go: they all wait for the next turn, on
either store, at any load.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridgebot.core.models import Action, Delivery, DeliveryResult


class HoldFirst:
    """Holds the first post's copy ``adapter`` sends (alone) to ``chat_id`` until
    :meth:`release`; whatever comes after it, and combined copies, go as usual."""

    def __init__(self, adapter: Any, chat_id: str) -> None:
        self.sending = asyncio.Event()  # the held copy is in the adapter's hands
        self._released = asyncio.Event()
        send = adapter.deliver

        async def deliver(delivery: Delivery) -> DeliveryResult:
            if (delivery.action is Action.POST and delivery.target.chat_id == chat_id
                    and not self.sending.is_set()):
                self.sending.set()
                await self._released.wait()
            return await send(delivery)

        adapter.deliver = deliver

    async def started(self, timeout: float = 10.0) -> None:
        """Wait until the first copy is being sent (and held)."""
        await asyncio.wait_for(self.sending.wait(), timeout)

    def release(self) -> None:
        self._released.set()
